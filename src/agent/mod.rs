//! The daemon: one thread, one blocking loop serving every configured
//! topic with one wallet, one chain client (one account sequence) and one
//! websocket. `Shared` (here) is what the topics share; a `TopicWorker`
//! (`topic.rs`) is one topic's ledger, forecaster, score record, windows
//! and counters. Each turn `logic::schedule` decides every topic's next
//! `Action` and `shared.rs` carries out the most urgent one: the newest
//! open nonce of any topic first, then the websocket, then the other
//! topics' work in turn. `steps.rs` and `submit.rs` carry out one topic's
//! actions through `io`. This is the only module that uses both layers.
//!
//! Invariants: the ledger record of a signed tx is fsync'd before its
//! broadcast; a nonce whose tx may still land is never signed again; no tx
//! is signed while another tx of the key holds a sequence whose use is
//! unknown (`SeqGate`), so two txs never carry the same sequence; every
//! window that ends unserved is counted as missed with a reason; a topic
//! that fails (no data, not registered, not whitelisted) never stops the
//! others; nothing here sleeps except through `io::signals::sleep_until`
//! or the websocket's bounded read, so a stop request is seen within a
//! second.

mod drive;
mod forecast;
mod score;
mod shared;
mod steps;
mod submit;
mod topic;
mod windows;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::chain::Client;
use crate::io::claim::Claim;
use crate::io::lock::{self, Lock};
use crate::io::notify::Notifier;
use crate::io::ws::WsClient;
use crate::io::{clock, logging, signals};
use crate::logic::counters::Counters;
use crate::logic::event::Kind;
use crate::logic::schedule::Timers;
use crate::logic::wallet::Wallet;
use topic::TopicWorker;

pub use drive::{perform, submit_blocking, REGISTER_TIMEOUT_BLOCKS};
pub use forecast::Forecaster;

/// How the daemon runs (from `run` / `once` / `demo` flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve what is open now, then exit (`once`).
    pub once: bool,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub retrain: Duration,
    pub start_at: Option<OffsetDateTime>,
    pub stop_at: Option<OffsetDateTime>,
    pub metrics_file: Option<PathBuf>,
    /// Submitted when no forecast is possible (only when set explicitly).
    pub fallback_value: Option<f64>,
    pub predict_cmd: Option<String>,
    pub predict_timeout: Duration,
    /// Market data from a CSV instead of Tiingo.
    pub csv: Option<PathBuf>,
    /// Stop after this many windows have been finished (served or missed).
    pub max_windows: Option<u64>,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            once: false,
            poll_interval: Duration::from_secs(120),
            heartbeat: Duration::from_secs(3600),
            retrain: Duration::from_secs(6 * 3600),
            start_at: None,
            stop_at: None,
            metrics_file: None,
            fallback_value: None,
            predict_cmd: None,
            predict_timeout: Duration::from_secs(30),
            csv: None,
            max_windows: None,
            seed: 0,
        }
    }
}

/// What the run did, for the shutdown summary, `demo` and tests: the first
/// topic's, except `latencies` and `errors`, which are every topic's.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub counters: Counters,
    /// Nonces finished by this run and how: "included", "already", "missed: …".
    pub nonces: BTreeMap<i64, String>,
    /// Window-open event → broadcast reaching the node, per nonce.
    pub latencies: Vec<Duration>,
    /// Failed attempts (each retried later while the window is open).
    pub errors: u64,
    pub uptime: Duration,
    /// Each topic's own summary, by topic id.
    pub topics: BTreeMap<u64, Summary>,
}

