//! The submission machine against the strict devnet (issue 13): the
//! lost-reply scenario in every combination of `--tx-cache 0`,
//! `broadcast-lost`, `index-lag` and `no-index` (one signed tx per nonce in
//! the ledger, at most one included insert tx per nonce in `GET
//! /devnet/txs`), a simulate refusal for each terminal reason (nothing
//! broadcast), `fee-rise` at delivery and `gas-spike`. Each test first shows
//! its fault fired (`faults_fired`), then the outcome.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use allora_worker::agent::submit_blocking;
use allora_worker::config::{self, Sources};
use allora_worker::devnet::{self, Devnet, DevnetConfig, Fault};
use allora_worker::io::chain::{Client, TxKind};
use allora_worker::logic::submission::Outcome;
use allora_worker::logic::tx::Payload;
use allora_worker::logic::wallet::Wallet;

use crate::support::{accepted, bin, devnet_env, spawn_quiet, temp_dir, wait_for};

/// A devnet with 100 ms blocks, 10-block epochs and the throwaway wallet
/// `seed` funded (and registered unless `registered` is false).
pub(crate) fn strict(
    seed: u64,
    registered: bool,
    tweak: impl FnOnce(&mut DevnetConfig),
) -> (Devnet, String, Wallet) {
    let (mnemonic, wallet) = devnet::throwaway_wallet(seed).unwrap();
    let addr = wallet.address().to_string();
    let mut cfg = DevnetConfig {
        block_ms: 100,
        epoch_blocks: 10,
        window_blocks: 8,
        genesis: vec![(addr.clone(), 1_000_000_000_000_000_000_000)],
        registered: if registered { vec![addr] } else { vec![] },
        ..DevnetConfig::default()
    };
    tweak(&mut cfg);
    (
        Devnet::start(cfg).unwrap(),
        mnemonic.expose().clone(),
        wallet,
    )
}

pub(crate) fn txs(net: &Devnet) -> Vec<Value> {
    let mut reply = ureq::get(format!("{}/devnet/txs", net.base_url()))
        .call()
        .expect("GET /devnet/txs");
    let body = reply.body_mut().read_to_string().expect("body");
    match serde_json::from_str::<Value>(&body).expect("JSON") {
        Value::Array(all) => all,
        other => panic!("/devnet/txs is not a list: {other}"),
    }
}

/// Insert txs of `sender` per nonce: (broadcast, included).
fn inserts(net: &Devnet, sender: &str) -> BTreeMap<i64, (u64, u64)> {
    let mut out: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for t in txs(net)
        .iter()
        .filter(|t| t["kind"] == "insert" && t["sender"] == sender)
    {
        let e = out.entry(t["nonce"].as_i64().unwrap_or(-1)).or_default();
        e.0 += 1;
        e.1 += u64::from(t["height"].is_u64());
    }
    out
}

/// The worker's ledger lines under `dir`.
fn ledger_lines(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir.join("data")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.starts_with("ledger-") && name.ends_with(".jsonl")) {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            out.push(serde_json::from_str(line).expect("ledger line is JSON"));
        }
    }
    out
}

/// `signed` records per nonce in the worker's ledger under `dir`.
fn signed_per_nonce(dir: &Path) -> BTreeMap<i64, u64> {
    let mut out = BTreeMap::new();
    for v in ledger_lines(dir).iter().filter(|v| v["state"] == "signed") {
        *out.entry(v["nonce"].as_i64().unwrap()).or_default() += 1;
    }
    out
}

/// The last ledger record of each nonce: its state, or `done: REASON`.
fn final_states(dir: &Path) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for v in ledger_lines(dir) {
        let state = match v["state"].as_str() {
            Some("done") => format!("done: {}", v["reason"].as_str().unwrap_or("")),
            other => other.unwrap_or("?").to_string(),
        };
        out.insert(v["nonce"].as_i64().unwrap(), state);
    }
    out
}

pub(crate) fn fired(net: &Devnet, fault: &str) -> u64 {
    net.stats()["faults_fired"][fault].as_u64().unwrap_or(0)
}

