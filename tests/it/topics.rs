//! Several topics from one process and one wallet (issue 16): two and five
//! topics in block mode and two in seconds mode, 20 windows each, every
//! window of every topic with exactly one included submission (from `GET
//! /devnet/txs`); one topic not registered for 10 windows while the others
//! miss nothing; kill -9 during bursts of 5 topics' windows, then a
//! restart: no duplicate, every window still open served. `status --json`
//! has a section per topic and every metric a `topic` label.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use allora_worker::devnet::{self, scheduler::Scheduler, Devnet, DevnetConfig, Fault};

use crate::support::{bin, devnet_env, spawn_quiet, temp_dir, wait_for};

/// A devnet serving `topics` (100 ms blocks, a window every 10 blocks,
/// open 8) with the throwaway wallet `seed` funded and registered in each.
fn devnet_with(
    seed: u64,
    topics: &[u64],
    tweak: impl FnOnce(&mut DevnetConfig),
) -> (Devnet, String, String) {
    let (mnemonic, wallet) = devnet::throwaway_wallet(seed).unwrap();
    let addr = wallet.address().to_string();
    let mut cfg = DevnetConfig {
        block_ms: 100,
        epoch_blocks: 10,
        window_blocks: 8,
        topic_id: topics[0],
        topics: topics.to_vec(),
        genesis: vec![(addr.clone(), 1_000_000_000_000_000_000_000)],
        registered: vec![addr.clone()],
        ..DevnetConfig::default()
    };
    tweak(&mut cfg);
    (Devnet::start(cfg).unwrap(), mnemonic.expose().clone(), addr)
}

/// The worker's settings for `topics`: every topic but 67 on btcusd, 168 h.
fn env_for(net: &Devnet, mnemonic: &str, dir: &Path, topics: &[u64]) -> Vec<(String, String)> {
    let list: Vec<String> = topics.iter().map(u64::to_string).collect();
    let mut env = devnet_env(net, mnemonic, dir, &[]);
    env.push(("TOPIC_ID".into(), list.join(",")));
    for t in topics.iter().filter(|t| **t != 67) {
        env.push((format!("TOPIC_{t}_TICKER"), "btcusd".into()));
        env.push((format!("TOPIC_{t}_TARGET_HOURS"), "168".into()));
    }
    env
}

fn txs(net: &Devnet) -> Vec<Value> {
    let mut reply = ureq::get(format!("{}/devnet/txs", net.base_url()))
        .call()
        .expect("GET /devnet/txs");
    let body = reply.body_mut().read_to_string().expect("body");
    serde_json::from_str::<Value>(&body)
        .expect("JSON")
        .as_array()
        .cloned()
        .expect("/devnet/txs is a list")
}

/// Included, successful insert txs of `sender`: topic → nonce → count.
fn included(net: &Devnet, sender: &str) -> BTreeMap<u64, BTreeMap<i64, u64>> {
    let mut out: BTreeMap<u64, BTreeMap<i64, u64>> = BTreeMap::new();
    for t in txs(net).iter().filter(|t| {
        t["kind"] == "insert" && t["sender"] == sender && t["height"].is_u64() && t["code"] == 0
    }) {
        let (topic, nonce) = (t["topic"].as_u64().unwrap(), t["nonce"].as_i64().unwrap());
        *out.entry(topic).or_default().entry(nonce).or_default() += 1;
    }
    out
}

/// A worker process, killed if a failed assertion leaves it running (a
/// worker left behind would hold the wallet's machine-wide claim).
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start(env: &[(String, String)], dir: &Path, args: &[&str]) -> Worker {
    Worker(spawn_quiet(&bin(), args, env, dir))
}

