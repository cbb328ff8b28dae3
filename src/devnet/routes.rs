//! The devnet's REST and RPC handlers: maps a request to the JSON a real
//! Allora node (LCD gateway, CometBFT RPC) or Tiingo would answer, with the
//! shapes of ALLORA-PROTOCOL.md §5 (uint64 as strings, errors as
//! `{"code","message","details"}`). Reads and changes state only through
//! `chain::Chain`; knows nothing of sockets.

use base64::Engine;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use super::chain::{Block, Chain, TxRecord};
use super::http::{Reply, Request};
use super::mempool::{self, CheckResult};
use super::{verifier, Shared};
use crate::io::clock;
use crate::logic::emissions::Emissions;

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"code": code, "message": message, "details": []}),
    )
}

fn ok(body: Value) -> Reply {
    Reply::json(200, &body)
}

/// Answers one request.
pub fn route(shared: &Shared, req: &Request) -> Reply {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["devnet", "stats"]) => ok(shared.chain().stats_json()),
        ("GET", ["devnet", "txs"]) => ok(shared.chain().txlog.to_json()),
        ("GET", ["status"]) => ok(rpc_result(status(&shared.chain()))),
        ("GET", ["block"]) => block_rpc(&shared.chain(), req.query("height")),
        ("POST", [""]) => json_rpc(shared, &req.body),
        ("GET", ["tiingo", "crypto", "prices"]) => {
            match shared.market.respond(&req.query, clock::system_now_utc()) {
                Ok(v) => ok(v),
                Err(e) => Reply::json(400, &json!({"detail": e})),
            }
        }
        ("GET", ["emissions", version, rest @ ..]) => {
            emissions(&shared.chain(), version, rest, req)
        }
        ("GET", ["cosmos", "auth", "v1beta1", kind @ ("account_info" | "accounts"), addr]) => {
            account(&shared.chain(), kind, addr)
        }
        ("GET", ["cosmos", "bank", "v1beta1", "balances", addr, rest @ ..]) => {
            balance(&shared.chain(), addr, rest)
        }
        ("GET", ["cosmos", "base", "tendermint", "v1beta1", "blocks", h]) => {
            block(&shared.chain(), h)
        }
        ("GET", ["cosmos", "base", "tendermint", "v1beta1", "node_info"]) => {
            ok(node_info(&shared.chain()))
        }
        ("POST", ["cosmos", "tx", "v1beta1", "simulate"]) => simulate(&shared.chain(), &req.body),
        ("POST", ["cosmos", "tx", "v1beta1", "txs"]) => broadcast(&mut shared.chain(), &req.body),
        ("GET", ["cosmos", "tx", "v1beta1", "txs", hash]) => get_tx(&mut shared.chain(), hash, req),
        ("GET", ["feemarket", "v1", "gas_price", denom]) => gas_price(&shared.chain(), denom),
        ("GET", ["cosmos", "upgrade", "v1beta1", "current_plan"]) => ok(shared.upgrade_plan()),
        (_, _) => error(404, 5, "Not Found"),
    }
}

fn time_text(b: &Block) -> String {
    b.time.format(&Rfc3339).unwrap_or_default()
}

fn rpc_result(result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": -1, "result": result})
}

fn node_info(chain: &Chain) -> Value {
    json!({
        "default_node_info": {
            "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
            "default_node_id": "d0e1a1a2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8",
            "listen_addr": "tcp://127.0.0.1:26656",
            "network": chain.reported_chain_id(),
            "version": "0.38.17",
            "channels": "40202122233038606100",
            "moniker": "allora-devnet",
            "other": {"tx_index": "on", "rpc_address": "tcp://127.0.0.1:26657"}
        },
        "application_version": {
            "name": "allora", "app_name": "allorad",
            "version": if chain.emissions == Emissions::V10 { "v0.17.0" } else { "v0.16.0" },
            "git_commit": "devnet", "build_tags": "", "go_version": "devnet", "build_deps": [],
            "cosmos_sdk_version": "v0.50.14"
        }
    })
}

