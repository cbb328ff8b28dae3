//! Deployment files: `systemd-unit` (and `--supervisord`) print what the
//! issue asks for, for the real binary path and configuration; the unit
//! passes `systemd-analyze verify` when that tool is installed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{bin, run, temp_dir, texts};

/// Section name → list of (key, value), in file order.
type Ini = BTreeMap<String, Vec<(String, String)>>;

/// Parses a unit or supervisord file: `[section]` headers, `key=value`
/// lines, `#` / `;` comments. Any other line fails the test.
fn parse_ini(text: &str) -> Ini {
    let mut out = Ini::new();
    let mut section = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            out.entry(name.to_string()).or_default();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line:?}"));
        let section = section.clone().expect("key before any section");
        out.get_mut(&section)
            .expect("section exists")
            .push((key.to_string(), value.to_string()));
    }
    out
}

/// The one value of `key` in `section`; fails when it is absent or repeated.
fn one<'a>(ini: &'a Ini, section: &str, key: &str) -> &'a str {
    let values: Vec<&str> = ini
        .get(section)
        .unwrap_or_else(|| panic!("no [{section}] in {ini:?}"))
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values.len(), 1, "[{section}] {key}: {values:?}");
    values[0]
}

fn has(ini: &Ini, section: &str, key: &str) -> bool {
    ini[section].iter().any(|(k, _)| k == key)
}

fn unit_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, Ini) {
    let out = run(dir, args, env);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    let ini = parse_ini(&stdout);
    (stdout, ini)
}

#[test]
fn default_unit_has_every_key_the_issue_asks_for() {
    let dir = temp_dir("unit-default");
    let (text, ini) = unit_in(&dir, &["systemd-unit"], &[]);
    assert_eq!(
        ini.keys().collect::<Vec<_>>(),
        ["Install", "Service", "Unit"]
    );
    let expected = [
        ("Unit", "StartLimitIntervalSec", "300"),
        ("Unit", "StartLimitBurst", "5"),
        ("Unit", "After", "network-online.target time-sync.target"),
        ("Unit", "Wants", "network-online.target"),
        ("Service", "RestartPreventExitStatus", "2"),
        ("Service", "ProtectHome", "yes"),
        ("Service", "UMask", "0077"),
        ("Service", "Type", "notify"),
        ("Service", "WatchdogSec", "300"),
        ("Service", "Restart", "on-failure"),
        ("Service", "RestartSec", "30"),
        ("Service", "TimeoutStopSec", "30"),
        ("Service", "DynamicUser", "yes"),
        ("Service", "StateDirectory", "allora-worker"),
        ("Service", "LogsDirectory", "allora-worker"),
        ("Service", "NoNewPrivileges", "yes"),
        ("Service", "ProtectSystem", "strict"),
        (
            "Service",
            "ReadWritePaths",
            "-/var/lib/allora-worker -/var/log/allora-worker",
        ),
        ("Service", "PrivateTmp", "yes"),
        ("Service", "MemoryMax", "256M"),
        ("Service", "CPUQuota", "50%"),
        ("Service", "EnvironmentFile", "-/etc/allora-worker/env"),
        (
            "Service",
            "LoadCredential",
            "mnemonic:/etc/allora-worker/mnemonic",
        ),
        ("Install", "WantedBy", "multi-user.target"),
    ];
    for (section, key, value) in expected {
        assert_eq!(one(&ini, section, key), value, "[{section}] {key}");
    }
    let exec = one(&ini, "Service", "ExecStart");
    assert_eq!(
        exec,
        format!(
            "{} --data-dir /var/lib/allora-worker --log-dir /var/log/allora-worker run",
            bin().display()
        )
    );
    assert!(!has(&ini, "Service", "User"));
    verify_with_systemd_analyze(&dir, &text);
}

#[test]
fn user_unit_uses_the_configured_absolute_paths() {
    let dir = temp_dir("unit-user");
    std::fs::write(dir.join("worker.env"), "ALLORA_LOG_DIR=var/logs\n").unwrap();
    let (text, ini) = unit_in(
        &dir,
        &[
            "--env-file",
            "worker.env",
            "--data-dir",
            "state",
            "systemd-unit",
            "--user",
            "pi",
            "--watchdog-sec",
            "120",
            "--start-at",
            "2027-01-01T00:00:00Z",
            "--stop-at",
            "2027-02-01T12:00:00+01:00",
            "--metrics-file",
            "prom/aw.prom",
        ],
        &[("MNEMONIC_FILE", "keys/mnemonic")],
    );
    let d = dir.display();
    assert_eq!(one(&ini, "Service", "User"), "pi");
    assert!(!has(&ini, "Service", "DynamicUser"));
    assert!(!has(&ini, "Service", "StateDirectory"));
    assert_eq!(one(&ini, "Service", "WatchdogSec"), "120");
    assert_eq!(
        one(&ini, "Service", "EnvironmentFile"),
        format!("{d}/worker.env")
    );
    assert_eq!(
        one(&ini, "Service", "LoadCredential"),
        format!("mnemonic:{d}/keys/mnemonic")
    );
    assert_eq!(
        one(&ini, "Service", "ReadWritePaths"),
        format!("-{d}/state -{d}/var/logs -{d}/prom")
    );
    assert!(
        one(&ini, "Service", "ExecStart").ends_with(&format!(
            "--data-dir {d}/state --log-dir {d}/var/logs run --start-at 2027-01-01T00:00:00Z \
             --stop-at 2027-02-01T11:00:00Z --metrics-file {d}/prom/aw.prom"
        )),
        "{text}"
    );
    verify_with_systemd_analyze(&dir, &text);
}

