//! `allora-worker sign`: builds and signs one InsertWorkerPayload (or, with
//! `--register`, one RegisterRequest) transaction offline, for air-gapped
//! signing and for checking our bytes against other tools. Prints one JSON
//! object on stdout; never broadcasts, never prints the key.

use std::ffi::OsString;
use std::str::FromStr;

use base64::Engine;
use serde_json::json;

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::logic::emissions::Emissions;
use crate::logic::hex;
use crate::logic::tx::{self, Payload, SignedTx, TxParams};

pub const COMMAND: Command = Command {
    name: "sign",
    summary: "sign one worker transaction offline and print it as JSON",
    needs_wallet: true,
    usage: "Usage: allora-worker sign --topic N --nonce H --value X [--forecast INFERER=VALUE]...\n\
            \x20                        --account-number N --sequence S --gas G --fee AMOUNT\n\
            \x20                        [--chain-id ID] [--memo M] [--timeout-height H] [--emissions v9|v10]\n\
            \x20      allora-worker sign --register --topic N --account-number N --sequence S --gas G --fee AMOUNT ...\n\n\
            Flags:\n\
            \x20 --topic N                  topic id (> 0)\n\
            \x20 --nonce H                  the window's nonce block height (> 0)\n\
            \x20 --value X                  the inference\n\
            \x20 --forecast INFERER=VALUE   a forecast element (repeatable)\n\
            \x20 --register                 build a RegisterRequest (worker) instead\n\
            \x20 --account-number N         the signer's account number\n\
            \x20 --sequence S               the signer's sequence\n\
            \x20 --gas G                    gas limit\n\
            \x20 --fee AMOUNT               fee in uallo\n\
            \x20 --chain-id ID              default: the configured chain id\n\
            \x20 --memo M                   default: none\n\
            \x20 --timeout-height H         default: none\n\
            \x20 --emissions v9|v10         message version (default v10)\n\n\
            Prints {\"tx_bytes\": base64, \"txhash\", \"body_hex\", \"auth_info_hex\", \"sign_doc_hex\"}.\n",
    run,
};

/// The parsed flags.
#[derive(Debug, Clone, PartialEq)]
pub struct SignArgs {
    pub register: bool,
    pub payload: Payload,
    pub params: TxParams,
}

fn number<T: FromStr>(flag: &str, v: OsString) -> Result<T> {
    let s = v.to_string_lossy();
    s.trim()
        .parse()
        .map_err(|_| Error::Usage(format!("sign: {flag} {s:?} is not a valid number")))
}

fn forecast(v: OsString) -> Result<(String, f64)> {
    let s = v.to_string_lossy().into_owned();
    let (inferer, value) = s
        .split_once('=')
        .ok_or_else(|| Error::Usage(format!("sign: --forecast {s:?} is not INFERER=VALUE")))?;
    Ok((inferer.to_string(), number("--forecast", value.into())?))
}

/// Parses the flags; `default_chain_id` comes from the configuration.
pub fn parse_args(args: Vec<OsString>, default_chain_id: &str) -> Result<SignArgs> {
    use lexopt::Arg::Long;
    let (mut topic, mut nonce, mut value) = (None, None, None);
    let (mut account, mut sequence, mut gas, mut fee) = (None, None, None, None);
    let mut forecasts = Vec::new();
    let mut register = false;
    let mut chain_id = default_chain_id.to_string();
    let (mut memo, mut timeout_height, mut emissions) = (String::new(), 0, Emissions::V10);
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            Long("topic") => topic = Some(number("--topic", p.value()?)?),
            Long("nonce") => nonce = Some(number("--nonce", p.value()?)?),
            Long("value") => value = Some(number("--value", p.value()?)?),
            Long("forecast") => forecasts.push(forecast(p.value()?)?),
            Long("register") => register = true,
            Long("account-number") => account = Some(number("--account-number", p.value()?)?),
            Long("sequence") => sequence = Some(number("--sequence", p.value()?)?),
            Long("gas") => gas = Some(number("--gas", p.value()?)?),
            Long("fee") => fee = Some(number("--fee", p.value()?)?),
            Long("chain-id") => chain_id = p.value()?.to_string_lossy().into_owned(),
            Long("memo") => memo = p.value()?.to_string_lossy().into_owned(),
            Long("timeout-height") => timeout_height = number("--timeout-height", p.value()?)?,
            Long("emissions") => emissions = Emissions::parse(&p.value()?.to_string_lossy())?,
            other => return Err(unexpected(other, "sign")),
        }
    }
    let need = |flag: &str| Error::Usage(format!("sign: {flag} is required"));
    if register && (nonce.is_some() || value.is_some() || !forecasts.is_empty()) {
        return Err(Error::Usage(
            "sign: --register takes no --nonce, --value or --forecast".into(),
        ));
    }
    let payload = Payload {
        topic_id: topic.ok_or_else(|| need("--topic"))?,
        nonce: if register {
            0
        } else {
            nonce.ok_or_else(|| need("--nonce"))?
        },
        value: if register {
            0.0
        } else {
            value.ok_or_else(|| need("--value"))?
        },
        forecasts,
    };
    let params = TxParams {
        chain_id,
        account_number: account.ok_or_else(|| need("--account-number"))?,
        sequence: sequence.ok_or_else(|| need("--sequence"))?,
        gas_limit: gas.ok_or_else(|| need("--gas"))?,
        fee_amount: fee.ok_or_else(|| need("--fee"))?,
        memo,
        timeout_height,
        emissions,
    };
    Ok(SignArgs {
        register,
        payload,
        params,
    })
}

