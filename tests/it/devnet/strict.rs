//! The devnet as strict as the chain (issue 12, part A): the `/devnet/txs`
//! evidence, simulate running the messages (HTTP 500), the bounded tx cache,
//! broadcasts that are accepted and then lose their reply, index lag and a
//! never-indexing LCD, a fee that rises before delivery, timeout heights and
//! out of gas. Every answer is read over raw HTTP.

use super::*;

/// A devnet with a funded worker (registered when `registered`), windows of
/// 40 blocks open for 35, and `tweak` applied to the config.
pub(super) fn strict_devnet(
    registered: bool,
    tweak: impl FnOnce(&mut DevnetConfig),
) -> (Devnet, Worker) {
    let (_, wallet) = throwaway_wallet(9).unwrap();
    let mut cfg = DevnetConfig {
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        registered: if registered {
            vec![wallet.address().to_string()]
        } else {
            Vec::new()
        },
        epoch_blocks: 40,
        window_blocks: 35,
        ..fast()
    };
    tweak(&mut cfg);
    let devnet = Devnet::start(cfg).unwrap();
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

pub(super) fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let (status, _, text) =
        http(base, "POST", path, &body.to_string(), DEADLINE).expect("POST answers");
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text:?}"));
    (status, v)
}

pub(super) fn simulate(base: &str, tx: &SignedTx) -> (u16, Value) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(tx::unsigned_for_simulation(tx));
    post(
        base,
        "/cosmos/tx/v1beta1/simulate",
        &json!({"tx_bytes": b64}),
    )
}

fn txs(base: &str) -> Vec<Value> {
    ok(base, "/devnet/txs").as_array().unwrap().clone()
}

fn account(w: &Worker) -> (String, String) {
    let a = w.wallet.address();
    let info = ok(&w.base, &format!("/cosmos/auth/v1beta1/account_info/{a}"));
    let bal = ok(
        &w.base,
        &format!("/cosmos/bank/v1beta1/balances/{a}/by_denom?denom=uallo"),
    );
    (
        info["info"]["sequence"].as_str().unwrap().to_string(),
        bal["balance"]["amount"].as_str().unwrap().to_string(),
    )
}

pub(super) fn code_log(r: &Value) -> (Option<u64>, Option<&str>, Option<&str>) {
    (
        r["code"].as_u64(),
        r["codespace"].as_str(),
        r["raw_log"].as_str(),
    )
}

#[test]
fn txs_dump_lists_every_broadcast_once() {
    let (devnet, w) = strict_devnet(false, |_| {});
    let nonce = w.open_nonce();
    let reg = w.register(0);
    assert_eq!(simulate(&w.base, &reg).0, 200);
    assert_eq!(broadcast(&w.base, &reg.tx_raw)["code"], 0);
    let bad = w.payload(nonce, 7);
    assert_eq!(broadcast(&w.base, &bad.tx_raw)["code"], 32);
    included(&w.base, &reg.hash);
    assert_eq!(broadcast(&w.base, &reg.tx_raw)["code"], 19);
    let dump = txs(&w.base);
    assert_eq!(
        dump.len(),
        2,
        "one record per hash, simulate not listed: {dump:?}"
    );
    let h = devnet.stats()["height"].as_u64().unwrap();
    let r = &dump[0];
    assert_eq!(r["hash"], reg.hash.as_str());
    assert_eq!(r["hash"].as_str().unwrap().to_uppercase(), reg.hash);
    assert!(r["height"].as_u64().is_some_and(|x| x <= h), "{r}");
    assert_eq!(
        (r["code"].as_u64(), r["codespace"].as_str()),
        (Some(0), Some(""))
    );
    assert_eq!(
        (r["kind"].as_str(), r["topic"].is_null()),
        (Some("register"), true)
    );
    assert_eq!(r["sender"], w.wallet.address());
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        b64.decode(r["tx_base64"].as_str().unwrap()).unwrap(),
        reg.tx_raw
    );
    let r = &dump[1];
    assert_eq!(
        (
            r["code"].as_u64(),
            r["codespace"].as_str(),
            r["height"].is_null()
        ),
        (Some(32), Some("sdk"), true)
    );
    assert_eq!(
        r["raw_log"],
        "account sequence mismatch, expected 1, got 7: incorrect account sequence"
    );
    assert_eq!(
        (r["kind"].as_str(), r["topic"].as_u64()),
        (Some("insert"), Some(67))
    );
    assert_eq!(r["nonce"].as_u64(), Some(nonce));
}

