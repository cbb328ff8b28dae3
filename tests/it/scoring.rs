//! The network's losses and the Forge gates against every vector of
//! `tests/data/scoring.json` (official Python code and Allora's own
//! evaluator goldens), to 1e-9 relative.

use allora_worker::logic::gates::{self, Gates, Input};
use allora_worker::logic::scoring::{zptae, Czar};
use serde_json::Value;

use crate::support::vectors;

/// `got` equals the vector value to 1e-9 relative (plus 1e-15 absolute, for
/// values that are rounding noise around 0, such as the aspect-ratio
/// interval of a perfect forecast); null stands for NaN.
fn close(got: f64, want: &Value, what: &str) {
    match want.as_f64() {
        None => assert!(got.is_nan(), "{what}: {got} vs null"),
        Some(w) => assert!(
            (got - w).abs() <= 1e-9 * w.abs() + 1e-15,
            "{what}: {got} vs {w}"
        ),
    }
}

fn close_pair(got: (f64, f64), want: &Value, what: &str) {
    close(got.0, &want[0], &format!("{what}[0]"));
    close(got.1, &want[1], &format!("{what}[1]"));
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().expect("a decimal string"),
        Value::Number(n) => n.as_f64().expect("a number"),
        _ => f64::NAN,
    }
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(num).collect()
}

