//! Pure decisions of the submission pipeline and the chain client: gas limit
//! from a simulation, gas price and fee under the cap, what to do after a
//! broadcast or tx result (classified on the (codespace, code) pair, never the
//! code alone), retry budgets, when to stop polling, which emissions version
//! the probes found, and the reconnect backoff with jitter.
//!
//! No I/O, no clock: elapsed times, heights and seeds are arguments.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::logic::emissions::Emissions;
use crate::logic::synthetic::{splitmix64, GAMMA};

/// Gas limit used when simulation fails.
pub const GAS_FALLBACK: u64 = 300_000;
/// Re-signs allowed after `sdk`/32 (sequence mismatch) for one nonce.
pub const RESIGN_BUDGET: u32 = 3;
/// Price raises allowed after `sdk`/13 (insufficient fee) for one nonce.
pub const FEE_BUDGET: u32 = 2;
/// Re-signs with more gas allowed after `sdk`/11 (out of gas) for one nonce.
pub const GAS_BUDGET: u32 = 1;
/// Factor applied to the gas price per `sdk`/13.
pub const FEE_BUMP: f64 = 1.5;
/// Reconnect backoff cap.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// `ceil(gas_used × adjustment)`, or the fallback when simulation gave nothing.
pub fn gas_limit(simulated: Option<u64>, adjustment: f64) -> u64 {
    match simulated {
        Some(used) if used > 0 => (used as f64 * adjustment).ceil() as u64,
        _ => GAS_FALLBACK,
    }
}

/// `max(minimum, feemarket) × margin × 1.5^bumps`, in uallo per gas.
pub fn gas_price(minimum: f64, feemarket: Option<f64>, margin: f64, bumps: u32) -> f64 {
    let base = feemarket
        .filter(|p| p.is_finite())
        .unwrap_or(0.0)
        .max(minimum);
    base * margin * FEE_BUMP.powi(bumps as i32)
}

/// `ceil(gas_limit × price)`; a fee above `cap` is refused, naming both.
pub fn fee(gas_limit: u64, price: f64, cap: u128) -> Result<u128> {
    let fee = (gas_limit as f64 * price).ceil();
    if !fee.is_finite() || fee > cap as f64 {
        return Err(Error::config(
            "ALLORA_FEE_CAP",
            format!("fee {fee} uallo for {gas_limit} gas at {price} uallo/gas is above the cap {cap}; refusing to sign"),
        ));
    }
    Ok(fee as u128)
}

/// What one submission costs, the one place this is computed (`check`, the
/// heartbeat's runway, `status` and the low-balance pause): the fallback
/// gas limit at `price` uallo per gas (the price the worker will use:
/// `gas_price` with no bumps), plus the topic's data sending fee.
pub fn submission_cost(price: f64, data_sending_fee: u128) -> u128 {
    (GAS_FALLBACK as f64 * price).ceil() as u128 + data_sending_fee
}

/// What the chain charged for one tx found in a block: the fee its ante
/// handler took (the `tx` event's `fee`, emitted only when the ante passed,
/// so a tx failed at delivery with sdk/13 or 30 paid nothing), plus the data
/// sending fee when the message ran (code 0). A tx failed at the message
/// stage (out of gas, a refusal in the block) still paid its fee.
pub fn fee_charged(tx: &crate::logic::chain_json::TxResponse, data_sending_fee: u128) -> u128 {
    let fee: u128 = tx
        .events
        .iter()
        .filter(|e| e.kind == "tx")
        .flat_map(|e| &e.attributes)
        .filter(|(k, _)| k == "fee")
        .filter_map(|(_, v)| v.strip_suffix("uallo")?.parse::<u128>().ok())
        .sum();
    fee + if tx.code == 0 { data_sending_fee } else { 0 }
}

