//! Serving one nonce: each turn of the loop feeds one event to the nonce's
//! submission machine (`logic::submission`), writes the ledger record it
//! asks for, and carries out its one action (`drive::perform`): sign,
//! broadcast, look up, come back later, or finish. The ledger record comes
//! first every time: no broadcast without a durable `signed` record.

use serde_json::json;

use super::topic::TopicWorker;
use super::{drive, Shared};
use crate::error::Error;
use crate::io::chain::TxKind;
use crate::io::logging;
use crate::logic::counters::Miss;
use crate::logic::event::Kind;
use crate::logic::ledger::{Next, Record, Stage};
use crate::logic::submission::{Action, Event, Limits, Outcome, Submission};
use crate::logic::tx::Payload;

/// How often low-balance pauses re-check the balance.
const LOW_BALANCE_RECHECK_MS: u64 = 60_000;
/// How long a balance read is reused by the next submissions (a burst).
const BALANCE_REUSE: std::time::Duration = std::time::Duration::from_secs(5);

impl TopicWorker {
    /// One step of `nonce`'s submission (the scheduler's `Submit` and
    /// `Reconcile`, and windows past their end until they finish).
    /// `busy`: another tx of the key (any topic) holds a sequence whose use
    /// is unknown (`SeqGate`), so this nonce may not sign yet.
    pub(super) fn advance(&mut self, sh: &mut Shared<'_>, nonce: i64, busy: bool) {
        let height = self.state.latest_height;
        let end = self.state.open.get(&nonce).and_then(|w| w.end_block);
        let close_at = self.state.open.get(&nonce).and_then(|w| w.close_at);
        let poll_ms = sh.client.poll_ms();
        let ledger = self.ledger.state();
        let sub = self.subs.entry(nonce).or_insert_with(|| {
            let limits = Limits {
                window_end: end,
                poll_ms,
            };
            let open = ledger.next(nonce) == Next::Reconcile;
            Submission::resume(limits, ledger.signed(nonce).to_vec(), open)
        });
        sub.limits.window_end = sub.limits.window_end.or(end);
        let event = self
            .pending
            .remove(&nonce)
            .unwrap_or(Event::Tick { height });
        if busy
            && !sub.in_flight()
            && matches!(event, Event::Tick { .. })
            && sub.limits.window_end.is_none_or(|e| height <= e)
        {
            return self.later(sh, nonce, poll_ms.min(50));
        }
        let step = sub.on(event);
        let seen = sub.height;
        self.state.latest_height = self.state.latest_height.max(seen);
        if let Some(stage) = step.record {
            if !self.record(nonce, stage) {
                return self.come_back(sh, nonce, Event::RecordFailed);
            }
        }
        let event = match step.action {
            Action::Later(ms) => return self.later(sh, nonce, ms),
            Action::Finish(outcome) => return self.outcome(sh, nonce, outcome),
            Action::Sign { .. } => self.sign(sh, nonce, close_at, &step.action),
            Action::Broadcast(ref tx) => {
                self.note_broadcast(nonce, &tx.hash, tx.sequence);
                self.perform(sh, nonce, end, &step.action)
            }
            Action::Lookup(_) => self.perform(sh, nonce, end, &step.action),
        };
        if let Event::Signed(tx) = &event {
            self.note_sequence(sh, nonce, tx.sequence);
        }
        self.come_back(sh, nonce, event);
    }

