//! `allora-worker evaluate FILE`: scores predictions made anywhere (a
//! notebook, another worker, `--predict-cmd`) the way the network does:
//! reputer CZAR and its log10, ZPTAE, RMSE and the seven Forge gates.
//! Missing truths and stds come from the bars (`--csv BARS` or the
//! configured source); with neither a std column nor bars, the losses that
//! need a std are null.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::ValueExt;

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::{clock, dataset, market};
use crate::logic::bars::{Series, HOUR};
use crate::logic::evaluate::{self, Loss, Settings};
use crate::logic::scoring::STD_MAX_HOURS;

pub const COMMAND: Command = Command {
    name: "evaluate",
    summary: "score a CSV of predictions with the network's losses and the seven Forge gates",
    usage: "Usage: allora-worker evaluate FILE [--csv BARS] [--horizon-minutes M] [--gt-ratio R]\n\
            \x20      [--epoch-minutes M] [--participation SUBMITTED/EXPECTED] [--loss czar|zptae|both]\n\
            \x20      [--against-zero] [--json]\n\n\
            FILE is CSV with a header: timestamp,prediction and optional truth and std columns\n\
            (timestamps RFC 3339 or unix seconds, increasing; `nan` is masked per metric).\n\n\
            Flags:\n  --csv BARS            hourly bars for missing truths and stds (default: the configured source)\n  \
            --horizon-minutes M   forecast horizon (default: TARGET_HOURS × 60)\n  \
            --gt-ratio R          ground-truth lag over epoch length (default: horizon / epoch)\n  \
            --epoch-minutes M     unit of the lags between rows (default: the smallest gap)\n  \
            --participation S/E   submitted and expected nonces (default: rows / epochs spanned)\n  \
            --loss KIND           czar, zptae or both (default both)\n  \
            --against-zero        also score the zero forecast (under \"zero\" in --json)\n  \
            --json                print one JSON object\n",
    needs_wallet: false,
    run,
};

struct Flags {
    file: Option<PathBuf>,
    csv: Option<PathBuf>,
    horizon_minutes: Option<f64>,
    settings: Settings,
    json: bool,
}

fn number(flag: &str, v: OsString) -> Result<f64> {
    let s = v.to_string_lossy();
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(Error::Usage(format!(
            "{flag} {s:?} is not a positive number"
        ))),
    }
}

fn participation(v: OsString) -> Result<(f64, f64)> {
    let s = v.to_string_lossy();
    let parsed = s
        .split_once('/')
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)));
    match parsed {
        Some((a, b)) if b > 0 => Ok((a as f64, b as f64)),
        _ => Err(Error::Usage(format!(
            "--participation {s:?} is not SUBMITTED/EXPECTED such as 37/40"
        ))),
    }
}

fn loss(v: OsString) -> Result<Loss> {
    match v.to_string_lossy().as_ref() {
        "czar" => Ok(Loss::Czar),
        "zptae" => Ok(Loss::Zptae),
        "both" => Ok(Loss::Both),
        other => Err(Error::Usage(format!(
            "--loss {other:?} is not czar, zptae or both"
        ))),
    }
}

fn parse_flags(args: Vec<OsString>) -> Result<Flags> {
    let mut f = Flags {
        file: None,
        csv: None,
        horizon_minutes: None,
        settings: Settings {
            horizon_minutes: 0.0,
            gt_ratio: None,
            epoch_minutes: None,
            participation: None,
            loss: Loss::Both,
            against_zero: false,
        },
        json: false,
    };
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("csv") => f.csv = Some(parser.value()?.into()),
            lexopt::Arg::Long("horizon-minutes") => {
                f.horizon_minutes = Some(number("--horizon-minutes", parser.value()?)?)
            }
            lexopt::Arg::Long("gt-ratio") => f.settings.gt_ratio = Some(parser.value()?.parse()?),
            lexopt::Arg::Long("epoch-minutes") => {
                f.settings.epoch_minutes = Some(number("--epoch-minutes", parser.value()?)?)
            }
            lexopt::Arg::Long("participation") => {
                f.settings.participation = Some(participation(parser.value()?)?)
            }
            lexopt::Arg::Long("loss") => f.settings.loss = loss(parser.value()?)?,
            lexopt::Arg::Long("against-zero") => f.settings.against_zero = true,
            lexopt::Arg::Long("json") => f.json = true,
            lexopt::Arg::Value(v) if f.file.is_none() => f.file = Some(v.into()),
            other => return Err(unexpected(other, "evaluate")),
        }
    }
    Ok(f)
}

/// Bars for the rows' truths and stds: the `--csv` file, else the
/// configured Tiingo source when it has a key, else none.
fn bars(
    ctx: &Ctx,
    csv: Option<PathBuf>,
    first: i64,
    horizon_hours: usize,
) -> Result<Option<Series>> {
    let c = &ctx.config;
    if csv.is_none() && c.tiingo_api_key.is_none() {
        log::warn!("evaluate: no --csv and no TIINGO_API_KEY: no bars for missing truths or stds");
        return Ok(None);
    }
    let now = clock::now_utc().unix_timestamp();
    let need = (now - first) / HOUR + (STD_MAX_HOURS + horizon_hours) as i64;
    let bars = market::load(&dataset::source(c, csv), &c.data_dir, now, need)?;
    Ok(Some(Series::from_bars(&bars)))
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut f = parse_flags(args)?;
    let Some(file) = f.file.take() else {
        return Err(Error::Usage("evaluate: give the predictions FILE".into()));
    };
    let horizon_minutes = f
        .horizon_minutes
        .unwrap_or(ctx.config.target_hours as f64 * 60.0);
    f.settings.horizon_minutes = horizon_minutes;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Error::io(format!("read {}", file.display()), e))?;
    let source = file.display().to_string();
    let mut rows = evaluate::parse_rows(&text, &source)?;
    let horizon_hours = (horizon_minutes / 60.0).round().max(1.0) as usize;
    let series = if evaluate::needs_bars(&rows) {
        bars(ctx, f.csv.take(), rows[0].t, horizon_hours)?
    } else {
        None
    };
    evaluate::fill(&mut rows, series.as_ref(), horizon_hours, &source)?;
    let e = evaluate::evaluate(&rows, &f.settings)?;
    if f.json {
        println!("{}", evaluate::to_json(&e));
    } else {
        print!("{}", evaluate::to_table(&e));
    }
    Ok(0)
}
