//! `--state FILE`: the chain written to a JSON file (atomically, at most once
//! a second while blocks are produced, and at shutdown) and read back at
//! start, so a devnet restarted on the same file is the same chain: height
//! and the last block headers, accounts (number, sequence, balance, pubkey),
//! registrations, whitelist, gas price, open windows, submissions, latest
//! inferences, included txs and the `/devnet/txs` records. Like a restarted
//! CometBFT node it forgets its mempool and its tx cache; block events and
//! the `/devnet/stats` counters start afresh.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use base64::Engine;

use super::chain::{Account, Chain, Event, Inference, TxRecord};
use super::txlog::TxLog;
use super::{verifier, Shared};
use crate::error::{Error, Result};
use crate::logic::emissions::Emissions;
use crate::logic::hex;

/// Block headers kept in the file (older blocks are pruned, as on a pruned node).
const KEEP_BLOCKS: usize = 1000;

fn time_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn events_json(events: &[Event]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| json!({"kind": e.kind, "attrs": e.attrs}))
            .collect(),
    )
}

fn tx_json(t: &TxRecord) -> Value {
    json!({
        "height": t.height, "hash": t.hash, "code": t.code, "codespace": t.codespace,
        "raw_log": t.raw_log, "gas_wanted": t.gas_wanted, "gas_used": t.gas_used,
        "events": events_json(&t.events), "time": time_text(t.time), "memo": t.memo,
        "timeout_height": t.timeout_height, "indexed_at": t.indexed_at,
        "tx_base64": base64::engine::general_purpose::STANDARD.encode(&t.bytes),
    })
}

fn account_json(a: &Account) -> Value {
    json!({
        "number": a.number, "sequence": a.sequence, "balance": a.balance.to_string(),
        "pubkey": a.pubkey.map(|k| hex::encode(&k)),
    })
}

/// The chain as the state file holds it.
pub fn snapshot(chain: &Chain) -> Value {
    let skip = chain.blocks.len().saturating_sub(KEEP_BLOCKS);
    let blocks: Vec<Value> = chain.blocks[skip..]
        .iter()
        .map(|b| json!({"height": b.height, "time": time_text(b.time), "hash": b.hash}))
        .collect();
    let accounts: Map<String, Value> = chain
        .accounts
        .iter()
        .map(|(k, a)| (k.clone(), account_json(a)))
        .collect();
    let latest: Map<String, Value> = chain
        .latest
        .iter()
        .map(|(k, i)| (k.clone(), json!({"nonce": i.nonce, "value": i.value})))
        .collect();
    let mut txs: Vec<&TxRecord> = chain.txs.values().collect();
    txs.sort_by(|a, b| (a.height, &a.hash).cmp(&(b.height, &b.hash)));
    json!({
        "version": 1,
        "chain_id": chain.chain_id,
        "emissions": chain.emissions.name(),
        "gas_price": chain.gas_price,
        "whitelist": chain.whitelist,
        "next_account_number": chain.next_account_number,
        "blocks": blocks,
        "accounts": accounts,
        "registered": chain.registered,
        "windows": chain.windows.iter().map(|(n, e)| (n.to_string(), json!(e))).collect::<Map<_, _>>(),
        "current_window": chain.current_window,
        "submissions": chain.submissions.iter().map(|(n, w)| (n.to_string(), json!(w))).collect::<Map<_, _>>(),
        "latest": latest,
        "txs": txs.iter().map(|t| tx_json(t)).collect::<Vec<_>>(),
        "txlog": chain.txlog.to_json(),
    })
}

/// Writes the state file of `shared`, if it has one; a failure is logged.
pub fn save_shared(shared: &Shared) {
    let Some(path) = &shared.cfg.state_file else {
        return;
    };
    let text = snapshot(&shared.chain()).to_string();
    if let Err(e) = write_atomic(path, &text) {
        log::warn!("devnet: cannot save the state: {e}");
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("rename to {}", path.display()), e))
}

/// Reads the state file; None when it does not exist yet.
pub fn load(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Decode(format!("devnet state {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
    }
}

/// A field of the state file, or an error naming it.
fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    v.get(key)
        .ok_or_else(|| Error::Decode(format!("devnet state: {key} is missing")))
}

fn u64_of(v: &Value, key: &str) -> Result<u64> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| Error::Decode(format!("devnet state: {key} is not an integer")))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| Error::Decode(format!("devnet state: {key} is not a string")))
}

fn time_of(v: &Value, key: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(str_of(v, key)?, &Rfc3339)
        .map_err(|e| Error::Decode(format!("devnet state: {key}: {e}")))
}

fn entries<'a>(v: &'a Value, key: &str) -> Result<Vec<(&'a String, &'a Value)>> {
    Ok(field(v, key)?
        .as_object()
        .ok_or_else(|| Error::Decode(format!("devnet state: {key} is not an object")))?
        .iter()
        .collect())
}

fn list<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| Error::Decode(format!("devnet state: {key} is not a list")))
}

fn number_key(k: &str) -> Result<u64> {
    k.parse()
        .map_err(|_| Error::Decode(format!("devnet state: key {k:?} is not a number")))
}

