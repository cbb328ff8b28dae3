//! The soak: the real binary against a fast devnet for `ALLORA_SOAK_WINDOWS`
//! windows (default 1 000; set 20000 for a long manual run) with seeded
//! random faults from the devnet's `Fault` list, each kind at least 20 times
//! (scaled down only when fewer windows are asked for). Checks: zero
//! duplicates; every qualifying window got exactly one accepted submission;
//! from `GET /devnet/txs`, at most one successful insert tx per nonce and no
//! tx signed while an earlier one of its nonce could still land (the devnet
//! runs without a tx cache; lost broadcasts, lost replies, a lagging index,
//! fee rises, gas spikes and unadmitted payloads are in the mix);
//! RSS after all windows within 2 MB of RSS after 100; `events.jsonl`, the
//! ledger and the devnet agree on every submitted nonce. With
//! `ALLORA_SOAK_TXS_DUMP=FILE` it also writes the devnet's `GET /devnet/txs`
//! to FILE, which `.ci/run` hands to the independent judge.
//!
//! Time: a block stands for 5 s of the real chain, so "open at least 30 s
//! after the last fault" is 6 blocks. Real-time effects of a fault (a hung
//! request waits the read timeout, a failed attempt is retried after 2 s,
//! a silent websocket is noticed after `ALLORA_WS_SILENCE`) are added to the
//! fault's height before counting those 6 blocks, so a window qualifies when
//! it closes at least 6 blocks after the last fault's effect ended. With
//! 25 ms blocks most windows sit inside some fault's effect, so the last
//! 50 windows are kept fault-free and must all be served.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use allora_worker::devnet::{self, Devnet, DevnetConfig, Fault};
use allora_worker::logic::ledger::{Record, Stage};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::Rng;
use crate::support::{bin, devnet_txs, temp_dir};

const BLOCK_MS: u64 = 25;
const EPOCH: u64 = 7;
const WINDOW: u64 = 6;
/// 30 s of simulated time at 5 s per block.
const QUIET_BLOCKS: u64 = 6;

/// Every fault kind, with how long (real ms) its effect may last.
fn kinds() -> Vec<(Fault, u64)> {
    let retry = 2_000 + 500;
    vec![
        (Fault::Http500(1), retry),
        (Fault::HtmlPage(1), retry),
        (Fault::EmptyBody(1), retry),
        (Fault::Hang(1), 1_000 + retry),
        (Fault::DropWebsocket, retry),
        (Fault::SilentWebsocket, 1_000 + retry),
        (Fault::SequenceMismatchOnce, retry),
        (Fault::InsufficientFeeOnce, retry),
        (Fault::HoldInMempool(2), 2 * BLOCK_MS + retry),
        (Fault::SkipNextWindow, retry),
        (Fault::WrongChainId(true), 2 * BLOCK_MS + retry),
        (Fault::BroadcastLost(1), 2 * BLOCK_MS + retry),
        (Fault::ReplyLost(1), retry),
        (Fault::IndexLag(3), (2 * EPOCH + 3) * BLOCK_MS + retry),
        (Fault::FeeRise(5), retry),
        (Fault::GasSpike(1), retry),
        (Fault::NotAdmitted(1), retry),
    ]
}

fn env(net: &Devnet, mnemonic: &str, dir: &Path) -> Vec<(String, String)> {
    let fast = [
        ("ALLORA_TX_TIMEOUT", "2s"),
        ("ALLORA_READ_TIMEOUT", "1s"),
        ("ALLORA_WS_SILENCE", "1s"),
        ("ALLORA_ENDPOINT_COOLDOWN", "1s"),
    ];
    crate::support::devnet_env(net, mnemonic, dir, &fast)
}

fn spawn(env: &[(String, String)], dir: &Path) -> Child {
    crate::support::spawn_quiet(
        &bin(),
        &["run", "--poll-interval", "1", "--heartbeat", "5"],
        env,
        dir,
    )
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn accepted(stats: &Value, addr: &str) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = stats["accepted_by_nonce"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(n, w)| Some((n.parse().ok()?, w[addr].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Nonces of `success` and `not_admitted` events (both end in an
/// `included` ledger record) in every events.jsonl* file.
fn event_nonces(logs: &Path) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(logs).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().contains("events.jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: Value = serde_json::from_str(line).expect("every event line is JSON");
            if v["event"] == "success" || v["event"] == "not_admitted" {
                out.insert(v["data"]["nonce"].as_u64().unwrap());
            }
        }
    }
    out
}

/// Nonces with an `included` record in the ledger file(s) of the data dir.
fn ledger_nonces(data: &Path) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("ledger-") && name.ends_with(".jsonl")) {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let Ok(Record {
                nonce,
                stage: Stage::Included { .. },
                ..
            }) = Record::from_line(line)
            {
                out.insert(nonce as u64);
            }
        }
    }
    out
}

