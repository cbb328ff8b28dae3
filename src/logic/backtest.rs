//! Walk-forward backtest: at each point, train only on rows whose target was
//! known at that point (the model's own trailing train + validation span),
//! forecast, and score the model, the zero forecast and the trailing-mean
//! forecast against the realised log return.
//!
//! Pure: a `Series` in, a `Report` out. Sigma for the z-scores is the
//! standard deviation of the realised `horizon` returns known at the point,
//! over the trailing `SIGMA_WINDOW` hourly samples.

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::logic::bars::{format_time, Series};
use crate::logic::features::{self, LOOKBACK};
use crate::logic::metrics;
use crate::logic::model::{self, Params, Spans};

/// Hourly samples of realised returns behind each point's sigma.
pub const SIGMA_WINDOW: usize = 720;

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
    pub trailing_mean: f64,
    pub sigma: f64,
}

/// The scores of one forecaster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub rmse: f64,
    pub mae: f64,
    pub da: f64,
    pub corr: Option<f64>,
    pub zptae: f64,
    pub czar_approx: f64,
}

/// The whole backtest.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub setup: Setup,
    pub points: Vec<Point>,
    pub model: Summary,
    pub zero: Summary,
    pub trailing_mean: Summary,
    /// Diebold–Mariano of the model's squared error vs zero's: (stat, p);
    /// a negative statistic means the model's loss is lower.
    pub dm_vs_zero: Option<(f64, f64)>,
    pub dm_lag: usize,
}

/// (first, last) grid index a backtest can use: enough history for the
/// model and a full sigma window, and a known target.
pub fn default_range(s: &Series, spans: &Spans) -> Option<(usize, usize)> {
    let first = first_point(spans);
    let last = s.close.len().checked_sub(spans.horizon + 1)?;
    (first <= last).then_some((first, last))
}

/// The first grid index with enough history for the model and sigma.
fn first_point(spans: &Spans) -> usize {
    let need_model = LOOKBACK + spans.horizon + spans.train + spans.validation - 1;
    need_model.max(spans.horizon + SIGMA_WINDOW - 1)
}

/// The fewest hourly bars a backtest of one point needs: the history of
/// the first point plus its horizon.
pub fn min_bars(spans: &Spans) -> usize {
    first_point(spans) + spans.horizon + 1
}

fn sigma_at(s: &Series, at: usize, horizon: usize) -> Result<f64> {
    let newest = at.checked_sub(horizon);
    let oldest = newest.map(|n| n.saturating_sub(SIGMA_WINDOW - 1));
    let (Some(oldest), Some(newest)) = (oldest, newest) else {
        return Err(Error::Model("no realised returns for sigma".into()));
    };
    let r: Vec<f64> = (oldest..=newest)
        .filter_map(|i| features::target(s, i, horizon))
        .collect();
    let sigma = metrics::std_dev(&r);
    if r.len() < horizon || sigma.is_nan() || sigma <= 0.0 {
        return Err(Error::Model(format!(
            "sigma at {} needs {horizon} realised returns with spread",
            format_time(s.time(at))
        )));
    }
    Ok(sigma)
}

/// Runs the walk-forward backtest over grid indices `from..=to` every
/// `step_hours`.
pub fn run(s: &Series, from: usize, to: usize, setup: &Setup) -> Result<Report> {
    let h = setup.spans.horizon;
    let mut points = Vec::new();
    for at in (from..=to).step_by(setup.step_hours.max(1)) {
        let truth = features::target(s, at, h).ok_or_else(|| {
            Error::Model(format!(
                "target at {} is not known yet",
                format_time(s.time(at))
            ))
        })?;
        let trained = model::train(s, at, &setup.spans, &setup.params, setup.seed)?;
        let (raw, forecast) = trained.predict_at(s, at)?;
        points.push(Point {
            t: s.time(at),
            truth,
            model: forecast,
            raw,
            shrink: trained.shrink,
            trailing_mean: trained.mean_target,
            sigma: sigma_at(s, at, h)?,
        });
    }
    if points.is_empty() {
        return Err(Error::Model("no backtest points in the range".into()));
    }
    let col = |f: fn(&Point) -> f64| points.iter().map(f).collect::<Vec<f64>>();
    let model_f = col(|p| p.model);
    let zero_f = vec![0.0; points.len()];
    let mean_f = col(|p| p.trailing_mean);
    let sq = |f: &[f64]| -> Vec<f64> {
        f.iter()
            .zip(&points)
            .map(|(x, p)| (x - p.truth).powi(2))
            .collect()
    };
    let d: Vec<f64> = sq(&model_f)
        .iter()
        .zip(sq(&zero_f))
        .map(|(a, b)| a - b)
        .collect();
    let steps = h.div_ceil(setup.step_hours.max(1));
    let dm_lag = steps.saturating_sub(1);
    Ok(Report {
        setup: *setup,
        model: summarize(&model_f, &points),
        zero: summarize(&zero_f, &points),
        trailing_mean: summarize(&mean_f, &points),
        dm_vs_zero: metrics::diebold_mariano(&d, dm_lag, steps),
        dm_lag,
        points,
    })
}

