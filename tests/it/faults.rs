//! Disk and clock faults under a running daemon, in-process so the test can
//! reach the seams production never touches: the log writer's sink check
//! (`io::logfile::set_sink_check`), the ledger's write check
//! (`io::ledger::set_write_check`) and the wall-clock shift
//! (`io::clock::shift_wall_clock`). Logging is process-wide, so these tests
//! share one log set-up and run one at a time. An upgrade onto the ledger
//! main's release b796a36 wrote (`tests/data/ledger-b796a36/`) runs here
//! too, with its first ledger writes failing. A genuine partial write (a
//! file-size limit) is in `ledger.rs`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use allora_worker::agent::{self, Options, Summary};
use allora_worker::config::{self, Config, Sources};
use allora_worker::devnet::{self, Devnet, DevnetConfig, Fault};
use allora_worker::io::{clock, ledger, logfile, logging};
use allora_worker::logic::ledger::{Ledger, Record, Stage};
use allora_worker::logic::rotation::Policy;
use allora_worker::logic::wallet::Wallet;

use crate::support::{accepted, devnet_env, devnet_txs, temp_dir, wait_for};

/// What the in-process worker wrote to "stderr".
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The process-wide log set-up: its log dir and the captured stderr.
pub(crate) struct Logs {
    pub(crate) dir: PathBuf,
    stderr: Captured,
}

static DISK_FULL: AtomicBool = AtomicBool::new(false);
static LEDGER_FULL: AtomicBool = AtomicBool::new(false);
/// Ledger appends the failing ledger refused.
static LEDGER_FAILS: AtomicU64 = AtomicU64::new(0);

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn log_sink(_: &Path) -> io::Result<()> {
    if DISK_FULL.load(Ordering::SeqCst) {
        return Err(enospc());
    }
    Ok(())
}

/// Fails only this module's ledgers (their dirs are `faults-*`): the seam is
/// process-wide, and other modules' tests append to ledgers meanwhile.
fn ledger_sink(path: &Path) -> io::Result<()> {
    let ours = path.to_string_lossy().contains("/faults-");
    if ours && LEDGER_FULL.load(Ordering::SeqCst) {
        LEDGER_FAILS.fetch_add(1, Ordering::SeqCst);
        return Err(enospc());
    }
    Ok(())
}

/// Takes the one-daemon-at-a-time lock and the shared log set-up.
pub(crate) fn in_process() -> (MutexGuard<'static, ()>, &'static Logs) {
    static ONE: Mutex<()> = Mutex::new(());
    static LOGS: OnceLock<Logs> = OnceLock::new();
    let guard = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let logs = LOGS.get_or_init(|| {
        let dir = temp_dir("faults-logs");
        let stderr = Captured::default();
        logging::init_to(
            &dir,
            Policy {
                max_bytes: 10_000_000,
                backups: 2,
            },
            true,
            Box::new(stderr.clone()),
        );
        logfile::set_sink_check(Some(log_sink));
        ledger::set_write_check(Some(ledger_sink));
        Logs { dir, stderr }
    });
    (guard, logs)
}

fn devnet(block_ms: u64) -> (Devnet, Wallet) {
    devnet_for(block_ms, 31)
}

/// A devnet funding and registering the throwaway wallet of `seed` (one
/// seed per test module: the worker's claim is machine-wide).
pub(crate) fn devnet_for(block_ms: u64, seed: u64) -> (Devnet, Wallet) {
    let (_, wallet) = devnet::throwaway_wallet(seed).unwrap();
    let net = Devnet::start(DevnetConfig {
        block_ms,
        epoch_blocks: 10,
        window_blocks: 8,
        genesis: vec![(wallet.address().to_string(), 1_000_000_000_000_000_000_000)],
        registered: vec![wallet.address().to_string()],
        ..DevnetConfig::default()
    })
    .unwrap();
    (net, wallet)
}

