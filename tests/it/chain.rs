//! The chain client against the devnet (register, 20 windows end to end,
//! each fault once, `check`) and the mutation fuzz loop over every response
//! decoder in `logic::chain_json`.

use serde_json::Value;

use allora_worker::logic::chain_json as cj;
use allora_worker::logic::emissions::Emissions;

use crate::support;
use crate::support::Rng;

/// Runs the decoder named `name` on `text`; only panics matter here.
fn decode(name: &str, text: &str) -> bool {
    match name {
        "topic" => cj::topic(text).is_ok(),
        "nonces" => cj::nonces(text).is_ok(),
        "window_status" => cj::window_status(text).is_ok(),
        "account" => cj::account(text).is_ok(),
        "balance" => cj::balance(text).is_ok(),
        "gas_price" => cj::gas_price(text).is_ok(),
        "params" => cj::params(text).is_ok(),
        "node_network" => cj::node_network(text).is_ok(),
        "block_header" => cj::block_header(text).is_ok(),
        "rpc_status" => cj::rpc_status(text).is_ok(),
        "simulated_gas" => cj::simulated_gas(text).is_ok(),
        "tx_response" | "broadcast_rejected" => cj::tx_response(text).is_ok(),
        "latest_inference" => cj::latest_inference(text).is_ok(),
        "flag" => cj::flag(text, "is_registered").is_ok(),
        "api_error" => cj::api_error(text).is_some(),
        "ws_event" | "ws_ack" => cj::ws_windows(text, Emissions::V10, &[67]).is_ok(),
        other => panic!("no decoder for fixture {other}"),
    }
}

/// Every object member of `v`, as paths.
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(k.clone());
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(i.to_string());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn parent_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for k in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(k)?,
            Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A fixture: its decoder name, value, text and member paths.
struct Sample {
    name: String,
    value: Value,
    text: String,
    paths: Vec<Vec<String>>,
}