    /// Carries out Sign: the prediction first (once per nonce), the balance,
    /// then the chain's tip read again: a window whose end passed meanwhile
    /// (a halt, a slow prediction) is never signed (`Tick`: the machine
    /// finishes it as missed). The timeout height from `timeout_for`.
    fn sign(
        &mut self,
        sh: &mut Shared<'_>,
        nonce: i64,
        close_at: Option<i64>,
        action: &Action,
    ) -> Event {
        let at = self.tag.clone();
        let end = self.state.open.get(&nonce).and_then(|w| w.end_block);
        if self.timeout_for(sh, end, close_at).is_none() {
            return Event::Failed("the window's end is not known yet".into());
        }
        if !self.values.contains_key(&nonce) {
            if !self.funded(sh) {
                return Event::Failed("balance too low".into());
            }
            match self.predict(sh, nonce) {
                Ok(v) => {
                    self.values.insert(nonce, v);
                }
                Err((miss, e)) => {
                    logging::event(
                        Kind::Warning,
                        &format!("no prediction for nonce {nonce}{at}: {e}"),
                        json!({"topic_id": self.id, "nonce": nonce}),
                    );
                    self.miss_reason.insert(nonce, miss);
                    self.summary.errors += 1;
                    return Event::Failed(e.to_string());
                }
            }
        }
        if let Err(e) = self.refresh_tip(sh) {
            log::warn!("WARNING latest block: {e}");
        }
        self.mark_closed();
        let end = self.state.open.get(&nonce).and_then(|w| w.end_block);
        let closed = self
            .state
            .open
            .get(&nonce)
            .is_some_and(|w| crate::logic::schedule::is_past(w, &self.state));
        if closed {
            return Event::Tick {
                height: self.state.latest_height,
            };
        }
        let timeout = self.timeout_for(sh, end, close_at);
        self.perform(sh, nonce, timeout, action)
    }

    fn perform(
        &mut self,
        sh: &mut Shared<'_>,
        nonce: i64,
        end: Option<u64>,
        action: &Action,
    ) -> Event {
        let at = self.tag.clone();
        let payload = Payload {
            topic_id: self.config.topic_id,
            nonce,
            value: self.values.get(&nonce).copied().unwrap_or(0.0),
            forecasts: Vec::new(),
        };
        let what = TxKind::Payload(&payload);
        match drive::perform(&mut sh.client, sh.wallet, what, end, action) {
            Some(Ok(event)) => {
                if let Event::Found(tx) = &event {
                    let data_fee = self.params.as_ref().map_or(0, |p| p.data_sending_fee);
                    self.counters.fees_paid_uallo +=
                        crate::logic::submit::fee_charged(tx, data_fee);
                }
                if let Event::Lost(why) | Event::NotSent(why) | Event::LookupFailed(why) = &event {
                    log::warn!("WARNING nonce {nonce}{at}: {why}; will look again");
                }
                event
            }
            Some(Err(e)) => {
                let miss = match e {
                    Error::Http { .. } | Error::StepBudget { .. } | Error::Io { .. } => {
                        Miss::EndpointDown
                    }
                    _ => Miss::TxRejected,
                };
                logging::event(
                    Kind::Warning,
                    &format!("nonce {nonce}{at}: {e}; retrying"),
                    json!({"topic_id": self.id, "nonce": nonce}),
                );
                self.miss_reason.insert(nonce, miss);
                self.summary.errors += 1;
                Event::Failed(e.to_string())
            }
            None => Event::Tick {
                height: self.state.latest_height,
            },
        }
    }

    fn note_broadcast(&mut self, nonce: i64, hash: &str, sequence: u64) {
        let at = self.tag.clone();
        if let Some(opened) = self.opened_at.remove(&nonce) {
            self.summary.latencies.push(opened.elapsed());
        }
        let value = self.values.get(&nonce).copied().unwrap_or(0.0);
        logging::event(
            Kind::Submission,
            &format!("broadcasting nonce {nonce}{at} value {value} tx {hash}"),
            json!({"topic_id": self.id, "nonce": nonce, "tx_hash": hash, "sequence": sequence}),
        );
    }

    /// The machine's next event is ready: take it on the next loop turn.
    fn come_back(&mut self, sh: &Shared<'_>, nonce: i64, event: Event) {
        self.pending.insert(nonce, event);
        let now = sh.now_ms();
        if let Some(w) = self.state.open.get_mut(&nonce) {
            w.retry_at_ms = now;
        }
    }

    /// Tick the machine again in `ms`.
    fn later(&mut self, sh: &Shared<'_>, nonce: i64, ms: u64) {
        let now = sh.now_ms();
        if let Some(w) = self.state.open.get_mut(&nonce) {
            w.retry_at_ms = now.saturating_add(ms);
            w.attempts += 1;
        }
    }

