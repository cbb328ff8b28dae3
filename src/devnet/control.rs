//! The devnet's own control endpoint, `/devnet/fault`: `POST` injects the
//! fault whose SPEC (the `--fault` grammar) is the body, `GET` lists the
//! pending ones, `DELETE` clears them. Like every `/devnet/*` path it is
//! never faulted. It only reads and changes fault state; the chain's own
//! routes stay in `routes.rs`.

use serde_json::{json, Value};

use super::chain::ChainFaults;
use super::http::{Listener, Reply, Request};
use super::{Fault, Shared};

/// Answers `/devnet/fault`; `None` for any other path (left to `routes.rs`).
pub fn route(shared: &Shared, me: &Listener, req: &Request) -> Option<Reply> {
    if req.path.trim_end_matches('/') != "/devnet/fault" {
        return None;
    }
    Some(match req.method.as_str() {
        "POST" => inject(shared, me, &req.body),
        "GET" => Reply::json(200, &Value::Array(pending(shared))),
        "DELETE" => {
            let cleared = pending(shared);
            clear(shared);
            Reply::json(200, &json!({ "cleared": cleared }))
        }
        other => error(
            405,
            12,
            &format!("method {other} not allowed on /devnet/fault"),
        ),
    })
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"code": code, "message": message, "details": []}),
    )
}

/// Injects the SPEC in `body` as `--fault` does; `no-index` acts on the
/// listener `me` that received it.
fn inject(shared: &Shared, me: &Listener, body: &[u8]) -> Reply {
    let Ok(text) = std::str::from_utf8(body) else {
        return error(400, 3, "fault SPEC is not UTF-8");
    };
    let spec = text.trim();
    match Fault::parse(spec) {
        Ok(Fault::NoIndex) => {
            shared.chain().no_index.insert(me.addr.to_string());
            Reply::json(200, &json!({"injected": "no-index", "on": me.base_url()}))
        }
        Ok(fault) => {
            log::info!("devnet: fault {} injected over HTTP", fault.spec());
            shared.inject(&fault);
            Reply::json(200, &json!({"injected": fault.spec()}))
        }
        Err(e) => error(400, 3, &e),
    }
}

/// Every pending fault: `{"fault": SPEC, "on": "chain" | listener URL}`.
fn pending(shared: &Shared) -> Vec<Value> {
    let mut faults = chain_pending(&shared.chain().faults);
    faults.extend(shared.lifecycle_pending());
    let mut out: Vec<Value> = faults
        .iter()
        .map(|f| json!({"fault": f.spec(), "on": "chain"}))
        .collect();
    let unindexed: Vec<String> = shared.chain().no_index.iter().cloned().collect();
    out.extend(
        unindexed
            .iter()
            .map(|h| json!({"fault": "no-index", "on": format!("http://{h}")})),
    );
    for l in shared.listeners() {
        let url = l.base_url();
        out.extend(
            l.pending()
                .iter()
                .map(|f| json!({"fault": f.spec(), "on": url})),
        );
    }
    out
}

/// The chain faults still waiting to act (or, for `wrong-chain-id`, on).
fn chain_pending(f: &ChainFaults) -> Vec<Fault> {
    let flags = [
        (f.sequence_mismatch_once, Fault::SequenceMismatchOnce),
        (f.insufficient_fee_once, Fault::InsufficientFeeOnce),
        (f.hold_blocks > 0, Fault::HoldInMempool(f.hold_blocks)),
        (f.skip_next_window, Fault::SkipNextWindow),
        (f.wrong_chain_id, Fault::WrongChainId(true)),
        (f.broadcast_lost > 0, Fault::BroadcastLost(f.broadcast_lost)),
        (f.index_lag > 0, Fault::IndexLag(f.index_lag)),
        (f.fee_rise_pct > 0, Fault::FeeRise(f.fee_rise_pct)),
        (f.gas_spike > 0, Fault::GasSpike(f.gas_spike)),
        (f.extra_gas > 0, Fault::GasExtra(f.extra_gas)),
        (f.not_admitted > 0, Fault::NotAdmitted(f.not_admitted)),
    ];
    flags
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, fault)| fault)
        .collect()
}

fn clear(shared: &Shared) {
    {
        let mut chain = shared.chain();
        let f = &mut chain.faults;
        f.sequence_mismatch_once = false;
        f.insufficient_fee_once = false;
        f.hold_blocks = 0;
        f.skip_next_window = false;
        f.wrong_chain_id = false;
        f.broadcast_lost = 0;
        f.index_lag = 0;
        f.fee_rise_pct = 0;
        f.gas_spike = 0;
        f.extra_gas = 0;
        f.not_admitted = 0;
        chain.no_index.clear();
    }
    shared.clear_lifecycle();
    for l in shared.listeners() {
        l.clear();
    }
    log::info!("devnet: pending faults cleared over HTTP");
}