/// What to do after the chain answered a broadcast or a tx lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// code 0.
    Success,
    /// `sdk`/32: refetch the account, re-sign, broadcast again.
    Resign,
    /// `sdk`/13: raise the gas price, re-sign, broadcast again.
    RaisePrice,
    /// `sdk`/11 in a block: re-sign once with gas used × adjustment.
    OutOfGas,
    /// `sdk`/19: the same bytes are already pending; keep polling.
    KeepPolling,
    /// `sdk`/20: mempool full; rebroadcast the same bytes later.
    Rebroadcast,
    /// Duplicate ("already submitted", "cannot update EMA"): the nonce is done.
    AlreadySubmitted,
    /// Not registered in the topic: run `register`.
    NotRegistered,
    /// Not permitted (whitelist): stop.
    NotWhitelisted,
    /// The chain no longer knows our type URL: detect the emissions version again.
    Redetect(String),
    /// Give up on this nonce, with the reason.
    Drop(String),
    /// Nothing will work until the operator acts (funds, chain id, topic).
    Stop(String),
}

/// Classifies a (codespace, code, raw_log) triple.
pub fn classify(codespace: &str, code: u32, raw_log: &str) -> Verdict {
    let log = raw_log.to_ascii_lowercase();
    let why = || format!("{codespace}/{code}: {raw_log}");
    if code == 0 {
        return Verdict::Success;
    }
    if log.contains("already submitted") || log.contains("cannot update ema") {
        return Verdict::AlreadySubmitted;
    }
    if log.contains("not permitted to submit") {
        return Verdict::NotWhitelisted;
    }
    if log.contains("unable to resolve type url") {
        return Verdict::Redetect(why());
    }
    match (codespace, code) {
        ("sdk", 32) => Verdict::Resign,
        ("sdk", 13) => Verdict::RaisePrice,
        ("sdk", 19) => Verdict::KeepPolling,
        ("sdk", 11) => Verdict::OutOfGas,
        ("sdk", 20) => Verdict::Rebroadcast,
        ("sdk", 30) => Verdict::Drop(format!("window closed (timeout height passed) {}", why())),
        ("sdk", 5) => Verdict::Stop(format!("insufficient funds to pay the fee {}", why())),
        ("sdk", 28) => Verdict::Stop(format!("wrong chain id {}", why())),
        ("emissions", 13) => Verdict::NotRegistered,
        ("emissions", 44) => Verdict::Drop(format!("nonce closed {}", why())),
        ("emissions", 67) => Verdict::Drop(format!("window not open {}", why())),
        ("emissions", 68 | 75 | 78) => Verdict::AlreadySubmitted,
        ("emissions", 6) => Verdict::Stop(format!("invalid topic {}", why())),
        ("emissions", 23) => Verdict::Stop(format!("topic does not exist {}", why())),
        ("emissions", 8) => Verdict::AlreadySubmitted,
        _ if log.contains("is not registered") => Verdict::NotRegistered,
        _ if log.contains("nonce window not available") => {
            Verdict::Drop(format!("window not open {}", why()))
        }
        _ if log.contains("unfulfilled nonce not found")
            || log.contains("nonce already fulfilled") =>
        {
            Verdict::Drop(format!("nonce closed {}", why()))
        }
        _ if log.contains("topic does not exist") || log.contains("invalid topic") => {
            Verdict::Stop(format!("invalid topic {}", why()))
        }
        _ if log.contains("already registered") => Verdict::AlreadySubmitted,
        _ => Verdict::Drop(format!("rejected {}", why())),
    }
}

/// Phrases of a simulate's error message (HTTP 500, the messages ran and
/// failed) that no retry can change: closed window, nonce not open, not
/// registered, not whitelisted, already submitted, no such topic.
const SIMULATE_TERMINAL: [&str; 11] = [
    "nonce window not available",
    "unfulfilled nonce not found",
    "nonce already fulfilled",
    "is not registered",
    "not permitted to submit",
    "already submitted",
    "cannot update ema",
    "invalid topic",
    "topic does not exist",
    "already registered",
    "not whitelisted",
];

/// True when a simulate's error `message` refuses the tx for a terminal
/// reason: it must not be broadcast. Anything else falls back to default gas.
pub fn simulate_refusal(message: &str) -> bool {
    let t = message.to_ascii_lowercase();
    SIMULATE_TERMINAL.iter().any(|k| t.contains(k))
}