fn status(chain: &Chain) -> Value {
    let info = node_info(chain)["default_node_info"].clone();
    let latest = chain
        .blocks
        .last()
        .expect("the chain always has its genesis block");
    json!({
        "node_info": info,
        "sync_info": {
            "latest_block_hash": latest.hash, "latest_app_hash": latest.hash,
            "latest_block_height": latest.height.to_string(), "latest_block_time": time_text(latest),
            "earliest_block_height": chain.blocks[0].height.to_string(),
            "earliest_block_time": time_text(&chain.blocks[0]), "catching_up": false
        },
        "validator_info": {"address": "", "pub_key": null, "voting_power": "1"}
    })
}

fn header(chain: &Chain, b: &Block) -> Value {
    json!({
        "version": {"block": "11", "app": "0"},
        "chain_id": chain.reported_chain_id(),
        "height": b.height.to_string(),
        "time": time_text(b),
        "last_block_id": {"hash": "", "part_set_header": {"total": 0, "hash": ""}},
        "proposer_address": "allovalcons1devnet"
    })
}

fn block(chain: &Chain, h: &str) -> Reply {
    let found = match h {
        "latest" => chain.blocks.last(),
        _ => match h.parse::<u64>() {
            Ok(n) => chain.block(n),
            Err(_) => return error(400, 3, &format!("invalid height {h:?}")),
        },
    };
    let Some(b) = found else {
        let msg = format!(
            "requested block height {h} is not available; latest height is {}",
            chain.height()
        );
        return error(404, 5, &msg);
    };
    let head = header(chain, b);
    ok(json!({
        "block_id": {"hash": b.hash, "part_set_header": {"total": 1, "hash": b.hash}},
        "block": {"header": head, "data": {"txs": []}, "evidence": {"evidence": []}, "last_commit": null},
        "sdk_block": {"header": head, "data": {"txs": []}, "evidence": {"evidence": []}, "last_commit": null}
    }))
}

fn block_rpc(chain: &Chain, height: Option<&str>) -> Reply {
    let b = match height {
        None => chain.blocks.last(),
        Some(h) => h
            .trim_matches('"')
            .parse()
            .ok()
            .and_then(|n| chain.block(n)),
    };
    match b {
        Some(b) => ok(rpc_result(json!({
            "block_id": {"hash": b.hash},
            "block": {"header": header(chain, b), "data": {"txs": []}}
        }))),
        None => ok(
            json!({"jsonrpc": "2.0", "id": -1, "error": {"code": -32603, "message": "Internal error", "data": "height is not available"}}),
        ),
    }
}

