//! Walk-forward backtest: at each point, train only on rows whose target was
//! known at that point (the model's own trailing train + validation span),
//! forecast, and score the model, the zero forecast, the momentum prior R1
//! and the trailing mean against the realised log return, as the network
//! would: RMSE, MAE, DA, correlation, ZPTAE and reputer CZAR (with the
//! reputers' std of each target) and its log10, each with a Diebold–Mariano
//! test against zero, and the seven Forge gates.
//!
//! Pure: a `Series` in, a `Report` out.

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::logic::bars::{format_time, Series};
use crate::logic::evaluate::{self, Loss, Row, Scored, Settings};
use crate::logic::features::{self, LOOKBACK};
use crate::logic::metrics;
use crate::logic::model::{self, Params, Spans};
use crate::logic::prior;
use crate::logic::scoring::{self, Czar};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    pub spans: Spans,
    pub params: Params,
    pub seed: u64,
    pub step_hours: usize,
}

/// One forecast point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub truth: f64,
    pub model: f64,
    pub raw: f64,
    pub shrink: f64,
    /// The momentum prior R1 (`logic::prior`).
    pub prior: f64,
    pub trailing_mean: f64,
    /// The reputers' std for this target (`scoring::reputer_std`).
    pub std: f64,
}

/// The losses the Diebold–Mariano tests compare, per point.
pub const DM_LOSSES: [&str; 6] = [
    "squared_error",
    "absolute_error",
    "direction_miss",
    "zptae",
    "czar",
    "log10_czar",
];

/// The scores of one forecaster.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub mae: f64,
    pub da: f64,
    pub corr: Option<f64>,
    /// Mean losses (RMSE, ZPTAE, CZAR, log10 CZAR) and the seven gates.
    pub scored: Scored,
    /// Diebold–Mariano against zero for each of `DM_LOSSES`: (stat, p).
    pub dm: Vec<Option<(f64, f64)>>,
}

/// The whole backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub setup: Setup,
    pub points: Vec<Point>,
    pub model: Summary,
    pub zero: Summary,
    pub prior: Summary,
    pub trailing_mean: Summary,
    pub dm_lag: usize,
}

/// (first, last) grid index a backtest can use: enough history for the
/// model and the prior, and a known target.
pub fn default_range(s: &Series, spans: &Spans) -> Option<(usize, usize)> {
    let first = first_point(spans);
    let last = s.close.len().checked_sub(spans.horizon + 1)?;
    (first <= last).then_some((first, last))
}

fn point(s: &Series, at: usize, setup: &Setup) -> Result<Point> {
    let h = setup.spans.horizon;
    let when = format_time(s.time(at));
    let truth = features::target(s, at, h)
        .ok_or_else(|| Error::Model(format!("target at {when} is not known yet")))?;
    let trained = model::train(s, at, &setup.spans, &setup.params, setup.seed)?;
    let (raw, forecast) = trained.predict_at(s, at)?;
    let prior =
        prior::r1(s, at).ok_or_else(|| Error::Model(format!("no momentum prior at {when}")))?;
    let std = scoring::reputer_std(s, at + h, h)
        .ok_or_else(|| Error::Model(format!("no reputer std for the target at {when}")))?;
    Ok(Point {
        t: s.time(at),
        truth,
        model: forecast,
        raw,
        shrink: trained.shrink,
        prior,
        trailing_mean: trained.mean_target,
        std,
    })
}

/// The first grid index with enough history for the model and the prior.
fn first_point(spans: &Spans) -> usize {
    let need_model = LOOKBACK + spans.horizon + spans.train + spans.validation - 1;
    need_model.max(prior::OLDEST)
}

/// The fewest hourly bars a backtest of one point needs: the history of
/// the first point plus its horizon.
pub fn min_bars(spans: &Spans) -> usize {
    first_point(spans) + spans.horizon + 1
}

