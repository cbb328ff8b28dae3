//! The loop and its numbers (issue 13, items 4, 5 and 11): "included but not
//! admitted" is its own outcome (counter, `status`, metric, event; never a
//! success, never re-sent), every fee the chain charged is counted (failed
//! txs too), following a tx for longer than the server's websocket read
//! deadline keeps the socket, and a step's HTTP calls share one budget (one
//! call bound + 0.5 s) while endpoints hang. Each test shows its faults fired.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use allora_worker::devnet::{DevnetConfig, Fault};

use crate::submission::{fired, stop, strict, txs};
use crate::support::{accepted, bin, devnet_env, events, spawn_quiet, temp_dir, wait_for};

/// The worker, killed if a failed assertion leaves it running (it would
/// hold this wallet's machine-wide claim for the next run).
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn status(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("data/status.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

/// The fee a tx of `/devnet/txs` paid for its gas, from its signed bytes.
fn tx_fee(t: &Value) -> u128 {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(t["tx_base64"].as_str().expect("tx_base64"))
        .expect("base64");
    let tx = allora_worker::logic::verify::decode_tx(&bytes).expect("a valid tx");
    tx.fee
        .iter()
        .filter(|(d, _)| d == "uallo")
        .map(|(_, a)| a)
        .sum()
}

#[test]
fn not_admitted_is_its_own_outcome_and_every_charged_fee_is_counted() {
    let (net, mnemonic, wallet) = strict(1420, true, |c| {
        c.block_ms = 150;
        c.epoch_blocks = 12;
        c.window_blocks = 10;
    });
    let addr = wallet.address().to_string();
    let dir = temp_dir("loop-not-admitted");
    let metrics = dir.join("metrics.prom");
    let env = devnet_env(&net, &mnemonic, &dir, &[]);
    net.inject(Fault::NotAdmitted(1));
    let args = ["run", "--poll-interval", "1", "--metrics-file"];
    let mut args: Vec<&str> = args.to_vec();
    args.push(metrics.to_str().unwrap());
    let mut worker = Worker(spawn_quiet(&bin(), &args, &env, &dir));
    wait_for("the not-admitted outcome", 60, || {
        (status(&dir)["not_admitted"] == 1).then_some(())
    });
    assert_eq!(fired(&net, "not-admitted"), 1, "{}", net.stats());
    let out = Command::new(bin())
        .args(["status", "--json"])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(&dir)
        .output()
        .unwrap();
    let live: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(live["status"]["not_admitted"], 1, "{live}");
    // A tx that fails in its block pays its fee too.
    net.inject(Fault::GasSpike(1));
    wait_for("an admitted window after the gas spike", 60, || {
        (fired(&net, "gas-spike") == 1 && status(&dir)["admitted"].as_u64() >= Some(1))
            .then_some(())
    });
    stop(&mut worker.0);

    let events = events(&dir);
    let na: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "not_admitted")
        .collect();
    assert_eq!(na.len(), 1, "{na:?}");
    let nonce = &na[0]["data"]["nonce"];
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "success" && &e["data"]["nonce"] == nonce),
        "a not-admitted nonce is never a success"
    );
    let all = txs(&net);
    let ours: Vec<&Value> = all
        .iter()
        .filter(|t| t["kind"] == "insert" && t["sender"] == addr.as_str())
        .collect();
    let of_nonce: Vec<&&Value> = ours.iter().filter(|t| &t["nonce"] == nonce).collect();
    assert_eq!(of_nonce.len(), 1, "one tx, nothing re-sent: {of_nonce:?}");
    assert_eq!(of_nonce[0]["code"], 0);
    assert_eq!(net.stats()["resends"], 0);

    // Fees: every tx of a finished nonce that is in a block (the one that
    // ran out of gas included), plus the data sending fee of each code 0.
    let finished: BTreeSet<i64> = events
        .iter()
        .filter(|e| {
            ["success", "not_admitted", "error"].contains(&e["event"].as_str().unwrap_or(""))
        })
        .filter_map(|e| e["data"]["nonce"].as_i64())
        .collect();
    let data_fee = DevnetConfig::default().data_sending_fee;
    let in_blocks: Vec<&&Value> = ours
        .iter()
        .filter(|t| t["height"].is_u64() && finished.contains(&t["nonce"].as_i64().unwrap_or(-1)))
        .collect();
    assert!(
        in_blocks.iter().any(|t| t["code"] == 11),
        "the out-of-gas tx is among them: {in_blocks:?}"
    );
    let paid: u128 = in_blocks
        .iter()
        .map(|t| tx_fee(t) + if t["code"] == 0 { data_fee } else { 0 })
        .sum();
    let s = status(&dir);
    assert_eq!(s["fees_paid_uallo"], paid.to_string(), "{s}");
    assert_eq!(s["not_admitted"], 1);
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains("allora_worker_not_admitted_total{topic=\"67\"} 1\n"),
        "{prom}"
    );
    assert!(
        prom.contains(&format!(
            "allora_worker_fees_paid_uallo_total{{topic=\"67\"}} {paid}\n"
        )),
        "{prom}"
    );
    // The longest step: training, or a step with one loopback HTTP call.
    let step = s["max_step_ms"].as_u64().expect("max_step_ms");
    assert!(step < 2_000, "max_step_ms {step}");
}

