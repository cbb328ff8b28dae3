//! The daemon (`run`, `once`, `status`, `stop`) as a user runs it: the real
//! binary against a devnet on loopback. Every window gets exactly one
//! verified submission, `kill -9` never causes a duplicate, SIGTERM exits
//! cleanly within 5 s, SIGHUP under nohup does not stop it, a second
//! instance names the first one's pid, and an idle worker costs little CPU.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use allora_worker::devnet::{self, Devnet, DevnetConfig, Fault};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{accepted, bin, spawn_quiet, temp_dir, wait_for};

/// A devnet with fast blocks and a wallet of its own, funded and registered.
fn devnet(block_ms: u64, epoch: u64, window: u64) -> (Devnet, String, String) {
    crate::support::funded_devnet(block_ms, epoch, window)
}

/// The worker's environment for `net`, with its own data and log dirs.
fn env(net: &Devnet, mnemonic: &str, dir: &Path) -> Vec<(String, String)> {
    crate::support::devnet_env(net, mnemonic, dir, &[])
}

fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id() as i32), sig).expect("send signal");
}

/// Waits for the child to exit; returns its code and how long it took.
fn exit_of(child: &mut Child, secs: u64) -> (Option<i32>, Duration) {
    let start = Instant::now();
    let status = wait_for("the worker to exit", secs, || {
        child.try_wait().ok().flatten()
    });
    (status.code(), start.elapsed())
}

/// The worker's ledger records under `dir`, in file order.
fn ledger_records(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir.join("data")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("ledger-") && name.ends_with(".jsonl") {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            out.extend(
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
            );
        }
    }
    out
}

/// How many ledger records have `state`.
fn ledger_states(dir: &Path, state: &str) -> usize {
    ledger_records(dir)
        .iter()
        .filter(|r| r["state"] == state)
        .count()
}

/// True when a nonce's last ledger record is a `signed` or `broadcast`
/// written after the first `since` records: this run ended between signing
/// (or broadcasting) and the outcome.
fn pending_in_ledger(dir: &Path, since: usize) -> bool {
    let mut last = std::collections::BTreeMap::new();
    for (i, r) in ledger_records(dir).into_iter().enumerate() {
        last.insert(
            r["nonce"].as_i64(),
            (i, r["state"].as_str().map(str::to_string)),
        );
    }
    last.values()
        .any(|(i, s)| *i >= since && matches!(s.as_deref(), Some("signed" | "broadcast")))
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("logs/worker.log")).unwrap_or_default()
}

/// Every window from the first accepted one to the last has exactly one
/// accepted submission, and the devnet saw no duplicate.
fn assert_one_each(net: &Devnet, addr: &str, epoch: i64) -> usize {
    let stats = net.stats();
    let acc = accepted(&stats, addr);
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert!(
        acc.iter().all(|(_, c)| *c == 1),
        "a nonce accepted twice: {acc:?}"
    );
    let (first, last) = (acc[0].0, acc[acc.len() - 1].0);
    let expected = ((last - first) / epoch + 1) as usize;
    assert_eq!(
        acc.len(),
        expected,
        "a window in {first}..={last} got no submission: {acc:?} {stats}"
    );
    acc.len()
}

#[test]
fn fifty_windows_each_get_exactly_one_submission() {
    let (net, mnemonic, addr) = devnet(60, 10, 8);
    let dir = temp_dir("daemon-50");
    let metrics = dir.join("metrics.prom");
    let env = env(&net, &mnemonic, &dir);
    let metrics_arg = metrics.display().to_string();
    let mut child = spawn_quiet(
        &bin(),
        &[
            "run",
            "--poll-interval",
            "2",
            "--heartbeat",
            "3",
            "--metrics-file",
            &metrics_arg,
        ],
        &env,
        &dir,
    );
    // 51: the 51st tx may still be followed when SIGTERM comes.
    wait_for("51 accepted windows", 150, || {
        (accepted(&net.stats(), &addr).len() >= 51).then_some(())
    });
    signal(&child, Signal::SIGTERM);
    let (code, took) = exit_of(&mut child, 10);
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    assert!(assert_one_each(&net, &addr, 10) >= 50);
    let log = log_text(&dir);
    assert!(
        log.contains("SHUTDOWN shutdown after"),
        "shutdown summary in the log"
    );
    assert!(log.contains("HEARTBEAT"), "heartbeat in the log");
    let events = std::fs::read_to_string(dir.join("logs/events.jsonl")).unwrap();
    let successes: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("every event line is JSON"))
        .filter(|v| v["event"] == "success")
        .collect();
    assert!(
        successes.len() >= 50 && successes.iter().all(|v| v["data"]["tx_hash"].is_string()),
        "{} successes",
        successes.len(),
    );
    let status: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data/status.json")).unwrap())
            .unwrap();
    assert!(status["submitted"].as_u64().unwrap() >= 50, "{status}");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(prom.contains("allora_worker_submitted_total"), "{prom}");
}

