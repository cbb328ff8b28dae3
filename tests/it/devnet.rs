//! The local devnet: REST and RPC shapes, windows and websocket frames, the
//! shared vector transactions replayed through CheckTx and DeliverTx, every
//! fault, the stats counters, shutdown, and the `devnet` command. Each test
//! starts its own devnet on port 0; waits poll a condition with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use allora_worker::devnet::{throwaway_wallet, Devnet, DevnetConfig, Fault, GenesisAccount};
use allora_worker::logic::emissions::Emissions;
use allora_worker::logic::hex;
use allora_worker::logic::tx::{self, Payload, SignedTx, TxParams};
use allora_worker::logic::wallet::Wallet;
use base64::Engine;
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::support;

const DEADLINE: Duration = Duration::from_secs(10);
const FUNDS: u128 = 1_000_000_000_000_000_000_000_000;

fn fast() -> DevnetConfig {
    DevnetConfig {
        block_ms: 50,
        epoch_blocks: 4,
        window_blocks: 3,
        ws_ping_ms: 100,
        ..DevnetConfig::default()
    }
}

/// Polls `f` until it returns Some, or panics naming `what` after the deadline.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One raw HTTP/1.1 exchange: (status, content type, body).
fn http(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String, String)> {
    let addr = base
        .trim_start_matches("http://")
        .to_socket_addrs()?
        .next()
        .expect("an address");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let ctype = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_string();
    Ok((status, ctype, body.to_string()))
}

fn get(base: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = http(base, "GET", path, "", DEADLINE).expect("GET answers");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path} is not JSON: {body:?}")),
    )
}

fn ok(base: &str, path: &str) -> Value {
    let (status, v) = get(base, path);
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn broadcast(base: &str, tx_raw: &[u8]) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(tx_raw);
    let body = json!({"tx_bytes": b64, "mode": "BROADCAST_MODE_SYNC"}).to_string();
    let (status, _, text) =
        http(base, "POST", "/cosmos/tx/v1beta1/txs", &body, DEADLINE).expect("broadcast answers");
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("broadcast answers JSON");
    assert_eq!(v["tx_response"]["height"], "0");
    v["tx_response"].clone()
}

/// Waits until the tx is included; returns its `tx_response`.
fn included(base: &str, hash: &str) -> Value {
    wait_for(&format!("tx {hash}"), || {
        let (status, v) = get(base, &format!("/cosmos/tx/v1beta1/txs/{hash}"));
        (status == 200).then(|| v["tx_response"].clone())
    })
}

fn stats(devnet: &Devnet) -> Value {
    devnet.stats()
}

fn ws_connect(url: &str) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let (mut ws, _) = tungstenite::connect(url).expect("websocket connects");
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("set timeout");
    }
    ws
}

/// The next text frame within `within`; Ok(None) on timeout, Err when the connection ended.
fn ws_text(
    ws: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    within: Duration,
) -> Result<Option<Value>, String> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Text(t)) => {
                return Ok(Some(
                    serde_json::from_str(t.as_str()).expect("frame is JSON"),
                ))
            }
            Ok(Message::Close(_)) => return Err("closed".into()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(None)
}

fn subscribe(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>, query: &str) {
    let req =
        json!({"jsonrpc": "2.0", "method": "subscribe", "id": "sub-1", "params": {"query": query}});
    ws.send(Message::text(req.to_string()))
        .expect("send subscribe");
    let ack = ws_text(ws, DEADLINE)
        .expect("ack arrives")
        .expect("ack in time");
    assert_eq!(ack, json!({"jsonrpc": "2.0", "id": "sub-1", "result": {}}));
}

const QUERY: &str = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id='\"67\"'";

