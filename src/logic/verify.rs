//! Verifying a worker's transaction the way the chain does: decode it
//! (`tx_decode`: unknown fields, bad decimals and non-canonical TxRaw are
//! `TxDecode`), check the tx signature over the SignDoc, every message's
//! sender, and for every `InsertWorkerPayloadRequest` the chain's
//! `InputWorkerDataBundle.Validate()` with the bundle signature checked over
//! the chain's own re-marshal.
//!
//! Used by the devnet and the tests. Every failure is a `Reject` carrying the
//! sdk error class the chain would answer with. Pure; never panics on input.

use std::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::Bech32;

use crate::error::Error;
use crate::logic::emissions::Emissions;
use crate::logic::hex;
use crate::logic::tx::{self, WorkerDataBundle, SIGN_MODE_DIRECT};
use crate::logic::tx_decode::{self, Auth, RawTx};
use crate::logic::wallet::{address_from_pubkey, verify_sha256, HRP};

/// Why the chain refuses a transaction, with the sdk error class it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// sdk 2: the bytes do not decode (unknown field, bad decimal, truncated).
    TxDecode(String),
    /// sdk 4: a signature or signer does not verify.
    Unauthorized(String),
    /// sdk 18: a message breaks a `Validate()` rule.
    InvalidRequest(String),
    /// sdk 29: a nonce ≤ 0 or a topic id 0 (`ErrInvalidType` in `Validate()`).
    InvalidType(String),
    /// sdk 7: an address that is not valid `allo` bech32 of 20 or 32 bytes.
    InvalidAddress(String),
    /// sdk 28: the chain id is not this chain's (decided by the caller, e.g.
    /// the devnet; a wrong chain id in the SignDoc shows here as Unauthorized).
    InvalidChainId(String),
}

impl Reject {
    /// The cosmos-sdk error code (codespace `sdk`).
    pub fn code(&self) -> u32 {
        match self {
            Reject::TxDecode(_) => 2,
            Reject::Unauthorized(_) => 4,
            Reject::InvalidRequest(_) => 18,
            Reject::InvalidType(_) => 29,
            Reject::InvalidAddress(_) => 7,
            Reject::InvalidChainId(_) => 28,
        }
    }

    /// The reason, without the class.
    pub fn message(&self) -> &str {
        match self {
            Reject::TxDecode(m)
            | Reject::Unauthorized(m)
            | Reject::InvalidRequest(m)
            | Reject::InvalidType(m)
            | Reject::InvalidAddress(m)
            | Reject::InvalidChainId(m) => m,
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self {
            Reject::TxDecode(_) => "tx parse error",
            Reject::Unauthorized(_) => "unauthorized",
            Reject::InvalidRequest(_) => "invalid request",
            Reject::InvalidType(_) => "invalid type",
            Reject::InvalidAddress(_) => "invalid address",
            Reject::InvalidChainId(_) => "invalid chain-id",
        };
        write!(f, "{}: {class}", self.message())
    }
}

impl From<Error> for Reject {
    fn from(e: Error) -> Reject {
        Reject::TxDecode(match e {
            Error::Decode(m) => m,
            other => other.to_string(),
        })
    }
}

/// A decoded (and, from `verify_tx`, verified) transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    /// The `allo1…` address of the tx pubkey.
    pub signer: String,
    pub pubkey: [u8; 33],
    pub sequence: u64,
    /// (denom, amount).
    pub fee: Vec<(String, u128)>,
    pub gas_limit: u64,
    pub memo: String,
    pub timeout_height: u64,
    pub messages: Vec<Msg>,
}

/// A worker message of either emissions version (the decoder's type).
pub use crate::logic::tx_decode::Message as Msg;

/// Everything decoded, including what only verification needs.
struct Decoded {
    tx: VerifiedTx,
    raw: RawTx,
    auth: Auth,
}

fn decode_all(tx_raw: &[u8]) -> Result<Decoded, Reject> {
    let raw = tx_decode::decode_tx_raw(tx_raw)?;
    let body = tx_decode::decode_body(&raw.body)?;
    let auth = tx_decode::decode_auth_info(&raw.auth_info)?;
    let messages = body
        .messages
        .iter()
        .map(|(url, value)| tx_decode::decode_message(url, value))
        .collect::<crate::error::Result<Vec<Msg>>>()?;
    let pubkey = auth
        .pubkey
        .ok_or_else(|| Reject::TxDecode("the tx has no signer public key".into()))?;
    let tx = VerifiedTx {
        signer: address_from_pubkey(&pubkey),
        pubkey,
        sequence: auth.sequence,
        fee: auth.fee.clone(),
        gas_limit: auth.gas_limit,
        memo: body.memo,
        timeout_height: body.timeout_height,
        messages,
    };
    Ok(Decoded { tx, raw, auth })
}

