//! Golden transactions: every vector of `tests/data/tx.json` and
//! `bundle_signature.json` reproduced byte for byte through the public API,
//! every negative vector rejected for its stated reason, and `sign` run as a
//! binary.

use allora_worker::logic::emissions::Emissions;
use allora_worker::logic::hex;
use allora_worker::logic::secret::Secret;
use allora_worker::logic::tx::{self, Payload, TxParams};
use allora_worker::logic::verify::{self, Msg, Reject};
use allora_worker::logic::wallet::{sha256, Wallet};
use serde_json::Value;

use crate::support;

fn mnemonic(index: u64) -> String {
    let w = support::vectors("wallet.json");
    w["wallets"][index as usize]["mnemonic"]
        .as_str()
        .expect("wallet vector has a mnemonic")
        .to_string()
}

fn wallet(index: u64) -> Wallet {
    Wallet::from_mnemonic(&Secret::new(mnemonic(index))).expect("vector mnemonic is valid")
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn f(v: &Value) -> f64 {
    s(v).parse().expect("vector value parses as f64")
}

fn forecasts(list: &Value, value_key: &str) -> Vec<(String, f64)> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|e| (s(&e["inferer"]).to_string(), f(&e[value_key])))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bundle_vectors_reproduced_byte_for_byte() {
    let v = support::vectors("bundle_signature.json");
    let vectors = v["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for vec in vectors {
        let id = s(&vec["id"]);
        let inp = &vec["inputs"];
        let w = wallet(vec["signer_wallet_index"].as_u64().unwrap());
        assert_eq!(w.address(), s(&inp["worker_address"]), "{id}");
        let payload = Payload {
            topic_id: inp["topic_id"].as_u64().unwrap(),
            nonce: inp["nonce_block_height"].as_i64().unwrap(),
            value: f(&inp["inference_value_input"]),
            forecasts: forecasts(&inp["forecast_inputs"], "value_input"),
        };
        let wdb = tx::signed_worker_bundle(&w, &payload, Emissions::V10).unwrap();
        let bundle = wdb.bundle.as_ref().unwrap().encode(Emissions::V10);
        assert_eq!(
            hex::encode(&bundle),
            s(&vec["bundle_bytes_hex"]),
            "{id} bundle"
        );
        assert_eq!(
            hex::encode(&sha256(&bundle)),
            s(&vec["bundle_sha256_hex"]),
            "{id}"
        );
        assert_eq!(
            hex::encode(&wdb.signature),
            s(&vec["signature_hex"]),
            "{id} signature"
        );
        assert_eq!(wdb.pubkey, s(&vec["pubkey_in_message"]), "{id}");
        let wdb_hex = hex::encode(&wdb.encode(Emissions::V10));
        assert_eq!(wdb_hex, s(&vec["worker_data_bundle_bytes_hex"]), "{id} wdb");
        let msg = tx::insert_payload_request(w.address(), &wdb, Emissions::V10);
        assert_eq!(
            hex::encode(&msg),
            s(&vec["insert_worker_payload_request_bytes_hex"]),
            "{id} msg"
        );
        verify::validate_worker_bundle(&wdb, Emissions::V10).unwrap();
    }
}

#[test]
fn negative_bundles_fail_over_the_chain_remarshal() {
    let v = support::vectors("bundle_signature.json");
    let negs = v["negative_vectors"].as_array().unwrap();
    assert_eq!(negs.len(), 5);
    for n in negs {
        let id = s(&n["id"]);
        let sent = hex::decode(s(&n["bundle_bytes_as_signed_hex"])).unwrap();
        let sig = hex::decode(s(&n["signature_hex"])).unwrap();
        let pubkey = hex::decode(s(&n["pubkey_hex"])).unwrap();
        let chain = verify::remarshal_bundle(&sent, Emissions::V10).unwrap();
        assert_eq!(
            hex::encode(&chain),
            s(&n["chain_remarshaled_bundle_hex"]),
            "{id}"
        );
        let err = verify::verify_bundle_signature(&chain, &sig, &pubkey).unwrap_err();
        assert!(matches!(err, Reject::Unauthorized(_)), "{id}: {err}");
        assert!(s(&n["chain_verdict"]).contains("signature verification failed"));
        if id == "neg_high_s_signature" {
            assert!(err.message().contains("high-S"), "{id}: {err}");
            let low = hex::decode(s(&n["low_s_signature_hex"])).unwrap();
            verify::verify_bundle_signature(&chain, &low, &pubkey).unwrap();
        } else {
            // the signature is good over the bytes as sent: the re-marshal is the reason
            assert_ne!(chain, sent, "{id}");
            verify::verify_bundle_signature(&sent, &sig, &pubkey).unwrap();
        }
    }
}

