//! `--topics`: several served topics over HTTP and websocket, in block and
//! seconds mode: each active with its own registration, window status,
//! open nonces, latest inferences, window events and epochs; the tx log
//! names each tx's topic and `/devnet/stats` counts windows per topic.

use allora_worker::devnet::scheduler::Scheduler;

use super::*;

fn two_topics(topics: &[u64], scheduler: Scheduler) -> (Devnet, Worker) {
    let (_, wallet) = throwaway_wallet(9).unwrap();
    let devnet = Devnet::start(DevnetConfig {
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        topic_id: topics[0],
        topics: topics.to_vec(),
        ground_truth_lag: 42,
        window_blocks: 6,
        scheduler,
        ..fast()
    })
    .unwrap();
    let base = devnet.base_url();
    let w = Worker {
        wallet,
        base,
        number: 1,
    };
    (devnet, w)
}

fn payload(w: &Worker, topic: u64, nonce: u64, sequence: u64) -> SignedTx {
    let p = Payload {
        topic_id: topic,
        nonce: nonce as i64,
        value: -0.0123,
        forecasts: Vec::new(),
    };
    tx::insert_payload_tx(&w.wallet, &p, &w.params(sequence, 3_000_000)).unwrap()
}

/// The open nonce of `topic` by its window status.
fn open_nonce(w: &Worker, topic: u64) -> u64 {
    wait_for(&format!("an open window of topic {topic}"), || {
        let path = format!("/emissions/v10/worker_submission_window_status/{topic}");
        let s = ok(&w.base, &path);
        (s["is_open"] == true).then(|| s["current_nonce_block_height"].as_str()?.parse().ok())?
    })
}

/// Waits for a window-opened frame on `ws`; returns the topics its events open.
fn window_topics(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) -> Vec<String> {
    let frame = ws_text(ws, DEADLINE).unwrap().expect("a window opens");
    let events = frame["result"]["data"]["value"]["events"].clone();
    let topic = |e: &Value| {
        let attrs = e["attributes"].as_array()?;
        let t = attrs.iter().find(|a| a["key"] == "topic_id")?;
        Some(t["value"].as_str()?.trim_matches('"').to_string())
    };
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "emissions.v10.EventWorkerSubmissionWindowOpened")
        .filter_map(topic)
        .collect()
}

#[test]
fn block_mode_serves_each_topic_apart() {
    let (devnet, w) = two_topics(&[67, 70], Scheduler::Blocks);
    let t70 = ok(&w.base, "/emissions/v10/topics/70")["topic"].clone();
    assert_eq!(
        (&t70["id"], &t70["ground_truth_lag"]),
        (&json!("70"), &json!("42"))
    );
    assert_eq!(t70["epoch_length"], "4");
    assert_eq!(t70["loss_method"], "czar");
    assert_eq!(t70["output_arity"], "TOPIC_OUTPUT_ARITY_SINGLE");
    assert_eq!(get(&w.base, "/emissions/v10/topics/71").0, 404);
    for (t, active) in [(67, true), (70, true), (69, false)] {
        let a = ok(&w.base, &format!("/emissions/v10/is_topic_active/{t}"));
        assert_eq!(a["is_active"], active, "topic {t}");
    }
    let eth = ok(&w.base, "/tiingo/crypto/prices?tickers=ethusd&startDate=2025-08-26&endDate=2025-08-28&resampleFreq=1hour&token=x");
    assert_eq!(
        (&eth[0]["ticker"], &eth[0]["baseCurrency"]),
        (&json!("ethusd"), &json!("eth"))
    );
    assert!(
        eth[0]["priceData"].as_array().is_some_and(|b| b.len() > 24),
        "{eth}"
    );
    let reg = tx::register_tx(&w.wallet, 70, &w.params(0, 3_000_000)).unwrap();
    assert_eq!(broadcast(&w.base, &reg.tx_raw)["code"], 0);
    assert_eq!(included(&w.base, &reg.hash)["code"], 0);
    let addr = w.wallet.address();
    let registered = |t: u64| {
        ok(
            &w.base,
            &format!("/emissions/v10/worker_registered/{t}/{addr}"),
        )["is_registered"]
            .clone()
    };
    assert_eq!(
        (registered(70), registered(67)),
        (json!(true), json!(false))
    );
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, &QUERY.replace("\"67\"", "\"70\""));
    assert_eq!(window_topics(&mut ws), ["67", "70"], "one block opens both");
    let nonce = open_nonce(&w, 70);
    let unfulfilled = ok(&w.base, "/emissions/v10/unfulfilled_worker_nonces/70");
    assert!(
        unfulfilled.to_string().contains(&format!("\"{nonce}\"")),
        "{unfulfilled}"
    );
    let (to70, to67) = (payload(&w, 70, nonce, 1), payload(&w, 67, nonce, 2));
    assert_eq!(broadcast(&w.base, &to70.tx_raw)["code"], 0);
    assert_eq!(
        included(&w.base, &to70.hash)["code"],
        0,
        "topic 70 accepts it"
    );
    broadcast(&w.base, &to67.tx_raw);
    let refused = included(&w.base, &to67.hash);
    assert_eq!(refused["code"], 13, "not registered in topic 67: {refused}");
    let path = format!("/emissions/v10/topics/70/workers/{addr}/latest_input_inference");
    let latest = ok(&w.base, &path)["latest_input_inference"].clone();
    assert_eq!(
        (&latest["topic_id"], &latest["block_height"]),
        (&json!("70"), &json!(nonce.to_string()))
    );
    let path67 = format!("/emissions/v10/topics/67/workers/{addr}/latest_input_inference");
    assert_eq!(get(&w.base, &path67).0, 404, "nothing admitted in topic 67");
    let txs = ok(&w.base, "/devnet/txs");
    let topic_of = |hash: &str| {
        let list = txs["txs"]
            .as_array()
            .or(txs.as_array())
            .cloned()
            .unwrap_or_default();
        list.iter()
            .find(|t| t["hash"] == hash)
            .map(|t| t["topic"].clone())
    };
    assert_eq!(topic_of(&reg.hash), Some(json!(70)), "{txs}");
    assert_eq!(topic_of(&to70.hash), Some(json!(70)));
    assert_eq!(topic_of(&to67.hash), Some(json!(67)));
    let s = stats(&devnet);
    let by_topic = &s["windows_opened_by_topic"];
    assert!(
        by_topic["67"].as_u64() >= Some(1) && by_topic["70"] == by_topic["67"],
        "{s}"
    );
    let total = by_topic["67"].as_u64().unwrap() + by_topic["70"].as_u64().unwrap();
    assert!(s["windows_opened"].as_u64() >= Some(total - 2), "{s}");
}