#[test]
fn every_czar_loss_case() {
    let file = vectors("scoring.json");
    let cases = file["czar_loss_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 14);
    for c in cases {
        let label = c["label"].as_str().unwrap();
        let (y, p, sd) = (num(&c["y_true"]), num(&c["y_pred"]), num(&c["std"]));
        close(Czar::TRAINING.loss(y, p, sd), &c["L_alpha1"], label);
        close(Czar::REPUTER.loss(y, p, sd), &c["L_alpha001"], label);
        close(
            Czar::REPUTER.log10_loss(y, p, sd),
            &c["log10_L_alpha001"],
            label,
        );
        close(Czar::GATE.loss(y, p, sd), &c["L_gate_alpha0_tau01"], label);
    }
}

#[test]
fn every_zptae_case() {
    let file = vectors("scoring.json");
    let cases = file["zptae_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let got = zptae(num(&c["y_true"]), num(&c["y_pred"]), num(&c["std"]));
        close(got, &c["zptae"], &c.to_string());
    }
}

fn check_metrics(g: &Gates, want: &[Value], what: &str) {
    let scalars = [
        (0, g.n_eff, "n_eff"),
        (1, g.neff_scale, "neff_scale"),
        (2, g.nvalid as f64, "nvalid"),
        (3, g.dir_acc, "dir_acc"),
        (4, g.dir_acc_pval, "dir_acc_pval"),
        (6, g.pearson_r, "pearson_r"),
        (7, g.pearson_pval, "pearson_pval"),
        (9, g.wrmse_imp, "wrmse_imp"),
        (11, g.wczar_imp, "wczar_imp"),
        (13, g.log_aspect_ratio, "log_aspect_ratio"),
        (15, g.participation, "participation"),
    ];
    for (i, got, name) in scalars {
        close(got, &want[i], &format!("{what} {name}"));
    }
    close_pair(g.dir_acc_ci, &want[5], &format!("{what} dir_acc_ci"));
    close_pair(g.pearson_ci, &want[8], &format!("{what} pearson_ci"));
    close_pair(g.wrmse_ci, &want[10], &format!("{what} wrmse_ci"));
    close_pair(g.wczar_ci, &want[12], &format!("{what} wczar_ci"));
    close_pair(
        g.log_aspect_ratio_ci,
        &want[14],
        &format!("{what} log_aspect_ratio_ci"),
    );
}

#[test]
fn every_official_gate_golden() {
    let file = vectors("scoring.json");
    let order: Vec<&str> = file["metric_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(order[0], "n_eff");
    assert_eq!(order[15], "participation");
    let cases = file["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for c in cases {
        let kind = c["kind"].as_str().unwrap();
        let inp = &file["inputs"][kind];
        let (y, p) = (nums(&inp["y_true"]), nums(&inp["y_pred"]));
        let lags: Vec<u64> = nums(&inp["lags"]).iter().map(|l| *l as u64).collect();
        let what = format!("{kind} h={}", c["horizon_minutes"]);
        let g = gates::evaluate(&Input {
            y: &y,
            p: &p,
            lags: Some(&lags),
            gt_ratio: c["gt_ratio"].as_u64().unwrap(),
            horizon_minutes: num(&c["horizon_minutes"]),
            participation: (num(&c["n_submitted"]), num(&c["n_expected_epochs"])),
        });
        check_metrics(&g, c["expected"].as_array().unwrap(), &what);
        for (i, want) in c["criterion_values"].as_array().unwrap().iter().enumerate() {
            close(g.criteria[i], want, &format!("{what} criterion {i}"));
        }
        let passed: Vec<bool> = c["passed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        assert_eq!(g.passed.to_vec(), passed, "{what} passed");
    }
}

/// The small series' results carry the gate values and `criteria` objects.
pub fn check_small_result(g: &serde_json::Value, want: &Value, what: &str) {
    for key in [
        "n_eff",
        "neff_scale",
        "nvalid",
        "dir_acc",
        "dir_acc_pval",
        "pearson_r",
        "wrmse_imp",
        "wczar_imp",
        "log_aspect_ratio",
        "participation",
    ] {
        close(
            g[key].as_f64().unwrap_or(f64::NAN),
            &want[key],
            &format!("{what} {key}"),
        );
    }
    for key in ["dir_acc_ci", "pearson_ci", "log_aspect_ratio_ci"] {
        for i in 0..2 {
            close(
                g[key][i].as_f64().unwrap_or(f64::NAN),
                &want[key][i],
                &format!("{what} {key}[{i}]"),
            );
        }
    }
    let criteria = want["criteria"].as_array().unwrap();
    assert_eq!(criteria.len(), 7);
    for (i, c) in criteria.iter().enumerate() {
        assert_eq!(c["key"].as_str(), Some(gates::NAMES[i]), "{what} gate {i}");
        close(
            g["criteria"][i].as_f64().unwrap_or(f64::NAN),
            &c["value"],
            &format!("{what} {}", gates::NAMES[i]),
        );
        assert_eq!(
            g["passed"][i],
            c["passed"],
            "{what} {} passed",
            gates::NAMES[i]
        );
    }
}

#[test]
fn the_n40_series_at_60_minutes_and_7_days() {
    let file = vectors("scoring.json");
    let small = &file["small_gate_cases"];
    let y = nums(&small["y_true"]);
    assert_eq!(y.len(), 40);
    let results = small["results"].as_object().unwrap();
    assert_eq!(results.len(), 14);
    for (name, want) in results {
        let (setting, series) = name.split_once("::").unwrap();
        let horizon = if setting.starts_with("h=60min") {
            60.0
        } else {
            assert!(setting.starts_with("h=10080min"), "{setting}");
            10080.0
        };
        let p = nums(&small["preds"][series]);
        let g = gates::evaluate(&Input {
            y: &y,
            p: &p,
            lags: None,
            gt_ratio: 1,
            horizon_minutes: horizon,
            participation: (40.0, 40.0),
        });
        check_small_result(&gates::to_json(&g), want, name);
    }
}

fn evaluate_json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let out = crate::support::run(dir, args, &[]);
    let (stdout, stderr) = crate::support::texts(&out);
    assert!(out.status.success(), "{args:?}: {stderr}");
    serde_json::from_str(&stdout).expect("evaluate --json prints JSON")
}

#[test]
fn evaluate_on_the_n40_series_reproduces_the_official_values() {
    let dir = crate::support::temp_dir("evaluate-n40");
    let file = vectors("scoring.json");
    let small = &file["small_gate_cases"];
    let y = nums(&small["y_true"]);
    let results = small["results"].as_object().unwrap();
    let mut checked = 0;
    for (name, series) in small["preds"].as_object().unwrap() {
        let mut csv = String::from("timestamp,prediction,truth\n");
        for (i, (p, t)) in nums(series).iter().zip(&y).enumerate() {
            csv.push_str(&format!("{},{p},{t}\n", 1_735_689_600 + i as i64 * 3600));
        }
        let path = dir.join("preds.csv");
        std::fs::write(&path, csv).unwrap();
        let path = path.to_string_lossy().into_owned();
        for (minutes, setting) in [("60", "h=60min"), ("10080", "h=10080min (7d)")] {
            let args = [
                "evaluate",
                &path,
                "--horizon-minutes",
                minutes,
                "--gt-ratio",
                "1",
            ];
            let got = evaluate_json(&dir, &[&args[..], &["--json", "--against-zero"]].concat());
            let key = format!("{setting}, gt_ratio=1, no lags::{name}");
            check_small_result(&got, &results[&key], &key);
            assert_eq!(got["rows"], 40);
            assert!(got["mean_czar"].is_null(), "no std column and no bars");
            let zero = &results[&format!("{setting}, gt_ratio=1, no lags::G2 zero forecast")];
            check_small_result(&got["zero"], zero, &format!("{key} zero"));
            checked += 1;
        }
    }
    assert_eq!(checked, 14);
}

#[test]
fn evaluate_fills_truths_and_stds_from_bars_and_names_bad_lines() {
    use allora_worker::logic::bars::{self, Series};
    use allora_worker::logic::scoring::reputer_std;
    use allora_worker::logic::synthetic::synthetic_bars;
    let dir = crate::support::temp_dir("evaluate-bars");
    let raw = synthetic_bars(7, 480_000, 1200);
    let bars_path = dir.join("bars.csv");
    std::fs::write(&bars_path, bars::to_csv(&raw)).unwrap();
    let s = Series::from_bars(&raw);
    let mut csv = String::from("timestamp,prediction\n");
    let mut want_czar = 0.0;
    let at: Vec<usize> = (700..1000).step_by(24).collect();
    for i in &at {
        let p = 0.001 * (*i as f64).sin();
        csv.push_str(&format!("{},{p}\n", bars::format_time(s.time(*i))));
        let truth = (s.close[i + 168] / s.close[*i]).ln();
        let sd = reputer_std(&s, i + 168, 168).unwrap();
        want_czar += Czar::REPUTER.loss(truth, p, sd) / at.len() as f64;
    }
    let preds = dir.join("preds.csv");
    std::fs::write(&preds, &csv).unwrap();
    let (preds_s, bars_s) = (preds.to_string_lossy(), bars_path.to_string_lossy());
    let got = evaluate_json(&dir, &["evaluate", &preds_s, "--csv", &bars_s, "--json"]);
    let czar = got["mean_czar"].as_f64().unwrap();
    assert!(
        (czar - want_czar).abs() < 1e-9 * want_czar,
        "{czar} vs {want_czar}"
    );
    assert_eq!(
        (got["epoch_minutes"].as_f64(), got["gt_ratio"].as_u64()),
        (Some(1440.0), Some(7))
    );
    assert_eq!(got["passed"].as_array().unwrap().len(), 7);
    assert!(got["zero"].is_null());
    // A row past the bars has no truth: an error naming its line, nothing printed.
    csv.push_str(&format!("{},0.001\n", bars::format_time(s.time(1100))));
    std::fs::write(&preds, &csv).unwrap();
    let out = crate::support::run(&dir, &["evaluate", &preds_s, "--csv", &bars_s], &[]);
    let (stdout, stderr) = crate::support::texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty());
    let line = at.len() + 2;
    assert!(
        stderr.contains(&format!("line {line}: no truth column")),
        "{stderr}"
    );
}
