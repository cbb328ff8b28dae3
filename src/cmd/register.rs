//! `allora-worker register`: registers the worker's address in the configured
//! topic. Idempotent (already registered → says so, exit 0); shows the
//! registration fee and pays it only with `--yes`. Never prints secrets.

use std::ffi::OsString;

use crate::agent::submit_blocking;
use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::chain::{Client, TxKind};
use crate::logic::submission::Outcome;

pub const COMMAND: Command = Command {
    name: "register",
    summary: "register the worker in the topic (pays the registration fee)",
    needs_wallet: true,
    usage: "Usage: allora-worker register [--yes]\n\n\
            Flags:\n  --yes    pay the registration fee shown (without it, only show it)\n",
    run,
};

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut yes = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("yes") => yes = true,
            other => return Err(unexpected(other, "register")),
        }
    }
    let wallet = ctx.wallet()?;
    let addr = wallet.address().to_string();
    let topic = ctx.config.topic_id;
    let mut client = Client::new(&ctx.config)?;
    client.probe()?;
    if client.is_registered(&addr)? {
        println!("{addr} is already registered in topic {topic}; nothing to do");
        return Ok(0);
    }
    let fee = client.params()?.registration_fee;
    println!("registering {addr} as a worker in topic {topic} costs a registration fee of {fee} uallo plus the transaction fee");
    if !yes {
        return Err(Error::Usage(
            "register: re-run with --yes to pay the registration fee".into(),
        ));
    }
    let outcome = submit_blocking(&mut client, wallet, TxKind::Register, None)?;
    match outcome {
        Outcome::Included { tx_hash, height } | Outcome::NotAdmitted { tx_hash, height } => {
            if !client.is_registered(&addr)? {
                return Err(Error::Chain {
                    codespace: "emissions".into(),
                    code: 0,
                    log: format!("tx {tx_hash} was included at height {height} but {addr} is still not registered"),
                });
            }
            println!("registered {addr} in topic {topic}: tx {tx_hash} at height {height}");
            Ok(0)
        }
        other => Err(Error::Chain {
            codespace: "register".into(),
            code: 0,
            log: format!("registration of {addr} in topic {topic} failed: {other:?}"),
        }),
    }
}