#[test]
fn seconds_mode_serves_each_topic_apart() {
    let seconds = Scheduler::Seconds {
        epoch_secs: 1,
        window_secs: 1,
    };
    let (devnet, w) = two_topics(&[67, 69], seconds);
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, &QUERY.replace("\"67\"", "\"69\""));
    let opened = window_topics(&mut ws);
    assert_eq!(opened, ["67", "69"], "69 is served, not noise");
    let nonce = open_nonce(&w, 69);
    let epochs = ok(&w.base, "/emissions/v10/epochs/69")["epochs"].clone();
    let of_nonce = epochs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["start_block_height"] == nonce.to_string().as_str())
        .unwrap_or_else(|| panic!("epoch of {nonce} in {epochs}"))
        .clone();
    assert_eq!(of_nonce["topic_id"], "69");
    assert!(ok(&w.base, "/emissions/v10/epochs/67")["epochs"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
    assert_eq!(get(&w.base, "/emissions/v10/epochs/70").0, 404);
    let t69 = ok(&w.base, "/emissions/v10/topics/69")["topic"].clone();
    assert_eq!(
        (&t69["epoch_length"], &t69["worker_submission_window"]),
        (&json!("1"), &json!("1"))
    );
    let s = wait_for("two windows in each topic", || {
        let s = stats(&devnet);
        let by = &s["windows_opened_by_topic"];
        (by["67"].as_u64() >= Some(2) && by["69"].as_u64() >= Some(2)).then_some(s)
    });
    assert_eq!(
        s["windows_opened_by_topic"].as_object().map(|o| o.len()),
        Some(2),
        "{s}"
    );
}

#[test]
fn a_restart_on_the_state_file_keeps_each_topics_state() {
    let dir = support::temp_dir("devnet-topics-state");
    let (_, wallet) = throwaway_wallet(9).unwrap();
    let cfg = DevnetConfig {
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        topics: vec![67, 70],
        state_file: Some(dir.join("chain.json")),
        ..fast()
    };
    let devnet = Devnet::start(cfg.clone()).unwrap();
    let w = Worker {
        wallet,
        base: devnet.base_url(),
        number: 1,
    };
    let reg = tx::register_tx(&w.wallet, 70, &w.params(0, 3_000_000)).unwrap();
    broadcast(&w.base, &reg.tx_raw);
    assert_eq!(included(&w.base, &reg.hash)["code"], 0);
    devnet.shutdown();
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("chain.json")).unwrap()).unwrap();
    let addr = w.wallet.address();
    assert_eq!(
        saved["topics"]["70"]["registered"],
        json!([addr]),
        "{saved}"
    );
    assert_eq!(
        saved["registered"],
        json!([]),
        "topic 67's at the top level"
    );
    let again = Devnet::start(cfg).unwrap();
    let base = again.base_url();
    let registered = |t: u64| {
        ok(
            &base,
            &format!("/emissions/v10/worker_registered/{t}/{addr}"),
        )["is_registered"]
            .clone()
    };
    assert_eq!(
        (registered(70), registered(67)),
        (json!(true), json!(false))
    );
}