/// Writes the devnet's `GET /devnet/txs` to `path`, for the CI judge
/// (`tests/judge/run.sh`): set `ALLORA_SOAK_TXS_DUMP=FILE`.
fn dump_txs(net: &Devnet, path: &str) {
    std::fs::write(path, devnet_txs(net)).unwrap_or_else(|e| panic!("write {path}: {e}"));
    eprintln!("soak: devnet txs written to {path}");
}

#[test]
fn soak_with_random_faults() {
    let windows: u64 = std::env::var("ALLORA_SOAK_WINDOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let seed: u64 = std::env::var("ALLORA_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x50A4_0000_0000_0009);
    let result = std::panic::catch_unwind(|| soak(windows, seed));
    if let Err(e) = result {
        eprintln!("soak failed with ALLORA_SOAK_SEED={seed} ALLORA_SOAK_WINDOWS={windows}");
        std::panic::resume_unwind(e);
    }
}

fn soak(windows: u64, seed: u64) {
    let (mnemonic, wallet) = devnet::throwaway_wallet(41).unwrap();
    let addr = wallet.address().to_string();
    let net = Devnet::start(DevnetConfig {
        block_ms: BLOCK_MS,
        epoch_blocks: EPOCH,
        window_blocks: WINDOW,
        genesis: vec![(addr.clone(), 1_000_000_000_000_000_000_000)],
        registered: vec![addr.clone()],
        tx_cache: 0,
        ..DevnetConfig::default()
    })
    .unwrap();
    let dir = temp_dir("soak");
    let mut child = spawn(&env(&net, mnemonic.expose(), &dir), &dir);
    let started = Instant::now();
    let wait = |n: usize, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if accepted(&net.stats(), &addr).len() >= n {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait(1, "the first accepted window");
    let first_height = net.height();
    let end_height = first_height + windows * EPOCH;
    // Each kind ≥ 20 times (fewer only for a short run), shuffled.
    let per_kind = (windows / 50)
        .clamp(2, 20)
        .max(if windows >= 1_000 { 20 } else { 0 });
    let mut plan: Vec<usize> = (0..kinds().len())
        .flat_map(|k| std::iter::repeat_n(k, per_kind as usize))
        .collect();
    let mut rng = Rng(seed);
    for i in (1..plan.len()).rev() {
        plan.swap(i, rng.below(i + 1));
    }
    // The last 50 windows are fault-free, so at least those must all be served.
    let spacing = (end_height - first_height - 60 * EPOCH) / plan.len() as u64;
    let mut faults: Vec<(u64, u64)> = Vec::new();
    let mut rss_100 = None;
    let mut counts = vec![0u32; kinds().len()];
    for (i, k) in plan.iter().enumerate() {
        let at = first_height
            + 5 * EPOCH
            + i as u64 * spacing
            + rng.below(spacing as usize / 2 + 1) as u64;
        while net.height() < at {
            if rss_100.is_none() && accepted(&net.stats(), &addr).len() >= 100 {
                rss_100 = Some(rss_kb(child.id()));
            }
            assert!(child.try_wait().unwrap().is_none(), "the worker exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (fault, effect_ms) = kinds()[*k].clone();
        let h = net.height();
        net.inject(fault.clone());
        if fault == Fault::WrongChainId(true) {
            std::thread::sleep(Duration::from_millis(2 * BLOCK_MS));
            net.inject(Fault::WrongChainId(false));
        }
        if fault == Fault::IndexLag(3) {
            // Lag the txs of the next two windows, then index at once again.
            std::thread::sleep(Duration::from_millis(2 * EPOCH * BLOCK_MS));
            net.inject(Fault::IndexLag(0));
        }
        counts[*k] += 1;
        faults.push((h, h + effect_ms.div_ceil(BLOCK_MS)));
    }
    while net.height() < end_height + EPOCH {
        assert!(child.try_wait().unwrap().is_none(), "the worker exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_end = rss_kb(child.id());
    // Following a tx is a scheduled step: let the worker see the last ones land.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served: BTreeSet<u64> = accepted(&net.stats(), &addr)
            .iter()
            .map(|(n, _)| *n)
            .collect();
        if ledger_nonces(&dir.join("data")).is_superset(&served) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the worker did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Ok(path) = std::env::var("ALLORA_SOAK_TXS_DUMP") {
        dump_txs(&net, &path);
    }
    let stats = net.stats();
    let acc = accepted(&stats, &addr);
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert!(acc.iter().all(|(_, c)| *c == 1), "a nonce accepted twice");
    let served: BTreeSet<u64> = acc.iter().map(|(n, _)| *n).collect();
    // Windows that closed at least QUIET_BLOCKS after every earlier fault's effect.
    let opened: Vec<u64> = (first_height.div_ceil(EPOCH)..=(end_height - WINDOW) / EPOCH)
        .map(|e| e * EPOCH)
        .filter(|n| *n > first_height)
        .collect();
    let qualifying: Vec<u64> = opened
        .iter()
        .copied()
        .filter(|n| {
            let close = n + WINDOW;
            faults
                .iter()
                .all(|(h, e)| *h > close || e + QUIET_BLOCKS <= close)
        })
        .collect();
    let missed: Vec<u64> = qualifying
        .iter()
        .copied()
        .filter(|n| !served.contains(n))
        .collect();
    let skipped = stats["windows_opened"].as_u64().unwrap_or(0);
    eprintln!(
        "soak: {windows} windows in {:?}, {} faults ({counts:?} per kind), {} served, {} qualifying, {} qualifying missed, RSS {rss_100:?} -> {rss_end} kB, {skipped} windows opened",
        started.elapsed(),
        plan.len(),
        served.len(),
        qualifying.len(),
        missed.len()
    );
    assert!(
        missed.is_empty(),
        "qualifying windows without a submission: {missed:?}"
    );
    assert!(counts.iter().all(|c| u64::from(*c) >= per_kind));
    assert!(qualifying.len() >= 40, "the fault-free tail qualifies");
    let rss_100 = rss_100.expect("RSS read after 100 windows");
    assert!(
        rss_end <= rss_100 + 2_048,
        "RSS grew from {rss_100} kB to {rss_end} kB"
    );
    // The worker is stopped at end_height + EPOCH, possibly just after it
    // broadcast for the window opened then; compare the soak's windows only.
    let counted = |set: BTreeSet<u64>| -> BTreeSet<u64> {
        set.into_iter().filter(|n| *n <= end_height).collect()
    };
    let served = counted(served);
    let events = counted(event_nonces(&dir.join("logs")));
    let ledger = counted(ledger_nonces(&dir.join("data")));
    assert_eq!(
        events, served,
        "events.jsonl success nonces = devnet accepted"
    );
    assert_eq!(ledger, served, "ledger included nonces = devnet accepted");
    assert_never_paid_twice(&net, &addr);
    for fault in [
        "broadcast-lost",
        "index-lag",
        "fee-rise",
        "gas-spike",
        "not-admitted",
        "reply-lost",
    ] {
        assert!(
            stats["faults_fired"][fault].as_u64() >= Some(per_kind.min(20)),
            "{fault} fired: {}",
            stats["faults_fired"]
        );
    }
}

/// From the devnet's tx list: per nonce at most one insert tx of `addr`
/// succeeded, and every earlier one ended definitively (refused at CheckTx
/// or failed in a block) before the next was signed, so none could land.
fn assert_never_paid_twice(net: &Devnet, addr: &str) {
    let all: Value = serde_json::from_str(&devnet_txs(net)).expect("JSON");
    let mut by_nonce: std::collections::BTreeMap<i64, Vec<&Value>> = Default::default();
    for t in all.as_array().expect("a list") {
        if t["kind"] == "insert" && t["sender"] == addr {
            by_nonce
                .entry(t["nonce"].as_i64().unwrap_or(-1))
                .or_default()
                .push(t);
        }
    }
    let resigned = by_nonce.values().filter(|v| v.len() > 1).count();
    for (nonce, list) in &by_nonce {
        let ok = list.iter().filter(|t| t["code"] == 0).count();
        assert!(ok <= 1, "nonce {nonce}: {ok} successful txs: {list:?}");
        for t in &list[..list.len() - 1] {
            assert!(
                t["code"].as_u64().is_some_and(|c| c != 0),
                "nonce {nonce}: a tx that could still land was followed by another: {list:?}"
            );
        }
    }
    eprintln!(
        "soak: {} nonces with txs, {resigned} signed again after a definitive failure",
        by_nonce.len()
    );
}
