//! The live score record: what the worker submitted (or missed) per nonce
//! and, once the nonce's target time has passed and the bars cover it, how
//! the network's losses score it (reputer CZAR and its log10, ZPTAE, the
//! sign hit) next to what the zero forecast would have scored. The 7- and
//! 30-day summaries `status` shows (participation, mean losses against zero,
//! DA and the gates the record allows) and the `allora_worker_score_*`
//! metrics are computed here.
//!
//! Pure: JSON lines in and out (`io::scorefile` appends and fsyncs them),
//! `now` and the bars are arguments. A truth is never made up: an entry is
//! scored only from two bars the series holds, and stays pending otherwise.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::logic::bars::{Series, HOUR};
use crate::logic::features;
use crate::logic::ledger::Stage;
use crate::logic::scoring::{self, Czar};
use crate::logic::verify::{self, Msg};

/// The windows `status` and the metrics summarise, in days.
pub const WINDOWS_DAYS: [i64; 2] = [7, 30];

/// One nonce's scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// The nonce's block time rounded down to the minute (unix s).
    pub t0: i64,
    pub value: f64,
    pub truth: f64,
    pub std: f64,
    pub czar: f64,
    pub log10_czar: f64,
    pub zptae: f64,
    pub zero_czar: f64,
    pub zero_log10_czar: f64,
    pub zero_zptae: f64,
    /// Same sign as the truth (a zero forecast or truth is a miss).
    pub hit: bool,
}

/// What the record knows of a nonce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Included on chain; `value` is `None` when the signed bytes were not
    /// at hand (then it counts for participation but is never scored).
    Submitted {
        value: Option<f64>,
    },
    /// The window closed without a submission.
    Missed,
    Scored(Scores),
}

/// One line of the record: a nonce, the worker's clock when it was
/// written (unix s), and what it says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub nonce: i64,
    pub at: i64,
    pub outcome: Outcome,
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

impl Entry {
    /// The JSON line (no trailing newline).
    pub fn to_line(&self) -> String {
        let mut v = json!({"nonce": self.nonce, "at": self.at});
        match self.outcome {
            Outcome::Submitted { value } => {
                v["state"] = json!("submitted");
                v["value"] = value.map_or(Value::Null, num);
            }
            Outcome::Missed => v["state"] = json!("missed"),
            Outcome::Scored(s) => {
                v["state"] = json!("scored");
                let data = scores_json(&s);
                if let (Value::Object(m), Value::Object(d)) = (&mut v, data) {
                    m.extend(d);
                }
            }
        }
        v.to_string()
    }

    /// Parses one line; an error for a torn or foreign line.
    pub fn from_line(line: &str) -> Result<Entry> {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Error::Decode(format!("score record line: {e}")))?;
        let int = |k: &str| {
            v[k].as_i64()
                .ok_or_else(|| Error::Decode(format!("score record line without {k}")))
        };
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let outcome = match v["state"].as_str() {
            Some("submitted") => Outcome::Submitted {
                value: v["value"].as_f64(),
            },
            Some("missed") => Outcome::Missed,
            Some("scored") => Outcome::Scored(Scores {
                t0: int("t0")?,
                value: f("prediction"),
                truth: f("truth"),
                std: f("std"),
                czar: f("czar"),
                log10_czar: f("log10_czar"),
                zptae: f("zptae"),
                zero_czar: f("zero_czar"),
                zero_log10_czar: f("zero_log10_czar"),
                zero_zptae: f("zero_zptae"),
                hit: v["hit"].as_bool().unwrap_or(false),
            }),
            other => return Err(Error::Decode(format!("score record state {other:?}"))),
        };
        Ok(Entry {
            nonce: int("nonce")?,
            at: int("at")?,
            outcome,
        })
    }

    /// When the entry's outcome is (or will be) known: the target time of a
    /// scored nonce, else the record time plus the horizon.
    pub fn target_time(&self, horizon_hours: usize) -> i64 {
        let h = horizon_hours as i64 * HOUR;
        match self.outcome {
            Outcome::Scored(s) => s.t0 + h,
            _ => self.at + h,
        }
    }
}

/// The `score` event's data and the scored line's keys.
pub fn scores_json(s: &Scores) -> Value {
    json!({
        "t0": s.t0, "prediction": num(s.value), "truth": num(s.truth), "std": num(s.std),
        "czar": num(s.czar), "log10_czar": num(s.log10_czar), "zptae": num(s.zptae),
        "zero_czar": num(s.zero_czar), "zero_log10_czar": num(s.zero_log10_czar),
        "zero_zptae": num(s.zero_zptae), "hit": s.hit,
    })
}