fn params(inp: &Value) -> TxParams {
    TxParams {
        chain_id: s(&inp["chain_id"]).into(),
        account_number: inp["account_number"].as_u64().unwrap(),
        sequence: inp["sequence"].as_u64().unwrap(),
        gas_limit: inp["gas_limit"].as_u64().unwrap(),
        fee_amount: s(&inp["fee"]["amount"]).parse().unwrap(),
        memo: s(&inp["memo"]).into(),
        timeout_height: inp["timeout_height"].as_u64().unwrap(),
        emissions: Emissions::parse(inp["emissions_version"].as_str().unwrap_or("v10")).unwrap(),
    }
}

fn payload(inp: &Value) -> Payload {
    let value = inp
        .get("inference_value_input")
        .unwrap_or(&inp["inference_value"]);
    let key = if inp["forecast"]
        .get(0)
        .is_some_and(|e| e.get("value_input").is_some())
    {
        "value_input"
    } else {
        "value"
    };
    Payload {
        topic_id: inp["topic_id"].as_u64().unwrap(),
        nonce: inp["nonce_block_height"].as_i64().unwrap(),
        value: f(value),
        forecasts: forecasts(&inp["forecast"], key),
    }
}

fn is_register(vec: &Value) -> bool {
    s(&vec["message"]["type_url"]).ends_with("RegisterRequest")
}

#[test]
fn tx_vectors_reproduced_byte_for_byte_and_verified() {
    let v = support::vectors("tx.json");
    let vectors = v["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 6);
    for vec in vectors {
        let id = s(&vec["id"]);
        let inp = &vec["inputs"];
        let out = &vec["outputs"];
        let w = wallet(inp["mnemonic_index"].as_u64().unwrap());
        assert_eq!(w.address(), s(&inp["signer_address"]), "{id}");
        let p = params(inp);
        let signed = if is_register(vec) {
            tx::register_tx(&w, inp["topic_id"].as_u64().unwrap(), &p).unwrap()
        } else {
            let wdb = tx::signed_worker_bundle(&w, &payload(inp), p.emissions).unwrap();
            let b = &vec["bundle"];
            let bundle = wdb.bundle.as_ref().unwrap().encode(p.emissions);
            if let Some(want) = b["bundle_bytes_hex"].as_str() {
                assert_eq!(hex::encode(&bundle), want, "{id} bundle");
            }
            if let Some(want) = b["bundle_signature_hex"].as_str() {
                assert_eq!(hex::encode(&wdb.signature), want, "{id} bundle sig");
            }
            let msg = tx::insert_payload_request(w.address(), &wdb, p.emissions);
            assert_eq!(
                hex::encode(&msg),
                s(&vec["message"]["value_hex"]),
                "{id} msg"
            );
            tx::insert_payload_tx(&w, &payload(inp), &p).unwrap()
        };
        assert_eq!(
            hex::encode(&signed.body),
            s(&out["tx_body_bytes_hex"]),
            "{id} body"
        );
        assert_eq!(
            hex::encode(&signed.auth_info),
            s(&out["auth_info_bytes_hex"]),
            "{id} auth"
        );
        assert_eq!(
            hex::encode(&signed.sign_doc),
            s(&out["sign_doc_bytes_hex"]),
            "{id} doc"
        );
        assert_eq!(
            hex::encode(&sha256(&signed.sign_doc)),
            s(&out["sign_doc_sha256_hex"])
        );
        assert_eq!(
            hex::encode(&signed.signature),
            s(&out["signature_hex"]),
            "{id} sig"
        );
        assert_eq!(
            hex::encode(&signed.tx_raw),
            s(&out["tx_raw_bytes_hex"]),
            "{id} raw"
        );
        assert_eq!(signed.hash, s(&out["tx_hash"]), "{id} hash");
        check_verified(vec, &signed.tx_raw, &p);
    }
}

fn check_verified(vec: &Value, raw: &[u8], p: &TxParams) {
    let id = s(&vec["id"]);
    let inp = &vec["inputs"];
    let got = verify::verify_tx(raw, &p.chain_id, p.account_number)
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    assert_eq!(got.signer, s(&inp["signer_address"]), "{id}");
    assert_eq!(
        (got.sequence, got.gas_limit),
        (p.sequence, p.gas_limit),
        "{id}"
    );
    assert_eq!(got.fee, vec![("uallo".to_string(), p.fee_amount)], "{id}");
    assert_eq!(got.messages.len(), 1);
    let m = &got.messages[0];
    assert_eq!(m.emissions(), p.emissions, "{id}");
    assert_eq!(m.topic_id(), inp["topic_id"].as_u64().unwrap());
    match m {
        Msg::Insert { .. } => {
            assert_eq!(m.worker(), s(&inp["signer_address"]));
            assert_eq!(m.nonce(), inp["nonce_block_height"].as_i64().unwrap());
            assert_eq!(
                m.value().as_deref(),
                inp["inference_value"].as_str(),
                "{id}"
            );
            let want: Vec<(String, String)> = inp["forecast"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| (s(&e["inferer"]).into(), s(&e["value"]).into()))
                        .collect()
                })
                .unwrap_or_default();
            let mut want = want;
            want.sort();
            assert_eq!(m.forecasts(), want, "{id}");
        }
        Msg::Register {
            owner, is_reputer, ..
        } => {
            assert_eq!(owner, s(&inp["owner"]));
            assert!(!is_reputer);
        }
    }
    let other_chain = verify::verify_tx(raw, "allora-other-1", p.account_number).unwrap_err();
    assert!(
        matches!(other_chain, Reject::Unauthorized(_)),
        "{id}: {other_chain}"
    );
    let other_account = verify::verify_tx(raw, &p.chain_id, p.account_number + 1).unwrap_err();
    assert_eq!(other_account.code(), 4, "{id}");
    assert_eq!(verify::decode_tx(raw).unwrap(), got, "{id}");
}

