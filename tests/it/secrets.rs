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
    let runs: Vec<Run> = vec![
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
