//! Transaction admission (CheckTx, behind CometBFT's tx cache) and delivery
//! (DeliverTx at the next block) with the chain's codes, codespaces and
//! raw_log texts, in the ante order of ALLORA-PROTOCOL.md §12 C10: timeout
//! → signer → sequence → signature → fee → funds. An ante failure at
//! delivery writes no state; a message-stage failure (out of gas, a message
//! refused) keeps the fee and the sequence. Messages are run by
//! `msg_server.rs`; every broadcast is recorded in the chain's `txlog`.

use time::OffsetDateTime;

use super::chain::{Chain, Event, TxRecord};
use super::verifier::{self, Msg, Reject, VerifiedTx};
use crate::logic::hex;
use crate::logic::wallet::sha256;

/// A tx admitted by CheckTx, waiting for a block.
#[derive(Debug, Clone)]
pub struct Pending {
    pub hash: String,
    pub bytes: Vec<u8>,
    pub tx: VerifiedTx,
    pub not_before: u64,
}

/// A refusal: codespace, code, raw_log, and the stats reason name.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub codespace: &'static str,
    pub code: u32,
    pub log: String,
    pub reason: &'static str,
}

pub(super) fn refuse(
    codespace: &'static str,
    code: u32,
    log: String,
    reason: &'static str,
) -> Refusal {
    Refusal {
        codespace,
        code,
        log,
        reason,
    }
}

/// What CheckTx answered.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub hash: String,
    pub refusal: Option<Refusal>,
}

impl CheckResult {
    /// Refused by the tx cache (CometBFT's `ErrTxInCache`, before any CheckTx).
    pub fn in_cache(&self) -> bool {
        self.refusal
            .as_ref()
            .is_some_and(|r| r.reason == "in_cache")
    }
}

/// The gas model: what a tx of `len` bytes uses, in simulate and delivery
/// alike, plus the `gas-extra` fault's surcharge.
pub fn gas_used(len: usize, extra: u64) -> u64 {
    80_000 + 10 * len as u64 + extra
}

pub(super) fn reject_refusal(r: Reject) -> Refusal {
    let reason = match r {
        Reject::TxDecode(_) => "decode",
        Reject::InvalidAddress(_) => "invalid_address",
        Reject::InvalidType(_) => "invalid_type",
        _ => "bundle_invalid",
    };
    refuse("sdk", r.code(), r.to_string(), reason)
}

pub(super) fn fee_uallo(tx: &VerifiedTx) -> u128 {
    tx.fee
        .iter()
        .filter(|(d, _)| d == "uallo")
        .map(|(_, a)| *a)
        .sum()
}

fn has_insert(tx: &VerifiedTx) -> bool {
    tx.messages.iter().any(|m| matches!(m, Msg::Insert { .. }))
}

impl Chain {
    /// CheckTx behind the tx cache: admits `bytes` to the mempool or says why not.
    pub fn check_tx(&mut self, bytes: &[u8]) -> CheckResult {
        let hash = hex::encode_upper(&sha256(bytes));
        self.stats.txs_broadcast += 1;
        let decoded = verifier::decode_tx(bytes);
        if self.txlog.seen(&hash) && decoded.as_ref().is_ok_and(has_insert) {
            // The same bytes again: the same transaction, not a second submission.
            self.stats.resends += 1;
        }
        let pending = self.mempool.iter().any(|p| p.hash == hash);
        let refusal = if self.tx_cache.push(&hash) {
            let r = match &decoded {
                Err(e) => Some(reject_refusal(e.clone())),
                Ok(tx) => self.check(bytes, &hash, tx).err(),
            };
            if r.is_some() {
                self.tx_cache.remove(&hash);
            }
            r
        } else {
            Some(refuse("sdk", 19, String::new(), "in_cache"))
        };
        // A refused copy of a pending tx says nothing about the pending one.
        let keep = pending || refusal.as_ref().is_some_and(|r| r.code == 19);
        let answer = refusal
            .as_ref()
            .filter(|_| !keep)
            .map(|r| (r.code, r.codespace, r.log.as_str()));
        if !keep || !self.txlog.seen(&hash) {
            self.txlog
                .broadcast(&hash, bytes, decoded.as_ref().ok(), answer);
        }
        if let Some(r) = &refusal {
            self.stats.reject(r.reason);
            log::debug!("devnet: CheckTx {hash} refused: {}", r.log);
        }
        CheckResult { hash, refusal }
    }