#[test]
fn supervisord_section_restarts_only_on_failure_and_keeps_no_second_log() {
    let dir = temp_dir("unit-supervisord");
    let (_, ini) = unit_in(
        &dir,
        &["systemd-unit", "--supervisord", "--user", "pi"],
        &[("ALLORA_LOG_DIR", "/srv/w/logs")],
    );
    let p = "program:allora-worker";
    assert_eq!(ini.keys().collect::<Vec<_>>(), [p]);
    let expected = [
        ("user", "pi"),
        ("autostart", "true"),
        ("autorestart", "unexpected"),
        ("exitcodes", "0"),
        ("startretries", "5"),
        ("stopsignal", "TERM"),
        ("stopwaitsecs", "30"),
        // worker.log is the log: no second full copy of it.
        ("stdout_logfile", "NONE"),
        ("stderr_logfile", "/srv/w/logs/supervisord-stderr.log"),
        ("stderr_logfile_maxbytes", "1MB"),
        ("stderr_logfile_backups", "0"),
        ("stopasgroup", "true"),
        (
            "environment",
            "MNEMONIC_FILE=\"/etc/allora-worker/mnemonic\"",
        ),
    ];
    for (key, value) in expected {
        assert_eq!(one(&ini, p, key), value, "{key}");
    }
    assert_eq!(
        one(&ini, p, "command"),
        format!(
            "{} --data-dir {}/data --log-dir /srv/w/logs run",
            bin().display(),
            dir.display()
        )
    );
}

#[test]
fn an_inline_mnemonic_never_reaches_the_unit() {
    let words = "abandon abandon abandon abandon abandon abandon abandon abandon \
                 abandon abandon abandon about";
    let dir = temp_dir("unit-inline");
    let out = run(&dir, &["systemd-unit"], &[("MNEMONIC", words)]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains("abandon") && !stderr.contains("abandon"));
    assert!(stdout.contains("LoadCredential=mnemonic:/etc/allora-worker/mnemonic"));
    assert!(stderr.contains("MNEMONIC is set inline"), "{stderr}");
}

#[test]
fn bad_flags_are_one_line_usage_errors() {
    let dir = temp_dir("unit-bad");
    for (args, needle) in [
        (&["systemd-unit", "--user", "bad user"][..], "--user"),
        (
            &["systemd-unit", "--watchdog-sec", "soon"][..],
            "--watchdog-sec",
        ),
        (
            &["systemd-unit", "--watchdog-sec", "0"][..],
            "--watchdog-sec",
        ),
        (&["systemd-unit", "--nope"][..], "--nope"),
        (
            &["systemd-unit", "--watchdog-sec", "39"][..],
            "--watchdog-sec 39 is shorter than 40 s, twice ALLORA_CONNECT_TIMEOUT + ALLORA_READ_TIMEOUT",
        ),
        (
            &["systemd-unit", "--start-at", "tomorrow"][..],
            "--start-at \"tomorrow\" is not an RFC 3339 time",
        ),
    ] {
        let out = run(&dir, args, &[]);
        let (stdout, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?} printed {stdout}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// Runs `systemd-analyze verify` on `unit` when the tool exists. Without it,
/// says so on stderr (the key checks above still ran).
fn verify_with_systemd_analyze(dir: &Path, unit: &str) {
    let tool = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(tool) = tool else {
        eprintln!("note: systemd-analyze not installed; skipped verifying the generated unit");
        return;
    };
    let warnings = |text: &str| -> Vec<String> {
        let path = dir.join("allora-worker.service");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(tool)
            .arg("verify")
            .arg(&path)
            .env("SYSTEMD_LOG_COLOR", "0")
            .output()
            .expect("run systemd-analyze");
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "systemd-analyze verify failed:\n{stdout}{stderr}\n--- unit ---\n{text}"
        );
        // verify exits 0 on bad keys and values; they show up as "FILE:LINE: ..." lines.
        stderr
            .lines()
            .filter(|l| l.contains("allora-worker.service"))
            .map(str::to_string)
            .collect()
    };
    let broken = unit.replace("Type=notify", "Type=notifyy");
    assert!(
        !warnings(&broken).is_empty(),
        "the check must catch a bad value"
    );
    let found = warnings(unit);
    assert!(found.is_empty(), "systemd-analyze warns: {found:?}\n{unit}");
    // `--threshold` counts tenths: 20 is an overall exposure of 2.0 ("OK").
    let path = dir.join("allora-worker.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(tool)
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze security");
    let (stdout, stderr) = texts(&out);
    assert!(
        out.status.success(),
        "exposure above 2.0:\n{stdout}{stderr}\n--- unit ---\n{unit}"
    );
    assert!(stdout.contains("Overall exposure level"), "{stdout}");
}
