//! The life of one nonce's submission as one pure state machine,
//! `Submission::on(Event) -> Step`, kept free of I/O the way ureq-proto keeps
//! HTTP: `agent` carries out each `Step` through `io` (the ledger record
//! first, then the action) and reports what happened as the next `Event`.
//! The daemon and `register` drive the same machine.
//!
//! **The invariant**: a nonce is signed again only when no tx signed for it
//! can still land — CheckTx refused the *first* broadcast of those bytes, or
//! the tx was included and failed, or its timeout height has passed and no
//! LCD finds it. When the chain shows the nonce served by this worker it is
//! done, never re-signed. Any answer to a *resend* of the same bytes (sdk/32,
//! sdk/19, anything) says nothing about the first copy and is never a
//! refusal. Every hash signed for the nonce is looked up until it ends.
//!
//! | stage | event | next stage | action (record first) |
//! |---|---|---|---|
//! | `Idle` | `Tick`, window open | `Signing` | `Sign` |
//! | `Idle` | `Tick`, window closed | `Done` | `Finish(Missed)` |
//! | `Signing` | `Signed(tx)` | `Sending` (first) | record `signed`, `Broadcast(tx)` |
//! | `Signing` | `Refused` by simulate, terminal | `Done` | `Finish`: nothing broadcast |
//! | `Signing` | `Failed` | `Idle` | `Later` (backoff) |
//! | `Signing` | `Tick`, window closed (it passed while predicting) | `Done` | `Finish(Missed)`: nothing signed |
//! | `Sending` | `Answer` 0 or 19 | `Following` | record `broadcast`, `Later` |
//! | `Sending` first | `Answer` 32 / 13, budget left | `Signing` | record `refused`, `Sign` |
//! | `Sending` first | `Answer` 20 (mempool full) | `Following` (resend) | `Later` |
//! | `Sending` first | `Answer`, terminal | `Done` | record `done`, `Finish` |
//! | `Sending` resend | `Answer` ≠ 0 (32, 13, …) | `Following` | `Later`: **not a refusal** |
//! | `Sending` | `Lost` (reply unknown) | `Following` (resend) | record `broadcast`, `Later` |
//! | `Sending` | `NotSent` (never reached a node) | `Following` (resend, still first) | `Later` |
//! | `Following` | `Tick` | `Following` | `Lookup` (every hash, every LCD, and the chain) |
//! | `Following` | `Found` code 0 | `Done` | `Finish(Included / NotAdmitted)` |
//! | `Following` | `Found` 11 (out of gas) or 13 (fee at delivery), budget, window open | `Signing` | `Sign` (more gas / higher price) |
//! | `Following` | `Found` other code | `Done` | `Finish` |
//! | `Following` | `NotFound`, the chain shows our payload | `Done` | `Finish(Included)`: the newest tx, at the height seen |
//! | `Following` | `NotFound`, timeout height passed, window open | `Signing` | `Sign` |
//! | `Following` | `NotFound`, window closed ≤ `INDEX_GRACE_BLOCKS` ago | `Following` | `Later` (no resend) |
//! | `Following` | `NotFound`, window closed longer ago | `Done` | `Finish(Missed)` |
//! | `Following` | `NotFound`, resend due | `Sending` (resend) | `Broadcast(same bytes)` |
//! | `Following` | `NotFound` / `LookupFailed` | `Following` | `Later` (poll) |
//! | `Sending` first | `RecordFailed` | `Idle` | `Later`: the bytes never left |
//! | `Done` | `RecordFailed` | `Done` | `Later` (poll): no chain query |
//! | `Done` | `Tick` | `Done` | record the outcome again, `Finish` |
//! | any other | `RecordFailed` | same | `Later` |
//!
//! Re-signing spends `logic::submit::Budget`: 3 after sdk/32, 2 price
//! raises after sdk/13, 1 gas raise after sdk/11; then the nonce is dropped.

use crate::logic::chain_json::TxResponse;
use crate::logic::ledger;
use crate::logic::schedule::nonce_retry_delay_ms;
use crate::logic::submit::{classify, Budget, Verdict};

/// After its window closed, a tx nobody finds is looked for this many more
/// blocks (an LCD's index may lag) before the window counts as missed.
pub const INDEX_GRACE_BLOCKS: u64 = 10;

/// One signed transaction of a nonce, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx {
    pub hash: String,
    pub sequence: u64,
    /// The block after which it can no longer land (0: none, never passes).
    pub timeout_height: u64,
    pub bytes_b64: String,
}

