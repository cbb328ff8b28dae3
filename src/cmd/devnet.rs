//! `allora-worker devnet`: runs the local simulated chain in the foreground
//! and prints, as `KEY=VALUE` lines on stdout, everything a worker needs to
//! use it (chain id, URLs, a funded throwaway mnemonic). Stops on SIGINT or
//! SIGTERM. It never touches a real chain or the operator's own key.

use std::ffi::OsString;
use std::io::Write;

use crate::cmd::{unexpected, Command, Ctx};
use crate::devnet::scheduler::Scheduler;
use crate::devnet::{throwaway_wallet, Devnet, DevnetConfig, Fault};
use crate::error::{Error, Result};
use crate::logic::emissions::Emissions;

pub const COMMAND: Command = Command {
    name: "devnet",
    summary: "run a local simulated Allora chain and print the settings to use it",
    needs_wallet: false,
    usage: "Usage: allora-worker devnet [--port P] [--block-ms N] [--epoch-blocks N] [--window-blocks N]\n\
            \x20                          [--emissions v9|v10] [--prices FILE] [--seed N] [--tx-cache N]\n\
            \x20                          [--whitelist] [--fault SPEC]... [--ws-ping-ms N] [--ws-read-wait-ms N]\n\
            \x20                          [--scheduler blocks|seconds] [--epoch-secs N] [--window-secs N]\n\
            \x20                          [--state FILE]\n\n\
            Flags:\n  \
            --port P            listen on 127.0.0.1:P (default 26657; 0 = any free port)\n  \
            --block-ms N        block interval in milliseconds (default 1000)\n  \
            --epoch-blocks N    a worker window opens every N blocks (default 20)\n  \
            --window-blocks N   a window stays open N blocks (default 15)\n  \
            --emissions V       emissions module version, v9 or v10 (default v10)\n  \
            --prices FILE       serve these hourly bars (timestamp,open,high,low,close,volume)\n  \
            --seed N            seed of the synthetic prices and the throwaway key (default 1)\n  \
            --tx-cache N        CometBFT tx cache size: a cached resend answers code 19 (default 10000; 0 = none)\n  \
            --whitelist         only whitelisted workers may submit (fault whitelist:ADDR adds one)\n  \
            --fault SPEC        inject a fault at start: http500:N html:N empty:N hang:N drop-ws\n  \
            \x20                   silent-ws sequence-mismatch insufficient-fee hold:K skip-window\n  \
            \x20                   wrong-chain-id broadcast-lost:N index-lag:K no-index (adds a\n  \
            \x20                   first LCD that never indexes txs) fee-rise:PCT gas-spike:N\n  \
            \x20                   gas-extra:GAS not-admitted:N whitelist:ADDR reply-lost:N halt:SECS\n  \
            \x20                   upgrade-v10-at:H (at runtime: POST SPEC to /devnet/fault)\n  \
            --ws-ping-ms N      websocket server ping interval (default 27000, as CometBFT)\n  \
            --ws-read-wait-ms N drop a websocket client that sends nothing, not even a pong,\n  \
            \x20                   this long (default 30000, as CometBFT)\n  \
            --scheduler S       blocks (windows every --epoch-blocks) or seconds (the newest chain\n  \
            \x20                   code's epochs: topic timing in seconds, windows by block time,\n  \
            \x20                   /emissions/v10/epochs/{topic}) (default blocks)\n  \
            --epoch-secs N      seconds mode: a window opens every N s of block time (default 20)\n  \
            --window-secs N     seconds mode: a window stays open N s (default 15)\n  \
            --state FILE        save the chain to FILE (each second and at exit) and continue\n  \
            \x20                   from it when FILE exists: restarted, it is the same chain\n\n\
            Prints KEY=VALUE lines (export them, or save them as an env file, then run\n\
            `allora-worker run`) and serves until interrupted.\n",
    run,
};

/// Funds of the throwaway account: one million ALLO (18 decimals).
const FUNDS: u128 = 1_000_000 * 1_000_000_000_000_000_000;

