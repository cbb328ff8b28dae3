//! The live score record summarised over the last 7 and 30 days: scored
//! submissions, participation, mean CZAR, log10 CZAR and ZPTAE against the
//! zero forecast, directional accuracy and the Forge gates the record
//! allows (`status.json`'s `score`), and the `allora_worker_score_*`
//! Prometheus lines rendered from that same JSON.
//!
//! Pure: the record, `now` and the epoch length are arguments. A window is
//! the nonces whose target time (when the outcome is known) lies in the
//! last N days; a gate the record has too few rows for is null and fails.

use serde_json::{json, Value};

use crate::logic::evaluate::{self, Loss, Row, Settings};
use crate::logic::gates;
use crate::logic::score_record::{Outcome, Record, WINDOWS_DAYS};

const DAY: i64 = 86_400;

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// The summary of one window of `days` ending at `now`.
pub fn window(r: &Record, now: i64, days: i64, horizon_hours: usize, epoch_minutes: f64) -> Value {
    let inside = |t: i64| t > now - days * DAY && t <= now;
    let (mut submitted, mut missed, mut hits) = (0u64, 0u64, 0u64);
    let mut rows = Vec::new();
    for e in r.entries().filter(|e| inside(e.target_time(horizon_hours))) {
        match e.outcome {
            Outcome::Missed => missed += 1,
            Outcome::Submitted { .. } => submitted += 1,
            Outcome::Scored(s) => {
                submitted += 1;
                hits += u64::from(s.hit);
                rows.push(Row {
                    t: s.t0,
                    prediction: s.value,
                    truth: Some(s.truth),
                    std: Some(s.std),
                    line: rows.len() + 1,
                });
            }
        }
    }
    rows.sort_by_key(|r| r.t);
    let expected = submitted + missed;
    let mut v = json!({
        "days": days, "scored": rows.len(), "submitted": submitted, "missed": missed,
        "participation": if expected > 0 { json!(submitted as f64 / expected as f64) } else { Value::Null },
        "dir_acc": if rows.is_empty() { Value::Null } else { json!(hits as f64 / rows.len() as f64) },
        "mean_czar": null, "mean_log10_czar": null, "mean_zptae": null,
        "zero_mean_czar": null, "zero_mean_log10_czar": null, "zero_mean_zptae": null,
        "gates": null, "gates_passed": null,
    });
    let settings = Settings {
        horizon_minutes: horizon_hours as f64 * 60.0,
        gt_ratio: None,
        epoch_minutes: Some(epoch_minutes.max(1.0)),
        participation: Some((submitted as f64, expected.max(1) as f64)),
        loss: Loss::Both,
        against_zero: true,
    };
    let Some(e) = (!rows.is_empty())
        .then(|| evaluate::evaluate(&rows, &settings).ok())
        .flatten()
    else {
        return v;
    };
    let f = e.forecast;
    v["mean_czar"] = num(f.losses.mean_czar);
    v["mean_log10_czar"] = num(f.losses.mean_log10_czar);
    v["mean_zptae"] = num(f.losses.mean_zptae);
    if let Some(z) = e.zero {
        v["zero_mean_czar"] = num(z.losses.mean_czar);
        v["zero_mean_log10_czar"] = num(z.losses.mean_log10_czar);
        v["zero_mean_zptae"] = num(z.losses.mean_zptae);
    }
    v["gates"] = gates::to_json(&f.gates);
    v["gates_passed"] = json!(f.gates.passed.iter().filter(|p| **p).count());
    v
}

/// `status.json`'s `score`: one summary per window (`"7d"`, `"30d"`), the
/// nonces still waiting for their target, and the newest scored nonce.
pub fn to_json(r: &Record, now: i64, horizon_hours: usize, epoch_minutes: f64) -> Value {
    let mut v = json!({
        "pending": r.entries().filter(|e| matches!(e.outcome, Outcome::Submitted { value: Some(_) })).count(),
        "last_scored_nonce": r.entries().rev().find(|e| matches!(e.outcome, Outcome::Scored(_))).map(|e| e.nonce),
        "last_scored_at": r.entries().filter(|e| matches!(e.outcome, Outcome::Scored(_))).map(|e| e.at).max(),
        "horizon_hours": horizon_hours,
        "epoch_minutes": epoch_minutes,
    });
    for days in WINDOWS_DAYS {
        v[format!("{days}d")] = window(r, now, days, horizon_hours, epoch_minutes);
    }
    v
}

