//! The devnet's link to the transaction verifier of `logic::verify` (decode,
//! tx signature, bundle Validate and re-marshalled bundle signature), plus
//! the one check the chain runs separately in its ante handler: the tx
//! signature over SignDoc alone, so a bad bundle fails at DeliverTx (as on
//! the chain) and not at CheckTx. It re-implements nothing of the verifier.

use crate::logic::{tx, wallet};

pub use crate::logic::verify::{
    check_address, decode_tx, validate_message, verify_tx, Msg, Reject, VerifiedTx,
};

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
    let doc = tx::sign_doc(body, auth, chain_id, account_number);
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
