//! Disk and clock faults under a running daemon, in-process so the test can
//! reach the seams production never touches: the log writer's sink check
//! (`io::logfile::set_sink_check`), the ledger's write check
//! (`io::ledger::set_write_check`) and the wall-clock shift
//! (`io::clock::shift_wall_clock`). Logging is process-wide, so these tests
//! share one log set-up and run one at a time. A tiny tmpfs run of the real
//! The tmpfs run of the real binary is not part of this module yet.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use allora_worker::agent::{self, Options, Summary};
use allora_worker::config::{self, Config, Sources};
use allora_worker::devnet::{self, Devnet, DevnetConfig};
use allora_worker::io::{clock, ledger, logfile, logging};
use allora_worker::logic::rotation::Policy;
use allora_worker::logic::wallet::Wallet;

use crate::support::{accepted, devnet_env, temp_dir, wait_for};

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

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn log_sink(_: &Path) -> io::Result<()> {
    if DISK_FULL.load(Ordering::SeqCst) {
        return Err(enospc());
    }
    Ok(())
}

fn ledger_sink(_: &Path) -> io::Result<()> {
    if LEDGER_FULL.load(Ordering::SeqCst) {
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
