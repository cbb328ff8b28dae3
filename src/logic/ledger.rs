//! The submission ledger's state machine: what happened to each nonce
//! (predicted → signed → broadcast → included / admitted / rejected /
//! dropped) and, from that, what the worker may do with a nonce next.
//!
//! Pure. Records are JSON lines (`io::ledger` appends and fsyncs them); the
//! `signed` record carries the exact tx bytes so that after a crash the
//! worker rebroadcasts those bytes instead of signing a second transaction
//! for the same nonce. The invariant: a nonce with a signed transaction that
//! might still land is never signed again.
//!
//! Format versions: every line carries `"v"`, the format it was written in
//! (`FORMAT`). A line without `v` is format 1 (every release up to and
//! including b796a36 wrote those, with the same fields), so an old ledger is
//! read as it is, never rewritten or re-signed on upgrade; a line with a `v`
//! above `FORMAT` was written by a newer binary and `newer_format` reports
//! it, so the file is refused rather than half understood. A version per
//! line (not a header line) keeps an old file readable without a rewrite,
//! survives compaction and a torn line, and lets the previous release read
//! new lines (it ignores keys it does not know).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::logic::submission::Tx;

/// The ledger format this binary writes (and the newest it reads).
pub const FORMAT: u64 = 2;

/// The format of a line written without `v` (releases up to b796a36).
pub const UNVERSIONED_FORMAT: u64 = 1;

/// The newest format among `lines` when it is newer than `FORMAT` (the file
/// must then be refused, not rewritten); torn lines are ignored.
pub fn newer_format(lines: &[String]) -> Option<u64> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| line_format(&v))
        .filter(|f| *f > FORMAT)
        .max()
}

/// The format a parsed line says it was written in (`u64::MAX` for a `v`
/// that is not a number: certainly not one this binary wrote).
fn line_format(v: &Value) -> u64 {
    match v.get("v") {
        None => UNVERSIONED_FORMAT,
        Some(n) => n.as_u64().unwrap_or(u64::MAX),
    }
}

/// The stages a nonce goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// A prediction exists; nothing signed.
    Predicted { value: String },
    /// A transaction is signed (bytes kept) and about to be broadcast;
    /// `timeout_height` 0 when unknown (ledgers written before it was kept).
    Signed {
        tx_hash: String,
        sequence: u64,
        tx_b64: String,
        timeout_height: u64,
    },
    /// The broadcast was accepted by CheckTx (or its outcome is unknown).
    Broadcast {
        tx_hash: String,
        sequence: u64,
        tx_b64: String,
    },
    /// Included in a block and admitted (or included with code 0).
    Included {
        tx_hash: String,
        height: u64,
        admitted: bool,
    },
    /// The newest signed tx can never land (CheckTx refused its first
    /// broadcast, it failed in a block, or its timeout height passed unseen),
    /// so the nonce may be signed again (with the reason logged).
    Refused { reason: String },
    /// Final: the chain rejected it at delivery, or it was dropped.
    Done { reason: String },
}

/// One ledger line: a nonce, the unix time of the record, its new stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub nonce: i64,
    pub at: i64,
    pub stage: Stage,
}

/// What the worker may do with a nonce, according to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Nothing signed yet (or only refused by CheckTx): predict/sign/submit.
    Submit,
    /// A tx was signed and may be pending: look every signed hash up, and
    /// if one must be sent again, send exactly its bytes.
    Reconcile,
    /// Finished; never submit this nonce again.
    Finished,
}

impl Record {
    /// The JSON line for this record (no trailing newline).
    pub fn to_line(&self) -> String {
        let mut v = json!({"v": FORMAT, "nonce": self.nonce, "at": self.at});
        let (state, extra) = match &self.stage {
            Stage::Predicted { value } => ("predicted", json!({"value": value})),
            Stage::Signed {
                tx_hash,
                sequence,
                tx_b64,
                timeout_height,
            } => (
                "signed",
                json!({"tx_hash": tx_hash, "sequence": sequence, "tx": tx_b64, "timeout_height": timeout_height}),
            ),
            Stage::Broadcast {
                tx_hash,
                sequence,
                tx_b64,
            } => (
                "broadcast",
                json!({"tx_hash": tx_hash, "sequence": sequence, "tx": tx_b64}),
            ),
            Stage::Included {
                tx_hash,
                height,
                admitted,
            } => (
                "included",
                json!({"tx_hash": tx_hash, "height": height, "admitted": admitted}),
            ),
            Stage::Refused { reason } => ("refused", json!({"reason": reason})),
            Stage::Done { reason } => ("done", json!({"reason": reason})),
        };
        v["state"] = json!(state);
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        v.to_string()
    }