/// The `allora_worker_score_*` metrics from `to_json`'s value, in the
/// format of `Counters::prometheus`; `scored_total` counts this process's
/// scorings.
pub fn prometheus(score: &Value, scored_total: u64) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        out.push_str(&format!(
            "# HELP allora_worker_score_{name} {help}\n# TYPE allora_worker_score_{name} {kind}\n"
        ));
        for (labels, value) in samples {
            out.push_str(&format!("allora_worker_score_{name}{labels} {value}\n"));
        }
    };
    let val = |v: &Value| v.as_f64().map_or("NaN".to_string(), |x| x.to_string());
    let per_window = |key: &str| -> Vec<(String, String)> {
        WINDOWS_DAYS
            .iter()
            .map(|d| {
                (
                    format!("{{window=\"{d}d\"}}"),
                    val(&score[format!("{d}d")][key]),
                )
            })
            .collect()
    };
    let vs_zero = |key: &str| -> Vec<(String, String)> {
        let mut s = Vec::new();
        for d in WINDOWS_DAYS {
            let w = &score[format!("{d}d")];
            for (who, k) in [("worker", key.to_string()), ("zero", format!("zero_{key}"))] {
                s.push((
                    format!("{{window=\"{d}d\",forecast=\"{who}\"}}"),
                    val(&w[&k]),
                ));
            }
        }
        s
    };
    let one = |v: String| vec![(String::new(), v)];
    metric(
        "scored_total",
        "counter",
        "Submissions scored by this process.",
        one(scored_total.to_string()),
    );
    metric(
        "pending",
        "gauge",
        "Submissions waiting for their target time and bars.",
        one(val(&score["pending"])),
    );
    metric(
        "last_scored_timestamp_seconds",
        "gauge",
        "Unix time the newest nonce was scored.",
        one(val(&score["last_scored_at"])),
    );
    metric(
        "submissions",
        "gauge",
        "Scored submissions whose target time is in the window.",
        per_window("scored"),
    );
    metric(
        "participation_ratio",
        "gauge",
        "Submitted over submitted + missed nonces in the window.",
        per_window("participation"),
    );
    metric(
        "mean_czar",
        "gauge",
        "Mean reputer CZAR in the window (lower is better).",
        vs_zero("mean_czar"),
    );
    metric(
        "mean_log10_czar",
        "gauge",
        "Mean log10 reputer CZAR in the window.",
        vs_zero("mean_log10_czar"),
    );
    metric(
        "mean_zptae",
        "gauge",
        "Mean ZPTAE in the window.",
        vs_zero("mean_zptae"),
    );
    metric(
        "directional_accuracy",
        "gauge",
        "Share of scored submissions with the sign of the outcome.",
        per_window("dir_acc"),
    );
    metric(
        "gates_passed",
        "gauge",
        "Forge gates passed (of 7) over the window's record.",
        per_window("gates_passed"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::bars::{Bar, Series, HOUR};
    use crate::logic::score_record::{score, Entry};

    fn record() -> (Record, i64) {
        let bars: Vec<Bar> = (0..2000)
            .map(|i| Bar {
                t: i * HOUR,
                open: None,
                high: None,
                low: None,
                volume: None,
                close: 100.0 + (i as f64 * 0.37).sin() * 3.0 + i as f64 * 0.01,
            })
            .collect();
        let s = Series::from_bars(&bars);
        let mut r = Record::default();
        for k in 0..10i64 {
            let t0 = (1000 + k * 24) * HOUR;
            let value = if k % 2 == 0 { 0.01 } else { -0.01 };
            let sc = score(&s, t0, value, 168).unwrap();
            r.apply(Entry {
                nonce: k,
                at: t0 + 168 * HOUR,
                outcome: Outcome::Scored(sc),
            });
        }
        r.apply(Entry {
            nonce: 20,
            at: 1300 * HOUR,
            outcome: Outcome::Missed,
        });
        r.apply(Entry {
            nonce: 21,
            at: 1300 * HOUR,
            outcome: Outcome::Submitted { value: Some(0.1) },
        });
        (r, (1000 + 9 * 24 + 168) * HOUR)
    }

    #[test]
    fn windows_count_by_target_time_and_compare_with_zero() {
        let (r, now) = record();
        let v = to_json(&r, now, 168, 60.0);
        let week = &v["7d"];
        // Targets 0..9 days apart ending at now: the last 7 days hold 7.
        assert_eq!(week["scored"], 7, "{v:#}");
        assert_eq!(v["30d"]["scored"], 10);
        assert_eq!(v["pending"], 1);
        assert_eq!(v["last_scored_nonce"], 9);
        let mean: f64 = r
            .entries()
            .filter_map(|e| match e.outcome {
                Outcome::Scored(s) if e.nonce >= 3 => Some(s.log10_czar),
                _ => None,
            })
            .sum::<f64>()
            / 7.0;
        assert!((week["mean_log10_czar"].as_f64().unwrap() - mean).abs() < 1e-12);
        assert!(week["zero_mean_czar"].as_f64().is_some());
        assert_eq!(week["gates"]["passed"].as_array().unwrap().len(), 7);
        assert_eq!(week["participation"], 1.0);
        let later = to_json(&r, 1600 * HOUR, 168, 60.0);
        assert_eq!(later["7d"]["participation"], 0.5, "{later:#}");
        assert_eq!(later["7d"]["scored"], 0);
        assert_eq!(later["7d"]["gates"], Value::Null);
    }

    #[test]
    fn metrics_name_every_window_and_both_forecasts() {
        let (r, now) = record();
        let text = prometheus(&to_json(&r, now, 168, 60.0), 3);
        assert!(
            text.contains("allora_worker_score_scored_total 3\n"),
            "{text}"
        );
        assert!(text.contains("allora_worker_score_submissions{window=\"7d\"} 7\n"));
        assert!(text.contains("allora_worker_score_mean_czar{window=\"30d\",forecast=\"zero\"} "));
        assert!(text.contains("allora_worker_score_gates_passed{window=\"7d\"} "));
        let empty = prometheus(&to_json(&Record::default(), now, 168, 60.0), 0);
        assert!(empty
            .contains("allora_worker_score_mean_czar{window=\"7d\",forecast=\"worker\"} NaN\n"));
    }
}