/// A chain answer: CheckTx (broadcast), simulate, or a tx in a block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub codespace: String,
    pub code: u32,
    pub raw_log: String,
}

/// What `io` reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time to act (scheduled), with the chain height the worker knows.
    Tick { height: u64 },
    /// `Sign` produced this tx (not yet recorded nor broadcast).
    Signed(Tx),
    /// The simulate refused the tx with this chain answer: never broadcast.
    Refused(Answer),
    /// `Sign` failed (endpoint down, no prediction, low balance).
    Failed(String),
    /// The ledger record of the last step could not be written.
    RecordFailed,
    /// A broadcast's CheckTx answer.
    Answer(Answer),
    /// A broadcast whose reply was lost: the bytes may be in a mempool.
    Lost(String),
    /// A broadcast that never reached a node (connect failed).
    NotSent(String),
    /// One of the nonce's hashes is in a block.
    Found(TxResponse),
    /// No LCD finds any hash; `served`: the chain shows our payload (or
    /// registration) for this nonce.
    NotFound { height: u64, served: bool },
    /// The lookup itself failed.
    LookupFailed(String),
}

/// What `io` must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Build and sign a new tx: fresh account, simulate, price raised
    /// `bumps` times, gas at least `min_gas_used` × adjustment.
    Sign {
        bumps: u32,
        min_gas_used: Option<u64>,
    },
    /// POST these bytes (SYNC).
    Broadcast(Tx),
    /// Look every hash up on every LCD; if none is found, ask the height and
    /// whether the chain shows the nonce served by us.
    Lookup(Vec<String>),
    /// Come back with a `Tick` after this many milliseconds.
    Later(u64),
    /// The nonce is finished.
    Finish(Outcome),
}

/// How a nonce ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// In a block, code 0, our inference admitted.
    Included { tx_hash: String, height: u64 },
    /// In a block, code 0, but no `EventInsertInfererPayload`: not counted.
    NotAdmitted { tx_hash: String, height: u64 },
    /// The chain already has our payload (found by state or "already submitted").
    Served { how: String },
    /// Not registered in the topic.
    NotRegistered,
    /// Not permitted to submit (whitelist).
    NotWhitelisted,
    /// The window ended with nothing of ours landed.
    Missed { reason: String },
    /// Given up on this nonce; `redetect`: the chain may have upgraded.
    Dropped { reason: String, redetect: bool },
    /// The operator must act.
    Stopped { reason: String },
}

/// Where one nonce's submission is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Nothing signed that can still land.
    Idle,
    /// Waiting for `Sign`'s result.
    Signing,
    /// Waiting for a broadcast's answer; `first`: no earlier POST of these
    /// bytes may have reached a mempool.
    Sending { tx: Tx, first: bool },
    /// The tx may be pending; `resend`: POST the same bytes if not found.
    Following { tx: Tx, first: bool, resend: bool },
    /// Finished.
    Done(Outcome),
}

/// Fixed settings of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Last block a submission is accepted (None: unknown or no window).
    pub window_end: Option<u64>,
    /// Milliseconds between lookups of a pending tx.
    pub poll_ms: u64,
}

/// One step: write `record` to the ledger, then carry out `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub record: Option<ledger::Stage>,
    pub action: Action,
}

/// One nonce's submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub stage: Stage,
    pub limits: Limits,
    /// Every tx signed for this nonce, oldest first.
    pub signed: Vec<Tx>,
    pub budget: Budget,
    /// Highest chain height reported.
    pub height: u64,
    failures: u32,
    /// Hashes known never to land (refused at CheckTx, failed in a block).
    dead: Vec<String>,
}

impl Submission {
    /// A nonce with nothing signed.
    pub fn new(limits: Limits) -> Submission {
        Submission {
            stage: Stage::Idle,
            limits,
            signed: Vec::new(),
            budget: Budget::default(),
            height: 0,
            failures: 0,
            dead: Vec::new(),
        }
    }

    /// A nonce the ledger knows: `signed` every tx recorded for it, `open`
    /// whether the newest may still be pending (no `refused` after it).
    pub fn resume(limits: Limits, signed: Vec<Tx>, open: bool) -> Submission {
        let mut s = Submission::new(limits);
        if let (Some(tx), true) = (signed.last(), open) {
            s.stage = Stage::Following {
                tx: tx.clone(),
                first: false,
                resend: true,
            };
        }
        s.signed = signed;
        s
    }

    /// True once finished.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// True while a tx of this nonce may be in a mempool.
    pub fn in_flight(&self) -> bool {
        matches!(self.stage, Stage::Sending { .. } | Stage::Following { .. })
    }