pub(crate) fn stop(child: &mut Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_for("the worker to exit", 10, || child.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
}

/// The lost-reply scenario: the devnet has no tx cache, the first three
/// broadcasts CheckTx accepts get no usable reply (dropped, 503, 504), the
/// first is held in the mempool for 3 blocks so the worker resends it (the
/// resend answers sdk/32: the first copy holds the sequence); optionally
/// lookups lag `lag` blocks, the first LCD has no tx index, and the first
/// payloads are not admitted (so the chain shows no inference for them).
fn lost_reply(seed: u64, lag: u64, no_index: bool, not_admitted: u64) {
    let (net, mnemonic, wallet) = strict(seed, true, |c| c.tx_cache = 0);
    let addr = wallet.address().to_string();
    let dir = temp_dir(&format!("submission-lost-{seed}"));
    let lcd = if no_index {
        format!("{},{}", net.no_index_listener().unwrap(), net.base_url())
    } else {
        net.base_url()
    };
    let env = devnet_env(&net, &mnemonic, &dir, &[("ALLORA_LCD_URLS", &lcd)]);
    net.inject(Fault::BroadcastLost(3));
    net.inject(Fault::HoldInMempool(3));
    if not_admitted > 0 {
        net.inject(Fault::NotAdmitted(not_admitted));
    }
    if lag > 0 {
        net.inject(Fault::IndexLag(lag));
    }
    let mut child = spawn_quiet(&bin(), &["run", "--poll-interval", "1"], &env, &dir);
    wait_for("3 lost replies and 5 served windows", 90, || {
        (fired(&net, "broadcast-lost") >= 3 && accepted(&net.stats(), &addr).len() >= 5)
            .then_some(())
    });
    stop(&mut child);
    assert_eq!(fired(&net, "broadcast-lost"), 3, "{}", net.stats());
    if lag > 0 {
        assert!(fired(&net, "index-lag") >= 1, "{}", net.stats());
    }
    if no_index {
        assert!(fired(&net, "no-index") >= 1, "{}", net.stats());
    }
    if not_admitted > 0 {
        assert_eq!(fired(&net, "not-admitted"), not_admitted, "{}", net.stats());
    }
    let stats = net.stats();
    assert!(
        stats["resends"].as_u64() >= Some(1),
        "a resend happened: {stats}"
    );
    let signed = signed_per_nonce(&dir);
    assert!(signed.len() >= 5, "{signed:?}");
    assert!(
        signed.values().all(|n| *n == 1),
        "one signed tx per nonce: {signed:?}"
    );
    let sent = inserts(&net, &addr);
    assert!(
        sent.values()
            .all(|(broadcast, included)| *broadcast == 1 && *included <= 1),
        "one tx per nonce, never a second fee: {sent:?}"
    );
    let states = final_states(&dir);
    for (nonce, (_, included)) in &sent {
        let state = states.get(nonce).map_or("", String::as_str);
        assert!(
            *included == 0
                || state == "included"
                || state.starts_with("done: already served")
                || state == "broadcast",
            "nonce {nonce} landed but the ledger says {state:?}"
        );
    }
    assert_eq!(net.stats()["duplicates"], 0);
}

#[test]
fn lost_replies_without_a_tx_cache_never_pay_twice() {
    lost_reply(1341, 0, false, 0);
}

#[test]
fn lost_replies_with_a_lagging_index_never_pay_twice() {
    lost_reply(1342, 4, false, 0);
}

#[test]
fn lost_replies_with_an_lcd_without_index_never_pay_twice() {
    lost_reply(1343, 0, true, 0);
}

#[test]
fn lost_replies_with_lag_and_no_index_never_pay_twice() {
    lost_reply(1344, 4, true, 0);
}

/// The hardest case: the chain shows no inference (not admitted) and the
/// index lags, so only the hash lookup after the lag can tell it landed;
/// resends meanwhile answer sdk/32 and must not lead to a second tx.
#[test]
fn lost_replies_of_unadmitted_payloads_with_lag_never_pay_twice() {
    lost_reply(1349, 6, false, 3);
}

fn client(net: &Devnet) -> Client {
    let dir = temp_dir("submission-client");
    let mut env = devnet_env(net, "", &dir, &[]);
    env.retain(|(k, _)| k != "MNEMONIC");
    let cfg = config::build(&Sources {
        env,
        ..Sources::default()
    })
    .unwrap();
    let mut c = Client::new(&cfg).unwrap();
    c.probe().unwrap();
    c
}

fn payload(nonce: i64) -> Payload {
    Payload {
        topic_id: 67,
        nonce,
        value: 0.01,
        forecasts: vec![],
    }
}

/// An open window with at least `margin` blocks left: (nonce, end).
fn open_window(c: &mut Client, addr: &str, margin: u64) -> (i64, u64) {
    wait_for("an open window", 20, || {
        let s = c.window_status(addr).ok()?;
        let h = c.latest_height().ok()?;
        (s.is_open && s.window_end >= h + margin).then_some((s.current_nonce, s.window_end))
    })
}

fn submit(c: &mut Client, w: &Wallet, nonce: i64, end: u64) -> Outcome {
    submit_blocking(c, w, TxKind::Payload(&payload(nonce)), Some(end)).expect("an outcome")
}

#[test]
fn a_simulate_refusal_is_never_broadcast() {
    // Not registered; not whitelisted; already submitted; window closed;
    // a nonce that never opened.
    let (net, _, w) = strict(1345, false, |_| {});
    let mut c = client(&net);
    let addr = w.address().to_string();
    let (nonce, end) = open_window(&mut c, &addr, 3);
    assert_eq!(submit(&mut c, &w, nonce, end), Outcome::NotRegistered);

    let (net2, _, w2) = strict(1346, true, |cfg| cfg.whitelist = true);
    let mut c2 = client(&net2);
    let addr2 = w2.address().to_string();
    let (nonce2, end2) = open_window(&mut c2, &addr2, 3);
    assert_eq!(submit(&mut c2, &w2, nonce2, end2), Outcome::NotWhitelisted);
    for (n, a) in [(&net, &addr), (&net2, &addr2)] {
        assert!(inserts(n, a).is_empty(), "nothing broadcast: {:?}", txs(n));
    }

    let (net3, _, w3) = strict(1347, true, |_| {});
    let mut c3 = client(&net3);
    let addr3 = w3.address().to_string();
    let (nonce3, end3) = open_window(&mut c3, &addr3, 5);
    assert!(matches!(
        submit(&mut c3, &w3, nonce3, end3),
        Outcome::Included { .. }
    ));
    assert!(matches!(
        submit(&mut c3, &w3, nonce3, end3),
        Outcome::Served { .. }
    ));
    wait_for("the window to close", 20, || {
        (net3.height() > end3 + 1).then_some(())
    });
    let closed = submit(&mut c3, &w3, nonce3, end3 + 50);
    assert!(matches!(closed, Outcome::Dropped { .. }), "{closed:?}");
    let never = submit(&mut c3, &w3, nonce3 + 5, end3 + 50);
    assert!(matches!(never, Outcome::Dropped { .. }), "{never:?}");
    assert_eq!(
        inserts(&net3, &addr3).get(&nonce3),
        Some(&(1, 1)),
        "only the first tx was broadcast: {:?}",
        txs(&net3)
    );
    assert_eq!(inserts(&net3, &addr3).len(), 1, "{:?}", txs(&net3));
}

#[test]
fn fee_rise_at_delivery_and_gas_spike_are_signed_again_once() {
    let (net, _, w) = strict(1348, true, |_| {});
    let mut c = client(&net);
    let addr = w.address().to_string();
    let (nonce, end) = open_window(&mut c, &addr, 6);
    net.inject(Fault::GasSpike(1));
    let out = submit(&mut c, &w, nonce, end);
    assert_eq!(fired(&net, "gas-spike"), 1, "{}", net.stats());
    assert!(matches!(out, Outcome::Included { .. }), "{out:?}");
    assert_eq!(
        inserts(&net, &addr)[&nonce],
        (2, 2),
        "the out-of-gas tx and its retry"
    );
    assert_eq!(accepted(&net.stats(), &addr), vec![(nonce, 1)]);

    let (nonce, end) = wait_for("the next window", 20, || {
        let (n, e) = open_window(&mut c, &addr, 6);
        (n != nonce).then_some((n, e))
    });
    net.inject(Fault::HoldInMempool(2));
    net.inject(Fault::FeeRise(100));
    let out = submit(&mut c, &w, nonce, end);
    assert_eq!(fired(&net, "fee-rise"), 1, "{}", net.stats());
    assert!(matches!(out, Outcome::Included { .. }), "{out:?}");
    let (broadcast, included) = inserts(&net, &addr)[&nonce];
    assert!(broadcast <= 2 && included <= 2, "{:?}", txs(&net));
    assert_eq!(accepted(&net.stats(), &addr).len(), 2);
    assert_eq!(net.stats()["duplicates"], 0);
}