    /// Parses one ledger line.
    pub fn from_line(line: &str) -> Result<Record> {
        let v: Value =
            serde_json::from_str(line).map_err(|e| Error::Decode(format!("ledger line: {e}")))?;
        let format = line_format(&v);
        if format > FORMAT {
            return Err(Error::Decode(format!(
                "ledger line has format {format}, newer than {FORMAT}"
            )));
        }
        let s = |k: &str| {
            v[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::Decode(format!("ledger line lacks {k}")))
        };
        let n = |k: &str| {
            v[k].as_u64()
                .ok_or_else(|| Error::Decode(format!("ledger line lacks {k}")))
        };
        let nonce = v["nonce"]
            .as_i64()
            .ok_or_else(|| Error::Decode("ledger line lacks nonce".into()))?;
        let at = v["at"].as_i64().unwrap_or(0);
        let stage = match s("state")?.as_str() {
            "predicted" => Stage::Predicted { value: s("value")? },
            "signed" => Stage::Signed {
                tx_hash: s("tx_hash")?,
                sequence: n("sequence")?,
                tx_b64: s("tx")?,
                timeout_height: v["timeout_height"].as_u64().unwrap_or(0),
            },
            "broadcast" => Stage::Broadcast {
                tx_hash: s("tx_hash")?,
                sequence: n("sequence")?,
                tx_b64: s("tx")?,
            },
            "included" => Stage::Included {
                tx_hash: s("tx_hash")?,
                height: n("height")?,
                admitted: v["admitted"].as_bool().unwrap_or(false),
            },
            "refused" => Stage::Refused {
                reason: s("reason")?,
            },
            "done" => Stage::Done {
                reason: s("reason")?,
            },
            other => {
                return Err(Error::Decode(format!(
                    "ledger line has unknown state {other:?}"
                )))
            }
        };
        Ok(Record { nonce, at, stage })
    }
}

/// The folded ledger: the latest record of each nonce, and every tx ever
/// signed for it (all are looked up until the nonce is finished).
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    latest: BTreeMap<i64, Record>,
    signed: BTreeMap<i64, Vec<Tx>>,
}

impl Ledger {
    /// Folds records in file order.
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> Ledger {
        let mut l = Ledger::default();
        for r in records {
            l.apply(r);
        }
        l
    }

    /// Applies one record. A finished nonce stays finished: a late record
    /// cannot reopen it (the file is append-only and ordered, so this only
    /// guards against bugs).
    pub fn apply(&mut self, r: Record) {
        if self.next(r.nonce) == Next::Finished
            && !matches!(r.stage, Stage::Included { .. } | Stage::Done { .. })
        {
            return;
        }
        if let Stage::Signed {
            tx_hash,
            sequence,
            tx_b64,
            timeout_height,
        } = &r.stage
        {
            let txs = self.signed.entry(r.nonce).or_default();
            if !txs.iter().any(|t| &t.hash == tx_hash) {
                txs.push(Tx {
                    hash: tx_hash.clone(),
                    sequence: *sequence,
                    timeout_height: *timeout_height,
                    bytes_b64: tx_b64.clone(),
                });
            }
        }
        self.latest.insert(r.nonce, r);
    }

    /// Every tx signed for `nonce`, oldest first.
    pub fn signed(&self, nonce: i64) -> &[Tx] {
        self.signed.get(&nonce).map_or(&[], Vec::as_slice)
    }

    /// The latest record of `nonce`.
    pub fn get(&self, nonce: i64) -> Option<&Record> {
        self.latest.get(&nonce)
    }

    /// What may be done with `nonce`.
    pub fn next(&self, nonce: i64) -> Next {
        match self.latest.get(&nonce).map(|r| &r.stage) {
            None | Some(Stage::Predicted { .. }) | Some(Stage::Refused { .. }) => Next::Submit,
            Some(Stage::Signed { .. }) | Some(Stage::Broadcast { .. }) => Next::Reconcile,
            Some(Stage::Included { .. }) | Some(Stage::Done { .. }) => Next::Finished,
        }
    }

    /// Every nonce the ledger holds, ascending.
    pub fn nonces(&self) -> Vec<i64> {
        self.latest.keys().copied().collect()
    }

    /// Nonces whose transaction may still be pending (reconcile on start).
    pub fn unresolved(&self) -> Vec<i64> {
        self.latest
            .keys()
            .copied()
            .filter(|n| self.next(*n) == Next::Reconcile)
            .collect()
    }

