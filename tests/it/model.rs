//! The model end to end: byte-identical model files for the same bars and
//! seed, a golden model hash (x86_64 and armv7 alike), the saved model's
//! bit-for-bit check in `predict`, the `--predict-cmd` hook and its failure
//! reasons, and `backtest --json` on a random walk.

use std::path::{Path, PathBuf};

use allora_worker::logic::bars::{self, Series};
use allora_worker::logic::hex;
use allora_worker::logic::model::{self, Params, Spans};
use allora_worker::logic::model_format;
use allora_worker::logic::synthetic::synthetic_bars;
use allora_worker::logic::wallet::sha256;

use crate::support::{run, temp_dir, texts};

const PINNED: &str = "2026-01-01T00:00:00Z";

/// A directory holding `bars.csv` with 1100 synthetic hourly bars.
fn bars_dir(label: &str) -> (PathBuf, String) {
    let dir = temp_dir(label);
    let path = dir.join("bars.csv");
    std::fs::write(&path, bars::to_csv(&synthetic_bars(21, 487_000, 1100))).unwrap();
    (dir, path.to_string_lossy().into_owned())
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args, &[]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{args:?}: {stderr}");
    stdout
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args, &[]);
    let (stdout, stderr) = texts(&out);
    assert!(!out.status.success(), "{args:?} should fail: {stdout}");
    assert!(stdout.is_empty(), "{args:?} printed {stdout}");
    stderr
}

#[test]
fn same_seed_and_bars_give_byte_identical_model_files() {
    let (dir, csv) = bars_dir("model-repro");
    let train = |data: &str, seed: &str| {
        ok(
            &dir,
            &[
                "--data-dir",
                data,
                "train",
                "--csv",
                &csv,
                "--seed",
                seed,
                "--trained-at",
                PINNED,
            ],
        );
        std::fs::read(dir.join(data).join("model.json")).unwrap()
    };
    let a = train("a", "7");
    assert_eq!(a, train("b", "7"));
    assert_ne!(a, train("c", "8"));
    let text = String::from_utf8(a).unwrap();
    assert!(text.contains("\"trained_at\": \"2026-01-01T00:00:00Z\""));
    assert!(text.contains("\"feature_hash\""));
}

#[test]
fn golden_model_hash() {
    // Pinned on x86_64 from our own deterministic output (re-pinned when the
    // 168 h gap before validation and the prior R1 landed); the same bytes
    // must come out on armv7 (cross/).
    let s = Series::from_bars(&synthetic_bars(1, 480_000, 1100));
    let at = s.close.len() - 1;
    let spans = Spans {
        horizon: 168,
        train: 336,
        validation: 168,
    };
    let t = model::train(&s, at, &spans, &Params::DEFAULT, 7).unwrap();
    let m = model_format::describe(&t, &s, at, "btcusd", 1_767_225_600).unwrap();
    let text = model_format::encode(&m);
    assert_eq!(
        format!("{:016x}", m.newest_raw.to_bits()),
        "3f8e88524e773a20"
    );
    assert_eq!(
        hex::encode(&sha256(text.as_bytes())),
        "65e97bd303ee4857ba67d57748e727f548ede100e993333ffc7cff41e29168d6"
    );
}

