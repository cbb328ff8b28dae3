//! `--scheduler seconds` over HTTP and websocket: topic timing in seconds,
//! windows opened and closed by block time, the epochs route with the
//! chain's `Epoch` JSON, `window_end_block` = nonce + window (not a height),
//! and the epochs route absent (404 Not Found) in block mode.

use allora_worker::devnet::scheduler::Scheduler;

use super::*;

const NONCE_V1: u64 = 1 << 56;

fn seconds_devnet() -> (Devnet, Worker) {
    let (_, wallet) = throwaway_wallet(9).unwrap();
    let devnet = Devnet::start(DevnetConfig {
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        registered: vec![wallet.address().to_string()],
        scheduler: Scheduler::Seconds {
            epoch_secs: 2,
            window_secs: 1,
        },
        ..fast()
    })
    .unwrap();
    let base = devnet.base_url();
    (
        devnet,
        Worker {
            wallet,
            base,
            number: 1,
        },
    )
}

fn time(v: &Value) -> time::OffsetDateTime {
    let text = v.as_str().unwrap_or_else(|| panic!("a time: {v}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

#[test]
fn seconds_epochs_open_and_close_by_block_time() {
    let (devnet, w) = seconds_devnet();
    let topic = ok(&w.base, "/emissions/v10/topics/67")["topic"].clone();
    assert_eq!(
        (&topic["epoch_length"], &topic["worker_submission_window"]),
        (&json!("2"), &json!("1")),
        "topic timing in seconds"
    );
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, QUERY);
    let frame = ws_text(&mut ws, DEADLINE).unwrap().expect("a window opens");
    let attrs = frame["result"]["data"]["value"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "emissions.v10.EventWorkerSubmissionWindowOpened")
        .expect("the opened event")["attributes"]
        .clone();
    let attr = |k: &str| -> u64 {
        let a = attrs
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .unwrap();
        a["value"]
            .as_str()
            .unwrap()
            .trim_matches('"')
            .parse()
            .unwrap()
    };
    let nonce = attr("nonce_block_height");
    assert_eq!(
        attr("window_end_block"),
        nonce + 1,
        "nonce + window, not a height"
    );
    let tx = w.payload(nonce, 0);
    let r = broadcast(&w.base, &tx.tx_raw);
    assert_eq!(r["code"], 0, "{r}");
    let epochs = ok(&w.base, "/emissions/v10/epochs/67")["epochs"].clone();
    let height = nonce.to_string();
    let e = epochs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["start_block_height"] == height.as_str())
        .unwrap_or_else(|| panic!("epoch of {nonce} in {epochs}"))
        .clone();
    let packed: u64 = e["nonce"].as_str().unwrap().parse().unwrap();
    assert_eq!(packed >> 56, 1, "NonceV2 version 1: {e}");
    assert!(packed < NONCE_V1 + 10, "a zero-based epoch counter: {e}");
    assert_eq!(e["topic_id"], "67");
    let window = &e["worker_submission_window"];
    let (open_at, close_at) = (time(&window["open_at"]), time(&window["close_at"]));
    assert_eq!(close_at - open_at, time::Duration::seconds(1));
    let block = ok(
        &w.base,
        &format!("/cosmos/base/tendermint/v1beta1/blocks/{nonce}"),
    );
    assert_eq!(time(&block["block"]["header"]["time"]), open_at);
    assert_eq!(
        ok(&w.base, &format!("/emissions/v10/epochs/67/{packed}"))["epoch"]["start_block_height"],
        nonce.to_string()
    );
    assert_eq!(get(&w.base, "/emissions/v10/epochs/67/12").0, 404);
    let t = included(&w.base, &tx.hash);
    assert_eq!(t["code"], 0, "delivered inside the window: {t}");
    let closed_at = wait_for("the window to close", || {
        let open = ok(
            &w.base,
            &format!("/emissions/v10/is_worker_nonce_unfulfilled/67/{nonce}"),
        );
        (open["is_worker_nonce_unfulfilled"] == false).then(|| devnet.height())
    });
    let closing = ok(
        &w.base,
        &format!("/cosmos/base/tendermint/v1beta1/blocks/{closed_at}"),
    );
    assert!(time(&closing["block"]["header"]["time"]) >= close_at);
    let late = w.payload(nonce, 1);
    assert_eq!(broadcast(&w.base, &late.tx_raw)["code"], 0);
    let t = included(&w.base, &late.hash);
    assert_eq!(
        (t["codespace"].as_str(), t["code"].as_u64()),
        (Some("emissions"), Some(44)),
        "late: {t}"
    );
    let state =
        ok(&w.base, &format!("/emissions/v10/epochs/67/{packed}"))["epoch"]["state"].clone();
    assert_eq!(state, "WAITING_GROUND_TRUTH");
}

#[test]
fn block_mode_has_no_epochs_route() {
    let devnet = Devnet::start(fast()).unwrap();
    assert_eq!(
        get(&devnet.base_url(), "/emissions/v10/epochs/67"),
        (
            404,
            json!({"code": 5, "message": "Not Found", "details": []})
        )
    );
}