    fn check(&mut self, bytes: &[u8], hash: &str, tx: &VerifiedTx) -> Result<(), Refusal> {
        self.check_types(tx)?;
        self.check_timeout(tx, self.height())?;
        let number = self.check_account(tx)?;
        if !verifier::tx_signature_ok(bytes, &tx.pubkey, &self.chain_id, number) {
            let log = format!(
                "signature verification failed; please verify account number ({number}), sequence ({}) and chain-id ({}): unauthorized",
                tx.sequence, self.chain_id
            );
            return Err(refuse("sdk", 4, log, "tx_signature"));
        }
        self.check_fee(tx, true)?;
        self.check_fee_funds(tx)?;
        if let Some(acct) = self.accounts.get_mut(&tx.signer) {
            acct.check_sequence += 1;
        }
        let hold = std::mem::take(&mut self.faults.hold_blocks);
        if hold > 0 {
            self.stats.fired("hold");
        }
        self.mempool.push(Pending {
            hash: hash.to_string(),
            bytes: bytes.to_vec(),
            tx: tx.clone(),
            not_before: self.height() + 1 + hold,
        });
        Ok(())
    }

    /// Timeout height against `height`: the last committed one at CheckTx,
    /// the block's own at delivery (C6).
    fn check_timeout(&self, tx: &VerifiedTx, height: u64) -> Result<(), Refusal> {
        if tx.timeout_height > 0 && height > tx.timeout_height {
            let log = format!(
                "block height: {height}, timeout height: {}: tx timeout height",
                tx.timeout_height
            );
            return Err(refuse("sdk", 30, log, "timeout_height"));
        }
        Ok(())
    }

    /// Every message must be of the configured emissions version and signed by the tx signer.
    fn check_types(&self, tx: &VerifiedTx) -> Result<(), Refusal> {
        for m in &tx.messages {
            let name = match m {
                Msg::Insert { .. } => "InsertWorkerPayloadRequest",
                Msg::Register { .. } => "RegisterRequest",
            };
            if m.emissions() != self.emissions {
                let log = format!(
                    "unable to resolve type URL {}: tx parse error",
                    m.emissions().type_url(name)
                );
                return Err(refuse("sdk", 2, log, "decode"));
            }
            if m.sender() != tx.signer {
                let log = format!(
                    "pubKey does not match signer address {} with signer index: 0: invalid pubkey",
                    m.sender()
                );
                return Err(refuse("sdk", 8, log, "signer_mismatch"));
            }
        }
        Ok(())
    }

    /// Account exists and the sequence matches the CheckTx state; returns the account number.
    fn check_account(&mut self, tx: &VerifiedTx) -> Result<u64, Refusal> {
        let mismatch_fault = std::mem::take(&mut self.faults.sequence_mismatch_once);
        let Some(acct) = self.accounts.get_mut(&tx.signer) else {
            let log = format!("account {} not found: unknown address", tx.signer);
            return Err(refuse("sdk", 9, log, "unknown_account"));
        };
        if mismatch_fault {
            acct.sequence += 1;
            acct.check_sequence += 1;
            self.stats.fired("sequence-mismatch");
        }
        if tx.sequence != acct.check_sequence {
            let log = sequence_log(acct.check_sequence, tx.sequence);
            return Err(refuse("sdk", 32, log, "sequence_mismatch"));
        }
        Ok(acct.number)
    }