fn stop(w: &mut Worker) {
    kill(Pid::from_raw(w.0.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_for("the worker to exit", 10, || w.0.try_wait().unwrap());
    assert_eq!(status.code(), Some(0));
}

/// Waits until every topic of `topics` has `n` included nonces.
fn wait_windows(net: &Devnet, addr: &str, topics: &[u64], n: usize, secs: u64) {
    wait_for(
        &format!("{n} included windows in every topic"),
        secs,
        || {
            let inc = included(net, addr);
            topics
                .iter()
                .all(|t| inc.get(t).is_some_and(|m| m.len() >= n))
                .then_some(())
        },
    );
}

/// Every topic has exactly one included tx per nonce, the same nonces in
/// every topic (their windows open in the same blocks), and with `epoch`
/// no window skipped between the first and the last. Returns the nonces.
fn assert_each_window_once(
    net: &Devnet,
    addr: &str,
    topics: &[u64],
    epoch: Option<i64>,
) -> Vec<i64> {
    let inc = included(net, addr);
    let first: Vec<i64> = inc[&topics[0]].keys().copied().collect();
    for t in topics {
        let m = &inc[t];
        assert!(
            m.values().all(|c| *c == 1),
            "topic {t}: a nonce included twice: {m:?}"
        );
        // The last window of one topic may still be in flight at the stop.
        let mine: BTreeSet<i64> = m.keys().copied().collect();
        let common: BTreeSet<i64> = first.iter().copied().collect();
        let diff: Vec<_> = mine.symmetric_difference(&common).collect();
        assert!(
            diff.len() <= 1,
            "topic {t} served other windows than topic {}: {diff:?}",
            topics[0]
        );
    }
    if let Some(e) = epoch {
        let (lo, hi) = (first[0], first[first.len() - 1]);
        assert_eq!(
            first.len() as i64,
            (hi - lo) / e + 1,
            "a window skipped: {first:?}"
        );
    }
    first
}

fn status_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("data/status.json")).unwrap()).unwrap()
}

/// Two (`seed`, topics) or five topics in block mode, 20 windows each, one
/// process; `status --json` has a section per topic, metrics a label.
fn block_mode(seed: u64, topics: &[u64]) {
    let (net, mnemonic, addr) = devnet_with(seed, topics, |_| {});
    let dir = temp_dir(&format!("topics-{}", topics.len()));
    let env = env_for(&net, &mnemonic, &dir, topics);
    let metrics = dir.join("metrics.prom").display().to_string();
    let args = ["run", "--poll-interval", "2", "--metrics-file", &metrics];
    let mut child = start(&env, &dir, &args);
    wait_windows(&net, &addr, topics, 21, 90);
    stop(&mut child);
    // After the stop: the shutdown wrote status.json last.
    let out = crate::support::run(
        &dir,
        &["status", "--json"],
        &env.iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let nonces = assert_each_window_once(&net, &addr, topics, Some(10));
    assert!(nonces.len() >= 20, "{nonces:?}");
    let senders: BTreeSet<String> = txs(&net)
        .iter()
        .filter(|t| t["kind"] == "insert")
        .map(|t| t["sender"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(senders.len(), 1, "one wallet: {senders:?}");
    // One sequence: every signed tx of every topic's ledger has its own
    // (nothing was refused here, so none was signed again), and several
    // topics' txs were in flight together (included in the same block).
    let signed: Vec<u64> = ledger_records(&dir)
        .iter()
        .filter(|r| r["state"] == "signed")
        .filter_map(|r| r["sequence"].as_u64())
        .collect();
    let distinct: BTreeSet<u64> = signed.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        signed.len(),
        "a sequence signed twice: {signed:?}"
    );
    // In flight together: for some nonce, a second topic's tx was broadcast
    // before the first one's inclusion was seen (events.jsonl is in order).
    let events = std::fs::read_to_string(dir.join("logs/events.jsonl")).unwrap();
    let mut before_success: BTreeMap<i64, (usize, bool)> = BTreeMap::new();
    for v in events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let Some(n) = v["data"]["nonce"].as_i64() else {
            continue;
        };
        let e = before_success.entry(n).or_default();
        match v["event"].as_str() {
            Some("submission") if !e.1 => e.0 += 1,
            Some("success") => e.1 = true,
            _ => {}
        }
    }
    assert!(
        before_success.values().any(|(sent, _)| *sent >= 2),
        "no two topics' txs in flight together: {before_success:?}"
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let status = &reply["status"];
    for t in topics {
        let s = &status["topics"][t.to_string()];
        assert!(
            s["submitted"].as_u64().unwrap_or(0) >= 20,
            "topic {t}: {status}"
        );
        assert!(
            s["score"].is_object(),
            "topic {t} has its score record: {s}"
        );
    }
    assert_eq!(
        status["topic_id"], topics[0],
        "the first topic's keys stay at the top"
    );
    assert!(status["submitted"].as_u64().unwrap_or(0) >= 20);
    let prom = std::fs::read_to_string(&metrics).unwrap();
    for t in topics {
        let line = format!("allora_worker_submitted_total{{topic=\"{t}\"}}");
        assert!(prom.contains(&line), "{line} in {prom}");
    }
    assert_eq!(
        prom.matches("# TYPE allora_worker_submitted_total ")
            .count(),
        1,
        "{prom}"
    );
    assert!(
        prom.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.contains("topic=\"")),
        "every metric has a topic label: {prom}"
    );
}

#[test]
fn two_topics_one_process_one_wallet_every_window_once() {
    block_mode(1460, &[67, 69]);
}

#[test]
fn five_topics_in_the_same_blocks_every_window_once() {
    block_mode(1461, &[67, 68, 69, 70, 71]);
}

#[test]
fn two_topics_in_seconds_mode_every_window_once() {
    let topics = [67, 69];
    let (net, mnemonic, addr) = devnet_with(1462, &topics, |c| {
        c.block_ms = 200;
        c.scheduler = Scheduler::Seconds {
            epoch_secs: 1,
            window_secs: 2,
        };
    });
    let dir = temp_dir("topics-seconds");
    let env = env_for(&net, &mnemonic, &dir, &topics);
    let mut child = start(&env, &dir, &["run", "--poll-interval", "2"]);
    wait_windows(&net, &addr, &topics, 21, 90);
    stop(&mut child);
    // In seconds mode each topic's windows open by its own epochs: check
    // each topic against the windows the devnet opened in it.
    let inc = included(&net, &addr);
    let opened = &net.stats()["windows_opened_by_topic"];
    for t in topics {
        let m = &inc[&t];
        assert!(
            m.values().all(|c| *c == 1),
            "topic {t}: a nonce included twice: {m:?}"
        );
        let n = opened[t.to_string()].as_u64().unwrap();
        // The first window may open before the worker is up; the last ones
        // may be in flight at the stop.
        assert!(
            m.len() as u64 + 3 >= n,
            "topic {t}: {} of {n} windows served: {m:?}",
            m.len()
        );
    }
}

#[test]
fn a_topic_not_registered_for_10_windows_stops_nothing_else() {
    let topics = [67, 69, 70];
    let (net, mnemonic, addr) = devnet_with(1463, &topics, |_| {});
    assert!(net.unregister(70, &addr));
    let dir = temp_dir("topics-unregistered");
    let env = env_for(&net, &mnemonic, &dir, &topics);
    let mut child = start(&env, &dir, &["run", "--poll-interval", "2"]);
    wait_windows(&net, &addr, &topics[..2], 11, 60);
    stop(&mut child);
    let status = status_json(&dir);
    let inc = included(&net, &addr);
    assert!(
        !inc.contains_key(&70),
        "nothing included in topic 70: {inc:?}"
    );
    let nonces = assert_each_window_once(&net, &addr, &topics[..2], Some(10));
    assert!(nonces.len() >= 10, "{nonces:?}");
    let problem = status["topics"]["70"]["problem"].as_str().unwrap_or("");
    assert!(
        problem.contains("not registered"),
        "topic 70's problem: {status}"
    );
    assert!(status["topics"]["67"]["problem"].is_null(), "{status}");
}

/// The ledgers' records (every topic), in file order per file.
fn ledger_records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("data")) else {
        return out;
    };
    let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("ledger-") && name.ends_with(".jsonl") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            out.extend(
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
            );
        }
    }
    out
}