    /// The sequence of this nonce's tx that CheckTx accepted and that may
    /// still land (its window open at `height`): the next tx of the key
    /// takes a higher one.
    pub fn accepted_sequence(&self, height: u64) -> Option<u64> {
        let open = self.limits.window_end.is_none_or(|e| height <= e);
        match &self.stage {
            Stage::Following {
                tx, resend: false, ..
            } if open => Some(tx.sequence),
            _ => None,
        }
    }

    /// True while this nonce holds a sequence whose use is unknown: a tx
    /// being signed, sent, or whose broadcast reply was lost (its window
    /// open at `height`). No other tx of the key may be signed meanwhile,
    /// or two could carry the same sequence.
    pub fn holds_unknown_sequence(&self, height: u64) -> bool {
        self.limits.window_end.is_none_or(|e| height <= e)
            && matches!(
                self.stage,
                Stage::Signing | Stage::Sending { .. } | Stage::Following { resend: true, .. }
            )
    }

    /// The transition function.
    pub fn on(&mut self, event: Event) -> Step {
        if let Event::Tick { height } | Event::NotFound { height, .. } = &event {
            self.height = self.height.max(*height);
        }
        let stage = std::mem::replace(&mut self.stage, Stage::Idle);
        match (stage, event) {
            (stage @ Stage::Done(_), Event::RecordFailed) => self.stay(stage, self.limits.poll_ms),
            (Stage::Done(o), Event::Tick { .. }) => self.finish(o),
            (Stage::Sending { first: true, .. }, Event::RecordFailed) => self.backoff(),
            (stage, Event::RecordFailed) => self.stay(stage, self.limits.poll_ms),
            (Stage::Idle, Event::Tick { .. }) => self.idle_tick(),
            (Stage::Signing, e) => self.after_sign(e),
            (Stage::Sending { tx, first }, e) => self.after_broadcast(tx, first, e),
            (Stage::Following { tx, first, resend }, e) => self.after_lookup(tx, first, resend, e),
            (stage, _) => self.stay(stage, 0),
        }
    }

    fn window_open(&self) -> bool {
        self.limits.window_end.is_none_or(|end| self.height <= end)
    }

    fn idle_tick(&mut self) -> Step {
        if !self.window_open() {
            let reason = "the window closed before a submission landed".to_string();
            return self.finish(Outcome::Missed { reason });
        }
        self.sign(None, None)
    }

    fn sign(&mut self, record: Option<ledger::Stage>, min_gas_used: Option<u64>) -> Step {
        self.stage = Stage::Signing;
        let action = Action::Sign {
            bumps: self.budget.bumps,
            min_gas_used,
        };
        Step { record, action }
    }

    fn after_sign(&mut self, event: Event) -> Step {
        match event {
            Event::Tick { .. } if !self.window_open() => {
                let reason = "the window closed before its tx was signed".to_string();
                self.finish(Outcome::Missed { reason })
            }
            Event::Signed(tx) => {
                self.failures = 0;
                self.signed.push(tx.clone());
                self.stage = Stage::Sending {
                    tx: tx.clone(),
                    first: true,
                };
                Step {
                    record: Some(ledger::Stage::Signed {
                        tx_hash: tx.hash.clone(),
                        sequence: tx.sequence,
                        tx_b64: tx.bytes_b64.clone(),
                        timeout_height: tx.timeout_height,
                    }),
                    action: Action::Broadcast(tx),
                }
            }
            Event::Refused(a) => match classify(&a.codespace, a.code, &a.raw_log) {
                v @ (Verdict::Success | Verdict::KeepPolling | Verdict::Rebroadcast) => {
                    // Not an answer a simulate gives; treat it as a failure.
                    let _ = v;
                    self.backoff()
                }
                v => self.verdict_final(v, &a, "simulate"),
            },
            _ => self.backoff(),
        }
    }