/// CometBFT JSON-RPC over HTTP POST: `status` and `broadcast_tx_sync`.
fn json_rpc(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return ok(
            json!({"jsonrpc": "2.0", "id": -1, "error": {"code": -32700, "message": "Parse error. Invalid JSON"}}),
        );
    };
    let id = req.get("id").cloned().unwrap_or(json!(-1));
    let result = match req.get("method").and_then(Value::as_str) {
        Some("status") => status(&shared.chain()),
        Some("broadcast_tx_sync") => {
            let tx = req
                .pointer("/params/tx")
                .and_then(Value::as_str)
                .unwrap_or("");
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(tx) else {
                return ok(
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": "Invalid params", "data": "tx is not base64"}}),
                );
            };
            let mut chain = shared.chain();
            let r = chain.check_tx(&bytes);
            if r.in_cache() {
                return ok(
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": "Internal error", "data": "tx already exists in cache"}}),
                );
            }
            if r.refusal.is_none() {
                if let Some(lost) = lost_reply(&mut chain) {
                    return lost;
                }
            }
            let (code, codespace, log) = refusal_parts(&r);
            json!({"code": code, "data": "", "log": log, "codespace": codespace, "hash": r.hash})
        }
        other => {
            let data = format!(
                "method {:?} is not served by the devnet",
                other.unwrap_or("")
            );
            return ok(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found", "data": data}}),
            );
        }
    };
    ok(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn refusal_parts(r: &CheckResult) -> (u32, String, String) {
    match &r.refusal {
        Some(f) => (f.code, f.codespace.to_string(), f.log.clone()),
        None => (0, String::new(), String::new()),
    }
}

fn emissions(chain: &Chain, version: &str, rest: &[&str], req: &Request) -> Reply {
    if version != chain.emissions.name() {
        return error(501, 12, "Not Implemented");
    }
    let topic_ok = |t: &str| t.parse::<u64>().ok() == Some(chain.topic_id);
    let (open, nonce, end, next) = chain.window_status();
    match rest {
        ["params"] => ok(params(chain)),
        ["topics", t] if topic_ok(t) => ok(topic(chain)),
        ["topics", t] => error(404, 5, &format!("topic {t} not found")),
        ["is_topic_active", t] => ok(json!({"is_active": topic_ok(t)})),
        ["topic_exists", t] => ok(json!({"exists": topic_ok(t)})),
        ["unfulfilled_worker_nonces", t] | ["open_worker_submission_windows", t] => {
            let nonces: Vec<Value> = if topic_ok(t) {
                chain
                    .windows
                    .keys()
                    .rev()
                    .map(|n| json!({"block_height": n.to_string()}))
                    .collect()
            } else {
                Vec::new()
            };
            ok(json!({"nonces": {"nonces": nonces}}))
        }
        ["worker_submission_window_status", t] => {
            let mut v = json!({
                "is_open": open && topic_ok(t), "current_nonce_block_height": nonce.to_string(),
                "window_start_block": nonce.to_string(), "window_end_block": end.to_string(),
                "next_window_start_block": next.to_string(),
                "next_window_end_block": (next + chain.window_blocks).to_string(),
                "is_topic_active": topic_ok(t)
            });
            if let Some(addr) = req.query("address") {
                v["is_registered"] = json!(chain.registered.contains(addr));
                v["is_whitelisted"] = json!(true);
            }
            ok(v)
        }
        ["is_worker_nonce_unfulfilled", t, h] => {
            let open = topic_ok(t)
                && h.parse::<u64>()
                    .is_ok_and(|h| chain.windows.contains_key(&h));
            ok(json!({"is_worker_nonce_unfulfilled": open}))
        }
        ["worker_registered", t, addr] => {
            ok(json!({"is_registered": topic_ok(t) && chain.registered.contains(*addr)}))
        }
        ["can_submit_worker_payload", t, _] => {
            ok(json!({"can_submit_worker_payload": topic_ok(t)}))
        }
        ["topics", t, "workers", addr, kind] if topic_ok(t) => latest(chain, addr, kind),
        ["epochs", t, rest @ ..] => super::scheduler::route(chain, t, rest),
        _ => error(404, 5, "Not Found"),
    }
}

fn latest(chain: &Chain, addr: &str, kind: &str) -> Reply {
    let (want, v10) = match chain.emissions {
        Emissions::V10 => ("latest_input_inference", true),
        Emissions::V9 => ("latest_inference", false),
    };
    if kind != want {
        return error(501, 12, "Not Implemented");
    }
    let Some(inf) = chain.latest_inference(addr) else {
        return error(404, 5, &format!("no inference found for worker {addr}"));
    };
    let mut body = json!({
        "topic_id": chain.topic_id.to_string(), "block_height": inf.nonce.to_string(),
        "inferer": addr, "value": inf.value, "extra_data": null, "proof": ""
    });
    if v10 {
        body["value"] = json!("0");
        body["values"] = json!([{"label": "y", "value": inf.value}]);
    }
    ok(json!({ want: body }))
}

fn params(chain: &Chain) -> Value {
    json!({"params": {
        "version": chain.emissions.name(),
        "max_serialized_msg_length": "1000000",
        "min_topic_weight": "100",
        "required_minimum_stake": "10000",
        "remove_stake_delay_window": "86400",
        "min_epoch_length": "1",
        "max_top_inferers_to_reward": "24",
        "max_top_forecasters_to_reward": "6",
        "max_top_reputers_to_reward": "12",
        "create_topic_fee": "75000000000000000000",
        "registration_fee": chain.registration_fee.to_string(),
        "data_sending_fee": chain.data_sending_fee.to_string(),
        "max_string_length": "255",
        "max_active_topics_per_block": "2",
        "max_unfulfilled_worker_requests": "100",
        "max_unfulfilled_reputer_requests": "100"
    }})
}

fn topic(chain: &Chain) -> Value {
    let mut t = json!({
        "id": chain.topic_id.to_string(),
        "creator": "allo16270t36amc3y6wk2wqupg6gvg26x6dc2nr5xwl",
        "metadata": "7 day BTC/USD Log-Return Prediction",
        "loss_method": "czar",
        "epoch_last_ended": chain.current_window.map_or(0, |w| w.0).to_string(),
        "epoch_length": chain.epoch_blocks.to_string(),
        "ground_truth_lag": "120960",
        "p_norm": "3", "alpha_regret": "0.1", "allow_negative": true, "epsilon": "0.01",
        "initial_regret": "0",
        "worker_submission_window": chain.window_blocks.to_string(),
        "merit_sortition_alpha": "0.1", "active_inferer_quantile": "0.25",
        "active_forecaster_quantile": "0.25", "active_reputer_quantile": "0.25", "c_norm": "0.75"
    });
    if chain.emissions == Emissions::V10 {
        let extra = json!({
            "topic_type": "TOPIC_TYPE_REGRESSION", "output_arity": "TOPIC_OUTPUT_ARITY_SINGLE",
            "require_unity": false, "unity_tolerance": "0", "max_labels_per_submission": "1",
            "label_whitelist": [], "label_default_value": "0", "label_case_sensitive": false
        });
        if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
            t.extend(e.clone());
        }
    }
    json!({"topic": t, "weight": "1000", "effective_revenue": "0", "topic_stake": "1000000"})
}

