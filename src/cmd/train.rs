//! `allora-worker train`: updates the bars (Tiingo with the cache, or
//! `--csv FILE` offline), applies the data gate, trains, validates against
//! the zero forecast, and saves the model file atomically. Also the shared
//! pieces `predict` and `backtest` use, and `bench_model` for `bench`.

use std::ffi::OsString;

use lexopt::ValueExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cmd::{unexpected, Command, Ctx};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::{clock, market, modelfile};
use crate::logic::bars::{self, format_time, Bar, Series};
use crate::logic::features::LOOKBACK;
use crate::logic::model::{self, Params, Spans};
use crate::logic::model_format::{self, ModelFile};

pub const COMMAND: Command = Command {
    name: "train",
    summary: "update market data, train and validate the model, save it",
    usage: "Usage: allora-worker train [--csv FILE] [--at TIME] [--seed N] [--trained-at TIME] [--json]\n\n\
            Flags:\n  --csv FILE   train on a CSV of hourly bars instead of Tiingo\n  \
            --at TIME    train as of this RFC 3339 time (default: the newest bar)\n  \
            --seed N     model seed (default 0)\n  \
            --trained-at TIME  the trained-at time written into the model file (default: now;\n               \
            pinning it makes the file byte-identical for the same bars and seed)\n  \
            --json       print the model file instead of a summary\n",
    needs_wallet: false,
    run,
};

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
    let at = s
        .close
        .len()
        .checked_sub(1)
        .ok_or_else(|| Error::Data("no bars".into()))?;
    let t = model::train(&s, at, &spans(c), &Params::DEFAULT, seed)?;
    let file = model_format::describe(&t, &s, at, &c.ticker, trained_at)?;
    Ok((t, file))
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let (mut csv, mut at, mut seed, mut json, mut trained_at) = (None, None, 0u64, false, None);
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("csv") => csv = Some(PathBuf::from(parser.value()?)),
            lexopt::Arg::Long("at") => {
                at = Some(super::backtest::time_flag("--at", parser.value()?)?)
            }
            lexopt::Arg::Long("seed") => seed = parser.value()?.parse()?,
            lexopt::Arg::Long("json") => json = true,
            lexopt::Arg::Long("trained-at") => {
                trained_at = Some(super::backtest::time_flag("--trained-at", parser.value()?)?)
            }
            other => return Err(unexpected(other, "train")),
        }
    }
    let c = &ctx.config;
    let (bars, _) = gated_bars(c, csv, at)?;
    let trained_at = trained_at.unwrap_or_else(|| clock::now_utc().unix_timestamp());
    let (_, file) = train_at_newest(c, &bars, seed, trained_at)?;
    let path = modelfile::path(&c.data_dir);
    modelfile::save(&path, &file)?;
    log::info!(
        "saved model {} (newest row {})",
        path.display(),
        format_time(file.at)
    );
    if json {
        print!("{}", model_format::encode(&file));
    } else {
        print!("{}", summary(&file, &path));
    }
    Ok(0)
}

/// The human summary of a model file.
pub fn summary(m: &ModelFile, path: &std::path::Path) -> String {
    let v = &m.validation;
    format!(
        "model     {}\ntrained   on rows {} .. {} (seed {}, {} trees, depth {}, lr {})\n\
         shrink    {:.4} (cap {})\n\
         validation ({} h)   rmse      mae\n  model             {:.5}  {:.5}\n  zero              {:.5}  {:.5}\n\
         forecast  {} at {} (raw {})\n",
        path.display(),
        format_time(m.first_row),
        format_time(m.last_row),
        m.seed,
        m.params.n_trees,
        m.params.max_depth,
        m.params.learning_rate,
        m.shrink,
        m.params.shrink_cap,
        v.points,
        v.model_rmse,
        v.model_mae,
        v.zero_rmse,
        v.zero_mae,
        m.newest_prediction,
        format_time(m.at),
        m.newest_raw,
    )
}

/// For `bench`: (milliseconds to train on 672 rows, microseconds to predict
/// one row) on `bars` (at least 1 009 hourly bars; the newest are used).
pub fn bench_model(bars: &[Bar]) -> Result<(f64, f64)> {
    let spans = Spans {
        horizon: 168,
        train: 504,
        validation: 168,
    };
    let s = Series::from_bars(bars);
    let at = s
        .close
        .len()
        .checked_sub(1)
        .ok_or_else(|| Error::Data("no bars".into()))?;
    let started = Instant::now();
    let t = model::train(&s, at, &spans, &Params::DEFAULT, 0)?;
    let train_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    t.predict_at(&s, at)?;
    let predict_us = started.elapsed().as_secs_f64() * 1e6;
    Ok((train_ms, predict_us))
}