/// Decodes a TxRaw without checking any signature (what `/simulate` needs).
pub fn decode_tx(tx_raw: &[u8]) -> Result<VerifiedTx, Reject> {
    decode_all(tx_raw).map(|d| d.tx)
}

/// Decodes and verifies a TxRaw as the chain's ante handler and message
/// server do: one SIGN_MODE_DIRECT signer whose low-S signature verifies over
/// the SignDoc for `chain_id` / `account_number`, every message signed by its
/// sender, every worker bundle valid (`Validate()` and its signature).
pub fn verify_tx(tx_raw: &[u8], chain_id: &str, account_number: u64) -> Result<VerifiedTx, Reject> {
    let d = decode_all(tx_raw)?;
    if d.auth.signer_count != 1 || d.raw.signatures.len() != 1 {
        return Err(Reject::Unauthorized(format!(
            "wrong number of signers: {} signer infos, {} signatures; expected 1",
            d.auth.signer_count,
            d.raw.signatures.len()
        )));
    }
    if d.auth.sign_mode != Some(SIGN_MODE_DIRECT) {
        return Err(Reject::Unauthorized(format!(
            "sign mode {:?} is not SIGN_MODE_DIRECT",
            d.auth.sign_mode
        )));
    }
    let doc = tx::sign_doc(&d.raw.body, &d.raw.auth_info, chain_id, account_number);
    verify_sha256(&d.tx.pubkey, &doc, &d.raw.signatures[0]).map_err(|e| {
        Reject::Unauthorized(format!(
            "signature verification failed ({}); please verify account number ({account_number}) and chain-id ({chain_id})",
            strip(e)
        ))
    })?;
    if d.tx.messages.is_empty() {
        return Err(Reject::InvalidRequest(
            "must contain at least one message".into(),
        ));
    }
    for msg in &d.tx.messages {
        if msg.sender() != d.tx.signer {
            return Err(Reject::Unauthorized(format!(
                "message sender {} is not the tx signer {}",
                msg.sender(),
                d.tx.signer
            )));
        }
        validate_message(msg)?;
    }
    Ok(d.tx)
}

/// One message's `Validate()`: the worker bundle of an insert, the topic
/// and owner of a register.
pub fn validate_message(msg: &Msg) -> Result<(), Reject> {
    match msg {
        Msg::Insert {
            emissions, bundle, ..
        } => match bundle {
            Some(wdb) => validate_worker_bundle(wdb, *emissions),
            None => Err(invalid("worker data bundle cannot be nil")),
        },
        Msg::Register {
            topic_id, owner, ..
        } => validate_register(*topic_id, owner),
    }
}

fn strip(e: Error) -> String {
    match e {
        Error::Verify(m) => m,
        other => other.to_string(),
    }
}

fn validate_register(topic_id: u64, owner: &str) -> Result<(), Reject> {
    if topic_id == 0 {
        return Err(Reject::InvalidType("topic id zero is reserved".into()));
    }
    check_address(owner, "owner")
}

/// `sdk.AccAddressFromBech32`: BIP-173 bech32 with the `allo` prefix and
/// 20 or 32 bytes (sdk/7 otherwise).
pub fn check_address(addr: &str, what: &str) -> Result<(), Reject> {
    let bad = || Reject::InvalidAddress(format!("invalid {what} address {addr:?}"));
    let parsed = CheckedHrpstring::new::<Bech32>(addr).map_err(|_| bad())?;
    let len = parsed.byte_iter().len();
    if parsed.hrp().as_str() != HRP
        || addr.bytes().any(|b| b.is_ascii_uppercase())
        || (len != 20 && len != 32)
    {
        return Err(bad());
    }
    Ok(())
}

fn invalid(m: impl Into<String>) -> Reject {
    Reject::InvalidRequest(m.into())
}

