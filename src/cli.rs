//! The command line: global flags (accepted before or after the subcommand),
//! subcommand dispatch, `--help` and `--version`, and the mapping of errors
//! to exit codes (2 for usage and configuration, 1 for failures).
//!
//! stdout carries only a command's own output; every message goes to stderr
//! (and, once logging is up, to the log file).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cmd::{self, Ctx};
use crate::config::{GlobalFlags, KEYS};
use crate::error::{Error, Result};
use crate::io::{logging, settings};
use crate::logic::rotation::Policy;

/// The parsed command line before the subcommand sees its own flags.
#[derive(Debug, Default, PartialEq)]
pub struct Invocation {
    pub flags: GlobalFlags,
    pub command: Option<String>,
    pub rest: Vec<OsString>,
    pub help: bool,
    pub version: bool,
}

/// Takes the global flags out of `args` wherever they stand.
pub fn split(args: Vec<OsString>) -> Result<Invocation> {
    let mut inv = Invocation::default();
    let mut it = args.into_iter();
    let path_value =
        |it: &mut std::vec::IntoIter<OsString>, inline: Option<&str>, flag: &str| match inline {
            Some(v) => Ok(PathBuf::from(v)),
            None => it
                .next()
                .map(PathBuf::from)
                .ok_or_else(|| Error::Usage(format!("{flag} needs a value"))),
        };
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy().into_owned();
        let (name, inline) = match s.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (s.clone(), None),
        };
        match name.as_str() {
            "--env-file" => {
                inv.flags.env_file = Some(path_value(&mut it, inline.as_deref(), "--env-file")?)
            }
            "--log-dir" => {
                inv.flags.log_dir = Some(path_value(&mut it, inline.as_deref(), "--log-dir")?)
            }
            "--data-dir" => {
                inv.flags.data_dir = Some(path_value(&mut it, inline.as_deref(), "--data-dir")?)
            }
            "--debug" => inv.flags.debug = true,
            "--insecure-key-file" => inv.flags.insecure_key_file = true,
            "-h" | "--help" => inv.help = true,
            "-V" | "--version" => inv.version = true,
            _ if inv.command.is_none() && !s.starts_with('-') => inv.command = Some(s),
            _ if inv.command.is_none() => return Err(Error::Usage(format!("unknown flag {s}"))),
            _ => inv.rest.push(arg),
        }
    }
    Ok(inv)
}

/// The commands that write `worker.log` and `events.jsonl`; every other
/// command logs to stderr only.
const WRITES_LOGS: &[&str] = &["run", "once"];

/// Runs the program with `args` (without the program name); returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let inv = match split(args) {
        Ok(inv) => inv,
        Err(e) => return usage_error(&e),
    };
    if inv.version {
        println!("allora-worker {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(name) = inv.command.as_deref() else {
        print!("{}", program_help());
        return if inv.help { 0 } else { 2 };
    };
    let Some(command) = cmd::find(name) else {
        return usage_error(&Error::Usage(format!(
            "unknown subcommand {name} (see allora-worker --help)"
        )));
    };
    if inv.help {
        print!("{}", command_help(command));
        return 0;
    }
    let config = match settings::load(&inv.flags) {
        Ok(c) => c,
        Err(e) if WRITES_LOGS.contains(&name) => return refused_start(name, &inv, &e),
        Err(e) => return usage_error(&e),
    };
    let ctx = Ctx::new(config);
    let writes_logs = WRITES_LOGS.contains(&name);
    if command.needs_wallet && !writes_logs {
        if let Err(e) = ctx.wallet() {
            return usage_error(&e);
        }
    }
    // Bad flags of run/once are usage errors: nothing written.
    if writes_logs {
        if let Err(e) = cmd::run::parse(inv.rest.clone(), name) {
            return usage_error(&e);
        }
    }
    start_logging(&ctx.config, name);
    log::debug!(
        "{} {} starting with data dir {}",
        name,
        env!("CARGO_PKG_VERSION"),
        ctx.config.data_dir.display()
    );
    let result = match ctx.wallet() {
        Err(e) if command.needs_wallet => Err(e),
        _ => (command.run)(&ctx, inv.rest),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            log::error!("{name}: {e}");
            if writes_logs {
                // A detached (nohup) user looks in worker.log and status.
                cmd::run::record_start_failure(&ctx.config.data_dir, &e);
            }
            e.exit_code()
        }
    }
}