/// The record entry a ledger record implies, given the nonce's previous
/// ledger record: an inclusion (with the value decoded from the signed
/// bytes of the included hash), a nonce the chain already had from us
/// ("already submitted", "already served: …"), or
/// a window that ended otherwise (missed); `None` for the other stages.
pub fn from_ledger(nonce: i64, at: i64, previous: Option<&Stage>, stage: &Stage) -> Option<Entry> {
    let outcome = match stage {
        Stage::Included { tx_hash, .. } => Outcome::Submitted {
            value: match previous {
                Some(Stage::Signed {
                    tx_hash: h, tx_b64, ..
                })
                | Some(Stage::Broadcast {
                    tx_hash: h, tx_b64, ..
                }) if h == tx_hash => value_in_tx(tx_b64, nonce),
                _ => None,
            },
        },
        Stage::Done { reason } if reason.starts_with("already") => {
            Outcome::Submitted { value: None }
        }
        Stage::Done { .. } => Outcome::Missed,
        _ => return None,
    };
    Some(Entry { nonce, at, outcome })
}

/// The inference value a signed tx (base64 TxRaw) carries for `nonce`.
pub fn value_in_tx(tx_b64: &str, nonce: i64) -> Option<f64> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(tx_b64)
        .ok()?;
    let tx = verify::decode_tx(&raw).ok()?;
    tx.messages
        .iter()
        .filter(|m| matches!(m, Msg::Insert { .. }) && m.nonce() == nonce)
        .find_map(|m| m.value()?.parse::<f64>().ok())
}

/// Scores a forecast made at `t0` from the bars: the truth is
/// ln(close(t0 + h) / close(t0)) with t0 floored to the hour, the std the
/// reputers' rule. `None` while the bars do not hold both closes.
pub fn score(s: &Series, t0: i64, value: f64, horizon: usize) -> Option<Scores> {
    let i = s.index_at(t0)?;
    if s.time(i) + HOUR <= t0 || i + horizon >= s.close.len() {
        return None;
    }
    let truth = features::target(s, i, horizon).filter(|t| t.is_finite())?;
    let std = scoring::reputer_std(s, i + horizon, horizon).unwrap_or(f64::NAN);
    let c = Czar::REPUTER;
    Some(Scores {
        t0,
        value,
        truth,
        std,
        czar: c.loss(truth, value, std),
        log10_czar: c.log10_loss(truth, value, std),
        zptae: scoring::zptae(truth, value, std),
        zero_czar: c.loss(truth, 0.0, std),
        zero_log10_czar: c.log10_loss(truth, 0.0, std),
        zero_zptae: scoring::zptae(truth, 0.0, std),
        hit: value != 0.0 && truth != 0.0 && (value > 0.0) == (truth > 0.0),
    })
}

/// The folded record: the latest entry of each nonce (a scored entry is
/// final; a missed one never overrides a submission).
#[derive(Debug, Default, Clone)]
pub struct Record {
    latest: BTreeMap<i64, Entry>,
}

impl Record {
    /// Folds entries in file order.
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Record {
        let mut r = Record::default();
        for e in entries {
            r.apply(e);
        }
        r
    }

    /// Applies one entry.
    pub fn apply(&mut self, e: Entry) {
        let keep_old = matches!(
            (self.latest.get(&e.nonce).map(|o| o.outcome), e.outcome),
            (Some(Outcome::Scored(_)), _) | (Some(Outcome::Submitted { .. }), Outcome::Missed)
        );
        if !keep_old {
            self.latest.insert(e.nonce, e);
        }
    }

