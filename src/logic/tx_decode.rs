//! Decoding of what `tx.rs` encodes, with the chain's rules: TxRaw (ADR-027
//! canonical), TxBody, AuthInfo and the emissions v9/v10 worker messages.
//! Every unknown field is an error (the chain's `unknownproto` check), a
//! singular message field that repeats is merged (gogoproto), and decimal
//! fields are parsed, bounded and re-printed as `BoundedExp40Dec` does.
//!
//! Structure only: no signature or `Validate()` check (see `verify.rs`).
//! Pure; never panics on input.

use crate::error::{Error, Result};
use crate::logic::decimal::canonicalize_str;
use crate::logic::emissions::Emissions;
use crate::logic::proto::{Field, Reader};
use crate::logic::tx::{self, Bundle, Forecast, Inference, WorkerDataBundle, PUBKEY_TYPE_URL};

/// TxRaw's parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawTx {
    pub body: Vec<u8>,
    pub auth_info: Vec<u8>,
    pub signatures: Vec<Vec<u8>>,
}

/// TxBody: messages as (type URL, encoded message), memo, timeout height.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub messages: Vec<(String, Vec<u8>)>,
    pub memo: String,
    pub timeout_height: u64,
}

/// AuthInfo: the first signer's key, mode and sequence, how many signer
/// infos there were, and the fee.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub signer_count: usize,
    pub pubkey: Option<[u8; 33]>,
    pub sign_mode: Option<u64>,
    pub sequence: u64,
    /// (denom, amount).
    pub fee: Vec<(String, u128)>,
    pub gas_limit: u64,
}

/// A decoded worker message of either emissions version: the one message
/// type of the verifier, the devnet and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Insert {
        emissions: Emissions,
        sender: String,
        /// The worker data bundle; `None` when the message has none.
        bundle: Option<Box<WorkerDataBundle>>,
    },
    Register {
        emissions: Emissions,
        sender: String,
        topic_id: u64,
        owner: String,
        is_reputer: bool,
    },
}

impl Message {
    pub fn emissions(&self) -> Emissions {
        match self {
            Message::Insert { emissions, .. } | Message::Register { emissions, .. } => *emissions,
        }
    }

    pub fn sender(&self) -> &str {
        match self {
            Message::Insert { sender, .. } | Message::Register { sender, .. } => sender,
        }
    }

    /// The worker data bundle of an insert (None for a register or a nil bundle).
    pub fn worker_bundle(&self) -> Option<&WorkerDataBundle> {
        match self {
            Message::Insert { bundle, .. } => bundle.as_deref(),
            Message::Register { .. } => None,
        }
    }

    /// An insert's worker (bundle field 1); "" otherwise.
    pub fn worker(&self) -> &str {
        self.worker_bundle().map_or("", |w| w.worker.as_str())
    }

    /// An insert's topic (bundle field 3), a register's topic.
    pub fn topic_id(&self) -> u64 {
        match self {
            Message::Insert { .. } => self.worker_bundle().map_or(0, |w| w.topic_id),
            Message::Register { topic_id, .. } => *topic_id,
        }
    }

    /// An insert's nonce block height (0 when absent or not an insert).
    pub fn nonce(&self) -> i64 {
        self.worker_bundle().and_then(|w| w.nonce).unwrap_or(0)
    }

    fn inference(&self) -> Option<&Inference> {
        self.worker_bundle()?.bundle.as_ref()?.inference.as_ref()
    }

    /// The inference's canonical decimal: `values[0]` (v10) or `value`.
    pub fn value(&self) -> Option<String> {
        self.inference().map(|i| match i.values.first() {
            Some((_, v)) => v.clone(),
            None => i.value.clone(),
        })
    }

    /// The inference's labeled values (v10; empty otherwise).
    pub fn labeled_values(&self) -> &[(String, String)] {
        self.inference().map_or(&[], |i| i.values.as_slice())
    }

    /// The forecast elements (inferer, canonical decimal).
    pub fn forecasts(&self) -> Vec<(String, String)> {
        self.worker_bundle()
            .and_then(|w| w.bundle.as_ref()?.forecast.as_ref())
            .map(|f| f.elements.clone())
            .unwrap_or_default()
    }
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

/// Splits a TxRaw; it must be ADR-027 canonical (fields 1, 2, 3 in order,
/// minimal varints), i.e. equal to its own re-encoding.
pub fn decode_tx_raw(raw: &[u8]) -> Result<RawTx> {
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
    Ok(RawTx {
        body,
        auth_info: auth,
        signatures: sigs,
    })
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

/// Decodes a TxBody (extension options are unknown fields here).
pub fn decode_body(buf: &[u8]) -> Result<Body> {
    let mut b = Body::default();
    each(buf, "TxBody", |f| {
        match f.number {
            1 => b.messages.push(decode_any(f.bytes()?)?),
            2 => b.memo = f.string()?,
            3 => b.timeout_height = f.uint()?,
            _ => return Err(f.unknown()),
        }
        Ok(())
    })?;
    Ok(b)
}

fn decode_signer(buf: &[u8], a: &mut Auth) -> Result<()> {
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
                        a.pubkey = Some(key.try_into().map_err(|_| {
                            Error::Decode(format!("pubkey is {} bytes, not 33", key.len()))
                        })?);
                        Ok(())
                    }
                    _ => Err(k.unknown()),
                })?;
            }
            2 => each(f.bytes()?, "ModeInfo", |m| match m.number {
                1 => each(m.bytes()?, "ModeInfo.Single", |s| match s.number {
                    1 => {
                        a.sign_mode = Some(s.uint()?);
                        Ok(())
                    }
                    _ => Err(s.unknown()),
                }),
                _ => Err(m.unknown()),
            })?,
            3 => a.sequence = f.uint()?,
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

