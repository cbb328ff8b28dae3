//! Where windows end, against the devnet (issue 13 items 8 and 9, issue 16
//! item 4): the seconds scheduler served one included tx per nonce; a
//! window whose close passed by block time during a `halt:SECS` counted
//! `late` within one block, never signed; a block-mode `halt:60` with a tx
//! in the mempool, served once after the resume; a devnet restarted on `--state`
//! and then started fresh (no double payment, open windows served, stale
//! ledger entries reported once and counted); another signer with the same
//! key reported once, not fought over. Each test shows its fault landed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;

use base64::Engine;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use allora_worker::devnet::scheduler::Scheduler;
use allora_worker::devnet::{self, Devnet, DevnetConfig, Fault};
use allora_worker::logic::emissions::Emissions;
use allora_worker::logic::tx::{self, TxParams};

use crate::support::{bin, devnet_env, events, spawn_quiet, temp_dir, wait_for};

const FUNDS: u128 = 1_000_000_000_000_000_000_000;

fn config(seed: u64, tweak: impl FnOnce(&mut DevnetConfig)) -> (DevnetConfig, String, String) {
    let (mnemonic, wallet) = devnet::throwaway_wallet(seed).unwrap();
    let addr = wallet.address().to_string();
    let mut cfg = DevnetConfig {
        block_ms: 200,
        epoch_blocks: 10,
        window_blocks: 8,
        genesis: vec![(addr.clone(), FUNDS)],
        registered: vec![addr.clone()],
        ..DevnetConfig::default()
    };
    tweak(&mut cfg);
    (cfg, mnemonic.expose().clone(), addr)
}

fn get(base: &str, path: &str) -> Value {
    let mut reply = ureq::get(format!("{base}{path}")).call().expect(path);
    serde_json::from_str(&reply.body_mut().read_to_string().unwrap()).expect("JSON")
}

/// Insert txs of `sender` per nonce: (broadcast, included).
fn inserts(net: &Devnet, sender: &str) -> BTreeMap<i64, (u64, u64)> {
    let mut out: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let all = get(&net.base_url(), "/devnet/txs");
    for t in all.as_array().unwrap().iter() {
        if t["kind"] == "insert" && t["sender"] == sender {
            let e = out.entry(t["nonce"].as_i64().unwrap_or(-1)).or_default();
            e.0 += 1;
            e.1 += u64::from(t["height"].is_u64() && t["code"] == 0);
        }
    }
    out
}

fn assert_never_twice(net: &Devnet, sender: &str) {
    let sent = inserts(net, sender);
    assert!(
        sent.values().all(|(b, i)| *b == 1 && *i <= 1),
        "one tx per nonce, never a second fee: {sent:?}"
    );
    assert_eq!(net.stats()["duplicates"], 0);
}

fn fired(net: &Devnet, fault: &str) -> u64 {
    net.stats()["faults_fired"][fault].as_u64().unwrap_or(0)
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("logs/worker.log")).unwrap_or_default()
}

fn status(dir: &Path) -> Value {
    std::fs::read_to_string(dir.join("data/status.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn stop(child: &mut Child) {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_for("the worker to exit", 10, || child.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
}

/// `run --poll-interval 1` plus `extra` flags, until `stop`.
fn run(env: &[(String, String)], dir: &Path, extra: &[&str]) -> Child {
    let mut args = vec!["run", "--poll-interval", "1"];
    args.extend_from_slice(extra);
    spawn_quiet(&bin(), &args, env, dir)
}

/// Waits until `n` nonces of `addr` have an included insert tx.
fn served(net: &Devnet, addr: &str, n: usize, what: &str) {
    served_where(net, addr, n, what, |_| true);
}

/// Waits until `n` nonces of `addr` that `keep` selects have an included insert tx.
fn served_where(net: &Devnet, addr: &str, n: usize, what: &str, keep: impl Fn(i64) -> bool) {
    wait_for(what, 40, || {
        let done = inserts(net, addr)
            .iter()
            .filter(|(nonce, (_, i))| keep(**nonce) && *i > 0)
            .count();
        (done >= n).then_some(())
    });
}

/// A `--predict-cmd` script that touches `started-NONCE` in `dir`, then
/// waits while the gate file exists: (script, gate).
fn gated_predict(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let gate = dir.join("gate");
    let script = dir.join("predict.sh");
    let text = format!(
        "#!/bin/sh\ntouch '{d}/started-'\"$1\"\nwhile [ -e '{g}' ]; do sleep 0.02; done\necho 0.0012\n",
        d = dir.display(),
        g = gate.display()
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, gate)
}

/// The nonce above `last` whose prediction the gate holds.
fn held_nonce(dir: &Path, last: i64) -> i64 {
    wait_for("a prediction held at the gate", 20, || {
        std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix("started-")?
                .parse()
                .ok()
                .filter(|n| *n > last)
        })
    })
}

