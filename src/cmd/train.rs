//! `allora-worker train`: updates the bars (Tiingo with the cache, or
//! `--csv FILE` offline), applies the data gate, trains, validates against
//! the zero forecast, and saves the model file atomically. Also the shared
//! pieces `predict` and `backtest` use, and `bench_model` for `bench`.

use std::ffi::OsString;

use lexopt::ValueExt;
use std::path::PathBuf;
use std::time::Instant;

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::Result;
use crate::io::{clock, modelfile};
use crate::logic::bars::{format_time, Bar, Series};
use crate::logic::model::{self, Params, Spans};
use crate::logic::model_format::{self, ModelFile};

pub use crate::io::dataset::{gated_bars, need_hours, source, spans, train_at_newest};

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
    let path = modelfile::path(&c.data_dir, c.topic_id);
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
    let at = s.newest()?;
    let started = Instant::now();
    let t = model::train(&s, at, &spans, &Params::DEFAULT, 0)?;
    let train_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    t.predict_at(&s, at)?;
    let predict_us = started.elapsed().as_secs_f64() * 1e6;
    Ok((train_ms, predict_us))
}