#[test]
fn negative_txs_rejected_for_their_reason() {
    let v = support::vectors("tx.json");
    let negs = v["negative_cases"].as_array().unwrap();
    assert_eq!(negs.len(), 3);
    for n in negs {
        let id = s(&n["id"]);
        let raw = hex::decode(s(&n["tx_raw_bytes_hex"])).unwrap();
        let chain_id = s(&n["chain_id"]);
        let err =
            verify::verify_tx(&raw, chain_id, n["account_number"].as_u64().unwrap()).unwrap_err();
        match id {
            "neg_tx_high_s_signature" => {
                assert!(matches!(err, Reject::Unauthorized(_)), "{id}: {err}");
                assert!(err.message().contains("high-S"), "{id}: {err}");
                assert!(
                    err.message().starts_with("signature verification failed"),
                    "{err}"
                );
            }
            "neg_tx_bundle_signed_over_noncanonical_value" => {
                assert!(matches!(err, Reject::Unauthorized(_)), "{id}: {err}");
                assert!(err.message().contains("bundle signature"), "{id}: {err}");
            }
            "neg_tx_v9_inference_with_values_field" => {
                assert!(matches!(err, Reject::TxDecode(_)), "{id}: {err}");
                assert!(
                    err.message().contains("InputInference: unknown field 7"),
                    "{err}"
                );
                assert!(verify::decode_tx(&raw).is_err());
            }
            other => panic!("unexpected negative case {other}"),
        }
    }
}

#[test]
fn verifier_rejects_tampering() {
    let v = support::vectors("tx.json");
    let t1 = &v["vectors"][0];
    let raw = hex::decode(s(&t1["outputs"]["tx_raw_bytes_hex"])).unwrap();
    let (chain, acct) = ("allora-testnet-1", 48213);
    verify::verify_tx(&raw, chain, acct).unwrap();
    // every truncation is an error, never a panic
    for cut in 0..raw.len() {
        assert!(
            verify::verify_tx(&raw[..cut], chain, acct).is_err(),
            "cut {cut}"
        );
    }
    // any flipped byte is rejected
    for i in (0..raw.len()).step_by(7) {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        assert!(verify::verify_tx(&bad, chain, acct).is_err(), "flip at {i}");
    }
    // an unknown TxRaw field
    let mut extra = raw.clone();
    extra.extend([0x20, 0x01]);
    let e = verify::decode_tx(&extra).unwrap_err();
    assert!(e.message().contains("unknown field 4"), "{e}");
}

type Tamper = fn(&mut tx::WorkerDataBundle);

