//! Live self-scoring under a shifted wall clock, in-process (the clock
//! shift and the log set-up are process-wide, so this shares `faults.rs`'s
//! one-daemon-at-a-time lock). The market data is a CSV of hourly bars that
//! reaches past now + TARGET_HOURS; the worker submits against the devnet
//! with the clock as it is (nothing can be scored: the targets lie ahead),
//! then restarts with its clock 170 h ahead, when the bars at or before its
//! "now" cover the targets, and scores each nonce once; a further restart
//! scores nothing twice, and `status --json` and the metrics show the record.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use allora_worker::agent::{self, Options};
use allora_worker::io::{clock, logging};
use allora_worker::logic::bars::{self, Series, HOUR};
use allora_worker::logic::scoring::{self, Czar};
use allora_worker::logic::synthetic;
use serde_json::Value;

use crate::faults::{config, devnet_for, in_process};
use crate::support::{accepted, devnet_env, run, temp_dir};

const VALUE: f64 = 0.0123;

fn events(dir: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(logging::EVENTS_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == kind)
        .collect()
}

fn status_json(data: &Path) -> Value {
    let text = std::fs::read_to_string(data.join("status.json")).expect("status.json");
    serde_json::from_str(&text).expect("status.json is JSON")
}

/// Score events per nonce, with the data of the last one.
fn scored(log_dir: &Path) -> BTreeMap<i64, (usize, Value)> {
    let mut by = BTreeMap::new();
    for e in events(log_dir, "score") {
        let n = e["data"]["nonce"]
            .as_i64()
            .expect("a score event names its nonce");
        let slot = by.entry(n).or_insert((0, Value::Null));
        slot.0 += 1;
        slot.1 = e["data"].clone();
    }
    by
}

#[test]
fn submissions_are_scored_once_their_target_passes_and_the_record_survives_restarts() {
    let (_one, logs) = in_process();
    let before = scored(&logs.dir).len();
    let (net, wallet) = devnet_for(60, 67);
    let dir = temp_dir("live-score");
    let now_h = clock::system_now_utc().unix_timestamp() / HOUR;
    // 1 000 h of history and 200 h past now: the worker only ever uses the
    // bars at or before the times it looks at.
    let bars = synthetic::synthetic_bars(5, now_h - 1000, 1200);
    let csv = dir.join("bars.csv");
    std::fs::write(&csv, bars::to_csv(&bars)).unwrap();
    let series = Series::from_bars(&bars);
    let cfg = config(&net, &dir, &logs.dir);
    let data = cfg.data_dir.clone();
    let metrics = dir.join("metrics.prom");
    let serve = |windows: u64| {
        let opts = Options {
            max_windows: Some(windows),
            poll_interval: Duration::from_millis(500),
            heartbeat: Duration::from_millis(300),
            csv: Some(csv.clone()),
            predict_cmd: Some(format!("echo {VALUE}; true")),
            metrics_file: Some(metrics.clone()),
            ..Options::default()
        };
        agent::run(&cfg, &wallet, opts).expect("the daemon runs to max_windows")
    };

    // Now: two submissions, their targets 168 h ahead: nothing is scored.
    serve(2);
    let first: Vec<i64> = accepted(&net.stats(), wallet.address())
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert!(first.len() >= 2, "{first:?}");
    assert_eq!(scored(&logs.dir).len(), before, "no target has passed yet");
    let s = status_json(&data);
    assert_eq!(s["score"]["7d"]["scored"], 0, "{s:#}");
    assert!(s["score"]["pending"].as_u64().unwrap() >= 2, "{s:#}");

    // 170 h later: every earlier submission is scored, from the bars.
    clock::shift_wall_clock(time::Duration::hours(170));
    serve(3);
    let after = scored(&logs.dir);
    for n in &first {
        let (count, d) = after
            .get(n)
            .unwrap_or_else(|| panic!("nonce {n} scored: {after:?}"));
        assert_eq!(*count, 1, "nonce {n} scored once");
        let t0 = d["t0"].as_i64().unwrap();
        let i = series.index_at(t0).unwrap();
        let truth = (series.close[i + 168] / series.close[i]).ln();
        let std = scoring::reputer_std(&series, i + 168, 168).unwrap();
        assert!((d["truth"].as_f64().unwrap() - truth).abs() < 1e-12, "{d}");
        assert_eq!(
            d["prediction"], VALUE,
            "the value decoded from the signed tx"
        );
        assert_eq!(d["std"].as_f64().unwrap(), std);
        assert_eq!(
            d["czar"].as_f64().unwrap(),
            Czar::REPUTER.loss(truth, VALUE, std)
        );
        assert_eq!(
            d["zero_log10_czar"].as_f64().unwrap(),
            Czar::REPUTER.log10_loss(truth, 0.0, std)
        );
        assert_eq!(d["hit"], truth > 0.0);
    }

    // A restart: the record is read back, nothing is scored twice.
    serve(2);
    clock::shift_wall_clock(time::Duration::ZERO);
    let again = scored(&logs.dir);
    assert!(again.values().all(|(c, _)| *c == 1), "{again:?}");
    let s = status_json(&data);
    let week = &s["score"]["7d"];
    assert!(
        week["scored"].as_u64().unwrap() >= first.len() as u64,
        "{s:#}"
    );
    assert_eq!(week["participation"], 1.0, "{s:#}");
    assert!(week["mean_czar"].as_f64().is_some() && week["zero_mean_czar"].as_f64().is_some());
    assert_eq!(week["gates"]["passed"].as_array().map(Vec::len), Some(7));
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(&format!(
            "allora_worker_score_submissions{{topic=\"67\",window=\"7d\"}} {}",
            week["scored"]
        )),
        "{prom}"
    );

    // `status --json` (another process) shows what status.json holds.
    let addr = wallet.address().to_string();
    let env = devnet_env(&net, "", &dir, &[("ALLORA_WALLET_ADDR", addr.as_str())]);
    let env: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| k != "MNEMONIC")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let data_arg = data.display().to_string();
    let out = run(&dir, &["status", "--json", "--data-dir", &data_arg], &env);
    let shown: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(shown["status"]["score"]["7d"], *week, "{shown:#}");
    let out = run(&dir, &["status", "--data-dir", &data_arg], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("last 7d") && text.contains("CZAR"), "{text}");
}
