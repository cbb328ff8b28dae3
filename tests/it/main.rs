//! The one integration-test binary (`cargo test --test it`): a module per area.

mod chain; // chain client against the devnet, register, check, decoder fuzz
mod cli; // exit codes, one-line errors, help, stdout-only output
mod daemon; // run, once, status, stop against the devnet: one submission per window, kill -9, signals, lock, idle CPU
mod decimal; // canonical decimal strings: the vector table and a 100k-float property test
mod deploy; // systemd-unit and --supervisord output, systemd-analyze verify
mod devnet; // the local devnet: REST/RPC shapes, windows, websocket frames and keep-alive, vector replay, faults and /devnet/fault, halts, --state, upgrades, scheduler epochs, stats, the command
mod faults; // disk full (log sink, ledger), an upgrade onto b796a36's ledger with failing writes, wall-clock jumps under an in-process daemon
mod fuzz; // seeded mutation loops over the websocket, Tiingo, CSV, env-file, tx and ledger parsers
mod ledger; // ledger file durability, format versions, partial writes cut back (file-size limit), compaction, the singleton lock
mod live_score; // the daemon scores its own submissions once their targets pass (shifted clock), the record across restarts, status --json
mod logs; // rotation of worker.log and events.jsonl
mod loop_metrics; // not admitted as its own outcome, fees paid counted, a tx follow longer than the websocket read deadline
mod market; // Tiingo over loopback HTTP, the bar cache, rate-limit backoff, the data gate's reasons
mod model; // reproducible model files, golden hash, predict/train/backtest commands, the predict-cmd hook
mod ops; // what an operator sees: which commands write logs, exact start-up refusals and exit codes
mod scoring; // CZAR, ZPTAE and the Forge gates against every vector of scoring.json; evaluate
mod secrets; // no mnemonic or key in any output or file
mod soak; // 1 000 fast windows of the real binary under random faults: one submission each, no duplicates, flat RSS, logs = ledger = chain
mod submission; // the submission machine against the strict devnet: lost replies in every combination, simulate refusals, fee rise, gas spike
mod support; // shared helpers: the built binary, temp dirs, vector files
mod systemd; // a fake NOTIFY_SOCKET: READY=1 while waiting for --start-at, watchdog pings while serving
mod tidy; // module docs, pure src/logic, README names every file and key
mod topic_params; // topic parameters from the chain: check names the scheduler mode, warns on horizon/loss/labels, an arity the worker cannot encode is refused
mod topics; // several topics from one process and one wallet: 2 and 5 topics in block mode and 2 in seconds mode, a topic not registered, kill -9 during bursts, register/check per topic, a topic changed on chain
mod tx; // golden transactions, the verifier's rejections, the sign binary
mod wallet; // golden wallet vectors, the wallet subcommand
mod windows; // where windows end: seconds-mode close by block time, halt and resume, a restart on --state and a fresh chain, the same key elsewhere