/// Starts the worker with a gated `--predict-cmd`, waits until 2 windows
/// are served, then closes the gate: (data dir, worker, gate, the nonce
/// whose prediction the gate now holds).
fn hold_a_window(
    net: &Devnet,
    mnemonic: &str,
    addr: &str,
    name: &str,
) -> (std::path::PathBuf, Child, std::path::PathBuf, i64) {
    let dir = temp_dir(name);
    let (script, gate) = gated_predict(&dir);
    let env = devnet_env(net, mnemonic, &dir, &[]);
    let child = run(
        &env,
        &dir,
        &["--predict-cmd", &script.display().to_string()],
    );
    served(net, addr, 2, "2 windows served");
    std::fs::write(&gate, "").unwrap();
    let last = inserts(net, addr).keys().copied().max().unwrap_or(0);
    let held = held_nonce(&dir, last);
    (dir, child, gate, held)
}

/// The ledger's `signed` records for `nonce`.
fn signed_records(dir: &Path, nonce: i64) -> usize {
    std::fs::read_dir(dir.join("data"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ledger-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|v| v["nonce"] == nonce && v["state"] == "signed")
                .collect::<Vec<_>>()
        })
        .count()
}

/// Seconds mode (2 s windows every 3 s of block time): windows are served
/// one included tx each; then the prediction of one window is held (a
/// `--predict-cmd` that waits on a gate file) while `halt:3` stops the
/// chain, so the first block after the halt closes the window by time: the
/// worker counts it `late` within one block and never signs it; after the
/// halt it serves the next windows again.
#[test]
fn seconds_windows_are_served_and_one_closed_by_a_halt_is_late_unsigned() {
    let (cfg, mnemonic, addr) = config(1400, |c| {
        c.scheduler = Scheduler::Seconds {
            epoch_secs: 3,
            window_secs: 2,
        };
    });
    let net = Devnet::start(cfg).unwrap();
    let (dir, mut child, gate, held) = hold_a_window(&net, &mnemonic, &addr, "windows-seconds");
    net.inject(Fault::Halt(3));
    assert_eq!(fired(&net, "halt"), 1, "the halt landed");
    let epochs = "/emissions/v10/epochs/67";
    let closed_at: u64 = wait_for("the held window closed by time", 20, || {
        let list = get(&net.base_url(), epochs);
        let e = list["epochs"]
            .as_array()?
            .iter()
            .find(|e| e["start_block_height"].as_str() == Some(&held.to_string()))?;
        (e["state"] == "WAITING_GROUND_TRUTH").then(|| net.height())
    });
    std::fs::remove_file(&gate).unwrap();
    let counted_at = wait_for("the held window counted late", 20, || {
        events(&dir)
            .iter()
            .any(|e| {
                e["event"] == "error" && e["data"]["nonce"] == held && e["data"]["reason"] == "late"
            })
            .then(|| net.height())
    });
    assert!(
        counted_at <= closed_at + 1,
        "closed by block {closed_at}, counted late at {counted_at}"
    );
    served_where(&net, &addr, 2, "2 windows served after the halt", |n| {
        n > held
    });
    stop(&mut child);
    assert!(
        !inserts(&net, &addr).contains_key(&held),
        "nothing broadcast for the late window"
    );
    assert_eq!(
        signed_records(&dir, held),
        0,
        "nothing signed for the late window"
    );
    assert_never_twice(&net, &addr);
    let s = status(&dir);
    assert!(s["missed"]["late"].as_u64() >= Some(1), "{s}");
    assert!(
        log_text(&dir).contains("closes at block time"),
        "windows read as times"
    );
}