/// Replaces `chain`'s state with the file's (`chain` is a fresh genesis).
pub fn restore(chain: &mut Chain, v: &Value) -> Result<()> {
    if u64_of(v, "version")? != 1 {
        return Err(Error::Decode("devnet state: unknown version".into()));
    }
    chain.chain_id = str_of(v, "chain_id")?.to_string();
    chain.emissions = Emissions::parse(str_of(v, "emissions")?)?;
    chain.gas_price = field(v, "gas_price")?
        .as_f64()
        .ok_or_else(|| Error::Decode("devnet state: gas_price is not a number".into()))?;
    chain.whitelist = serde_json::from_value(field(v, "whitelist")?.clone())
        .map_err(|e| Error::Decode(format!("devnet state: whitelist: {e}")))?;
    chain.next_account_number = u64_of(v, "next_account_number")?;
    restore_blocks(chain, list(v, "blocks")?)?;
    chain.accounts.clear();
    for (addr, a) in entries(v, "accounts")? {
        let pubkey = match a.get("pubkey").and_then(Value::as_str) {
            Some(h) => Some(
                hex::decode(h)
                    .ok()
                    .and_then(|b| <[u8; 33]>::try_from(b).ok())
                    .ok_or_else(|| Error::Decode(format!("devnet state: pubkey of {addr}")))?,
            ),
            None => None,
        };
        let sequence = u64_of(a, "sequence")?;
        let balance = str_of(a, "balance")?
            .parse()
            .map_err(|_| Error::Decode(format!("devnet state: balance of {addr}")))?;
        let acct = Account {
            number: u64_of(a, "number")?,
            sequence,
            check_sequence: sequence,
            balance,
            pubkey,
        };
        chain.accounts.insert(addr.clone(), acct);
    }
    chain.registered = list(v, "registered")?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    restore_windows(chain, v)?;
    chain.txs.clear();
    for t in list(v, "txs")? {
        let record = tx_record(t)?;
        chain.txs.insert(record.hash.clone(), record);
    }
    restore_txlog(chain, list(v, "txlog")?)?;
    chain.mempool.clear();
    Ok(())
}

fn bytes_of(v: &Value, key: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(str_of(v, key)?)
        .map_err(|e| Error::Decode(format!("devnet state: {key}: {e}")))
}

/// Replays the `/devnet/txs` records into a fresh log.
fn restore_txlog(chain: &mut Chain, records: &[Value]) -> Result<()> {
    chain.txlog = TxLog::default();
    for r in records {
        let hash = str_of(r, "hash")?;
        let bytes = bytes_of(r, "tx_base64")?;
        let tx = verifier::decode_tx(&bytes).ok();
        let code = r.get("code").and_then(Value::as_u64);
        let space = str_of(r, "codespace")?;
        let log = str_of(r, "raw_log")?;
        let code32 = code.map(|c| u32::try_from(c).unwrap_or(u32::MAX));
        let refusal = code32.map(|c| (c, space, log));
        chain.txlog.broadcast(hash, &bytes, tx.as_ref(), refusal);
        if let (Some(h), Some(c)) = (r.get("height").and_then(Value::as_u64), code32) {
            chain.txlog.included(hash, h, c, space, log);
        }
    }
    Ok(())
}

fn restore_blocks(chain: &mut Chain, blocks: &[Value]) -> Result<()> {
    let template = chain
        .blocks
        .last()
        .cloned()
        .expect("a new chain has its genesis block");
    let mut restored = Vec::new();
    for b in blocks {
        let mut block = template.clone();
        block.height = u64_of(b, "height")?;
        block.time = time_of(b, "time")?;
        block.hash = str_of(b, "hash")?.to_string();
        block.events = Vec::new();
        block.num_txs = 0;
        restored.push(block);
    }
    if restored.is_empty() {
        return Err(Error::Decode("devnet state: no blocks".into()));
    }
    chain.blocks = restored;
    Ok(())
}

fn restore_windows(chain: &mut Chain, v: &Value) -> Result<()> {
    chain.windows = entries(v, "windows")?
        .into_iter()
        .map(|(n, e)| Ok((number_key(n)?, e.as_u64().unwrap_or(0))))
        .collect::<Result<_>>()?;
    chain.current_window = serde_json::from_value(field(v, "current_window")?.clone())
        .map_err(|e| Error::Decode(format!("devnet state: current_window: {e}")))?;
    chain.submissions = entries(v, "submissions")?
        .into_iter()
        .map(|(n, w)| {
            let workers: BTreeMap<String, u64> = serde_json::from_value(w.clone())
                .map_err(|e| Error::Decode(format!("devnet state: submissions: {e}")))?;
            Ok((number_key(n)?, workers))
        })
        .collect::<Result<_>>()?;
    chain.latest = entries(v, "latest")?
        .into_iter()
        .map(|(w, i)| {
            let value = str_of(i, "value")?.to_string();
            Ok((
                w.clone(),
                Inference {
                    nonce: u64_of(i, "nonce")?,
                    value,
                },
            ))
        })
        .collect::<Result<_>>()?;
    Ok(())
}

fn tx_record(t: &Value) -> Result<TxRecord> {
    let events = list(t, "events")?
        .iter()
        .map(|e| {
            let attrs: Vec<(String, String)> =
                serde_json::from_value(field(e, "attrs")?.clone())
                    .map_err(|e| Error::Decode(format!("devnet state: event attrs: {e}")))?;
            Ok(Event {
                kind: str_of(e, "kind")?.to_string(),
                attrs,
            })
        })
        .collect::<Result<_>>()?;
    Ok(TxRecord {
        height: u64_of(t, "height")?,
        hash: str_of(t, "hash")?.to_string(),
        code: u32::try_from(u64_of(t, "code")?).unwrap_or(u32::MAX),
        codespace: str_of(t, "codespace")?.to_string(),
        raw_log: str_of(t, "raw_log")?.to_string(),
        gas_wanted: u64_of(t, "gas_wanted")?,
        gas_used: u64_of(t, "gas_used")?,
        events,
        time: time_of(t, "time")?,
        memo: str_of(t, "memo")?.to_string(),
        timeout_height: u64_of(t, "timeout_height")?,
        bytes: bytes_of(t, "tx_base64")?,
        indexed_at: u64_of(t, "indexed_at")?,
    })
}