fn case(want: &'static str, tamper: Tamper, code: u32) -> (&'static str, Tamper, u32) {
    (want, tamper, code)
}

fn inference(b: &mut tx::WorkerDataBundle) -> &mut tx::Inference {
    b.bundle.as_mut().unwrap().inference.as_mut().unwrap()
}

fn forecast(b: &mut tx::WorkerDataBundle) -> &mut tx::Forecast {
    b.bundle.as_mut().unwrap().forecast.as_mut().unwrap()
}

#[test]
fn bundle_validate_rules() {
    let w = wallet(0);
    let other = wallet(1);
    let p = Payload {
        topic_id: 67,
        nonce: 100,
        value: 1.5,
        forecasts: vec![(other.address().into(), 2.0)],
    };
    let good = tx::signed_worker_bundle(&w, &p, Emissions::V10).unwrap();
    verify::validate_worker_bundle(&good, Emissions::V10).unwrap();
    let cases = [
        case("nonce cannot be nil", |b| b.nonce = None, 18),
        case("must be > 0", |b| b.nonce = Some(0), 29),
        case("invalid pubkey", |b| b.pubkey.truncate(64), 18),
        case("signature cannot be empty", |b| b.signature.clear(), 18),
        case("bundle cannot be nil", |b| b.bundle = None, 18),
        case("is not the bundle's topic", |b| b.topic_id = 68, 18),
        case("is not the nonce", |b| b.nonce = Some(101), 18),
        case(
            "at least one forecast element",
            |b| forecast(b).elements.clear(),
            18,
        ),
        case(
            "is not the worker",
            |b| b.worker = wallet(1).address().into(),
            4,
        ),
        case("pubkey's address", |b| b.pubkey = wallet(1).pubkey_hex(), 4),
        case(
            "bundle signature",
            |b| inference(b).values[0].1 = "1.50".into(),
            4,
        ),
        case("bundle signature", |b| inference(b).proof = "x".into(), 4),
        case(
            "invalid inferer address",
            |b| inference(b).inferer = "allo1x".into(),
            7,
        ),
    ];
    for (want, tamper, code) in cases {
        let mut b = good.clone();
        tamper(&mut b);
        let e = verify::validate_worker_bundle(&b, Emissions::V10).unwrap_err();
        assert!(e.message().contains(want), "{want}: {e}");
        assert_eq!(e.code(), code, "{want}: {e}");
    }
}