/// A devnet restarted on its `--state` file on the same port is the same
/// chain: the worker (kept running) pays no second fee and serves the
/// windows opened after the restart. Then a devnet started fresh (no state,
/// its height 40 blocks lower): the ledger's entries above its height are
/// reported in one line and counted (and never signed again), and its
/// windows past them are served.
#[test]
fn a_restart_on_the_state_file_and_a_fresh_chain_are_served() {
    let state_dir = temp_dir("windows-state");
    let (cfg, mnemonic, addr) = config(1402, |c| {
        c.state_file = Some(state_dir.join("chain.json"));
    });
    let net = Devnet::start(cfg.clone()).unwrap();
    let port: u16 = net.base_url().rsplit(':').next().unwrap().parse().unwrap();
    let cfg = DevnetConfig { port, ..cfg };
    let dir = temp_dir("windows-restart");
    let env = devnet_env(&net, &mnemonic, &dir, &[]);
    let mut child = run(&env, &dir, &[]);
    served(&net, &addr, 2, "2 windows served");
    let before = inserts(&net, &addr);
    let stopped_at = net.height();
    net.shutdown();
    let net = wait_for("the devnet restarted on its state file", 10, || {
        Devnet::start(cfg.clone()).ok()
    });
    assert!(net.height() >= stopped_at, "the same chain continues");
    served_where(&net, &addr, 2, "2 windows served after the restart", |n| {
        !before.contains_key(&n)
    });
    assert_never_twice(&net, &addr);
    let old_height = net.height();
    net.shutdown();
    let fresh = DevnetConfig {
        state_file: None,
        start_height: old_height - 40,
        ..cfg
    };
    let net = wait_for("a fresh devnet on the same port", 10, || {
        Devnet::start(fresh.clone()).ok()
    });
    assert!(net.height() + 20 < old_height, "the fresh chain is lower");
    let old_nonces = old_height as i64;
    served_where(&net, &addr, 2, "2 windows served on the fresh chain", |n| {
        n > old_nonces
    });
    stop(&mut child);
    let reported: Vec<Value> = events(&dir)
        .into_iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("above the chain's height"))
        })
        .collect();
    assert_eq!(reported.len(), 1, "one line: {reported:?}");
    let stale = reported[0]["data"]["stale"].as_u64().unwrap_or(0);
    assert!(stale >= 1, "{reported:?}");
    assert_eq!(status(&dir)["stale_ledger_entries"].as_u64(), Some(stale));
    assert_never_twice(&net, &addr);
}

/// A second signer with the same mnemonic (the library's own signing, from
/// the test) submits for a nonce while the worker's prediction for it is
/// held at a gate: the chain then shows an inference by our address the
/// worker never signed, and the account sequence moved past our last tx.
/// The worker logs one ERROR naming the evidence, sets `problem` in
/// `status.json` and the metric, never broadcasts for that nonce, and keeps
/// serving (one tx per nonce, no sequence fight).
#[test]
fn another_signer_with_the_same_key_is_reported_once() {
    let (cfg, mnemonic, addr) = config(1403, |c| {
        (c.epoch_blocks, c.window_blocks) = (20, 18);
    });
    let net = Devnet::start(cfg).unwrap();
    let (_, wallet) = devnet::throwaway_wallet(1403).unwrap();
    let dir = temp_dir("windows-conflict");
    let metrics = dir.join("metrics.prom");
    let (script, gate) = gated_predict(&dir);
    let env = devnet_env(&net, &mnemonic, &dir, &[]);
    let flags = [
        "--metrics-file",
        &metrics.display().to_string(),
        "--predict-cmd",
        &script.display().to_string(),
    ];
    let mut child = run(&env, &dir, &flags);
    served(&net, &addr, 2, "2 windows served");
    std::fs::write(&gate, "").unwrap();
    let last = inserts(&net, &addr).keys().copied().max().unwrap_or(0);
    let held = held_nonce(&dir, last);
    let base = net.base_url();
    let account_path = format!("/cosmos/auth/v1beta1/account_info/{addr}");
    let account = get(&base, &account_path);
    let field = |k: &str| -> u64 { account["info"][k].as_str().unwrap().parse().unwrap() };
    let params = TxParams {
        chain_id: "devnet-1".into(),
        account_number: field("account_number"),
        sequence: field("sequence"),
        gas_limit: 300_000,
        fee_amount: 3_000_000,
        memo: String::new(),
        timeout_height: 0,
        emissions: Emissions::V10,
    };
    let payload = tx::Payload {
        topic_id: 67,
        nonce: held,
        value: 0.002,
        forecasts: Vec::new(),
    };
    let signed = tx::insert_payload_tx(&wallet, &payload, &params).unwrap();
    let tx_bytes = base64::engine::general_purpose::STANDARD.encode(&signed.tx_raw);
    let body = serde_json::json!({"tx_bytes": tx_bytes, "mode": "BROADCAST_MODE_SYNC"});
    let mut r = ureq::post(format!("{base}/cosmos/tx/v1beta1/txs"))
        .send_json(&body)
        .unwrap();
    let r: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(r["tx_response"]["code"], 0, "{r}");
    wait_for("the other signer's payload included", 10, || {
        (inserts(&net, &addr).get(&held)?.1 == 1).then_some(())
    });
    std::fs::remove_file(&gate).unwrap();
    served_where(&net, &addr, 2, "2 more windows served", |n| n > held);
    stop(&mut child);
    let errors: Vec<String> = log_text(&dir)
        .lines()
        .filter(|l| l.contains("another signer uses this worker's key"))
        .map(str::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "one ERROR: {errors:?}");
    assert!(
        errors[0].contains("ERROR")
            && errors[0].contains(&format!("nonce {held}, which this worker never signed")),
        "{errors:?}"
    );
    let s = status(&dir);
    assert!(
        s["problem"]
            .as_str()
            .is_some_and(|p| p.contains("another signer")),
        "{s}"
    );
    assert_eq!(
        s["key_conflicts"], 2,
        "the inference, then the moved sequence: {s}"
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("allora_worker_key_conflict_total{topic=\"67\"} 2"),
        "{text}"
    );
    assert_eq!(
        inserts(&net, &addr)[&held],
        (1, 1),
        "the worker sent nothing for {held}"
    );
    assert_never_twice(&net, &addr);
}

