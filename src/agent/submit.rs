//! Serving one nonce: predict, record, sign, record, broadcast, follow, and
//! record how it ended; reconciling a nonce the ledger says may be pending;
//! and finishing a window as served or missed. The ledger record comes
//! first every time: no broadcast without a durable `signed` record.

use base64::Engine;
use serde_json::json;

use super::Agent;
use crate::error::Error;
use crate::io::chain::{Next as Settle, Outcome, SubmitState, Tracked, TxKind};
use crate::io::logging;
use crate::logic::counters::Miss;
use crate::logic::event::Kind;
use crate::logic::ledger::{Next, Record, Stage};
use crate::logic::schedule::nonce_retry_delay_ms;
use crate::logic::tx::{Payload, SignedTx};

/// How often low-balance pauses re-check the balance.
const LOW_BALANCE_RECHECK_MS: u64 = 60_000;

impl Agent<'_> {
    /// Predicts, signs and submits `nonce`, re-signing only when the chain
    /// refused the tx at CheckTx (sequence, fee) within the retry budget.
    pub(super) fn submit(&mut self, nonce: i64) {
        let Some(end) = self.state.open.get(&nonce).and_then(|w| w.end_block) else {
            return self.retry_later(nonce);
        };
        if !self.funded() {
            return;
        }
        let value = match self.predict(nonce) {
            Ok(v) => v,
            Err((miss, e)) => {
                logging::event(
                    Kind::Warning,
                    &format!("no prediction for nonce {nonce}: {e}"),
                    json!({"nonce": nonce}),
                );
                self.miss_reason.insert(nonce, miss);
                self.summary.errors += 1;
                return self.retry_later(nonce);
            }
        };
        let payload = Payload {
            topic_id: self.config.topic_id,
            nonce,
            value,
            forecasts: Vec::new(),
        };
        let mut st = self.submit_states.remove(&nonce).unwrap_or_default();
        loop {
            let tx = match self
                .client
                .prepare(self.wallet, TxKind::Payload(&payload), end, &mut st)
            {
                Ok(tx) => tx,
                Err(e) => return self.submit_failed(nonce, &e),
            };
            let sequence = st.account.as_ref().map_or(0, |a| a.sequence);
            let signed = Stage::Signed {
                tx_hash: tx.hash.clone(),
                sequence,
                tx_b64: b64(&tx.tx_raw),
            };
            if !self.record(nonce, signed) {
                return self.retry_later(nonce);
            }
            if let Some(opened) = self.opened_at.get(&nonce) {
                self.summary.latencies.push(opened.elapsed());
            }
            logging::event(
                Kind::Submission,
                &format!("broadcasting nonce {nonce} value {value} tx {}", tx.hash),
                json!({"nonce": nonce, "tx_hash": tx.hash, "sequence": sequence}),
            );
            let tracked = self.client.broadcast_and_track(&tx, end);
            if !self.after_broadcast(nonce, &tx, sequence, tracked, &mut st) {
                return;
            }
        }
    }

    /// Handles a broadcast's result; true means "sign again and retry".
    fn after_broadcast(
        &mut self,
        nonce: i64,
        tx: &SignedTx,
        sequence: u64,
        tracked: crate::error::Result<Tracked>,
        st: &mut SubmitState,
    ) -> bool {
        let tracked = match tracked {
            Ok(t) => t,
            Err(e) => {
                self.submit_failed(nonce, &e);
                return false;
            }
        };
        match &tracked {
            Tracked::Unknown(why) => {
                log::warn!(
                    "WARNING tx {} for nonce {nonce}: {why}; will look it up again",
                    tx.hash
                );
                let stage = Stage::Broadcast {
                    tx_hash: tx.hash.clone(),
                    sequence,
                    tx_b64: b64(&tx.tx_raw),
                };
                self.record(nonce, stage);
                self.retry_later(nonce);
                return false;
            }
            Tracked::Rejected(resp) => {
                let reason = format!("CheckTx {}/{}: {}", resp.codespace, resp.code, resp.raw_log);
                self.counters.tx_failure(&resp.codespace, resp.code);
                if !self.record(nonce, Stage::Refused { reason }) {
                    self.retry_later(nonce);
                    return false;
                }
            }
            Tracked::Included(_) => {}
        }
        match self.client.settle(tracked, st) {
            Settle::Retry => true,
            Settle::Done(outcome) => {
                self.outcome(nonce, outcome);
                false
            }
        }
    }

    /// A nonce the ledger says may be pending: look the tx up; rebroadcast the
    /// same bytes if it can still land; free the nonce if it cannot.
    pub(super) fn reconcile(&mut self, nonce: i64) {
        let Next::Reconcile {
            tx_hash,
            sequence,
            tx_b64,
        } = self.ledger.state().next(nonce)
        else {
            return;
        };
        match self.client.tx(&tx_hash) {
            Ok(Some(resp)) => {
                let mut st = self.submit_states.remove(&nonce).unwrap_or_default();
                match self.client.settle(Tracked::Included(resp), &mut st) {
                    Settle::Done(outcome) => self.outcome(nonce, outcome),
                    Settle::Retry => {
                        self.record(
                            nonce,
                            Stage::Refused {
                                reason: "included with a retryable code".into(),
                            },
                        );
                    }
                }
            }
            Ok(None) => self.resend_or_free(nonce, tx_hash, sequence, &tx_b64),
            Err(e) => self.submit_failed(nonce, &e),
        }
    }

    fn resend_or_free(&mut self, nonce: i64, tx_hash: String, sequence: u64, tx_b64: &str) {
        let account = match self.client.account(self.wallet.address()) {
            Ok(a) => a,
            Err(e) => return self.submit_failed(nonce, &e),
        };
        if account.sequence > sequence {
            let reason = format!(
                "sequence {} moved past the signed tx's {sequence}; it cannot land",
                account.sequence
            );
            self.record(nonce, Stage::Refused { reason });
            return;
        }
        let Ok(tx_raw) = base64::engine::general_purpose::STANDARD.decode(tx_b64) else {
            self.record(
                nonce,
                Stage::Refused {
                    reason: "ledger tx bytes unreadable".into(),
                },
            );
            return;
        };
        let end = self
            .state
            .open
            .get(&nonce)
            .and_then(|w| w.end_block)
            .unwrap_or(0);
        log::info!("rebroadcasting the same tx {tx_hash} for nonce {nonce}");
        let tx = SignedTx {
            tx_raw,
            hash: tx_hash,
            body: Vec::new(),
            auth_info: Vec::new(),
            sign_doc: Vec::new(),
            signature: [0; 64],
        };
        let tracked = self.client.broadcast_and_track(&tx, end);
        let mut st = self.submit_states.remove(&nonce).unwrap_or_default();
        self.after_broadcast(nonce, &tx, sequence, tracked, &mut st);
    }

    /// Records how a nonce ended.
    fn outcome(&mut self, nonce: i64, outcome: Outcome) {
        match outcome {
            Outcome::Included {
                tx_hash,
                height,
                admitted,
            } => {
                let stage = Stage::Included {
                    tx_hash: tx_hash.clone(),
                    height,
                    admitted,
                };
                self.record(nonce, stage);
                self.counters.submitted += 1;
                self.counters.admitted += u64::from(admitted);
                self.counters.last_success_at = Some(crate::io::clock::now_utc().unix_timestamp());
                self.counters.last_tx_hash = Some(tx_hash.clone());
                let note = if admitted {
                    ""
                } else {
                    " (included, not admitted to the active set)"
                };
                logging::event(
                    Kind::Success,
                    &format!("nonce {nonce} included at height {height} tx {tx_hash}{note}"),
                    json!({"nonce": nonce, "tx_hash": tx_hash, "height": height, "admitted": admitted}),
                );
                self.finish(nonce, "included");
            }
            Outcome::AlreadySubmitted => {
                self.record(
                    nonce,
                    Stage::Done {
                        reason: "already submitted".into(),
                    },
                );
                logging::event(
                    Kind::Info,
                    &format!("nonce {nonce} already has our submission"),
                    json!({"nonce": nonce}),
                );
                self.finish(nonce, "already submitted");
            }
            Outcome::NotWhitelisted => {
                self.fatal = Some(Error::Usage(format!(
                    "{} may not submit to topic {}",
                    self.wallet.address(),
                    self.config.topic_id
                )));
            }
            Outcome::NotRegistered => {
                self.state.probed = false;
                self.finish_missed(
                    nonce,
                    Miss::TxRejected,
                    "not registered: run allora-worker register",
                );
            }
            Outcome::Dropped { reason } | Outcome::Stopped { reason } => {
                self.finish_missed(nonce, Miss::TxRejected, &reason);
            }
        }
    }

    /// Ends a window as missed: ledger `done`, counter, event. A tx that may
    /// still have landed is looked up first.
    pub(super) fn finish_missed(&mut self, nonce: i64, why: Miss, detail: &str) {
        if let Next::Reconcile { tx_hash, .. } = self.ledger.state().next(nonce) {
            if let Ok(Some(resp)) = self.client.tx(&tx_hash) {
                let mut st = SubmitState::default();
                if let Settle::Done(outcome @ Outcome::Included { .. }) =
                    self.client.settle(Tracked::Included(resp), &mut st)
                {
                    return self.outcome(nonce, outcome);
                }
            }
        }
        self.record(
            nonce,
            Stage::Done {
                reason: format!("missed ({}): {detail}", why.name()),
            },
        );
        self.counters.miss(why);
        logging::event(
            Kind::Error,
            &format!("missed nonce {nonce} ({}): {detail}", why.name()),
            json!({"nonce": nonce, "reason": why.name(), "detail": detail}),
        );
        self.finish(nonce, &format!("missed: {}", why.name()));
    }

    fn finish(&mut self, nonce: i64, how: &str) {
        self.state.open.remove(&nonce);
        self.submit_states.remove(&nonce);
        self.opened_at.remove(&nonce);
        self.miss_reason.remove(&nonce);
        self.summary.nonces.insert(nonce, how.to_string());
    }

    fn submit_failed(&mut self, nonce: i64, e: &Error) {
        let miss = match e {
            Error::Http { .. } | Error::Io { .. } => Miss::EndpointDown,
            _ => Miss::TxRejected,
        };
        logging::event(
            Kind::Warning,
            &format!("nonce {nonce}: {e}; retrying"),
            json!({"nonce": nonce}),
        );
        self.miss_reason.insert(nonce, miss);
        self.summary.errors += 1;
        self.retry_later(nonce);
    }

    pub(super) fn retry_later(&mut self, nonce: i64) {
        let now = self.now_ms();
        if let Some(w) = self.state.open.get_mut(&nonce) {
            w.retry_at_ms = now + nonce_retry_delay_ms(w.attempts);
            w.attempts += 1;
        }
    }

    /// Appends a ledger record; false (and an error event) when it failed,
    /// in which case nothing may be broadcast.
    fn record(&mut self, nonce: i64, stage: Stage) -> bool {
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
                    &format!("ledger write failed for nonce {nonce}, not broadcasting: {e}"),
                    json!({"nonce": nonce}),
                );
                false
            }
        }
    }

    /// Balance ≥ a typical fee + the data sending fee, else pause (log hourly).
    fn funded(&mut self) -> bool {
        let need = self.params.as_ref().map_or(0, |p| p.data_sending_fee)
            + (300_000.0 * self.config.gas_price * self.config.gas_margin).ceil() as u128;
        let balance = match self.client.balance(self.wallet.address()) {
            Ok(b) => b,
            Err(e) => {
                log::warn!("WARNING balance: {e}; trying the submission anyway");
                return true;
            }
        };
        self.counters.balance_uallo = Some(balance);
        if balance >= need {
            self.state.paused_until_ms = None;
            return true;
        }
        let now = self.now_ms();
        self.state.paused_until_ms = Some(now + LOW_BALANCE_RECHECK_MS);
        for w in self.state.open.keys().copied().collect::<Vec<_>>() {
            self.miss_reason.insert(w, Miss::LowBalance);
        }
        if self
            .last_low_balance_log
            .is_none_or(|t| t.elapsed().as_secs() >= 3600)
        {
            self.last_low_balance_log = Some(std::time::Instant::now());
            logging::event(
                Kind::Error,
                &format!("balance {balance} uallo is below one submission ({need} uallo): paused until funded"),
                json!({"balance_uallo": balance.to_string(), "needed_uallo": need.to_string(), "address": self.wallet.address()}),
            );
        }
        false
    }

    /// The value for `nonce`: the model (or the hook) on bars up to the
    /// nonce's block time; the explicit fallback only when one is set.
    fn predict(&mut self, nonce: i64) -> Result<f64, (Miss, Error)> {
        let t0 = match self.client.block_time(nonce as u64) {
            Ok(t) => t.unix_timestamp() / 60 * 60,
            Err(e) => return Err((Miss::EndpointDown, e)),
        };
        match self.forecast.predict(t0, nonce) {
            Ok((value, source)) => {
                logging::event(
                    Kind::Prediction,
                    &format!("nonce {nonce}: predicted {value} ({source})"),
                    json!({"nonce": nonce, "prediction": value, "source": source, "t0": t0}),
                );
                self.record(
                    nonce,
                    Stage::Predicted {
                        value: value.to_string(),
                    },
                );
                Ok(value)
            }
            Err((miss, e)) => match self.opts.fallback_value {
                Some(v) => {
                    logging::event(
                        Kind::Warning,
                        &format!("nonce {nonce}: no forecast ({e}); submitting the configured --fallback-value {v}"),
                        json!({"nonce": nonce, "prediction": v, "source": "fallback", "reason": e.to_string()}),
                    );
                    Ok(v)
                }
                None => Err((miss, e)),
            },
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
