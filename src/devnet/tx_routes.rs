//! The devnet's transaction routes: LCD simulate, broadcast and tx by hash
//! (the decoded tx as the gateway renders it), and CometBFT RPC
//! `broadcast_tx_sync`, `tx` and `abci_query`, with the faults that act on
//! them (`broadcast-lost`, `index-lag`, `no-index`). State lives in
//! `chain::Chain`; this file shapes answers only.

use base64::Engine;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use super::chain::{Chain, TxRecord};
use super::http::{Reply, Request};
use super::mempool::{self, CheckResult};
use super::routes::{error, ok};
use super::verifier;
use crate::logic::hex;
use crate::logic::tx::{Bundle, WorkerDataBundle, PUBKEY_TYPE_URL};
use crate::logic::tx_decode::{self, Message};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn refusal_parts(r: &CheckResult) -> (u32, String, String) {
    match &r.refusal {
        Some(f) => (f.code, f.codespace.to_string(), f.log.clone()),
        None => (0, String::new(), String::new()),
    }
}

/// The `tx_bytes` of a simulate or broadcast body.
fn tx_bytes(body: &[u8]) -> Result<Vec<u8>, Reply> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| error(400, 3, "request body is not JSON"))?;
    let b64 = v
        .get("tx_bytes")
        .and_then(Value::as_str)
        .ok_or_else(|| error(400, 3, "tx_bytes is missing"))?;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| error(400, 3, "tx_bytes is not base64"))
}