/// (topic file, nonce) pairs whose last record is `signed` or `broadcast`.
fn pending(dir: &Path) -> BTreeSet<(String, i64)> {
    let mut last: BTreeMap<(String, i64), String> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("data")) else {
        return BTreeSet::new();
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !(name.starts_with("ledger-") && name.ends_with(".jsonl")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for r in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            let key = (name.clone(), r["nonce"].as_i64().unwrap_or(0));
            last.insert(key, r["state"].as_str().unwrap_or("").to_string());
        }
    }
    last.into_iter()
        .filter(|(_, s)| s == "signed" || s == "broadcast")
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn kill_9_during_bursts_of_five_topics_never_duplicates_or_forgets() {
    let topics = [67, 68, 69, 70, 71];
    let (net, mnemonic, addr) = devnet_with(1464, &topics, |_| {});
    let dir = temp_dir("topics-kill9");
    let env = env_for(&net, &mnemonic, &dir, &topics);
    let mut landed = 0;
    for round in 0..8u64 {
        // Txs stay 3 blocks in the mempool: a wide signed → outcome gap.
        net.inject(Fault::HoldInMempool(3));
        let signed_before = ledger_records(&dir)
            .iter()
            .filter(|r| r["state"] == "signed")
            .count();
        let mut child = start(&env, &dir, &["run", "--poll-interval", "1"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        // Aim: kill right after the burst's first `signed` records.
        while ledger_records(&dir)
            .iter()
            .filter(|r| r["state"] == "signed")
            .count()
            <= signed_before + (round % 3) as usize
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        kill(Pid::from_raw(child.0.id() as i32), Signal::SIGKILL).unwrap();
        let status = wait_for("the killed worker", 5, || child.0.try_wait().unwrap());
        assert_eq!(status.code(), None, "round {round}: killed by a signal");
        landed += usize::from(!pending(&dir).is_empty());
    }
    assert!(
        landed >= 3,
        "only {landed} of 8 kills landed between `signed` and the outcome"
    );
    eprintln!("{landed} of 8 kills landed between `signed` and the outcome");
    let restarted_at = net.height();
    let mut child = start(&env, &dir, &["run", "--poll-interval", "1"]);
    wait_for("3 windows after the restart in every topic", 60, || {
        let inc = included(&net, &addr);
        topics
            .iter()
            .all(|t| {
                inc.get(t).is_some_and(|m| {
                    m.keys().filter(|n| **n as u64 > restarted_at + 10).count() >= 3
                })
            })
            .then_some(())
    });
    stop(&mut child);
    let inc = included(&net, &addr);
    for t in topics {
        let m = &inc[&t];
        assert!(
            m.values().all(|c| *c == 1),
            "topic {t}: included twice: {m:?}"
        );
        let last = m.keys().last().copied().unwrap_or(0);
        // Every window still open at the restart (its end after the restart
        // height plus the worker's start-up) was served.
        for n in (10..=last)
            .step_by(10)
            .filter(|n| *n as u64 + 8 > restarted_at + 2)
        {
            assert!(
                m.contains_key(&n),
                "topic {t} nonce {n} open after the restart, never served: {m:?}"
            );
        }
    }
    assert_eq!(net.stats()["duplicates"], 0, "{}", net.stats());
}

#[test]
fn register_and_check_cover_every_configured_topic() {
    let topics = [67, 69];
    let (net, mnemonic, addr) = devnet_with(1465, &topics, |c| c.registered.clear());
    let dir = temp_dir("topics-register");
    let env = env_for(&net, &mnemonic, &dir, &topics);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = crate::support::run(&dir, &["register", "--yes"], &pairs);
    let (stdout, stderr) = crate::support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    for t in topics {
        assert!(
            stdout.contains(&format!("registered {addr} in topic {t}: tx ")),
            "{stdout}"
        );
    }
    let out = crate::support::run(&dir, &["check"], &pairs);
    let (stdout, _) = crate::support::texts(&out);
    for t in topics {
        for what in ["topic", "registered", "whitelisted"] {
            let start = format!("✓ {what} (topic {t}): ");
            assert!(
                stdout.lines().any(|l| l.starts_with(&start)),
                "{start} in {stdout}"
            );
        }
    }
    assert_eq!(stdout.matches("✓ balance: ").count(), 1, "{stdout}");
}

#[test]
fn a_topic_changed_on_chain_is_read_again_and_an_arity_it_cannot_encode_stops_it() {
    let topics = [67, 69];
    let (net, mnemonic, addr) = devnet_with(1466, &topics, |_| {});
    let dir = temp_dir("topics-changed");
    let env = env_for(&net, &mnemonic, &dir, &topics);
    let mut child = start(&env, &dir, &["run", "--poll-interval", "1"]);
    wait_windows(&net, &addr, &topics, 2, 60);
    let log = || std::fs::read_to_string(dir.join("logs/worker.log")).unwrap_or_default();
    net.set_topic_fields("mse", "TOPIC_OUTPUT_ARITY_SINGLE");
    wait_for("the loss change seen", 30, || {
        log().contains("topic 69 changed on chain").then_some(())
    });
    let text = log();
    assert!(text.contains("loss czar → mse"), "{text}");
    assert!(text.contains("WARNING topic 69: loss method"), "{text}");
    net.set_topic_fields("mse", "TOPIC_OUTPUT_ARITY_MULTI");
    // Every topic refused: the run ends (a topic alone would stop, not the others).
    let status = wait_for("the worker to exit", 30, || child.0.try_wait().unwrap());
    assert_ne!(status.code(), Some(0));
    let text = log();
    for t in topics {
        assert!(
            text.contains(&format!("topic {t} stopped: refusing to submit")),
            "{text}"
        );
    }
}
