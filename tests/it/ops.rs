//! What an operator sees: which commands write log files (only `run` and
//! `once`, and not `worker.log` when stderr is the journal), one-line errors
//! without a doubled level, flags refused at start with the exact message.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{bin, run, temp_dir, texts};

/// Settings pointing at a chain that refuses connections (port 1), with a
/// wallet of this call (workers of tests running at once never share a
/// claim).
fn dead_chain(dir: &Path) -> Vec<(String, String)> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (mnemonic, _) =
        allora_worker::devnet::throwaway_wallet((u64::from(std::process::id()) << 20) + n).unwrap();
    [
        ("ALLORA_CHAIN_ID", "devnet-1"),
        ("ALLORA_LCD_URLS", "http://127.0.0.1:1"),
        ("ALLORA_RPC_URLS", "http://127.0.0.1:1"),
        ("ALLORA_WS_URL", "ws://127.0.0.1:1/websocket"),
        ("TIINGO_URL", "http://127.0.0.1:1"),
        ("TIINGO_API_KEY", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        ("MNEMONIC".into(), mnemonic.expose().clone()),
        (
            "ALLORA_DATA_DIR".into(),
            dir.join("data").display().to_string(),
        ),
        (
            "ALLORA_LOG_DIR".into(),
            dir.join("logs").display().to_string(),
        ),
    ])
    .collect()
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn only_run_and_once_write_log_files() {
    let dir = temp_dir("ops-logs");
    let env = dead_chain(&dir);
    for args in [&["wallet"][..], &["status"], &["systemd-unit"]] {
        run(&dir, args, &env_refs(&env));
        assert!(!dir.join("logs").exists(), "{args:?} created the log dir");
    }
    let out = run(&dir, &["once"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = texts(&out);
    assert!(dir.join("logs/worker.log").exists(), "{stderr}");
    assert!(dir.join("logs/events.jsonl").exists());
    assert!(stderr.contains("[ERROR]"), "{stderr}");
    assert!(
        !stderr.contains("[ERROR] ERROR"),
        "a doubled level: {stderr}"
    );
}

#[test]
fn under_the_journal_worker_log_is_not_written_twice() {
    let dir = temp_dir("ops-journal");
    let env = dead_chain(&dir);
    let journal = dir.join("journal");
    let file = std::fs::File::create(&journal).unwrap();
    let meta = file.metadata().unwrap();
    let out = Command::new(bin())
        .arg("once")
        .current_dir(&dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdout(Stdio::null())
        .stderr(file)
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1));
    let said = std::fs::read_to_string(&journal).unwrap();
    assert!(said.contains("STARTUP"), "{said}");
    assert!(
        !dir.join("logs/worker.log").exists(),
        "worker.log duplicates the journal"
    );
    let events = std::fs::read_to_string(dir.join("logs/events.jsonl")).unwrap();
    assert!(events.contains("\"startup\""), "{events}");
    // ALLORA_LOG_FILE=always writes it anyway.
    let file = std::fs::File::create(&journal).unwrap();
    let meta = file.metadata().unwrap();
    let out = Command::new(bin())
        .arg("once")
        .current_dir(&dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("ALLORA_LOG_FILE", "always")
        .stdout(Stdio::null())
        .stderr(file)
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1));
    assert!(dir.join("logs/worker.log").is_file());
}

#[test]
fn start_at_after_stop_at_is_refused() {
    let dir = temp_dir("ops-start-stop");
    let env = dead_chain(&dir);
    let out = run(
        &dir,
        &[
            "run",
            "--start-at",
            "2027-01-02T00:00:00Z",
            "--stop-at",
            "2027-01-01T00:00:00Z",
        ],
        &env_refs(&env),
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(
            "--start-at 2027-01-02T00:00:00Z is not before --stop-at 2027-01-01T00:00:00Z"
        ),
        "{stderr}"
    );
}

