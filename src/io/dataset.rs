//! The configured market data as the model needs it: the spans from the
//! configuration, the source (Tiingo or a CSV), bars loaded through the
//! cache and passed through the data gate, and training at the newest bar.
//! Shared by `train`, `predict`, `backtest`, `bench` and the daemon; `forecast`
//! is the one prediction pipeline of `predict` and the daemon.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::error::Result;
use crate::io::{atomic, clock, market, predict_cmd};
use crate::logic::bars::{self, Bar, Series};
use crate::logic::features::LOOKBACK;
use crate::logic::model::{self, Params, Spans};
use crate::logic::model_format::{self, ModelFile};

/// The model's spans from the configuration.
pub fn spans(c: &Config) -> Spans {
    Spans {
        horizon: c.target_hours as usize,
        train: c.train_span_hours as usize,
        validation: c.validation_span_hours as usize,
    }
}

/// Hours of bars a training needs (features, targets, rows), plus a day.
pub fn need_hours(s: &Spans) -> i64 {
    (LOOKBACK + s.horizon + s.train + s.validation + 24) as i64
}

/// The configured market source, or the CSV file when given.
pub fn source(c: &Config, csv: Option<PathBuf>) -> market::Source {
    match csv {
        Some(p) => market::Source::Csv(p),
        None => market::Source::Tiingo(market::Tiingo {
            base: c.tiingo_url.clone(),
            ticker: c.ticker.clone(),
            key: c.tiingo_api_key.clone(),
            timeout: Duration::from_secs(30),
        }),
    }
}

/// Bars at or before `at` (default: the newest), gated at `now` (default:
/// the wall clock for Tiingo, `at` for a CSV). Returns the bars and `now`.
pub fn gated_bars(c: &Config, csv: Option<PathBuf>, at: Option<i64>) -> Result<(Vec<Bar>, i64)> {
    let offline = csv.is_some();
    let s = spans(c);
    let wall = clock::now_utc().unix_timestamp();
    let mut bars = market::load(&source(c, csv), &c.data_dir, wall, need_hours(&s))?;
    if let Some(t) = at {
        bars.retain(|b| b.t <= t);
    }
    let now = match (at, offline) {
        (Some(t), _) => t,
        (None, true) => bars.last().map_or(wall, |b| b.t),
        (None, false) => wall,
    };
    bars::gate(&bars, now, s.train + s.validation + s.horizon)?;
    Ok((bars, now))
}

/// Trains at the newest bar of `bars` and describes the model.
pub fn train_at_newest(
    c: &Config,
    bars: &[Bar],
    seed: u64,
    trained_at: i64,
) -> Result<(model::Trained, ModelFile)> {
    let s = Series::from_bars(bars);
    let at = s.newest()?;
    let t = model::train(&s, at, &spans(c), &Params::DEFAULT, seed)?;
    let file = model_format::describe(&t, &s, at, &c.ticker, trained_at)?;
    Ok((t, file))
}

/// How a forecast is made from bars that passed the data gate.
pub enum Maker<'a> {
    /// The trained model at the newest bar, shrunk toward the prior R1.
    Model(&'a model::Trained),
    /// `--predict-cmd CMD NONCE TOPIC BARS_CSV`.
    Hook {
        cmd: &'a str,
        nonce: i64,
        timeout: Duration,
    },
}

/// The one prediction pipeline of `predict` and the daemon: from gated
/// `bars`, the hook's value or the model's at the newest bar. Returns the
/// value and the raw model output (none for the hook).
pub fn forecast(c: &Config, bars: &[Bar], maker: Maker) -> Result<(f64, Option<f64>)> {
    match maker {
        Maker::Hook {
            cmd,
            nonce,
            timeout,
        } => {
            let path = c.data_dir.join("predict-cmd-bars.csv");
            atomic::write(&path, bars::to_csv(bars).as_bytes())?;
            Ok((
                predict_cmd::run(cmd, nonce, c.topic_id, &path, timeout)?,
                None,
            ))
        }
        Maker::Model(trained) => {
            let s = Series::from_bars(bars);
            let (raw, value) = trained.predict_at(&s, s.newest()?)?;
            Ok((value, Some(raw)))
        }
    }
}