    fn after_broadcast(&mut self, tx: Tx, first: bool, event: Event) -> Step {
        let following = |resend| Stage::Following {
            tx: tx.clone(),
            first,
            resend,
        };
        let broadcast_record = || ledger::Stage::Broadcast {
            tx_hash: tx.hash.clone(),
            sequence: tx.sequence,
            tx_b64: tx.bytes_b64.clone(),
        };
        let a = match event {
            Event::Answer(a) => a,
            Event::Lost(_) => {
                self.stage = Stage::Following {
                    tx: tx.clone(),
                    first: false,
                    resend: true,
                };
                return self.later(Some(broadcast_record()), self.limits.poll_ms);
            }
            Event::NotSent(_) => {
                self.stage = following(true);
                return self.later(None, self.limits.poll_ms);
            }
            _ => {
                self.stage = following(true);
                return self.later(None, self.limits.poll_ms);
            }
        };
        let verdict = classify(&a.codespace, a.code, &a.raw_log);
        if matches!(verdict, Verdict::Success | Verdict::KeepPolling) {
            self.stage = Stage::Following {
                tx: tx.clone(),
                first: false,
                resend: false,
            };
            return self.later(Some(broadcast_record()), self.limits.poll_ms);
        }
        if !first {
            // A resend's refusal: the first copy may be in a block already.
            self.stage = Stage::Following {
                tx,
                first: false,
                resend: false,
            };
            return self.later(None, self.limits.poll_ms);
        }
        if verdict == Verdict::Rebroadcast {
            self.stage = following(true);
            return self.later(None, self.limits.poll_ms);
        }
        self.dead.push(tx.hash.clone());
        self.retry_or_finish(verdict, &a, "CheckTx", None)
    }

    /// A definitive "this tx did not and will not land": re-sign when the
    /// verdict and budget allow, else finish.
    fn retry_or_finish(
        &mut self,
        verdict: Verdict,
        a: &Answer,
        at: &str,
        gas_used: Option<u64>,
    ) -> Step {
        let reason = format!("{at} {}/{}: {}", a.codespace, a.code, a.raw_log);
        let retry = matches!(
            verdict,
            Verdict::Resign | Verdict::RaisePrice | Verdict::OutOfGas
        );
        if retry && self.window_open() {
            return match self.budget.spend(&verdict) {
                Ok(()) => {
                    let record = ledger::Stage::Refused { reason };
                    self.sign(
                        Some(record),
                        gas_used.filter(|_| verdict == Verdict::OutOfGas),
                    )
                }
                Err(why) => self.finish(Outcome::Dropped {
                    reason: format!("{why} ({reason})"),
                    redetect: false,
                }),
            };
        }
        self.verdict_final(verdict, a, at)
    }

    fn verdict_final(&mut self, verdict: Verdict, a: &Answer, at: &str) -> Step {
        let reason = format!("{at} {}/{}: {}", a.codespace, a.code, a.raw_log);
        let outcome = match verdict {
            Verdict::AlreadySubmitted => Outcome::Served {
                how: format!("the chain answered {reason}"),
            },
            Verdict::NotRegistered => Outcome::NotRegistered,
            Verdict::NotWhitelisted => Outcome::NotWhitelisted,
            Verdict::Redetect(why) => Outcome::Dropped {
                reason: why,
                redetect: true,
            },
            Verdict::Stop(why) => Outcome::Stopped { reason: why },
            Verdict::Drop(why) => Outcome::Dropped {
                reason: why,
                redetect: false,
            },
            _ => Outcome::Dropped {
                reason,
                redetect: false,
            },
        };
        self.finish(outcome)
    }

    fn after_lookup(&mut self, tx: Tx, first: bool, resend: bool, event: Event) -> Step {
        let following = Stage::Following {
            tx: tx.clone(),
            first,
            resend,
        };
        match event {
            Event::Tick { .. } => {
                self.stage = following;
                let hashes = self
                    .signed
                    .iter()
                    .filter(|t| !self.dead.contains(&t.hash))
                    .map(|t| t.hash.clone())
                    .collect();
                Step {
                    record: None,
                    action: Action::Lookup(hashes),
                }
            }
            Event::Found(r) if r.txhash != tx.hash && r.code != 0 => {
                // An earlier tx, failed in its block long ago: not news.
                self.dead.push(r.txhash);
                self.stay(following, 0)
            }
            Event::Found(r) => self.found(r),
            // The chain shows our payload but no LCD indexes a tx: only the
            // newest tx can have landed (every earlier one was refused or
            // failed in a block), so it is that one, seen at this height.
            Event::NotFound {
                served: true,
                height,
            } => self.finish(Outcome::Included {
                tx_hash: tx.hash,
                height,
            }),
            Event::NotFound { height, .. } => {
                let expired = self
                    .signed
                    .iter()
                    .all(|t| t.timeout_height > 0 && height > t.timeout_height);
                if expired && self.window_open() {
                    let reason = format!("tx {} not found after its timeout height", tx.hash);
                    return self.sign(Some(ledger::Stage::Refused { reason }), None);
                }
                if !self.window_open() {
                    let end = self.limits.window_end.unwrap_or(0);
                    if height <= end.saturating_add(INDEX_GRACE_BLOCKS) {
                        // A lagging index may not show it yet.
                        let stage = Stage::Following {
                            tx,
                            first,
                            resend: false,
                        };
                        return self.stay(stage, self.limits.poll_ms);
                    }
                    let reason = format!(
                        "tx {} not found by any LCD {INDEX_GRACE_BLOCKS} blocks after the window's end block",
                        tx.hash
                    );
                    return self.finish(Outcome::Missed { reason });
                }
                if resend {
                    self.stage = Stage::Sending {
                        tx: tx.clone(),
                        first,
                    };
                    return Step {
                        record: None,
                        action: Action::Broadcast(tx),
                    };
                }
                self.stay(following, self.limits.poll_ms)
            }
            _ => self.stay(following, self.limits.poll_ms),
        }
    }

