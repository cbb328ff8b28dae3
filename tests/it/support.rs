//! Shared test helpers: run the built binary, make temp dirs, read the copied
//! golden vectors in `tests/data/`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The `allora-worker` binary cargo built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_allora-worker"))
}

/// A fresh, empty directory under the target dir, unique to this call.
pub fn temp_dir(label: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A command that runs the built binary. When the tests run for another
/// architecture (`cross/test.sh`), `ALLORA_TEST_RUNNER` names the emulator to
/// put in front of it, e.g. `qemu-arm -L /usr/arm-linux-gnueabihf`.
pub fn bin_command() -> Command {
    let runner = std::env::var("ALLORA_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut cmd = Command::new(emulator);
            cmd.args(words).arg(bin());
            cmd
        }
        None => Command::new(bin()),
    }
}

/// Runs the binary in `cwd` with a clean environment plus `env`.
pub fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bin_command();
    cmd.current_dir(cwd)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run allora-worker")
}

/// Reads a JSON file from `tests/data/`.
pub fn vectors(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

/// stdout and stderr as strings.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Seeded xorshift64*: the deterministic randomness of fuzz loops, soak
/// faults and kill points.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The worker's settings for a devnet, with data and logs under `dir`;
/// `overrides` replace or add keys (e.g. shorter timeouts).
pub fn devnet_env(
    net: &allora_worker::devnet::Devnet,
    mnemonic: &str,
    dir: &Path,
    overrides: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("ALLORA_CHAIN_ID", "devnet-1".to_string()),
        ("ALLORA_LCD_URLS", net.base_url()),
        ("ALLORA_RPC_URLS", net.base_url()),
        ("ALLORA_WS_URL", net.ws_url()),
        ("TIINGO_URL", net.market_url()),
        ("TIINGO_API_KEY", "devnet".into()),
        ("ALLORA_GAS_PRICE", "10".into()),
        ("ALLORA_TX_TIMEOUT", "3s".into()),
        ("ALLORA_READ_TIMEOUT", "2s".into()),
        ("MNEMONIC", mnemonic.to_string()),
        ("ALLORA_DATA_DIR", dir.join("data").display().to_string()),
        ("ALLORA_LOG_DIR", dir.join("logs").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in overrides {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// Starts `program` in `dir` with a clean environment plus `env`, its
/// output discarded (the worker's logs go to its log dir).
pub fn spawn_quiet(
    program: &Path,
    args: &[&str],
    env: &[(String, String)],
    dir: &Path,
) -> std::process::Child {
    Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the worker")
}

/// The devnet's `GET /devnet/txs` body.
pub fn devnet_txs(net: &allora_worker::devnet::Devnet) -> String {
    let mut reply = ureq::get(format!("{}/devnet/txs", net.base_url()))
        .call()
        .expect("GET /devnet/txs");
    reply
        .body_mut()
        .with_config()
        .limit(512 << 20)
        .read_to_string()
        .expect("the /devnet/txs body")
}

/// Polls `f` every 20 ms until it returns `Some`, failing after `secs`.
/// Every line of a data dir's `logs/events.jsonl` that parses.
pub fn events(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("logs/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The devnet's accepted submissions of `addr` as (nonce, count), by nonce.
pub fn accepted(stats: &serde_json::Value, addr: &str) -> Vec<(i64, u64)> {
    let mut out: Vec<(i64, u64)> = stats["accepted_by_nonce"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(n, w)| Some((n.parse().ok()?, w[addr].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A devnet with fast blocks and a throwaway wallet funded and registered:
/// (devnet, mnemonic, address). Each call gets its own wallet (per test
/// process and call), so tests running at once never share the machine-wide
/// one-worker-per-key claim, and a worker left by an aborted run never holds
/// this run's.
pub fn funded_devnet(
    block_ms: u64,
    epoch: u64,
    window: u64,
) -> (allora_worker::devnet::Devnet, String, String) {
    use allora_worker::devnet::{throwaway_wallet, Devnet, DevnetConfig};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst) as u64;
    let seed = (u64::from(std::process::id()) << 16) + n;
    let (mnemonic, wallet) = throwaway_wallet(seed).expect("derive a throwaway wallet");
    let net = Devnet::start(DevnetConfig {
        block_ms,
        epoch_blocks: epoch,
        window_blocks: window,
        genesis: vec![(wallet.address().to_string(), 1_000_000_000_000_000_000_000)],
        registered: vec![wallet.address().to_string()],
        ..DevnetConfig::default()
    })
    .expect("start the devnet");
    (net, mnemonic.expose().clone(), wallet.address().to_string())
}
