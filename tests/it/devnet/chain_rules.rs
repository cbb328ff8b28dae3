//! The chain's codes, order and shapes (issue 12 items 7 and 8): a late tx
//! (emissions/44), `Validate()` codes (sdk/29, sdk/7), register on an unknown
//! topic (emissions/23), the whitelist, the single-arity label rule, a
//! not-admitted payload, the v10 event keys; the LCD block, the decoded tx
//! by hash, CometBFT `tx`/`broadcast_tx_sync`/`abci_query`, the whitelist and
//! network-inference queries and `x-cosmos-block-height`.

use super::strict::{code_log, strict_devnet};
use super::*;

/// An insert tx whose worker bundle `tamper` changed (bundle re-signed).
fn custom_payload(
    w: &Worker,
    nonce: u64,
    seq: u64,
    tamper: impl FnOnce(&mut tx::WorkerDataBundle),
) -> SignedTx {
    let p = Payload {
        topic_id: 67,
        nonce: nonce as i64,
        value: 0.5,
        forecasts: Vec::new(),
    };
    let mut wdb = tx::signed_worker_bundle(&w.wallet, &p, Emissions::V10).unwrap();
    tamper(&mut wdb);
    if let Some(b) = &wdb.bundle {
        wdb.signature = w.wallet.sign_sha256(&b.encode(Emissions::V10)).to_vec();
    }
    let msg = tx::insert_payload_request(w.wallet.address(), &wdb, Emissions::V10);
    let url = Emissions::V10.type_url("InsertWorkerPayloadRequest");
    tx::sign_messages(&w.wallet, &[(url, msg)], &w.params(seq, 3_000_000))
}

fn values(b: &mut tx::WorkerDataBundle) -> &mut Vec<(String, String)> {
    &mut b
        .bundle
        .as_mut()
        .unwrap()
        .inference
        .as_mut()
        .unwrap()
        .values
}

/// Broadcasts `t` (CheckTx must pass) and returns its delivery's tx_response.
fn deliver(w: &Worker, t: &SignedTx) -> Value {
    let r = broadcast(&w.base, &t.tx_raw);
    assert_eq!(r["code"], 0, "{r}");
    included(&w.base, &t.hash)
}

#[test]
fn late_txs_validate_codes_and_unknown_topics() {
    let (devnet, w) = strict_devnet(true, |c| {
        c.epoch_blocks = 10;
        c.window_blocks = 2;
    });
    let nonce = wait_for("a window at its nonce", || {
        let s = ok(&w.base, "/emissions/v10/worker_submission_window_status/67");
        let n: u64 = s["current_nonce_block_height"].as_str()?.parse().ok()?;
        (s["is_open"] == true && devnet.height() == n).then_some(n)
    });
    devnet.inject(Fault::HoldInMempool(4));
    let late = deliver(&w, &w.payload(nonce, 0));
    assert_eq!(
        code_log(&late),
        (
            Some(44),
            Some("emissions"),
            Some("failed to execute message; message index: 0: unfulfilled nonce not found")
        )
    );
    let zero = deliver(&w, &custom_payload(&w, nonce, 1, |b| b.nonce = Some(0)));
    assert_eq!(
        (zero["code"].as_u64(), zero["codespace"].as_str()),
        (Some(29), Some("sdk"))
    );
    assert!(
        zero["raw_log"].as_str().unwrap().contains(
            "Error validating worker data bundle: nonce block height 0 must be > 0: invalid type"
        ),
        "{zero}"
    );
    let bad = deliver(
        &w,
        &custom_payload(&w, nonce, 2, |b| b.worker = "allo1xyz".into()),
    );
    assert_eq!(
        code_log(&bad),
        (
            Some(7),
            Some("sdk"),
            Some("failed to execute message; message index: 0: Error validating worker address: invalid worker address \"allo1xyz\": invalid address")
        )
    );
    let reg = tx::register_tx(&w.wallet, 68, &w.params(3, 3_000_000)).unwrap();
    let reg = deliver(&w, &reg);
    assert_eq!(
        code_log(&reg),
        (
            Some(23),
            Some("emissions"),
            Some("failed to execute message; message index: 0: topic does not exist")
        )
    );
}

