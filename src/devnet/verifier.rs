//! The devnet's link to the transaction verifier of `logic::verify` (decode,
//! tx signature, bundle Validate and re-marshalled bundle signature), plus
//! the one check the chain runs separately in its ante handler: the tx
//! signature over SignDoc alone, so a bad bundle fails at DeliverTx (as on
//! the chain) and not at CheckTx. It re-implements nothing of the verifier.

use crate::logic::wallet;

pub use stub::{decode_tx, verify_tx, Msg, Reject, VerifiedTx};

/// Stand-in with the agreed interface of `logic::verify` until branch `tx`
/// is merged: every transaction is a decode error.
mod stub {
    use crate::logic::emissions::Emissions;

    #[derive(Debug, Clone)]
    pub enum Reject {
        TxDecode(String),
        Unauthorized(String),
        InvalidRequest(String),
        InvalidChainId(String),
    }
    #[derive(Debug, Clone)]
    pub struct VerifiedTx {
        pub signer: String,
        pub pubkey: [u8; 33],
        pub sequence: u64,
        pub fee: Vec<(String, u128)>,
        pub gas_limit: u64,
        pub memo: String,
        pub timeout_height: u64,
        pub messages: Vec<Msg>,
    }
    #[derive(Debug, Clone)]
    pub enum Msg {
        InsertPayload {
            emissions: Emissions,
            sender: String,
            worker: String,
            topic_id: u64,
            nonce: i64,
            value: Option<String>,
            forecasts: Vec<(String, String)>,
        },
        Register {
            emissions: Emissions,
            sender: String,
            topic_id: u64,
            owner: String,
            is_reputer: bool,
        },
    }
    pub fn decode_tx(_tx_raw: &[u8]) -> Result<VerifiedTx, Reject> {
        Err(Reject::TxDecode("verifier not wired yet".into()))
    }
    pub fn verify_tx(
        _tx_raw: &[u8],
        _chain_id: &str,
        _account_number: u64,
    ) -> Result<VerifiedTx, Reject> {
        Err(Reject::TxDecode("verifier not wired yet".into()))
    }
}

/// Checks the TxRaw's single signature against SIGN_MODE_DIRECT's SignDoc
/// for `chain_id` and `account_number`; false on any malformed input.
pub fn tx_signature_ok(
    tx_raw: &[u8],
    pubkey: &[u8; 33],
    chain_id: &str,
    account_number: u64,
) -> bool {
    let Some((body, auth, sigs)) = split_tx_raw(tx_raw) else {
        return false;
    };
    if sigs.len() != 1 {
        return false;
    }
    let mut doc = Vec::with_capacity(body.len() + auth.len() + chain_id.len() + 16);
    put_bytes(&mut doc, 1, body);
    put_bytes(&mut doc, 2, auth);
    if !chain_id.is_empty() {
        put_bytes(&mut doc, 3, chain_id.as_bytes());
    }
    if account_number != 0 {
        doc.push(4 << 3);
        put_varint(&mut doc, account_number);
    }
    wallet::verify_sha256(pubkey, &doc, sigs[0]).is_ok()
}

/// (body_bytes, auth_info_bytes, signatures) of a TxRaw.
type TxRawParts<'a> = (&'a [u8], &'a [u8], Vec<&'a [u8]>);

/// Splits TxRaw into its parts.
fn split_tx_raw(raw: &[u8]) -> Option<TxRawParts<'_>> {
    let (mut body, mut auth, mut sigs) = (None, None, Vec::new());
    let mut pos = 0;
    while pos < raw.len() {
        let key = varint(raw, &mut pos)?;
        if key & 7 != 2 {
            return None;
        }
        let len = usize::try_from(varint(raw, &mut pos)?).ok()?;
        let field = raw.get(pos..pos.checked_add(len)?)?;
        pos += len;
        match key >> 3 {
            1 => body = Some(field),
            2 => auth = Some(field),
            3 => sigs.push(field),
            _ => return None,
        }
    }
    Some((body?, auth?, sigs))
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    out.push((field << 3 | 2) as u8);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