/// Runs the walk-forward backtest over grid indices `from..=to` every
/// `step_hours`.
pub fn run(s: &Series, from: usize, to: usize, setup: &Setup) -> Result<Report> {
    let step = setup.step_hours.max(1);
    let points = (from..=to)
        .step_by(step)
        .map(|at| point(s, at, setup))
        .collect::<Result<Vec<Point>>>()?;
    if points.is_empty() {
        return Err(Error::Model("no backtest points in the range".into()));
    }
    let steps = setup.spans.horizon.div_ceil(step);
    let dm_lag = steps.saturating_sub(1);
    let col = |f: fn(&Point) -> f64| points.iter().map(f).collect::<Vec<f64>>();
    let zero_f = vec![0.0; points.len()];
    let zero_losses = losses(&zero_f, &points);
    let sum = |f: &[f64]| summarize(f, &points, setup, &zero_losses, (dm_lag, steps));
    Ok(Report {
        setup: *setup,
        model: sum(&col(|p| p.model))?,
        zero: sum(&zero_f)?,
        prior: sum(&col(|p| p.prior))?,
        trailing_mean: sum(&col(|p| p.trailing_mean))?,
        dm_lag,
        points,
    })
}

/// Per point, each of `DM_LOSSES`.
fn losses(f: &[f64], points: &[Point]) -> Vec<[f64; 6]> {
    f.iter()
        .zip(points)
        .map(|(x, p)| {
            [
                (x - p.truth).powi(2),
                (x - p.truth).abs(),
                f64::from(u8::from(x * p.truth <= 0.0)),
                scoring::zptae(p.truth, *x, p.std),
                Czar::REPUTER.loss(p.truth, *x, p.std),
                Czar::REPUTER.log10_loss(p.truth, *x, p.std),
            ]
        })
        .collect()
}

/// The points as `evaluate` rows of forecast `f`, and the settings a
/// backtest scores with (one epoch per step, participation complete).
pub fn rows(f: &[f64], points: &[Point], setup: &Setup) -> (Vec<Row>, Settings) {
    let rows = points
        .iter()
        .zip(f)
        .enumerate()
        .map(|(i, (p, x))| Row {
            t: p.t,
            prediction: *x,
            truth: Some(p.truth),
            std: Some(p.std),
            line: i + 1,
        })
        .collect();
    let settings = Settings {
        horizon_minutes: setup.spans.horizon as f64 * 60.0,
        gt_ratio: None,
        epoch_minutes: Some(setup.step_hours.max(1) as f64 * 60.0),
        participation: None,
        loss: Loss::Both,
        against_zero: false,
    };
    (rows, settings)
}

fn summarize(
    f: &[f64],
    points: &[Point],
    setup: &Setup,
    zero: &[[f64; 6]],
    (lag, steps): (usize, usize),
) -> Result<Summary> {
    let truth: Vec<f64> = points.iter().map(|p| p.truth).collect();
    let (rows, settings) = rows(f, points, setup);
    let own = losses(f, points);
    let dm = (0..DM_LOSSES.len())
        .map(|k| {
            let d: Vec<f64> = own.iter().zip(zero).map(|(a, b)| a[k] - b[k]).collect();
            metrics::diebold_mariano(&d, lag, steps)
        })
        .collect();
    Ok(Summary {
        mae: metrics::mae(f, &truth),
        da: metrics::directional_accuracy(f, &truth),
        corr: metrics::correlation(f, &truth),
        scored: evaluate::evaluate(&rows, &settings)?.forecast,
        dm,
    })
}

fn summary_json(s: &Summary) -> Value {
    let l = &s.scored.losses;
    let dm: serde_json::Map<String, Value> = DM_LOSSES
        .iter()
        .zip(&s.dm)
        .map(|(name, d)| {
            let (stat, p) = d.map_or((None, None), |(s, p)| (Some(s), Some(p)));
            (name.to_string(), json!({"stat": stat, "p": p}))
        })
        .collect();
    json!({"rmse": l.rmse, "mae": s.mae, "da": s.da, "corr": s.corr,
           "zptae": l.mean_zptae, "mean_czar": l.mean_czar,
           "mean_log10_czar": l.mean_log10_czar,
           "gates": evaluate::scored_json(&s.scored), "dm_vs_zero": dm})
}

/// `{"points": N, "model": {..}, "zero": {..}, "prior": {..},
/// "trailing_mean": {..}, "dm_vs_zero": {"stat", "p"}, "rows": [..], ..}`.
pub fn to_json(r: &Report) -> Value {
    let (stat, p) = r.model.dm[0].map_or((None, None), |(s, p)| (Some(s), Some(p)));
    let rows: Vec<Value> = r
        .points
        .iter()
        .map(|p| {
            json!({"time": format_time(p.t), "model": p.model, "prior": p.prior,
                   "truth": p.truth, "std": p.std})
        })
        .collect();
    json!({
        "points": r.points.len(),
        "from": r.points.first().map(|p| format_time(p.t)),
        "to": r.points.last().map(|p| format_time(p.t)),
        "step_hours": r.setup.step_hours,
        "horizon_hours": r.setup.spans.horizon,
        "model": summary_json(&r.model),
        "zero": summary_json(&r.zero),
        "prior": summary_json(&r.prior),
        "trailing_mean": summary_json(&r.trailing_mean),
        "dm_vs_zero": {"stat": stat, "p": p, "lag": r.dm_lag, "loss": "squared error"},
        "mean_shrink": r.points.iter().map(|p| p.shrink).sum::<f64>() / r.points.len() as f64,
        "gate_names": crate::logic::gates::NAMES,
        "rows": rows,
    })
}