fn mutate(s: &Sample, rng: &mut Rng) -> String {
    let (original, text) = (&s.value, s.text.clone());
    match rng.below(4) {
        0 => text[..text.len() * rng.below(100) / 100].to_string(),
        1 => {
            let mut bytes = text.into_bytes();
            for _ in 0..=rng.below(3) {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        kind => {
            let mut v = original.clone();
            if s.paths.is_empty() {
                return text;
            }
            let path = &s.paths[rng.below(s.paths.len())];
            let (last, parent) = path.split_last().expect("paths are non-empty");
            if let Some(Value::Object(m)) = parent_mut(&mut v, parent) {
                if kind == 2 {
                    m.remove(last);
                } else {
                    let replacements = [
                        Value::Null,
                        Value::Bool(true),
                        serde_json::json!(-1),
                        serde_json::json!(1.5e300),
                        serde_json::json!("99999999999999999999999999999999999999999"),
                        serde_json::json!("-5"),
                        serde_json::json!(""),
                        serde_json::json!([1, "a"]),
                        serde_json::json!({"x": 1}),
                    ];
                    m.insert(
                        last.clone(),
                        replacements[rng.below(replacements.len())].clone(),
                    );
                }
            }
            v.to_string()
        }
    }
}

#[test]
fn decoders_survive_mutation_fuzz() {
    let fixtures = support::vectors("chain_responses.json");
    let samples: Vec<Sample> = fixtures
        .as_object()
        .expect("fixture file is an object")
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| {
            let mut all = Vec::new();
            paths(v, &mut Vec::new(), &mut all);
            Sample {
                name: k.clone(),
                value: v.clone(),
                text: v.to_string(),
                paths: all,
            }
        })
        .collect();
    for s in &samples {
        assert!(decode(&s.name, &s.text), "pristine {} must decode", s.name);
    }
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let (mut cases, mut decoded) = (0u64, 0u64);
    while cases < 100_000 {
        for s in &samples {
            decoded += u64::from(decode(&s.name, &mutate(s, &mut rng)));
            cases += 1;
        }
    }
    // Mutations must be real: most of them break the response.
    assert!(
        decoded > 0 && decoded < cases * 3 / 4,
        "{decoded} of {cases} still decoded"
    );
}

// ---------------------------------------------------------------------------
// Against the devnet.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use allora_worker::agent::submit_blocking;
use allora_worker::config::{self, Config, Sources};
use allora_worker::devnet::{Devnet, DevnetConfig, Fault};
use allora_worker::error::Error;
use allora_worker::io::chain::{Client, TxKind};
use allora_worker::io::ws::{WsClient, WsEvent};
use allora_worker::logic::secret::Secret;
use allora_worker::logic::submission::{Action, Event, Limits, Outcome, Submission, Tx};
use allora_worker::logic::tx::Payload;
use allora_worker::logic::wallet::Wallet;

const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const ADDR: &str = "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv";
const FUNDS: u128 = 1_000_000_000_000;

fn wallet() -> Wallet {
    Wallet::from_mnemonic(&Secret::new(MNEMONIC.to_string())).expect("test mnemonic is valid")
}

fn devnet(registered: bool, tweak: impl FnOnce(&mut DevnetConfig)) -> Devnet {
    let mut cfg = DevnetConfig {
        block_ms: 50,
        epoch_blocks: 30,
        window_blocks: 25,
        genesis: vec![(ADDR.to_string(), FUNDS)],
        registered: if registered {
            vec![ADDR.to_string()]
        } else {
            vec![]
        },
        ..DevnetConfig::default()
    };
    tweak(&mut cfg);
    Devnet::start(cfg).expect("devnet starts")
}

/// The environment a worker uses against `dev` (LCD list `lcd`).
fn env(dev: &Devnet, lcd: &str) -> Vec<(String, String)> {
    [
        ("ALLORA_CHAIN_ID", "devnet-1"),
        ("ALLORA_LCD_URLS", lcd),
        ("ALLORA_RPC_URLS", &dev.base_url()),
        ("ALLORA_WS_URL", &dev.ws_url()),
        ("ALLORA_GAS_PRICE", "10"),
        ("ALLORA_CONNECT_TIMEOUT", "1s"),
        ("ALLORA_READ_TIMEOUT", "1s"),
        ("ALLORA_TX_TIMEOUT", "3s"),
        ("ALLORA_WS_SILENCE", "1s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn config_for(dev: &Devnet, lcd: &str) -> Config {
    config::build(&Sources {
        env: env(dev, lcd),
        ..Sources::default()
    })
    .expect("test config is valid")
}

fn client(dev: &Devnet) -> Client {
    let mut c = Client::new(&config_for(dev, &dev.base_url())).expect("client");
    c.probe().expect("probe");
    c
}

fn payload(nonce: i64, value: f64) -> Payload {
    Payload {
        topic_id: 67,
        nonce,
        value,
        forecasts: vec![],
    }
}

/// Waits for an open window with at least `margin` blocks left; (nonce, end).
fn open_window(c: &mut Client, margin: u64) -> (i64, u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let s = c.window_status(ADDR).expect("window status");
        let h = c.latest_height().expect("height");
        if s.is_open && s.window_end >= h + margin {
            return (s.current_nonce, s.window_end);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no window opened within 20 s");
}

/// How many times the devnet accepted our payload for `nonce`.
fn accepted(dev: &Devnet, nonce: i64) -> u64 {
    dev.stats()["accepted_by_nonce"][nonce.to_string()][ADDR]
        .as_u64()
        .unwrap_or(0)
}

fn submit_one(dev: &Devnet, c: &mut Client) -> (i64, Outcome) {
    let (nonce, end) = open_window(c, 5);
    let out = submit_blocking(
        c,
        &wallet(),
        TxKind::Payload(&payload(nonce, 0.01)),
        Some(end),
    );
    let out = out.expect("submit returns an outcome");
    let _ = dev;
    (nonce, out)
}

fn assert_included_once(dev: &Devnet, nonce: i64, out: &Outcome) {
    assert!(matches!(out, Outcome::Included { .. }), "{out:?}");
    assert_eq!(accepted(dev, nonce), 1, "stats: {}", dev.stats());
}

#[test]
fn register_then_twenty_windows_end_to_end() {
    let dev = devnet(false, |cfg| {
        cfg.epoch_blocks = 10;
        cfg.window_blocks = 8;
    });
    let dir = support::temp_dir("chain-register");
    let mut envs = env(&dev, &dev.base_url());
    envs.push(("MNEMONIC".into(), MNEMONIC.into()));
    let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = support::run(&dir, &["register"], &pairs);
    let (stdout, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "costs a registration fee of 1 ALLO (1000000 uallo) plus a transaction fee of about "
        ) && stdout.contains(" uallo)\nnothing paid: run allora-worker register --yes"),
        "{stdout}{stderr}"
    );
    assert!(!stderr.contains("[ERROR]"), "{stderr}");
    assert!(!dir.join("logs").exists(), "nothing paid, no event");
    let out = support::run(&dir, &["register", "--yes"], &pairs);
    let (stdout, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("registered allo1"), "{stdout}");
    let events = std::fs::read_to_string(dir.join("logs/events.jsonl")).unwrap();
    assert!(events.contains("\"event\":\"registered\""), "{events}");
    assert!(!dir.join("logs/worker.log").exists());
    let out = support::run(&dir, &["register", "--yes"], &pairs);
    assert!(support::texts(&out).0.contains("already registered"));
    assert_eq!(out.status.code(), Some(0));

    let mut c = client(&dev);
    let mut ws = WsClient::connect(
        &dev.ws_url(),
        &[67],
        Emissions::V10,
        Duration::from_secs(1),
        Duration::from_secs(5),
    )
    .expect("websocket connects");
    let mut done = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.len() < 20 && Instant::now() < deadline {
        let window = match ws
            .next_event(Instant::now() + Duration::from_secs(2))
            .expect("ws")
        {
            Some(WsEvent::Window(w)) => Some((w.nonce, w.window_end)),
            Some(WsEvent::Connected) | None => {
                let s = c.window_status(ADDR).expect("status");
                s.is_open.then_some((s.current_nonce, s.window_end))
            }
        };
        // A window found in its last blocks may close before a loaded CI
        // machine delivers (the devnet closes it in the EndBlock of nonce+W).
        let Some((nonce, end)) =
            window.filter(|(n, e)| !done.contains(n) && *e >= dev.height() + 4)
        else {
            continue;
        };
        let value = 0.001 * nonce as f64;
        let out = submit_blocking(
            &mut c,
            &wallet(),
            TxKind::Payload(&payload(nonce, value)),
            Some(end),
        );
        assert!(
            matches!(out, Ok(Outcome::Included { .. })),
            "nonce {nonce}: {out:?}"
        );
        done.insert(nonce);
    }
    assert_eq!(done.len(), 20, "submitted {done:?}");
    let stats = dev.stats();
    for n in &done {
        assert_eq!(accepted(&dev, *n), 1, "nonce {n}: {stats}");
    }
    assert_eq!(stats["duplicates"], 0, "{stats}");
    let latest = c
        .latest_inference(ADDR)
        .expect("latest")
        .expect("an inference");
    assert!(done.contains(&latest.block_height));
}

#[test]
fn sequence_mismatch_is_resigned_once() {
    let dev = devnet(true, |_| {});
    let mut c = client(&dev);
    dev.inject(Fault::SequenceMismatchOnce);
    let (nonce, out) = submit_one(&dev, &mut c);
    assert_included_once(&dev, nonce, &out);
}

#[test]
fn insufficient_fee_raises_the_price() {
    let dev = devnet(true, |_| {});
    let mut c = client(&dev);
    dev.inject(Fault::InsufficientFeeOnce);
    let (nonce, out) = submit_one(&dev, &mut c);
    assert_included_once(&dev, nonce, &out);
}

#[test]
fn tx_held_in_mempool_is_polled_until_included() {
    let dev = devnet(true, |_| {});
    let mut c = client(&dev);
    dev.inject(Fault::HoldInMempool(3));
    let (nonce, out) = submit_one(&dev, &mut c);
    assert_included_once(&dev, nonce, &out);
}

#[test]
fn duplicate_submission_counts_as_done() {
    let dev = devnet(true, |_| {});
    let mut c = client(&dev);
    let (nonce, end) = open_window(&mut c, 6);
    let w = wallet();
    let first = submit_blocking(&mut c, &w, TxKind::Payload(&payload(nonce, 0.5)), Some(end));
    assert!(matches!(first, Ok(Outcome::Included { .. })), "{first:?}");
    let second = submit_blocking(
        &mut c,
        &w,
        TxKind::Payload(&payload(nonce, 0.25)),
        Some(end),
    );
    assert!(matches!(second, Ok(Outcome::Served { .. })), "{second:?}");
    assert_eq!(accepted(&dev, nonce), 1);
}

/// Signs a payload tx for `nonce` with timeout `end` (not broadcast).
fn sign(c: &mut Client, nonce: i64, end: u64) -> Tx {
    let w = wallet();
    match c.sign(&w, TxKind::Payload(&payload(nonce, 0.5)), end, 0, None) {
        Ok(Event::Signed(tx)) => tx,
        other => panic!("sign: {other:?}"),
    }
}

#[test]
fn window_closed_before_broadcast_is_dropped() {
    let dev = devnet(true, |_| {});
    let mut c = client(&dev);
    let (nonce, end) = open_window(&mut c, 1);
    let tx = sign(&mut c, nonce, end);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.latest_height().expect("height") <= end && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut sub = Submission::new(Limits {
        window_end: Some(end),
        poll_ms: 50,
    });
    sub.on(Event::Tick { height: end });
    sub.on(Event::Signed(tx.clone()));
    let answer = c.broadcast(&tx);
    match sub.on(answer).action {
        Action::Finish(Outcome::Dropped { reason, .. }) => assert!(
            reason.contains("window")
                || reason.contains("nonce closed")
                || reason.contains("timeout"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(accepted(&dev, nonce), 0);
}

#[test]
fn unknown_broadcast_outcome_resends_the_same_bytes() {
    let dev = devnet(true, |_| {});
    let mut c = client(&dev);
    let (nonce, end) = open_window(&mut c, 6);
    let tx = sign(&mut c, nonce, end);
    // The first copy reaches the mempool and is held there; our own
    // broadcast then hangs past the read timeout.
    dev.inject(Fault::HoldInMempool(4));
    let direct = ureq::post(format!("{}/cosmos/tx/v1beta1/txs", dev.base_url()))
        .send(
            serde_json::json!({"tx_bytes": tx.bytes_b64, "mode": "BROADCAST_MODE_SYNC"})
                .to_string(),
        )
        .expect("direct broadcast");
    assert_eq!(direct.status().as_u16(), 200);
    dev.inject(Fault::Hang(1));
    let lost = c.broadcast(&tx);
    assert!(matches!(lost, Event::Lost(_)), "{lost:?}");
    let mut sub = Submission::new(Limits {
        window_end: Some(end),
        poll_ms: 50,
    });
    sub.on(Event::Tick { height: 0 });
    sub.on(Event::Signed(tx.clone()));
    let mut step = sub.on(lost);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let event = match &step.action {
            Action::Finish(_) => break,
            Action::Later(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Event::Tick {
                    height: c.latest_height().expect("height"),
                }
            }
            Action::Broadcast(again) => {
                assert_eq!(again, &tx, "only the same bytes are sent again");
                c.broadcast(again)
            }
            Action::Lookup(hashes) => c.lookup(hashes, ADDR, TxKind::Payload(&payload(nonce, 0.5))),
            Action::Sign { .. } => panic!("re-signed a nonce whose tx may land"),
        };
        step = sub.on(event);
    }
    assert!(
        matches!(&step.action, Action::Finish(Outcome::Included { tx_hash, .. }) if *tx_hash == tx.hash),
        "{step:?}"
    );
    assert_eq!(sub.signed.len(), 1);
    assert_eq!(accepted(&dev, nonce), 1, "{}", dev.stats());
    assert_eq!(dev.stats()["duplicates"], 0);
}

#[test]
fn html_page_and_http_500_on_the_first_endpoint_fail_over() {
    let dev = devnet(true, |_| {});
    let first = dev.extra_listener().expect("second listener");
    let cfg = config_for(&dev, &format!("{first},{}", dev.base_url()));
    let mut c = Client::new(&cfg).expect("client");
    c.probe().expect("probe");
    dev.inject_on(&first, Fault::HtmlPage(1));
    assert_eq!(c.topic().expect("topic after an HTML page").id, 67);
    // The first endpoint now cools down; a fresh client meets the 500.
    let mut c = Client::new(&cfg).expect("client");
    dev.inject_on(&first, Fault::Http500(1));
    c.probe().expect("probe after a 500");
    dev.inject(Fault::EmptyBody(1)); // once on each listener
    match c.topic() {
        Err(Error::Http {
            endpoint,
            path,
            problem,
        }) => {
            assert!(path.starts_with("/emissions/v10/topics/67"), "{path}");
            assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
            assert!(problem.contains("not JSON"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    let (nonce, out) = submit_one(&dev, &mut c);
    assert_included_once(&dev, nonce, &out);
}

fn next_window(ws: &mut WsClient, within: Duration) -> Vec<WsEvent> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(e) = ws.next_event(deadline).expect("next event") {
        seen.push(e);
        if matches!(e, WsEvent::Window(_)) {
            break;
        }
    }
    seen
}

#[test]
fn websocket_drop_and_silence_reconnect_and_resubscribe() {
    let dev = devnet(true, |_| {});
    let mut ws = WsClient::connect(
        &dev.ws_url(),
        &[67],
        Emissions::V10,
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .expect("websocket connects");
    let seen = next_window(&mut ws, Duration::from_secs(10));
    assert_eq!(seen.first(), Some(&WsEvent::Connected));
    assert!(
        matches!(seen.last(), Some(WsEvent::Window(w)) if w.topic_id == 67 && w.window_end > w.nonce as u64)
    );
    dev.inject(Fault::DropWebsocket);
    let seen = next_window(&mut ws, Duration::from_secs(10));
    assert!(seen.contains(&WsEvent::Connected), "{seen:?}");
    assert!(matches!(seen.last(), Some(WsEvent::Window(_))), "{seen:?}");
    assert_eq!(ws.connects, 2);
    dev.inject(Fault::SilentWebsocket);
    let seen = next_window(&mut ws, Duration::from_secs(10));
    assert!(seen.contains(&WsEvent::Connected), "{seen:?}");
    assert!(matches!(seen.last(), Some(WsEvent::Window(_))), "{seen:?}");
    assert_eq!(ws.connects, 3);
}

fn run_check(dev: &Devnet, label: &str) -> (Option<i32>, String, String) {
    let dir = support::temp_dir(label);
    let mut envs = env(dev, &dev.base_url());
    envs.push(("MNEMONIC".into(), MNEMONIC.into()));
    envs.push(("TIINGO_URL".into(), dev.market_url()));
    envs.push(("TIINGO_API_KEY".into(), "test-key".into()));
    let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = support::run(&dir, &["check"], &pairs);
    let (stdout, stderr) = support::texts(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn check_is_clean_on_a_healthy_devnet() {
    let dev = devnet(true, |_| {});
    let (code, stdout, stderr) = run_check(&dev, "chain-check");
    assert!(!stdout.contains('✗'), "{stdout}{stderr}");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for name in [
        "chain id: devnet-1",
        "emissions version: v10",
        "registered: yes",
        "whitelisted: yes",
        "balance:",
        "clock:",
        "data dir:",
    ] {
        assert!(stdout.contains(name), "{name} missing in {stdout}");
    }
    assert!(!stdout.contains("test-key") && !stderr.contains("test-key"));
    assert!(!stdout.contains("abandon") && !stderr.contains("abandon"));
}

#[test]
fn check_names_both_chain_ids_when_they_differ() {
    let dev = devnet(true, |_| {});
    dev.inject(Fault::WrongChainId(true));
    let (code, stdout, stderr) = run_check(&dev, "chain-check-wrong");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("✗ chain id"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("\"devnet-1\"") && line.contains("devnet-1-wrong"),
        "{line}"
    );
}

#[test]
fn probe_refuses_a_wrong_chain_id() {
    let dev = devnet(true, |_| {});
    dev.inject(Fault::WrongChainId(true));
    let mut c = Client::new(&config_for(&dev, &dev.base_url())).expect("client");
    let e = c.probe().unwrap_err().to_string();
    assert!(
        e.contains("devnet-1-wrong") && e.contains("\"devnet-1\" is configured"),
        "{e}"
    );
}

#[test]
fn unfunded_account_names_the_address_and_the_faucet() {
    let dev = devnet(true, |_| {});
    let mut c = client(&dev);
    let other = "allo1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu";
    let e = c.account(other).unwrap_err().to_string();
    assert!(
        e.contains(other) && e.contains("faucet.testnet.allora.run"),
        "{e}"
    );
    assert_eq!(c.account(ADDR).expect("funded account").sequence, 0);
    assert_eq!(c.balance(ADDR).expect("balance"), FUNDS);
}