/// What every topic shares: the wallet, the chain client (one account
/// sequence), the websocket and the loop's own clock and timers.
pub(super) struct Shared<'a> {
    config: &'a Config,
    wallet: &'a Wallet,
    opts: Options,
    client: Client,
    ws: Option<WsClient>,
    timers: Timers,
    ws_connected: bool,
    ws_retry_at_ms: u64,
    ws_last_frame_ms: u64,
    /// The highest chain height any topic has seen.
    latest_height: u64,
    /// Status files are due now (a topic's probe failed, say).
    status_due: bool,
    cycles: u64,
    loop_lag_ms: u64,
    /// The longest loop step so far (`max_step_ms`).
    max_step_ms: u64,
    notifier: Notifier,
    epoch: Instant,
    last_low_balance_log: Option<Instant>,
    /// The last balance read before a submission, and when.
    balance_seen: Option<(Instant, u128)>,
    /// The newest block's time, with `latest_height` the chain tip every
    /// topic shares.
    block_time: Option<i64>,
    /// The first and the newest block header this process read (block rate).
    first_header: Option<(u64, OffsetDateTime)>,
    last_header: Option<(u64, OffsetDateTime)>,
    /// The sequence of the newest tx this process signed (any topic).
    last_sequence: Option<u64>,
    last_conflict_log: Option<Instant>,
}

impl Shared<'_> {
    /// Milliseconds on the monotonic clock since the agent started.
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// Whether a topic's nonce may sign now, and the lowest sequence it may
/// use: computed over every topic's machines (one key, one sequence).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SeqGate {
    /// Another tx holds a sequence whose use is unknown: wait.
    busy: bool,
    /// One past the highest sequence of a pending tx CheckTx accepted.
    floor: Option<u64>,
}

/// The daemon: what is shared, and each topic.
pub struct Agent<'a> {
    sh: Shared<'a>,
    topics: Vec<TopicWorker>,
    /// Where the next round of non-urgent topic work starts (round robin).
    next_topic: usize,
    fatal: Option<Error>,
}

/// Runs the daemon until a stop request, `--stop-at`, `once` finishing, or
/// `max_windows`. Holds every topic's singleton lock for the whole run.
pub fn run(config: &Config, wallet: &Wallet, opts: Options) -> Result<Summary> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::io(format!("create {}", config.data_dir.display()), e))?;
    let mut guards: Vec<(Claim, Lock)> = Vec::new();
    for t in &config.topics {
        let claim = Claim::acquire(&config.chain_id, t.id, wallet.address(), &config.data_dir)?;
        let path = lock::path_for(&config.data_dir, &config.chain_id, t.id, wallet.address());
        guards.push((claim, Lock::acquire(&path)?));
    }
    check_metrics_file(&opts)?;
    warn_short_watchdog(config);
    let mut agent = Agent::new(config, wallet, opts)?;
    agent.startup();
    // Ready once configured and locked, also while waiting for --start-at:
    // a chain that is down shows in STATUS and the metrics; systemd must
    // not restart us for it.
    agent.sh.notifier.send("READY=1");
    agent.wait_for_start();
    while !agent.finished() {
        crate::io::notify::watchdog();
        signals::take_sighup();
        agent.turn();
    }
    let summary = agent.shutdown();
    drop(guards);
    summary
}

/// Refuses a `--metrics-file` that cannot be written, at start rather than
/// with a warning a minute later (writes an empty file, which the textfile
/// collector reads as no metrics; the first status write fills it).
fn check_metrics_file(opts: &Options) -> Result<()> {
    let Some(path) = &opts.metrics_file else {
        return Ok(());
    };
    crate::io::atomic::write(path, b"").map_err(|e| {
        Error::Usage(format!(
            "--metrics-file {} cannot be written: {e}",
            path.display()
        ))
    })
}

/// One HTTP call may block for connect + read timeout without a watchdog
/// ping; a `WATCHDOG_USEC` shorter than twice that risks a kill.
fn warn_short_watchdog(config: &Config) {
    let Some(usec) = crate::io::notify::watchdog_usec() else {
        return;
    };
    let need = 2 * (config.connect_timeout + config.read_timeout);
    if usec < need {
        log::warn!(
            "WARNING the systemd watchdog ({} s) is shorter than twice ALLORA_CONNECT_TIMEOUT + ALLORA_READ_TIMEOUT ({} s): one slow HTTP call can get the worker killed; raise WatchdogSec= to {} or more",
            usec.as_secs_f64(),
            need.as_secs_f64(),
            need.as_secs_f64().ceil()
        );
    }
}