    fn found(&mut self, r: TxResponse) -> Step {
        let a = Answer {
            codespace: r.codespace.clone(),
            code: r.code,
            raw_log: r.raw_log.clone(),
        };
        if r.code == 0 {
            let admitted = crate::logic::chain_json::admitted(&r.events);
            let (tx_hash, height) = (r.txhash, r.height);
            let outcome = if admitted {
                Outcome::Included { tx_hash, height }
            } else {
                Outcome::NotAdmitted { tx_hash, height }
            };
            return self.finish(outcome);
        }
        // Included and failed: those bytes are spent and can never land again.
        self.dead.push(r.txhash.clone());
        let verdict = classify(&a.codespace, a.code, &a.raw_log);
        self.retry_or_finish(verdict, &a, "delivery", Some(r.gas_used))
    }

    fn finish(&mut self, outcome: Outcome) -> Step {
        let record = match &outcome {
            Outcome::Included { tx_hash, height } | Outcome::NotAdmitted { tx_hash, height } => {
                ledger::Stage::Included {
                    tx_hash: tx_hash.clone(),
                    height: *height,
                    admitted: matches!(outcome, Outcome::Included { .. }),
                }
            }
            other => ledger::Stage::Done {
                reason: outcome_reason(other),
            },
        };
        self.stage = Stage::Done(outcome.clone());
        Step {
            record: Some(record),
            action: Action::Finish(outcome),
        }
    }

    fn stay(&mut self, stage: Stage, ms: u64) -> Step {
        self.stage = stage;
        self.later(None, ms)
    }

    fn later(&self, record: Option<ledger::Stage>, ms: u64) -> Step {
        Step {
            record,
            action: Action::Later(ms),
        }
    }

    fn backoff(&mut self) -> Step {
        self.stage = Stage::Idle;
        let ms = nonce_retry_delay_ms(self.failures);
        self.failures += 1;
        self.later(None, ms)
    }
}

