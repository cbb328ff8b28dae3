//! `allora-worker bench`: times the worker's hot paths on this machine and
//! prints one row per measurement (or, with `--json`, one JSON object keyed by
//! each measurement's key). Uses a throw-away key, never the configured one.
//!
//! Training and prediction run on 28 days of hourly bars (672 rows: 504
//! fitted, 168 validation) from `--csv FILE` or seeded synthetic bars; the
//! last row is the process's peak RSS (VmHWM). To add a measurement, append a
//! `Measure` to `MEASURES`.

use std::ffi::OsString;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::market;
use crate::logic::bars::Bar;
use crate::logic::emissions::Emissions;
use crate::logic::synthetic::synthetic_bars;
use crate::logic::tx::{self, Payload, TxParams};
use crate::logic::wallet::{sha256, Wallet};

pub const COMMAND: Command = Command {
    name: "bench",
    summary: "measure encode + sign + hash time (and other hot paths)",
    needs_wallet: false,
    usage: "Usage: allora-worker bench [--json] [--runs N] [--csv FILE]\n\n\
            Flags:\n\
            \x20 --json      print one JSON object: sign_tx_us, train_672_ms, predict_us, evaluate_1000_us, peak_rss_kb,\n\
            \x20             max_step_ms, burst_5_topics_ms, idle_rss_5_topics_kb\n\
            \x20 --runs N    repetitions of the fast measurements; the median is reported (default 300;\n\
            \x20             training runs N/100 times, at least 3)\n\
            \x20 --csv FILE  train on the newest bars of this CSV instead of synthetic bars\n",
    run,
};

/// One measurement: a JSON key, a label for the table, its unit, and the
/// function that runs it `runs` times and returns the median.
pub struct Measure {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub measure: fn(&Input) -> Result<f64>,
    /// True for a measurement that needs a child process of this binary:
    /// where one cannot start (under qemu-user, the child is a foreign
    /// binary the kernel cannot exec) it is reported as not measured
    /// (`null`, and a WARNING naming why) instead of failing the bench.
    pub needs_child: bool,
}

/// What the measurements run on.
pub struct Input {
    pub runs: usize,
    pub bars: Vec<Bar>,
    /// The configuration the demo of `max_step_ms` starts from.
    pub config: crate::config::Config,
}

/// Every measurement, in table order.
pub const MEASURES: &[Measure] = &[
    Measure {
        key: "sign_tx_us",
        label: "encode + sign + hash one InsertWorkerPayload tx",
        unit: "µs",
        measure: sign_tx_us,
        needs_child: false,
    },
    Measure {
        key: "train_672_ms",
        label: "train the model on 672 hourly rows",
        unit: "ms",
        measure: train_ms,
        needs_child: false,
    },
    Measure {
        key: "predict_us",
        label: "predict one row",
        unit: "µs",
        measure: predict_us,
        needs_child: false,
    },
    Measure {
        key: "evaluate_1000_us",
        label: "score 1 000 hourly rows: losses and the seven gates (7-day horizon)",
        unit: "µs",
        measure: evaluate_1000_us,
        needs_child: false,
    },
    Measure {
        key: "peak_rss_kb",
        label: "peak resident memory (VmHWM)",
        unit: "KB",
        measure: peak_rss_kb,
        needs_child: false,
    },
    Measure {
        key: "max_step_ms",
        label: "longest loop step, 4 windows of a demo under faults",
        unit: "ms",
        measure: max_step_ms,
        needs_child: false,
    },
    // After the peak: these start devnets and workers.
    Measure {
        key: "burst_5_topics_ms",
        label: "5 topics' windows in one block: event → 5th broadcast",
        unit: "ms",
        measure: super::bench_topics::burst_5_topics_ms,
        needs_child: false,
    },
    Measure {
        key: "idle_rss_5_topics_kb",
        label: "idle worker serving 5 topics, trained (VmRSS)",
        unit: "KB",
        measure: super::bench_topics::idle_rss_5_topics_kb,
        needs_child: true,
    },
];