#[test]
fn simulate_runs_the_messages_and_answers_500() {
    let (devnet, w) = strict_devnet(false, |_| {});
    let nonce = w.open_nonce();
    let (status, v) = simulate(&w.base, &w.payload(nonce, 0));
    assert_eq!((status, v["code"].as_u64()), (500, Some(2)), "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.starts_with(
            "failed to execute message; message index: 0: worker is not registered in this topic"
        ) && m.contains(" With gas wanted: '300000' and gas used: '")
            && m.ends_with("' "),
        "{m}"
    );
    assert_eq!(v["details"], json!([]));
    let (status, v) = simulate(&w.base, &w.payload(nonce + 1, 0));
    assert_eq!(status, 500);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("unfulfilled nonce not found"),
        "{v}"
    );
    let (status, v) = simulate(&w.base, &w.register(3));
    assert_eq!(status, 500);
    assert!(
        v["message"].as_str().unwrap().starts_with(
            "account sequence mismatch, expected 0, got 3: incorrect account sequence With gas wanted"
        ),
        "{v}"
    );
    let (status, v) = simulate(&w.base, &w.register(0));
    assert_eq!(status, 200, "{v}");
    let used: u64 = v["gas_info"]["gas_used"].as_str().unwrap().parse().unwrap();
    assert!(used < 300_000, "{v}");
    assert_eq!(v["gas_info"]["gas_wanted"], "300000");
    devnet.inject(Fault::GasExtra(250_000));
    let (_, v) = simulate(&w.base, &w.register(0));
    let heavy: u64 = v["gas_info"]["gas_used"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        heavy,
        used + 250_000,
        "the fault pushes gas above 300 000: {v}"
    );
    assert!(txs(&w.base).is_empty(), "simulate is not a broadcast");
}

#[test]
fn tx_cache_is_bounded_and_an_evicted_resend_is_sdk32() {
    let (_devnet, w) = strict_devnet(false, |c| c.tx_cache = 1);
    let reg = w.register(0);
    assert_eq!(broadcast(&w.base, &reg.tx_raw)["code"], 0);
    assert_eq!(
        code_log(&broadcast(&w.base, &reg.tx_raw)),
        (Some(19), Some("sdk"), Some(""))
    );
    included(&w.base, &reg.hash);
    assert_eq!(
        broadcast(&w.base, &reg.tx_raw)["code"],
        19,
        "still cached after inclusion"
    );
    let other = w.payload(w.open_nonce(), 1);
    assert_eq!(
        broadcast(&w.base, &other.tx_raw)["code"],
        0,
        "evicts the register tx"
    );
    assert_eq!(
        code_log(&broadcast(&w.base, &reg.tx_raw)),
        (
            Some(32),
            Some("sdk"),
            Some("account sequence mismatch, expected 2, got 0: incorrect account sequence")
        )
    );
}

