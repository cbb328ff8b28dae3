//! `allora-worker systemd-unit`: prints a systemd service unit for this
//! binary and the current configuration, or with `--supervisord` a
//! supervisord program section. Reads the binary's path and the working
//! directory (to make paths absolute); the text comes from
//! `logic::unit_file`. Prints no secret and derives no key.

use std::ffi::OsString;
use std::path::Path;

use lexopt::ValueExt;

use crate::cmd::{unexpected, Command, Ctx};
use crate::config::MnemonicSource;
use crate::error::{Error, Result};
use crate::logic::unit_file::{self, Deployment};

pub const COMMAND: Command = Command {
    name: "systemd-unit",
    summary: "print a systemd unit (or a supervisord section) for this binary",
    needs_wallet: false,
    usage: "Usage: allora-worker systemd-unit [--user NAME] [--watchdog-sec N] [--supervisord]\n\
            \x20      [--start-at TIME] [--stop-at TIME] [--metrics-file PATH]\n\n\
            Prints a unit for this binary's path: Type=notify, Restart=on-failure, the\n\
            mnemonic as the systemd credential `mnemonic` (from MNEMONIC_FILE, default\n\
            /etc/allora-worker/mnemonic), EnvironmentFile= from --env-file or ./.env\n\
            (default: the optional /etc/allora-worker/env).\n\n\
            Flags:\n\
            \x20 --user NAME       run as NAME with the configured data and log dirs\n\
            \x20                   (default: DynamicUser=yes, /var/lib/allora-worker and\n\
            \x20                   /var/log/allora-worker)\n\
            \x20 --watchdog-sec N  WatchdogSec= (default 300; at least twice\n\
            \x20                   ALLORA_CONNECT_TIMEOUT + ALLORA_READ_TIMEOUT)\n\
            \x20 --supervisord     print a supervisord [program:allora-worker] section instead\n\
            \x20 --start-at TIME, --stop-at TIME, --metrics-file PATH\n\
            \x20                   passed through to `run` (the metrics file's dir is made writable)\n",
    run,
};

/// The flags of `systemd-unit`.
#[derive(Default)]
struct Flags {
    user: Option<String>,
    watchdog_sec: Option<u32>,
    supervisord: bool,
    start_at: Option<String>,
    stop_at: Option<String>,
    metrics_file: Option<String>,
}

fn parse(args: Vec<OsString>) -> Result<Flags> {
    let mut f = Flags::default();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("user") => f.user = Some(parser.value()?.string()?),
            lexopt::Arg::Long("watchdog-sec") => {
                let v = parser.value()?.string()?;
                f.watchdog_sec = Some(v.parse().map_err(|_| {
                    Error::Usage(format!(
                        "--watchdog-sec {v:?} is not a whole number of seconds"
                    ))
                })?);
            }
            lexopt::Arg::Long("supervisord") => f.supervisord = true,
            lexopt::Arg::Long(flag @ ("start-at" | "stop-at")) => {
                let flag = format!("--{flag}");
                let t = crate::cmd::run::time_flag(parser.value()?, &flag)?;
                let text = crate::logic::human::rfc3339(t);
                if flag == "--start-at" {
                    f.start_at = Some(text);
                } else {
                    f.stop_at = Some(text);
                }
            }
            lexopt::Arg::Long("metrics-file") => {
                let path = std::path::PathBuf::from(parser.value()?);
                f.metrics_file = Some(absolute(&path, "--metrics-file")?);
            }
            other => return Err(unexpected(other, "systemd-unit")),
        }
    }
    Ok(f)
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let flags = parse(args)?;
    let supervisord = flags.supervisord;
    let deployment = deployment(ctx, flags)?;
    let text = if supervisord {
        unit_file::supervisord_program(&deployment)?
    } else {
        unit_file::systemd_unit(&deployment)?
    };
    print!("{text}");
    Ok(0)
}

/// The values the files are rendered from: absolute paths of this binary and
/// of the configured files and dirs.
fn deployment(ctx: &Ctx, flags: Flags) -> Result<Deployment> {
    let config = &ctx.config;
    let binary =
        std::env::current_exe().map_err(|e| Error::io("find the path of this binary", e))?;
    let own_dirs = flags.supervisord || flags.user.is_some();
    let (data_dir, log_dir) = if own_dirs {
        (
            absolute(&config.data_dir, "data dir")?,
            absolute(&config.log_dir, "log dir")?,
        )
    } else {
        (
            unit_file::STATE_DIR.to_string(),
            unit_file::LOGS_DIR.to_string(),
        )
    };
    let mnemonic_file = match &config.mnemonic {
        MnemonicSource::File(path) => absolute(path, "MNEMONIC_FILE")?,
        MnemonicSource::Inline(_) => {
            log::warn!(
                "MNEMONIC is set inline; the unit reads the mnemonic from {} instead",
                unit_file::DEFAULT_MNEMONIC_FILE
            );
            unit_file::DEFAULT_MNEMONIC_FILE.to_string()
        }
        MnemonicSource::Credential(_) | MnemonicSource::Missing => {
            unit_file::DEFAULT_MNEMONIC_FILE.to_string()
        }
    };
    let blocking = config.connect_timeout + config.read_timeout;
    Ok(Deployment {
        binary: absolute(&binary, "binary")?,
        env_file: match &config.env_file {
            Some(path) => Some(absolute(path, "--env-file")?),
            None => None,
        },
        data_dir,
        log_dir,
        user: flags.user,
        watchdog_sec: flags.watchdog_sec.unwrap_or(300),
        min_watchdog_sec: (2.0 * blocking.as_secs_f64()).ceil() as u32,
        start_at: flags.start_at,
        stop_at: flags.stop_at,
        metrics_file: flags.metrics_file,
        mnemonic_file,
    })
}

/// `path` made absolute against the working directory, as UTF-8 text.
fn absolute(path: &Path, what: &str) -> Result<String> {
    let abs = std::path::absolute(path)
        .map_err(|e| Error::io(format!("make {what} {} absolute", path.display()), e))?;
    abs.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Usage(format!("{what} {} is not valid UTF-8", abs.display())))
}
