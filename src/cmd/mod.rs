//! Subcommands: one file each, all listed in `COMMANDS`. A subcommand parses
//! its own flags (lexopt), does its work through `io` and `logic`, prints its
//! result on stdout and returns an exit code.

use std::ffi::OsString;

use crate::config::Config;
use crate::error::Result;
use crate::io::settings;
use crate::logic::wallet::Wallet;

pub mod backtest;
pub mod predict;
pub mod train;
pub mod wallet;

/// What a subcommand gets: the validated configuration.
pub struct Ctx {
    pub config: Config,
}

impl Ctx {
    /// Loads the worker's key from the configured mnemonic source.
    pub fn wallet(&self) -> Result<Wallet> {
        settings::load_wallet(&self.config)
    }
}

/// One subcommand: its name, one-line summary, flags text and entry point.
pub struct Command {
    pub name: &'static str,
    pub summary: &'static str,
    pub usage: &'static str,
    pub run: fn(&Ctx, Vec<OsString>) -> Result<i32>,
}

/// Every subcommand, in the order `--help` lists them.
pub const COMMANDS: &[Command] = &[
    wallet::COMMAND,
    train::COMMAND,
    predict::COMMAND,
    backtest::COMMAND,
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