    /// The feemarket check against the current base gas price (`at_check`:
    /// the insufficient-fee fault acts at CheckTx only).
    fn check_fee(&mut self, tx: &VerifiedTx, at_check: bool) -> Result<(), Refusal> {
        let got = fee_uallo(tx);
        let mut required = (tx.gas_limit as f64 * self.gas_price).ceil() as u128;
        if at_check && std::mem::take(&mut self.faults.insufficient_fee_once) {
            required = required.max(got.saturating_mul(2)).max(1);
            self.stats.fired("insufficient-fee");
        }
        if got < required || got == 0 {
            let log = format!(
                "insufficient fee; got: {got}uallo required: {required}uallo: insufficient fee"
            );
            return Err(refuse("sdk", 13, log, "insufficient_fee"));
        }
        Ok(())
    }

    fn check_fee_funds(&self, tx: &VerifiedTx) -> Result<(), Refusal> {
        let (fee, balance) = (
            fee_uallo(tx),
            self.accounts.get(&tx.signer).map_or(0, |a| a.balance),
        );
        if balance < fee {
            let log = format!(
                "spendable balance {balance}uallo is smaller than {fee}uallo: insufficient funds"
            );
            return Err(refuse("sdk", 5, log, "insufficient_funds"));
        }
        Ok(())
    }

    /// Delivers every pending tx due at `height`; returns the included txs' bytes.
    pub(super) fn deliver_due(&mut self, height: u64, now: OffsetDateTime) -> Vec<Vec<u8>> {
        let mut held_signers = Vec::new();
        let mut due = Vec::new();
        for p in std::mem::take(&mut self.mempool) {
            if p.not_before > height || held_signers.contains(&p.tx.signer) {
                held_signers.push(p.tx.signer.clone());
                self.mempool.push(p);
            } else {
                due.push(p);
            }
        }
        let mut included = Vec::new();
        for p in due {
            self.count_included(&p);
            let record = self.deliver(&p, height, now);
            self.stats.txs_included += 1;
            if record.code != 0 {
                self.tx_cache.remove(&record.hash);
            }
            let (code, space, log) = (record.code, &record.codespace, &record.raw_log);
            self.txlog.included(&record.hash, height, code, space, log);
            self.txs.insert(record.hash.clone(), record);
            included.push(p.bytes);
        }
        self.recheck();
        included
    }

    /// Counts an insert tx in `included_by_nonce`, whatever its outcome.
    fn count_included(&mut self, p: &Pending) {
        for m in &p.tx.messages {
            if let Msg::Insert { .. } = m {
                *self
                    .stats
                    .included_by_nonce
                    .entry(m.nonce())
                    .or_default()
                    .entry(m.sender().to_string())
                    .or_default() += 1;
            }
        }
    }

    /// After a block the CheckTx state restarts from the committed state
    /// plus the txs still pending, as CometBFT's recheck does.
    fn recheck(&mut self) {
        for acct in self.accounts.values_mut() {
            acct.check_sequence = acct.sequence;
        }
        for p in &self.mempool {
            if let Some(acct) = self.accounts.get_mut(&p.tx.signer) {
                acct.check_sequence += 1;
            }
        }
    }

    fn deliver(&mut self, p: &Pending, height: u64, now: OffsetDateTime) -> TxRecord {
        let tx = &p.tx;
        let mut record = TxRecord {
            height,
            hash: p.hash.clone(),
            code: 0,
            codespace: String::new(),
            raw_log: String::new(),
            gas_wanted: tx.gas_limit,
            gas_used: 0,
            events: Vec::new(),
            time: now,
            memo: tx.memo.clone(),
            timeout_height: tx.timeout_height,
            bytes: p.bytes.clone(),
            indexed_at: height + self.faults.index_lag,
        };
        let outcome = self.ante(tx, height).and_then(|()| {
            record.events = self.fee_events(tx);
            record.gas_used = self.delivery_gas(p);
            if record.gas_used > tx.gas_limit {
                let log = format!(
                    "out of gas in location: WriteFlat; gasWanted: {}, gasUsed: {}: out of gas",
                    tx.gas_limit, record.gas_used
                );
                return Err(refuse("sdk", 11, log, "out_of_gas"));
            }
            self.run_msgs(tx, height)
        });
        match outcome {
            Ok(events) => record.events.extend(events),
            Err(r) => {
                if r.reason == "duplicate" {
                    self.stats.duplicates += 1;
                }
                self.stats.reject(r.reason);
                record.code = r.code;
                record.codespace = r.codespace.to_string();
                record.raw_log = r.log;
            }
        }
        record
    }

