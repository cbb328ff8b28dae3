//! `allora-worker register`: registers the worker's address in the configured
//! topic. Idempotent (already registered → says so, exit 0); shows the
//! registration fee and the transaction fee (ALLO and uallo) and pays them
//! only with `--yes` (without it: exit 0, nothing paid). A paid
//! registration is a `registered` event. Never prints secrets.

use std::ffi::OsString;

use crate::agent::submit_blocking;
use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use serde_json::json;

use crate::io::chain::{Client, TxKind};
use crate::io::logging;
use crate::logic::event::Kind;
use crate::logic::human;
use crate::logic::submission::Outcome;
use crate::logic::wallet::Wallet;

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
    let mut client = Client::new(&ctx.config)?;
    client.probe()?;
    // Every configured topic, in order; the first failure stops.
    for t in &ctx.config.topics {
        client.set_topic(t.id);
        register_in(&mut client, wallet, t.id, yes)?;
    }
    Ok(0)
}

/// Registers in one topic (shows the fees; pays only with `yes`).
fn register_in(client: &mut Client, wallet: &Wallet, topic: u64, yes: bool) -> Result<()> {
    let addr = wallet.address().to_string();
    if client.is_registered(&addr)? {
        println!("{addr} is already registered in topic {topic}; nothing to do");
        return Ok(());
    }
    let fee = client.params()?.registration_fee;
    // Signing a quote costs nothing; only a broadcast would pay.
    let quote = client.latest_height().and_then(|h| {
        let timeout = h.saturating_add(crate::agent::REGISTER_TIMEOUT_BLOCKS);
        client.sign(wallet, TxKind::Register, timeout, 0, None)
    });
    let tx_fee = match quote {
        Ok(_) => client.last_fee().map_or("unknown".to_string(), human::allo),
        Err(e) => format!("unknown ({e})"),
    };
    println!(
        "registering {addr} as a worker in topic {topic} costs a registration fee of {} \
         plus a transaction fee of about {tx_fee}",
        human::allo(fee)
    );
    if !yes {
        println!("nothing paid: run allora-worker register --yes to pay and register");
        return Ok(());
    }
    let outcome = submit_blocking(client, wallet, TxKind::Register, None)?;
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
            logging::event(
                Kind::Registered,
                &format!("registered {addr} in topic {topic}: tx {tx_hash} at height {height}"),
                json!({"address": addr, "topic_id": topic, "tx_hash": tx_hash, "height": height,
                       "registration_fee_uallo": fee.to_string()}),
            );
            Ok(())
        }
        other => Err(Error::Chain {
            codespace: "register".into(),
            code: 0,
            log: format!("registration of {addr} in topic {topic} failed: {other:?}"),
        }),
    }
}
