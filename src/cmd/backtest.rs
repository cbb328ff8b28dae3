//! `allora-worker backtest --csv FILE`: walk-forward backtest of the model
//! against the zero and trailing-mean forecasts on a bar file. Prints a
//! table, or one JSON object with `--json`. Reads a file; no network.

use std::ffi::OsString;

use lexopt::ValueExt;
use std::path::PathBuf;

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::market;
use crate::logic::backtest::{self, Setup};
use crate::logic::bars::{format_time, parse_time, Series};
use crate::logic::model::Params;
use crate::logic::synthetic::synthetic_bars;

pub const COMMAND: Command = Command {
    name: "backtest",
    summary: "walk-forward backtest of the model vs the zero forecast on a CSV of hourly bars",
    usage: "Usage: allora-worker backtest (--csv FILE | --synthetic SEED) [--from TIME] [--to TIME] [--step 24h] [--seed N] [--json]\n\n\
            Flags:\n  --csv FILE   hourly bars: timestamp,open,high,low,close,volume\n  \
            --from TIME  first forecast time, RFC 3339 (default: first with enough history)\n  \
            --to TIME    last forecast time (default: last whose target is known)\n  \
            --step DUR   hours between forecasts, e.g. 24h (default 24h)\n  \
            --seed N     model seed (default 0)\n  \
            --json       print one JSON object instead of a table\n  \
            --synthetic SEED  run on 4000 h of a seeded synthetic random walk instead (no signal:\n               \
            a sound model must not lose to the zero forecast there)\n",
    needs_wallet: false,
    run,
};

struct Flags {
    csv: Option<PathBuf>,
    from: Option<i64>,
    to: Option<i64>,
    step: usize,
    seed: u64,
    json: bool,
    synthetic: Option<u64>,
}

fn parse_flags(args: Vec<OsString>) -> Result<Flags> {
    let mut f = Flags {
        csv: None,
        from: None,
        to: None,
        step: 24,
        seed: 0,
        json: false,
        synthetic: None,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("csv") => f.csv = Some(parser.value()?.into()),
            lexopt::Arg::Long("from") => f.from = Some(time_flag("--from", parser.value()?)?),
            lexopt::Arg::Long("to") => f.to = Some(time_flag("--to", parser.value()?)?),
            lexopt::Arg::Long("step") => f.step = hours_flag("--step", parser.value()?)?,
            lexopt::Arg::Long("seed") => f.seed = parser.value()?.parse()?,
            lexopt::Arg::Long("json") => f.json = true,
            lexopt::Arg::Long("synthetic") => f.synthetic = Some(parser.value()?.parse()?),
            other => return Err(unexpected(other, "backtest")),
        }
    }
    Ok(f)
}

/// An RFC 3339 time flag.
pub fn time_flag(flag: &str, v: OsString) -> Result<i64> {
    let s = v.to_string_lossy();
    parse_time(&s).ok_or_else(|| {
        Error::Usage(format!(
            "{flag} {s:?} is not an RFC 3339 time such as 2025-09-05T23:00:00Z"
        ))
    })
}

/// A whole number of hours, with or without an `h` suffix.
pub fn hours_flag(flag: &str, v: OsString) -> Result<usize> {
    let s = v.to_string_lossy();
    match s.trim_end_matches('h').parse::<usize>() {
        Ok(h) if h > 0 => Ok(h),
        _ => Err(Error::Usage(format!(
            "{flag} {s:?} is not a number of hours such as 24h"
        ))),
    }
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let f = parse_flags(args)?;
    let (bars, csv) = match (f.synthetic, f.csv) {
        (Some(seed), None) => (
            synthetic_bars(seed, 480_000, 4000),
            PathBuf::from("synthetic"),
        ),
        (None, Some(csv)) => (market::read_csv(&csv)?, csv),
        _ => {
            return Err(Error::Usage(
                "backtest: give --csv FILE (or --synthetic SEED for a random walk)".into(),
            ))
        }
    };
    let s = Series::from_bars(&bars);
    let spans = super::train::spans(&ctx.config);
    let (first, last) = backtest::default_range(&s, &spans).ok_or_else(|| {
        Error::Data(format!(
            "{}: {} hourly bars are not enough for a backtest: it needs at least {} \
             (training, validation, features and one {} h target)",
            csv.display(),
            s.close.len(),
            backtest::min_bars(&spans),
            spans.horizon
        ))
    })?;
    let pick = |t: Option<i64>, default: usize, flag: &str| -> Result<usize> {
        let Some(t) = t else { return Ok(default) };
        match s
            .index_at(t)
            .filter(|i| (first..=last).contains(i) && s.time(*i) == t)
        {
            Some(i) => Ok(i),
            None => Err(Error::Usage(format!(
                "{flag} {} is outside {} .. {} (enough history, target known)",
                format_time(t),
                format_time(s.time(first)),
                format_time(s.time(last))
            ))),
        }
    };
    let from = pick(f.from, first, "--from")?;
    let to = pick(f.to, last, "--to")?;
    let params = Params::DEFAULT;
    let setup = Setup {
        spans,
        params,
        seed: f.seed,
        step_hours: f.step,
    };
    log::info!(
        "backtest {} .. {} every {} h on {}",
        format_time(s.time(from)),
        format_time(s.time(to)),
        f.step,
        csv.display()
    );
    let report = backtest::run(&s, from, to, &setup)?;
    if f.json {
        println!("{}", backtest::to_json(&report));
    } else {
        print!("{}", backtest::to_table(&report));
    }
    Ok(0)
}
