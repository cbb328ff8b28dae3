//! Wallet derivation against the golden vectors in `tests/data/wallet.json`
//! (computed with the official Allora Python SDK, cross-checked elsewhere).

use allora_worker::logic::hex;
use allora_worker::logic::secret::Secret;
use allora_worker::logic::wallet::{mnemonic_to_seed, Wallet};

use crate::support::vectors;

#[test]
fn every_vector_wallet_derives_exactly() {
    let file = vectors("wallet.json");
    let wallets = file["wallets"].as_array().expect("wallets array");
    assert_eq!(wallets.len(), 4);
    for w in wallets {
        let id = w["id"].as_str().unwrap();
        let m = Secret::new(w["mnemonic"].as_str().unwrap().to_string());
        let seed = mnemonic_to_seed(&m).unwrap();
        assert_eq!(hex::encode(seed.expose()), w["bip39_seed_hex"], "{id} seed");
        let wallet = Wallet::from_mnemonic(&m).unwrap();
        assert_eq!(
            hex::encode(wallet.private_key_bytes().expose()),
            w["private_key_hex"],
            "{id} key"
        );
        assert_eq!(
            wallet.pubkey_hex(),
            w["public_key_compressed_hex"],
            "{id} pubkey"
        );
        assert_eq!(wallet.address(), w["address"], "{id} address");
    }
}

#[test]
fn the_binary_prints_address_and_pubkey_only() {
    let dir = crate::support::temp_dir("wallet-bin");
    let file = vectors("wallet.json");
    let w = &file["wallets"][1];
    let out = crate::support::run(
        &dir,
        &["wallet", "--json"],
        &[("MNEMONIC", w["mnemonic"].as_str().unwrap())],
    );
    let (stdout, stderr) = crate::support::texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["address"], w["address"]);
    assert_eq!(v["pubkey"], w["public_key_compressed_hex"]);
}