    /// Gas at delivery: the model, or under `gas-spike` more than any
    /// simulation promised (beyond the tx's own limit).
    fn delivery_gas(&mut self, p: &Pending) -> u64 {
        let model = gas_used(p.bytes.len(), self.faults.extra_gas);
        if self.faults.gas_spike == 0 {
            return model;
        }
        self.faults.gas_spike -= 1;
        self.stats.fired("gas-spike");
        p.tx.gas_limit.max(model) + model / 2
    }

    /// The ante handler at delivery (C2): timeout, sequence, fee at the
    /// block's gas price, funds; on success the fee is taken and the
    /// sequence used. A failure writes nothing.
    fn ante(&mut self, tx: &VerifiedTx, height: u64) -> Result<(), Refusal> {
        self.check_timeout(tx, height)?;
        let sequence = self.accounts.get(&tx.signer).map_or(0, |a| a.sequence);
        if tx.sequence != sequence {
            let log = sequence_log(sequence, tx.sequence);
            return Err(refuse("sdk", 32, log, "sequence_mismatch"));
        }
        self.check_fee(tx, false)?;
        self.check_fee_funds(tx)?;
        let fee = fee_uallo(tx);
        if let Some(acct) = self.accounts.get_mut(&tx.signer) {
            acct.balance -= fee;
            acct.sequence += 1;
            acct.check_sequence = acct.check_sequence.max(acct.sequence);
            acct.pubkey = Some(tx.pubkey);
        }
        Ok(())
    }

    fn fee_events(&self, tx: &VerifiedTx) -> Vec<Event> {
        let fee = format!("{}uallo", fee_uallo(tx));
        let seq = format!("{}/{}", tx.signer, tx.sequence);
        vec![
            Event::plain("coin_spent", &[("spender", &tx.signer), ("amount", &fee)]),
            Event::plain("tx", &[("fee", &fee), ("fee_payer", &tx.signer)]),
            Event::plain("tx", &[("acc_seq", &seq)]),
        ]
    }
}

impl Chain {
    /// The ante in simulate mode: account, timeout and sequence against the
    /// CheckTx state; no signature, no fee.
    pub fn simulate_ante(&self, tx: &VerifiedTx) -> Result<(), Refusal> {
        self.check_timeout(tx, self.height())?;
        let Some(acct) = self.accounts.get(&tx.signer) else {
            let log = format!("account {} not found: unknown address", tx.signer);
            return Err(refuse("sdk", 9, log, "unknown_account"));
        };
        if tx.sequence != acct.check_sequence {
            let log = sequence_log(acct.check_sequence, tx.sequence);
            return Err(refuse("sdk", 32, log, "sequence_mismatch"));
        }
        Ok(())
    }

    /// The gas a simulated tx will use once signed (its empty signature
    /// counted as the 64 bytes it will have).
    pub fn simulated_gas(&self, bytes: &[u8]) -> u64 {
        let unsigned = crate::logic::tx_decode::decode_tx_raw(bytes)
            .is_ok_and(|raw| raw.signatures.iter().all(Vec::is_empty));
        let len = bytes.len() + if unsigned { 64 } else { 0 };
        gas_used(len, self.faults.extra_gas)
    }
}

/// cosmos-sdk's `ErrWrongSequence` raw_log.
pub fn sequence_log(expected: u64, got: u64) -> String {
    format!("account sequence mismatch, expected {expected}, got {got}: incorrect account sequence")
}
