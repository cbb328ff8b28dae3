//! The worker's key: BIP-39 mnemonic → BIP-32 `m/44'/118'/0'/0/0` →
//! compressed secp256k1 pubkey → bech32 `allo1…` address, and signing of
//! SHA-256 digests (RFC 6979, low-S, 64-byte r‖s).
//!
//! Pure. The mnemonic and private key stay inside `Secret`; errors name word
//! positions, never words. `Wallet`'s `Debug` shows only the address.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32, Hrp};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::logic::hex;
use crate::logic::secret::Secret;

/// The Cosmos HD path for coin type 118, as every Allora SDK uses.
pub const HD_PATH: &str = "m/44'/118'/0'/0/0";
/// The bech32 human-readable part of Allora account addresses.
pub const HRP: &str = "allo";

/// A loaded signing key with its public key and address.
pub struct Wallet {
    key: Secret<SigningKey>,
    pubkey: [u8; 33],
    address: String,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wallet({})", self.address)
    }
}

impl Wallet {
    /// Derives the wallet from a BIP-39 English mnemonic (12–24 words, checksum
    /// verified, empty passphrase). Whitespace is normalised and case ignored.
    pub fn from_mnemonic(mnemonic: &Secret<String>) -> Result<Wallet> {
        let seed = mnemonic_to_seed(mnemonic)?;
        let path = bip32::DerivationPath::from_str(HD_PATH).expect("HD_PATH is a valid path");
        let xprv = bip32::XPrv::derive_from_path(seed.expose(), &path)
            .map_err(|e| Error::Wallet(format!("key derivation failed: {e}")))?;
        Ok(Wallet::from_signing_key(xprv.private_key().clone()))
    }

    /// Loads a raw 32-byte private key (tests and the protocol's own vector).
    pub fn from_private_key(bytes: &[u8]) -> Result<Wallet> {
        let key = SigningKey::from_slice(bytes)
            .map_err(|_| Error::Wallet("private key is not a valid secp256k1 scalar".into()))?;
        Ok(Wallet::from_signing_key(key))
    }

    fn from_signing_key(key: SigningKey) -> Wallet {
        let pubkey = compressed_pubkey(key.verifying_key());
        let address = address_from_pubkey(&pubkey);
        Wallet {
            key: Secret::new(key),
            pubkey,
            address,
        }
    }

    /// The bech32 `allo1…` address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The 33-byte compressed public key.
    pub fn pubkey(&self) -> &[u8; 33] {
        &self.pubkey
    }

    /// The compressed public key as lower-case hex (the bundle's field 6).
    pub fn pubkey_hex(&self) -> String {
        hex::encode(&self.pubkey)
    }

    /// The raw private key, still wrapped. Only tests compare it.
    pub fn private_key_bytes(&self) -> Secret<[u8; 32]> {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.key.expose().to_bytes());
        Secret::new(out)
    }

    /// Signs a 32-byte SHA-256 digest: RFC 6979 nonce, low-S, 64 bytes r‖s.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 64] {
        let sig: Signature = self
            .key
            .expose()
            .sign_prehash(digest)
            .expect("signing a 32-byte prehash with a valid key cannot fail");
        let sig = sig.normalize_s();
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        out
    }

    /// Signs SHA-256 of `msg` (bundle and SignDoc signatures).
    pub fn sign_sha256(&self, msg: &[u8]) -> [u8; 64] {
        self.sign_digest(&sha256(msg))
    }
}