#[test]
fn lost_reply_then_resend_after_inclusion_answers_sdk32() {
    let (devnet, w) = strict_devnet(false, |c| c.tx_cache = 0);
    // As by hand: `devnet --tx-cache 0`, then POST the fault over HTTP.
    let (status, _, _) = http(
        &w.base,
        "POST",
        "/devnet/fault",
        "broadcast-lost:3",
        DEADLINE,
    )
    .unwrap();
    assert_eq!(status, 200);
    devnet.inject(Fault::IndexLag(30));
    assert_eq!(
        ok(&w.base, "/devnet/fault"),
        json!([{"fault": "broadcast-lost:3", "on": "chain"}, {"fault": "index-lag:30", "on": "chain"}])
    );
    let b64 = |t: &SignedTx| base64::engine::general_purpose::STANDARD.encode(&t.tx_raw);
    let send = |t: &SignedTx| {
        let body = json!({"tx_bytes": b64(t), "mode": "BROADCAST_MODE_SYNC"}).to_string();
        http(&w.base, "POST", "/cosmos/tx/v1beta1/txs", &body, DEADLINE)
    };
    let reg = w.register(0);
    let lost = send(&reg);
    assert!(
        lost.is_err() || lost.as_ref().unwrap().0 == 0,
        "no reply: {lost:?}"
    );
    assert_eq!(devnet.stats()["faults_fired"]["broadcast-lost"], 1);
    // Any nonce passes CheckTx; the messages run (and fail, emissions/44) at delivery.
    let (p1, p2) = (w.payload(1, 1), w.payload(1, 2));
    assert_eq!(send(&p1).unwrap().0, 503);
    let (status, ctype, _) = send(&p2).unwrap();
    assert_eq!((status, ctype.as_str()), (504, "text/html"));
    let height = wait_for("the lost tx's inclusion", || {
        txs(&w.base).first().and_then(|r| r["height"].as_u64())
    });
    let (status, v) = get(&w.base, &format!("/cosmos/tx/v1beta1/txs/{}", reg.hash));
    assert_eq!((status, v["code"].as_u64()), (404, Some(5)), "{v}");
    assert_eq!(v["message"], format!("tx not found: {}", reg.hash));
    assert!(devnet.stats()["faults_fired"]["index-lag"].as_u64() >= Some(1));
    let t = included(&w.base, &reg.hash);
    assert_eq!(t["code"], 0);
    assert!(
        devnet.height() >= height + 30,
        "found only K blocks after inclusion"
    );
    let r = broadcast(&w.base, &reg.tx_raw);
    assert_eq!(
        code_log(&r),
        (
            Some(32),
            Some("sdk"),
            Some("account sequence mismatch, expected 3, got 0: incorrect account sequence")
        )
    );
    assert_eq!(devnet.stats()["faults_fired"]["broadcast-lost"], 3);
}

#[test]
fn a_no_index_lcd_never_finds_a_tx() {
    let (devnet, w) = strict_devnet(false, |_| {});
    let blind = devnet.no_index_listener().unwrap();
    let reg = w.register(0);
    assert_eq!(
        broadcast(&blind, &reg.tx_raw)["code"],
        0,
        "it still broadcasts"
    );
    included(&w.base, &reg.hash);
    let (status, v) = get(&blind, &format!("/cosmos/tx/v1beta1/txs/{}", reg.hash));
    assert_eq!((status, v["code"].as_u64()), (404, Some(5)), "{v}");
    assert_eq!(devnet.stats()["faults_fired"]["no-index"], 1);
}

#[test]
fn a_fee_rise_before_delivery_refuses_without_state() {
    let (devnet, w) = strict_devnet(false, |_| {});
    let before = account(&w);
    devnet.inject(Fault::HoldInMempool(6));
    let reg = w.register(0);
    assert_eq!(broadcast(&w.base, &reg.tx_raw)["code"], 0);
    devnet.inject(Fault::FeeRise(50));
    let t = included(&w.base, &reg.hash);
    assert_eq!(
        code_log(&t),
        (
            Some(13),
            Some("sdk"),
            Some("insufficient fee; got: 3000000uallo required: 4500000uallo: insufficient fee")
        )
    );
    assert_eq!(
        account(&w),
        before,
        "an ante failure takes no fee and uses no sequence"
    );
    assert_eq!(devnet.stats()["faults_fired"]["fee-rise"], 1);
    assert_eq!(
        ok(&w.base, "/feemarket/v1/gas_price/uallo")["price"]["amount"],
        "15.000000000000000000"
    );
}