#[test]
fn demo_runs_in_a_fresh_temp_dir_and_removes_it() {
    let dir = temp_dir("ops-demo");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let tmp_text = tmp.display().to_string();
    for _ in 0..2 {
        let out = run(
            &dir,
            &["demo", "--windows", "2", "--json"],
            &[("TMPDIR", tmp_text.as_str())],
        );
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(
            report["accepted_once"], 2,
            "a fresh ledger each time: {report}"
        );
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
        assert!(left.is_empty(), "demo left {left:?} behind");
        assert!(!dir.join("data").exists() && !dir.join("logs").exists());
    }
}

#[test]
fn check_reads_every_key_from_the_env_file_and_the_environment_wins() {
    use allora_worker::devnet::{self, Devnet, DevnetConfig};
    let (mnemonic, wallet) = devnet::throwaway_wallet(u64::from(std::process::id()) << 8).unwrap();
    let net = Devnet::start(DevnetConfig {
        genesis: vec![(wallet.address().to_string(), 1_000_000_000_000)],
        registered: vec![wallet.address().to_string()],
        ..DevnetConfig::default()
    })
    .unwrap();
    let dir = temp_dir("ops-check-envfile");
    let file = crate::support::devnet_env(&net, mnemonic.expose(), &dir, &[]);
    let mut text: String = file.iter().map(|(k, v)| format!("{k}=\"{v}\"\n")).collect();
    text.push_str("TOPIC_ID=abc  # the environment overrides this\n");
    std::fs::write(dir.join("devnet.env"), text).unwrap();
    let out = run(
        &dir,
        &["--env-file", "devnet.env", "check"],
        &[("TOPIC_ID", "67"), ("ALLORA_TYPO", "1")],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let market = stdout
        .lines()
        .find(|l| l.contains("market data"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        market.starts_with("✓ market data http://127.0.0.1:"),
        "{market}"
    );
    assert!(
        stderr.contains("unknown key ALLORA_TYPO in the environment (a typo?); it is ignored"),
        "{stderr}"
    );
    // An empty endpoint key is an error, not testnet.
    let out = run(
        &dir,
        &["--env-file", "devnet.env", "check"],
        &[("ALLORA_LCD_URLS", "")],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(
            "config ALLORA_LCD_URLS: is empty in the environment; remove the line to use the testnet preset"
        ),
        "{stderr}"
    );
}

#[test]
fn a_failed_start_is_recorded_where_a_detached_user_looks() {
    let dir = temp_dir("ops-start-failure");
    let env = dead_chain(&dir);
    let out = run(&dir, &["once"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(1));
    let log = std::fs::read_to_string(dir.join("logs/worker.log")).unwrap();
    assert!(log.contains("[ERROR] once: "), "{log}");
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data/status.json")).unwrap())
            .unwrap();
    let reason = status["last_start_failure"]["reason"].as_str().unwrap();
    assert!(reason.contains("127.0.0.1:1"), "{status}");
    let out = run(&dir, &["status"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(3));
    let (stdout, _) = texts(&out);
    assert!(
        stdout.contains("worker:        not running — last start failed at "),
        "{stdout}"
    );
    assert!(stdout.contains(reason), "{stdout}");
    // A bad key is recorded too; a bad flag writes nothing.
    let bad_key = temp_dir("ops-bad-key");
    let mut env = dead_chain(&bad_key);
    env.retain(|(k, _)| k != "MNEMONIC");
    env.push(("MNEMONIC".into(), "not a mnemonic".into()));
    let out = run(&bad_key, &["run"], &env_refs(&env));
    assert_eq!(out.status.code(), Some(2));
    let log = std::fs::read_to_string(bad_key.join("logs/worker.log")).unwrap();
    assert!(log.contains("[ERROR] run: wallet: "), "{log}");
    assert!(bad_key.join("data/status.json").is_file());
    // So is a refused configuration, in the dirs it names.
    let bad_config = temp_dir("ops-bad-config");
    let mut env = dead_chain(&bad_config);
    env.push(("TOPIC_ID".into(), "abc".into()));
    let out = run(&bad_config, &["run"], &env_refs(&env));
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("run: config TOPIC_ID: \"abc\" is not a whole number"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(bad_config.join("logs/worker.log")).unwrap();
    assert!(log.contains("[ERROR] run: config TOPIC_ID"), "{log}");
    let status = std::fs::read_to_string(bad_config.join("data/status.json")).unwrap();
    assert!(status.contains("config TOPIC_ID"), "{status}");
    let flags = temp_dir("ops-bad-flag");
    let out = run(&flags, &["run", "--bogus"], &env_refs(&dead_chain(&flags)));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        std::fs::read_dir(&flags).unwrap().next().is_none(),
        "a usage error wrote a file"
    );
}

#[test]
fn an_unwritable_metrics_file_is_refused_at_start() {
    let dir = temp_dir("ops-metrics");
    let env = dead_chain(&dir);
    let out = run(
        &dir,
        &["run", "--metrics-file", "/proc/allora/metrics.prom"],
        &env_refs(&env),
    );
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("run: --metrics-file /proc/allora/metrics.prom cannot be written: "),
        "{stderr}"
    );
}

#[test]
fn bad_inputs_are_refused_at_start_with_the_exact_message() {
    let dir = temp_dir("ops-refusals");
    let env = dead_chain(&dir);
    let env = env_refs(&env);
    std::fs::write(
        dir.join("bad.csv"),
        "timestamp,open,high,low,close,volume\n2025-01-01T00:00:00Z,1,1,1,1,1\n2025-01-01T01:00:00Z,1,1,x,1,1\n",
    )
    .unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["run", "--csv", "bad.csv"],
            2,
            "run: --csv bad.csv line 3: ",
        ),
        (
            &["once", "--csv", "missing.csv"],
            2,
            "once: --csv missing.csv: read missing.csv: ",
        ),
        (
            &["predict", "--at", "2999-01-01T00:00:00Z"],
            2,
            "--at 2999-01-01T00:00:00Z is in the future; a forecast can only use bars up to now",
        ),
        (&["backtest", "--csv", "bad.csv"], 1, "bad.csv line 3: "),
        (
            &["once", "--start-at", "2027-01-01T00:00:00Z"],
            2,
            "once: --start-at is a flag of run, not of once",
        ),
    ];
    for (args, code, needle) in cases {
        let out = run(&dir, args, &env);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    let (help, _) = texts(&run(&dir, &["once", "--help"], &env));
    assert!(
        help.contains("--csv") && !help.contains("--start-at") && !help.contains("--poll-interval"),
        "{help}"
    );
    // A CSV too short for one backtest point says how many bars it needs.
    let mut short = String::from("timestamp,open,high,low,close,volume\n");
    for h in 0..100 {
        short.push_str(&format!(
            "2025-01-{:02}T{:02}:00:00Z,1,1,1,{},1\n",
            1 + h / 24,
            h % 24,
            100 + h
        ));
    }
    std::fs::write(dir.join("short.csv"), short).unwrap();
    let out = run(&dir, &["backtest", "--csv", "short.csv"], &env);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "short.csv: 100 hourly bars are not enough for a backtest: it needs at least "
        ),
        "{stderr}"
    );
}