#[test]
fn whitelist_labels_admission_and_event_keys() {
    let (devnet, w) = strict_devnet(true, |c| {
        c.whitelist = true;
        c.epoch_blocks = 20;
        c.window_blocks = 17;
    });
    let addr = w.wallet.address().to_string();
    let nonce = w.open_nonce_within(15);
    let refused = deliver(&w, &w.payload(nonce, 0));
    assert_eq!(
        code_log(&refused),
        (
            Some(69),
            Some("emissions"),
            Some("failed to execute message; message index: 0: Worker is not permitted to submit payload: not permitted to submit payload")
        )
    );
    let status = ok(
        &w.base,
        &format!("/emissions/v10/worker_submission_window_status/67?address={addr}"),
    );
    assert_eq!(
        (
            status["is_registered"].as_bool(),
            status["is_whitelisted"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let can = format!("/emissions/v10/can_submit_worker_payload/67/{addr}");
    assert_eq!(ok(&w.base, &can)["can_submit_worker_payload"], false);
    devnet.inject(Fault::Whitelist(addr.clone()));
    assert_eq!(ok(&w.base, &can)["can_submit_worker_payload"], true);
    assert_eq!(
        ok(
            &w.base,
            &format!("/emissions/v10/is_whitelisted_topic_worker/67/{addr}")
        ),
        json!({"is_whitelisted_topic_worker": true})
    );
    let label = deliver(
        &w,
        &custom_payload(&w, nonce, 1, |b| values(b)[0].0 = "x".into()),
    );
    assert_eq!(
        (label["code"].as_u64(), label["codespace"].as_str()),
        (Some(18), Some("sdk"))
    );
    assert!(
        label["raw_log"]
            .as_str()
            .unwrap()
            .contains("single-arity label must be \"y\""),
        "{label}"
    );
    let two = deliver(
        &w,
        &custom_payload(&w, nonce, 2, |b| values(b).push(("y".into(), "1".into()))),
    );
    assert_eq!(
        (two["code"].as_u64(), two["codespace"].as_str()),
        (Some(18), Some("sdk")),
        "{two}"
    );
    devnet.inject(Fault::NotAdmitted(1));
    let quiet = deliver(&w, &w.payload(nonce, 3));
    assert_eq!(quiet["code"], 0);
    let kinds = event_kinds(&quiet);
    assert!(
        !kinds.contains(&"emissions.v10.EventInsertInfererPayload"),
        "{kinds:?}"
    );
    assert_eq!(devnet.stats()["faults_fired"]["not-admitted"], 1);
    let latest = format!("/emissions/v10/topics/67/workers/{addr}/latest_input_inference");
    assert_eq!(
        get(&w.base, &latest).0,
        404,
        "not admitted: no latest inference"
    );
    let next = wait_for("the next window", || {
        let n = w.open_nonce_within(15);
        (n > nonce).then_some(n)
    });
    let counted = deliver(&w, &w.payload(next, 4));
    let ev = counted["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "emissions.v10.EventInsertInfererPayload")
        .expect("the admitted payload's event")
        .clone();
    let keys: Vec<&str> = ev["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "extra_data",
            "inferer",
            "nonce",
            "topic_id",
            "value",
            "values"
        ]
    );
    let attr = |k: &str| {
        ev["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(
        attr("nonce"),
        json!({"block_height": next.to_string()}).to_string()
    );
    assert_eq!(attr("topic_id"), "\"67\"");
    assert_eq!(
        attr("values"),
        json!([{"label": "y", "value": "-0.0123"}]).to_string()
    );
    let net = ok(&w.base, "/emissions/v10/latest_network_inferences/67");
    assert_eq!(
        net["network_inferences"]["inferer_values"][0]["values"][0]["value"],
        "-0.0123"
    );
    assert_eq!(net["inference_block_height"], next.to_string());
}

#[test]
fn blocks_txs_and_rpc_shapes() {
    let (_devnet, w) = strict_devnet(false, |_| {});
    let reg = w.register(0);
    let hex_tx = format!("/broadcast_tx_sync?tx=0x{}", hex::encode(&reg.tx_raw));
    let r = ok(&w.base, &hex_tx);
    assert_eq!(
        (r["result"]["code"].as_u64(), r["result"]["hash"].as_str()),
        (Some(0), Some(reg.hash.as_str())),
        "{r}"
    );
    let again = ok(&w.base, &hex_tx);
    assert_eq!(
        again["error"]["data"], "tx already exists in cache",
        "{again}"
    );
    let t = included(&w.base, &reg.hash);
    let height = t["height"].as_str().unwrap().to_string();
    let got = ok(&w.base, &format!("/cosmos/tx/v1beta1/txs/{}", reg.hash));
    let msg = &got["tx"]["body"]["messages"][0];
    assert_eq!(msg["@type"], "/emissions.v10.RegisterRequest");
    assert_eq!(
        (msg["sender"].as_str(), msg["topic_id"].as_str()),
        (Some(w.wallet.address()), Some("67"))
    );
    let signer = &got["tx"]["auth_info"]["signer_infos"][0];
    assert_eq!(signer["sequence"], "0");
    assert_eq!(
        signer["public_key"]["@type"],
        "/cosmos.crypto.secp256k1.PubKey"
    );
    assert_eq!(got["tx"]["auth_info"]["fee"]["gas_limit"], "300000");
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(got["tx"]["signatures"][0], b64.encode(reg.signature));
    assert_eq!(got["tx_response"]["tx"]["@type"], "/cosmos.tx.v1beta1.Tx");
    let block = ok(
        &w.base,
        &format!("/cosmos/base/tendermint/v1beta1/blocks/{height}"),
    );
    assert_eq!(
        block["block"]["data"]["txs"],
        json!([b64.encode(&reg.tx_raw)])
    );
    let id = block["block_id"]["hash"].as_str().unwrap();
    assert_eq!(
        b64.decode(id).unwrap().len(),
        32,
        "bytes are base64 on the LCD: {id}"
    );
    for k in [
        "data_hash",
        "app_hash",
        "last_commit_hash",
        "validators_hash",
    ] {
        assert_eq!(
            b64.decode(block["block"]["header"][k].as_str().unwrap())
                .unwrap()
                .len(),
            32,
            "{k}"
        );
    }
    assert_eq!(
        b64.decode(
            block["block"]["header"]["proposer_address"]
                .as_str()
                .unwrap()
        )
        .unwrap()
        .len(),
        20
    );
    let rpc = ok(&w.base, &format!("/block?height={height}"));
    assert_eq!(
        hex::decode(rpc["result"]["block_id"]["hash"].as_str().unwrap()).unwrap(),
        b64.decode(id).unwrap(),
        "hex on RPC"
    );
    let tx = ok(&w.base, &format!("/tx?hash=0x{}", reg.hash));
    assert_eq!(
        (
            tx["result"]["height"].as_str(),
            tx["result"]["tx_result"]["code"].as_u64()
        ),
        (Some(height.as_str()), Some(0))
    );
    let missing = ok(&w.base, "/tx?hash=0xABCD");
    assert_eq!(missing["error"]["data"], "tx (ABCD) not found");
    let q = ok(
        &w.base,
        "/abci_query?path=%22/emissions.v10.QueryService/GetParams%22&data=0x",
    );
    assert_eq!(
        (
            q["result"]["response"]["code"].as_u64(),
            q["result"]["response"]["codespace"].as_str()
        ),
        (Some(6), Some("sdk"))
    );
    let status = ok(&w.base, "/emissions/v10/worker_submission_window_status/67");
    assert_eq!(
        (
            status["is_registered"].as_bool(),
            status["is_whitelisted"].as_bool()
        ),
        (Some(false), Some(false))
    );
    assert_eq!(
        ok(
            &w.base,
            "/emissions/v10/is_topic_worker_whitelist_enabled/67"
        ),
        json!({"is_topic_worker_whitelist_enabled": false})
    );
    let at = |h: u64| {
        let addr = w.base.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        let req = format!("GET /emissions/v10/params HTTP/1.1\r\nHost: {addr}\r\nx-cosmos-block-height: {h}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw
    };
    let old = at(1);
    assert!(
        old.starts_with("HTTP/1.1 400 ") && old.contains("no historical state"),
        "{old}"
    );
    assert!(
        at(0).starts_with("HTTP/1.1 200 "),
        "height 0 means the latest"
    );
}