fn account(chain: &Chain, kind: &str, addr: &str) -> Reply {
    let Some(a) = chain.accounts.get(addr) else {
        return error(404, 5, &format!("account {addr} not found"));
    };
    let pub_key = a.pubkey.map(|k| {
        json!({"@type": "/cosmos.crypto.secp256k1.PubKey", "key": base64::engine::general_purpose::STANDARD.encode(k)})
    });
    let body = json!({
        "address": addr, "pub_key": pub_key,
        "account_number": a.number.to_string(), "sequence": a.sequence.to_string()
    });
    if kind == "accounts" {
        let mut acct = json!({"@type": "/cosmos.auth.v1beta1.BaseAccount"});
        if let (Some(o), Some(b)) = (acct.as_object_mut(), body.as_object()) {
            o.extend(b.clone());
        }
        return ok(json!({"account": acct}));
    }
    ok(json!({"info": body}))
}

fn balance(chain: &Chain, addr: &str, rest: &[&str]) -> Reply {
    let amount = chain
        .accounts
        .get(addr)
        .map_or(0, |a| a.balance)
        .to_string();
    match rest {
        ["by_denom"] => ok(json!({"balance": {"denom": "uallo", "amount": amount}})),
        [] => ok(
            json!({"balances": [{"denom": "uallo", "amount": amount}], "pagination": {"next_key": null, "total": "1"}}),
        ),
        _ => error(404, 5, "Not Found"),
    }
}

fn gas_price(chain: &Chain, denom: &str) -> Reply {
    if denom != "uallo" {
        return error(404, 5, &format!("denom {denom} not found"));
    }
    ok(json!({"price": {"denom": "uallo", "amount": format!("{:.18}", chain.gas_price)}}))
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
fn simulate(chain: &Chain, body: &[u8]) -> Reply {
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

fn broadcast(chain: &mut Chain, body: &[u8]) -> Reply {
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
    json!({
        "height": t.height.to_string(), "txhash": t.hash, "codespace": t.codespace, "code": t.code,
        "data": "", "raw_log": t.raw_log, "logs": [], "info": "",
        "gas_wanted": t.gas_wanted.to_string(), "gas_used": t.gas_used.to_string(),
        "tx": {"@type": "/cosmos.tx.v1beta1.Tx"},
        "timestamp": t.time.format(&Rfc3339).unwrap_or_default(), "events": events
    })
}

/// A tx by hash, once indexed: never on a `no-index` listener, and
/// `index-lag` blocks after its inclusion.
fn get_tx(chain: &mut Chain, hash: &str, req: &Request) -> Reply {
    let hidden = req
        .header("host")
        .is_some_and(|h| chain.no_index.contains(h));
    let height = chain.height();
    let found = match chain.txs.get(&hash.to_uppercase()) {
        Some(t) if hidden => {
            let _ = t;
            chain.stats.fired("no-index");
            None
        }
        Some(t) if height < t.indexed_at => {
            chain.stats.fired("index-lag");
            None
        }
        other => other.cloned(),
    };
    match found {
        Some(t) => ok(json!({
            "tx": {"body": {"messages": [], "memo": t.memo, "timeout_height": t.timeout_height.to_string()}},
            "tx_response": tx_response(&t)
        })),
        None => error(404, 5, &format!("tx not found: {hash}")),
    }
}