fn forecasters(r: &Report) -> [(&'static str, &Summary); 4] {
    [
        ("model", &r.model),
        ("zero", &r.zero),
        ("prior", &r.prior),
        ("trailing_mean", &r.trailing_mean),
    ]
}

/// A text table of the report: scores, Diebold–Mariano, then the gates.
pub fn to_table(r: &Report) -> String {
    let span = |p: Option<&Point>| p.map(|p| format_time(p.t)).unwrap_or_default();
    let mut out = format!(
        "{} points, {} .. {}, step {} h\n{:<14} {:>8} {:>8} {:>6} {:>7} {:>7} {:>7} {:>9} {:>6}\n",
        r.points.len(),
        span(r.points.first()),
        span(r.points.last()),
        r.setup.step_hours,
        "forecast",
        "rmse",
        "mae",
        "da",
        "corr",
        "zptae",
        "czar",
        "log10czar",
        "gates"
    );
    for (name, s) in forecasters(r) {
        let corr = s.corr.map_or("-".to_string(), |c| format!("{c:.3}"));
        let l = &s.scored.losses;
        let passed = s.scored.gates.passed.iter().filter(|p| **p).count();
        out.push_str(&format!(
            "{name:<14} {:>8.4} {:>8.4} {:>6.3} {corr:>7} {:>7.3} {:>7.3} {:>9.4} {passed:>4}/7\n",
            l.rmse, s.mae, s.da, l.mean_zptae, l.mean_czar, l.mean_log10_czar
        ));
    }
    out.push_str(&format!(
        "Diebold-Mariano vs zero (NW lag {}, HLN; a negative stat means a lower loss than zero):\n",
        r.dm_lag
    ));
    for (name, s) in forecasters(r).into_iter().filter(|(n, _)| *n != "zero") {
        let cells: Vec<String> = DM_LOSSES
            .iter()
            .zip(&s.dm)
            .map(|(l, d)| match d {
                Some((stat, p)) => format!("{l} {stat:.2} (p {p:.2})"),
                None => format!("{l} -"),
            })
            .collect();
        out.push_str(&format!("  {name:<14} {}\n", cells.join(", ")));
    }
    for (name, s) in forecasters(r) {
        out.push_str(&format!(
            "gates, {name}:\n{}",
            evaluate::gate_lines(&s.scored)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::synthetic::synthetic_bars;

    #[test]
    fn walk_forward_on_synthetic_bars() {
        let s = Series::from_bars(&synthetic_bars(5, 480_000, 1300));
        let spans = Spans {
            horizon: 168,
            train: 336,
            validation: 168,
        };
        let (from, to) = default_range(&s, &spans).unwrap();
        assert_eq!((from, to), (887, 1300 - 169));
        let setup = Setup {
            spans,
            params: Params::DEFAULT,
            seed: 1,
            step_hours: 24,
        };
        let r = run(&s, from, to, &setup).unwrap();
        assert_eq!(r.points.len(), (to - from) / 24 + 1);
        assert_eq!(r.dm_lag, 6);
        assert_eq!(r.zero.da, 0.0);
        assert!(r.points.iter().all(|p| p.model != 0.0 && p.std > 0.0));
        assert_eq!(r.zero.dm, vec![None; 6], "zero against itself");
        let j = to_json(&r);
        assert_eq!(j["points"], r.points.len());
        assert!(j["model"]["zptae"].as_f64().unwrap() > 0.0);
        assert_eq!(j["rows"].as_array().unwrap().len(), r.points.len());
        assert_eq!(j["prior"]["gates"]["passed"].as_array().unwrap().len(), 7);
        assert!(j["model"]["dm_vs_zero"]["log10_czar"]["stat"].is_number());
        assert!(to_table(&r).contains("trailing_mean"));
        assert!(run(&s, to + 1, to + 1, &setup).is_err());
    }
}