#[test]
fn kill_9_at_random_points_never_duplicates_or_forgets() {
    let (net, mnemonic, addr) = devnet(80, 10, 8);
    let dir = temp_dir("daemon-kill9");
    let env = env(&net, &mnemonic, &dir);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut landed = 0;
    for round in 0..30 {
        // Every tx stays in the mempool 4 blocks: a wide signed → outcome gap.
        net.inject(Fault::HoldInMempool(4));
        let signed_before = ledger_states(&dir, "signed");
        let records_before = ledger_records(&dir).len();
        let mut child = spawn_quiet(&bin(), &["run", "--poll-interval", "1"], &env, &dir);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if round % 2 == 0 {
            // Aim: kill just after a new `signed` record.
            let deadline = Instant::now() + Duration::from_secs(5);
            while ledger_states(&dir, "signed") <= signed_before && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(seed % 120));
        } else {
            std::thread::sleep(Duration::from_millis(200 + seed % 1000));
        }
        signal(&child, Signal::SIGKILL);
        let (code, _) = exit_of(&mut child, 5);
        assert_eq!(code, None, "round {round}: killed by a signal");
        landed += usize::from(pending_in_ledger(&dir, records_before));
    }
    assert!(
        landed >= 10,
        "only {landed} of 30 kills landed between `signed` and the outcome"
    );
    eprintln!("{landed} of 30 kills landed between `signed` and the outcome");
    let restarted_at = net.height();
    let mut child = spawn_quiet(&bin(), &["run", "--poll-interval", "1"], &env, &dir);
    wait_for("windows after the last restart", 60, || {
        let acc = accepted(&net.stats(), &addr);
        (acc.iter()
            .filter(|(n, _)| *n as u64 > restarted_at + 10)
            .count()
            >= 3)
            .then_some(())
    });
    signal(&child, Signal::SIGTERM);
    assert_eq!(exit_of(&mut child, 10).0, Some(0));
    let stats = net.stats();
    assert_eq!(
        stats["duplicates"], 0,
        "no nonce submitted twice across 30 kills: {stats}"
    );
    let acc = accepted(&stats, &addr);
    assert!(acc.iter().all(|(_, c)| *c == 1), "{acc:?}");
    let window_end = |n: i64| n as u64 + 8;
    let last = acc.last().map_or(0, |(n, _)| *n);
    for n in (10..=last)
        .step_by(10)
        .filter(|n| window_end(*n) > restarted_at + 2)
    {
        assert!(
            acc.iter().any(|(m, _)| *m == n),
            "nonce {n} was still open after the restart but never served: {acc:?}"
        );
    }
}