pub(crate) fn config(net: &Devnet, dir: &Path, log_dir: &Path) -> Config {
    let log_dir = log_dir.display().to_string();
    let mut env = devnet_env(net, "", dir, &[("ALLORA_LOG_DIR", log_dir.as_str())]);
    env.retain(|(k, _)| k != "MNEMONIC");
    config::build(&Sources {
        env,
        ..Sources::default()
    })
    .unwrap()
}

/// Runs the daemon on a thread until `windows` windows are finished.
fn start(config: Config, wallet: Wallet, windows: u64) -> std::thread::JoinHandle<Summary> {
    std::thread::spawn(move || {
        let opts = Options {
            max_windows: Some(windows),
            poll_interval: Duration::from_millis(500),
            ..Options::default()
        };
        agent::run(&config, &wallet, opts).expect("the daemon runs to max_windows")
    })
}

fn wait_accepted(net: &Devnet, addr: &str, n: usize, secs: u64) -> Vec<(i64, u64)> {
    wait_for(&format!("{n} accepted windows"), secs, || {
        let acc = accepted(&net.stats(), addr);
        (acc.len() >= n).then_some(acc)
    })
}

/// No duplicate, and every window from the first accepted nonce to the last
/// has exactly one accepted submission (epoch 10).
fn assert_one_each_without_gaps(net: &Devnet, addr: &str) -> Vec<(i64, u64)> {
    let stats = net.stats();
    let acc = accepted(&stats, addr);
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert!(acc.iter().all(|(_, c)| *c == 1), "{acc:?}");
    let (first, last) = (acc[0].0, acc[acc.len() - 1].0);
    assert_eq!(
        acc.len() as i64,
        (last - first) / 10 + 1,
        "a window was skipped: {acc:?}"
    );
    acc
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn full_log_disk_keeps_submitting_reports_and_resumes() {
    let (_one, logs) = in_process();
    let (net, wallet) = devnet(60);
    let addr = wallet.address().to_string();
    let dir = temp_dir("faults-disk");
    let worker = start(config(&net, &dir, &logs.dir), wallet, 12);
    let before = wait_accepted(&net, &addr, 2, 60).len();
    let events = logs.dir.join(logging::EVENTS_FILE);
    DISK_FULL.store(true, Ordering::SeqCst);
    let (log_lines, event_lines) = (lines(&logs.dir.join("worker.log")), lines(&events));
    wait_accepted(&net, &addr, before + 3, 60);
    let full_log = (lines(&logs.dir.join("worker.log")), lines(&events));
    DISK_FULL.store(false, Ordering::SeqCst);
    let summary = worker.join().expect("the daemon thread");
    let said = logs.stderr.text();
    assert!(
        said.contains("file logging to") && said.contains("fails (No space left on device"),
        "stderr names the failing log file: {said}"
    );
    assert!(said.contains("resumed"), "stderr says logging resumed");
    assert!(
        full_log.0 <= log_lines + 1 && full_log.1 <= event_lines + 1,
        "nothing reached the full disk: {log_lines}/{event_lines} -> {full_log:?}"
    );
    assert!(lines(&events) > full_log.1, "events.jsonl grows again");
    assert!(summary.counters.submitted >= 5, "{:?}", summary.counters);
    assert_one_each_without_gaps(&net, &addr);
}

#[test]
fn ledger_write_failure_means_no_broadcast() {
    let (_one, logs) = in_process();
    let (net, wallet) = devnet(60);
    let addr = wallet.address().to_string();
    let dir = temp_dir("faults-ledger");
    let worker = start(config(&net, &dir, &logs.dir), wallet, 10);
    let before = wait_accepted(&net, &addr, 2, 60);
    LEDGER_FULL.store(true, Ordering::SeqCst);
    let broadcast = net.stats()["txs_broadcast"].as_u64().unwrap();
    let height = net.height();
    wait_for("two windows with a failing ledger", 30, || {
        (net.height() >= height + 25).then_some(())
    });
    let during = net.stats();
    LEDGER_FULL.store(false, Ordering::SeqCst);
    let summary = worker.join().expect("the daemon thread");
    assert!(
        during["txs_broadcast"].as_u64().unwrap() <= broadcast + 1,
        "no broadcast while the ledger cannot be written: {broadcast} -> {during}"
    );
    assert!(accepted(&during, &addr).len() <= before.len() + 1);
    assert!(
        logs.stderr.text().contains("not broadcasting"),
        "the error says why nothing was sent"
    );
    assert!(
        summary.counters.missed_total() >= 1,
        "{:?}",
        summary.counters
    );
    assert_eq!(net.stats()["duplicates"], 0);
    let acc = accepted(&net.stats(), &addr);
    assert!(acc.iter().all(|(_, c)| *c == 1), "{acc:?}");
    assert!(acc.len() > before.len() + 1, "submitting resumed: {acc:?}");
}

#[test]
fn wall_clock_jumps_neither_skip_nor_duplicate() {
    let (_one, logs) = in_process();
    let (net, wallet) = devnet(60);
    let addr = wallet.address().to_string();
    let dir = temp_dir("faults-clock");
    let worker = start(config(&net, &dir, &logs.dir), wallet, 16);
    let n = wait_accepted(&net, &addr, 3, 60).len();
    clock::shift_wall_clock(time::Duration::hours(5));
    let n = wait_accepted(&net, &addr, n + 4, 60).len();
    clock::shift_wall_clock(time::Duration::hours(-7));
    wait_accepted(&net, &addr, n + 4, 60);
    clock::shift_wall_clock(time::Duration::ZERO);
    let summary = worker.join().expect("the daemon thread");
    assert_eq!(summary.counters.missed_total(), 0, "{:?}", summary.nonces);
    assert!(assert_one_each_without_gaps(&net, &addr).len() >= 11);
}

/// The ledger file name of the wallet of seed 1440 in topic 67 on devnet-1.
const OLD_LEDGER: &str = "ledger-devnet-1-67-allo1wqahzfq3wy49gp47gtlpk9ukmdlv6eqq3rrfv4.jsonl";

fn ledger_records(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).expect("the ledger file");
    text.lines()
        .map(|l| Record::from_line(l).expect("every ledger line reads"))
        .collect()
}