    /// Records to keep when compacting: the latest of every nonce recorded at
    /// or after `keep_since` (unix seconds), plus every unresolved nonce
    /// with every tx signed for it.
    pub fn compacted(&self, keep_since: i64) -> Vec<Record> {
        let mut out = Vec::new();
        for r in self.latest.values() {
            if self.next(r.nonce) == Next::Reconcile {
                for t in self.signed(r.nonce) {
                    out.push(Record {
                        nonce: r.nonce,
                        at: r.at,
                        stage: Stage::Signed {
                            tx_hash: t.hash.clone(),
                            sequence: t.sequence,
                            tx_b64: t.bytes_b64.clone(),
                            timeout_height: t.timeout_height,
                        },
                    });
                }
                if !matches!(r.stage, Stage::Signed { .. }) {
                    out.push(r.clone());
                }
            } else if r.at >= keep_since {
                out.push(r.clone());
            }
        }
        out
    }

    /// Number of nonces in the ledger.
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

    fn rec(nonce: i64, at: i64, stage: Stage) -> Record {
        Record { nonce, at, stage }
    }

    fn signed(h: &str) -> Stage {
        signed_as(h, 4, 120)
    }

    fn signed_as(h: &str, sequence: u64, timeout_height: u64) -> Stage {
        Stage::Signed {
            tx_hash: h.into(),
            sequence,
            tx_b64: "AAAA".into(),
            timeout_height,
        }
    }

    #[test]
    fn lines_round_trip() {
        let stages = [
            Stage::Predicted {
                value: "-0.0123".into(),
            },
            signed("AB"),
            Stage::Broadcast {
                tx_hash: "AB".into(),
                sequence: 4,
                tx_b64: "AAAA".into(),
            },
            Stage::Included {
                tx_hash: "AB".into(),
                height: 99,
                admitted: true,
            },
            Stage::Refused {
                reason: "sdk/32".into(),
            },
            Stage::Done {
                reason: "window closed".into(),
            },
        ];
        for s in stages {
            let r = rec(7, 1_700_000_000, s);
            assert_eq!(Record::from_line(&r.to_line()).unwrap(), r);
        }
        assert!(Record::from_line("{\"nonce\":1,\"state\":\"weird\"}").is_err());
        assert!(Record::from_line("{\"nonce\":1,\"sta").is_err());
    }

    #[test]
    fn formats_old_current_and_newer() {
        let old = r#"{"at":5,"nonce":9,"sequence":3,"state":"signed","timeout_height":20,"tx":"AAAA","tx_hash":"AB"}"#;
        let r = Record::from_line(old).unwrap();
        assert_eq!(
            r.stage,
            signed_as("AB", 3, 20),
            "a format-1 line reads as is"
        );
        assert!(r.to_line().contains(r#""v":2"#), "{}", r.to_line());
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(newer_format(&lines(&[old, &r.to_line(), "{\"v\":9"])), None);
        let newer = r#"{"v":3,"at":5,"nonce":9,"state":"predicted","value":"1"}"#;
        assert_eq!(newer_format(&lines(&[old, newer])), Some(3));
        assert_eq!(newer_format(&lines(&[r#"{"v":"x"}"#])), Some(u64::MAX));
        assert!(Record::from_line(newer).is_err());
    }

    #[test]
    fn a_signed_nonce_is_never_signed_again() {
        let mut l = Ledger::default();
        assert_eq!(l.next(5), Next::Submit);
        l.apply(rec(
            5,
            1,
            Stage::Predicted {
                value: "0.1".into(),
            },
        ));
        assert_eq!(l.next(5), Next::Submit);
        l.apply(rec(5, 2, signed("H")));
        assert_eq!(l.next(5), Next::Reconcile);
        l.apply(rec(5, 2, signed("H2")));
        let hashes: Vec<&str> = l.signed(5).iter().map(|t| t.hash.as_str()).collect();
        assert_eq!(hashes, ["H", "H2"], "every signed hash is kept");
        assert_eq!(l.unresolved(), vec![5]);
        l.apply(rec(
            5,
            3,
            Stage::Included {
                tx_hash: "H".into(),
                height: 9,
                admitted: true,
            },
        ));
        assert_eq!(l.next(5), Next::Finished);
        l.apply(rec(
            5,
            4,
            Stage::Predicted {
                value: "0.2".into(),
            },
        ));
        assert_eq!(
            l.next(5),
            Next::Finished,
            "a finished nonce cannot be reopened"
        );
        l.apply(rec(
            6,
            5,
            Stage::Refused {
                reason: "sequence".into(),
            },
        ));
        assert_eq!(
            l.next(6),
            Next::Submit,
            "CheckTx refusal never reached a mempool"
        );
    }

    #[test]
    fn compaction_keeps_recent_and_unresolved() {
        let l = Ledger::from_records([
            rec(
                1,
                10,
                Stage::Done {
                    reason: "old".into(),
                },
            ),
            rec(2, 10, signed("OLD")),
            rec(
                3,
                100,
                Stage::Done {
                    reason: "new".into(),
                },
            ),
        ]);
        let kept: Vec<i64> = l.compacted(50).iter().map(|r| r.nonce).collect();
        assert_eq!(kept, vec![2, 3]);
    }
}
