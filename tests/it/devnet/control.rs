//! `/devnet/fault` over HTTP (inject, list, clear, a bad SPEC, never
//! faulted itself, `no-index` on the listener that got it) and `reply-lost`:
//! the request is processed in full, then the connection closes without a
//! response.

use super::*;

fn post_fault(base: &str, spec: &str) -> (u16, Value) {
    let (status, _, body) =
        http(base, "POST", "/devnet/fault", spec, DEADLINE).expect("POST /devnet/fault answers");
    (status, serde_json::from_str(&body).expect("JSON answer"))
}

fn fired(devnet: &Devnet, name: &str) -> u64 {
    devnet.stats()["faults_fired"][name].as_u64().unwrap_or(0)
}

#[test]
fn faults_are_injected_listed_and_cleared_over_http() {
    let devnet = Devnet::start(fast()).unwrap();
    let base = devnet.base_url();
    assert_eq!(ok(&base, "/devnet/fault"), json!([]));
    assert_eq!(
        post_fault(&base, "http500:2"),
        (200, json!({"injected": "http500:2"}))
    );
    assert_eq!(
        post_fault(&base, "hold:3\n"),
        (200, json!({"injected": "hold:3"}))
    );
    let pending = json!([{"fault": "hold:3", "on": "chain"}, {"fault": "http500:2", "on": base}]);
    assert_eq!(ok(&base, "/devnet/fault"), pending);
    assert_eq!(
        get(&base, "/devnet/stats").0,
        200,
        "/devnet/* is never faulted"
    );
    assert_eq!(ok(&base, "/devnet/fault"), pending, "nothing was consumed");
    for bad in ["nope", "http500:x", ""] {
        let (status, v) = post_fault(&base, bad);
        assert_eq!((status, v["code"].as_u64()), (400, Some(3)), "{bad}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(&format!("{bad:?}")), "{message}");
    }
    assert_eq!(get(&base, "/status").0, 500, "the injected fault landed");
    assert_eq!(fired(&devnet, "http500"), 1);
    assert_eq!(
        ok(&base, "/devnet/fault"),
        json!([{"fault": "hold:3", "on": "chain"}, {"fault": "http500:1", "on": base}])
    );
    let (status, _, body) = http(&base, "DELETE", "/devnet/fault", "", DEADLINE).unwrap();
    assert_eq!(status, 200);
    let cleared: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cleared["cleared"].as_array().map(Vec::len), Some(2));
    assert_eq!(ok(&base, "/devnet/fault"), json!([]));
    assert_eq!(get(&base, "/status").0, 200, "cleared faults never act");
    assert_eq!(fired(&devnet, "http500"), 1);
    let (status, _, _) = http(&base, "PUT", "/devnet/fault", "", DEADLINE).unwrap();
    assert_eq!(status, 405);
}

#[test]
fn reply_lost_processes_the_request_then_drops_the_reply() {
    let (devnet, w) = worker_devnet();
    let reg = w.register(0);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&reg.tx_raw);
    let body = json!({"tx_bytes": b64, "mode": "BROADCAST_MODE_SYNC"}).to_string();
    assert_eq!(post_fault(&w.base, "reply-lost:1").0, 200);
    let lost = http(&w.base, "POST", "/cosmos/tx/v1beta1/txs", &body, DEADLINE);
    assert!(
        lost.as_ref()
            .map_or(true, |(status, _, raw)| *status == 0 && raw.is_empty()),
        "no response at all: {lost:?}"
    );
    assert_eq!(fired(&devnet, "reply-lost"), 1);
    let t = included(&w.base, &reg.hash);
    assert_eq!(
        t["code"], 0,
        "the broadcast whose reply was lost landed: {t}"
    );
    assert_eq!(
        ok(
            &w.base,
            &format!("/emissions/v10/worker_registered/67/{}", w.wallet.address())
        ),
        json!({"is_registered": true})
    );
    assert_eq!(
        ok(&w.base, "/devnet/fault"),
        json!([]),
        "the fault is spent"
    );
    assert_eq!(get(&w.base, "/status").0, 200);
}

#[test]
fn no_index_posted_to_a_listener_hides_txs_there_only() {
    let (devnet, w) = worker_devnet();
    let extra = devnet.extra_listener().unwrap();
    assert_eq!(
        post_fault(&extra, "no-index"),
        (200, json!({"injected": "no-index", "on": extra}))
    );
    assert_eq!(
        ok(&w.base, "/devnet/fault"),
        json!([{"fault": "no-index", "on": extra}])
    );
    let reg = w.register(0);
    assert_eq!(broadcast(&extra, &reg.tx_raw)["code"], 0);
    let path = format!("/cosmos/tx/v1beta1/txs/{}", reg.hash);
    assert_eq!(included(&w.base, &reg.hash)["code"], 0);
    assert_eq!(get(&extra, &path).0, 404, "never indexed on that listener");
    assert!(fired(&devnet, "no-index") >= 1);
    let (status, _, _) = http(&w.base, "DELETE", "/devnet/fault", "", DEADLINE).unwrap();
    assert_eq!(status, 200);
    assert_eq!(get(&extra, &path).0, 200, "cleared");
}