#[test]
fn a_tx_followed_longer_than_the_websocket_read_deadline_keeps_the_socket() {
    // The 40 s follow under the server's 30 s read deadline, both
    // scaled by 1/10: pings every 2.7 s, a silent client dropped after 3 s,
    // the tx found by hash only 20 blocks (4 s) after its inclusion, and
    // not admitted, so the chain's record cannot end the follow early.
    let (net, mnemonic, wallet) = strict(1421, true, |c| {
        c.block_ms = 200;
        c.epoch_blocks = 40;
        c.window_blocks = 35;
        c.ws_ping_ms = 2_700;
        c.ws_read_wait_ms = 3_000;
    });
    let addr = wallet.address().to_string();
    let dir = temp_dir("loop-ws-follow");
    let env = devnet_env(&net, &mnemonic, &dir, &[]);
    net.inject(Fault::NotAdmitted(1));
    net.inject(Fault::IndexLag(20));
    let mut worker = Worker(spawn_quiet(
        &bin(),
        &["run", "--poll-interval", "60"],
        &env,
        &dir,
    ));
    let ours = |t: &Value| t["kind"] == "insert" && t["sender"] == addr.as_str();
    let nonce = wait_for("the broadcast", 60, || {
        txs(&net)
            .into_iter()
            .find(|t| ours(t))
            .map(|t| t["nonce"].clone())
    });
    let sent = Instant::now();
    wait_for("the followed tx's outcome", 30, || {
        (status(&dir)["not_admitted"] == 1).then_some(())
    });
    let followed = sent.elapsed();
    assert!(followed >= Duration::from_secs(4), "followed {followed:?}");
    let stats = net.stats();
    assert!(fired(&net, "index-lag") >= 1, "{stats}");
    assert_eq!(fired(&net, "not-admitted"), 1, "{stats}");
    assert_eq!(stats["ws_read_wait_drops"], 0, "{stats}");
    assert_eq!(stats["ws_connections"], 1, "{stats}");
    served_once(&net, &addr, &nonce);
    stop(&mut worker.0);
}

/// The window of `nonce` was served by `addr` (accepted once) with one tx.
fn served_once(net: &allora_worker::devnet::Devnet, addr: &str, nonce: &Value) {
    let stats = net.stats();
    let n = nonce.as_i64().expect("a nonce");
    assert!(accepted(&stats, addr).contains(&(n, 1)), "{stats}");
    let of_nonce = txs(net)
        .into_iter()
        .filter(|t| t["kind"] == "insert" && t["sender"] == addr && &t["nonce"] == nonce)
        .count();
    assert_eq!(of_nonce, 1, "served once");
}

/// A first LCD that takes connections and never answers: (base URL, how
/// many connections it took). Its thread holds every stream open.
fn hung_lcd() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let taken = std::sync::Arc::new(AtomicU64::new(0));
    let count = taken.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(conn);
        }
    });
    (base, taken)
}

#[test]
fn a_step_holds_the_loop_one_call_bound_plus_a_second_at_most_while_endpoints_hang() {
    // Connect 1 s + read 2 s: one call ends within 3 s, a step within 4 s.
    // The first LCD never answers and the devnet's next request hangs, so
    // without a step budget the first step (hung LCD: its 2 s read
    // timeout, then the devnet's hang: a full 3 s) held the loop 5 s.
    let (net, mnemonic, wallet) = strict(1430, true, |c| {
        c.block_ms = 300;
        c.epoch_blocks = 30;
        c.window_blocks = 25;
    });
    let addr = wallet.address().to_string();
    let dir = temp_dir("loop-step-budget");
    let (hung, taken) = hung_lcd();
    let lcds = format!("{hung},{}", net.base_url());
    let env = devnet_env(
        &net,
        &mnemonic,
        &dir,
        &[
            ("ALLORA_LCD_URLS", &lcds),
            ("ALLORA_CONNECT_TIMEOUT", "1s"),
            ("ALLORA_READ_TIMEOUT", "2s"),
            ("ALLORA_TX_TIMEOUT", "30s"),
        ],
    );
    net.inject(Fault::Hang(1));
    let mut worker = Worker(spawn_quiet(
        &bin(),
        &["--debug", "run", "--poll-interval", "1"],
        &env,
        &dir,
    ));
    let ours = |t: &Value| t["kind"] == "insert" && t["sender"] == addr.as_str();
    let nonce = wait_for("a window served", 90, || {
        txs(&net)
            .into_iter()
            .find(|t| ours(t) && t["height"].is_u64())
            .map(|t| t["nonce"].clone())
    });
    wait_for("the served window's outcome", 30, || {
        (status(&dir)["admitted"].as_u64() >= Some(1)).then_some(())
    });
    stop(&mut worker.0);
    let stats = net.stats();
    assert_eq!(fired(&net, "hang"), 1, "{stats}");
    let hung_calls = taken.load(std::sync::atomic::Ordering::SeqCst);
    assert!(hung_calls >= 2, "the hung LCD was asked {hung_calls} times");
    served_once(&net, &addr, &nonce);
    // One call bound (3 s) + 1 s; the budget itself ends HTTP at 3.5 s.
    let step = status(&dir)["max_step_ms"].as_u64().expect("max_step_ms");
    assert!(step <= 4_000, "max_step_ms {step}");
    assert!(step >= 2_000, "a step did wait on the hung LCD: {step} ms");
}
