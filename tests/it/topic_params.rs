//! Topic parameters read from the chain (a devnet over loopback): `check`
//! names the scheduler mode, warns (⚠) when `TARGET_HOURS` disagrees with
//! `ground_truth_lag` × the measured block time (naming both) or the loss
//! method is one the worker cannot score, and fails (✗) on an output arity
//! the worker cannot encode, which `once` refuses to submit to, naming it.

use allora_worker::devnet::scheduler::Scheduler;
use allora_worker::devnet::{throwaway_wallet, Devnet, DevnetConfig};

use crate::support::{self, temp_dir, wait_for};

const FUNDS: u128 = 1_000_000_000_000_000_000_000;

/// A funded, registered devnet with `tweak` applied; its mnemonic.
fn devnet(seed: u64, tweak: impl FnOnce(&mut DevnetConfig)) -> (Devnet, String) {
    let (mnemonic, wallet) = throwaway_wallet(seed).unwrap();
    let mut cfg = DevnetConfig {
        block_ms: 20,
        epoch_blocks: 40,
        window_blocks: 30,
        genesis: vec![(wallet.address().to_string(), FUNDS)],
        registered: vec![wallet.address().to_string()],
        ..DevnetConfig::default()
    };
    tweak(&mut cfg);
    (Devnet::start(cfg).unwrap(), mnemonic.expose().clone())
}

/// Runs `allora-worker ARGS` against `net`: (exit code, stdout, stderr).
fn run(net: &Devnet, mnemonic: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = temp_dir("topic-params");
    let env = support::devnet_env(net, mnemonic, &dir, &[]);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = support::run(&dir, args, &pairs);
    let (stdout, stderr) = support::texts(&out);
    let log = std::fs::read_to_string(dir.join("logs/worker.log")).unwrap_or_default();
    (out.status.code(), stdout, stderr + &log)
}

fn line<'a>(stdout: &'a str, start: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line {start:?} in {stdout}"))
}

#[test]
fn check_warns_when_ground_truth_lag_disagrees_with_target_hours() {
    let (net, mnemonic) = devnet(31, |c| {
        c.ground_truth_lag = 100;
        c.loss_method = "mse".into();
    });
    // The block time is measured over the last 100 blocks.
    wait_for("height 101", 30, || (net.height() > 101).then_some(()));
    let (code, stdout, stderr) = run(&net, &mnemonic, &["check"]);
    assert_eq!(code, Some(0), "warnings only: {stdout}{stderr}");
    assert_eq!(
        line(&stdout, "✓ scheduler"),
        "✓ scheduler: blocks (windows by height)"
    );
    let horizon = line(&stdout, "⚠ horizon");
    assert!(horizon.contains("TARGET_HOURS 168 h"), "{horizon}");
    assert!(
        horizon.contains("ground_truth_lag 100 blocks ×"),
        "{horizon}"
    );
    assert!(
        line(&stdout, "⚠ loss method").contains("\"mse\""),
        "{stdout}"
    );
    assert!(!stdout.contains("topic fit"), "{stdout}");
}

#[test]
fn check_reads_seconds_mode_and_a_fitting_horizon() {
    let (net, mnemonic) = devnet(32, |c| {
        c.ground_truth_lag = 7 * 24 * 3600;
        c.scheduler = Scheduler::Seconds {
            epoch_secs: 60,
            window_secs: 30,
        };
    });
    let (code, stdout, stderr) = run(&net, &mnemonic, &["check"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(line(&stdout, "✓ scheduler").contains("seconds"), "{stdout}");
    assert!(
        line(&stdout, "✓ topic:").contains("epoch 60 s, window 30 s"),
        "{stdout}"
    );
    assert_eq!(
        line(&stdout, "✓ topic fit"),
        "✓ topic fit: TARGET_HOURS 168 h, horizon 168.0 h"
    );
    for name in ["⚠ horizon", "⚠ loss method", "⚠ labels", "⚠ scheduler"] {
        assert!(!stdout.contains(name), "{name}: {stdout}");
    }
}

#[test]
fn an_output_arity_the_worker_cannot_encode_is_refused_by_name() {
    let (net, mnemonic) = devnet(33, |c| c.output_arity = "TOPIC_OUTPUT_ARITY_MULTI".into());
    let (code, stdout, _) = run(&net, &mnemonic, &["check"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        line(&stdout, "✗ output arity").contains("TOPIC_OUTPUT_ARITY_MULTI"),
        "{stdout}"
    );
    wait_for("an open window", 30, || {
        net.stats()["open_nonces"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
            .then_some(())
    });
    let (code, _, stderr) = run(&net, &mnemonic, &["once"]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("refusing to submit: topic 67 has output arity TOPIC_OUTPUT_ARITY_MULTI"),
        "{stderr}"
    );
    let s = net.stats();
    assert_eq!(
        (s["txs_broadcast"].as_u64(), s["accepted"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
}

/// `Client::scheduler_mode`: an empty 200 (a broken proxy) is an error,
/// not seconds mode; the route's 404 in block mode is blocks.
#[test]
fn an_empty_answer_is_not_seconds_mode() {
    use allora_worker::config::{self, Sources};
    use allora_worker::devnet::Fault;
    use allora_worker::io::chain::Client;
    use allora_worker::logic::topic_fit::SchedulerMode;
    let (net, mnemonic) = devnet(34, |_| {});
    let dir = temp_dir("topic-params-client");
    let env = support::devnet_env(&net, &mnemonic, &dir, &[]);
    let config = config::build(&Sources {
        env,
        ..Sources::default()
    })
    .unwrap();
    let mut client = Client::new(&config).unwrap();
    client.probe().unwrap();
    net.inject(Fault::EmptyBody(1));
    let answer = client.scheduler_mode();
    assert_eq!(net.stats()["faults_fired"]["empty"], 1, "the fault landed");
    assert!(answer.is_err(), "{answer:?}");
    assert_eq!(client.scheduler_mode().unwrap(), SchedulerMode::Blocks);
}