#[test]
fn rest_paths_blocks_and_market_data() {
    let devnet = Devnet::start(DevnetConfig {
        genesis: vec![("allo1funded".into(), 5)],
        ..fast()
    })
    .unwrap();
    let base = devnet.base_url();
    wait_for("height 5", || (devnet.height() >= 5).then_some(()));
    assert_eq!(
        ok(&base, "/cosmos/base/tendermint/v1beta1/node_info")["default_node_info"]["network"],
        "devnet-1"
    );
    assert_eq!(
        ok(&base, "/status")["result"]["node_info"]["network"],
        "devnet-1"
    );
    let latest = ok(&base, "/cosmos/base/tendermint/v1beta1/blocks/latest");
    let h: u64 = latest["block"]["header"]["height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(h >= 5);
    let b2 = ok(&base, "/cosmos/base/tendermint/v1beta1/blocks/2");
    let t2 = b2["sdk_block"]["header"]["time"].as_str().unwrap();
    assert!(t2.ends_with('Z') && t2.len() >= 20, "{t2}");
    let t2b =
        ok(&base, "/cosmos/base/tendermint/v1beta1/blocks/2")["block"]["header"]["time"].clone();
    assert_eq!(t2b, t2, "a block's time never changes");
    assert_eq!(
        get(&base, "/cosmos/base/tendermint/v1beta1/blocks/999999").0,
        404
    );
    let params = ok(&base, "/emissions/v10/params")["params"].clone();
    assert_eq!(params["registration_fee"], "1000000");
    assert_eq!(params["data_sending_fee"], "1000");
    assert_eq!(
        get(&base, "/emissions/v9/params"),
        (
            501,
            json!({"code": 12, "message": "Not Implemented", "details": []})
        )
    );
    let topic = ok(&base, "/emissions/v10/topics/67")["topic"].clone();
    assert_eq!(
        (
            topic["epoch_length"].as_str(),
            topic["worker_submission_window"].as_str()
        ),
        (Some("4"), Some("3"))
    );
    assert_eq!(
        ok(&base, "/emissions/v10/is_topic_active/67"),
        json!({"is_active": true})
    );
    assert_eq!(
        ok(&base, "/emissions/v10/worker_registered/67/allo1funded"),
        json!({"is_registered": false})
    );
    assert_eq!(
        ok(
            &base,
            "/emissions/v10/can_submit_worker_payload/67/allo1funded"
        ),
        json!({"can_submit_worker_payload": true})
    );
    let info = ok(&base, "/cosmos/auth/v1beta1/account_info/allo1funded")["info"].clone();
    assert_eq!(
        (info["account_number"].as_str(), info["sequence"].as_str()),
        (Some("1"), Some("0"))
    );
    assert_eq!(
        get(&base, "/cosmos/auth/v1beta1/account_info/allo1nobody").0,
        404
    );
    assert_eq!(
        ok(
            &base,
            "/cosmos/bank/v1beta1/balances/allo1funded/by_denom?denom=uallo"
        )["balance"]["amount"],
        "5"
    );
    assert_eq!(
        ok(&base, "/feemarket/v1/gas_price/uallo")["price"]["amount"],
        "10.000000000000000000"
    );
    let (status, v) = get(&base, "/cosmos/tx/v1beta1/txs/ABCDEF");
    assert_eq!(
        (status, v["code"].as_u64(), v["message"].as_str()),
        (404, Some(5), Some("tx not found: ABCDEF"))
    );
    let prices = ok(&base, "/tiingo/crypto/prices?tickers=btcusd&startDate=2025-08-26&endDate=2025-08-28&resampleFreq=1hour&token=x");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&prices[0]),
        ["baseCurrency", "priceData", "quoteCurrency", "ticker"]
    );
    assert_eq!(
        keys(&prices[0]["priceData"][0]),
        [
            "close",
            "date",
            "high",
            "low",
            "open",
            "tradesDone",
            "volume",
            "volumeNotional"
        ]
    );
    assert_eq!(
        prices[0]["priceData"][0]["date"],
        "2025-08-26T00:00:00+00:00"
    );
    assert_eq!(prices[0]["priceData"].as_array().unwrap().len(), 49);
    assert_eq!(
        prices,
        ok(
            &base,
            "/tiingo/crypto/prices?tickers=btcusd&startDate=2025-08-26&endDate=2025-08-28"
        )
    );
}

