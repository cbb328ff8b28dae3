//! `allora-worker wallet`: derives the key from the configured mnemonic and
//! prints the address and public key. Never prints the mnemonic or the key.

use std::ffi::OsString;

use serde_json::json;

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::Result;

pub const COMMAND: Command = Command {
    name: "wallet",
    summary: "print the worker's address and public key",
    usage: "Usage: allora-worker wallet [--json]\n\n\
            Flags:\n  --json    print {\"address\": ..., \"pubkey\": ...} instead of two lines\n",
    needs_wallet: true,
    run,
};

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut as_json = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("json") => as_json = true,
            other => return Err(unexpected(other, "wallet")),
        }
    }
    let wallet = ctx.wallet()?;
    log::debug!("derived wallet {}", wallet.address());
    if as_json {
        println!(
            "{}",
            json!({"address": wallet.address(), "pubkey": wallet.pubkey_hex()})
        );
    } else {
        println!(
            "address: {}\npubkey:  {}",
            wallet.address(),
            wallet.pubkey_hex()
        );
    }
    Ok(0)
}