/// Block mode, `halt:60` (the number, in wall seconds): the
/// prediction of one window is held while the chain halts, then released,
/// so the worker signs and broadcasts during the halt (the tx waits in the
/// mempool, shown pending in `/devnet/txs` at the halted height). The
/// worker follows it for the whole minute without blocks — longer than the
/// node's 30 s websocket read deadline — without signing again; after the
/// resume it lands inside its window (a halt never passes an end height)
/// and the next windows are served. One signed record, one tx, one fee.
#[test]
fn a_sixty_second_halt_then_resume_is_served_once() {
    let (cfg, mnemonic, addr) = config(1404, |_| {});
    let net = Devnet::start(cfg).unwrap();
    let (dir, mut child, gate, held) = hold_a_window(&net, &mnemonic, &addr, "windows-halt60");
    net.inject(Fault::Halt(60));
    assert_eq!(fired(&net, "halt"), 1, "the halt landed");
    let halted_at = net.height();
    std::fs::remove_file(&gate).unwrap();
    wait_for(
        "the held window's tx pending in the halted chain",
        20,
        || (inserts(&net, &addr).get(&held) == Some(&(1, 0))).then_some(()),
    );
    assert_eq!(
        net.height(),
        halted_at,
        "signed and broadcast during the halt"
    );
    let landed = wait_for("the held window's tx included after the resume", 90, || {
        let all = get(&net.base_url(), "/devnet/txs");
        all.as_array()?.iter().find_map(|t| {
            (t["kind"] == "insert" && t["sender"] == addr.as_str() && t["nonce"] == held)
                .then(|| t["height"].as_u64())
                .flatten()
        })
    });
    assert!(landed > halted_at, "landed after the resume, at {landed}");
    assert!(
        landed <= held as u64 + 8,
        "inside its window (ends {}), at {landed}",
        held + 8
    );
    served_where(&net, &addr, 2, "2 windows served after the halt", |n| {
        n > held
    });
    stop(&mut child);
    assert_eq!(
        signed_records(&dir, held),
        1,
        "one signed record for {held}"
    );
    assert_eq!(inserts(&net, &addr)[&held], (1, 1));
    assert_never_twice(&net, &addr);
    assert_eq!(status(&dir)["missed"]["late"].as_u64().unwrap_or(0), 0);
    let stats = net.stats();
    assert_eq!(
        (&stats["ws_read_wait_drops"], &stats["ws_connections"]),
        (&Value::from(0), &Value::from(1)),
        "a minute without blocks: the node's 30 s read deadline never dropped us: {stats}"
    );
}
