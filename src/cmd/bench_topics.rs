//! `bench`'s measurements of five topics served by one process and one
//! wallet, against devnets on 127.0.0.1 (throw-away wallets only):
//! `burst_5_topics_ms`, the daemon loop in this process serving windows of
//! 5 topics that open in the same block (window event → the fifth topic's
//! broadcast, predictions precomputed; the median over the bursts after the
//! first, which may train), and `idle_rss_5_topics_kb`, the resident memory
//! (VmRSS) of a `run` child process idle with 5 topics registered and
//! trained.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::bench::{median, Input};
use crate::agent::{self, Options};
use crate::config::{self, Sources};
use crate::devnet::{self, Devnet, DevnetConfig};
use crate::error::{Error, Result};
use crate::logic::wallet::Wallet;

/// The five topics (any ids the devnet serves; 67 keeps its defaults).
const TOPICS: [u64; 5] = [67, 68, 69, 70, 71];

/// A devnet serving the five topics, a fresh wallet funded and registered
/// in each; its mnemonic; a fresh directory for the worker's files.
fn setup(label: &str, epoch_blocks: u64) -> Result<(Devnet, String, Wallet, PathBuf)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = (u64::from(std::process::id()) << 32) ^ nanos;
    let (mnemonic, wallet) = devnet::throwaway_wallet(seed)?;
    let addr = wallet.address().to_string();
    let net = Devnet::start(DevnetConfig {
        block_ms: 100,
        epoch_blocks,
        window_blocks: 8,
        topics: TOPICS.to_vec(),
        genesis: vec![(addr.clone(), 1_000_000_000_000_000_000_000)],
        registered: vec![addr],
        ..DevnetConfig::default()
    })?;
    let dir = std::env::temp_dir().join(format!("allora-worker-bench-{label}-{seed:x}"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    Ok((net, mnemonic.expose().clone(), wallet, dir))
}

/// The worker's settings for `net`: the five topics, files under `dir`.
fn settings(net: &Devnet, mnemonic: &str, dir: &Path) -> Vec<(String, String)> {
    let list: Vec<String> = TOPICS.iter().map(u64::to_string).collect();
    let mut env: Vec<(String, String)> = [
        ("ALLORA_CHAIN_ID", DevnetConfig::default().chain_id),
        ("ALLORA_LCD_URLS", net.base_url()),
        ("ALLORA_RPC_URLS", net.base_url()),
        ("ALLORA_WS_URL", net.ws_url()),
        ("TIINGO_URL", net.market_url()),
        ("TIINGO_API_KEY", "devnet".into()),
        ("MNEMONIC", mnemonic.to_string()),
        ("ALLORA_DATA_DIR", dir.join("data").display().to_string()),
        ("ALLORA_LOG_DIR", dir.join("logs").display().to_string()),
        ("TOPIC_ID", list.join(",")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for t in TOPICS.iter().filter(|t| **t != 67) {
        env.push((format!("TOPIC_{t}_TICKER"), "btcusd".into()));
        env.push((format!("TOPIC_{t}_TARGET_HOURS"), "168".into()));
    }
    env
}

/// Window event → the fifth topic's broadcast, median over the bursts.
pub fn burst_5_topics_ms(_: &Input) -> Result<f64> {
    let (net, mnemonic, wallet, dir) = setup("burst", 10)?;
    let config = config::build(&Sources {
        env: settings(&net, &mnemonic, &dir),
        ..Sources::default()
    })?;
    let opts = Options {
        max_windows: Some(5 * TOPICS.len() as u64),
        poll_interval: Duration::from_secs(1),
        ..Options::default()
    };
    let summary = agent::run(&config, &wallet, opts);
    net.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    let summary = summary?;
    let per_topic: Vec<&Vec<Duration>> = summary.topics.values().map(|s| &s.latencies).collect();
    let n = per_topic.iter().map(|l| l.len()).min().unwrap_or(0);
    let mut bursts: Vec<f64> = (1..n)
        .map(|k| {
            per_topic
                .iter()
                .map(|l| l[k].as_secs_f64() * 1e3)
                .fold(0.0, f64::max)
        })
        .collect();
    if bursts.is_empty() {
        return Err(Error::Usage(
            "bench: no burst of 5 topics was served".into(),
        ));
    }
    Ok(median(&mut bursts))
}

/// VmRSS of a `run` child serving 5 topics, once all 5 models are trained.
pub fn idle_rss_5_topics_kb(_: &Input) -> Result<f64> {
    let (net, mnemonic, _, dir) = setup("idle", 100_000)?;
    let exe = std::env::current_exe().map_err(|e| Error::io("find this binary", e))?;
    let mut child = Command::new(exe)
        .arg("run")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(settings(&net, &mnemonic, &dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("start a worker", e))?;
    let rss = idle_rss(&mut child, &dir.join("data"));
    let _ = crate::io::signals::terminate(child.id());
    let _ = child.wait();
    net.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    rss
}

/// Waits (≤ 60 s) for the five model files, lets the worker settle, then
/// reads its VmRSS.
fn idle_rss(child: &mut std::process::Child, data: &Path) -> Result<f64> {
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let models = || {
        TOPICS
            .iter()
            .filter(|t| crate::io::modelfile::path(data, **t).exists())
            .count()
    };
    while models() < TOPICS.len() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Usage(format!(
                "bench: the 5-topic worker (a child of this binary) exited before training ({status})"
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::Usage(
                "bench: the 5-topic worker did not train".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    super::bench::proc_status_kb(&pid.to_string(), "VmRSS")
}
