//! `allora-worker run` (the daemon) and `allora-worker once` (serve what is
//! open now, then exit; for cron). Both parse the same flags into
//! `agent::Options`, install the signal handler and hand over to `agent`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lexopt::ValueExt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::agent::{self, Options};
use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::signals;
use crate::logic::counters::Counters;
use crate::logic::human;

/// The flags only the daemon takes (`once` refuses them).
const DAEMON_ONLY: &[&str] = &[
    "poll-interval",
    "start-at",
    "stop-at",
    "heartbeat",
    "retrain",
];

macro_rules! daemon_flags {
    () => {
        "  --poll-interval SECS   poll unfulfilled nonces this often (default 120)\n  \
         --start-at TIME        wait until this RFC 3339 time before starting\n  \
         --stop-at TIME         shut down cleanly at this RFC 3339 time (exit 0)\n  \
         --heartbeat SECS       heartbeat interval (default 3600)\n  \
         --retrain SECS         retrain interval (default 21600)\n"
    };
}

macro_rules! flags {
    () => {
        "  --metrics-file PATH    write Prometheus text metrics here (node_exporter textfile collector)\n  \
         --fallback-value X     submit X when no forecast is possible (default: skip the window)\n  \
         --predict-cmd CMD      run `CMD NONCE TOPIC BARS_CSV` and submit the one decimal it prints\n  \
         --predict-timeout SECS time limit for --predict-cmd (default 30)\n  \
         --csv FILE             hourly bars from a CSV file instead of Tiingo\n  \
         --seed N               model seed (default 0)\n"
    };
}

pub const COMMAND: Command = Command {
    name: "run",
    summary: "run the worker: serve every submission window until stopped",
    needs_wallet: true,
    usage: concat!(
        "Usage: allora-worker run [FLAGS]\n\n",
        "Runs until SIGTERM/SIGINT (a second one exits at once) or --stop-at.\n\n",
        "Flags:\n",
        daemon_flags!(),
        flags!()
    ),
    run: run_daemon,
};

pub const ONCE: Command = Command {
    name: "once",
    summary: "serve every open window once and exit (for cron; exit 1 on error)",
    needs_wallet: true,
    usage: concat!(
        "Usage: allora-worker once [FLAGS]\n\n",
        "Serves every open window once and exits: 0 when it submitted or had nothing to do, 1 on error.\n\n",
        "Flags:\n",
        flags!()
    ),
    run: run_once,
};

/// Parses the daemon flags.
pub fn parse(args: Vec<OsString>, name: &str) -> Result<Options> {
    let mut o = Options::default();
    let mut p = lexopt::Parser::from_args(args);
    let secs = |v: OsString, flag: &str| -> Result<Duration> {
        let s = v.string()?;
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(Duration::from_secs_f64(x)),
            _ => Err(Error::Usage(format!(
                "{flag} {s:?} is not a positive number of seconds"
            ))),
        }
    };
    while let Some(arg) = p.next()? {
        if let lexopt::Arg::Long(flag) = arg {
            if name == "once" && DAEMON_ONLY.contains(&flag) {
                return Err(Error::Usage(format!(
                    "once: --{flag} is a flag of run, not of once"
                )));
            }
        }
        match arg {
            lexopt::Arg::Long("poll-interval") => {
                o.poll_interval = secs(p.value()?, "--poll-interval")?
            }
            lexopt::Arg::Long("heartbeat") => o.heartbeat = secs(p.value()?, "--heartbeat")?,
            lexopt::Arg::Long("retrain") => o.retrain = secs(p.value()?, "--retrain")?,
            lexopt::Arg::Long("predict-timeout") => {
                o.predict_timeout = secs(p.value()?, "--predict-timeout")?
            }
            lexopt::Arg::Long("start-at") => {
                o.start_at = Some(time_flag(p.value()?, "--start-at")?)
            }
            lexopt::Arg::Long("stop-at") => o.stop_at = Some(time_flag(p.value()?, "--stop-at")?),
            lexopt::Arg::Long("metrics-file") => o.metrics_file = Some(PathBuf::from(p.value()?)),
            lexopt::Arg::Long("csv") => o.csv = Some(PathBuf::from(p.value()?)),
            lexopt::Arg::Long("predict-cmd") => o.predict_cmd = Some(p.value()?.string()?),
            lexopt::Arg::Long("seed") => o.seed = p.value()?.parse()?,
            lexopt::Arg::Long("fallback-value") => {
                let s = p.value()?.string()?;
                let v: f64 = s
                    .parse()
                    .map_err(|_| Error::Usage(format!("--fallback-value {s:?} is not a number")))?;
                crate::logic::decimal::canonical(v)
                    .map_err(|e| Error::Usage(format!("--fallback-value {s:?}: {e}")))?;
                o.fallback_value = Some(v);
            }
            other => return Err(unexpected(other, name)),
        }
    }
    if let (Some(start), Some(stop)) = (o.start_at, o.stop_at) {
        if start >= stop {
            return Err(Error::Usage(format!(
                "--start-at {} is not before --stop-at {}",
                human::rfc3339(start),
                human::rfc3339(stop)
            )));
        }
    }
    Ok(o)
}