#[test]
fn sigterm_while_sleeping_and_while_broadcasting_exits_in_5s() {
    let (net, mnemonic, _) = devnet(100, 10_000, 8);
    let dir = temp_dir("daemon-term-idle");
    let env = env(&net, &mnemonic, &dir);
    let mut child = spawn_quiet(&bin(), &["run"], &env, &dir);
    wait_for("the worker to start", 30, || {
        log_text(&dir).contains("chain devnet-1").then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, Signal::SIGTERM);
    let (code, took) = exit_of(&mut child, 10);
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(log_text(&dir).contains("SHUTDOWN"), "{}", log_text(&dir));

    let (net, mnemonic, _) = devnet(100, 10, 9);
    net.inject(Fault::HoldInMempool(1_000));
    let dir = temp_dir("daemon-term-busy");
    let mut env = self::env(&net, &mnemonic, &dir);
    env.push(("ALLORA_TX_TIMEOUT".into(), "60s".into()));
    let mut child = spawn_quiet(&bin(), &["run"], &env, &dir);
    wait_for("a broadcast", 60, || {
        log_text(&dir).contains("SUBMISSION").then_some(())
    });
    signal(&child, Signal::SIGTERM);
    let (code, took) = exit_of(&mut child, 10);
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(log_text(&dir).contains("SHUTDOWN"));

    // Inside an HTTP call to a hung endpoint with a 30 s read timeout: the
    // 5 s grace ends it (SIGALRM).
    let (net, mnemonic, _) = devnet(100, 10, 8);
    let dir = temp_dir("daemon-term-hung");
    let mut env = self::env(&net, &mnemonic, &dir);
    env.push(("ALLORA_READ_TIMEOUT".into(), "30s".into()));
    let mut child = spawn_quiet(&bin(), &["run", "--poll-interval", "1"], &env, &dir);
    wait_for("the worker to start", 30, || {
        log_text(&dir).contains("chain devnet-1").then_some(())
    });
    net.inject(Fault::Hang(1_000));
    wait_for("a hung request", 30, || {
        (net.stats()["faults_fired"]["hang"].as_u64() >= Some(1)).then_some(())
    });
    signal(&child, Signal::SIGTERM);
    let (code, took) = exit_of(&mut child, 10);
    assert!(code.is_none() || code == Some(0), "{code:?}");
    assert!(took < Duration::from_millis(6_500), "{took:?}");
}

#[test]
fn second_instance_names_the_first_pid_and_status_stop_work() {
    let (net, mnemonic, _) = devnet(100, 10_000, 8);
    let dir = temp_dir("daemon-lock");
    let env = env(&net, &mnemonic, &dir);
    let mut first = spawn_quiet(&bin(), &["run"], &env, &dir);
    wait_for("the first worker", 30, || {
        log_text(&dir).contains("chain devnet-1").then_some(())
    });
    let out = Command::new(bin())
        .arg("run")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    let out = Command::new(bin())
        .args(["status", "--json"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&dir)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], first.id());
    let out = Command::new(bin())
        .arg("stop")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("stopped worker pid {}", first.id())));
    assert_eq!(exit_of(&mut first, 5).0, Some(0));
    let out = Command::new(bin())
        .arg("status")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

#[test]
fn under_nohup_sighup_does_not_stop_it_sigterm_does() {
    let (net, mnemonic, _) = devnet(100, 10_000, 8);
    let dir = temp_dir("daemon-nohup");
    let env = env(&net, &mnemonic, &dir);
    let program = bin().display().to_string();
    let mut child = spawn_quiet(
        &PathBuf::from("/usr/bin/nohup"),
        &[&program, "run"],
        &env,
        &dir,
    );
    wait_for("the worker", 30, || {
        log_text(&dir).contains("SIGHUP is ignored").then_some(())
    });
    signal(&child, Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped a nohup'd worker"
    );
    signal(&child, Signal::SIGTERM);
    assert_eq!(exit_of(&mut child, 10).0, Some(0));
}

#[test]
fn idle_worker_uses_little_cpu() {
    let (net, mnemonic, _) = devnet(200, 100_000, 8);
    let dir = temp_dir("daemon-idle");
    let env = env(&net, &mnemonic, &dir);
    let mut child = spawn_quiet(&bin(), &["run"], &env, &dir);
    wait_for("the worker to settle", 60, || {
        log_text(&dir).contains("trained on").then_some(())
    });
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = ticks(child.id());
    std::thread::sleep(Duration::from_secs(20));
    let used = ticks(child.id()) - before;
    signal(&child, Signal::SIGTERM);
    assert_eq!(exit_of(&mut child, 10).0, Some(0));
    // 0.2 CPU-seconds is the budget for 60 idle seconds; hold 20 s to it.
    assert!(
        used <= 20,
        "idle worker used {used} clock ticks (1/100 s) in 20 s"
    );
}

