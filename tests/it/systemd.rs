//! The worker under a fake systemd: a datagram socket standing in for
//! `NOTIFY_SOCKET` records what the worker tells systemd. READY=1 comes at
//! once even with `--start-at` far ahead (with `STATUS=waiting until …`),
//! and with `WATCHDOG_USEC` set the pings never leave a gap longer than
//! three quarters of it while windows are served.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{accepted, bin, devnet_env, funded_devnet, spawn_quiet, temp_dir, wait_for};

/// A fake notify socket in `dir`.
fn notify_socket(dir: &Path) -> (UnixDatagram, String) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    (sock, path.display().to_string())
}

/// Messages received within `for_at_most`, or until `done` says so, each
/// with when it arrived.
fn record(
    sock: &UnixDatagram,
    for_at_most: Duration,
    mut done: impl FnMut(&[(Instant, String)]) -> bool,
) -> Vec<(Instant, String)> {
    let end = Instant::now() + for_at_most;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end && !done(&seen) {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    seen
}

#[test]
fn ready_within_5_s_while_waiting_for_start_at_10_min_ahead() {
    let (net, mnemonic, _) = funded_devnet(100, 10_000, 8);
    let dir = temp_dir("systemd-start-at");
    let (sock, path) = notify_socket(&dir);
    let mut env = devnet_env(&net, &mnemonic, &dir, &[]);
    env.push(("NOTIFY_SOCKET".into(), path));
    let start = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    let start_arg = start
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let began = Instant::now();
    let mut child = spawn_quiet(&bin(), &["run", "--start-at", &start_arg], &env, &dir);
    let seen = record(&sock, Duration::from_secs(5), |s| {
        s.iter().any(|(_, m)| m.contains("READY=1"))
            && s.iter()
                .any(|(_, m)| m.contains("STATUS=") && m.contains("waiting until"))
    });
    let ready = seen.iter().find(|(_, m)| m.contains("READY=1"));
    assert!(
        ready.is_some_and(|(t, _)| t.duration_since(began) < Duration::from_secs(5)),
        "no READY=1 within 5 s: {seen:?}"
    );
    assert!(
        seen.iter().any(|(_, m)| m.contains("waiting until")),
        "STATUS says it waits: {seen:?}"
    );
    let status = wait_for("status.json while waiting", 10, || {
        std::fs::read_to_string(dir.join("data/status.json")).ok()
    });
    assert!(status.contains("waiting until"), "{status}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let code = wait_for("exit", 10, || child.try_wait().ok().flatten()).code();
    assert_eq!(code, Some(0));
    let log = std::fs::read_to_string(dir.join("logs/worker.log")).unwrap_or_default();
    assert!(
        log.contains("SHUTDOWN"),
        "the shutdown line while waiting: {log}"
    );
    assert!(!log.contains("minutes for --start-at"), "{log}");
}

#[test]
fn watchdog_pings_never_leave_a_gap_over_1_5_s_while_serving() {
    let (net, mnemonic, addr) = funded_devnet(100, 10, 8);
    let dir = temp_dir("systemd-watchdog");
    let (sock, path) = notify_socket(&dir);
    let mut env = devnet_env(&net, &mnemonic, &dir, &[]);
    env.push(("NOTIFY_SOCKET".into(), path));
    env.push(("WATCHDOG_USEC".into(), "2000000".into()));
    let mut child = spawn_quiet(&bin(), &["run", "--poll-interval", "1"], &env, &dir);
    let ready = record(&sock, Duration::from_secs(30), |s| {
        s.iter().any(|(_, m)| m.contains("READY=1"))
    });
    assert!(
        ready.iter().any(|(_, m)| m.contains("READY=1")),
        "{ready:?}"
    );
    let seen = record(&sock, Duration::from_secs(60), |_| false);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let code = wait_for("exit", 10, || child.try_wait().ok().flatten()).code();
    assert_eq!(code, Some(0));
    let pings: Vec<Instant> = seen
        .iter()
        .filter(|(_, m)| m.contains("WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect();
    assert!(pings.len() >= 60, "{} pings in 60 s", pings.len());
    let worst = pings
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap();
    assert!(worst <= Duration::from_millis(1_500), "a {worst:?} gap");
    // The pings covered real work: windows were served meanwhile.
    let served = accepted(&net.stats(), &addr).len();
    assert!(served >= 20, "only {served} windows served in 60 s");
    assert_eq!(net.stats()["duplicates"], 0);
}
