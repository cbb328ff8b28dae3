//! The submission of one transaction for one nonce: `prepare` (simulate,
//! gas, price, fee under the cap, sign) then `broadcast_and_track` (SYNC
//! broadcast, CheckTx code, poll by hash; unknown outcomes resolved by hash
//! and rebroadcast with the same bytes), and `submit`/`register`, which loop
//! over the two following `logic::submit::classify`.
//!
//! A ledger that must record the signed tx before broadcast calls `prepare`
//! and `broadcast_and_track` itself and feeds the result to `settle`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{b64, Client, Outcome, SubmitState, Tracked, TxKind};
use crate::error::{Error, Result};
use crate::io::http::Kind;
use crate::logic::chain_json::{self as cj, TxResponse};
use crate::logic::submit::{self, Poll, Verdict};
use crate::logic::tx::{self, SignedTx, TxParams};
use crate::logic::wallet::Wallet;

const BROADCAST_PATH: &str = "/cosmos/tx/v1beta1/txs";

/// What `settle` tells the caller to do after a tracked broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Finished with this outcome.
    Done(Outcome),
    /// Prepare (re-sign) and broadcast again; the state says why.
    Retry,
}

impl Client {
    /// Builds and signs the tx: account (cached in `state`), simulation,
    /// gas limit, price, fee (refused above the cap), `timeout_height` =
    /// `window_end` (0 = none).
    pub fn prepare(
        &mut self,
        wallet: &Wallet,
        what: TxKind<'_>,
        window_end: u64,
        state: &mut SubmitState,
    ) -> Result<SignedTx> {
        let account = match state.account.clone() {
            Some(a) => a,
            None => self.account(wallet.address())?,
        };
        state.account = Some(account.clone());
        let price = submit::gas_price(
            self.min_gas_price,
            self.feemarket_price().ok(),
            self.gas_margin,
            state.budget.bumps,
        );
        let mut params = TxParams {
            chain_id: self.chain_id.clone(),
            account_number: account.account_number,
            sequence: account.sequence,
            gas_limit: submit::GAS_FALLBACK,
            fee_amount: submit::fee(submit::GAS_FALLBACK, price, self.fee_cap)
                .unwrap_or(self.fee_cap),
            memo: String::new(),
            timeout_height: window_end,
            emissions: self.emissions()?,
        };
        let draft = self.build(wallet, what, &params)?;
        let used = match self.simulate(&tx::unsigned_for_simulation(&draft)) {
            Ok(g) => Some(g),
            Err(e) => {
                log::warn!("simulation failed, using {} gas: {e}", submit::GAS_FALLBACK);
                None
            }
        };
        params.gas_limit = submit::gas_limit(used, self.gas_adjustment);
        params.fee_amount = submit::fee(params.gas_limit, price, self.fee_cap)?;
        state.last_fee = Some(params.fee_amount);
        log::debug!(
            "tx gas {} fee {} uallo sequence {}",
            params.gas_limit,
            params.fee_amount,
            params.sequence
        );
        self.build(wallet, what, &params)
    }

    fn build(&self, wallet: &Wallet, what: TxKind<'_>, params: &TxParams) -> Result<SignedTx> {
        match what {
            TxKind::Payload(p) => tx::insert_payload_tx(wallet, p, params),
            TxKind::Register => tx::register_tx(wallet, self.topic_id, params),
        }
    }

    /// Broadcasts `tx` (SYNC) and follows it until it is in a block, CheckTx
    /// refuses it, or `window_end` / the tx timeout passes. When the outcome of
    /// a broadcast is unknown (timeout, 5xx, dropped connection) the hash is
    /// looked up first, and the same bytes are sent again only if it is absent.
    pub fn broadcast_and_track(&mut self, tx: &SignedTx, window_end: u64) -> Result<Tracked> {
        let body = json!({"tx_bytes": b64(&tx.tx_raw), "mode": "BROADCAST_MODE_SYNC"}).to_string();
        let start = Instant::now();
        loop {
            match self.http.post_once(Kind::Lcd, BROADCAST_PATH, &body) {
                Ok(reply) if reply.ok() => match cj::tx_response(&reply.body) {
                    Ok(resp) => match submit::classify(&resp.codespace, resp.code, &resp.raw_log) {
                        Verdict::Success | Verdict::KeepPolling => {
                            return self.track(&tx.hash, window_end, start)
                        }
                        Verdict::Rebroadcast => {
                            log::warn!("mempool full; broadcasting the same tx again")
                        }
                        _ => return Ok(Tracked::Rejected(resp)),
                    },
                    Err(e) => log::warn!(
                        "broadcast of {} answered oddly ({e}); looking it up",
                        tx.hash
                    ),
                },
                Ok(reply) => return Ok(Tracked::Rejected(http_rejection(&reply))),
                Err(e) => {
                    log::warn!("broadcast of {} has an unknown outcome: {e}", tx.hash);
                    if let Ok(Some(found)) = self.tx(&tx.hash) {
                        return Ok(Tracked::Included(found));
                    }
                }
            }
            if let Some(why) = self.stop_polling(window_end, start)? {
                return Ok(Tracked::Unknown(why));
            }
            crate::io::signals::sleep_until(Instant::now() + self.poll_interval());
        }
    }

