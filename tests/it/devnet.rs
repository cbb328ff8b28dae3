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

mod chain_rules; // the chain's codes, order and shapes: late tx, Validate codes, whitelist, labels, admission, blocks, txs, RPC
mod command; // `allora-worker devnet` as a process: its settings lines and SIGTERM
mod control; // /devnet/fault over HTTP (inject, list, clear) and reply-lost
mod faults; // chain, HTTP and websocket faults, shutdown
mod keepalive; // websocket pings, the read wait, 5 subscriptions per client, counted ws faults
mod lifecycle; // halt:SECS, a restart on --state FILE, upgrade-v10-at:H
mod scheduler; // --scheduler seconds: windows by block time, the epochs route, 404 in block mode
mod strict; // the chain's strictness: tx dump, simulate 500, tx cache, lost replies, fees, gas
mod vectors; // the shared vector transactions through CheckTx and DeliverTx

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

/// The event types of a `tx_response`.
fn event_kinds(tx_response: &Value) -> Vec<&str> {
    tx_response["events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["type"].as_str()).collect())
        .unwrap_or_default()
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

    /// The open window's nonce once at least `blocks` blocks remain in it.
    fn open_nonce_within(&self, blocks: u64) -> u64 {
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
            (s["is_open"] == true && end >= h + blocks)
                .then(|| s["current_nonce_block_height"].as_str()?.parse().ok())?
        })
    }

    fn open_nonce(&self) -> u64 {
        self.open_nonce_within(10)
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
    assert_eq!(
        s["included_by_nonce"],
        json!({nonce.to_string(): {w.wallet.address(): 3}}),
        "every included insert counts, failed ones too"
    );
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