/// Logging for a command: `run` and `once` write the log files (not
/// `worker.log` when stderr is the journal), `register` its event, the
/// others stderr only.
fn start_logging(config: &crate::config::Config, name: &str) {
    use crate::config::LogFile;
    let policy = Policy {
        max_bytes: config.log_max_bytes,
        backups: config.log_backups,
    };
    let files = if name == "register" {
        logging::Files::Events(&config.log_dir)
    } else if !WRITES_LOGS.contains(&name) {
        logging::Files::None
    } else {
        let worker_log = match config.log_file {
            LogFile::Always => true,
            LogFile::Never => false,
            LogFile::Auto => !logging::stderr_is_journal(),
        };
        if worker_log {
            logging::Files::Both(&config.log_dir)
        } else {
            logging::Files::Events(&config.log_dir)
        }
    };
    logging::init(files, policy, config.debug);
    for warning in &config.warnings {
        log::warn!("WARNING {warning}");
    }
}

/// `run`/`once` with a configuration that is refused: one stderr line and
/// (unless its flags are bad too) the reason in `worker.log` and
/// `status.json` of the dirs as far as they can be told.
fn refused_start(name: &str, inv: &Invocation, e: &Error) -> i32 {
    if cmd::run::parse(inv.rest.clone(), name).is_err() {
        return usage_error(e);
    }
    let (data_dir, log_dir) = settings::fallback_dirs(&inv.flags);
    let policy = Policy {
        max_bytes: 50 << 20,
        backups: 5,
    };
    logging::init(logging::Files::Both(&log_dir), policy, false);
    log::error!("{name}: {e}");
    cmd::run::record_start_failure(&data_dir, e);
    e.exit_code().max(1)
}

fn usage_error(e: &Error) -> i32 {
    eprintln!("allora-worker: {e}");
    e.exit_code().max(1)
}

const GLOBAL_FLAGS: &str = "\
Global flags (before or after the subcommand):
  --env-file PATH       read KEY=VALUE settings from PATH (default: ./.env when present)
  --log-dir DIR         directory for worker.log and events.jsonl (ALLORA_LOG_DIR, default ./logs)
  --data-dir DIR        directory for the ledger, model, caches (ALLORA_DATA_DIR, default ./data)
  --debug               log at debug level
  --insecure-key-file   accept a MNEMONIC_FILE readable by group or others
  -h, --help            print help
  -V, --version         print the version
";

fn environment_help() -> String {
    let mut s =
        String::from("Environment (the env file, then the environment, then flags; later wins):\n");
    for (key, default, meaning) in KEYS {
        s.push_str(&format!("  {key:<22} {meaning} [default: {default}]\n"));
    }
    s
}

fn program_help() -> String {
    let mut s = format!(
        "allora-worker {}: an Allora network worker (topic 67, BTC/USD 7-day log-return)\n\n\
         Usage: allora-worker [FLAGS] <SUBCOMMAND> [ARGS]\n\nSubcommands:\n",
        env!("CARGO_PKG_VERSION")
    );
    for c in cmd::COMMANDS {
        s.push_str(&format!("  {:<10} {}\n", c.name, c.summary));
    }
    s.push_str("\nRun allora-worker <SUBCOMMAND> --help for its flags.\n\n");
    s.push_str(GLOBAL_FLAGS);
    s.push('\n');
    s.push_str(&environment_help());
    s
}

fn command_help(c: &cmd::Command) -> String {
    format!(
        "allora-worker {}: {}\n\n{}\n{}\n{}",
        c.name,
        c.summary,
        c.usage,
        GLOBAL_FLAGS,
        environment_help()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn global_flags_anywhere() {
        let inv = split(args(&[
            "--debug",
            "sign",
            "--topic",
            "67",
            "--log-dir",
            "/l",
            "--data-dir=/d",
        ]))
        .unwrap();
        assert!(inv.flags.debug);
        assert_eq!(inv.command.as_deref(), Some("sign"));
        assert_eq!(inv.rest, args(&["--topic", "67"]));
        assert_eq!(inv.flags.log_dir, Some("/l".into()));
        assert_eq!(inv.flags.data_dir, Some("/d".into()));
        assert!(split(args(&["--nope", "wallet"]))
            .unwrap_err()
            .to_string()
            .contains("--nope"));
        assert!(split(args(&["wallet", "--env-file"])).is_err());
        assert!(split(args(&["wallet", "-h"])).unwrap().help);
    }
}
