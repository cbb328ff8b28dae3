//! The devnet's REST and RPC handlers: maps a request to the JSON a real
//! Allora node (LCD gateway, CometBFT RPC) or Tiingo would answer, with the
//! shapes of ALLORA-PROTOCOL.md §5 (uint64 as strings, errors as
//! `{"code","message","details"}`). Reads and changes state only through
//! `chain::Chain`; knows nothing of sockets.

use base64::Engine;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use super::chain::{Block, Chain};
use super::http::{Reply, Request};
use super::{tx_routes, Shared};
use crate::io::clock;
use crate::logic::emissions::Emissions;
use crate::logic::hex;
use crate::logic::wallet::sha256;

pub(super) fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"code": code, "message": message, "details": []}),
    )
}

pub(super) fn ok(body: Value) -> Reply {
    Reply::json(200, &body)
}

/// Answers one request.
pub fn route(shared: &Shared, req: &Request) -> Reply {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    if let Some(refused) = historical(shared, req, &segs) {
        return refused;
    }
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
        ("POST", ["cosmos", "tx", "v1beta1", "simulate"]) => {
            tx_routes::simulate(&shared.chain(), &req.body)
        }
        ("POST", ["cosmos", "tx", "v1beta1", "txs"]) => {
            tx_routes::broadcast(&mut shared.chain(), &req.body)
        }
        ("GET", ["cosmos", "tx", "v1beta1", "txs", hash]) => {
            tx_routes::get_tx(&mut shared.chain(), hash, req)
        }
        ("GET", ["broadcast_tx_sync"]) => {
            let tx = req.query("tx").unwrap_or("");
            tx_routes::rpc_broadcast(&mut shared.chain(), json!(-1), tx)
        }
        ("GET", ["tx"]) => {
            let hash = req.query("hash").unwrap_or("");
            tx_routes::rpc_tx(&mut shared.chain(), json!(-1), hash, Some(req))
        }
        ("GET", ["abci_query"]) => tx_routes::rpc_abci_query(&shared.chain(), json!(-1)),
        ("GET", ["feemarket", "v1", "gas_price", denom]) => gas_price(&shared.chain(), denom),
        ("GET", ["cosmos", "upgrade", "v1beta1", "current_plan"]) => ok(shared.upgrade_plan()),
        (_, _) => error(404, 5, "Not Found"),
    }
}

