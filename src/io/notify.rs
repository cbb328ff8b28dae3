//! systemd `sd_notify`: datagrams to `$NOTIFY_SOCKET` (READY=1, STATUS=…,
//! WATCHDOG=1, STOPPING=1). Does nothing when the variable is unset. A failed
//! send is reported once and otherwise ignored: systemd integration must
//! never stop the worker.
//!
//! The watchdog is process-wide: `watchdog()` is called wherever the loop
//! waits (`signals::sleep_until`, the websocket read, the `--predict-cmd`
//! wait), between its steps, and before and after every HTTP call
//! (`io::http`, each Tiingo page), and pings once a quarter of
//! `WATCHDOG_USEC` has passed since the last ping. Outside an HTTP call the
//! last ping is therefore at most a quarter of `WATCHDOG_USEC` plus the
//! longest stretch of work between two of those points (training, scoring:
//! well under the 1 s step bound) old, which is within half of
//! `WATCHDOG_USEC` whenever it is 4 s or more; one HTTP call lasts at most
//! `ALLORA_CONNECT_TIMEOUT` + `ALLORA_READ_TIMEOUT` (`timeout_global`).

use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A connection to systemd's notification socket, if there is one.
pub struct Notifier {
    target: Option<String>,
    warned: bool,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`.
    pub fn from_env() -> Notifier {
        Notifier {
            target: target_from_env(),
            warned: false,
        }
    }

    /// True when running under systemd with `Type=notify`.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends one notification message, e.g. `READY=1` or `STATUS=…`.
    pub fn send(&mut self, message: &str) {
        let Some(target) = &self.target else { return };
        if let Err(e) = send_to(target, message) {
            if !self.warned {
                self.warned = true;
                log::warn!("WARNING sd_notify to {target} failed: {e}");
            }
        }
    }
}

fn target_from_env() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The watchdog systemd asked for, and when it was last pinged.
struct Watchdog {
    target: String,
    every: Duration,
    last: Option<Instant>,
}

fn watchdog_state() -> &'static Mutex<Option<Watchdog>> {
    static STATE: OnceLock<Mutex<Option<Watchdog>>> = OnceLock::new();
    STATE.get_or_init(|| {
        let target = target_from_env();
        let usec = watchdog_usec();
        Mutex::new(target.zip(usec).map(|(target, usec)| Watchdog {
            target,
            every: usec / 4,
            last: None,
        }))
    })
}

/// `WATCHDOG_USEC` when it is meant for this process (`WATCHDOG_PID` unset
/// or ours).
pub fn watchdog_usec() -> Option<Duration> {
    let pid_ok = match std::env::var("WATCHDOG_PID") {
        Ok(pid) => pid.trim().parse::<u32>().ok() == Some(std::process::id()),
        Err(_) => true,
    };
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (pid_ok && usec > 0).then(|| Duration::from_micros(usec))
}

/// Sends `WATCHDOG=1` when a quarter of `WATCHDOG_USEC` has passed since the
/// last ping; a no-op without a watchdog. Cheap enough to call every 100 ms.
pub fn watchdog() {
    let mut guard = watchdog_state().lock().unwrap_or_else(|e| e.into_inner());
    let Some(w) = guard.as_mut() else { return };
    let now = Instant::now();
    if w.last.is_some_and(|t| now.duration_since(t) < w.every) {
        return;
    }
    w.last = Some(now);
    // A failed ping is not worth a log line every quarter interval: the
    // Notifier's messages already report a broken socket once.
    let _ = send_to(&w.target, "WATCHDOG=1");
}

fn send_to(target: &str, message: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = target.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(message.as_bytes(), &addr)?;
    } else {
        sock.send_to(message.as_bytes(), target)?;
    }
    Ok(())
}