/// `InputWorkerDataBundle.Validate()` (ALLORA-PROTOCOL.md §4.2), in its order.
pub fn validate_worker_bundle(w: &WorkerDataBundle, em: Emissions) -> Result<(), Reject> {
    let nonce = w
        .nonce
        .ok_or_else(|| invalid("worker data bundle nonce cannot be nil"))?;
    if nonce <= 0 {
        return Err(Reject::InvalidType(format!(
            "nonce block height {nonce} must be > 0"
        )));
    }
    if w.worker.is_empty() || w.pubkey.is_empty() {
        return Err(invalid("worker and public key cannot be empty"));
    }
    let pubkey: [u8; 33] = hex::decode(&w.pubkey)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid(format!("invalid pubkey {:?}", w.pubkey)))?;
    let pk_addr = address_from_pubkey(&pubkey);
    if w.signature.is_empty() {
        return Err(invalid("signature cannot be empty"));
    }
    let b = w
        .bundle
        .as_ref()
        .ok_or_else(|| invalid("inference forecasts bundle cannot be nil"))?;
    if b.inference.is_none() && b.forecast.is_none() {
        return Err(invalid("inference and forecast cannot both be nil"));
    }
    if let Some(i) = &b.inference {
        validate_part(
            w,
            &pk_addr,
            "inference",
            "inferer",
            &i.inferer,
            i.topic_id,
            i.block_height,
            nonce,
        )?;
    }
    if let Some(f) = &b.forecast {
        if f.elements.is_empty() {
            return Err(invalid("at least one forecast element must be provided"));
        }
        for (inferer, _) in &f.elements {
            check_address(inferer, "forecast element inferer")?;
        }
        validate_part(
            w,
            &pk_addr,
            "forecast",
            "forecaster",
            &f.forecaster,
            f.topic_id,
            f.block_height,
            nonce,
        )?;
    }
    verify_bundle_signature(&b.encode(em), &w.signature, &pubkey)?;
    if pk_addr != w.worker {
        return Err(Reject::Unauthorized(
            "worker address does not match signature".into(),
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn validate_part(
    w: &WorkerDataBundle,
    pk_addr: &str,
    part: &str,
    role: &str,
    who: &str,
    topic_id: u64,
    block_height: i64,
    nonce: i64,
) -> Result<(), Reject> {
    if topic_id == 0 {
        return Err(Reject::InvalidType(format!(
            "{part}: topic id zero is reserved"
        )));
    }
    check_address(who, role)?;
    if block_height < 0 {
        return Err(invalid(format!("{part}: block height must be >= 0")));
    }
    if who != pk_addr {
        return Err(Reject::Unauthorized(format!(
            "{part} {role} {who} is not the pubkey's address {pk_addr}"
        )));
    }
    if who != w.worker {
        return Err(Reject::Unauthorized(format!(
            "{part} {role} {who} is not the worker {}",
            w.worker
        )));
    }
    if topic_id != w.topic_id {
        return Err(invalid(format!(
            "{part} topic {topic_id} is not the bundle's topic {}",
            w.topic_id
        )));
    }
    if block_height != nonce {
        return Err(invalid(format!(
            "{part} block height {block_height} is not the nonce {nonce}"
        )));
    }
    Ok(())
}

/// The bytes the chain checks a bundle signature over: `raw` decoded with
/// version `em`'s types and re-encoded canonically.
pub fn remarshal_bundle(raw: &[u8], em: Emissions) -> Result<Vec<u8>, Reject> {
    Ok(tx_decode::decode_bundle(raw, em)?.encode(em))
}

/// cometbft `VerifySignature` of a bundle: 64-byte low-S r‖s over SHA-256
/// of `remarshaled` (the chain's bytes, see `remarshal_bundle`).
pub fn verify_bundle_signature(
    remarshaled: &[u8],
    signature: &[u8],
    pubkey: &[u8],
) -> Result<(), Reject> {
    verify_sha256(pubkey, remarshaled, signature).map_err(|e| {
        Reject::Unauthorized(format!(
            "bundle signature verification failed ({})",
            strip(e)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bech32::Hrp;

    #[test]
    fn addresses_are_allo_bech32_of_20_or_32_bytes() {
        let addr = |hrp: &str, len: usize| {
            bech32::encode::<Bech32>(Hrp::parse(hrp).unwrap(), &vec![7u8; len]).unwrap()
        };
        let check = |a: &str, ok: bool| {
            let got = check_address(a, "worker");
            assert_eq!(got.is_ok(), ok, "{a}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.code(), 7, "{a}");
            }
        };
        check(&addr("allo", 20), true);
        check(&addr("allo", 32), true);
        check(&addr("allo", 21), false);
        check(&addr("allo", 0), false);
        check(&addr("cosmos", 20), false);
        check(&addr("allo", 20).to_uppercase(), false);
        check("allo1xyz", false);
    }
}