#[test]
fn predict_checks_the_saved_model_bit_for_bit() {
    let (dir, csv) = bars_dir("model-predict");
    ok(
        &dir,
        &[
            "train",
            "--csv",
            &csv,
            "--seed",
            "3",
            "--trained-at",
            PINNED,
        ],
    );
    let file = std::fs::read_to_string(dir.join("data/model.json")).unwrap();
    let saved = model_format::decode(&file).unwrap();
    let out = ok(&dir, &["predict", "--csv", &csv, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["source"], "model (saved, verified)");
    assert_eq!(
        v["prediction"].as_f64().unwrap().to_bits(),
        saved.newest_prediction.to_bits()
    );
    assert_ne!(saved.newest_prediction, 0.0);
    let tampered = file.replace(
        &format!("\"raw\": \"{}\"", saved.newest_raw),
        "\"raw\": \"0.5\"",
    );
    std::fs::write(dir.join("data/model.json"), tampered).unwrap();
    assert!(fails(&dir, &["predict", "--csv", &csv]).contains("file says"));
    std::fs::write(
        dir.join("data/model.json"),
        file.replace("\"version\": 1", "\"version\": 2"),
    )
    .unwrap();
    assert!(fails(&dir, &["predict", "--csv", &csv]).contains("model file version 2 is not 1"));
}

#[test]
fn predict_cmd_hook_and_its_failures() {
    let (dir, csv) = bars_dir("model-hook");
    let hook = |cmd: &str| -> Vec<String> {
        vec![
            "predict".into(),
            "--csv".into(),
            csv.clone(),
            "--predict-cmd".into(),
            cmd.into(),
            "--nonce".into(),
            "6669595".into(),
            "--timeout".into(),
            "2".into(),
        ]
    };
    let args = |v: &[String]| {
        v.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\u{1}")
    };
    let call = |v: Vec<String>| run(&dir, &args(&v).split('\u{1}').collect::<Vec<_>>(), &[]);
    let out = call(hook("echo \"$1 $2 $3\" > args.txt; echo ' -0.0123 '; true"));
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("prediction -0.0123\nat "), "{stdout}");
    assert!(stdout.contains("source     predict-cmd"), "{stdout}");
    let seen = std::fs::read_to_string(dir.join("args.txt")).unwrap();
    assert!(
        seen.starts_with("6669595 67 ") && seen.trim().ends_with("predict-cmd-bars.csv"),
        "{seen}"
    );
    for (cmd, reason) in [
        ("echo hello", "printed \"hello 6669595 67 "),
        ("echo 1 2", "not one decimal number"),
        ("echo inf; true", "non-finite"),
        ("echo NaN; true", "non-finite"),
        ("exec sleep 30 #", "timed out after 2 s"),
        ("exit 3", "exited with"),
    ] {
        let out = call(hook(cmd));
        let (stdout, stderr) = texts(&out);
        assert!(
            !out.status.success() && stdout.is_empty(),
            "{cmd}: {stdout}"
        );
        assert!(stderr.contains(reason), "{cmd}: {stderr}");
    }
    let mut with_fallback = hook("echo nope");
    with_fallback.extend(["--fallback-value".to_string(), "0.0".to_string()]);
    let out = call(with_fallback);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("prediction 0\n") && stdout.contains("fallback"),
        "{stdout}"
    );
    assert!(stderr.contains("printing --fallback-value 0"), "{stderr}");
}

#[test]
fn backtest_json_on_a_random_walk() {
    let dir = temp_dir("model-backtest");
    let path = dir.join("walk.csv");
    std::fs::write(&path, bars::to_csv(&synthetic_bars(4, 487_000, 1400))).unwrap();
    let out = ok(
        &dir,
        &[
            "backtest",
            "--csv",
            path.to_str().unwrap(),
            "--step",
            "24h",
            "--json",
            "--svg",
            "walk.svg",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["points"], 15); // (1400 - 169 - 887) / 24 + 1
    let svg = std::fs::read_to_string(dir.join("walk.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.matches("<polyline").count() == 5,
        "{svg}"
    );
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 15);
    for key in ["time", "model", "prior", "truth", "std"] {
        assert!(!rows[0][key].is_null(), "rows[0].{key}");
    }
    for who in ["model", "zero", "prior", "trailing_mean"] {
        assert!(
            v[who]["czar_approx"].is_null(),
            "{who}: the approximate CZAR is gone"
        );
        assert_eq!(v[who]["gates"]["passed"].as_array().unwrap().len(), 7);
        assert!(v[who]["gates"]["n_eff"].is_number(), "{who} gates");
        for key in ["rmse", "mae", "da", "zptae", "mean_czar", "mean_log10_czar"] {
            assert!(
                v[who][key].as_f64().is_some_and(f64::is_finite),
                "{who}.{key}"
            );
        }
    }
    assert!(v["model"]["corr"].is_number() && v["zero"]["corr"].is_null());
    assert!(v["dm_vs_zero"]["stat"].is_number() && v["dm_vs_zero"]["p"].is_number());
    let (m, z) = (
        v["model"]["rmse"].as_f64().unwrap(),
        v["zero"]["rmse"].as_f64().unwrap(),
    );
    assert!(
        m <= 1.01 * z,
        "no signal in a random walk: model {m} vs zero {z}"
    );
    let e = fails(
        &dir,
        &[
            "backtest",
            "--csv",
            path.to_str().unwrap(),
            "--from",
            "2000-01-01T00:00:00Z",
        ],
    );
    assert!(e.contains("--from 2000-01-01T00:00:00Z is outside"), "{e}");
}

#[test]
fn bench_model_times_a_672_row_training() {
    let (train_ms, predict_us) =
        allora_worker::cmd::train::bench_model(&synthetic_bars(5, 487_000, 1100)).unwrap();
    assert!(train_ms > 0.0 && train_ms.is_finite());
    assert!(predict_us > 0.0 && predict_us.is_finite());
    let short = allora_worker::cmd::train::bench_model(&synthetic_bars(5, 487_000, 500));
    assert!(short.unwrap_err().to_string().contains("need"));
}
