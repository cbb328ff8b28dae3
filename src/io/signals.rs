//! Signals: SIGINT and SIGTERM request a clean stop; a second one exits at
//! once. SIGHUP never stops the worker: it is blocked in the main thread
//! before any other thread exists (so ctrlc's `termination` handler never
//! sees it, also under `nohup`, where it would otherwise kill the worker with
//! the SSH session), and `sleep_until` takes a pending one and reopens the
//! log files, as daemons do after logrotate.
//!
//! `sleep_until` is the loop's only way to wait: it wakes early on a stop.
//! The first stop request also arms `alarm(STOP_GRACE_SECS)`: a loop stuck
//! in an HTTP call to a hung endpoint is ended by SIGALRM after 5 s.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use crate::error::{Error, Result};

static SIGNALS: AtomicU32 = AtomicU32::new(0);

/// Seconds a stop request may take before the process is ended (SIGALRM).
pub const STOP_GRACE_SECS: u32 = 5;

/// Installs the handler. Call once, from the main thread, before starting
/// any thread. Returns whether SIGHUP is ignored (started under nohup).
pub fn install() -> Result<bool> {
    let hup_ignored = sighup_ignored();
    hup_set()
        .thread_block()
        .map_err(|e| Error::io("block SIGHUP", std::io::Error::from(e)))?;
    ctrlc::set_handler(|| {
        if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
            std::process::exit(130);
        }
        // The grace: if the loop is still inside an HTTP call (a hung
        // endpoint) after STOP_GRACE_SECS, SIGALRM ends the process. The
        // ledger is fsync'd per record, so nothing durable is lost.
        nix::unistd::alarm::set(STOP_GRACE_SECS);
    })
    .map_err(|e| {
        Error::io(
            "install the signal handler",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(hup_ignored)
}

/// True once a stop was requested.
pub fn stop_requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Requests a stop from inside the process (tests, `--stop-at`).
pub fn request_stop() {
    SIGNALS.fetch_max(1, Ordering::SeqCst);
}

/// Sleeps until `deadline` or a stop request, in slices of at most 100 ms,
/// keeping the systemd watchdog fed. Returns true when woken by a stop
/// request.
pub fn sleep_until(deadline: Instant) -> bool {
    loop {
        crate::io::notify::watchdog();
        take_sighup();
        if stop_requested() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}

/// Sends SIGTERM to `pid` (the `stop` subcommand).
pub fn terminate(pid: u32) -> Result<()> {
    let pid = i32::try_from(pid).map_err(|_| Error::Usage(format!("pid {pid} is out of range")))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).map_err(|e| {
        Error::io(
            format!("send SIGTERM to pid {pid}"),
            std::io::Error::from(e),
        )
    })
}

fn hup_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGHUP);
    set
}

/// Takes a pending SIGHUP, if any, and reopens the log files.
pub fn take_sighup() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !mask_has_hup(&status, "ShdPnd:") && !mask_has_hup(&status, "SigPnd:") {
        return;
    }
    if hup_set().wait() == Ok(Signal::SIGHUP) {
        crate::io::logfile::reopen_all();
        log::info!("SIGHUP: log files reopened; the worker keeps running");
    }
}

/// Whether SIGHUP's bit is set in a signal mask line of /proc/self/status.
fn mask_has_hup(status: &str, field: &str) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & 1 == 1)
}

/// True when SIGHUP's disposition is "ignore" (`SigIgn` in /proc/self/status).
fn sighup_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    mask_has_hup(&status, "SigIgn:")
}