#[test]
fn once_serves_the_open_window_then_has_nothing_to_do() {
    let (net, mnemonic, addr) = devnet(100, 40, 38);
    let dir = temp_dir("daemon-once");
    let env = env(&net, &mnemonic, &dir);
    wait_for("an open window", 30, || (net.height() >= 42).then_some(()));
    let run_once = || {
        Command::new(bin())
            .arg("once")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = run_once();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["submitted"], 1, "{v}");
    let out = run_once();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["submitted"], 0, "the ledger says the window is done: {v}");
    assert_eq!(net.stats()["duplicates"], 0);
    assert_eq!(accepted(&net.stats(), &addr).len(), 1);
}

#[test]
fn sd_notify_ready_status_watchdog_stopping() {
    use std::os::unix::net::UnixDatagram;
    let (net, mnemonic, _) = devnet(100, 10, 8);
    let dir = temp_dir("daemon-notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut env = env(&net, &mnemonic, &dir);
    env.push(("NOTIFY_SOCKET".into(), sock_path.display().to_string()));
    env.push(("WATCHDOG_USEC".into(), "60000000".into()));
    let mut child = spawn_quiet(&bin(), &["run", "--heartbeat", "1"], &env, &dir);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    wait_for("READY, STATUS and WATCHDOG", 60, || {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
        (seen.contains("READY=1")
            && seen.contains("STATUS=last window")
            && seen.contains("WATCHDOG=1"))
        .then_some(())
    });
    signal(&child, Signal::SIGTERM);
    wait_for("STOPPING", 10, || {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen.contains("STOPPING=1").then_some(())
    });
    assert_eq!(exit_of(&mut child, 10).0, Some(0));
}

#[test]
fn stop_at_ends_cleanly_and_low_balance_pauses_without_submitting() {
    let (mnemonic, wallet) = devnet::throwaway_wallet(12).unwrap();
    let addr = wallet.address().to_string();
    let net = Devnet::start(DevnetConfig {
        block_ms: 100,
        epoch_blocks: 10,
        window_blocks: 8,
        genesis: vec![(addr.clone(), 5)],
        registered: vec![addr.clone()],
        ..DevnetConfig::default()
    })
    .unwrap();
    let dir = temp_dir("daemon-poor");
    let env = env(&net, mnemonic.expose(), &dir);
    let stop_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(6);
    let stop_arg = stop_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut child = spawn_quiet(&bin(), &["run", "--stop-at", &stop_arg], &env, &dir);
    let (code, _) = exit_of(&mut child, 30);
    assert_eq!(code, Some(0), "a --stop-at exit is clean");
    let log = log_text(&dir);
    assert!(
        log.contains("--stop-at") && log.contains("SHUTDOWN"),
        "{log}"
    );
    assert!(
        log.contains("paused until funded"),
        "low balance is said: {log}"
    );
    assert!(
        accepted(&net.stats(), &addr).is_empty(),
        "nothing submitted without funds"
    );
    let status: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data/status.json")).unwrap())
            .unwrap();
    assert!(
        status["missed"]["low_balance"].as_u64().unwrap_or(0) >= 1,
        "{status}"
    );
}

#[test]
fn one_worker_per_key_machine_wide_and_status_stop_from_anywhere() {
    let (net, mnemonic, addr) = devnet(100, 10, 8);
    let dir = temp_dir("daemon-claim");
    let (one, two, elsewhere) = (dir.join("one"), dir.join("two"), dir.join("elsewhere"));
    for d in [&one, &two, &elsewhere] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut first = spawn_quiet(&bin(), &["run"], &env(&net, &mnemonic, &one), &one);
    wait_for("the first worker to submit", 60, || {
        (!accepted(&net.stats(), &addr).is_empty()).then_some(())
    });
    let out = Command::new(bin())
        .arg("run")
        .env_clear()
        .envs(env(&net, &mnemonic, &two))
        .current_dir(&two)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let one_data = std::fs::canonicalize(one.join("data")).unwrap();
    assert!(
        stderr.contains(&format!(
            "another worker (pid {}, data dir {}) already runs for this chain, topic and address",
            first.id(),
            one_data.display()
        )),
        "{stderr}"
    );
    assert!(!two.join("data/status.json").exists());
    // status and stop from another directory, without the key.
    let anywhere = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .env_clear()
            .env("ALLORA_CHAIN_ID", "devnet-1")
            .env("ALLORA_WALLET_ADDR", &addr)
            .current_dir(&elsewhere)
            .output()
            .unwrap()
    };
    let out = anywhere(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], first.id());
    assert_eq!(status["data_dir"], one_data.display().to_string());
    assert_eq!(
        status["status"]["pid"],
        first.id(),
        "read the worker's status.json"
    );
    let out = anywhere(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "read:          {}/status.json",
            one_data.display()
        )),
        "{text}"
    );
    let out = anywhere(&["stop"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
        "stopped worker pid {}, data dir {}",
        first.id(),
        one_data.display()
    )));
    assert_eq!(exit_of(&mut first, 5).0, Some(0));
    let out = anywhere(&["status"]);
    assert_eq!(out.status.code(), Some(3), "LSB: not running");
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
    let stats = net.stats();
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert!(accepted(&stats, &addr).iter().all(|(_, c)| *c == 1));
}

