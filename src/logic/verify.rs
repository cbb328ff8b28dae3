//! Decoding and verifying a worker's transaction the way the chain does:
//! TxRaw (ADR-027 canonical) → TxBody / AuthInfo → messages → worker bundle,
//! unknown fields rejected everywhere, decimals parsed and bounded as
//! `BoundedExp40Dec`; then the tx signature over the SignDoc, and for every
//! `InsertWorkerPayloadRequest` the chain's `InputWorkerDataBundle.Validate()`
//! with the bundle signature checked over the chain's own re-marshal.
//!
//! Used by the devnet and the tests. Every failure is a `Reject` carrying the
//! sdk error class the chain would answer with. Pure; never panics on input.

use std::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::Bech32;

use crate::error::{Error, Result};
use crate::logic::decimal::canonicalize_str;
use crate::logic::emissions::Emissions;
use crate::logic::hex;
use crate::logic::proto::{Field, Reader};
use crate::logic::tx::{
    self, Bundle, Forecast, Inference, WorkerDataBundle, PUBKEY_TYPE_URL, SIGN_MODE_DIRECT,
};
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
            Reject::InvalidChainId(_) => 28,
        }
    }

    /// The reason, without the class.
    pub fn message(&self) -> &str {
        match self {
            Reject::TxDecode(m)
            | Reject::Unauthorized(m)
            | Reject::InvalidRequest(m)
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

/// A worker message of either emissions version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    InsertPayload {
        emissions: Emissions,
        sender: String,
        worker: String,
        topic_id: u64,
        nonce: i64,
        /// Canonical decimal of the inference: `values[0]` (v10) or `value`.
        value: Option<String>,
        /// (inferer, canonical decimal).
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

/// Everything decoded, including what only verification needs.
struct Decoded {
    tx: VerifiedTx,
    body: Vec<u8>,
    auth_info: Vec<u8>,
    signatures: Vec<Vec<u8>>,
    signer_count: usize,
    sign_mode: Option<u64>,
    /// Per message: the decoded worker bundle of an InsertWorkerPayloadRequest.
    bundles: Vec<Option<(Emissions, WorkerDataBundle)>>,
}

/// Calls `f` for each field of the message `buf`.
fn each<'a>(
    buf: &'a [u8],
    msg: &'static str,
    mut f: impl FnMut(Field<'a>) -> Result<()>,
) -> Result<()> {
    let mut r = Reader::new(buf, msg);
    while let Some(field) = r.next_field()? {
        f(field)?;
    }
    Ok(())
}

/// gogoproto merges repeated occurrences of a singular message field.
fn merge(slot: &mut Option<Vec<u8>>, field: &Field<'_>) -> Result<()> {
    slot.get_or_insert_with(Vec::new)
        .extend_from_slice(field.bytes()?);
    Ok(())
}

fn dec(field: &Field<'_>) -> Result<String> {
    canonicalize_str(&field.string()?)
}

/// TxRaw's parts: body bytes, auth-info bytes, signatures.
type RawParts = (Vec<u8>, Vec<u8>, Vec<Vec<u8>>);

fn decode_tx_raw(raw: &[u8]) -> Result<RawParts> {
    let (mut body, mut auth, mut sigs) = (None, None, Vec::new());
    each(raw, "TxRaw", |f| {
        match f.number {
            1 => body = Some(f.bytes()?.to_vec()),
            2 => auth = Some(f.bytes()?.to_vec()),
            3 => sigs.push(f.bytes()?.to_vec()),
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    let (body, auth) = (body.unwrap_or_default(), auth.unwrap_or_default());
    let refs: Vec<&[u8]> = sigs.iter().map(Vec::as_slice).collect();
    if tx::tx_raw(&body, &auth, &refs) != raw {
        return Err(Error::Decode(
            "TxRaw is not ADR-027 canonical (field order, repetition or varint form)".into(),
        ));
    }
    Ok((body, auth, sigs))
}

fn decode_any(buf: &[u8]) -> Result<(String, Vec<u8>)> {
    let (mut url, mut value) = (String::new(), Vec::new());
    each(buf, "Any", |f| {
        match f.number {
            1 => url = f.string()?,
            2 => value = f.bytes()?.to_vec(),
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    Ok((url, value))
}

fn decode_body(buf: &[u8], tx: &mut VerifiedTx) -> Result<Vec<(String, Vec<u8>)>> {
    let mut messages = Vec::new();
    each(buf, "TxBody", |f| {
        match f.number {
            1 => messages.push(decode_any(f.bytes()?)?),
            2 => tx.memo = f.string()?,
            3 => tx.timeout_height = f.uint()?,
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    Ok(messages)
}

fn decode_signer(buf: &[u8], d: &mut Decoded) -> Result<()> {
    each(buf, "SignerInfo", |f| {
        match f.number {
            1 => {
                let (url, value) = decode_any(f.bytes()?)?;
                if url != PUBKEY_TYPE_URL {
                    return Err(Error::Decode(format!("unsupported pubkey type {url:?}")));
                }
                each(&value, "PubKey", |k| match k.number {
                    1 => {
                        let key = k.bytes()?;
                        d.tx.pubkey = key.try_into().map_err(|_| {
                            Error::Decode(format!("pubkey is {} bytes, not 33", key.len()))
                        })?;
                        Ok(())
                    }
                    _ => Err(k.unknown()),
                })?;
            }
            2 => each(f.bytes()?, "ModeInfo", |m| match m.number {
                1 => each(m.bytes()?, "ModeInfo.Single", |s| match s.number {
                    1 => {
                        d.sign_mode = Some(s.uint()?);
                        Ok(())
                    }
                    _ => Err(s.unknown()),
                }),
                _ => Err(m.unknown()),
            })?,
            3 => d.tx.sequence = f.uint()?,
            _ => return Err(f.unknown()),
        }
        Ok(())
    })
}

fn decode_coin(buf: &[u8]) -> Result<(String, u128)> {
    let (mut denom, mut amount) = (String::new(), String::new());
    each(buf, "Coin", |f| {
        match f.number {
            1 => denom = f.string()?,
            2 => amount = f.string()?,
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    let n = amount
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| amount.parse::<u128>().ok())
        .flatten()
        .ok_or_else(|| Error::Decode(format!("fee amount {amount:?} is not a whole number")))?;
    Ok((denom, n))
}

fn decode_auth_info(buf: &[u8], d: &mut Decoded) -> Result<()> {
    each(buf, "AuthInfo", |f| {
        match f.number {
            1 => {
                d.signer_count += 1;
                if d.signer_count == 1 {
                    decode_signer(f.bytes()?, d)?;
                }
            }
            2 => each(f.bytes()?, "Fee", |g| {
                match g.number {
                    1 => d.tx.fee.push(decode_coin(g.bytes()?)?),
                    2 => d.tx.gas_limit = g.uint()?,
                    3 | 4 if g.bytes()?.is_empty() => {}
                    3 | 4 => {
                        return Err(Error::Decode(
                            "fee payer and granter are not supported".into(),
                        ))
                    }
                    _ => return Err(g.unknown()),
                }
                Ok(())
            })?,
            _ => return Err(f.unknown()),
        }
        Ok(())
    })
}

fn decode_inference(buf: &[u8], em: Emissions) -> Result<Inference> {
    let mut i = Inference {
        value: "0".into(),
        ..Inference::default()
    };
    each(buf, "InputInference", |f| {
        match f.number {
            1 => i.topic_id = f.uint()?,
            2 => i.block_height = f.int()?,
            3 => i.inferer = f.string()?,
            4 => i.value = dec(&f)?,
            5 => i.extra_data = f.bytes()?.to_vec(),
            6 => i.proof = f.string()?,
            7 if em == Emissions::V10 => {
                let (mut label, mut value) = (String::new(), "0".to_string());
                each(f.bytes()?, "InputLabeledValue", |l| {
                    match l.number {
                        1 => label = l.string()?,
                        2 => value = dec(&l)?,
                        _ => return Err(l.unknown()),
                    }
                    Ok(())
                })?;
                i.values.push((label, value));
            }
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    Ok(i)
}

fn decode_forecast(buf: &[u8]) -> Result<Forecast> {
    let mut fc = Forecast::default();
    each(buf, "InputForecast", |f| {
        match f.number {
            1 => fc.topic_id = f.uint()?,
            2 => fc.block_height = f.int()?,
            3 => fc.forecaster = f.string()?,
            4 => {
                let (mut inferer, mut value) = (String::new(), "0".to_string());
                each(f.bytes()?, "InputForecastElement", |e| {
                    match e.number {
                        1 => inferer = e.string()?,
                        2 => value = dec(&e)?,
                        _ => return Err(e.unknown()),
                    }
                    Ok(())
                })?;
                fc.elements.push((inferer, value));
            }
            5 => fc.extra_data = f.bytes()?.to_vec(),
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    Ok(fc)
}

/// Decodes an `InputInferenceForecastBundle` as the chain's gogoproto types
/// of version `em` do: decimals re-printed canonically, field 7 only in v10.
pub fn decode_bundle(buf: &[u8], em: Emissions) -> Result<Bundle> {
    let (mut inf, mut fc) = (None, None);
    each(buf, "InputInferenceForecastBundle", |f| match f.number {
        1 => merge(&mut inf, &f),
        2 => merge(&mut fc, &f),
        _ => Err(f.unknown()),
    })?;
    Ok(Bundle {
        inference: inf.map(|b| decode_inference(&b, em)).transpose()?,
        forecast: fc.map(|b| decode_forecast(&b)).transpose()?,
    })
}

fn decode_worker_bundle(buf: &[u8], em: Emissions) -> Result<WorkerDataBundle> {
    let mut w = WorkerDataBundle::default();
    let (mut nonce, mut bundle) = (None, None);
    each(buf, "InputWorkerDataBundle", |f| {
        match f.number {
            1 => w.worker = f.string()?,
            2 => merge(&mut nonce, &f)?,
            3 => w.topic_id = f.uint()?,
            4 => merge(&mut bundle, &f)?,
            5 => w.signature = f.bytes()?.to_vec(),
            6 => w.pubkey = f.string()?,
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    if let Some(n) = nonce {
        let mut height = 0;
        each(&n, "Nonce", |f| match f.number {
            1 => {
                height = f.int()?;
                Ok(())
            }
            _ => Err(f.unknown()),
        })?;
        w.nonce = Some(height);
    }
    w.bundle = bundle.map(|b| decode_bundle(&b, em)).transpose()?;
    Ok(w)
}

fn decode_insert(buf: &[u8], em: Emissions) -> Result<(String, Option<WorkerDataBundle>)> {
    let (mut sender, mut wdb) = (String::new(), None);
    each(buf, "InsertWorkerPayloadRequest", |f| match f.number {
        1 => {
            sender = f.string()?;
            Ok(())
        }
        2 => merge(&mut wdb, &f),
        _ => Err(f.unknown()),
    })?;
    Ok((
        sender,
        wdb.map(|b| decode_worker_bundle(&b, em)).transpose()?,
    ))
}

fn decode_register(buf: &[u8], em: Emissions) -> Result<Msg> {
    let (mut sender, mut topic_id, mut owner, mut is_reputer) =
        (String::new(), 0, String::new(), false);
    each(buf, "RegisterRequest", |f| {
        match f.number {
            1 => sender = f.string()?,
            4 => topic_id = f.uint()?,
            5 => owner = f.string()?,
            6 => is_reputer = f.bool()?,
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    Ok(Msg::Register {
        emissions: em,
        sender,
        topic_id,
        owner,
        is_reputer,
    })
}

fn insert_msg(em: Emissions, sender: String, wdb: Option<&WorkerDataBundle>) -> Msg {
    let empty = WorkerDataBundle::default();
    let w = wdb.unwrap_or(&empty);
    let bundle = w.bundle.clone().unwrap_or_default();
    let value = bundle.inference.as_ref().map(|i| match i.values.first() {
        Some((_, v)) => v.clone(),
        None => i.value.clone(),
    });
    Msg::InsertPayload {
        emissions: em,
        sender,
        worker: w.worker.clone(),
        topic_id: w.topic_id,
        nonce: w.nonce.unwrap_or(0),
        value,
        forecasts: bundle.forecast.map(|f| f.elements).unwrap_or_default(),
    }
}

fn decode_message(url: &str, value: &[u8], d: &mut Decoded) -> Result<()> {
    for em in [Emissions::V10, Emissions::V9] {
        if url == em.type_url("InsertWorkerPayloadRequest") {
            let (sender, wdb) = decode_insert(value, em)?;
            d.tx.messages.push(insert_msg(em, sender, wdb.as_ref()));
            d.bundles.push(wdb.map(|w| (em, w)));
            return Ok(());
        }
        if url == em.type_url("RegisterRequest") {
            d.tx.messages.push(decode_register(value, em)?);
            d.bundles.push(None);
            return Ok(());
        }
    }
    Err(Error::Decode(format!("unable to resolve type URL {url}")))
}

fn decode_all(tx_raw: &[u8]) -> Result<Decoded, Reject> {
    let (body, auth_info, signatures) = decode_tx_raw(tx_raw)?;
    let mut d = Decoded {
        tx: VerifiedTx {
            signer: String::new(),
            pubkey: [0; 33],
            sequence: 0,
            fee: Vec::new(),
            gas_limit: 0,
            memo: String::new(),
            timeout_height: 0,
            messages: Vec::new(),
        },
        body,
        auth_info,
        signatures,
        signer_count: 0,
        sign_mode: None,
        bundles: Vec::new(),
    };
    let messages = decode_body(&d.body, &mut d.tx)?;
    let auth_info = d.auth_info.clone();
    decode_auth_info(&auth_info, &mut d)?;
    for (url, value) in &messages {
        decode_message(url, value, &mut d)?;
    }
    if d.signer_count == 0 {
        return Err(Reject::TxDecode("the tx has no signer info".into()));
    }
    d.tx.signer = address_from_pubkey(&d.tx.pubkey);
    Ok(d)
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
    if d.signer_count != 1 || d.signatures.len() != 1 {
        return Err(Reject::Unauthorized(format!(
            "wrong number of signers: {} signer infos, {} signatures; expected 1",
            d.signer_count,
            d.signatures.len()
        )));
    }
    if d.sign_mode != Some(SIGN_MODE_DIRECT) {
        return Err(Reject::Unauthorized(format!(
            "sign mode {:?} is not SIGN_MODE_DIRECT",
            d.sign_mode
        )));
    }
    let doc = tx::sign_doc(&d.body, &d.auth_info, chain_id, account_number);
    verify_sha256(&d.tx.pubkey, &doc, &d.signatures[0]).map_err(|e| {
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
    for (msg, bundle) in d.tx.messages.iter().zip(&d.bundles) {
        let sender = match msg {
            Msg::InsertPayload { sender, .. } | Msg::Register { sender, .. } => sender,
        };
        if *sender != d.tx.signer {
            return Err(Reject::Unauthorized(format!(
                "message sender {sender} is not the tx signer {}",
                d.tx.signer
            )));
        }
        match (msg, bundle) {
            (Msg::InsertPayload { .. }, Some((em, wdb))) => validate_worker_bundle(wdb, *em)?,
            (Msg::InsertPayload { .. }, None) => {
                return Err(Reject::InvalidRequest(
                    "worker data bundle cannot be nil".into(),
                ))
            }
            (
                Msg::Register {
                    topic_id, owner, ..
                },
                _,
            ) => validate_register(*topic_id, owner)?,
        }
    }
    Ok(d.tx)
}

fn strip(e: Error) -> String {
    match e {
        Error::Verify(m) => m,
        other => other.to_string(),
    }
}

fn validate_register(topic_id: u64, owner: &str) -> Result<(), Reject> {
    if topic_id == 0 {
        return Err(Reject::InvalidRequest("topic id zero is reserved".into()));
    }
    check_address(owner, "owner")
}

/// `sdk.AccAddressFromBech32`: BIP-173 bech32 with the `allo` prefix.
fn check_address(addr: &str, what: &str) -> Result<(), Reject> {
    let bad = || Reject::InvalidRequest(format!("invalid {what} address {addr:?}"));
    let parsed = CheckedHrpstring::new::<Bech32>(addr).map_err(|_| bad())?;
    let len = parsed.byte_iter().len();
    if parsed.hrp().as_str() != HRP
        || addr.bytes().any(|b| b.is_ascii_uppercase())
        || len == 0
        || len > 255
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
        return Err(invalid(format!("nonce block height {nonce} must be > 0")));
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
        return Err(invalid(format!("{part}: topic id zero is reserved")));
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
    Ok(decode_bundle(raw, em)?.encode(em))
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
