//! The shared vector transactions (`tests/data/tx.json`) replayed against a
//! devnet whose genesis matches each vector: accepted by CheckTx and
//! delivered; the negative ones rejected for their stated reason.

use super::*;

/// A devnet whose genesis matches vector `v` (chain id, account, version, gas price).
fn vector_devnet(v: &Value) -> Devnet {
    let inp = &v["inputs"];
    let emissions = Emissions::parse(inp["emissions_version"].as_str().unwrap_or("v10")).unwrap();
    let signer = inp["signer_address"].as_str().unwrap().to_string();
    let nonce = inp["nonce_block_height"].as_u64().unwrap_or(5_931_400);
    Devnet::start(DevnetConfig {
        chain_id: inp["chain_id"].as_str().unwrap().into(),
        emissions,
        min_gas_price: if emissions == Emissions::V9 {
            250_000_000.0
        } else {
            10.0
        },
        accounts: vec![GenesisAccount {
            address: signer.clone(),
            account_number: inp["account_number"].as_u64().unwrap(),
            sequence: inp["sequence"].as_u64().unwrap(),
            balance: FUNDS,
        }],
        registered: if inp["owner"].is_null() {
            vec![signer]
        } else {
            Vec::new()
        },
        start_height: nonce - 1,
        block_ms: 50,
        window_blocks: 200,
        ..DevnetConfig::default()
    })
    .unwrap()
}

#[test]
fn vector_transactions_are_accepted_and_delivered() {
    let file = support::vectors("tx.json");
    for v in file["vectors"].as_array().unwrap() {
        let id = v["id"].as_str().unwrap();
        let devnet = vector_devnet(v);
        let base = devnet.base_url();
        let raw = hex::decode(v["outputs"]["tx_raw_bytes_hex"].as_str().unwrap()).unwrap();
        let r = broadcast(&base, &raw);
        assert_eq!(
            (r["code"].as_u64(), r["raw_log"].as_str()),
            (Some(0), Some("")),
            "{id}: {r}"
        );
        let hash = r["txhash"].as_str().unwrap();
        let t = included(&base, hash);
        assert_eq!(t["code"], 0, "{id}: {t}");
        let nonce = v["inputs"]["nonce_block_height"]
            .as_u64()
            .unwrap_or(5_931_400);
        let height: u64 = t["height"].as_str().unwrap().parse().unwrap();
        assert!(
            height > nonce && height <= nonce + 200,
            "{id}: included at {height}"
        );
        let signer = v["inputs"]["signer_address"].as_str().unwrap();
        let s = stats(&devnet);
        if v["inputs"]["owner"].is_null() {
            let nonce = v["inputs"]["nonce_block_height"].to_string();
            assert_eq!(s["accepted_by_nonce"][&nonce][signer], 1, "{id}: {s}");
            let kinds = event_kinds(&t);
            assert!(
                kinds
                    .iter()
                    .any(|k| k.ends_with(".EventInsertInfererPayload")),
                "{id}: {kinds:?}"
            );
        } else {
            assert_eq!(
                ok(
                    &base,
                    &format!("/emissions/v10/worker_registered/67/{signer}")
                )["is_registered"],
                true
            );
        }
        let seq = ok(
            &base,
            &format!("/cosmos/auth/v1beta1/account_info/{signer}"),
        )["info"]["sequence"]
            .clone();
        assert_eq!(
            seq,
            (v["inputs"]["sequence"].as_u64().unwrap() + 1).to_string(),
            "{id}"
        );
    }
}

#[test]
fn negative_vectors_are_rejected_for_their_reason() {
    let file = support::vectors("tx.json");
    let t1 = &file["vectors"][0];
    for n in file["negative_cases"].as_array().unwrap() {
        let id = n["id"].as_str().unwrap();
        let mut v = t1.clone();
        v["inputs"]["chain_id"] = n["chain_id"].clone();
        v["inputs"]["sequence"] = json!(n["sequence"].as_u64().unwrap_or(3));
        if n["chain_id"] == "allora-mainnet-1" {
            v["inputs"]["emissions_version"] = json!("v9");
        }
        let devnet = vector_devnet(&v);
        let base = devnet.base_url();
        let raw = hex::decode(n["tx_raw_bytes_hex"].as_str().unwrap()).unwrap();
        let r = broadcast(&base, &raw);
        let (code, reason) = match id {
            "neg_tx_high_s_signature" => (4, "tx_signature"),
            "neg_tx_v9_inference_with_values_field" => (2, "decode"),
            "neg_tx_bundle_signed_over_noncanonical_value" => {
                assert_eq!(
                    r["code"], 0,
                    "the tx signature is fine, CheckTx admits it: {r}"
                );
                let t = included(&base, r["txhash"].as_str().unwrap());
                assert_eq!(
                    (t["code"].as_u64(), t["codespace"].as_str()),
                    (Some(4), Some("sdk")),
                    "{t}"
                );
                assert!(t["raw_log"].as_str().unwrap().contains("signature"), "{t}");
                assert_eq!(stats(&devnet)["rejected"], json!({"bundle_invalid": 1}));
                assert_eq!(stats(&devnet)["accepted"], 0);
                continue;
            }
            other => panic!("unknown negative case {other}"),
        };
        assert_eq!(
            (r["code"].as_u64(), r["codespace"].as_str()),
            (Some(code), Some("sdk")),
            "{id}: {r}"
        );
        assert_eq!(stats(&devnet)["rejected"], json!({reason: 1}), "{id}");
    }
}