pub fn time_flag(v: OsString, flag: &str) -> Result<OffsetDateTime> {
    let s = v.string()?;
    OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| {
        Error::Usage(format!(
            "{flag} {s:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"
        ))
    })
}

/// Records why `run` or `once` could not start in `status.json`, so
/// `status` says "not running — last start failed at T: reason". Not when
/// another worker runs: its status.json is its own.
pub fn record_start_failure(data_dir: &Path, e: &Error) {
    if matches!(e, Error::Running(_)) {
        return;
    }
    let path = data_dir.join("status.json");
    let previous = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let now = crate::io::clock::now_utc().unix_timestamp();
    let doc = Counters::start_failure_json(previous, now, &e.to_string());
    let written = std::fs::create_dir_all(data_dir)
        .map_err(|e| Error::io(format!("create {}", data_dir.display()), e))
        .and_then(|()| crate::io::atomic::write(&path, format!("{doc:#}\n").as_bytes()));
    if let Err(e) = written {
        log::warn!("WARNING could not record the failed start: {e}");
    }
}

/// Refuses an unreadable or invalid `--csv` at start, naming the line,
/// rather than missing every window as `no_data`.
fn check_csv(opts: &Options) -> Result<()> {
    let Some(path) = &opts.csv else {
        return Ok(());
    };
    match crate::io::market::read_csv(path) {
        Ok(_) => Ok(()),
        Err(Error::Data(why)) => Err(Error::Usage(format!("--csv {why}"))),
        Err(e) => Err(Error::Usage(format!("--csv {}: {e}", path.display()))),
    }
}

fn run_daemon(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let opts = parse(args, "run")?;
    check_csv(&opts)?;
    let hup_ignored = signals::install()?;
    if hup_ignored {
        log::info!(
            "SIGHUP is ignored (nohup): the worker keeps running when the terminal goes away"
        );
    }
    agent::run(&ctx.config, ctx.wallet()?, opts)?;
    Ok(0)
}

fn run_once(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut opts = parse(args, "once")?;
    opts.once = true;
    check_csv(&opts)?;
    signals::install()?;
    let summary = agent::run(&ctx.config, ctx.wallet()?, opts)?;
    let c = &summary.counters;
    println!(
        "{}",
        serde_json::json!({"windows_seen": c.windows_seen, "submitted": c.submitted,
            "missed": c.missed_total(), "nonces": summary.nonces})
    );
    let failed = summary.errors > 0
        || summary
            .topics
            .values()
            .any(|t| t.nonces.values().any(|how| how.starts_with("missed")));
    Ok(if failed { 1 } else { 0 })
}