#[test]
fn windows_open_on_schedule_and_frames_arrive() {
    let devnet = Devnet::start(fast()).unwrap();
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, QUERY);
    let frame = ws_text(&mut ws, DEADLINE).unwrap().expect("a window frame");
    assert_eq!(frame["id"], "sub-1");
    let r = &frame["result"];
    assert_eq!(r["query"], QUERY);
    assert_eq!(r["data"]["type"], "tendermint/event/NewBlockEvents");
    let height: u64 = r["data"]["value"]["height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(height % 4, 0, "windows open every epoch_blocks");
    let events = r["data"]["value"]["events"].as_array().unwrap();
    assert!(
        events.len() > 1,
        "the frame carries every event of the block"
    );
    let opened = events
        .iter()
        .find(|e| {
            e["type"] == "emissions.v10.EventWorkerSubmissionWindowOpened"
                && e["attributes"][1]["value"] == "\"67\""
        })
        .expect("the window event");
    assert_eq!(
        opened["attributes"],
        json!([
            {"key": "nonce_block_height", "value": format!("\"{height}\""), "index": true},
            {"key": "topic_id", "value": "\"67\"", "index": true},
            {"key": "window_end_block", "value": format!("\"{}\"", height + 3), "index": true},
            {"key": "mode", "value": "EndBlock", "index": true}
        ])
    );
    assert_eq!(r["events"]["tm.event"], json!(["NewBlockEvents"]));
    let status = ok(
        &devnet.base_url(),
        "/emissions/v10/worker_submission_window_status/67?address=allo1x",
    );
    assert_eq!(status["is_registered"], false);
    let nonces = ok(
        &devnet.base_url(),
        "/emissions/v10/unfulfilled_worker_nonces/67",
    );
    assert!(nonces["nonces"]["nonces"].as_array().is_some());
    let next = ws_text(&mut ws, DEADLINE)
        .unwrap()
        .expect("the next window frame");
    let h2: u64 = next["result"]["data"]["value"]["height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        h2,
        height + 4,
        "no frame for blocks without a topic-67 window (the topic-69 noise is filtered)"
    );
    let s = stats(&devnet);
    assert_eq!(
        s["windows_opened"].as_u64().unwrap(),
        s["height"].as_u64().unwrap() / 4
    );
    let unsub =
        json!({"jsonrpc": "2.0", "method": "unsubscribe", "id": 2, "params": {"query": QUERY}});
    ws.send(Message::text(unsub.to_string())).unwrap();
    let ack = wait_for("unsubscribe ack", || {
        ws_text(&mut ws, Duration::from_millis(500))
            .unwrap()
            .filter(|v| v["id"] == 2)
    });
    assert_eq!(ack, json!({"jsonrpc": "2.0", "id": 2, "result": {}}));
}

/// A devnet whose genesis matches vector `v` (chain id, account, version, gas price).
fn vector_devnet(v: &Value) -> Devnet {
    let inp = &v["inputs"];
    let emissions = Emissions::parse(inp["emissions_version"].as_str().unwrap_or("v10")).unwrap();
    let signer = inp["signer_address"].as_str().unwrap().to_string();
    let nonce = inp["nonce_block_height"].as_u64().unwrap_or(5_931_400);
    Devnet::start(DevnetConfig {
        chain_id: inp["chain_id"].as_str().unwrap().into(),
        emissions,
        min_gas_price: if emissions == Emissions::V9 {
            250_000_000.0
        } else {
            10.0
        },
        accounts: vec![GenesisAccount {
            address: signer.clone(),
            account_number: inp["account_number"].as_u64().unwrap(),
            sequence: inp["sequence"].as_u64().unwrap(),
            balance: FUNDS,
        }],
        registered: if inp["owner"].is_null() {
            vec![signer]
        } else {
            Vec::new()
        },
        start_height: nonce - 1,
        block_ms: 50,
        window_blocks: 200,
        ..DevnetConfig::default()
    })
    .unwrap()
}