    /// How a nonce ended (its ledger record is written already).
    fn outcome(&mut self, sh: &mut Shared<'_>, nonce: i64, outcome: Outcome) {
        let at = self.tag.clone();
        match outcome {
            Outcome::Included { tx_hash, height } => self.included(nonce, &tx_hash, height),
            Outcome::NotAdmitted { tx_hash, height } => self.not_admitted(nonce, &tx_hash, height),
            Outcome::Served { how } => {
                // Our payload is on chain (a tx of ours the LCDs do not
                // index), or another signer's with our key.
                self.note_unsigned_inference(sh, nonce);
                self.counters.submitted += 1;
                logging::event(
                    Kind::Info,
                    &format!("nonce {nonce}{at} already has our submission ({how})"),
                    json!({"topic_id": self.id, "nonce": nonce}),
                );
                self.finish(nonce, "already submitted");
            }
            Outcome::NotWhitelisted => {
                let e = Error::Usage(format!(
                    "{} may not submit to topic {}",
                    sh.wallet.address(),
                    self.config.topic_id
                ));
                self.missed(nonce, Miss::TxRejected, "not whitelisted");
                self.stop(e);
            }
            Outcome::NotRegistered => {
                self.state.probed = false;
                self.missed(
                    nonce,
                    Miss::TxRejected,
                    "not registered: run allora-worker register",
                );
            }
            Outcome::Missed { reason } => {
                let why = self.miss_reason.get(&nonce).copied().unwrap_or(Miss::Late);
                self.missed(nonce, why, &reason);
            }
            Outcome::Dropped { reason, redetect } => {
                if redetect {
                    // The emissions version and the scheduler mode alike.
                    sh.client.redetect();
                    self.state.probed = false;
                }
                self.missed(nonce, Miss::TxRejected, &reason);
            }
            Outcome::Stopped { reason } => self.missed(nonce, Miss::TxRejected, &reason),
        }
    }

    fn included(&mut self, nonce: i64, tx_hash: &str, height: u64) {
        let at = self.tag.clone();
        self.counters.submitted += 1;
        self.counters.admitted += 1;
        self.counters.last_success_at = Some(crate::io::clock::now_utc().unix_timestamp());
        self.counters.last_tx_hash = Some(tx_hash.to_string());
        logging::event(
            Kind::Success,
            &format!("nonce {nonce}{at} included at height {height} tx {tx_hash}"),
            json!({"topic_id": self.id, "nonce": nonce, "tx_hash": tx_hash, "height": height, "admitted": true}),
        );
        self.finish(nonce, "included");
    }

    /// Code 0 without our `EventInsertInfererPayload` (§12 C8): the chain
    /// took the payload (and the fees) but does not count it. Its own
    /// outcome, never a success; the nonce is served (a second payload
    /// would be refused), so nothing is sent again.
    fn not_admitted(&mut self, nonce: i64, tx_hash: &str, height: u64) {
        self.counters.submitted += 1;
        self.counters.not_admitted += 1;
        self.counters.last_tx_hash = Some(tx_hash.to_string());
        logging::event(
            Kind::NotAdmitted,
            &format!("nonce {nonce} included at height {height} tx {tx_hash} but not admitted: the chain does not count this inference (outside the active set); not sent again"),
            json!({"nonce": nonce, "tx_hash": tx_hash, "height": height, "admitted": false}),
        );
        self.finish(nonce, "not admitted");
    }

    /// Counts a window as missed (the machine recorded `done` already).
    fn missed(&mut self, nonce: i64, why: Miss, detail: &str) {
        let at = self.tag.clone();
        self.counters.miss(why);
        logging::event(
            Kind::Error,
            &format!("missed nonce {nonce}{at} ({}): {detail}", why.name()),
            json!({"topic_id": self.id, "nonce": nonce, "reason": why.name(), "detail": detail}),
        );
        self.finish(nonce, &format!("missed: {}", why.name()));
    }

    fn finish(&mut self, nonce: i64, how: &str) {
        self.state.open.remove(&nonce);
        self.subs.remove(&nonce);
        self.pending.remove(&nonce);
        self.values.remove(&nonce);
        self.opened_at.remove(&nonce);
        self.miss_reason.remove(&nonce);
        self.summary.nonces.insert(nonce, how.to_string());
        // status.json and the metrics show every outcome at once.
        self.status_due = true;
    }

