//! The command line as a user meets it: exit codes, one-line errors that name
//! the key or position, `--help`/`--version`, and stdout carrying only a
//! command's own output while logs go to stderr and the log file.

use std::os::unix::fs::PermissionsExt;

use crate::support::{run, temp_dir, texts};

const ABOUT: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// Runs and expects exit 2 with exactly one stderr line containing `needle`.
fn fails_with(env: &[(&str, &str)], args: &[&str], needle: &str) {
    let dir = temp_dir("cli-bad");
    let out = run(&dir, args, env);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
    assert!(stdout.is_empty(), "stdout must stay empty: {stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(
        lines[0].contains(needle),
        "{:?} should name {needle}",
        lines[0]
    );
}

#[test]
fn bad_inputs_exit_2_naming_the_problem() {
    let m = [("MNEMONIC", ABOUT)];
    fails_with(&[("TOPIC_ID", "abc"), m[0]], &["wallet"], "TOPIC_ID");
    fails_with(
        &[("ALLORA_LCD_URLS", "allora-api.example.com"), m[0]],
        &["wallet"],
        "ALLORA_LCD_URLS",
    );
    fails_with(&[], &["wallet"], "no mnemonic configured");
    let bad_checksum = "abandon ".repeat(12);
    fails_with(
        &[("MNEMONIC", bad_checksum.trim())],
        &["wallet"],
        "checksum",
    );
    let unknown_word = ABOUT.replacen("about", "aboutt", 1);
    fails_with(&[("MNEMONIC", &unknown_word)], &["wallet"], "word 12");
    fails_with(&[], &["nosuchcommand"], "nosuchcommand");
    fails_with(&m, &["wallet", "--nosuchflag"], "--nosuchflag");
    fails_with(&[], &["--nosuchflag", "wallet"], "--nosuchflag");
}

#[test]
fn unknown_allora_key_in_env_file_is_named() {
    let dir = temp_dir("cli-envfile");
    std::fs::write(
        dir.join("w.env"),
        format!("MNEMONIC=\"{ABOUT}\"\nALLORA_LOG_DRI=/tmp\n"),
    )
    .unwrap();
    let env_file = dir.join("w.env");
    fails_with(
        &[],
        &["wallet", "--env-file", env_file.to_str().unwrap()],
        "ALLORA_LOG_DRI",
    );
}

#[test]
fn world_readable_key_file_is_refused_with_the_fix() {
    let dir = temp_dir("cli-keyfile");
    let key = dir.join("mnemonic.txt");
    std::fs::write(&key, ABOUT).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = key.to_str().unwrap();
    fails_with(
        &[("MNEMONIC_FILE", path)],
        &["wallet"],
        &format!("chmod 600 {path}"),
    );
    let out = run(
        &dir,
        &["wallet", "--insecure-key-file"],
        &[("MNEMONIC_FILE", path)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&dir, &["wallet"], &[("MNEMONIC_FILE", path)]);
    assert_eq!(out.status.code(), Some(0), "{}", texts(&out).1);
    assert!(texts(&out)
        .0
        .contains("allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"));
}

#[test]
fn wallet_address_mismatch_names_both() {
    let env = [
        ("MNEMONIC", ABOUT),
        (
            "ALLORA_WALLET_ADDR",
            "allo1nn2d58enawvcgelgu92emsuqu30x2y3euhwu2z",
        ),
    ];
    let dir = temp_dir("cli-addr");
    let out = run(&dir, &["wallet"], &env);
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("allo1nn2d58enawvcgelgu92emsuqu30x2y3euhwu2z"),
        "{stderr}"
    );
    assert!(
        stderr.contains("allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv"),
        "{stderr}"
    );
}

#[test]
fn help_and_version() {
    let dir = temp_dir("cli-help");
    let out = run(&dir, &["--help"], &[]);
    let (stdout, _) = texts(&out);
    assert_eq!(out.status.code(), Some(0));
    for needle in [
        "wallet",
        "--env-file",
        "--log-dir",
        "--data-dir",
        "--debug",
        "MNEMONIC_FILE",
        "TOPIC_ID",
        "ALLORA_LOG_BACKUPS",
    ] {
        assert!(stdout.contains(needle), "program help lacks {needle}");
    }
    for cmd in allora_worker::cmd::COMMANDS {
        let out = run(&dir, &[cmd.name, "--help"], &[]);
        let (stdout, _) = texts(&out);
        assert_eq!(out.status.code(), Some(0), "{} --help", cmd.name);
        assert!(
            stdout.contains(cmd.name) && stdout.contains("[default:"),
            "{} help: {stdout}",
            cmd.name
        );
    }
    let out = run(&dir, &["--version"], &[]);
    assert_eq!(
        texts(&out).0.trim(),
        format!("allora-worker {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&dir, &[], &[]);
    assert_eq!(out.status.code(), Some(2), "no subcommand is a usage error");
}

#[test]
fn stdout_is_only_output_logs_go_to_stderr_only_outside_run() {
    let dir = temp_dir("cli-stdout");
    let out = run(
        &dir,
        &["--debug", "wallet", "--log-dir", "lg"],
        &[("MNEMONIC", ABOUT)],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.starts_with("address: allo1"), "{stdout}");
    assert!(!stdout.contains("DEBUG"), "{stdout}");
    assert!(
        stderr.contains("[DEBUG]"),
        "debug logs go to stderr: {stderr}"
    );
    assert!(stderr.contains("derived wallet"), "{stderr}");
    assert!(
        !dir.join("lg").exists(),
        "only run and once write worker.log"
    );
}