impl<'a> Agent<'a> {
    fn new(config: &'a Config, wallet: &'a Wallet, opts: Options) -> Result<Agent<'a>> {
        let topics = config
            .topics
            .iter()
            .map(|t| TopicWorker::new(config, t, wallet, &opts))
            .collect::<Result<Vec<_>>>()?;
        let timers = Timers {
            poll_ms: opts.poll_interval.as_millis() as u64,
            heartbeat_ms: opts.heartbeat.as_millis() as u64,
            retrain_ms: opts.retrain.as_millis() as u64,
            ws_silence_ms: u64::MAX / 4,
            status_ms: 60_000.min(opts.heartbeat.as_millis() as u64),
            close_check_ms: 1_000,
        };
        Ok(Agent {
            sh: Shared {
                client: Client::new(config)?,
                config,
                wallet,
                opts,
                ws: None,
                timers,
                ws_connected: false,
                ws_retry_at_ms: 0,
                ws_last_frame_ms: 0,
                latest_height: 0,
                status_due: false,
                cycles: 0,
                loop_lag_ms: 0,
                max_step_ms: 0,
                notifier: Notifier::from_env(),
                epoch: Instant::now(),
                last_low_balance_log: None,
                balance_seen: None,
                block_time: None,
                first_header: None,
                last_header: None,
                last_sequence: None,
                last_conflict_log: None,
            },
            topics,
            next_topic: 0,
            fatal: None,
        })
    }

    /// Keeps the longest loop step (`max_step_ms`): a step's duration, or
    /// for a wait how long it held the loop past its deadline.
    fn note_step(&mut self, started: Instant, waited: bool) {
        let ms = if waited {
            self.sh.loop_lag_ms
        } else {
            started.elapsed().as_millis() as u64
        };
        self.sh.max_step_ms = self.sh.max_step_ms.max(ms);
    }

    fn startup(&mut self) {
        let ids: Vec<u64> = self.topics.iter().map(|t| t.id).collect();
        let unresolved: usize = self
            .topics
            .iter()
            .map(|t| t.ledger.state().unresolved().len())
            .sum();
        let c = self.sh.config;
        let list: Vec<String> = ids.iter().map(u64::to_string).collect();
        logging::event(
            Kind::Startup,
            &format!(
                "worker {} starting for topic {} on {} ({unresolved} unresolved ledger entries)",
                self.sh.wallet.address(),
                list.join(", "),
                c.chain_id,
            ),
            json!({"address": self.sh.wallet.address(), "topic_id": c.topic_id, "topic_ids": ids,
                   "chain_id": c.chain_id, "version": env!("CARGO_PKG_VERSION")}),
        );
        for t in &mut self.topics {
            for nonce in t.ledger.state().unresolved() {
                t.open_window(&mut self.sh, nonce, None);
            }
        }
    }

    /// Waits for `--start-at` as a serving worker would idle: status.json,
    /// metrics and systemd STATUS every minute, the heartbeat on its
    /// interval, and a stop request ends the wait (and the run).
    fn wait_for_start(&mut self) {
        let Some(start) = self.sh.opts.start_at else {
            return;
        };
        let at = crate::logic::human::rfc3339(start);
        let mut logged: Option<Instant> = None;
        let mut heartbeat_at = Instant::now() + self.sh.opts.heartbeat;
        loop {
            let left = start - clock::now_utc();
            if left <= time::Duration::ZERO || signals::stop_requested() {
                self.set_problem(None);
                return;
            }
            let left = Duration::from_secs_f64(left.as_seconds_f64());
            if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                logged = Some(Instant::now());
                log::info!(
                    "waiting for --start-at {at} (in {})",
                    crate::logic::human::duration(left)
                );
            }
            self.set_problem(Some(format!("waiting until {at} (--start-at)")));
            if Instant::now() >= heartbeat_at {
                heartbeat_at = Instant::now() + self.sh.opts.heartbeat;
                for i in 0..self.topics.len() {
                    self.heartbeat(i);
                }
            } else {
                self.write_status();
            }
            let slice = left
                .min(Duration::from_secs(60))
                .min(self.sh.opts.heartbeat);
            signals::sleep_until(Instant::now() + slice);
        }
    }

    fn set_problem(&mut self, problem: Option<String>) {
        for t in &mut self.topics {
            t.counters.problem = problem.clone();
        }
    }

    fn finished(&mut self) -> bool {
        if signals::stop_requested() || self.fatal.is_some() {
            return true;
        }
        if self.topics.iter().all(|t| t.stopped.is_some()) {
            return true;
        }
        if let Some(stop) = self.sh.opts.stop_at {
            if clock::now_utc() >= stop {
                log::info!("--stop-at {stop} reached");
                return true;
            }
        }
        if let Some(max) = self.sh.opts.max_windows {
            let done: usize = self.topics.iter().map(|t| t.summary.nonces.len()).sum();
            if done as u64 >= max {
                return true;
            }
        }
        self.sh.opts.once
            && self
                .topics
                .iter()
                .filter(|t| t.stopped.is_none())
                .all(TopicWorker::served_once)
    }

    fn shutdown(mut self) -> Result<Summary> {
        // The last status write is a step of its own: a fresh budget.
        self.sh.client.open_step(Instant::now());
        self.sh.notifier.send("STOPPING=1");
        self.write_status();
        let uptime = self.sh.epoch.elapsed();
        let (mut seen, mut submitted, mut missed) = (0, 0, 0);
        let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
        for t in &self.topics {
            seen += t.counters.windows_seen;
            submitted += t.counters.submitted;
            missed += t.counters.missed_total();
            for (m, n) in &t.counters.missed {
                *by_reason.entry(m.name()).or_default() += n;
            }
        }
        let reasons: Vec<String> = by_reason.iter().map(|(m, n)| format!("{m}={n}")).collect();
        logging::event(
            Kind::Shutdown,
            &format!(
                "shutdown after {:.0} s: {} cycles, {seen} windows seen, {submitted} submitted, {missed} missed ({})",
                uptime.as_secs_f64(),
                self.sh.cycles,
                if reasons.is_empty() { "none".to_string() } else { reasons.join(", ") }
            ),
            json!({"cycles": self.sh.cycles, "windows_seen": seen, "submitted": submitted,
                   "missed": missed, "uptime_s": uptime.as_secs()}),
        );
        // A stopped topic ends the run with its error only when every topic
        // stopped (one topic: as before), or in `once`.
        let all_stopped = self.topics.iter().all(|t| t.stopped.is_some());
        let mut all = BTreeMap::new();
        let mut stopped = None;
        for t in &mut self.topics {
            let mut s = std::mem::take(&mut t.summary);
            s.counters = t.counters.clone();
            s.counters.cycles = self.sh.cycles;
            s.uptime = uptime;
            all.insert(t.id, s);
            if stopped.is_none() {
                stopped = t.stopped.take();
            }
        }
        let first = self.topics.first().map_or(0, |t| t.id);
        let mut summary = all.get(&first).cloned().unwrap_or_default();
        summary.latencies = all.values().flat_map(|s| s.latencies.clone()).collect();
        summary.errors = all.values().map(|s| s.errors).sum();
        summary.topics = all;
        let stopped = stopped.filter(|_| all_stopped || self.sh.opts.once);
        match self.fatal.take().or(stopped) {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }
}