/// Simulate runs the ante (sequence, timeout) and the messages against the
/// committed state; a refusal is the gateway's HTTP 500 (C1).
pub(super) fn simulate(chain: &Chain, body: &[u8]) -> Reply {
    let bytes = match tx_bytes(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (tx, wanted, used) = match verifier::decode_tx(&bytes) {
        Ok(tx) => {
            let (wanted, used) = (tx.gas_limit, chain.simulated_gas(&bytes));
            (Ok(tx), wanted, used)
        }
        Err(e) => (Err(mempool::reject_refusal(e)), 0, 0),
    };
    let outcome = tx.and_then(|tx| {
        chain.simulate_ante(&tx)?;
        chain.simulate_msgs(&tx, chain.height())
    });
    match outcome {
        Ok(()) => ok(json!({
            "gas_info": {"gas_wanted": wanted.to_string(), "gas_used": used.to_string()},
            "result": {"data": "", "log": "", "events": [], "msg_responses": []}
        })),
        Err(r) => {
            let m = format!(
                "{} With gas wanted: '{wanted}' and gas used: '{used}' ",
                r.log
            );
            error(500, 2, &m)
        }
    }
}

/// The reply a `broadcast-lost` fault leaves the client with, if it acts:
/// the tx is in the mempool, but the connection drops or a proxy answers 503/504.
fn lost_reply(chain: &mut Chain) -> Option<Reply> {
    if chain.faults.broadcast_lost == 0 {
        return None;
    }
    chain.faults.broadcast_lost -= 1;
    chain.stats.fired("broadcast-lost");
    let n = chain.stats.faults_fired.get("broadcast-lost").copied();
    Some(match n.unwrap_or(1) % 3 {
        1 => Reply::dropped(),
        2 => Reply {
            status: 503,
            content_type: "text/plain",
            body: "upstream connect error or disconnect/reset before headers".into(),
        },
        _ => Reply {
            status: 504,
            content_type: "text/html",
            body: "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>".into(),
        },
    })
}

pub(super) fn broadcast(chain: &mut Chain, body: &[u8]) -> Reply {
    let bytes = match tx_bytes(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let r = chain.check_tx(&bytes);
    if r.refusal.is_none() {
        if let Some(lost) = lost_reply(chain) {
            return lost;
        }
    }
    let (code, codespace, raw_log) = refusal_parts(&r);
    ok(json!({"tx_response": {
        "height": "0", "txhash": r.hash, "codespace": codespace, "code": code, "data": "",
        "raw_log": raw_log, "logs": [], "info": "", "gas_wanted": "0", "gas_used": "0",
        "tx": null, "timestamp": "", "events": []
    }}))
}

fn tx_response(t: &TxRecord) -> Value {
    let events: Vec<Value> = t.events.iter().map(|e| e.to_json()).collect();
    let mut tx = tx_json(&t.bytes);
    if let Some(o) = tx.as_object_mut() {
        o.insert("@type".into(), json!("/cosmos.tx.v1beta1.Tx"));
    }
    json!({
        "height": t.height.to_string(), "txhash": t.hash, "codespace": t.codespace, "code": t.code,
        "data": "", "raw_log": t.raw_log, "logs": [], "info": "",
        "gas_wanted": t.gas_wanted.to_string(), "gas_used": t.gas_used.to_string(),
        "tx": tx, "timestamp": t.time.format(&Rfc3339).unwrap_or_default(), "events": events
    })
}

/// Counts the lookup; the included tx `hash` if this request may see it: never on a
/// `no-index` listener (`host`), and only `index-lag` blocks after inclusion.
fn indexed(chain: &mut Chain, hash: &str, host: Option<&str>) -> Option<TxRecord> {
    let hash = hash.trim_start_matches("0x").to_uppercase();
    chain.stats.tx_lookups += 1;
    let height = chain.height();
    let t = chain.txs.get(&hash)?;
    if host.is_some_and(|h| chain.no_index.contains(h)) {
        chain.stats.fired("no-index");
        return None;
    }
    if height < t.indexed_at {
        chain.stats.fired("index-lag");
        return None;
    }
    Some(t.clone())
}

/// `GET /cosmos/tx/v1beta1/txs/{hash}`: `{tx, tx_response}`, or 404 "tx not found".
pub(super) fn get_tx(chain: &mut Chain, hash: &str, req: &Request) -> Reply {
    match indexed(chain, hash, req.header("host")) {
        Some(t) => ok(json!({"tx": tx_json(&t.bytes), "tx_response": tx_response(&t)})),
        None => error(404, 5, &format!("tx not found: {hash}")),
    }
}

/// The gateway's JSON of a `cosmos.tx.v1beta1.Tx`: body (messages as `Any`
/// JSON with `@type`), auth_info and signatures (bytes as base64).
pub fn tx_json(bytes: &[u8]) -> Value {
    let Ok(raw) = tx_decode::decode_tx_raw(bytes) else {
        return Value::Null;
    };
    let body = tx_decode::decode_body(&raw.body).unwrap_or_default();
    let auth = tx_decode::decode_auth_info(&raw.auth_info).unwrap_or_default();
    let messages: Vec<Value> = body
        .messages
        .iter()
        .map(|(url, value)| match tx_decode::decode_message(url, value) {
            Ok(m) => message_json(url, &m),
            Err(_) => json!({"@type": url, "value": B64.encode(value)}),
        })
        .collect();
    let fee: Vec<Value> = auth
        .fee
        .iter()
        .map(|(d, a)| json!({"denom": d, "amount": a.to_string()}))
        .collect();
    let key = auth
        .pubkey
        .map(|k| json!({"@type": PUBKEY_TYPE_URL, "key": B64.encode(k)}));
    let mode = if auth.sign_mode == Some(1) {
        "SIGN_MODE_DIRECT"
    } else {
        "SIGN_MODE_UNSPECIFIED"
    };
    json!({
        "body": {
            "messages": messages, "memo": body.memo, "timeout_height": body.timeout_height.to_string(),
            "extension_options": [], "non_critical_extension_options": []
        },
        "auth_info": {
            "signer_infos": [{
                "public_key": key, "mode_info": {"single": {"mode": mode}},
                "sequence": auth.sequence.to_string()
            }],
            "fee": {"amount": fee, "gas_limit": auth.gas_limit.to_string(), "payer": "", "granter": ""},
            "tip": null
        },
        "signatures": raw.signatures.iter().map(|s| B64.encode(s)).collect::<Vec<_>>()
    })
}

fn message_json(url: &str, m: &Message) -> Value {
    match m {
        Message::Insert { sender, bundle, .. } => json!({
            "@type": url, "sender": sender,
            "worker_data_bundle": bundle.as_deref().map(worker_bundle_json)
        }),
        Message::Register {
            sender,
            topic_id,
            owner,
            is_reputer,
            ..
        } => json!({
            "@type": url, "sender": sender, "topic_id": topic_id.to_string(),
            "owner": owner, "is_reputer": is_reputer
        }),
    }
}

fn worker_bundle_json(w: &WorkerDataBundle) -> Value {
    json!({
        "worker": w.worker,
        "nonce": w.nonce.map(|n| json!({"block_height": n.to_string()})),
        "topic_id": w.topic_id.to_string(),
        "inference_forecasts_bundle": w.bundle.as_ref().map(bundle_json),
        "inferences_forecasts_bundle_signature": B64.encode(&w.signature),
        "pubkey": w.pubkey
    })
}

fn bundle_json(b: &Bundle) -> Value {
    let inference = b.inference.as_ref().map(|i| {
        let values: Vec<Value> = i
            .values
            .iter()
            .map(|(l, v)| json!({"label": l, "value": v}))
            .collect();
        json!({
            "topic_id": i.topic_id.to_string(), "block_height": i.block_height.to_string(),
            "inferer": i.inferer, "value": i.value, "extra_data": B64.encode(&i.extra_data),
            "proof": i.proof, "values": values
        })
    });
    let forecast = b.forecast.as_ref().map(|f| {
        let elements: Vec<Value> = f
            .elements
            .iter()
            .map(|(i, v)| json!({"inferer": i, "value": v}))
            .collect();
        json!({
            "topic_id": f.topic_id.to_string(), "block_height": f.block_height.to_string(),
            "forecaster": f.forecaster, "forecast_elements": elements,
            "extra_data": B64.encode(&f.extra_data)
        })
    });
    json!({"inference": inference, "forecast": forecast})
}

fn rpc_error(id: Value, code: i64, message: &str, data: &str) -> Reply {
    ok(
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}}),
    )
}