/// Retries left for one nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    pub resigns: u32,
    pub bumps: u32,
    pub gas: u32,
}

impl Budget {
    /// Spends one retry for `verdict`; the reason to drop when none is left.
    pub fn spend(&mut self, verdict: &Verdict) -> Result<(), String> {
        let (used, limit, what) = match verdict {
            Verdict::Resign => (&mut self.resigns, RESIGN_BUDGET, "sequence mismatch"),
            Verdict::RaisePrice => (&mut self.bumps, FEE_BUDGET, "insufficient fee"),
            Verdict::OutOfGas => (&mut self.gas, GAS_BUDGET, "out of gas"),
            _ => return Ok(()),
        };
        if *used >= limit {
            return Err(format!("{what}: gave up after {limit} retries"));
        }
        *used += 1;
        Ok(())
    }
}

/// Whether to keep polling a broadcast tx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Look again after a short wait.
    Again,
    /// The chain is past the window's end block and the tx is not in.
    WindowPassed,
    /// The poll timeout is over.
    TimedOut,
}

/// Decides whether a not-yet-found tx is still worth polling.
pub fn poll(height: u64, window_end: u64, elapsed: Duration, timeout: Duration) -> Poll {
    if window_end > 0 && height > window_end {
        Poll::WindowPassed
    } else if elapsed >= timeout {
        Poll::TimedOut
    } else {
        Poll::Again
    }
}

/// The version from the probes of `/emissions/vN/params`, given as
/// (N, answered) newest first. A newer version than we know is refused.
pub fn emissions_from_probes(probes: &[(u32, bool)]) -> Result<Emissions> {
    for &(n, answered) in probes {
        if !answered {
            continue;
        }
        return match n {
            10 => Ok(Emissions::V10),
            9 => Ok(Emissions::V9),
            _ => Err(Error::Config {
                key: "ALLORA_EMISSIONS".into(),
                problem: format!("the chain serves emissions v{n}, which this worker cannot encode; upgrade allora-worker"),
            }),
        };
    }
    Err(Error::Decode(
        "no emissions version answered (tried /emissions/v11, v10, v9 params)".into(),
    ))
}

/// True when an answer smells of a chain upgrade (re-detect the version):
/// an unknown type URL or service, a 501 on an emissions path, or a 404
/// whose message is the gateway's bare route-level "Not Found" (a missing
/// inference or account says more than that).
pub fn smells_of_upgrade(path: &str, status: u16, message: &str) -> bool {
    let t = message.trim().to_ascii_lowercase();
    let emissions = path.starts_with("/emissions/");
    t.contains("unable to resolve type url")
        || t.contains("unknown service emissions")
        || (emissions && status == 501)
        || (emissions && status == 404 && t == "not found")
}

/// Days of submissions `balance` pays for: one submission per epoch costing
/// `per_submission` uallo, an epoch of `epoch_length` blocks of
/// `secs_per_block` seconds. Infinite when nothing is spent.
pub fn runway_days(
    balance: u128,
    per_submission: u128,
    epoch_length: u64,
    secs_per_block: f64,
) -> f64 {
    runway_days_all(balance, &[(per_submission, epoch_length)], secs_per_block)
}

/// Days the balance pays for when several topics each cost
/// (fee per submission, epoch length in blocks) per window: the balance
/// over the sum of their daily costs.
pub fn runway_days_all(balance: u128, topics: &[(u128, u64)], secs_per_block: f64) -> f64 {
    let per_day: f64 = topics
        .iter()
        .map(|(fee, epoch)| {
            let epoch_secs = (*epoch).max(1) as f64 * secs_per_block.max(1e-3);
            *fee as f64 * 86_400.0 / epoch_secs
        })
        .sum();
    if per_day <= 0.0 {
        return f64::INFINITY;
    }
    balance as f64 / per_day
}