    /// Every nonce's latest entry, oldest nonce first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.latest.values()
    }

    /// Submitted nonces with a known value that may be due at `now`: their
    /// record time is at most an hour after the nonce, so their target
    /// passed no earlier than `at + horizon − 1 h`.
    pub fn due(&self, now: i64, horizon_hours: usize) -> Vec<(i64, f64)> {
        self.latest
            .values()
            .filter_map(|e| match e.outcome {
                Outcome::Submitted { value: Some(v) }
                    if e.target_time(horizon_hours) - HOUR <= now =>
                {
                    Some((e.nonce, v))
                }
                _ => None,
            })
            .collect()
    }

    /// Entries to keep when compacting: those whose target time is at or
    /// after `keep_since` (so a 30-day summary stays whole).
    pub fn compacted(&self, keep_since: i64, horizon_hours: usize) -> Vec<Entry> {
        self.latest
            .values()
            .filter(|e| e.target_time(horizon_hours) >= keep_since)
            .copied()
            .collect()
    }

    /// Number of nonces recorded.
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::bars::Bar;

    fn series(n: usize) -> Series {
        let bars: Vec<Bar> = (0..n)
            .map(|i| Bar {
                t: i as i64 * HOUR,
                open: None,
                high: None,
                low: None,
                volume: None,
                close: 100.0
                    * (1.0 + 0.01 * ((i % 37) as f64 - 18.0) / 18.0)
                    * (1.0 + i as f64 * 1e-4),
            })
            .collect();
        Series::from_bars(&bars)
    }

    #[test]
    fn lines_round_trip() {
        let s = score(&series(1000), 600 * HOUR + 59, 0.01, 168).unwrap();
        for outcome in [
            Outcome::Submitted { value: Some(-0.25) },
            Outcome::Submitted { value: None },
            Outcome::Missed,
            Outcome::Scored(s),
        ] {
            let e = Entry {
                nonce: 7,
                at: 99,
                outcome,
            };
            assert_eq!(Entry::from_line(&e.to_line()).unwrap(), e);
        }
        assert!(Entry::from_line("{\"nonce\": 1, \"at\": 2, \"state\": \"sco").is_err());
        assert!(Entry::from_line("{\"nonce\": 1, \"at\": 2, \"state\": \"x\"}").is_err());
    }

    #[test]
    fn scores_come_from_two_bars_only() {
        let s = series(1000);
        let t0 = 600 * HOUR + 1800;
        let got = score(&s, t0, 0.01, 168).unwrap();
        let truth = (s.close[768] / s.close[600]).ln();
        assert!((got.truth - truth).abs() < 1e-15);
        let std = scoring::reputer_std(&s, 768, 168).unwrap();
        assert_eq!(got.std, std);
        assert_eq!(got.czar, Czar::REPUTER.loss(truth, 0.01, std));
        assert_eq!(
            got.zero_log10_czar,
            Czar::REPUTER.log10_loss(truth, 0.0, std)
        );
        assert_eq!(got.hit, truth > 0.0);
        // The target bar is not there yet, or the start bar is missing.
        assert_eq!(score(&s, 900 * HOUR, 0.01, 168), None);
        let mut gappy = s.clone();
        gappy.close[768] = f64::NAN;
        assert_eq!(score(&gappy, t0, 0.01, 168), None);
        assert_eq!(score(&s, -5, 0.01, 168), None);
    }

    #[test]
    fn a_scored_nonce_stays_scored_and_compaction_keeps_thirty_days_of_targets() {
        let s = score(&series(1000), 600 * HOUR, 0.01, 168).unwrap();
        let h = 168 * HOUR;
        let mut r = Record::default();
        r.apply(Entry {
            nonce: 1,
            at: 600 * HOUR,
            outcome: Outcome::Submitted { value: Some(0.01) },
        });
        r.apply(Entry {
            nonce: 2,
            at: 10,
            outcome: Outcome::Missed,
        });
        r.apply(Entry {
            nonce: 3,
            at: 10,
            outcome: Outcome::Submitted { value: None },
        });
        assert_eq!(r.due(600 * HOUR + h - HOUR - 1, 168), vec![]);
        assert_eq!(r.due(600 * HOUR + h - HOUR, 168), vec![(1, 0.01)]);
        r.apply(Entry {
            nonce: 1,
            at: 800 * HOUR,
            outcome: Outcome::Scored(s),
        });
        r.apply(Entry {
            nonce: 1,
            at: 801 * HOUR,
            outcome: Outcome::Submitted { value: Some(1.0) },
        });
        r.apply(Entry {
            nonce: 3,
            at: 11,
            outcome: Outcome::Missed,
        });
        assert!(r.due(i64::MAX / 2, 168).is_empty());
        assert!(matches!(
            r.entries().next().unwrap().outcome,
            Outcome::Scored(_)
        ));
        let kept: Vec<i64> = r
            .compacted(600 * HOUR + h, 168)
            .iter()
            .map(|e| e.nonce)
            .collect();
        assert_eq!(kept, vec![1]);
        assert_eq!(r.compacted(0, 168).len(), 3);
    }

    #[test]
    fn ledger_records_map_to_entries() {
        let done = |reason: &str| Stage::Done {
            reason: reason.into(),
        };
        let inc = Stage::Included {
            tx_hash: "AB".into(),
            height: 5,
            admitted: true,
        };
        let e = from_ledger(4, 9, None, &inc).unwrap();
        assert_eq!(e.outcome, Outcome::Submitted { value: None });
        let other = Stage::Broadcast {
            tx_hash: "CD".into(),
            sequence: 1,
            tx_b64: "AAAA".into(),
        };
        assert_eq!(
            from_ledger(4, 9, Some(&other), &inc).unwrap().outcome,
            Outcome::Submitted { value: None }
        );
        assert_eq!(
            from_ledger(4, 9, None, &done("missed (late): x"))
                .unwrap()
                .outcome,
            Outcome::Missed
        );
        assert_eq!(
            from_ledger(4, 9, None, &done("already submitted"))
                .unwrap()
                .outcome,
            Outcome::Submitted { value: None }
        );
        assert_eq!(
            from_ledger(4, 9, None, &done("already served: found by state"))
                .unwrap()
                .outcome,
            Outcome::Submitted { value: None }
        );
        assert_eq!(
            from_ledger(4, 9, None, &Stage::Predicted { value: "1".into() }),
            None
        );
        assert_eq!(value_in_tx("not base64!", 4), None);
    }
}