#[test]
fn sign_binary_reproduces_vectors() {
    let v = support::vectors("tx.json");
    let dir = support::temp_dir("sign");
    for vec in v["vectors"].as_array().unwrap() {
        let inp = &vec["inputs"];
        let p = params(inp);
        let m = mnemonic(inp["mnemonic_index"].as_u64().unwrap());
        let mut args: Vec<String> =
            vec!["sign".into(), "--topic".into(), inp["topic_id"].to_string()];
        if is_register(vec) {
            args.push("--register".into());
        } else {
            let pl = payload(inp);
            args.extend([
                "--nonce".into(),
                pl.nonce.to_string(),
                format!("--value={}", pl.value),
            ]);
            for (inferer, value) in &pl.forecasts {
                args.extend(["--forecast".into(), format!("{inferer}={value}")]);
            }
            args.extend(["--emissions".into(), p.emissions.name().into()]);
        }
        for (flag, val) in [
            ("--account-number", p.account_number.to_string()),
            ("--sequence", p.sequence.to_string()),
            ("--gas", p.gas_limit.to_string()),
            ("--fee", p.fee_amount.to_string()),
            ("--chain-id", p.chain_id.clone()),
        ] {
            args.extend([flag.into(), val]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = support::run(&dir, &refs, &[("MNEMONIC", &m)]);
        let (stdout, stderr) = support::texts(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        let j: Value = serde_json::from_str(&stdout).expect("sign prints JSON");
        assert_eq!(s(&j["txhash"]), s(&vec["outputs"]["tx_hash"]));
        assert_eq!(s(&j["tx_bytes"]), s(&vec["outputs"]["tx_raw_base64"]));
        assert_eq!(s(&j["body_hex"]), s(&vec["outputs"]["tx_body_bytes_hex"]));
        assert_eq!(
            s(&j["auth_info_hex"]),
            s(&vec["outputs"]["auth_info_bytes_hex"])
        );
        assert_eq!(
            s(&j["sign_doc_hex"]),
            s(&vec["outputs"]["sign_doc_bytes_hex"])
        );
        assert!(!stdout.contains(&m) && !stderr.contains(&m));
    }
}

#[test]
fn sign_binary_refuses_bad_inputs_with_exit_2() {
    let dir = support::temp_dir("sign-bad");
    let m = mnemonic(0);
    let tail = [
        "--account-number",
        "1",
        "--sequence",
        "0",
        "--gas",
        "300000",
        "--fee",
        "3000000",
    ];
    let cases: [(&[&str], &str); 7] = [
        (&["--topic", "67", "--nonce", "5", "--value", "NaN"], "NaN"),
        (
            &["--topic", "67", "--nonce", "5", "--value", "1e41"],
            "outside",
        ),
        (
            &["--topic", "67", "--nonce", "5", "--value", "1e-41"],
            "outside",
        ),
        (
            &["--topic", "67", "--nonce", "0", "--value", "1"],
            "nonce 0",
        ),
        (
            &["--topic", "67", "--nonce", "-7", "--value", "1"],
            "nonce -7",
        ),
        (&["--topic", "0", "--nonce", "5", "--value", "1"], "topic 0"),
        (
            &[
                "--topic",
                "67",
                "--nonce",
                "5",
                "--value",
                "1",
                "--forecast",
                "allo1x=inf",
            ],
            "inf",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["sign"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&tail);
        let out = support::run(&dir, &args, &[("MNEMONIC", &m)]);
        let (stdout, stderr) = support::texts(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

#[test]
fn memo_timeout_and_simulation_round_trip() {
    let w = wallet(2);
    let p = TxParams {
        chain_id: "devnet-1".into(),
        account_number: 1 << 40,
        sequence: (1 << 40) - 1,
        gas_limit: 123_456,
        fee_amount: u128::from(u64::MAX) + 1,
        memo: "ünïcödé ✓".into(),
        timeout_height: 99,
        emissions: Emissions::V9,
    };
    let payload = Payload {
        topic_id: 67,
        nonce: i64::MAX,
        value: -1e-12,
        forecasts: vec![(wallet(0).address().into(), 1e6)],
    };
    let signed = tx::insert_payload_tx(&w, &payload, &p).unwrap();
    let got = verify::verify_tx(&signed.tx_raw, "devnet-1", 1 << 40).unwrap();
    assert_eq!((got.memo.as_str(), got.timeout_height), ("ünïcödé ✓", 99));
    assert_eq!(
        got.fee,
        vec![("uallo".to_string(), u128::from(u64::MAX) + 1)]
    );
    assert_eq!(got.sequence, (1 << 40) - 1);
    let m = &got.messages[0];
    assert!(matches!(m, Msg::Insert { .. }), "expected an insert: {m:?}");
    assert_eq!(m.value().as_deref(), Some("-1E-12"));
    assert_eq!(m.forecasts()[0].1, "1000000");
    assert_eq!((m.nonce(), m.emissions()), (i64::MAX, Emissions::V9));
    let sim = tx::unsigned_for_simulation(&signed);
    assert_eq!(verify::decode_tx(&sim).unwrap(), got);
    let e = verify::verify_tx(&sim, "devnet-1", 1 << 40).unwrap_err();
    assert_eq!(e.code(), 4, "{e}");
}

#[test]
fn bench_json_reports_sign_tx_us() {
    let dir = support::temp_dir("bench");
    let out = support::run(&dir, &["bench", "--json", "--runs", "5"], &[]);
    let (stdout, stderr) = support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j: Value = serde_json::from_str(&stdout).expect("bench --json prints one JSON object");
    for key in [
        "sign_tx_us",
        "evaluate_1000_us",
        "burst_5_topics_ms",
        "idle_rss_5_topics_kb",
    ] {
        // Under an emulator (cross/test.sh sets ALLORA_TEST_RUNNER) the
        // 5-topic idle RSS needs a child of the ARM binary, which the
        // kernel cannot exec: then it must say so, never a made-up number.
        let emulated = std::env::var_os("ALLORA_TEST_RUNNER").is_some();
        if key == "idle_rss_5_topics_kb" && emulated && j[key].is_null() {
            assert!(
                stderr.contains("WARNING bench idle_rss_5_topics_kb: not measured here"),
                "{stderr}"
            );
            continue;
        }
        assert!(
            j[key].as_f64().is_some_and(|us| us > 0.0),
            "{key}: {stdout}"
        );
    }
}
