//! `allora-worker predict`: the forecast for now (or `--at TIME`) with the
//! model and data it used; no chain access. Uses the saved model when it
//! was trained on the same newest bar (retrained and checked bit for bit),
//! otherwise trains afresh. `--predict-cmd CMD` asks an external program
//! instead. When prediction is impossible the reason is the error, unless
//! `--fallback-value X` was given explicitly.

use std::ffi::OsString;

use lexopt::ValueExt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::cmd::{unexpected, Command, Ctx};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::dataset::{self, Maker};
use crate::io::{clock, modelfile};
use crate::logic::bars::{format_time, Series};
use crate::logic::{model, model_format};

pub const COMMAND: Command = Command {
    name: "predict",
    summary: "print the forecast for now or --at TIME (no chain access)",
    usage: "Usage: allora-worker predict [--csv FILE] [--at TIME] [--seed N] [--json]\n\
            \x20      [--predict-cmd CMD [--nonce N] [--timeout SECS]] [--fallback-value X]\n\n\
            Flags:\n  --csv FILE          hourly bars from a CSV instead of Tiingo\n  \
            --at TIME           forecast as of this RFC 3339 time (default: now)\n  \
            --seed N            model seed when training afresh (default: the saved model's, else 0)\n  \
            --predict-cmd CMD   run `CMD NONCE TOPIC BARS_CSV`, read one decimal from its stdout\n  \
            --nonce N           nonce passed to --predict-cmd (default 0)\n  \
            --timeout SECS      --predict-cmd time limit (default 30)\n  \
            --fallback-value X  print X (and the reason on stderr) when no forecast is possible\n  \
            --json              print one JSON object\n",
    needs_wallet: false,
    run,
};

/// What `predict` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub csv: Option<PathBuf>,
    pub at: Option<i64>,
    pub seed: Option<u64>,
    pub predict_cmd: Option<String>,
    pub nonce: i64,
    pub timeout_secs: u64,
}

/// A forecast and what it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub value: f64,
    /// "model (saved, verified)", "model (trained now)" or "predict-cmd".
    pub source: String,
    pub at: i64,
    pub bars: usize,
    pub first_bar: i64,
    pub detail: serde_json::Value,
}

/// Makes one forecast (data gate, then the model or the hook).
pub fn forecast(c: &Config, o: &Options) -> Result<Forecast> {
    let (bars, _) = super::train::gated_bars(c, o.csv.clone(), o.at)?;
    let (first_bar, at_t) = match (bars.first(), bars.last()) {
        (Some(f), Some(l)) => (f.t, l.t),
        _ => return Err(Error::Data("no bars".into())),
    };
    let mut f = Forecast {
        value: 0.0,
        source: String::new(),
        at: at_t,
        bars: bars.len(),
        first_bar,
        detail: json!({}),
    };
    if let Some(cmd) = &o.predict_cmd {
        let timeout = Duration::from_secs(o.timeout_secs.max(1));
        let hook = Maker::Hook {
            cmd,
            nonce: o.nonce,
            timeout,
        };
        f.value = dataset::forecast(c, &bars, hook)?.0;
        f.source = "predict-cmd".into();
        return Ok(f);
    }
    let s = Series::from_bars(&bars);
    let saved = modelfile::load(&modelfile::path(&c.data_dir, c.topic_id))?;
    let (trained, source) = match &saved {
        Some(m) if m.at == at_t && o.seed.is_none_or(|s| s == m.seed) => {
            (model_format::reproduce(m, &s)?, "model (saved, verified)")
        }
        _ => {
            let seed = o.seed.or(saved.as_ref().map(|m| m.seed)).unwrap_or(0);
            let at = s.newest()?;
            (
                model::train(
                    &s,
                    at,
                    &super::train::spans(c),
                    &model::Params::DEFAULT,
                    seed,
                )?,
                "model (trained now)",
            )
        }
    };
    let (value, raw) = dataset::forecast(c, &bars, Maker::Model(&trained))?;
    f.value = value;
    f.source = source.into();
    f.detail = json!({"raw": raw, "shrink": trained.shrink, "seed": trained.seed,
        "train_rows": {"first": format_time(s.time(trained.first)), "last": format_time(s.time(trained.last))},
        "validation": {"model_rmse": trained.validation.model_rmse, "zero_rmse": trained.validation.zero_rmse}});
    Ok(f)
}

fn parse(args: Vec<OsString>) -> Result<(Options, Option<f64>, bool)> {
    let mut o = Options {
        timeout_secs: 30,
        ..Options::default()
    };
    let (mut fallback, mut json) = (None, false);
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Long("csv") => o.csv = Some(PathBuf::from(p.value()?)),
            lexopt::Arg::Long("at") => {
                let at = super::backtest::time_flag("--at", p.value()?)?;
                let now = crate::io::clock::now_utc().unix_timestamp();
                if at > now {
                    return Err(Error::Usage(format!(
                        "--at {} is in the future; a forecast can only use bars up to now",
                        crate::logic::bars::format_time(at)
                    )));
                }
                o.at = Some(at);
            }
            lexopt::Arg::Long("seed") => o.seed = Some(p.value()?.parse()?),
            lexopt::Arg::Long("predict-cmd") => {
                o.predict_cmd = Some(p.value()?.to_string_lossy().into_owned())
            }
            lexopt::Arg::Long("nonce") => o.nonce = p.value()?.parse()?,
            lexopt::Arg::Long("timeout") => o.timeout_secs = p.value()?.parse()?,
            lexopt::Arg::Long("fallback-value") => {
                let v: f64 = p.value()?.parse()?;
                if !v.is_finite() {
                    return Err(Error::Usage(format!("--fallback-value {v} is not finite")));
                }
                fallback = Some(v);
            }
            lexopt::Arg::Long("json") => json = true,
            other => return Err(unexpected(other, "predict")),
        }
    }
    Ok((o, fallback, json))
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let (o, fallback, as_json) = parse(args)?;
    let f = match (forecast(&ctx.config, &o), fallback) {
        (Ok(f), _) => f,
        (Err(e), Some(v)) => {
            log::warn!("no forecast ({e}); printing --fallback-value {v}");
            let at = o.at.unwrap_or_else(|| clock::now_utc().unix_timestamp());
            Forecast {
                value: v,
                source: "fallback".into(),
                at,
                bars: 0,
                first_bar: at,
                detail: json!({"reason": e.to_string()}),
            }
        }
        (Err(e), None) => return Err(e),
    };
    log::info!(
        "forecast {} at {} from {}",
        f.value,
        format_time(f.at),
        f.source
    );
    if as_json {
        println!(
            "{}",
            json!({"prediction": f.value, "at": format_time(f.at), "source": f.source,
            "data": {"bars": f.bars, "first": format_time(f.first_bar), "last": format_time(f.at)},
            "model": f.detail})
        );
    } else {
        println!(
            "prediction {}\nat         {}\nsource     {}\ndata       {} bars, {} .. {}\nmodel      {}",
            f.value,
            format_time(f.at),
            f.source,
            f.bars,
            format_time(f.first_bar),
            format_time(f.at),
            f.detail
        );
    }
    Ok(0)
}