fn parse(args: Vec<OsString>) -> Result<(DevnetConfig, Vec<Fault>)> {
    let mut cfg = DevnetConfig {
        port: 26657,
        ..DevnetConfig::default()
    };
    let mut faults = Vec::new();
    let (mut scheduler, mut epoch_secs, mut window_secs) = ("blocks".to_string(), 20, 15);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        let name = match arg {
            lexopt::Arg::Long(l) => l.to_string(),
            other => return Err(unexpected(other, "devnet")),
        };
        if name == "whitelist" {
            cfg.whitelist = true;
            continue;
        }
        let text = parser
            .value()?
            .into_string()
            .map_err(|_| Error::Usage(format!("--{name} is not UTF-8")))?;
        let number = || -> Result<u64> {
            text.parse()
                .map_err(|_| Error::Usage(format!("--{name} {text:?} is not a number")))
        };
        match name.as_str() {
            "port" => {
                cfg.port = u16::try_from(number()?)
                    .map_err(|_| Error::Usage(format!("--port {text:?} is not a port")))?
            }
            "block-ms" => cfg.block_ms = number()?.max(1),
            "epoch-blocks" => cfg.epoch_blocks = number()?.max(1),
            "window-blocks" => cfg.window_blocks = number()?,
            "emissions" => cfg.emissions = Emissions::parse(&text)?,
            "prices" => cfg.prices_csv = Some(text.into()),
            "seed" => cfg.seed = number()?,
            "ws-ping-ms" => cfg.ws_ping_ms = number()?.max(1),
            "ws-read-wait-ms" => cfg.ws_read_wait_ms = number()?.max(1),
            "scheduler" => scheduler = text.clone(),
            "epoch-secs" => epoch_secs = number()?,
            "window-secs" => window_secs = number()?,
            "state" => cfg.state_file = Some(text.clone().into()),
            "tx-cache" => {
                cfg.tx_cache = usize::try_from(number()?)
                    .map_err(|_| Error::Usage(format!("--tx-cache {text:?} is too large")))?
            }
            "fault" => faults.push(Fault::parse(&text).map_err(|e| Error::Usage(e.to_string()))?),
            _ => return Err(Error::Usage(format!("unexpected argument --{name}"))),
        }
    }
    cfg.scheduler = Scheduler::parse(&scheduler, epoch_secs, window_secs).map_err(Error::Usage)?;
    Ok((cfg, faults))
}

/// The `KEY=VALUE` lines a worker needs; `mnemonic` is the throwaway one.
pub fn settings_lines(
    devnet: &Devnet,
    cfg: &DevnetConfig,
    address: &str,
    mnemonic: &str,
) -> String {
    let base = devnet.base_url();
    format!(
        "# allora-worker devnet {chain}: export these lines (or use them as an env file), then run `allora-worker run`\n\
         ALLORA_NETWORK=testnet\n\
         ALLORA_CHAIN_ID={chain}\n\
         ALLORA_LCD_URLS={lcd}\n\
         ALLORA_RPC_URLS={base}\n\
         ALLORA_WS_URL={ws}\n\
         ALLORA_GAS_PRICE={price}\n\
         TIINGO_URL={market}\n\
         TIINGO_API_KEY=devnet\n\
         ALLORA_WALLET_ADDR={address}\n\
         # throwaway devnet mnemonic: never fund it on a real chain\n\
         MNEMONIC=\"{mnemonic}\"\n",
        chain = cfg.chain_id,
        lcd = devnet.lcd_urls(),
        ws = devnet.ws_url(),
        price = cfg.min_gas_price,
        market = devnet.market_url(),
    )
}

fn run(_ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let (mut cfg, faults) = parse(args)?;
    let (mnemonic, wallet) = throwaway_wallet(cfg.seed)?;
    cfg.genesis.push((wallet.address().to_string(), FUNDS));
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| Error::Usage(format!("cannot install the signal handler: {e}")))?;
    let devnet = Devnet::start(cfg.clone())?;
    for f in faults {
        if f == Fault::NoIndex {
            devnet.no_index_listener()?;
        } else {
            devnet.inject(f);
        }
    }
    let mut out = std::io::stdout().lock();
    let lines = settings_lines(&devnet, &cfg, wallet.address(), mnemonic.expose());
    out.write_all(lines.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("devnet: write stdout", e))?;
    drop(out);
    log::info!(
        "devnet {} serving on {} (blocks every {} ms)",
        cfg.chain_id,
        devnet.base_url(),
        cfg.block_ms
    );
    let _ = rx.recv();
    log::info!("devnet stopping at height {}", devnet.height());
    devnet.shutdown();
    Ok(0)
}