/// BIP-39 mnemonic → 64-byte seed. Errors name positions, never words.
pub fn mnemonic_to_seed(mnemonic: &Secret<String>) -> Result<Secret<[u8; 64]>> {
    let words: Vec<String> = mnemonic
        .expose()
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .collect();
    if words.is_empty() {
        return Err(Error::Wallet("the mnemonic is empty".into()));
    }
    let normalized = Secret::new(words.join(" "));
    let parsed = bip39::Mnemonic::parse_normalized(normalized.expose()).map_err(|e| match e {
        bip39::Error::BadWordCount(n) => Error::Wallet(format!(
            "the mnemonic has {n} words; expected 12, 15, 18, 21 or 24"
        )),
        bip39::Error::UnknownWord(i) => Error::Wallet(format!(
            "word {} of the mnemonic is not in the BIP-39 English list",
            i + 1
        )),
        bip39::Error::InvalidChecksum => Error::Wallet(
            "the mnemonic checksum is wrong (a word is mistyped or out of order)".into(),
        ),
        _ => Error::Wallet("the mnemonic is not a valid BIP-39 English mnemonic".into()),
    })?;
    Ok(Secret::new(parsed.to_seed_normalized("")))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(data));
    out
}

fn compressed_pubkey(vk: &VerifyingKey) -> [u8; 33] {
    let mut out = [0u8; 33];
    out.copy_from_slice(vk.to_sec1_point(true).as_bytes());
    out
}

/// bech32(`allo`, RIPEMD160(SHA256(pubkey))).
pub fn address_from_pubkey(pubkey: &[u8; 33]) -> String {
    let h160 = Ripemd160::digest(sha256(pubkey));
    let hrp = Hrp::parse(HRP).expect("HRP is a valid bech32 prefix");
    bech32::encode::<Bech32>(hrp, &h160).expect("a 20-byte payload always encodes")
}

/// Verifies a 64-byte r‖s signature over SHA-256 of `msg`, as the chain does:
/// a high-S signature is rejected.
pub fn verify_sha256(pubkey: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
    use k256::ecdsa::signature::hazmat::PrehashVerifier;
    let vk = VerifyingKey::from_sec1_bytes(pubkey)
        .map_err(|_| Error::Verify("pubkey is not a valid secp256k1 point".into()))?;
    let sig = Signature::from_slice(sig).map_err(|_| {
        Error::Verify(format!(
            "signature is {} bytes, not a 64-byte r||s",
            sig.len()
        ))
    })?;
    if sig.normalize_s() != sig {
        return Err(Error::Verify("signature is high-S".into()));
    }
    vk.verify_prehash(&sha256(msg), &sig)
        .map_err(|_| Error::Verify("signature does not verify".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandon_about_gives_the_known_address() {
        let m = Secret::new("abandon ".repeat(11) + "about");
        let w = Wallet::from_mnemonic(&m).unwrap();
        assert_eq!(w.address(), "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv");
        assert_eq!(
            w.pubkey_hex(),
            "024f4e2ad99c34d60b9ba6283c9431a8418af8673212961f97a77b6377fcd05b62"
        );
    }

    #[test]
    fn errors_name_positions_not_words() {
        let bad = Secret::new("abandon ".repeat(10) + "zebraa about");
        let e = Wallet::from_mnemonic(&bad).unwrap_err().to_string();
        assert!(e.contains("word 11"), "{e}");
        assert!(!e.contains("zebraa") && !e.contains("abandon"), "{e}");
        let checksum = Secret::new("abandon ".repeat(12));
        let e = Wallet::from_mnemonic(&checksum).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        let short = Secret::new("abandon about".to_string());
        assert!(Wallet::from_mnemonic(&short)
            .unwrap_err()
            .to_string()
            .contains("2 words"));
    }

    #[test]
    fn signatures_are_low_s_and_verify() {
        let w =
            Wallet::from_private_key(&sha256(b"allora-protocol-test-vector-do-not-use")).unwrap();
        assert_eq!(w.address(), "allo1nn2d58enawvcgelgu92emsuqu30x2y3euhwu2z");
        let sig = w.sign_sha256(b"hello");
        verify_sha256(w.pubkey(), b"hello", &sig).unwrap();
        assert!(verify_sha256(w.pubkey(), b"hellO", &sig).is_err());
        assert_eq!(
            format!("{w:?}"),
            "Wallet(allo1nn2d58enawvcgelgu92emsuqu30x2y3euhwu2z)"
        );
    }
}