/// The ledger's `done` reason for an outcome.
pub fn outcome_reason(o: &Outcome) -> String {
    match o {
        Outcome::Included { tx_hash, .. } => format!("included {tx_hash}"),
        Outcome::NotAdmitted { tx_hash, .. } => format!("included, not admitted {tx_hash}"),
        Outcome::Served { how } => format!("already served: {how}"),
        Outcome::NotRegistered => "not registered".into(),
        Outcome::NotWhitelisted => "not whitelisted".into(),
        Outcome::Missed { reason } => format!("missed: {reason}"),
        Outcome::Dropped { reason, .. } => format!("dropped: {reason}"),
        Outcome::Stopped { reason } => format!("stopped: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::chain_json::Event as ChainEvent;

    const END: u64 = 100;

    fn tx(hash: &str) -> Tx {
        Tx {
            hash: hash.into(),
            sequence: 4,
            timeout_height: END,
            bytes_b64: format!("bytes-{hash}"),
        }
    }

    fn machine(window_end: Option<u64>) -> Submission {
        Submission::new(Limits {
            window_end,
            poll_ms: 500,
        })
    }

    fn tick(height: u64) -> Event {
        Event::Tick { height }
    }

    fn answer(codespace: &str, code: u32, raw_log: &str) -> Answer {
        Answer {
            codespace: codespace.into(),
            code,
            raw_log: raw_log.into(),
        }
    }

    fn check_answer(codespace: &str, code: u32, raw_log: &str) -> Event {
        Event::Answer(answer(codespace, code, raw_log))
    }

    #[test]
    fn a_sequence_is_unknown_until_checktx_accepts_then_it_is_the_floor() {
        let mut m = machine(Some(END));
        assert!(!m.holds_unknown_sequence(10) && m.accepted_sequence(10).is_none());
        m.on(tick(10)); // Signing
        assert!(m.holds_unknown_sequence(10));
        m.on(Event::Signed(tx("A"))); // Sending
        assert!(m.holds_unknown_sequence(10));
        m.on(check_answer("", 0, "")); // Following, accepted
        assert!(!m.holds_unknown_sequence(10));
        assert_eq!(m.accepted_sequence(10), Some(4));
        assert_eq!(
            m.accepted_sequence(END + 1),
            None,
            "past its window it cannot land"
        );
        let mut lost = machine(Some(END));
        lost.on(tick(10));
        lost.on(Event::Signed(tx("B")));
        lost.on(Event::Lost("dropped".into())); // Following, resend
        assert!(lost.holds_unknown_sequence(10) && lost.accepted_sequence(10).is_none());
        assert!(!lost.holds_unknown_sequence(END + 1));
    }

    fn not_found(height: u64, served: bool) -> Event {
        Event::NotFound { height, served }
    }

    fn found(hash: &str, code: u32, admitted: bool, gas_used: u64) -> Event {
        let events = if admitted {
            vec![ChainEvent {
                kind: "emissions.v10.EventInsertInfererPayload".into(),
                attributes: Vec::new(),
            }]
        } else {
            Vec::new()
        };
        Event::Found(TxResponse {
            height: 42,
            txhash: hash.into(),
            codespace: if code == 0 { "" } else { "sdk" }.into(),
            code,
            raw_log: String::new(),
            gas_wanted: 1000,
            gas_used,
            events,
        })
    }

    /// A step as a short string: `[record] action`.
    fn short(step: &Step) -> String {
        let record = match &step.record {
            None => String::new(),
            Some(ledger::Stage::Predicted { .. }) => "[predicted] ".into(),
            Some(ledger::Stage::Signed { tx_hash, .. }) => format!("[signed {tx_hash}] "),
            Some(ledger::Stage::Broadcast { .. }) => "[broadcast] ".into(),
            Some(ledger::Stage::Included { admitted, .. }) => format!("[included {admitted}] "),
            Some(ledger::Stage::Refused { .. }) => "[refused] ".into(),
            Some(ledger::Stage::Done { .. }) => "[done] ".into(),
        };
        let action = match &step.action {
            Action::Sign {
                bumps,
                min_gas_used,
            } => match (bumps, min_gas_used) {
                (0, None) => "sign".to_string(),
                (b, None) => format!("sign bumps={b}"),
                (_, Some(g)) => format!("sign gas={g}"),
            },
            Action::Broadcast(t) => format!("broadcast {}", t.hash),
            Action::Lookup(h) => format!("lookup {}", h.join(",")),
            Action::Later(_) => "later".into(),
            Action::Finish(o) => {
                let name = format!("{o:?}");
                let end = name.find([' ', '{']).unwrap_or(name.len());
                format!("finish {}", &name[..end])
            }
        };
        format!("{record}{action}")
    }

    /// Feeds `events` in order, each expected to give the paired step.
    fn check(s: &mut Submission, table: &[(Event, &str)]) {
        for (i, (event, expected)) in table.iter().enumerate() {
            let got = short(&s.on(event.clone()));
            assert_eq!(got, *expected, "row {i}: {event:?} in {:?}", s.stage);
        }
    }

    /// Up to the first broadcast of tx `hash`.
    fn signed_and_sent(s: &mut Submission, hash: &str) {
        check(
            s,
            &[
                (tick(10), "sign"),
                (
                    Event::Signed(tx(hash)),
                    &format!("[signed {hash}] broadcast {hash}"),
                ),
            ],
        );
    }

    #[test]
    fn happy_path() {
        let mut s = machine(Some(END));
        signed_and_sent(&mut s, "A");
        check(
            &mut s,
            &[
                (check_answer("", 0, ""), "[broadcast] later"),
                (tick(11), "lookup A"),
                (not_found(11, false), "later"),
                (tick(12), "lookup A"),
                (found("A", 0, true, 900), "[included true] finish Included"),
            ],
        );
        assert!(s.is_done());
    }

    #[test]
    fn a_window_that_closed_while_signing_is_missed_unsigned() {
        let mut s = machine(None);
        check(&mut s, &[(tick(10), "sign")]);
        s.limits.window_end = Some(11);
        check(&mut s, &[(tick(12), "[done] finish Missed")]);
        assert!(s.signed.is_empty());
        let mut open = machine(Some(END));
        check(&mut open, &[(tick(10), "sign"), (tick(11), "later")]);
    }

    /// The double payment of the issue: a lost reply, then a resend of the
    /// same bytes answers sdk/32 because our first copy already used the
    /// sequence. That is not a refusal: nothing is signed again.
    #[test]
    fn a_resend_answering_32_or_19_is_never_a_refusal() {
        for (cs, code, log, then) in [
            (
                "sdk",
                32,
                "account sequence mismatch, expected 5, got 4",
                "later",
            ),
            ("sdk", 19, "tx already exists in cache", "[broadcast] later"),
            ("sdk", 13, "insufficient fee", "later"),
            ("sdk", 5, "insufficient funds", "later"),
        ] {
            let mut s = machine(Some(END));
            signed_and_sent(&mut s, "A");
            check(
                &mut s,
                &[
                    (Event::Lost("read timeout".into()), "[broadcast] later"),
                    (tick(11), "lookup A"),
                    (not_found(11, false), "broadcast A"),
                    (check_answer(cs, code, log), then),
                    (tick(12), "lookup A"),
                    (not_found(12, false), "later"),
                    (tick(13), "lookup A"),
                    (not_found(13, true), "[included true] finish Included"),
                ],
            );
            assert_eq!(s.signed.len(), 1, "{cs}/{code}: one signed tx");
        }
    }

    #[test]
    fn a_lost_reply_with_no_index_waits_for_the_window_then_misses() {
        let mut s = machine(Some(END));
        signed_and_sent(&mut s, "A");
        check(
            &mut s,
            &[
                (Event::Lost("connection reset".into()), "[broadcast] later"),
                (tick(50), "lookup A"),
                (not_found(50, false), "broadcast A"),
                (Event::Lost("again".into()), "[broadcast] later"),
                (tick(END), "lookup A"),
                (not_found(END, false), "broadcast A"),
                (check_answer("sdk", 32, "expected 5, got 4"), "later"),
                (tick(END + 1), "lookup A"),
                (not_found(END + 1, false), "later"),
                (tick(END + 10), "lookup A"),
                (not_found(END + 10, false), "later"),
                (tick(END + 11), "lookup A"),
                (not_found(END + 11, false), "[done] finish Missed"),
            ],
        );
        assert_eq!(s.signed.len(), 1);
    }

    #[test]
    fn the_first_broadcast_refused_at_checktx_is_signed_again() {
        let mut s = machine(Some(END));
        signed_and_sent(&mut s, "A");
        check(
            &mut s,
            &[
                (
                    check_answer("sdk", 32, "expected 5, got 4"),
                    "[refused] sign",
                ),
                (Event::Signed(tx("B")), "[signed B] broadcast B"),
                (
                    check_answer("sdk", 13, "insufficient fee"),
                    "[refused] sign bumps=1",
                ),
                (Event::Signed(tx("C")), "[signed C] broadcast C"),
                (check_answer("sdk", 20, "mempool is full"), "later"),
                (tick(12), "lookup C"),
                (not_found(12, false), "broadcast C"),
                (check_answer("", 0, ""), "[broadcast] later"),
                (tick(13), "lookup C"),
                (found("C", 0, true, 1), "[included true] finish Included"),
            ],
        );
    }

    #[test]
    fn a_connect_failure_keeps_the_next_post_first() {
        let mut s = machine(Some(END));
        signed_and_sent(&mut s, "A");
        check(
            &mut s,
            &[
                (Event::NotSent("connection refused".into()), "later"),
                (tick(11), "lookup A"),
                (not_found(11, false), "broadcast A"),
                (
                    check_answer("sdk", 32, "expected 5, got 4"),
                    "[refused] sign",
                ),
            ],
        );
    }

    #[test]
    fn budgets_run_out_and_terminal_answers_finish() {
        let mut s = machine(Some(END));
        signed_and_sent(&mut s, "A");
        for h in ["B", "C", "D"] {
            check(
                &mut s,
                &[
                    (check_answer("sdk", 32, ""), "[refused] sign"),
                    (Event::Signed(tx(h)), &format!("[signed {h}] broadcast {h}")),
                ],
            );
        }
        check(
            &mut s,
            &[(check_answer("sdk", 32, ""), "[done] finish Dropped")],
        );
        for (cs, code, log, outcome) in [
            (
                "emissions",
                13,
                "worker is not registered in this topic",
                "NotRegistered",
            ),
            (
                "emissions",
                9,
                "Worker is not permitted to submit payload",
                "NotWhitelisted",
            ),
            ("undefined", 1, "inference already submitted", "Served"),
            ("sdk", 5, "insufficient funds", "Stopped"),
            ("emissions", 44, "unfulfilled nonce not found", "Dropped"),
        ] {
            let mut s = machine(Some(END));
            signed_and_sent(&mut s, "A");
            let expected = format!("[done] finish {outcome}");
            check(&mut s, &[(check_answer(cs, code, log), &expected)]);
        }
    }

    #[test]
    fn a_simulate_refusal_is_never_broadcast() {
        for (log, outcome) in [
            ("worker nonce window not available", "Dropped"),
            ("unfulfilled nonce not found", "Dropped"),
            ("worker is not registered in this topic", "Registered"),
            (
                "Worker is not permitted to submit payload",
                "NotWhitelisted",
            ),
            ("inference already submitted", "Served"),
        ] {
            let mut s = machine(Some(END));
            let expected = format!("[done] finish {outcome}")
                .replace("finish Registered", "finish NotRegistered");
            check(
                &mut s,
                &[
                    (tick(10), "sign"),
                    (Event::Refused(answer("simulate", 500, log)), &expected),
                ],
            );
            assert!(s.signed.is_empty());
        }
    }

    #[test]
    fn delivery_failures_retry_once_with_more_gas_or_a_higher_price() {
        let mut s = machine(Some(END));
        signed_and_sent(&mut s, "A");
        check(
            &mut s,
            &[
                (check_answer("", 0, ""), "[broadcast] later"),
                (tick(11), "lookup A"),
                (found("A", 11, false, 2000), "[refused] sign gas=2000"),
                (Event::Signed(tx("B")), "[signed B] broadcast B"),
                (check_answer("", 0, ""), "[broadcast] later"),
                (tick(12), "lookup B"),
                (found("A", 11, false, 2000), "later"),
                (tick(12), "lookup B"),
                (found("B", 13, false, 10), "[refused] sign bumps=1"),
                (Event::Signed(tx("C")), "[signed C] broadcast C"),
                (check_answer("", 0, ""), "[broadcast] later"),
                (tick(13), "lookup C"),
                (found("C", 11, false, 3000), "[done] finish Dropped"),
            ],
        );
        let mut s = machine(Some(END));
        signed_and_sent(&mut s, "A");
        check(
            &mut s,
            &[
                (check_answer("", 0, ""), "[broadcast] later"),
                (tick(11), "lookup A"),
                (
                    found("A", 0, false, 900),
                    "[included false] finish NotAdmitted",
                ),
            ],
        );
    }

    #[test]
    fn record_failures_never_broadcast_and_never_lose_an_outcome() {
        let mut s = machine(Some(END));
        check(
            &mut s,
            &[
                (tick(10), "sign"),
                (Event::Signed(tx("A")), "[signed A] broadcast A"),
                (Event::RecordFailed, "later"),
                (tick(11), "sign"),
                (Event::Signed(tx("B")), "[signed B] broadcast B"),
                (check_answer("", 0, ""), "[broadcast] later"),
                (Event::RecordFailed, "later"),
                (tick(12), "lookup A,B"),
                (found("B", 0, true, 1), "[included true] finish Included"),
                (Event::RecordFailed, "later"),
                (tick(13), "[included true] finish Included"),
            ],
        );
    }

    #[test]
    fn windows_close_failures_back_off_and_resume_looks_everything_up() {
        let mut s = machine(Some(END));
        check(
            &mut s,
            &[
                (tick(10), "sign"),
                (Event::Failed("endpoint down".into()), "later"),
                (tick(END + 1), "[done] finish Missed"),
            ],
        );
        let limits = Limits {
            window_end: Some(END),
            poll_ms: 500,
        };
        let mut s = Submission::resume(limits, vec![tx("A"), tx("B")], true);
        assert!(s.in_flight());
        check(
            &mut s,
            &[
                (tick(20), "lookup A,B"),
                (not_found(20, false), "broadcast B"),
                (check_answer("sdk", 32, ""), "later"),
            ],
        );
        let mut s = Submission::resume(limits, vec![tx("A")], false);
        check(&mut s, &[(tick(20), "sign")]);
    }

    #[test]
    fn without_a_window_a_tx_past_its_timeout_height_may_be_signed_again() {
        let mut s = machine(None);
        signed_and_sent(&mut s, "A");
        check(
            &mut s,
            &[
                (check_answer("", 0, ""), "[broadcast] later"),
                (tick(END), "lookup A"),
                (not_found(END, false), "later"),
                (tick(END + 1), "lookup A"),
                (not_found(END + 1, false), "[refused] sign"),
            ],
        );
    }
}
