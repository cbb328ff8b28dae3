//! Halts, restarts and upgrades over HTTP: `halt:SECS` stops blocks while
//! RPC and LCD answer with the old height; `--state FILE` makes a restarted
//! devnet the same chain; `upgrade-v10-at:H` switches a v9 chain to v10.

use super::*;

fn rpc_height(base: &str) -> u64 {
    ok(base, "/status")["result"]["sync_info"]["latest_block_height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn lcd_height(base: &str) -> u64 {
    ok(base, "/cosmos/base/tendermint/v1beta1/blocks/latest")["block"]["header"]["height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_halt_stops_blocks_and_the_node_keeps_answering() {
    let devnet = Devnet::start(fast()).unwrap();
    let base = devnet.base_url();
    wait_for("a few blocks", || (devnet.height() >= 3).then_some(()));
    let (status, _, _) = http(&base, "POST", "/devnet/fault", "halt:1", DEADLINE).unwrap();
    assert_eq!(status, 200);
    let started = Instant::now();
    assert_eq!(ok(&base, "/devnet/fault")[0]["fault"], "halt:1");
    let halted_at = rpc_height(&base);
    while started.elapsed() < Duration::from_millis(800) {
        assert_eq!(
            (rpc_height(&base), lcd_height(&base)),
            (halted_at, halted_at),
            "no blocks during the halt, the old height answered"
        );
    }
    wait_for("blocks again", || {
        (rpc_height(&base) > halted_at).then_some(())
    });
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(devnet.stats()["faults_fired"]["halt"], 1);
    assert_eq!(ok(&base, "/devnet/fault"), json!([]));
}

#[test]
fn a_devnet_restarted_on_its_state_file_is_the_same_chain() {
    let dir = support::temp_dir("devnet-state");
    let (_, wallet) = throwaway_wallet(9).unwrap();
    let cfg = DevnetConfig {
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        state_file: Some(dir.join("chain.json")),
        epoch_blocks: 40,
        window_blocks: 35,
        ..fast()
    };
    let devnet = Devnet::start(cfg.clone()).unwrap();
    let w = Worker {
        wallet,
        base: devnet.base_url(),
        number: 1,
    };
    let reg = w.register(0);
    assert_eq!(broadcast(&w.base, &reg.tx_raw)["code"], 0);
    let tx_before = included(&w.base, &reg.hash);
    let account_path = format!("/cosmos/auth/v1beta1/account_info/{}", w.wallet.address());
    let registered_path = format!("/emissions/v10/worker_registered/67/{}", w.wallet.address());
    let account = ok(&w.base, &account_path);
    devnet.shutdown();
    let stopped_at = {
        let saved: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("chain.json")).unwrap())
                .unwrap();
        saved["blocks"].as_array().unwrap().last().unwrap()["height"]
            .as_u64()
            .unwrap()
    };
    let block_path = format!("/cosmos/base/tendermint/v1beta1/blocks/{stopped_at}");

    let again = Devnet::start(cfg).unwrap();
    let base = again.base_url();
    let height = again.height();
    assert!(
        (stopped_at..stopped_at + 10).contains(&height),
        "continues from {stopped_at}, at {height}"
    );
    assert!(ok(&base, &block_path)["block"]["header"]["time"].is_string());
    assert_eq!(
        ok(&base, &account_path),
        account,
        "number, sequence, pubkey"
    );
    assert_eq!(account["info"]["sequence"], "1");
    assert_eq!(ok(&base, &registered_path), json!({"is_registered": true}));
    let tx_after = included(&base, &reg.hash);
    assert_eq!(
        (&tx_after["height"], &tx_after["code"], &tx_after["events"]),
        (
            &tx_before["height"],
            &tx_before["code"],
            &tx_before["events"]
        )
    );
    let w = Worker { base, ..w };
    let reused = tx::register_tx(&w.wallet, 67, &w.params(0, 3_000_001)).unwrap();
    let r = broadcast(&w.base, &reused.tx_raw);
    assert_eq!(
        (r["code"].as_u64(), r["raw_log"].as_str()),
        (
            Some(32),
            Some("account sequence mismatch, expected 1, got 0: incorrect account sequence")
        ),
        "the used sequence stays used"
    );
    let open = w.open_nonce();
    let tx = w.payload(open, 1);
    assert_eq!(broadcast(&w.base, &tx.tx_raw)["code"], 0);
    assert_eq!(included(&w.base, &tx.hash)["code"], 0);
}

fn v9_register(w: &Worker, sequence: u64, emissions: Emissions) -> SignedTx {
    let params = TxParams {
        emissions,
        ..w.params(sequence, 3_000_000)
    };
    tx::register_tx(&w.wallet, 67, &params).unwrap()
}

#[test]
fn upgrade_v10_at_switches_a_v9_chain() {
    let (_, wallet) = throwaway_wallet(9).unwrap();
    let devnet = Devnet::start(DevnetConfig {
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        emissions: Emissions::V9,
        ..fast()
    })
    .unwrap();
    let w = Worker {
        wallet,
        base: devnet.base_url(),
        number: 1,
    };
    let at = devnet.height() + 20;
    devnet.inject(Fault::UpgradeV10At(at));
    assert_eq!(
        ok(&w.base, "/cosmos/upgrade/v1beta1/current_plan")["plan"]["height"],
        at.to_string()
    );
    assert_eq!(get(&w.base, "/emissions/v9/params").0, 200);
    assert_eq!(get(&w.base, "/emissions/v10/params").0, 501);
    let reg = v9_register(&w, 0, Emissions::V9);
    assert_eq!(
        broadcast(&w.base, &reg.tx_raw)["code"],
        0,
        "v9 before the upgrade"
    );
    assert_eq!(included(&w.base, &reg.hash)["code"], 0);
    wait_for("the upgrade height", || {
        (devnet.height() >= at).then_some(())
    });
    assert_eq!(
        get(&w.base, "/emissions/v9/params").0,
        501,
        "the old prefix"
    );
    assert_eq!(get(&w.base, "/emissions/v10/params").0, 200);
    assert_eq!(
        ok(&w.base, "/cosmos/upgrade/v1beta1/current_plan"),
        json!({"plan": null})
    );
    let late = broadcast(&w.base, &v9_register(&w, 1, Emissions::V9).tx_raw);
    assert_eq!(
        (late["code"].as_u64(), late["codespace"].as_str()),
        (Some(2), Some("sdk")),
        "a v9 message after the upgrade: {late}"
    );
    assert!(
        late["raw_log"]
            .as_str()
            .unwrap()
            .contains("/emissions.v9.RegisterRequest"),
        "{late}"
    );
    let v10 = w.register(1);
    assert_eq!(broadcast(&w.base, &v10.tx_raw)["code"], 0);
    assert_eq!(devnet.stats()["faults_fired"]["upgrade-v10-at"], 1);
}