    fn poll_interval(&self) -> Duration {
        (self.tx_timeout / 30).clamp(Duration::from_millis(50), Duration::from_secs(2))
    }

    /// `Some(reason)` when polling should end.
    fn stop_polling(&mut self, window_end: u64, start: Instant) -> Result<Option<String>> {
        if crate::io::signals::stop_requested() {
            return Ok(Some("shutdown requested while the tx was pending".into()));
        }
        let height = if window_end > 0 {
            self.latest_height().unwrap_or(0)
        } else {
            0
        };
        Ok(
            match submit::poll(height, window_end, start.elapsed(), self.tx_timeout) {
                Poll::Again => None,
                Poll::WindowPassed => Some(format!(
                    "not included by the window's end block {window_end} (now {height})"
                )),
                Poll::TimedOut => Some(format!(
                    "not included after {} s",
                    self.tx_timeout.as_secs_f64()
                )),
            },
        )
    }

    /// Polls the tx by hash.
    fn track(&mut self, hash: &str, window_end: u64, start: Instant) -> Result<Tracked> {
        loop {
            match self.tx(hash) {
                Ok(Some(found)) => return Ok(Tracked::Included(found)),
                Ok(None) => {}
                Err(e) => log::warn!("looking up tx {hash}: {e}"),
            }
            if let Some(why) = self.stop_polling(window_end, start)? {
                // One last look: it may have landed in the final block.
                if let Ok(Some(found)) = self.tx(hash) {
                    return Ok(Tracked::Included(found));
                }
                return Ok(Tracked::Unknown(why));
            }
            crate::io::signals::sleep_until(Instant::now() + self.poll_interval());
        }
    }

    /// What to do after `tracked`, updating the cached sequence and budget.
    pub fn settle(&mut self, tracked: Tracked, state: &mut SubmitState) -> Next {
        let resp: TxResponse = match tracked {
            Tracked::Unknown(why) => return Next::Done(Outcome::Dropped { reason: why }),
            Tracked::Included(r) => {
                // A tx in a block used its sequence whatever its code.
                if let Some(a) = state.account.as_mut() {
                    a.sequence += 1;
                }
                r
            }
            Tracked::Rejected(r) => r,
        };
        let verdict = submit::classify(&resp.codespace, resp.code, &resp.raw_log);
        if let Err(why) = state.budget.spend(&verdict) {
            return Next::Done(Outcome::Dropped { reason: why });
        }
        Next::Done(match verdict {
            Verdict::Success => Outcome::Included {
                admitted: cj::admitted(&resp.events),
                tx_hash: resp.txhash,
                height: resp.height,
            },
            Verdict::Resign => {
                state.account = None;
                return Next::Retry;
            }
            Verdict::RaisePrice => return Next::Retry,
            Verdict::AlreadySubmitted => Outcome::AlreadySubmitted,
            Verdict::NotRegistered => Outcome::NotRegistered,
            Verdict::NotWhitelisted => Outcome::NotWhitelisted,
            Verdict::Redetect(why) => {
                self.redetect = !self.pinned;
                Outcome::Dropped { reason: why }
            }
            Verdict::Drop(why) => Outcome::Dropped { reason: why },
            Verdict::Stop(why) => Outcome::Stopped { reason: why },
            Verdict::KeepPolling | Verdict::Rebroadcast => Outcome::Dropped {
                reason: format!("still pending: {}", resp.raw_log),
            },
        })
    }

    /// Submits `what` for one nonce end to end (prepare, broadcast, track,
    /// retry as classified).
    pub fn submit(
        &mut self,
        wallet: &Wallet,
        what: TxKind<'_>,
        window_end: u64,
        state: &mut SubmitState,
    ) -> Result<Outcome> {
        loop {
            let tx = match self.prepare(wallet, what, window_end, state) {
                Ok(tx) => tx,
                Err(e @ Error::Config { .. }) => {
                    return Ok(Outcome::Stopped {
                        reason: e.to_string(),
                    })
                }
                Err(e) => return Err(e),
            };
            log::info!("broadcasting tx {}", tx.hash);
            let tracked = self.broadcast_and_track(&tx, window_end)?;
            match self.settle(tracked, state) {
                Next::Done(outcome) => return Ok(outcome),
                Next::Retry => log::info!(
                    "retrying with a new signature (budget used {:?})",
                    state.budget
                ),
            }
        }
    }
}

/// A broadcast refused at the gateway (HTTP 4xx) as a tx response.
fn http_rejection(reply: &crate::io::http::Reply) -> TxResponse {
    let message = cj::api_error(&reply.body).map_or_else(String::new, |e| e.message);
    TxResponse {
        codespace: "http".into(),
        code: u32::from(reply.status),
        raw_log: message,
        ..TxResponse::default()
    }
}