/// Upgrade: the new worker starts on the data dir and chain main's release
/// b796a36 left (nonces 10 and 20 included, nonce 30 signed and broadcast,
/// killed before its outcome; see tests/data/ledger-b796a36/README.md) with
/// its ledger writes failing at first. While they fail it looks nonce 30's
/// hash up once per poll and resends the old bytes; once they land, the
/// outcome record is retried once per poll with no chain query (no spin);
/// once writes work it records nonce 30 resolved by the old binary's tx,
/// and no nonce recorded as signed there is ever signed again.
#[test]
fn an_old_ledger_is_adopted_and_a_failing_write_waits_for_the_next_poll() {
    let (_one, logs) = in_process();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ledger-b796a36");
    let dir = temp_dir("faults-upgrade");
    let ledger_path = dir.join("data").join(OLD_LEDGER);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::copy(data.join(OLD_LEDGER), &ledger_path).unwrap();
    let state = dir.join("devnet-state.json");
    std::fs::copy(data.join("devnet-state.json"), &state).unwrap();
    let old_lines = ledger_records(&ledger_path).len();
    let old = Ledger::from_records(ledger_records(&ledger_path));
    assert_eq!(old.unresolved(), vec![30], "the old ledger as written");
    let (_, wallet) = devnet::throwaway_wallet(1440).unwrap();
    let addr = wallet.address().to_string();
    let net = Devnet::start(DevnetConfig {
        block_ms: 60,
        epoch_blocks: 10,
        window_blocks: 8,
        seed: 1440,
        state_file: Some(state),
        ..DevnetConfig::default()
    })
    .unwrap();
    assert_eq!(net.height(), 30, "restored where b796a36's run stopped");
    // A short halt: nonce 30's tx is followed (and resent) while the ledger
    // fails, then lands while it still fails.
    net.inject(Fault::Halt(3));
    LEDGER_FULL.store(true, Ordering::SeqCst);
    let lookups = || net.stats()["tx_lookups"].as_u64().unwrap();
    let worker = start(config(&net, &dir, &logs.dir), wallet, 3);
    let t0 = Instant::now();
    wait_for(
        "nonce 30's old tx included while the ledger fails",
        20,
        || (net.stats()["included_by_nonce"]["30"][&addr] == 1).then_some(()),
    );
    let (following, following_ms) = (lookups(), t0.elapsed().as_millis() as u64);
    let (t1, fails1) = (Instant::now(), LEDGER_FAILS.load(Ordering::SeqCst));
    wait_for("2 s of a failing ledger after inclusion", 5, || {
        (t1.elapsed() >= Duration::from_secs(2)).then_some(())
    });
    let (after, fails) = (
        lookups() - following,
        LEDGER_FAILS.load(Ordering::SeqCst) - fails1,
    );
    let after_ms = t1.elapsed().as_millis() as u64;
    let unchanged = ledger_records(&ledger_path).len();
    LEDGER_FULL.store(false, Ordering::SeqCst);
    eprintln!(
        "failing ledger: {following} lookups in {following_ms} ms following; then {after} lookups, {fails} failed writes in {after_ms} ms"
    );
    // ALLORA_TX_TIMEOUT 3s: a poll every 100 ms, one hash on one LCD.
    let polls = |ms: u64| 2 * (ms / 100 + 1);
    assert!(
        following >= 3 && following <= polls(following_ms),
        "a lookup per poll while following: {following} in {following_ms} ms"
    );
    assert!(
        fails >= 5 && fails <= polls(after_ms),
        "the outcome record is retried at each poll, not in a loop: {fails} in {after_ms} ms"
    );
    assert!(
        after <= polls(after_ms),
        "no spin on chain queries: {after} lookups in {after_ms} ms"
    );
    assert_eq!(
        unchanged, old_lines,
        "nothing was written while the ledger failed"
    );
    let summary = worker.join().expect("the daemon thread");
    let new = ledger_records(&ledger_path);
    let done = Ledger::from_records(new.clone());
    let old30 = &old.signed(30)[0].hash;
    assert!(
        matches!(&done.get(30).unwrap().stage, Stage::Included { tx_hash, .. } if tx_hash == old30),
        "nonce 30 resolved with the old binary's tx: {:?}",
        done.get(30)
    );
    for r in &new {
        if let Stage::Signed { tx_hash, .. } = &r.stage {
            let signed_before: Vec<&str> = old
                .signed(r.nonce)
                .iter()
                .map(|t| t.hash.as_str())
                .collect();
            assert!(
                signed_before.is_empty() || signed_before.contains(&tx_hash.as_str()),
                "nonce {} was signed again: {tx_hash} after {signed_before:?}",
                r.nonce
            );
        }
    }
    let txs: serde_json::Value = serde_json::from_str(&devnet_txs(&net)).unwrap();
    for t in txs.as_array().unwrap() {
        let n = t["nonce"].as_i64().unwrap_or(0);
        let signed_before: Vec<&str> = old.signed(n).iter().map(|t| t.hash.as_str()).collect();
        assert!(
            t["sender"] != addr.as_str()
                || signed_before.is_empty()
                || signed_before.contains(&t["hash"].as_str().unwrap()),
            "the chain saw a second tx for nonce {n}: {t}"
        );
    }
    let stats = net.stats();
    assert_eq!(stats["included_by_nonce"]["30"][&addr], 1, "{stats}");
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert_eq!(
        summary.nonces.get(&30).map(String::as_str),
        Some("included"),
        "{:?}",
        summary.nonces
    );
}