#[test]
fn vector_transactions_are_accepted_and_delivered() {
    let file = support::vectors("tx.json");
    for v in file["vectors"].as_array().unwrap() {
        let id = v["id"].as_str().unwrap();
        let devnet = vector_devnet(v);
        let base = devnet.base_url();
        let raw = hex::decode(v["outputs"]["tx_raw_bytes_hex"].as_str().unwrap()).unwrap();
        let r = broadcast(&base, &raw);
        assert_eq!(
            (r["code"].as_u64(), r["raw_log"].as_str()),
            (Some(0), Some("")),
            "{id}: {r}"
        );
        let hash = r["txhash"].as_str().unwrap();
        let t = included(&base, hash);
        assert_eq!(t["code"], 0, "{id}: {t}");
        let nonce = v["inputs"]["nonce_block_height"]
            .as_u64()
            .unwrap_or(5_931_400);
        let height: u64 = t["height"].as_str().unwrap().parse().unwrap();
        assert!(
            height > nonce && height <= nonce + 200,
            "{id}: included at {height}"
        );
        let signer = v["inputs"]["signer_address"].as_str().unwrap();
        let s = stats(&devnet);
        if v["inputs"]["owner"].is_null() {
            let nonce = v["inputs"]["nonce_block_height"].to_string();
            assert_eq!(s["accepted_by_nonce"][&nonce][signer], 1, "{id}: {s}");
            let kinds: Vec<&str> = t["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["type"].as_str())
                .collect();
            assert!(
                kinds
                    .iter()
                    .any(|k| k.ends_with(".EventInsertInfererPayload")),
                "{id}: {kinds:?}"
            );
        } else {
            assert_eq!(
                ok(
                    &base,
                    &format!("/emissions/v10/worker_registered/67/{signer}")
                )["is_registered"],
                true
            );
        }
        let seq = ok(
            &base,
            &format!("/cosmos/auth/v1beta1/account_info/{signer}"),
        )["info"]["sequence"]
            .clone();
        assert_eq!(
            seq,
            (v["inputs"]["sequence"].as_u64().unwrap() + 1).to_string(),
            "{id}"
        );
    }
}

#[test]
fn negative_vectors_are_rejected_for_their_reason() {
    let file = support::vectors("tx.json");
    let t1 = &file["vectors"][0];
    for n in file["negative_cases"].as_array().unwrap() {
        let id = n["id"].as_str().unwrap();
        let mut v = t1.clone();
        v["inputs"]["chain_id"] = n["chain_id"].clone();
        v["inputs"]["sequence"] = json!(n["sequence"].as_u64().unwrap_or(3));
        if n["chain_id"] == "allora-mainnet-1" {
            v["inputs"]["emissions_version"] = json!("v9");
        }
        let devnet = vector_devnet(&v);
        let base = devnet.base_url();
        let raw = hex::decode(n["tx_raw_bytes_hex"].as_str().unwrap()).unwrap();
        let r = broadcast(&base, &raw);
        let (code, reason) = match id {
            "neg_tx_high_s_signature" => (4, "tx_signature"),
            "neg_tx_v9_inference_with_values_field" => (2, "decode"),
            "neg_tx_bundle_signed_over_noncanonical_value" => {
                assert_eq!(
                    r["code"], 0,
                    "the tx signature is fine, CheckTx admits it: {r}"
                );
                let t = included(&base, r["txhash"].as_str().unwrap());
                assert_eq!(
                    (t["code"].as_u64(), t["codespace"].as_str()),
                    (Some(4), Some("sdk")),
                    "{t}"
                );
                assert!(t["raw_log"].as_str().unwrap().contains("signature"), "{t}");
                assert_eq!(stats(&devnet)["rejected"], json!({"bundle_invalid": 1}));
                assert_eq!(stats(&devnet)["accepted"], 0);
                continue;
            }
            other => panic!("unknown negative case {other}"),
        };
        assert_eq!(
            (r["code"].as_u64(), r["codespace"].as_str()),
            (Some(code), Some("sdk")),
            "{id}: {r}"
        );
        assert_eq!(stats(&devnet)["rejected"], json!({reason: 1}), "{id}");
    }
}

struct Worker {
    wallet: Wallet,
    base: String,
    number: u64,
}

impl Worker {
    fn params(&self, sequence: u64, fee: u128) -> TxParams {
        TxParams {
            chain_id: "devnet-1".into(),
            account_number: self.number,
            sequence,
            gas_limit: 300_000,
            fee_amount: fee,
            memo: String::new(),
            timeout_height: 0,
            emissions: Emissions::V10,
        }
    }

    fn payload(&self, nonce: u64, sequence: u64) -> SignedTx {
        let p = Payload {
            topic_id: 67,
            nonce: nonce as i64,
            value: -0.0123,
            forecasts: Vec::new(),
        };
        tx::insert_payload_tx(&self.wallet, &p, &self.params(sequence, 3_000_000)).unwrap()
    }

    fn register(&self, sequence: u64) -> SignedTx {
        tx::register_tx(&self.wallet, 67, &self.params(sequence, 3_000_000)).unwrap()
    }

    fn open_nonce(&self) -> u64 {
        wait_for("an open window", || {
            let s = ok(
                &self.base,
                "/emissions/v10/worker_submission_window_status/67",
            );
            let end: u64 = s["window_end_block"].as_str()?.parse().ok()?;
            let h: u64 = ok(&self.base, "/cosmos/base/tendermint/v1beta1/blocks/latest")["block"]
                ["header"]["height"]
                .as_str()?
                .parse()
                .ok()?;
            (s["is_open"] == true && end >= h + 10)
                .then(|| s["current_nonce_block_height"].as_str()?.parse().ok())?
        })
    }
}

fn worker_devnet() -> (Devnet, Worker) {
    let (_, wallet) = throwaway_wallet(9).unwrap();
    let devnet = Devnet::start(DevnetConfig {
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        epoch_blocks: 40,
        window_blocks: 35,
        ..fast()
    })
    .unwrap();
    let base = devnet.base_url();
    let worker = Worker {
        wallet,
        base,
        number: 1,
    };
    (devnet, worker)
}

#[test]
fn register_submit_duplicate_and_msg_errors_in_check_order() {
    let (devnet, w) = worker_devnet();
    let nonce = w.open_nonce();
    let early = broadcast(&w.base, &w.payload(nonce, 0).tx_raw);
    let reg = broadcast(&w.base, &w.register(1).tx_raw);
    let good = broadcast(&w.base, &w.payload(nonce, 2).tx_raw);
    let dup = broadcast(&w.base, &w.payload(nonce, 3).tx_raw);
    for r in [&early, &reg, &good, &dup] {
        assert_eq!(r["code"], 0, "CheckTx does not run message checks: {r}");
    }
    let early = included(&w.base, early["txhash"].as_str().unwrap());
    assert_eq!(
        (early["code"].as_u64(), early["codespace"].as_str()),
        (Some(13), Some("emissions")),
        "{early}"
    );
    assert!(early["raw_log"]
        .as_str()
        .unwrap()
        .contains("worker is not registered in this topic"));
    assert_eq!(
        included(&w.base, reg["txhash"].as_str().unwrap())["code"],
        0
    );
    let good = included(&w.base, good["txhash"].as_str().unwrap());
    assert_eq!(good["code"], 0, "{good}");
    assert_eq!(good["gas_wanted"], "300000");
    let dup = included(&w.base, dup["txhash"].as_str().unwrap());
    assert!(
        dup["raw_log"]
            .as_str()
            .unwrap()
            .contains("inference already submitted"),
        "{dup}"
    );
    assert_ne!(dup["code"], 0);
    let latest = ok(
        &w.base,
        &format!(
            "/emissions/v10/topics/67/workers/{}/latest_input_inference",
            w.wallet.address()
        ),
    );
    assert_eq!(
        latest["latest_input_inference"]["values"][0]["value"],
        "-0.0123"
    );
    assert_eq!(
        latest["latest_input_inference"]["block_height"],
        nonce.to_string()
    );
    // 4 fees of 3 000 000, the registration fee and one data-sending fee.
    let balance = ok(
        &w.base,
        &format!(
            "/cosmos/bank/v1beta1/balances/{}/by_denom?denom=uallo",
            w.wallet.address()
        ),
    );
    assert_eq!(
        balance["balance"]["amount"],
        (FUNDS - 4 * 3_000_000 - 1_000_000 - 1_000).to_string()
    );
    let s = stats(&devnet);
    assert_eq!(s["accepted"], 1);
    assert_eq!(
        s["accepted_by_nonce"],
        json!({nonce.to_string(): {w.wallet.address(): 1}})
    );
    assert_eq!(s["duplicates"], 1);
    assert_eq!(s["rejected"], json!({"not_registered": 1, "duplicate": 1}));
    // CheckTx errors: sequence, fee, timeout height, re-broadcast of pending bytes.
    let r = broadcast(&w.base, &w.payload(nonce, 9).tx_raw);
    assert_eq!(r["code"], 32);
    assert_eq!(
        r["raw_log"],
        "account sequence mismatch, expected 4, got 9: incorrect account sequence"
    );
    let cheap = tx::insert_payload_tx(
        &w.wallet,
        &Payload {
            topic_id: 67,
            nonce: nonce as i64,
            value: 0.5,
            forecasts: vec![],
        },
        &w.params(4, 100),
    )
    .unwrap();
    let r = broadcast(&w.base, &cheap.tx_raw);
    assert_eq!(
        (r["code"].as_u64(), r["raw_log"].as_str()),
        (
            Some(13),
            Some("insufficient fee; got: 100uallo required: 3000000uallo: insufficient fee")
        )
    );
    let late = tx::insert_payload_tx(
        &w.wallet,
        &Payload {
            topic_id: 67,
            nonce: nonce as i64,
            value: 0.5,
            forecasts: vec![],
        },
        &TxParams {
            timeout_height: 2,
            ..w.params(4, 3_000_000)
        },
    )
    .unwrap();
    assert_eq!(broadcast(&w.base, &late.tx_raw)["code"], 30);
    let s = stats(&devnet);
    assert_eq!(s["rejected"]["sequence_mismatch"], 1);
    assert_eq!(s["rejected"]["insufficient_fee"], 1);
    assert_eq!(s["rejected"]["timeout_height"], 1);
}

#[test]
fn chain_faults_fire_once() {
    let (devnet, w) = worker_devnet();
    devnet.inject(Fault::SequenceMismatchOnce);
    let r = broadcast(&w.base, &w.register(0).tx_raw);
    assert_eq!(
        r["raw_log"],
        "account sequence mismatch, expected 1, got 0: incorrect account sequence"
    );
    let info = ok(
        &w.base,
        &format!("/cosmos/auth/v1beta1/account_info/{}", w.wallet.address()),
    );
    assert_eq!(
        info["info"]["sequence"], "1",
        "the account moved on, as if another client used the key"
    );
    devnet.inject(Fault::InsufficientFeeOnce);
    let reg = w.register(1);
    let r = broadcast(&w.base, &reg.tx_raw);
    assert_eq!(
        (r["code"].as_u64(), r["codespace"].as_str()),
        (Some(13), Some("sdk")),
        "{r}"
    );
    devnet.inject(Fault::HoldInMempool(4));
    let h0 = devnet.height();
    let r = broadcast(&w.base, &reg.tx_raw);
    assert_eq!(
        r["code"], 0,
        "the same bytes pass once the fault is spent: {r}"
    );
    let again = broadcast(&w.base, &reg.tx_raw);
    assert_eq!(
        (again["code"].as_u64(), again["raw_log"].as_str()),
        (Some(19), Some("tx already in mempool"))
    );
    let t = included(&w.base, r["txhash"].as_str().unwrap());
    let height: u64 = t["height"].as_str().unwrap().parse().unwrap();
    assert!(
        height >= h0 + 5,
        "held 4 extra blocks: broadcast after {h0}, included at {height}"
    );
    devnet.inject(Fault::SkipNextWindow);
    let first = devnet.height();
    let s = wait_for("two epochs", || {
        let s = devnet.stats();
        (s["height"].as_u64()? >= first + 80).then_some(s)
    });
    assert_eq!(
        s["windows_opened"].as_u64().unwrap() + 1,
        s["height"].as_u64().unwrap() / 40,
        "one window skipped: {s}"
    );
    devnet.inject(Fault::WrongChainId(true));
    let network = |base: &str| {
        ok(base, "/cosmos/base/tendermint/v1beta1/node_info")["default_node_info"]["network"]
            .clone()
    };
    assert_eq!(network(&w.base), "devnet-1-wrong");
    assert_eq!(
        ok(&w.base, "/status")["result"]["node_info"]["network"],
        "devnet-1-wrong"
    );
    devnet.inject(Fault::WrongChainId(false));
    assert_eq!(network(&w.base), "devnet-1");
}

#[test]
fn http_faults_hit_one_listener_and_count_down() {
    let devnet = Devnet::start(fast()).unwrap();
    let main = devnet.base_url();
    let extra = devnet.extra_listener().unwrap();
    assert_ne!(main, extra);
    assert_eq!(
        ok(&extra, "/emissions/v10/topics/67"),
        ok(&main, "/emissions/v10/topics/67")
    );
    let path = "/cosmos/base/tendermint/v1beta1/node_info";
    let call = |base: &str| http(base, "GET", path, "", DEADLINE).unwrap();
    devnet.inject_on(&extra, Fault::Http500(2));
    assert_eq!(call(&main).0, 200, "the other listener is unaffected");
    assert_eq!(call(&extra).0, 500);
    assert_eq!(call(&extra).0, 500);
    assert_eq!(call(&extra).0, 200);
    devnet.inject_on(&extra, Fault::HtmlPage(1));
    let (status, ctype, body) = call(&extra);
    assert_eq!((status, ctype.as_str()), (502, "text/html"));
    assert!(body.contains("<html>"));
    devnet.inject_on(&extra, Fault::EmptyBody(1));
    assert_eq!(
        call(&extra),
        (200, "application/json".to_string(), String::new())
    );
    devnet.inject(Fault::Http500(1));
    assert_eq!((call(&main).0, call(&extra).0), (500, 500));
    devnet.inject_on(&main, Fault::Hang(1));
    let started = Instant::now();
    let hung = http(&main, "GET", path, "", Duration::from_millis(300));
    assert!(
        hung.is_err() || hung.as_ref().unwrap().0 == 0,
        "no answer: {hung:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(call(&main).0, 200, "a hung request does not block others");
    assert_eq!(ok(&main, "/devnet/stats")["rejected"], json!({}));
}

#[test]
fn websocket_drop_and_silence() {
    let devnet = Devnet::start(fast()).unwrap();
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, QUERY);
    devnet.inject(Fault::DropWebsocket);
    let ended = wait_for("the drop", || {
        ws_text(&mut ws, Duration::from_millis(100)).err()
    });
    assert!(!ended.is_empty());
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, QUERY);
    assert!(
        ws_text(&mut ws, DEADLINE).unwrap().is_some(),
        "a new connection gets frames"
    );
    devnet.inject(Fault::SilentWebsocket);
    let injected = devnet.height();
    while devnet.height() < injected + 3 {
        // Drain what the server sent before it noticed the fault.
        let _ = ws_text(&mut ws, Duration::from_millis(10));
    }
    let opened = devnet.stats()["windows_opened"].as_u64().unwrap();
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    let mut got = Vec::new();
    while devnet.stats()["windows_opened"].as_u64().unwrap() < opened + 2 {
        match ws.read() {
            Ok(m) => got.push(m),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("a silent connection stays open: {e}"),
        }
    }
    assert!(
        got.is_empty(),
        "silent: no frames, no pongs, no pings: {got:?}"
    );
    let mut fresh = ws_connect(&devnet.ws_url());
    subscribe(&mut fresh, QUERY);
    assert!(ws_text(&mut fresh, DEADLINE).unwrap().is_some());
}

