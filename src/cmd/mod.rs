//! Subcommands: one file each, all listed in `COMMANDS`. A subcommand parses
//! its own flags (lexopt), does its work through `io` and `logic`, prints its
//! result on stdout and returns an exit code.

use std::cell::OnceCell;
use std::ffi::OsString;

use crate::config::Config;
use crate::error::Result;
use crate::io::settings;
use crate::logic::wallet::Wallet;

pub mod backtest;
pub mod bench;
mod bench_topics;
pub mod check;
pub mod demo;
pub mod devnet;
pub mod evaluate;
pub mod predict;
pub mod register;
pub mod run;
pub mod sign;
pub mod status;
pub mod stop;
pub mod systemd_unit;
pub mod train;
pub mod wallet;

/// What a subcommand gets: the validated configuration and, on demand, the key.
pub struct Ctx {
    pub config: Config,
    wallet: OnceCell<Wallet>,
}

impl Ctx {
    /// A context for `config`; the wallet is derived on first use.
    pub fn new(config: Config) -> Ctx {
        Ctx {
            config,
            wallet: OnceCell::new(),
        }
    }

    /// The worker's key from the configured mnemonic source (derived once).
    pub fn wallet(&self) -> Result<&Wallet> {
        if let Some(w) = self.wallet.get() {
            return Ok(w);
        }
        let w = settings::load_wallet(&self.config)?;
        Ok(self.wallet.get_or_init(|| w))
    }
}

/// One subcommand: its name, one-line summary, flags text and entry point.
pub struct Command {
    pub name: &'static str,
    pub summary: &'static str,
    pub usage: &'static str,
    /// Derive the key before logging starts, so a bad mnemonic stops the
    /// command with one line and nothing written.
    pub needs_wallet: bool,
    pub run: fn(&Ctx, Vec<OsString>) -> Result<i32>,
}

/// Every subcommand, in the order `--help` lists them.
pub const COMMANDS: &[Command] = &[
    run::COMMAND,
    run::ONCE,
    status::COMMAND,
    stop::COMMAND,
    check::COMMAND,
    register::COMMAND,
    wallet::COMMAND,
    demo::COMMAND,
    devnet::COMMAND,
    train::COMMAND,
    predict::COMMAND,
    backtest::COMMAND,
    evaluate::COMMAND,
    sign::COMMAND,
    bench::COMMAND,
    systemd_unit::COMMAND,
];

/// The subcommand called `name`.
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Turns a lexopt argument the subcommand does not know into a usage error.
pub fn unexpected(arg: lexopt::Arg<'_>, command: &str) -> crate::error::Error {
    let shown = match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(l) => format!("--{l}"),
        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
    };
    crate::error::Error::Usage(format!("{command}: unexpected argument {shown}"))
}