#[test]
fn sighup_without_nohup_reopens_the_logs_and_a_clean_stop_warns_nothing() {
    let (net, mnemonic, addr) = devnet(100, 10, 8);
    let dir = temp_dir("daemon-sighup");
    let mut child = spawn_quiet(&bin(), &["run"], &env(&net, &mnemonic, &dir), &dir);
    wait_for("a submission", 60, || {
        (!accepted(&net.stats(), &addr).is_empty()).then_some(())
    });
    // logrotate moves the file away, then sends SIGHUP.
    std::fs::rename(
        dir.join("logs/worker.log"),
        dir.join("logs/worker.log.moved"),
    )
    .unwrap();
    signal(&child, Signal::SIGHUP);
    wait_for("the reopened worker.log", 10, || {
        log_text(&dir)
            .contains("SIGHUP: log files reopened")
            .then_some(())
    });
    let served = accepted(&net.stats(), &addr).len();
    wait_for("more windows after SIGHUP", 30, || {
        (accepted(&net.stats(), &addr).len() >= served + 2).then_some(())
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped the worker"
    );
    signal(&child, Signal::SIGTERM);
    assert_eq!(exit_of(&mut child, 10).0, Some(0));
    let log = log_text(&dir);
    assert!(log.contains("SHUTDOWN"), "{log}");
    let noisy: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[WARN]") || l.contains("reconnect"))
        .collect();
    assert!(
        noisy.is_empty(),
        "a clean stop and a healthy devnet warn nothing: {noisy:?}"
    );
    assert_eq!(net.stats()["duplicates"], 0);
}

#[test]
fn check_and_status_agree_on_the_fee_per_submission_and_the_runway() {
    let (net, mnemonic, _) = devnet(100, 10_000, 8);
    let dir = temp_dir("daemon-agree");
    let env = env(&net, &mnemonic, &dir);
    let mut child = spawn_quiet(&bin(), &["run", "--heartbeat", "1"], &env, &dir);
    let status: Value = wait_for("a heartbeat with the fee", 60, || {
        let text = std::fs::read_to_string(dir.join("data/status.json")).ok()?;
        let v: Value = serde_json::from_str(&text).ok()?;
        v["fee_per_submission_uallo"].is_string().then_some(v)
    });
    let run = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let check = String::from_utf8_lossy(&run(&["check"]).stdout).into_owned();
    let status_text = String::from_utf8_lossy(&run(&["status"]).stdout).into_owned();
    signal(&child, Signal::SIGTERM);
    assert_eq!(exit_of(&mut child, 10).0, Some(0));
    let fee = status["fee_per_submission_uallo"].as_str().unwrap();
    let phrase = " uallo) per submission";
    let in_check = check
        .lines()
        .find(|l| l.contains("balance:"))
        .unwrap_or_else(|| panic!("{check}"));
    assert!(
        in_check.contains(&format!("({fee}{phrase}")),
        "{in_check} vs {status}"
    );
    assert!(
        status_text.contains(&format!("({fee}{phrase}")),
        "{status_text}"
    );
    // Both measure the block time themselves, moments apart: within 10 %.
    let runway = status["runway_days"].as_f64().unwrap();
    let checked: f64 = in_check
        .split("runway ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{in_check}"));
    assert!(
        (checked / runway - 1.0).abs() < 0.1,
        "{in_check} vs {runway}"
    );
}
