//! The I/O of one submission machine's actions (`logic::submission`): `sign`
//! (fresh account, simulate, gas, price, fee under the cap, sign),
//! `broadcast` (one SYNC POST to one endpoint) and `lookup` (every hash on
//! every LCD, then the chain's own record of this worker's payload). Each
//! returns the `Event` the machine takes next; none decides what follows.

use serde_json::json;

use super::{b64, Client, TxKind};
use crate::error::{Error, Result};
use crate::io::http::{Kind, Sent};
use crate::logic::chain_json as cj;
use crate::logic::submission::{Answer, Event, Tx};
use crate::logic::submit;
use crate::logic::tx::{self, SignedTx, TxParams};
use crate::logic::wallet::Wallet;

const BROADCAST_PATH: &str = "/cosmos/tx/v1beta1/txs";

/// What a simulation said.
#[derive(Debug)]
pub enum Simulated {
    /// Gas used.
    Gas(u64),
    /// The chain refused the messages for a reason that will not change.
    Refused(Answer),
    /// Anything else (endpoint down, odd answer): use the default gas.
    Unexplained(String),
    /// Not asked: the step budget is spent (`Error::StepBudget`).
    Spent(Error),
}

impl Client {
    /// `Action::Sign`: a new tx for `what` with `timeout_height`, the price
    /// raised `bumps` times and gas at least `min_gas_used` × adjustment.
    /// `Event::Refused` when the simulate refused it for a terminal reason.
    /// Errors (endpoint down, fee above the cap) are for the caller to report.
    pub fn sign(
        &mut self,
        wallet: &Wallet,
        what: TxKind<'_>,
        timeout_height: u64,
        bumps: u32,
        min_gas_used: Option<u64>,
    ) -> Result<Event> {
        let account = self.account(wallet.address())?;
        // A step budget spent is no answer: sign at the next turn instead
        // of with the fallbacks (minimum price, fallback gas).
        let market = match self.feemarket_price() {
            Err(e @ Error::StepBudget { .. }) => return Err(e),
            r => r.ok(),
        };
        let price = submit::gas_price(self.min_gas_price, market, self.gas_margin, bumps);
        let mut params = TxParams {
            chain_id: self.chain_id.clone(),
            account_number: account.account_number,
            sequence: account.sequence.max(self.sequence_floor.unwrap_or(0)),
            gas_limit: submit::GAS_FALLBACK,
            fee_amount: submit::fee(submit::GAS_FALLBACK, price, self.fee_cap)
                .unwrap_or(self.fee_cap),
            memo: String::new(),
            timeout_height,
            emissions: self.emissions()?,
        };
        let draft = self.build(wallet, what, &params)?;
        let used = match self.simulate_answer(&tx::unsigned_for_simulation(&draft)) {
            Simulated::Gas(g) => Some(g),
            Simulated::Refused(a) => return Ok(Event::Refused(a)),
            Simulated::Spent(e) => return Err(e),
            Simulated::Unexplained(e) => {
                log::warn!("simulation failed, using {} gas: {e}", submit::GAS_FALLBACK);
                None
            }
        };
        let limit = submit::gas_limit(used, self.gas_adjustment)
            .max(min_gas_used.map_or(0, |u| submit::gas_limit(Some(u), self.gas_adjustment)));
        params.gas_limit = limit;
        params.fee_amount = submit::fee(limit, price, self.fee_cap)?;
        self.last_fee = Some(params.fee_amount);
        log::debug!(
            "tx gas {} fee {} uallo sequence {}",
            params.gas_limit,
            params.fee_amount,
            params.sequence
        );
        let signed = self.build(wallet, what, &params)?;
        Ok(Event::Signed(Tx {
            hash: signed.hash,
            sequence: params.sequence,
            timeout_height,
            bytes_b64: b64(&signed.tx_raw),
        }))
    }

    fn build(&self, wallet: &Wallet, what: TxKind<'_>, params: &TxParams) -> Result<SignedTx> {
        match what {
            TxKind::Payload(p) => tx::insert_payload_tx(wallet, p, params),
            TxKind::Register => tx::register_tx(wallet, self.topic_id, params),
        }
    }

