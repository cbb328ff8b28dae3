//! Scoring a series of forecasts made anywhere the way the network does:
//! the predictions CSV of `evaluate` (`timestamp,prediction` and optional
//! `truth` and `std` columns), truths and reputer stds filled from bars,
//! lags from the timestamps, then the mean losses and the seven gates, for
//! the forecast and, on request, for the zero forecast.
//!
//! Pure: text and a `Series` in, an `Evaluation` out. A truth is never made
//! up: a row whose truth neither the file nor the bars give is an error
//! naming its line.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::logic::bars::{format_time, parse_time, Series, HOUR};
use crate::logic::features;
use crate::logic::gates::{self, Gates, Input};
use crate::logic::scoring::{self, Czar};

/// One predictions row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Unix seconds.
    pub t: i64,
    pub prediction: f64,
    pub truth: Option<f64>,
    pub std: Option<f64>,
    /// 1-based line in the file.
    pub line: usize,
}

/// Which losses to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    Czar,
    Zptae,
    Both,
}

/// How to score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub horizon_minutes: f64,
    /// Default: horizon over epoch.
    pub gt_ratio: Option<u64>,
    /// Default: the smallest gap between timestamps.
    pub epoch_minutes: Option<f64>,
    /// (submitted, expected); default: the rows over the epochs they span.
    pub participation: Option<(f64, f64)>,
    pub loss: Loss,
    pub against_zero: bool,
}

/// The mean losses; NaN when undefined or not asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Losses {
    pub mean_czar: f64,
    pub mean_log10_czar: f64,
    pub mean_zptae: f64,
    pub rmse: f64,
}

/// One scored forecaster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub gates: Gates,
    pub losses: Losses,
}

/// A whole evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub rows: usize,
    pub epoch_minutes: f64,
    pub gt_ratio: u64,
    pub horizon_minutes: f64,
    pub forecast: Scored,
    pub zero: Option<Scored>,
}

fn bad(source: &str, line: usize, what: impl std::fmt::Display) -> Error {
    Error::Data(format!("{source} line {line}: {what}"))
}

/// A value cell: a decimal, or `nan` (masked); `None` when empty.
fn cell(s: &str) -> std::result::Result<Option<f64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.eq_ignore_ascii_case("nan") {
        return Ok(Some(f64::NAN));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(format!("{s:?} is not a number")),
    }
}

fn time_cell(s: &str) -> Option<i64> {
    let s = s.trim();
    parse_time(s).or_else(|| s.parse::<i64>().ok())
}

/// Parses the predictions CSV: a header naming `timestamp` and `prediction`
/// (and optionally `truth`, `std`), then one row per forecast with strictly
/// increasing timestamps (RFC 3339 or unix seconds).
pub fn parse_rows(text: &str, source: &str) -> Result<Vec<Row>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(Error::Data(format!("{source}: empty file")));
    };
    let cols: Vec<String> = header.split(',').map(|c| c.trim().to_lowercase()).collect();
    let col = |name: &str| cols.iter().position(|c| c == name);
    let (Some(tc), Some(pc)) = (col("timestamp"), col("prediction")) else {
        return Err(bad(
            source,
            1,
            "the header must name timestamp and prediction",
        ));
    };
    let (truth_c, std_c) = (col("truth"), col("std"));
    let mut rows: Vec<Row> = Vec::new();
    for (i, l) in lines {
        let line = i + 1;
        let f: Vec<&str> = l.split(',').collect();
        if f.len() != cols.len() {
            return Err(bad(
                source,
                line,
                format!("{} fields, the header has {}", f.len(), cols.len()),
            ));
        }
        let t = time_cell(f[tc])
            .ok_or_else(|| bad(source, line, format!("{:?} is not a time", f[tc])))?;
        if rows.last().is_some_and(|r| r.t >= t) {
            return Err(bad(source, line, "timestamps must increase"));
        }
        let value = |c: Option<usize>| -> Result<Option<f64>> {
            c.map_or(Ok(None), |c| cell(f[c]).map_err(|e| bad(source, line, e)))
        };
        let prediction = value(Some(pc))?.ok_or_else(|| bad(source, line, "no prediction"))?;
        let std = value(std_c)?;
        if std.is_some_and(|s| s <= 0.0) {
            return Err(bad(source, line, "std must be positive"));
        }
        rows.push(Row {
            t,
            prediction,
            truth: value(truth_c)?,
            std,
            line,
        });
    }
    if rows.is_empty() {
        return Err(Error::Data(format!("{source}: no rows")));
    }
    Ok(rows)
}

