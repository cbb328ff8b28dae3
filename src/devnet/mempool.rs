//! Transaction admission (CheckTx) and delivery (DeliverTx at the next
//! block), with the chain's codes, codespaces and raw_log texts and its
//! check order (ALLORA-PROTOCOL.md §7). Decoding and signature checks come
//! from `verifier.rs`; the state they act on is `chain::Chain`.

use serde_json::json;
use time::OffsetDateTime;

use super::chain::{Chain, Event, Inference, TxRecord};
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

fn refuse(codespace: &'static str, code: u32, log: String, reason: &'static str) -> Refusal {
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

/// The gas a tx of `len` bytes uses, in simulate and in delivery alike.
pub fn gas_used(len: usize) -> u64 {
    80_000 + 10 * len as u64
}

fn reject_refusal(r: Reject) -> Refusal {
    let reason = match r {
        Reject::TxDecode(_) => "decode",
        _ => "bundle_invalid",
    };
    refuse("sdk", r.code(), r.to_string(), reason)
}

fn fee_uallo(tx: &VerifiedTx) -> u128 {
    tx.fee
        .iter()
        .filter(|(d, _)| d == "uallo")
        .map(|(_, a)| *a)
        .sum()
}

impl Chain {
    /// CheckTx: admits `bytes` to the mempool or says why not.
    pub fn check_tx(&mut self, bytes: &[u8]) -> CheckResult {
        let hash = hex::encode_upper(&sha256(bytes));
        self.stats.txs_broadcast += 1;
        let refusal = self.check(bytes, &hash).err();
        if let Some(r) = &refusal {
            self.stats.reject(r.reason);
            log::debug!("devnet: CheckTx {hash} refused: {}", r.log);
        }
        CheckResult { hash, refusal }
    }

    fn check(&mut self, bytes: &[u8], hash: &str) -> Result<(), Refusal> {
        let tx = verifier::decode_tx(bytes).map_err(reject_refusal)?;
        self.check_types(&tx)?;
        if self.mempool.iter().any(|p| p.hash == hash) || self.txs.contains_key(hash) {
            // The same bytes again (a worker resolving an unknown broadcast
            // outcome): the same transaction, not a second submission.
            if tx
                .messages
                .iter()
                .any(|m| matches!(m, Msg::InsertPayload { .. }))
            {
                self.stats.resends += 1;
            }
            return Err(refuse(
                "sdk",
                19,
                "tx already in mempool".into(),
                "in_mempool",
            ));
        }
        let next = self.height() + 1;
        if tx.timeout_height > 0 && next > tx.timeout_height {
            let log = format!(
                "block height: {next}, timeout height: {}: tx timeout height",
                tx.timeout_height
            );
            return Err(refuse("sdk", 30, log, "timeout_height"));
        }
        let number = self.check_account(&tx)?;
        self.check_fee(&tx)?;
        if !verifier::tx_signature_ok(bytes, &tx.pubkey, &self.chain_id, number) {
            let log = format!(
                "signature verification failed; please verify account number ({number}), sequence ({}) and chain-id ({}): unauthorized",
                tx.sequence, self.chain_id
            );
            return Err(refuse("sdk", 4, log, "tx_signature"));
        }
        let fee = fee_uallo(&tx);
        let acct = self
            .accounts
            .get_mut(&tx.signer)
            .expect("account checked above");
        if acct.balance < fee {
            let log = format!(
                "spendable balance {}uallo is smaller than {fee}uallo: insufficient funds",
                acct.balance
            );
            return Err(refuse("sdk", 5, log, "insufficient_funds"));
        }
        acct.check_sequence += 1;
        let hold = std::mem::take(&mut self.faults.hold_blocks);
        if hold > 0 {
            self.stats.fired("hold");
        }
        let not_before = next + hold;
        self.mempool.push(Pending {
            hash: hash.to_string(),
            bytes: bytes.to_vec(),
            tx,
            not_before,
        });
        Ok(())
    }

    /// Every message must be of the configured emissions version and signed by the tx signer.
    fn check_types(&self, tx: &VerifiedTx) -> Result<(), Refusal> {
        for m in &tx.messages {
            let (emissions, sender, name) = match m {
                Msg::InsertPayload {
                    emissions, sender, ..
                } => (*emissions, sender, "InsertWorkerPayloadRequest"),
                Msg::Register {
                    emissions, sender, ..
                } => (*emissions, sender, "RegisterRequest"),
            };
            if emissions != self.emissions {
                let log = format!(
                    "unable to resolve type URL {}: tx parse error",
                    emissions.type_url(name)
                );
                return Err(refuse("sdk", 2, log, "decode"));
            }
            if *sender != tx.signer {
                let log = format!("pubKey does not match signer address {sender} with signer index: 0: invalid pubkey");
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
            let log = format!(
                "account sequence mismatch, expected {}, got {}: incorrect account sequence",
                acct.check_sequence, tx.sequence
            );
            return Err(refuse("sdk", 32, log, "sequence_mismatch"));
        }
        Ok(acct.number)
    }

    fn check_fee(&mut self, tx: &VerifiedTx) -> Result<(), Refusal> {
        let got = fee_uallo(tx);
        let mut required = (tx.gas_limit as f64 * self.min_gas_price).ceil() as u128;
        if std::mem::take(&mut self.faults.insufficient_fee_once) {
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

    /// Delivers every pending tx due at `height`; returns how many were included.
    pub(super) fn deliver_due(&mut self, height: u64, now: OffsetDateTime) -> usize {
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
        let n = due.len();
        for p in due {
            self.count_included(&p);
            let record = self.deliver(&p, height, now);
            self.stats.txs_included += 1;
            self.txs.insert(record.hash.clone(), record);
        }
        self.recheck();
        n
    }

    /// Counts an insert tx in `included_by_nonce`, whatever its outcome.
    fn count_included(&mut self, p: &Pending) {
        for m in &p.tx.messages {
            if let Msg::InsertPayload { sender, nonce, .. } = m {
                *self
                    .stats
                    .included_by_nonce
                    .entry(*nonce)
                    .or_default()
                    .entry(sender.clone())
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
        let gas_used = gas_used(p.bytes.len());
        let mut record = TxRecord {
            height,
            hash: p.hash.clone(),
            code: 0,
            codespace: String::new(),
            raw_log: String::new(),
            gas_wanted: tx.gas_limit,
            gas_used,
            events: Vec::new(),
            time: now,
            memo: tx.memo.clone(),
            timeout_height: tx.timeout_height,
        };
        let outcome = self.ante(tx, height).and_then(|()| {
            record.events = self.fee_events(tx);
            if gas_used > tx.gas_limit {
                let log = format!(
                    "out of gas in location: txSize; gasWanted: {}, gasUsed: {gas_used}: out of gas",
                    tx.gas_limit
                );
                return Err(refuse("sdk", 11, log, "out_of_gas"));
            }
            self.run_msgs(p, height)
        });
        match outcome {
            Ok(events) => record.events.extend(events),
            Err(r) => {
                self.stats.reject(r.reason);
                record.code = r.code;
                record.codespace = r.codespace.to_string();
                record.raw_log = r.log;
            }
        }
        record
    }

    /// The ante handler at delivery: timeout, sequence, then fee and sequence bump.
    fn ante(&mut self, tx: &VerifiedTx, height: u64) -> Result<(), Refusal> {
        if tx.timeout_height > 0 && height > tx.timeout_height {
            let log = format!(
                "block height: {height}, timeout height: {}: tx timeout height",
                tx.timeout_height
            );
            return Err(refuse("sdk", 30, log, "timeout_height"));
        }
        let acct = self
            .accounts
            .get_mut(&tx.signer)
            .expect("CheckTx admitted only existing accounts");
        if tx.sequence != acct.sequence {
            let log = format!(
                "account sequence mismatch, expected {}, got {}: incorrect account sequence",
                acct.sequence, tx.sequence
            );
            return Err(refuse("sdk", 32, log, "sequence_mismatch"));
        }
        let fee = fee_uallo(tx);
        if acct.balance < fee {
            let log = format!(
                "spendable balance {}uallo is smaller than {fee}uallo: insufficient funds",
                acct.balance
            );
            return Err(refuse("sdk", 5, log, "insufficient_funds"));
        }
        acct.balance -= fee;
        acct.sequence += 1;
        acct.check_sequence = acct.check_sequence.max(acct.sequence);
        acct.pubkey = Some(tx.pubkey);
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

    /// Runs the messages in order and stops at the first failure. Effects of
    /// earlier messages of a failed tx are kept (the chain would revert
    /// them); workers send one message per tx.
    fn run_msgs(&mut self, p: &Pending, height: u64) -> Result<Vec<Event>, Refusal> {
        let number = self.accounts.get(&p.tx.signer).map_or(0, |a| a.number);
        if let Err(r) = verifier::verify_tx(&p.bytes, &self.chain_id, number) {
            let r = reject_refusal(r);
            let log = format!("failed to execute message; message index: 0: {}", r.log);
            return Err(Refusal { log, ..r });
        }
        let mut events = Vec::new();
        for (i, msg) in p.tx.messages.iter().enumerate() {
            let wrap = |r: Refusal| Refusal {
                log: format!("failed to execute message; message index: {i}: {}", r.log),
                ..r
            };
            let ev = match msg {
                Msg::InsertPayload { .. } => self.insert_payload(msg, height).map_err(wrap)?,
                Msg::Register { .. } => self.register(msg).map_err(wrap)?,
            };
            events.extend(ev);
        }
        Ok(events)
    }

    fn insert_payload(&mut self, msg: &Msg, height: u64) -> Result<Vec<Event>, Refusal> {
        let Msg::InsertPayload {
            sender,
            worker,
            topic_id,
            nonce,
            value,
            ..
        } = msg
        else {
            unreachable!("insert_payload is called with InsertPayload messages only");
        };
        if *topic_id != self.topic_id {
            return Err(refuse(
                "emissions",
                6,
                format!("topic {topic_id} does not exist: invalid topic ID"),
                "invalid_topic",
            ));
        }
        let nonce = u64::try_from(*nonce).unwrap_or(0);
        let Some(end) = self.windows.get(&nonce).copied() else {
            return Err(refuse(
                "emissions",
                44,
                "unfulfilled nonce not found".into(),
                "nonce_fulfilled",
            ));
        };
        if height < nonce || height > end {
            let log = "worker nonce window not available".to_string();
            return Err(refuse("emissions", 67, log, "window_closed"));
        }
        if !self.registered.contains(worker) {
            let log =
                "worker is not registered in this topic: address is not registered".to_string();
            return Err(refuse("emissions", 13, log, "not_registered"));
        }
        if self
            .submissions
            .get(&nonce)
            .is_some_and(|w| w.contains_key(worker))
        {
            self.stats.duplicates += 1;
            return Err(refuse(
                "undefined",
                1,
                "inference already submitted".into(),
                "duplicate",
            ));
        }
        self.charge(sender, self.data_sending_fee)?;
        *self
            .submissions
            .entry(nonce)
            .or_default()
            .entry(worker.clone())
            .or_default() += 1;
        *self
            .stats
            .accepted_by_nonce
            .entry(nonce)
            .or_default()
            .entry(worker.clone())
            .or_default() += 1;
        self.stats.accepted += 1;
        let value = value.clone().unwrap_or_else(|| "0".into());
        self.latest.insert(
            worker.clone(),
            Inference {
                nonce,
                value: value.clone(),
            },
        );
        Ok(self.payload_events(sender, *topic_id, nonce, &value))
    }

    fn payload_events(&self, sender: &str, topic: u64, nonce: u64, value: &str) -> Vec<Event> {
        let p = self.emissions.package();
        let action = self.emissions.type_url("InsertWorkerPayloadRequest");
        vec![
            Event::plain(
                "message",
                &[
                    ("action", &action),
                    ("sender", sender),
                    ("module", "emissions"),
                ],
            ),
            Event::typed(
                &format!("{p}.EventInsertInfererPayload"),
                &[
                    ("topic_id", json!(topic.to_string())),
                    ("block_height", json!(nonce.to_string())),
                    ("inferer", json!(sender)),
                    ("value", json!(value)),
                ],
                None,
            ),
        ]
    }

    fn register(&mut self, msg: &Msg) -> Result<Vec<Event>, Refusal> {
        let Msg::Register {
            sender, topic_id, ..
        } = msg
        else {
            unreachable!("register is called with Register messages only");
        };
        if *topic_id != self.topic_id {
            return Err(refuse(
                "emissions",
                6,
                format!("topic {topic_id} does not exist: invalid topic ID"),
                "invalid_topic",
            ));
        }
        if self.registered.contains(sender) {
            let log = "address already registered in a topic".to_string();
            return Err(refuse("emissions", 8, log, "already_registered"));
        }
        self.charge(sender, self.registration_fee)?;
        self.registered.insert(sender.clone());
        let action = self.emissions.type_url("RegisterRequest");
        Ok(vec![Event::plain(
            "message",
            &[
                ("action", &action),
                ("sender", sender),
                ("module", "emissions"),
            ],
        )])
    }

    fn charge(&mut self, address: &str, amount: u128) -> Result<(), Refusal> {
        let acct = self.accounts.get_mut(address).ok_or_else(|| {
            refuse(
                "sdk",
                9,
                format!("account {address} not found: unknown address"),
                "unknown_account",
            )
        })?;
        if acct.balance < amount {
            let log = format!(
                "spendable balance {}uallo is smaller than {amount}uallo: insufficient funds",
                acct.balance
            );
            return Err(refuse("sdk", 5, log, "insufficient_funds"));
        }
        acct.balance -= amount;
        Ok(())
    }

    /// The latest inference of `worker`, if one was admitted.
    pub fn latest_inference(&self, worker: &str) -> Option<&Inference> {
        self.latest.get(worker)
    }
}
