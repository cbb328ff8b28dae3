//! The evidence: one record per distinct tx hash ever broadcast (simulate
//! requests are not broadcasts), oldest first, as served by `GET
//! /devnet/txs` for an outside judge. A record follows its tx from CheckTx
//! (refused, or pending) to its DeliverTx outcome. It records; it decides
//! nothing about the chain.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{json, Value};

use super::verifier::{Msg, VerifiedTx};

/// What a tx is, for the judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Insert,
    Register,
    Other,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Insert => "insert",
            Kind::Register => "register",
            Kind::Other => "other",
        }
    }
}

/// One broadcast tx and what became of it.
#[derive(Debug, Clone)]
pub struct TxEntry {
    pub hash: String,
    /// None until included.
    pub height: Option<u64>,
    /// The CheckTx code if refused there, else the DeliverTx code; None while pending.
    pub code: Option<u32>,
    pub codespace: String,
    pub raw_log: String,
    pub kind: Kind,
    pub sender: String,
    pub topic: Option<u64>,
    pub nonce: Option<i64>,
    pub bytes: Vec<u8>,
}

/// Every broadcast tx, in first-broadcast order.
#[derive(Debug, Default)]
pub struct TxLog {
    entries: Vec<TxEntry>,
    index: HashMap<String, usize>,
}

impl TxLog {
    /// Whether `hash` was broadcast before.
    pub fn seen(&self, hash: &str) -> bool {
        self.index.contains_key(hash)
    }

    pub fn get(&self, hash: &str) -> Option<&TxEntry> {
        self.index.get(hash).map(|i| &self.entries[*i])
    }

    pub fn entries(&self) -> &[TxEntry] {
        &self.entries
    }

    /// Records a broadcast and its CheckTx answer (`refusal`: code,
    /// codespace, raw_log; None = admitted). A tx already included keeps
    /// its delivery outcome.
    pub fn broadcast(
        &mut self,
        hash: &str,
        bytes: &[u8],
        tx: Option<&VerifiedTx>,
        refusal: Option<(u32, &str, &str)>,
    ) {
        let i = match self.index.get(hash) {
            Some(i) => *i,
            None => {
                self.entries.push(new_entry(hash, bytes, tx));
                self.index.insert(hash.to_string(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        if e.height.is_some() {
            return;
        }
        match refusal {
            Some((code, space, log)) => {
                e.code = Some(code);
                e.codespace = space.to_string();
                e.raw_log = log.to_string();
            }
            None => {
                e.code = None;
                e.codespace.clear();
                e.raw_log.clear();
            }
        }
    }

    /// Records a tx's inclusion at `height` with its DeliverTx outcome.
    pub fn included(&mut self, hash: &str, height: u64, code: u32, space: &str, log: &str) {
        if let Some(i) = self.index.get(hash) {
            let e = &mut self.entries[*i];
            e.height = Some(height);
            e.code = Some(code);
            e.codespace = space.to_string();
            e.raw_log = log.to_string();
        }
    }

    /// The `GET /devnet/txs` array.
    pub fn to_json(&self) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        Value::Array(
            self.entries
                .iter()
                .map(|e| {
                    json!({
                        "hash": e.hash, "height": e.height, "code": e.code,
                        "codespace": e.codespace, "raw_log": e.raw_log, "kind": e.kind.name(),
                        "sender": e.sender, "topic": e.topic, "nonce": e.nonce,
                        "tx_base64": b64.encode(&e.bytes),
                    })
                })
                .collect(),
        )
    }
}

fn new_entry(hash: &str, bytes: &[u8], tx: Option<&VerifiedTx>) -> TxEntry {
    let mut e = TxEntry {
        hash: hash.to_string(),
        height: None,
        code: None,
        codespace: String::new(),
        raw_log: String::new(),
        kind: Kind::Other,
        sender: String::new(),
        topic: None,
        nonce: None,
        bytes: bytes.to_vec(),
    };
    let Some(tx) = tx else { return e };
    e.sender = tx.signer.clone();
    if let Some(m) = tx.messages.first() {
        e.sender = m.sender().to_string();
        match m {
            Msg::Insert { .. } => {
                e.kind = Kind::Insert;
                e.topic = Some(m.topic_id());
                e.nonce = Some(m.nonce());
            }
            Msg::Register { .. } => e.kind = Kind::Register,
        }
    }
    e
}