/// A tx given to the RPC: `0x…` hex (URI form) or base64 (JSON-RPC form),
/// quotes allowed as CometBFT's URI parser does.
fn rpc_tx_bytes(tx: &str) -> Option<Vec<u8>> {
    let tx = tx.trim_matches('"');
    match tx.strip_prefix("0x") {
        Some(h) => hex::decode(h).ok(),
        None => B64.decode(tx).ok(),
    }
}

/// CometBFT `broadcast_tx_sync`: CheckTx's code and log, or the mempool's
/// own error (`tx already exists in cache`) as a JSON-RPC error.
pub(super) fn rpc_broadcast(chain: &mut Chain, id: Value, tx: &str) -> Reply {
    let Some(bytes) = rpc_tx_bytes(tx) else {
        return rpc_error(
            id,
            -32602,
            "Invalid params",
            "tx is neither 0x-hex nor base64",
        );
    };
    let r = chain.check_tx(&bytes);
    if r.in_cache() {
        return rpc_error(id, -32603, "Internal error", "tx already exists in cache");
    }
    if r.refusal.is_none() {
        if let Some(lost) = lost_reply(chain) {
            return lost;
        }
    }
    let (code, codespace, log) = refusal_parts(&r);
    let result =
        json!({"code": code, "data": "", "log": log, "codespace": codespace, "hash": r.hash});
    ok(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// CometBFT `tx`: the included tx with its result, or "tx (HASH) not found".
pub(super) fn rpc_tx(chain: &mut Chain, id: Value, hash: &str, req: Option<&Request>) -> Reply {
    let hash = hash.trim_matches('"');
    let host = req.and_then(|r| r.header("host"));
    let Some(t) = indexed(chain, hash, host) else {
        let data = format!(
            "tx ({}) not found",
            hash.trim_start_matches("0x").to_uppercase()
        );
        return rpc_error(id, -32603, "Internal error", &data);
    };
    let events: Vec<Value> = t.events.iter().map(|e| e.to_json()).collect();
    let result = json!({
        "hash": t.hash, "height": t.height.to_string(), "index": 0,
        "tx_result": {
            "code": t.code, "data": null, "log": t.raw_log, "info": "",
            "gas_wanted": t.gas_wanted.to_string(), "gas_used": t.gas_used.to_string(),
            "events": events, "codespace": t.codespace
        },
        "tx": B64.encode(&t.bytes)
    });
    ok(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// CometBFT `abci_query`: the devnet serves no gRPC query over ABCI; it
/// answers as the app answers an unknown path (sdk/6 in the response).
pub(super) fn rpc_abci_query(chain: &Chain, id: Value) -> Reply {
    let response = json!({
        "code": 6, "log": "unknown query path: unknown request", "info": "", "index": "0",
        "key": null, "value": null, "proof_ops": null, "height": chain.height().to_string(),
        "codespace": "sdk"
    });
    ok(json!({"jsonrpc": "2.0", "id": id, "result": {"response": response}}))
}