#[test]
fn timeout_height_checked_at_check_and_at_delivery() {
    let (devnet, w) = strict_devnet(false, |_| {});
    let params = |timeout: u64| TxParams {
        timeout_height: timeout,
        ..w.params(0, 3_000_000)
    };
    let reg = |timeout: u64| tx::register_tx(&w.wallet, 67, &params(timeout)).unwrap();
    wait_for("height 3", || (devnet.height() >= 3).then_some(()));
    let h = devnet.height();
    let r = broadcast(&w.base, &reg(h - 1).tx_raw);
    assert_eq!(r["code"], 30, "{r}");
    assert!(r["raw_log"]
        .as_str()
        .unwrap()
        .ends_with(": tx timeout height"));
    let before = account(&w);
    devnet.inject(Fault::HoldInMempool(3));
    let h = devnet.height();
    let late = reg(h + 1);
    assert_eq!(
        broadcast(&w.base, &late.tx_raw)["code"],
        0,
        "CheckTx compares with the committed height"
    );
    let t = included(&w.base, &late.hash);
    assert_eq!(
        (t["code"].as_u64(), t["codespace"].as_str()),
        (Some(30), Some("sdk")),
        "{t}"
    );
    assert_eq!(account(&w), before, "no fee, no sequence");
}

#[test]
fn a_gas_spike_runs_out_of_gas_and_charges_the_fee() {
    let (devnet, w) = strict_devnet(false, |_| {});
    let (_, balance) = account(&w);
    devnet.inject(Fault::GasSpike(1));
    let reg = w.register(0);
    assert_eq!(simulate(&w.base, &reg).0, 200, "simulate promised less");
    assert_eq!(broadcast(&w.base, &reg.tx_raw)["code"], 0);
    let t = included(&w.base, &reg.hash);
    let log = t["raw_log"].as_str().unwrap();
    assert_eq!(
        (t["code"].as_u64(), t["codespace"].as_str()),
        (Some(11), Some("sdk")),
        "{t}"
    );
    assert!(
        log.starts_with("out of gas in location: ")
            && log.contains("gasWanted: 300000, gasUsed: ")
            && log.ends_with(": out of gas"),
        "{log}"
    );
    let fee = 3_000_000u128;
    let now = account(&w);
    assert_eq!(now.0, "1", "the sequence is used");
    assert_eq!(
        now.1,
        (balance.parse::<u128>().unwrap() - fee).to_string(),
        "the fee is charged"
    );
    assert_eq!(devnet.stats()["faults_fired"]["gas-spike"], 1);
    let path = format!("/emissions/v10/worker_registered/67/{}", w.wallet.address());
    assert_eq!(
        ok(&w.base, &path)["is_registered"],
        false,
        "the message did not run"
    );
}

#[test]
fn check_tx_runs_the_ante_in_the_chains_order() {
    let (devnet, w) = strict_devnet(false, |_| {});
    wait_for("height 3", || (devnet.height() >= 3).then_some(()));
    let reg = |p: TxParams| tx::register_tx(&w.wallet, 67, &p).unwrap();
    let cheap = |seq: u64| w.params(seq, 100);
    let code = |t: SignedTx| broadcast(&w.base, &t.tx_raw)["code"].as_u64();
    let timed_out = TxParams {
        timeout_height: 1,
        ..cheap(5)
    };
    assert_eq!(
        code(reg(timed_out)),
        Some(30),
        "timeout before sequence and fee"
    );
    assert_eq!(
        code(reg(cheap(5))),
        Some(32),
        "sequence before signature and fee"
    );
    let forged = TxParams {
        chain_id: "other-chain".into(),
        ..cheap(0)
    };
    assert_eq!(code(reg(forged)), Some(4), "signature before fee");
    assert_eq!(code(reg(cheap(0))), Some(13), "then the fee");
    let s = devnet.stats();
    assert_eq!(
        s["rejected"],
        json!({"timeout_height": 1, "sequence_mismatch": 1, "tx_signature": 1, "insufficient_fee": 1})
    );
}