    /// Simulates an unsigned tx. A 5xx with a JSON body is the chain's answer
    /// (the simulate runs the messages), classified by its message.
    pub fn simulate_answer(&mut self, unsigned: &[u8]) -> Simulated {
        let path = "/cosmos/tx/v1beta1/simulate";
        let body = json!({"tx_bytes": b64(unsigned)}).to_string();
        let reply = match self.http.post_answer(Kind::Lcd, path, &body) {
            Ok(r) => r,
            Err(e @ Error::StepBudget { .. }) => return Simulated::Spent(e),
            Err(e) => return Simulated::Unexplained(e.to_string()),
        };
        if reply.ok() {
            return match cj::simulated_gas(&reply.body) {
                Ok(g) => Simulated::Gas(g),
                Err(e) => Simulated::Unexplained(e.to_string()),
            };
        }
        let message = cj::api_error(&reply.body).map_or_else(String::new, |e| e.message);
        if submit::simulate_refusal(&message) {
            return Simulated::Refused(Answer {
                codespace: "simulate".into(),
                code: u32::from(reply.status),
                raw_log: message,
            });
        }
        Simulated::Unexplained(format!("HTTP {}: {message}", reply.status))
    }

    /// `Action::Broadcast`: one SYNC POST of the bytes to one endpoint.
    pub fn broadcast(&mut self, tx: &Tx) -> Event {
        let body = json!({"tx_bytes": tx.bytes_b64, "mode": "BROADCAST_MODE_SYNC"}).to_string();
        match self.http.post_once(Kind::Lcd, BROADCAST_PATH, &body) {
            Sent::Reply(reply) if reply.ok() => match cj::tx_response(&reply.body) {
                Ok(r) => Event::Answer(Answer {
                    codespace: r.codespace,
                    code: r.code,
                    raw_log: r.raw_log,
                }),
                Err(e) => Event::Lost(format!("broadcast answered oddly: {e}")),
            },
            Sent::Reply(reply) => Event::Answer(Answer {
                codespace: "http".into(),
                code: u32::from(reply.status),
                raw_log: cj::api_error(&reply.body).map_or_else(String::new, |e| e.message),
            }),
            Sent::NotSent(e) => Event::NotSent(e.to_string()),
            Sent::Lost(e) => Event::Lost(e.to_string()),
        }
    }

    /// `Action::Lookup`: every hash on every LCD; when none is in a block,
    /// the height and whether the chain shows `what` served by `addr`.
    pub fn lookup(&mut self, hashes: &[String], addr: &str, what: TxKind<'_>) -> Event {
        let bases = self.http.endpoints(Kind::Lcd);
        let failures = match self.find_any(hashes, &bases) {
            Ok(found) => return Event::Found(found),
            Err(failures) => failures,
        };
        let served = match what {
            TxKind::Payload(p) => self
                .latest_inference(addr)
                .map(|l| l.is_some_and(|l| l.block_height == p.nonce)),
            TxKind::Register => self.is_registered(addr),
        };
        if matches!(served, Ok(true)) {
            // It may have landed between the two looks: name the tx if we can.
            if let Ok(found) = self.find_any(hashes, &bases) {
                return Event::Found(found);
            }
        }
        match (self.latest_height(), served) {
            (Ok(height), Ok(served)) if served || failures < bases.len() * hashes.len().max(1) => {
                Event::NotFound { height, served }
            }
            (Err(e), _) | (_, Err(e)) => Event::LookupFailed(e.to_string()),
            _ => Event::LookupFailed("no LCD answered the tx lookups".into()),
        }
    }

    /// The first of `hashes` (newest first) any LCD has in a block, or the
    /// number of lookups that failed.
    fn find_any(
        &self,
        hashes: &[String],
        bases: &[String],
    ) -> std::result::Result<cj::TxResponse, usize> {
        let mut failures = 0;
        for hash in hashes.iter().rev() {
            for base in bases {
                match self.tx_at(base, hash) {
                    Ok(Some(found)) => return Ok(found),
                    Ok(None) => {}
                    Err(e) => {
                        log::debug!("looking up tx {hash} at {base}: {e}");
                        failures += 1;
                    }
                }
            }
        }
        Err(failures)
    }

    /// A tx by hash at one LCD; `None` while it is not in a block there.
    fn tx_at(&self, base: &str, hash: &str) -> Result<Option<cj::TxResponse>> {
        let path = format!("/cosmos/tx/v1beta1/txs/{hash}");
        let reply = self.http.once(base, &path, None)?;
        tx_reply(&path, &reply)
    }
}

/// A tx lookup's reply: the tx once in a block, `None` while not found.
pub(super) fn tx_reply(
    path: &str,
    reply: &crate::io::http::Reply,
) -> Result<Option<cj::TxResponse>> {
    if reply.ok() {
        return cj::tx_response(&reply.body).map(|r| Some(r).filter(|r| r.height > 0));
    }
    let missing = reply.status == 404
        || cj::api_error(&reply.body)
            .is_some_and(|e| e.code == 5 || e.message.contains("not found"));
    if missing {
        return Ok(None);
    }
    Err(super::status_error(path, reply))
}
