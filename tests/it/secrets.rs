//! Secret hygiene: the mnemonic and the private key never appear in stdout,
//! stderr or any file the worker writes, at debug level, whether the mnemonic
//! comes from the environment, an env file or a key file, and whether the
//! command succeeds, prints help or fails.

use std::path::Path;

use crate::support::{run, temp_dir, texts, vectors};

/// Every pair of consecutive mnemonic words, plus the private key as hex
/// (both cases) and the BIP-39 seed as hex.
pub fn needles(wallet: &serde_json::Value) -> Vec<String> {
    let words: Vec<&str> = wallet["mnemonic"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect();
    let mut out: Vec<String> = words
        .windows(2)
        .map(|p| format!("{} {}", p[0], p[1]))
        .collect();
    let key = wallet["private_key_hex"].as_str().unwrap();
    out.push(key.to_string());
    out.push(key.to_uppercase());
    out.push(wallet["bip39_seed_hex"].as_str().unwrap().to_string());
    out
}

/// Panics if any needle occurs in `text`; `what` names where it was found.
pub fn assert_clean(text: &str, needles: &[String], what: &str) {
    for n in needles {
        assert!(
            !text.contains(n.as_str()),
            "secret material {:?}… found in {what}",
            &n[..6.min(n.len())]
        );
    }
}

/// Scans every file below `dir` except those in `skip`.
pub fn assert_dir_clean(dir: &Path, needles: &[String], skip: &[&Path]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if skip.contains(&path.as_path()) {
            continue;
        }
        if path.is_dir() {
            assert_dir_clean(&path, needles, skip);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert_clean(
                &String::from_utf8_lossy(&bytes),
                needles,
                &path.display().to_string(),
            );
        }
    }
}

/// Arguments and extra environment of one run.
type Run<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)]);

#[test]
fn no_output_or_file_contains_the_mnemonic_or_key() {
    let file = vectors("wallet.json");
    let wallet = &file["wallets"][2];
    let mnemonic = wallet["mnemonic"].as_str().unwrap();
    let needles = needles(wallet);
    let dir = temp_dir("secrets");
    let env_file = dir.join("secret.env");
    std::fs::write(&env_file, format!("MNEMONIC=\"{mnemonic}\"\n")).unwrap();
    let env_arg = env_file.to_str().unwrap().to_string();
    let from_env = [("MNEMONIC", mnemonic)];
    // `once` writes the log files; a chain on port 1 refuses at once.
    let dead_chain = [
        ("MNEMONIC", mnemonic),
        ("ALLORA_CHAIN_ID", "devnet-1"),
        ("ALLORA_LCD_URLS", "http://127.0.0.1:1"),
        ("ALLORA_RPC_URLS", "http://127.0.0.1:1"),
        ("ALLORA_WS_URL", "ws://127.0.0.1:1/websocket"),
        ("TIINGO_URL", "http://127.0.0.1:1"),
    ];
    let runs: Vec<Run> = vec![
        (vec!["--debug", "once"], &dead_chain),
        (vec!["--debug", "wallet"], &from_env),
        (
            vec!["--debug", "wallet", "--json", "--env-file", &env_arg],
            &[],
        ),
        (vec!["--debug", "--help"], &from_env),
        (vec!["--debug", "wallet", "--help"], &from_env),
        (vec!["--debug", "wallet", "--bogus"], &from_env),
        (
            vec!["--debug", "wallet"],
            &[("MNEMONIC", "loyal owner dish unfair used now ladder refuse")],
        ),
        (
            vec!["--debug", "wallet", "--env-file", &env_arg],
            &[("TOPIC_ID", "abc")],
        ),
    ];
    for (args, env) in runs {
        let out = run(&dir, &args, env);
        let (stdout, stderr) = texts(&out);
        assert_clean(&stdout, &needles, &format!("stdout of {args:?}"));
        assert_clean(&stderr, &needles, &format!("stderr of {args:?}"));
    }
    assert!(
        dir.join("logs/worker.log").is_file(),
        "the runs wrote a log file to scan"
    );
    assert_dir_clean(&dir, &needles, &[env_file.as_path()]);
}