/// The JSON object `sign` prints.
pub fn render(tx: &SignedTx) -> serde_json::Value {
    json!({
        "tx_bytes": base64::engine::general_purpose::STANDARD.encode(&tx.tx_raw),
        "txhash": tx.hash,
        "body_hex": hex::encode(&tx.body),
        "auth_info_hex": hex::encode(&tx.auth_info),
        "sign_doc_hex": hex::encode(&tx.sign_doc),
    })
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let a = parse_args(args, &ctx.config.chain_id)?;
    let wallet = ctx.wallet()?;
    let tx = if a.register {
        tx::register_tx(wallet, a.payload.topic_id, &a.params)?
    } else {
        tx::insert_payload_tx(wallet, &a.payload, &a.params)?
    };
    log::debug!("signed tx {} for {}", tx.hash, wallet.address());
    println!("{}", render(&tx));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &str, expected: std::result::Result<(), &str>) {
        let v: Vec<OsString> = args.split_whitespace().map(OsString::from).collect();
        match (parse_args(v, "chain-x"), expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{args}: {e}"),
            (got, want) => panic!("{args}: got {got:?}, expected {want:?}"),
        }
    }

    const TAIL: &str = "--account-number 1 --sequence 2 --gas 3 --fee 4";

    #[test]
    fn flags() {
        check(&format!("--topic 67 --nonce 5 --value -0.5 {TAIL}"), Ok(()));
        check(&format!("--register --topic 67 {TAIL}"), Ok(()));
        check(
            &format!("--register --topic 67 --value 1 {TAIL}"),
            Err("--register takes no"),
        );
        check(
            &format!("--topic 67 --value 1 {TAIL}"),
            Err("--nonce is required"),
        );
        check(
            &format!("--topic 67 --nonce 5 --value x {TAIL}"),
            Err("--value \"x\""),
        );
        check(
            &format!("--topic 67 --nonce 5 --value 1 --forecast a {TAIL}"),
            Err("INFERER=VALUE"),
        );
        check(
            &format!("--topic 67 --nonce 5 --value 1 --emissions v8 {TAIL}"),
            Err("v8"),
        );
        check(
            &format!("--topic 67 --nonce 5 --value 1 --bogus {TAIL}"),
            Err("--bogus"),
        );
        check(
            "--topic 67 --nonce 5 --value 1",
            Err("--account-number is required"),
        );
        let v: Vec<OsString> = format!("--topic 1 --nonce 2 --value 1e-7 --forecast allo1a=2 --memo hi --timeout-height 9 --emissions v9 --chain-id c {TAIL}")
            .split_whitespace()
            .map(OsString::from)
            .collect();
        let a = parse_args(v, "chain-x").unwrap();
        assert_eq!(a.payload.forecasts, vec![("allo1a".to_string(), 2.0)]);
        assert_eq!(a.payload.value, 1e-7);
        assert_eq!(a.params.emissions, Emissions::V9);
        assert_eq!((a.params.memo.as_str(), a.params.timeout_height), ("hi", 9));
        assert_eq!((a.params.chain_id.as_str(), a.params.fee_amount), ("c", 4));
    }
}