/// Reconnect delay: 1 s × 2^attempt capped at 60 s, scaled by a jitter in
/// [0.5, 1.0) drawn from `seed` (splitmix64), so many workers do not stampede.
pub fn backoff(attempt: u32, seed: u64) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.min(6)).min(BACKOFF_CAP);
    // The attempt-th splitmix64 output of `seed`: every input bit reaches the top bits.
    let x = splitmix64(seed.wrapping_add(u64::from(attempt).wrapping_mul(GAMMA)));
    let jitter = 0.5 + (x >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: (&str, u32, &str), expected: Verdict) {
        assert_eq!(classify(input.0, input.1, input.2), expected, "{input:?}");
    }

    #[test]
    fn classification_uses_the_pair() {
        check(("", 0, ""), Verdict::Success);
        check(
            ("sdk", 32, "account sequence mismatch, expected 5, got 4"),
            Verdict::Resign,
        );
        check(
            ("sdk", 13, "insufficient fee; got 1uallo required 2uallo"),
            Verdict::RaisePrice,
        );
        check(
            ("emissions", 13, "worker is not registered in this topic"),
            Verdict::NotRegistered,
        );
        check(("sdk", 19, "tx already in mempool"), Verdict::KeepPolling);
        check(("sdk", 20, "mempool is full"), Verdict::Rebroadcast);
        check(("sdk", 11, "out of gas"), Verdict::OutOfGas);
        check(
            ("emissions", 8, "already registered"),
            Verdict::AlreadySubmitted,
        );
        assert!(matches!(classify("emissions", 23, "x"), Verdict::Stop(_)));
        check(
            ("undefined", 1, "inference already submitted"),
            Verdict::AlreadySubmitted,
        );
        check(
            (
                "emissions",
                75,
                "cannot update EMA more than once per window",
            ),
            Verdict::AlreadySubmitted,
        );
        check(("emissions", 68, ""), Verdict::AlreadySubmitted);
        check(
            ("emissions", 9, "Worker is not permitted to submit payload"),
            Verdict::NotWhitelisted,
        );
        let drops = [
            ("emissions", 44, "nonce closed"),
            ("emissions", 67, "window not open"),
            ("sdk", 30, "window closed"),
        ];
        for (cs, code, why) in drops {
            match classify(cs, code, "x") {
                Verdict::Drop(r) => assert!(r.starts_with(why), "{r}"),
                other => panic!("{cs}/{code}: {other:?}"),
            }
        }
        assert!(matches!(
            classify("http", 400, "unable to resolve type URL /emissions.v11.X"),
            Verdict::Redetect(_)
        ));
        assert!(matches!(
            classify("sdk", 2, "unable to resolve type URL /emissions.v11.X"),
            Verdict::Redetect(_)
        ));
        assert!(matches!(
            classify("sdk", 5, "insufficient funds"),
            Verdict::Stop(_)
        ));
        assert!(matches!(classify("sdk", 28, ""), Verdict::Stop(_)));
        assert!(matches!(classify("wasm", 13, "?"), Verdict::Drop(_)));
    }

    #[test]
    fn gas_price_and_fee() {
        assert_eq!(gas_limit(Some(100_000), 1.3), 130_000);
        assert_eq!(gas_limit(Some(0), 1.3), GAS_FALLBACK);
        assert_eq!(gas_limit(None, 1.3), GAS_FALLBACK);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        close(gas_price(10.0, Some(12.0), 1.0, 0), 12.0);
        close(gas_price(10.0, Some(3.0), 1.2, 0), 12.0);
        close(gas_price(10.0, None, 1.0, 2), 22.5);
        close(gas_price(10.0, Some(f64::NAN), 1.0, 0), 10.0);
        assert_eq!(fee(130_000, 10.5, 10_000_000).unwrap(), 1_365_000);
        assert_eq!(fee(3, 0.5, 10).unwrap(), 2);
        let e = fee(300_000, 100.0, 1_000_000).unwrap_err().to_string();
        assert!(e.contains("above the cap 1000000"), "{e}");
        assert!(fee(1, f64::INFINITY, u128::MAX).is_err());
    }

    #[test]
    fn budgets_run_out() {
        let mut b = Budget::default();
        for _ in 0..RESIGN_BUDGET {
            assert!(b.spend(&Verdict::Resign).is_ok());
        }
        assert!(b.spend(&Verdict::Resign).unwrap_err().contains("sequence"));
        assert!(b.spend(&Verdict::RaisePrice).is_ok());
        assert!(b.spend(&Verdict::RaisePrice).is_ok());
        assert!(b.spend(&Verdict::RaisePrice).is_err());
        assert!(b.spend(&Verdict::KeepPolling).is_ok());
    }

    #[test]
    fn polling_and_versions() {
        let s = Duration::from_secs;
        assert_eq!(poll(100, 110, s(1), s(30)), Poll::Again);
        assert_eq!(poll(111, 110, s(1), s(30)), Poll::WindowPassed);
        assert_eq!(poll(100, 110, s(30), s(30)), Poll::TimedOut);
        assert_eq!(poll(100, 0, s(1), s(30)), Poll::Again);
        assert_eq!(
            emissions_from_probes(&[(11, false), (10, true), (9, true)]).unwrap(),
            Emissions::V10
        );
        assert_eq!(
            emissions_from_probes(&[(11, false), (10, false), (9, true)]).unwrap(),
            Emissions::V9
        );
        let e = emissions_from_probes(&[(11, true), (10, true)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("v11"), "{e}");
        assert!(emissions_from_probes(&[(10, false)]).is_err());
        assert!(smells_of_upgrade("/emissions/v10/topics/67", 501, ""));
        assert!(smells_of_upgrade(
            "/emissions/v10/topics/67",
            404,
            "Not Found"
        ));
        assert!(!smells_of_upgrade(
            "/emissions/v10/topics/67/workers/a/latest_input_inference",
            404,
            "no inference found for worker a"
        ));
        assert!(smells_of_upgrade(
            "/cosmos/tx/v1beta1/txs",
            200,
            "unable to resolve type URL"
        ));
        assert!(!smells_of_upgrade(
            "/cosmos/auth/v1beta1/account_info/a",
            404,
            "not found"
        ));
    }

    #[test]
    fn runway() {
        // 720 blocks of 5 s = 1 h: 24 submissions a day of 1e6 uallo.
        let d = runway_days(240_000_000, 1_000_000, 720, 5.0);
        assert!((d - 10.0).abs() < 1e-9, "{d}");
        assert_eq!(runway_days(1, 0, 720, 5.0), f64::INFINITY);
        assert_eq!(runway_days(0, 5, 720, 5.0), 0.0);
    }

    #[test]
    fn backoff_is_capped_jittered_and_deterministic() {
        for attempt in 0..20 {
            for seed in [0u64, 1, 42, u64::MAX] {
                let d = backoff(attempt, seed);
                let base = Duration::from_secs(1u64 << attempt.min(6)).min(BACKOFF_CAP);
                assert!(d >= base / 2 && d <= base, "{attempt} {seed}: {d:?}");
                assert_eq!(d, backoff(attempt, seed));
            }
        }
        assert_ne!(backoff(3, 1), backoff(3, 2));
    }

    #[test]
    fn one_submission_costs_fallback_gas_plus_the_data_fee_and_charges_count_failed_txs() {
        use crate::logic::chain_json::{Event, TxResponse};
        assert_eq!(submission_cost(12.0, 1_000), 3_601_000);
        assert_eq!(submission_cost(0.1, 0), 30_000);
        let fee = |v: &str| Event {
            kind: "tx".into(),
            attributes: vec![
                ("fee".into(), v.into()),
                ("fee_payer".into(), "allo1x".into()),
            ],
        };
        let tx = |code: u32, events: Vec<Event>| TxResponse {
            code,
            events,
            ..TxResponse::default()
        };
        assert_eq!(
            fee_charged(&tx(0, vec![fee("3600000uallo")]), 1_000),
            3_601_000
        );
        // Out of gas in the block: the fee is taken, the message did not run.
        assert_eq!(
            fee_charged(&tx(11, vec![fee("3600000uallo")]), 1_000),
            3_600_000
        );
        // An ante failure at delivery emits no fee event: nothing charged.
        assert_eq!(fee_charged(&tx(13, vec![]), 1_000), 0);
        assert_eq!(fee_charged(&tx(11, vec![fee("12stake")]), 1_000), 0);
    }
}