/// Every subcommand at `--debug` against a devnet with faults on: no output
/// and no file (logs, events, status.json, metrics, ledger, model, caches)
/// holds the mnemonic, the key (hex or base64) or the seed.
#[test]
fn every_subcommand_against_a_faulty_devnet_keeps_secrets() {
    use allora_worker::devnet::{Devnet, DevnetConfig, Fault};
    use base64::Engine;
    let file = vectors("wallet.json");
    let wallet = &file["wallets"][3];
    let mnemonic = wallet["mnemonic"].as_str().unwrap().to_string();
    let mut needles = needles(wallet);
    let key =
        allora_worker::logic::hex::decode(wallet["private_key_hex"].as_str().unwrap()).unwrap();
    needles.push(base64::engine::general_purpose::STANDARD.encode(&key));
    let addr = wallet["address"].as_str().unwrap().to_string();
    let net = Devnet::start(DevnetConfig {
        block_ms: 100,
        epoch_blocks: 10,
        window_blocks: 8,
        genesis: vec![(addr, 1_000_000_000_000_000_000)],
        ..DevnetConfig::default()
    })
    .unwrap();
    let dir = temp_dir("secrets-all");
    let bars = allora_worker::logic::synthetic::synthetic_bars(3, 490_000, 1_200);
    let csv = dir.join("bars.csv");
    std::fs::write(&csv, allora_worker::logic::bars::to_csv(&bars)).unwrap();
    let csv_arg = csv.display().to_string();
    let env: Vec<(&str, String)> = vec![
        ("MNEMONIC", mnemonic.clone()),
        ("ALLORA_CHAIN_ID", "devnet-1".into()),
        ("ALLORA_LCD_URLS", net.base_url()),
        ("ALLORA_RPC_URLS", net.base_url()),
        ("ALLORA_WS_URL", net.ws_url()),
        ("TIINGO_URL", net.market_url()),
        ("TIINGO_API_KEY", "devnet".into()),
        ("ALLORA_TX_TIMEOUT", "3s".into()),
        ("ALLORA_READ_TIMEOUT", "2s".into()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let stop_at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(4))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let metrics = dir.join("metrics.prom").display().to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["wallet"],
        vec!["check"],
        vec!["register"],
        vec!["register", "--yes"],
        vec!["once"],
        vec![
            "run",
            "--stop-at",
            &stop_at,
            "--metrics-file",
            &metrics,
            "--heartbeat",
            "1",
        ],
        vec!["status"],
        vec!["status", "--json"],
        vec!["stop"],
        vec![
            "sign",
            "--topic",
            "67",
            "--nonce",
            "5",
            "--value",
            "0.01",
            "--account-number",
            "1",
            "--sequence",
            "0",
            "--gas",
            "300000",
            "--fee",
            "3000000",
        ],
        vec![
            "sign",
            "--register",
            "--topic",
            "67",
            "--account-number",
            "1",
            "--sequence",
            "0",
            "--gas",
            "300000",
            "--fee",
            "3000000",
        ],
        vec!["train", "--csv", &csv_arg],
        vec!["predict", "--csv", &csv_arg],
        vec!["systemd-unit"],
        vec!["systemd-unit", "--supervisord"],
        vec!["bench", "--runs", "3"],
        vec!["sign", "--topic", "0"],
    ];
    for args in &runs {
        for fault in [
            Fault::HtmlPage(1),
            Fault::Http500(1),
            Fault::SequenceMismatchOnce,
            Fault::DropWebsocket,
        ] {
            // One-shot commands report an endpoint error and exit; the daemon
            // retries. Faults go where they are survivable.
            if matches!(args[0], "check" | "once" | "run") {
                net.inject(fault);
            }
        }
        let mut full = vec!["--debug"];
        full.extend(args.iter().copied());
        let out = run(&dir, &full, &env);
        let (stdout, stderr) = texts(&out);
        let expected = match args[0] {
            "once" | "check" => vec![0, 1],
            // LSB: 3 when no worker runs.
            "status" => vec![0, 3],
            "sign" if args[2] == "0" => vec![2],
            _ => vec![0],
        };
        assert!(
            out.status.code().is_some_and(|c| expected.contains(&c)),
            "{args:?} exited {:?}: {}",
            out.status.code(),
            stderr.lines().last().unwrap_or_default()
        );
        assert_clean(&stdout, &needles, &format!("stdout of {args:?}"));
        assert_clean(&stderr, &needles, &format!("stderr of {args:?}"));
    }
    for expected in [
        "logs/worker.log",
        "logs/events.jsonl",
        "data/status.json",
        "metrics.prom",
    ] {
        assert!(dir.join(expected).is_file(), "the runs wrote {expected}");
    }
    let ledger = std::fs::read_dir(dir.join("data")).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("ledger-")
    });
    assert!(ledger, "the runs wrote a ledger");
    assert_dir_clean(&dir, &needles, &[]);
}