/// Whether any row lacks a truth or a std (so bars are needed).
pub fn needs_bars(rows: &[Row]) -> bool {
    rows.iter().any(|r| r.truth.is_none() || r.std.is_none())
}

/// Fills missing truths (`ln(close(t + h)/close(t))`, t floored to the hour)
/// and stds (the reputers' rule) from `s`. A missing truth the bars do not
/// cover is an error naming the line; a missing std stays missing.
pub fn fill(
    rows: &mut [Row],
    s: Option<&Series>,
    horizon_hours: usize,
    source: &str,
) -> Result<()> {
    for r in rows.iter_mut() {
        let at = s.and_then(|s| {
            let i = s.index_at(r.t)?;
            (s.time(i) + HOUR > r.t && i + horizon_hours < s.close.len()).then_some((s, i))
        });
        if r.truth.is_none() {
            let (s, i) = at.ok_or_else(|| {
                bad(
                    source,
                    r.line,
                    format!(
                        "no truth column and no bars covering {} + {horizon_hours} h",
                        format_time(r.t)
                    ),
                )
            })?;
            r.truth = features::target(s, i, horizon_hours);
        }
        if r.std.is_none() {
            r.std = at.and_then(|(s, i)| scoring::reputer_std(s, i + horizon_hours, horizon_hours));
        }
    }
    Ok(())
}