#[test]
fn shutdown_frees_the_port() {
    let devnet = Devnet::start(fast()).unwrap();
    let base = devnet.base_url();
    let _ws = ws_connect(&devnet.ws_url());
    devnet.inject(Fault::Hang(1));
    let hung = std::thread::spawn({
        let base = base.clone();
        move || http(&base, "GET", "/status", "", DEADLINE)
    });
    let started = Instant::now();
    devnet.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    let answer = hung.join().unwrap();
    assert!(
        answer.map_or(true, |(status, _, _)| status == 0),
        "the hung request got no answer"
    );
    let addr = base.trim_start_matches("http://");
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens on {addr}"
    );
    std::net::TcpListener::bind(addr).expect("the port is free again");
}

#[test]
fn devnet_command_prints_settings_and_stops_on_sigterm() {
    let dir = support::temp_dir("devnet-cmd");
    let mut child = Child(
        Command::new(support::bin())
            .current_dir(&dir)
            .args([
                "devnet",
                "--port",
                "0",
                "--block-ms",
                "50",
                "--epoch-blocks",
                "5",
                "--fault",
                "http500:1",
            ])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start allora-worker devnet"),
    );
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.0.stdout.take().unwrap());
    while !lines
        .last()
        .is_some_and(|l: &String| l.starts_with("MNEMONIC="))
    {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        lines.push(line.trim_end().to_string());
    }
    let value = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing in {lines:?}"))
            .to_string()
    };
    assert_eq!(value("ALLORA_CHAIN_ID"), "devnet-1");
    let base = value("ALLORA_LCD_URLS");
    assert_eq!(value("ALLORA_RPC_URLS"), base);
    assert_eq!(
        value("ALLORA_WS_URL"),
        format!("{}/websocket", base.replace("http://", "ws://"))
    );
    assert_eq!(value("TIINGO_URL"), base);
    assert_eq!(value("TIINGO_API_KEY"), "devnet");
    let mnemonic = value("MNEMONIC");
    assert!(mnemonic.starts_with('"') && mnemonic.ends_with('"'));
    assert_eq!(mnemonic.trim_matches('"').split(' ').count(), 24);
    let comment = lines
        .iter()
        .position(|l| l == "# throwaway devnet mnemonic: never fund it on a real chain");
    assert_eq!(
        comment.map(|i| i + 1),
        lines.iter().position(|l| l.starts_with("MNEMONIC="))
    );
    assert_eq!(get(&base, "/status").0, 500, "the --fault flag is applied");
    let addr = value("ALLORA_WALLET_ADDR");
    let balance = ok(
        &base,
        &format!("/cosmos/bank/v1beta1/balances/{addr}/by_denom?denom=uallo"),
    );
    assert_ne!(
        balance["balance"]["amount"], "0",
        "the throwaway account is funded"
    );
    assert_eq!(
        ok(
            &base,
            &format!("/emissions/v10/worker_registered/67/{addr}")
        )["is_registered"],
        false
    );
    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_for("the devnet to exit", || child.0.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
}

/// A child process that is killed if the test fails before it exits.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