/// After `peak_rss_kb`, so the devnet thread does not count in the RSS.
fn max_step_ms(input: &Input) -> Result<f64> {
    Ok(super::demo::max_step_under_faults(&input.config, 4)? as f64)
}

fn train_ms(input: &Input) -> Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..(input.runs / 100).max(3) {
        samples.push(super::train::bench_model(&input.bars)?.0);
    }
    Ok(median(&mut samples))
}

fn evaluate_1000_us(input: &Input) -> Result<f64> {
    use crate::logic::evaluate::{self, Loss, Row, Settings};
    let rows: Vec<Row> = (0..1000usize)
        .map(|i| {
            let x = i as f64;
            Row {
                t: i as i64 * 3600,
                prediction: 0.01 * (0.37 * x).sin(),
                truth: Some(0.05 * (0.11 * x).sin() + 0.02 * (1.3 * x).cos()),
                std: Some(0.04),
                line: i + 2,
            }
        })
        .collect();
    let settings = Settings {
        horizon_minutes: 10080.0,
        gt_ratio: None,
        epoch_minutes: None,
        participation: None,
        loss: Loss::Both,
        against_zero: false,
    };
    let mut samples = Vec::new();
    for _ in 0..(input.runs / 100).max(3) {
        let start = Instant::now();
        std::hint::black_box(evaluate::evaluate(&rows, &settings)?);
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(median(&mut samples))
}

fn predict_us(input: &Input) -> Result<f64> {
    let mut samples = Vec::new();
    for _ in 0..(input.runs / 100).max(3) {
        samples.push(super::train::bench_model(&input.bars)?.1);
    }
    Ok(median(&mut samples))
}

fn peak_rss_kb(_: &Input) -> Result<f64> {
    proc_status_kb("self", "VmHWM")
}

/// A `kB` line (`VmHWM`, `VmRSS`) of `/proc/{pid}/status`.
pub(super) fn proc_status_kb(pid: &str, key: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or_else(|| Error::Decode(format!("no {key} in {path}")))
}

/// The newest 28 days plus the history the features and targets need.
fn bench_bars(csv: Option<&std::path::Path>) -> Result<Vec<Bar>> {
    const HOURS: usize = 1_100;
    let mut bars = match csv {
        Some(p) => market::read_csv(p)?,
        None => synthetic_bars(7, 487_000, HOURS),
    };
    if bars.len() > HOURS {
        bars.drain(..bars.len() - HOURS);
    }
    Ok(bars)
}

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

fn sign_tx_us(input: &Input) -> Result<f64> {
    let runs = input.runs;
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

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut as_json = false;
    let mut runs: usize = 300;
    let mut csv: Option<std::path::PathBuf> = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            lexopt::Arg::Long("json") => as_json = true,
            lexopt::Arg::Long("runs") => {
                let v = parser.value()?.to_string_lossy().into_owned();
                runs = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Usage(format!("bench: --runs {v:?} is not a positive number"))
                })?;
            }
            lexopt::Arg::Long("csv") => csv = Some(parser.value()?.into()),
            other => return Err(unexpected(other, "bench")),
        }
    }
    let input = Input {
        runs,
        bars: bench_bars(csv.as_deref())?,
        config: ctx.config.clone(),
    };
    let mut rows = Vec::new();
    for m in MEASURES {
        let v = match (m.measure)(&input) {
            Ok(v) => Some(v),
            Err(e) if m.needs_child => {
                log::warn!("WARNING bench {}: not measured here: {e}", m.key);
                None
            }
            Err(e) => return Err(e),
        };
        log::debug!("bench {}: {v:?} {}", m.key, m.unit);
        rows.push((m, v));
    }
    if as_json {
        let mut obj = Map::new();
        for (m, v) in &rows {
            let v = v.map_or(Value::Null, |v| Value::from((v * 10.0).round() / 10.0));
            obj.insert(m.key.into(), v);
        }
        println!("{}", Value::Object(obj));
    } else {
        println!("{:<52} {:>12}", "measurement", "median");
        for (m, v) in &rows {
            match v {
                Some(v) => println!("{:<52} {:>9.1} {}", m.label, v, m.unit),
                None => println!("{:<52} {:>12}", m.label, "not measured"),
            }
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