fn summarize(f: &[f64], points: &[Point]) -> Summary {
    let truth: Vec<f64> = points.iter().map(|p| p.truth).collect();
    let n = points.len() as f64;
    let mean_loss = |loss: fn(f64, f64, f64) -> f64| {
        f.iter()
            .zip(points)
            .map(|(x, p)| loss(*x, p.truth, p.sigma))
            .sum::<f64>()
            / n
    };
    Summary {
        rmse: metrics::rmse(f, &truth),
        mae: metrics::mae(f, &truth),
        da: metrics::directional_accuracy(f, &truth),
        corr: metrics::correlation(f, &truth),
        zptae: mean_loss(metrics::zptae),
        czar_approx: mean_loss(metrics::czar_approx),
    }
}

fn summary_json(s: &Summary) -> Value {
    json!({"rmse": s.rmse, "mae": s.mae, "da": s.da, "corr": s.corr,
           "zptae": s.zptae, "czar_approx": s.czar_approx})
}

/// `{"points": N, "model": {..}, "zero": {..}, "trailing_mean": {..},
/// "dm_vs_zero": {"stat", "p"}, ..}`.
pub fn to_json(r: &Report) -> Value {
    let (stat, p) = r
        .dm_vs_zero
        .map_or((None, None), |(s, p)| (Some(s), Some(p)));
    json!({
        "points": r.points.len(),
        "from": r.points.first().map(|p| format_time(p.t)),
        "to": r.points.last().map(|p| format_time(p.t)),
        "step_hours": r.setup.step_hours,
        "horizon_hours": r.setup.spans.horizon,
        "model": summary_json(&r.model),
        "zero": summary_json(&r.zero),
        "trailing_mean": summary_json(&r.trailing_mean),
        "dm_vs_zero": {"stat": stat, "p": p, "lag": r.dm_lag, "loss": "squared error"},
        "mean_shrink": r.points.iter().map(|p| p.shrink).sum::<f64>() / r.points.len() as f64,
    })
}

/// A small text table of the report.
pub fn to_table(r: &Report) -> String {
    let mut out = format!(
        "{} points, {} .. {}, step {} h\n{:<14} {:>8} {:>8} {:>6} {:>7} {:>7} {:>12}\n",
        r.points.len(),
        r.points
            .first()
            .map(|p| format_time(p.t))
            .unwrap_or_default(),
        r.points
            .last()
            .map(|p| format_time(p.t))
            .unwrap_or_default(),
        r.setup.step_hours,
        "forecast",
        "rmse",
        "mae",
        "da",
        "corr",
        "zptae",
        "czar(approx)"
    );
    for (name, s) in [
        ("model", &r.model),
        ("zero", &r.zero),
        ("trailing_mean", &r.trailing_mean),
    ] {
        let corr = s.corr.map_or("-".to_string(), |c| format!("{c:.3}"));
        out.push_str(&format!(
            "{name:<14} {:>8.4} {:>8.4} {:>6.3} {corr:>7} {:>7.3} {:>12.3}\n",
            s.rmse, s.mae, s.da, s.zptae, s.czar_approx
        ));
    }
    match r.dm_vs_zero {
        Some((stat, p)) => out.push_str(&format!(
            "Diebold-Mariano model vs zero (squared error, NW lag {}, HLN): stat {stat:.3}, p {p:.3}\n",
            r.dm_lag
        )),
        None => out.push_str("Diebold-Mariano: not enough points\n"),
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
        assert!(r.points.iter().all(|p| p.model != 0.0 && p.sigma > 0.0));
        let j = to_json(&r);
        assert_eq!(j["points"], r.points.len());
        assert!(j["model"]["zptae"].as_f64().unwrap() > 0.0);
        assert!(to_table(&r).contains("trailing_mean"));
        assert!(run(&s, to + 1, to + 1, &setup).is_err());
    }
}
