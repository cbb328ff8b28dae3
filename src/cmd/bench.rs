//! `allora-worker bench`: times the worker's hot paths on this machine and
//! prints one row per measurement (or, with `--json`, one JSON object keyed by
//! each measurement's key). Uses a throw-away key, never the configured one.
//!
//! To add a measurement, append a `Measure` to `MEASURES`.

use std::ffi::OsString;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::Result;
use crate::logic::emissions::Emissions;
use crate::logic::tx::{self, Payload, TxParams};
use crate::logic::wallet::{sha256, Wallet};

pub const COMMAND: Command = Command {
    name: "bench",
    summary: "measure encode + sign + hash time (and other hot paths)",
    needs_wallet: false,
    usage: "Usage: allora-worker bench [--json] [--runs N]\n\n\
            Flags:\n\
            \x20 --json      print one JSON object, e.g. {\"sign_tx_us\": 95.2}\n\
            \x20 --runs N    repetitions per measurement; the median is reported (default 300)\n",
    run,
};

/// One measurement: a JSON key, a label for the table, its unit, and the
/// function that runs it `runs` times and returns the median.
pub struct Measure {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub measure: fn(runs: usize) -> Result<f64>,
}

/// Every measurement, in table order.
pub const MEASURES: &[Measure] = &[Measure {
    key: "sign_tx_us",
    label: "encode + sign + hash one InsertWorkerPayload tx",
    unit: "µs",
    measure: sign_tx_us,
}];

/// The median of `samples` (sorted in place); 0 when empty.
pub fn median(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if !n.is_multiple_of(2) {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

fn sign_tx_us(runs: usize) -> Result<f64> {
    let wallet = Wallet::from_private_key(&sha256(b"allora-protocol-test-vector-do-not-use"))?;
    let payload = Payload {
        topic_id: 67,
        nonce: 6_673_195,
        value: -0.0123456789,
        forecasts: vec![],
    };
    let params = TxParams {
        chain_id: "allora-testnet-1".into(),
        account_number: 12345,
        sequence: 7,
        gas_limit: 300_000,
        fee_amount: 3_000_000,
        memo: String::new(),
        timeout_height: 0,
        emissions: Emissions::V10,
    };
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let p = Payload {
            value: payload.value + i as f64 * 1e-9,
            ..payload.clone()
        };
        let start = Instant::now();
        let signed = tx::insert_payload_tx(&wallet, &p, &params)?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(signed);
    }
    Ok(median(&mut samples))
}

fn run(_ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut as_json = false;
    let mut runs: usize = 300;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("json") => as_json = true,
            lexopt::Arg::Long("runs") => {
                let v = parser.value()?.to_string_lossy().into_owned();
                runs = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    crate::error::Error::Usage(format!(
                        "bench: --runs {v:?} is not a positive number"
                    ))
                })?;
            }
            other => return Err(unexpected(other, "bench")),
        }
    }
    let mut rows = Vec::new();
    for m in MEASURES {
        let v = (m.measure)(runs)?;
        log::debug!("bench {}: {v:.1} {}", m.key, m.unit);
        rows.push((m, v));
    }
    if as_json {
        let mut obj = Map::new();
        for (m, v) in &rows {
            obj.insert(m.key.into(), Value::from((v * 10.0).round() / 10.0));
        }
        println!("{}", Value::Object(obj));
    } else {
        println!("{:<52} {:>12}", "measurement", "median");
        for (m, v) in &rows {
            println!("{:<52} {:>9.1} {}", m.label, v, m.unit);
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_samples() {
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