/// `x-cosmos-block-height` on a state query: the latest height is served;
/// the devnet keeps no older state, so any other height is refused with 400.
fn historical(shared: &Shared, req: &Request, segs: &[&str]) -> Option<Reply> {
    let h = req.header("x-cosmos-block-height")?;
    if !matches!(segs.first(), Some(&"emissions" | &"cosmos" | &"feemarket")) {
        return None;
    }
    let latest = shared.chain().height();
    match h.trim().parse::<u64>() {
        Ok(n) if n == latest || n == 0 => None,
        Ok(n) => Some(error(
            400,
            3,
            &format!("the devnet keeps no historical state: height {n} is not the latest height {latest}"),
        )),
        Err(_) => Some(error(400, 3, &format!("invalid height {h:?} in x-cosmos-block-height"))),
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

/// A header whose `bytes` fields are rendered by `enc`: base64 on the LCD
/// gateway, upper-case hex on CometBFT RPC.
fn header(chain: &Chain, b: &Block, enc: fn(&[u8]) -> String) -> Value {
    let prev = chain
        .block(b.height.saturating_sub(1))
        .filter(|p| p.height < b.height);
    let hash = |h: &str| enc(&hex::decode(h).unwrap_or_default());
    let derived = |what: &str| {
        enc(&sha256(
            format!("{}/{what}/{}", chain.chain_id, b.height).as_bytes(),
        ))
    };
    let data_hash = enc(&sha256(
        &b.txs.iter().flat_map(|t| sha256(t)).collect::<Vec<u8>>(),
    ));
    let prev_hash = prev.map_or(String::new(), |p| hash(&p.hash));
    json!({
        "version": {"block": "11", "app": "0"},
        "chain_id": chain.reported_chain_id(),
        "height": b.height.to_string(),
        "time": time_text(b),
        "last_block_id": {"hash": prev_hash, "part_set_header": {"total": 1, "hash": prev_hash}},
        "last_commit_hash": derived("commit"), "data_hash": data_hash,
        "validators_hash": derived("validators"), "next_validators_hash": derived("validators"),
        "consensus_hash": derived("consensus"), "app_hash": derived("app"),
        "last_results_hash": derived("results"), "evidence_hash": enc(&sha256(b"")),
        "proposer_address": enc(&sha256(b"devnet validator")[..20])
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
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
    let head = header(chain, b, b64);
    let mut sdk_head = head.clone();
    sdk_head["proposer_address"] = json!("allovalcons1devnetdevnetdevnetdevnetdevne0t9r4h");
    let txs: Vec<String> = b.txs.iter().map(|t| b64(t)).collect();
    let id = b64(&hex::decode(&b.hash).unwrap_or_default());
    ok(json!({
        "block_id": {"hash": id, "part_set_header": {"total": 1, "hash": id}},
        "block": {"header": head, "data": {"txs": txs}, "evidence": {"evidence": []}, "last_commit": null},
        "sdk_block": {"header": sdk_head, "data": {"txs": txs}, "evidence": {"evidence": []}, "last_commit": null}
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
            "block_id": {"hash": b.hash, "parts": {"total": 1, "hash": b.hash}},
            "block": {
                "header": header(chain, b, hex_upper),
                "data": {"txs": b.txs.iter().map(|t| b64(t)).collect::<Vec<_>>()}
            }
        }))),
        None => ok(
            json!({"jsonrpc": "2.0", "id": -1, "error": {"code": -32603, "message": "Internal error", "data": "height is not available"}}),
        ),
    }
}

/// CometBFT JSON-RPC over HTTP POST: `status`, `broadcast_tx_sync`, `tx`, `abci_query`.
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
            let tx = req.pointer("/params/tx").and_then(Value::as_str);
            return tx_routes::rpc_broadcast(&mut shared.chain(), id, tx.unwrap_or(""));
        }
        Some("tx") => {
            let hash = req.pointer("/params/hash").and_then(Value::as_str);
            return tx_routes::rpc_tx(&mut shared.chain(), id, hash.unwrap_or(""), None);
        }
        Some("abci_query") => return tx_routes::rpc_abci_query(&shared.chain(), id),
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
            // The gateway always emits both (proto3 defaults without an address).
            let addr = req.query("address");
            v["is_registered"] = json!(addr.is_some_and(|a| chain.registered.contains(a)));
            v["is_whitelisted"] = json!(addr.is_some_and(|a| chain.is_whitelisted(a)));
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
        ["can_submit_worker_payload", t, addr] => {
            let can = topic_ok(t) && chain.is_whitelisted(addr);
            ok(json!({"can_submit_worker_payload": can}))
        }
        ["is_topic_worker_whitelist_enabled", t] => {
            let on = topic_ok(t) && chain.whitelist.is_some();
            ok(json!({"is_topic_worker_whitelist_enabled": on}))
        }
        ["is_whitelisted_topic_worker", t, addr] => {
            let member = topic_ok(t) && chain.whitelist.as_ref().is_some_and(|w| w.contains(*addr));
            ok(json!({"is_whitelisted_topic_worker": member}))
        }
        ["is_whitelisted_global_worker", _] => ok(json!({"is_whitelisted_global_worker": false})),
        ["latest_network_inferences", t] if topic_ok(t) => ok(network_inferences(chain)),
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

/// `latest_network_inferences`: the inferences admitted for the newest
/// nonce that has any, their mean as the combined value (no weighting).
fn network_inferences(chain: &Chain) -> Value {
    let newest = chain.latest.values().map(|i| i.nonce).max().unwrap_or(0);
    let at_newest: Vec<(&String, &str)> = chain
        .latest
        .iter()
        .filter(|(_, i)| i.nonce == newest)
        .map(|(w, i)| (w, i.value.as_str()))
        .collect();
    let values: Vec<f64> = at_newest
        .iter()
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let combined = if values.is_empty() {
        "0".to_string()
    } else {
        crate::logic::decimal::canonical(values.iter().sum::<f64>() / values.len() as f64)
            .unwrap_or_else(|_| "0".into())
    };
    let inferers: Vec<Value> = at_newest
        .iter()
        .map(|(w, v)| match chain.emissions {
            Emissions::V10 => {
                json!({"worker": w, "value": v, "values": [{"label": "y", "value": v}]})
            }
            Emissions::V9 => json!({"worker": w, "value": v}),
        })
        .collect();
    json!({
        "network_inferences": {
            "topic_id": chain.topic_id.to_string(), "reputer_request_nonce": null, "reputer": "",
            "extra_data": null, "combined_value": combined, "inferer_values": inferers,
            "forecaster_values": [], "naive_value": combined, "one_out_inferer_values": [],
            "one_out_forecaster_values": [], "one_in_forecaster_values": [],
            "forecast_implied_inferences": []
        },
        "inferer_weights": [], "forecaster_weights": [],
        "inference_block_height": newest.to_string(), "loss_block_height": "0",
        "confidence_interval_raw_percentiles": [], "confidence_interval_values": []
    })
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