#[test]
fn while_the_chain_is_down_at_start_status_metrics_and_heartbeat_still_work() {
    let dir = temp_dir("ops-chain-down");
    let env = dead_chain(&dir);
    let metrics = dir.join("metrics.prom");
    let metrics_arg = metrics.display().to_string();
    let mut child = crate::support::spawn_quiet(
        &bin(),
        &["run", "--heartbeat", "1", "--metrics-file", &metrics_arg],
        &env,
        &dir,
    );
    let status = crate::support::wait_for("status.json saying the chain is down", 30, || {
        let text = std::fs::read_to_string(dir.join("data/status.json")).ok()?;
        text.contains("chain unreachable at start-up")
            .then_some(text)
    });
    crate::support::wait_for("a heartbeat in the metrics", 30, || {
        let prom = std::fs::read_to_string(&metrics).ok()?;
        prom.contains("allora_worker_heartbeat_timestamp_seconds{topic=\"67\"} ")
            .then_some(())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = crate::support::wait_for("exit", 10, || child.try_wait().ok().flatten()).code();
    assert_eq!(code, Some(0), "{status}");
    let log = std::fs::read_to_string(dir.join("logs/worker.log")).unwrap();
    assert!(
        log.contains("HEARTBEAT") && log.contains("SHUTDOWN"),
        "{log}"
    );
}