/// Mean losses over the rows where truth, prediction and std are finite.
pub fn losses(y: &[f64], p: &[f64], std: &[f64], loss: Loss) -> Losses {
    let mean = |f: &dyn Fn(f64, f64, f64) -> f64| {
        let v: Vec<f64> = (0..y.len())
            .filter(|&i| y[i].is_finite() && p[i].is_finite() && std[i].is_finite())
            .map(|i| f(y[i], p[i], std[i]))
            .collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let (czar, zptae) = (loss != Loss::Zptae, loss != Loss::Czar);
    let finite: Vec<(f64, f64)> = y
        .iter()
        .zip(p)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .collect();
    let rmse = if finite.is_empty() {
        f64::NAN
    } else {
        (finite.iter().map(|(a, b)| (a - b).powi(2)).sum::<f64>() / finite.len() as f64).sqrt()
    };
    let nan = f64::NAN;
    Losses {
        mean_czar: if czar {
            mean(&|t, f, sd| Czar::REPUTER.loss(t, f, sd))
        } else {
            nan
        },
        mean_log10_czar: if czar {
            mean(&|t, f, sd| Czar::REPUTER.log10_loss(t, f, sd))
        } else {
            nan
        },
        mean_zptae: if zptae {
            mean(&|t, f, sd| scoring::zptae(t, f, sd))
        } else {
            nan
        },
        rmse,
    }
}

/// Lags between consecutive timestamps in epochs of `epoch_minutes`.
pub fn lags(times: &[i64], epoch_minutes: f64) -> Vec<u64> {
    times
        .windows(2)
        .map(|w| (((w[1] - w[0]) as f64 / 60.0 / epoch_minutes).round() as u64).max(1))
        .collect()
}

/// Scores the rows (truths filled) with `settings`.
pub fn evaluate(rows: &[Row], settings: &Settings) -> Result<Evaluation> {
    let times: Vec<i64> = rows.iter().map(|r| r.t).collect();
    let smallest = times.windows(2).map(|w| w[1] - w[0]).min();
    let epoch_minutes = match (settings.epoch_minutes, smallest) {
        (Some(e), _) => e,
        (None, Some(g)) => g as f64 / 60.0,
        (None, None) => settings.horizon_minutes,
    };
    if epoch_minutes.is_nan() || epoch_minutes <= 0.0 {
        return Err(Error::Usage(format!(
            "evaluate: epoch of {epoch_minutes} minutes"
        )));
    }
    let gt_ratio = settings
        .gt_ratio
        .unwrap_or(((settings.horizon_minutes / epoch_minutes).round() as u64).max(1));
    let lags = lags(&times, epoch_minutes);
    let span_epochs = lags.iter().sum::<u64>() as f64 + 1.0;
    let participation = settings
        .participation
        .unwrap_or((rows.len() as f64, span_epochs));
    let y: Vec<f64> = rows.iter().map(|r| r.truth.unwrap_or(f64::NAN)).collect();
    let std: Vec<f64> = rows.iter().map(|r| r.std.unwrap_or(f64::NAN)).collect();
    let score = |p: &[f64]| Scored {
        gates: gates::evaluate(&Input {
            y: &y,
            p,
            lags: Some(&lags),
            gt_ratio,
            horizon_minutes: settings.horizon_minutes,
            participation,
        }),
        losses: losses(&y, p, &std, settings.loss),
    };
    let p: Vec<f64> = rows.iter().map(|r| r.prediction).collect();
    Ok(Evaluation {
        rows: rows.len(),
        epoch_minutes,
        gt_ratio,
        horizon_minutes: settings.horizon_minutes,
        forecast: score(&p),
        zero: settings.against_zero.then(|| score(&vec![0.0; rows.len()])),
    })
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// The gate keys of `gates::to_json` plus the mean losses.
pub fn scored_json(s: &Scored) -> Value {
    let mut m: Map<String, Value> = match gates::to_json(&s.gates) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.insert("mean_czar".into(), num(s.losses.mean_czar));
    m.insert("mean_log10_czar".into(), num(s.losses.mean_log10_czar));
    m.insert("mean_zptae".into(), num(s.losses.mean_zptae));
    m.insert("rmse".into(), num(s.losses.rmse));
    Value::Object(m)
}

/// `evaluate --json`: the forecast's keys at the top, the zero forecast's
/// under `zero`, and the settings used.
pub fn to_json(e: &Evaluation) -> Value {
    let mut v = scored_json(&e.forecast);
    if let Value::Object(m) = &mut v {
        m.insert("rows".into(), json!(e.rows));
        m.insert("epoch_minutes".into(), json!(e.epoch_minutes));
        m.insert("gt_ratio".into(), json!(e.gt_ratio));
        m.insert("horizon_minutes".into(), json!(e.horizon_minutes));
        m.insert("gate_names".into(), json!(gates::NAMES));
        if let Some(z) = &e.zero {
            m.insert("zero".into(), scored_json(z));
        }
    }
    v
}

fn fmt(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "-".into()
    }
}

/// One line per gate (value, interval, pass) and one per loss.
pub fn gate_lines(s: &Scored) -> String {
    let g = &s.gates;
    let ci = |c: (f64, f64)| format!("[{}, {}]", fmt(c.0), fmt(c.1));
    let rows = [
        ("n_eff >= 20", fmt(g.n_eff), String::new()),
        (
            "directional accuracy lower > 0.5",
            fmt(g.dir_acc),
            ci(g.dir_acc_ci),
        ),
        ("pearson r lower > 0", fmt(g.pearson_r), ci(g.pearson_ci)),
        (
            "wrmse improvement lower > 0",
            fmt(g.wrmse_imp),
            ci(g.wrmse_ci),
        ),
        (
            "wczar improvement lower > 0",
            fmt(g.wczar_imp),
            ci(g.wczar_ci),
        ),
        (
            "log aspect ratio overlaps ±0.5",
            fmt(g.log_aspect_ratio),
            ci(g.log_aspect_ratio_ci),
        ),
        ("participation > 0.9", fmt(g.participation), String::new()),
    ];
    let mut out = String::new();
    for (i, (name, value, interval)) in rows.iter().enumerate() {
        let mark = if g.passed[i] { "pass" } else { "FAIL" };
        out.push_str(&format!("  {mark}  {name:<34} {value:>8} {interval}\n"));
    }
    let l = &s.losses;
    out.push_str(&format!(
        "  mean CZAR {}  mean log10 CZAR {}  mean ZPTAE {}  RMSE {}\n",
        fmt(l.mean_czar),
        fmt(l.mean_log10_czar),
        fmt(l.mean_zptae),
        fmt(l.rmse)
    ));
    out
}

/// The human table of `evaluate`.
pub fn to_table(e: &Evaluation) -> String {
    let passed = e.forecast.gates.passed.iter().filter(|p| **p).count();
    let mut out = format!(
        "{} rows, epoch {} min, gt_ratio {}, horizon {} min: {passed}/7 gates passed\n",
        e.rows, e.epoch_minutes, e.gt_ratio, e.horizon_minutes
    );
    out.push_str(&gate_lines(&e.forecast));
    if let Some(z) = &e.zero {
        out.push_str("zero forecast:\n");
        out.push_str(&gate_lines(z));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_bad_rows_name_their_line() {
        let ok = "timestamp,prediction,truth\n1970-01-01T00:00:00Z,0.1,0.2\n3600,nan,\n";
        let rows = parse_rows(ok, "p.csv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].t, rows[1].truth, rows[1].line), (3600, None, 3));
        assert!(rows[1].prediction.is_nan());
        for (text, needle) in [
            (
                "timestamp,prediction\n2025-01-01T00:00:00Z,x\n",
                "line 2: \"x\" is not a number",
            ),
            (
                "timestamp,prediction\n1,0\n1,0\n",
                "line 3: timestamps must increase",
            ),
            ("timestamp,prediction\n\n1,0,3\n", "line 3: 3 fields"),
            (
                "timestamp,prediction,std\n1,0,-1\n",
                "line 2: std must be positive",
            ),
            ("time,prediction\n1,0\n", "line 1:"),
            ("timestamp,prediction\n", "no rows"),
        ] {
            let e = parse_rows(text, "p.csv").unwrap_err().to_string();
            assert!(e.contains(needle), "{e} lacks {needle}");
        }
    }

    #[test]
    fn too_few_rows_give_null_gates_but_losses() {
        let rows: Vec<Row> = (0..2)
            .map(|i| Row {
                t: i * 3600,
                prediction: 0.01,
                truth: Some(0.02 - i as f64 * 0.03),
                std: None,
                line: i as usize + 2,
            })
            .collect();
        let settings = Settings {
            horizon_minutes: 60.0,
            gt_ratio: None,
            epoch_minutes: None,
            participation: None,
            loss: Loss::Both,
            against_zero: true,
        };
        let e = evaluate(&rows, &settings).unwrap();
        let j = to_json(&e);
        assert!(j["pearson_r"].is_null());
        assert_eq!(j["passed"][2], false);
        assert!(j["mean_czar"].is_null(), "no std anywhere: null");
        assert!(
            (j["rmse"].as_f64().unwrap() - (0.0001f64 + 0.0004).sqrt() / 2f64.sqrt()).abs() < 1e-15
        );
        assert_eq!(j["participation"], 1.0);
        assert_eq!(j["zero"]["dir_acc"], 0.0);
        assert!(to_table(&e).contains("FAIL"));
    }
}