    /// Appends a ledger record; false (and an error event) when it failed,
    /// in which case nothing may be broadcast.
    fn record(&mut self, nonce: i64, stage: Stage) -> bool {
        let tag = self.tag.clone();
        let at = crate::io::clock::now_utc().unix_timestamp();
        let note = self.score_note(nonce, &stage, at);
        match self.ledger.append(Record { nonce, at, stage }) {
            Ok(()) => {
                self.keep_score_note(note);
                true
            }
            Err(e) => {
                logging::event(
                    Kind::Error,
                    &format!("ledger write failed for nonce {nonce}{tag}, not broadcasting: {e}"),
                    json!({"topic_id": self.id, "nonce": nonce}),
                );
                false
            }
        }
    }

    /// Balance ≥ a typical fee + the data sending fee, else pause (log hourly).
    fn funded(&mut self, sh: &mut Shared<'_>) -> bool {
        let data_fee = self.params.as_ref().map_or(0, |p| p.data_sending_fee);
        let need = sh.client.fee_per_submission(data_fee);
        // A burst of several topics' windows asks once: a balance read
        // in the last seconds that pays for ten submissions still does.
        if let Some((at, b)) = sh.balance_seen {
            if at.elapsed() < BALANCE_REUSE && b >= need.saturating_mul(10) {
                self.counters.balance_uallo = Some(b);
                return true;
            }
        }
        let balance = match sh.client.balance(sh.wallet.address()) {
            Ok(b) => b,
            Err(e) => {
                log::warn!("WARNING balance: {e}; trying the submission anyway");
                return true;
            }
        };
        sh.balance_seen = Some((std::time::Instant::now(), balance));
        self.counters.balance_uallo = Some(balance);
        if balance >= need {
            self.state.paused_until_ms = None;
            return true;
        }
        let now = sh.now_ms();
        self.state.paused_until_ms = Some(now + LOW_BALANCE_RECHECK_MS);
        for w in self.state.open.keys().copied().collect::<Vec<_>>() {
            self.miss_reason.insert(w, Miss::LowBalance);
        }
        if sh
            .last_low_balance_log
            .is_none_or(|t| t.elapsed().as_secs() >= 3600)
        {
            sh.last_low_balance_log = Some(std::time::Instant::now());
            logging::event(
                Kind::Error,
                &format!("balance {balance} uallo is below one submission ({need} uallo): paused until funded"),
                json!({"balance_uallo": balance.to_string(), "needed_uallo": need.to_string(), "address": sh.wallet.address()}),
            );
        }
        false
    }

    /// The value for `nonce`: the model (or the hook) on bars up to the
    /// nonce's block time; the explicit fallback only when one is set.
    fn predict(&mut self, sh: &mut Shared<'_>, nonce: i64) -> Result<f64, (Miss, Error)> {
        let at = self.tag.clone();
        let t0 = match sh.client.block_time(nonce as u64) {
            Ok(t) => t.unix_timestamp() / 60 * 60,
            Err(e) => return Err((Miss::EndpointDown, e)),
        };
        match self.forecast.predict(t0, nonce) {
            Ok((value, source)) => {
                logging::event(
                    Kind::Prediction,
                    &format!("nonce {nonce}{at}: predicted {value} ({source})"),
                    json!({"topic_id": self.id, "nonce": nonce, "prediction": value, "source": source, "t0": t0}),
                );
                self.record(
                    nonce,
                    Stage::Predicted {
                        value: value.to_string(),
                    },
                );
                Ok(value)
            }
            Err((miss, e)) => match self.fallback_value {
                Some(v) => {
                    logging::event(
                        Kind::Warning,
                        &format!("nonce {nonce}{at}: no forecast ({e}); submitting the configured --fallback-value {v}"),
                        json!({"topic_id": self.id, "nonce": nonce, "prediction": v, "source": "fallback", "reason": e.to_string()}),
                    );
                    Ok(v)
                }
                None => Err((miss, e)),
            },
        }
    }
}