/// Decodes an AuthInfo; only the first signer info is kept (one is allowed).
pub fn decode_auth_info(buf: &[u8]) -> Result<Auth> {
    let mut a = Auth::default();
    each(buf, "AuthInfo", |f| {
        match f.number {
            1 => {
                a.signer_count += 1;
                if a.signer_count == 1 {
                    decode_signer(f.bytes()?, &mut a)?;
                }
            }
            2 => each(f.bytes()?, "Fee", |g| {
                match g.number {
                    1 => a.fee.push(decode_coin(g.bytes()?)?),
                    2 => a.gas_limit = g.uint()?,
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
    })?;
    Ok(a)
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

/// Decodes an `InputWorkerDataBundle` of version `em`.
pub fn decode_worker_bundle(buf: &[u8], em: Emissions) -> Result<WorkerDataBundle> {
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

fn decode_register(buf: &[u8], em: Emissions) -> Result<Message> {
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
    Ok(Message::Register {
        emissions: em,
        sender,
        topic_id,
        owner,
        is_reputer,
    })
}

/// Decodes one message by its type URL: `InsertWorkerPayloadRequest` or
/// `RegisterRequest` of emissions v9 or v10; any other type is an error.
pub fn decode_message(type_url: &str, value: &[u8]) -> Result<Message> {
    for em in [Emissions::V10, Emissions::V9] {
        if type_url == em.type_url("InsertWorkerPayloadRequest") {
            let (sender, bundle) = decode_insert(value, em)?;
            return Ok(Message::Insert {
                emissions: em,
                sender,
                bundle: bundle.map(Box::new),
            });
        }
        if type_url == em.type_url("RegisterRequest") {
            return decode_register(value, em);
        }
    }
    Err(Error::Decode(format!(
        "unable to resolve type URL {type_url}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::hex;

    /// Decodes `bundle_hex` as version `em` and re-encodes it (the chain's
    /// re-marshal); `expected` is that hex or a piece of the error.
    fn check(bundle_hex: &str, em: Emissions, expected: &str) {
        let raw = hex::decode(&bundle_hex.replace(' ', "")).unwrap();
        match decode_bundle(&raw, em) {
            Ok(b) => assert_eq!(hex::encode(&b.encode(em)), expected, "{bundle_hex}"),
            Err(e) => assert!(e.to_string().contains(expected), "{bundle_hex}: {e}"),
        }
    }

    #[test]
    fn bundles_remarshal_like_the_chain() {
        let (v9, v10) = (Emissions::V9, Emissions::V10);
        // value "1e3" is re-printed "1E+3"
        check(
            "0a07 0843 2203316533",
            v10,
            "0a08084322043145 2b33".replace(' ', "").as_str(),
        );
        // an omitted or empty value is written as "0"
        check("0a02 0843", v10, "0a050843220130");
        check("0a04 0843 2200", v10, "0a050843220130");
        // extra_data (5) and proof (6) survive
        check(
            "0a0b 0843 220130 2a01ff 320178",
            v10,
            "0a0b08432201302a01ff320178",
        );
        // a repeated singular message is merged: the later topic wins
        check("0a02 0843 0a02 0844", v10, "0a050844220130");
        // fields are put back in ascending order
        check("0a05 220130 0843", v10, "0a050843220130");
        // field 7 exists in v10 only
        check(
            "0a06 3a04 12023135",
            v10,
            "0a09220130 3a0412023135".replace(' ', "").as_str(),
        );
        check("0a06 3a04 12023135", v9, "InputInference: unknown field 7");
        // decimals the chain cannot decode
        check("0a06 2204 31653431", v10, "outside the chain's range");
        check("0a05 2203 312e2e", v10, "not a decimal number");
        check("0a05 2203 4e614e", v10, "finite");
        check("0a06 2204 316534", v10, "runs past the end");
        check("1a00", v10, "unknown field 3");
    }

    #[test]
    fn messages_by_type_url() {
        let reg = tx::register_request("allo1a", 67, "allo1b", true);
        let m = decode_message("/emissions.v9.RegisterRequest", &reg).unwrap();
        assert_eq!(
            m,
            Message::Register {
                emissions: Emissions::V9,
                sender: "allo1a".into(),
                topic_id: 67,
                owner: "allo1b".into(),
                is_reputer: true
            }
        );
        let e = decode_message("/emissions.v8.RegisterRequest", &reg).unwrap_err();
        assert!(e.to_string().contains("emissions.v8"), "{e}");
        let e = decode_message("/emissions.v10.RegisterRequest", &[0x10, 0x01]).unwrap_err();
        assert!(
            e.to_string().contains("RegisterRequest: unknown field 2"),
            "{e}"
        );
        let coin = tx::auth_info(&[2; 33], 0, 5, 9);
        let a = decode_auth_info(&coin).unwrap();
        assert_eq!(
            (a.fee, a.gas_limit, a.signer_count),
            (vec![("uallo".into(), 5)], 9, 1)
        );
    }
}
