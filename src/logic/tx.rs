//! Allora worker messages and Cosmos transactions, byte for byte as the chain
//! re-encodes them (ALLORA-PROTOCOL.md §3–4): the bundle types of emissions
//! v9 and v10 from one encoder with a version switch, the bundle signature,
//! `InsertWorkerPayloadRequest`, `RegisterRequest`, and the SIGN_MODE_DIRECT
//! envelope (`TxBody`, `AuthInfo`, `SignDoc`, `TxRaw`, tx hash).
//!
//! Fields are written in ascending field-number order, proto3 defaults are
//! omitted except the three decimal fields the chain always writes. Decimals
//! are produced only by `decimal::canonical`. Pure: no I/O, no clock.

use crate::error::{Error, Result};
use crate::logic::decimal;
use crate::logic::emissions::Emissions;
use crate::logic::hex;
use crate::logic::proto::Writer;
use crate::logic::wallet::{sha256, Wallet};

/// The fee denomination.
pub const FEE_DENOM: &str = "uallo";
/// The `Any` type URL of a secp256k1 public key.
pub const PUBKEY_TYPE_URL: &str = "/cosmos.crypto.secp256k1.PubKey";
/// `cosmos.tx.signing.v1beta1.SignMode.SIGN_MODE_DIRECT`.
pub const SIGN_MODE_DIRECT: u64 = 1;
/// The label of a SINGLE-arity topic's one value (emissions v10).
pub const SINGLE_LABEL: &str = "y";

/// What a worker submits for one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub topic_id: u64,
    /// The window's nonce (block height at which it opened); must be > 0.
    pub nonce: i64,
    /// The inference.
    pub value: f64,
    /// Forecast elements: (inferer address, forecast value). May be empty.
    pub forecasts: Vec<(String, f64)>,
}

/// Everything about a transaction that is not its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct TxParams {
    pub chain_id: String,
    pub account_number: u64,
    pub sequence: u64,
    pub gas_limit: u64,
    /// Fee in uallo.
    pub fee_amount: u128,
    pub memo: String,
    /// 0 = none.
    pub timeout_height: u64,
    pub emissions: Emissions,
}

/// A signed transaction and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    pub tx_raw: Vec<u8>,
    pub body: Vec<u8>,
    pub auth_info: Vec<u8>,
    pub sign_doc: Vec<u8>,
    pub signature: [u8; 64],
    /// Upper-case hex SHA-256 of `tx_raw`.
    pub hash: String,
}

/// `InputInference`. `values` (label, decimal) exists only in v10.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inference {
    pub topic_id: u64,
    pub block_height: i64,
    pub inferer: String,
    pub value: String,
    pub extra_data: Vec<u8>,
    pub proof: String,
    pub values: Vec<(String, String)>,
}

/// `InputForecast` with its elements (inferer, decimal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forecast {
    pub topic_id: u64,
    pub block_height: i64,
    pub forecaster: String,
    pub elements: Vec<(String, String)>,
    pub extra_data: Vec<u8>,
}

/// `InputInferenceForecastBundle`: the bytes the bundle signature covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    pub inference: Option<Inference>,
    pub forecast: Option<Forecast>,
}

/// `InputWorkerDataBundle`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerDataBundle {
    pub worker: String,
    /// `emissions.v3.Nonce.block_height`; `None` when the nonce is absent.
    pub nonce: Option<i64>,
    pub topic_id: u64,
    pub bundle: Option<Bundle>,
    pub signature: Vec<u8>,
    /// Lower-case hex of the 33-byte compressed key.
    pub pubkey: String,
}

fn labeled_value(label: &str, value: &str) -> Vec<u8> {
    Writer::new()
        .string(1, label)
        .string_always(2, value)
        .finish()
}

impl Inference {
    /// The wire bytes; `values` (field 7) is written only for v10.
    pub fn encode(&self, emissions: Emissions) -> Vec<u8> {
        let mut w = Writer::new();
        w.uint(1, self.topic_id)
            .int(2, self.block_height)
            .string(3, &self.inferer)
            .string_always(4, &self.value)
            .bytes(5, &self.extra_data)
            .string(6, &self.proof);
        if emissions == Emissions::V10 {
            for (label, value) in &self.values {
                w.message(7, &labeled_value(label, value));
            }
        }
        w.finish()
    }
}

impl Forecast {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.uint(1, self.topic_id)
            .int(2, self.block_height)
            .string(3, &self.forecaster);
        for (inferer, value) in &self.elements {
            let el = Writer::new()
                .string(1, inferer)
                .string_always(2, value)
                .finish();
            w.message(4, &el);
        }
        w.bytes(5, &self.extra_data).finish()
    }
}

impl Bundle {
    pub fn encode(&self, emissions: Emissions) -> Vec<u8> {
        let mut w = Writer::new();
        if let Some(i) = &self.inference {
            w.message(1, &i.encode(emissions));
        }
        if let Some(f) = &self.forecast {
            w.message(2, &f.encode());
        }
        w.finish()
    }
}

impl WorkerDataBundle {
    pub fn encode(&self, emissions: Emissions) -> Vec<u8> {
        let mut w = Writer::new();
        w.string(1, &self.worker);
        if let Some(h) = self.nonce {
            w.message(2, &Writer::new().int(1, h).finish());
        }
        w.uint(3, self.topic_id);
        if let Some(b) = &self.bundle {
            w.message(4, &b.encode(emissions));
        }
        w.bytes(5, &self.signature).string(6, &self.pubkey).finish()
    }
}

/// Checks a payload and builds the bundle the SDK would build for `worker`:
/// canonical decimals, v10 `value = "0"` + `values = [("y", v)]`, v9 `value = v`,
/// forecast elements sorted by inferer, no forecast when there are none.
pub fn build_bundle(payload: &Payload, worker: &str, emissions: Emissions) -> Result<Bundle> {
    if payload.topic_id == 0 {
        return Err(Error::Encode(
            "topic 0 is reserved; expected a positive topic id".into(),
        ));
    }
    if payload.nonce <= 0 {
        return Err(Error::Encode(format!(
            "nonce {} is not a block height; expected a positive nonce",
            payload.nonce
        )));
    }
    let value = decimal::canonical(payload.value)
        .map_err(|e| Error::Encode(format!("inference value: {}", strip(e))))?;
    let (value, values) = match emissions {
        Emissions::V10 => ("0".to_string(), vec![(SINGLE_LABEL.to_string(), value)]),
        Emissions::V9 => (value, Vec::new()),
    };
    let inference = Inference {
        topic_id: payload.topic_id,
        block_height: payload.nonce,
        inferer: worker.to_string(),
        value,
        values,
        ..Inference::default()
    };
    let mut elements = Vec::with_capacity(payload.forecasts.len());
    for (inferer, v) in &payload.forecasts {
        if inferer.is_empty() {
            return Err(Error::Encode(
                "forecast element has an empty inferer address".into(),
            ));
        }
        let c = decimal::canonical(*v)
            .map_err(|e| Error::Encode(format!("forecast for {inferer}: {}", strip(e))))?;
        elements.push((inferer.clone(), c));
    }
    elements.sort_by(|a, b| a.0.cmp(&b.0));
    let forecast = (!elements.is_empty()).then(|| Forecast {
        topic_id: payload.topic_id,
        block_height: payload.nonce,
        forecaster: worker.to_string(),
        elements,
        extra_data: Vec::new(),
    });
    Ok(Bundle {
        inference: Some(inference),
        forecast,
    })
}

/// The message of an `Error::Encode` without its "cannot encode: " prefix.
fn strip(e: Error) -> String {
    match e {
        Error::Encode(m) | Error::Decode(m) => m,
        other => other.to_string(),
    }
}

/// Builds and signs the worker data bundle of `payload` with `wallet`.
pub fn signed_worker_bundle(
    wallet: &Wallet,
    payload: &Payload,
    emissions: Emissions,
) -> Result<WorkerDataBundle> {
    let bundle = build_bundle(payload, wallet.address(), emissions)?;
    let signature = wallet.sign_sha256(&bundle.encode(emissions));
    Ok(WorkerDataBundle {
        worker: wallet.address().to_string(),
        nonce: Some(payload.nonce),
        topic_id: payload.topic_id,
        bundle: Some(bundle),
        signature: signature.to_vec(),
        pubkey: wallet.pubkey_hex(),
    })
}

/// `InsertWorkerPayloadRequest{1 sender, 2 worker_data_bundle}`.
pub fn insert_payload_request(
    sender: &str,
    wdb: &WorkerDataBundle,
    emissions: Emissions,
) -> Vec<u8> {
    Writer::new()
        .string(1, sender)
        .message(2, &wdb.encode(emissions))
        .finish()
}

/// `RegisterRequest{1 sender, 4 topic_id, 5 owner, 6 is_reputer}`.
pub fn register_request(sender: &str, topic_id: u64, owner: &str, is_reputer: bool) -> Vec<u8> {
    Writer::new()
        .string(1, sender)
        .uint(4, topic_id)
        .string(5, owner)
        .bool(6, is_reputer)
        .finish()
}

/// `google.protobuf.Any{1 type_url, 2 value}`.
pub fn any(type_url: &str, value: &[u8]) -> Vec<u8> {
    Writer::new().string(1, type_url).bytes(2, value).finish()
}

/// `TxBody{1 messages (Any), 2 memo, 3 timeout_height}`.
pub fn tx_body(messages: &[(String, Vec<u8>)], memo: &str, timeout_height: u64) -> Vec<u8> {
    let mut w = Writer::new();
    for (type_url, value) in messages {
        w.message(1, &any(type_url, value));
    }
    w.string(2, memo).uint(3, timeout_height).finish()
}

/// `AuthInfo` with one SIGN_MODE_DIRECT secp256k1 signer and a `uallo` fee.
pub fn auth_info(pubkey: &[u8; 33], sequence: u64, fee_amount: u128, gas_limit: u64) -> Vec<u8> {
    let key = Writer::new().bytes(1, pubkey).finish();
    let single = Writer::new().uint(1, SIGN_MODE_DIRECT).finish();
    let mode = Writer::new().message(1, &single).finish();
    let signer = Writer::new()
        .message(1, &any(PUBKEY_TYPE_URL, &key))
        .message(2, &mode)
        .uint(3, sequence)
        .finish();
    let coin = Writer::new()
        .string(1, FEE_DENOM)
        .string(2, &fee_amount.to_string())
        .finish();
    let fee = Writer::new().message(1, &coin).uint(2, gas_limit).finish();
    Writer::new().message(1, &signer).message(2, &fee).finish()
}

/// `SignDoc{1 body_bytes, 2 auth_info_bytes, 3 chain_id, 4 account_number}`.
pub fn sign_doc(body: &[u8], auth_info: &[u8], chain_id: &str, account_number: u64) -> Vec<u8> {
    Writer::new()
        .bytes(1, body)
        .bytes(2, auth_info)
        .string(3, chain_id)
        .uint(4, account_number)
        .finish()
}

/// `TxRaw{1 body_bytes, 2 auth_info_bytes, 3 signatures}`, every field written.
pub fn tx_raw(body: &[u8], auth_info: &[u8], signatures: &[&[u8]]) -> Vec<u8> {
    let mut w = Writer::new();
    w.message(1, body).message(2, auth_info);
    for s in signatures {
        w.message(3, s);
    }
    w.finish()
}

/// Signs `messages` (type URL, encoded message) into a transaction.
pub fn sign_messages(
    wallet: &Wallet,
    messages: &[(String, Vec<u8>)],
    params: &TxParams,
) -> SignedTx {
    let body = tx_body(messages, &params.memo, params.timeout_height);
    let auth_info = auth_info(
        wallet.pubkey(),
        params.sequence,
        params.fee_amount,
        params.gas_limit,
    );
    let sign_doc = sign_doc(&body, &auth_info, &params.chain_id, params.account_number);
    let signature = wallet.sign_sha256(&sign_doc);
    let tx_raw = tx_raw(&body, &auth_info, &[&signature]);
    let hash = hex::encode_upper(&sha256(&tx_raw));
    SignedTx {
        tx_raw,
        body,
        auth_info,
        sign_doc,
        signature,
        hash,
    }
}

/// The signed `InsertWorkerPayloadRequest` transaction for `payload`.
pub fn insert_payload_tx(
    wallet: &Wallet,
    payload: &Payload,
    params: &TxParams,
) -> Result<SignedTx> {
    let wdb = signed_worker_bundle(wallet, payload, params.emissions)?;
    let msg = insert_payload_request(wallet.address(), &wdb, params.emissions);
    let type_url = params.emissions.type_url("InsertWorkerPayloadRequest");
    Ok(sign_messages(wallet, &[(type_url, msg)], params))
}

/// The signed `RegisterRequest` transaction (worker, owner = sender).
pub fn register_tx(wallet: &Wallet, topic_id: u64, params: &TxParams) -> Result<SignedTx> {
    if topic_id == 0 {
        return Err(Error::Encode(
            "topic 0 is reserved; expected a positive topic id".into(),
        ));
    }
    let msg = register_request(wallet.address(), topic_id, wallet.address(), false);
    let type_url = params.emissions.type_url("RegisterRequest");
    Ok(sign_messages(wallet, &[(type_url, msg)], params))
}

/// The same transaction with one empty signature, for `/simulate`.
pub fn unsigned_for_simulation(tx: &SignedTx) -> Vec<u8> {
    tx_raw(&tx.body, &tx.auth_info, &[&[]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol_wallet() -> Wallet {
        Wallet::from_private_key(&sha256(b"allora-protocol-test-vector-do-not-use")).unwrap()
    }

    fn payload(value: f64, nonce: i64, topic_id: u64) -> Payload {
        Payload {
            topic_id,
            nonce,
            value,
            forecasts: vec![],
        }
    }

    fn check(p: Payload, expected: &str) {
        match build_bundle(&p, "allo1x", Emissions::V10) {
            Ok(b) => assert_eq!(hex::encode(&b.encode(Emissions::V10)), expected, "{p:?}"),
            Err(e) => assert!(e.to_string().contains(expected), "{p:?}: {e}"),
        }
    }

    #[test]
    fn payload_checks() {
        check(
            payload(1.5, 1, 1),
            "0a19080110011a06616c6c6f31782201303a080a01791203312e35",
        );
        check(payload(1.5, 0, 1), "nonce 0");
        check(payload(1.5, -3, 1), "nonce -3");
        check(payload(1.5, 1, 0), "topic 0");
        check(payload(f64::NAN, 1, 1), "inference value: NaN");
        check(payload(1e41, 1, 1), "outside");
        let mut p = payload(1.0, 1, 1);
        p.forecasts = vec![("allo1b".into(), f64::INFINITY)];
        check(p, "forecast for allo1b: inf");
    }

    #[test]
    fn protocol_section_4_6_vector() {
        let w = protocol_wallet();
        let p = payload(-0.0123456789, 6673195, 67);
        let wdb = signed_worker_bundle(&w, &p, Emissions::V10).unwrap();
        let bundle = wdb.bundle.as_ref().unwrap().encode(Emissions::V10);
        assert_eq!(hex::encode(&bundle), "0a4b084310aba697031a2b616c6c6f316e6e32643538656e6177766367656c67753932656d737571753330783279336575687775327a2201303a120a0179120d2d302e30313233343536373839");
        assert_eq!(hex::encode(&wdb.signature), "fee50e1ff1c3b7e08bfcd5e9943a2f00ab436523843e98ad9cb958abaf22b2626f8570c822ed503a311ba0bd15158947f056e2a03019bd2ccd29f21f90a4b0dc");
        let msg = insert_payload_request(w.address(), &wdb, Emissions::V10);
        assert_eq!(msg.len(), 315);
        let reg = register_request(w.address(), 67, w.address(), false);
        assert_eq!(hex::encode(&reg), "0a2b616c6c6f316e6e32643538656e6177766367656c67753932656d737571753330783279336575687775327a20432a2b616c6c6f316e6e32643538656e6177766367656c67753932656d737571753330783279336575687775327a");
        let params = TxParams {
            chain_id: "allora-testnet-1".into(),
            account_number: 12345,
            sequence: 7,
            gas_limit: 300000,
            fee_amount: 4500000,
            memo: String::new(),
            timeout_height: 0,
            emissions: Emissions::V10,
        };
        let tx = insert_payload_tx(&w, &p, &params).unwrap();
        assert_eq!(tx.body.len(), 364);
        assert_eq!(hex::encode(&tx.auth_info), "0a500a460a1f2f636f736d6f732e63727970746f2e736563703235366b312e5075624b657912230a2102f15d21b79830ea5453714252022319f3e70c3c5ad2705dc97c9da1d342db783112040a020801180712160a100a0575616c6c6f12073435303030303010e0a712");
        assert!(hex::encode(&tx.sign_doc).ends_with("1a10616c6c6f72612d746573746e65742d3120b960"));
        assert_eq!(
            hex::encode(&sha256(&tx.sign_doc)),
            "646b6044aa0c57dfed1114810f1c7855e9d899fe2a70220e29ac7dd89ed82472"
        );
        assert_eq!(hex::encode(&tx.signature), "5ff502830ac0a415caa5c14bf3102cc3ebcdede87170594da6fef36ee3b82cb4561cfdb1c929b8b8e7c1d29a0537f5e620e1c0ef0a672b2670d67e8dbd8826d4");
        assert_eq!(tx.tx_raw.len(), 541);
        assert_eq!(
            tx.hash,
            "E4E656D11C6D1EB9D6952F034729C807D5803EC50CD9D7510742ED2555A8966C"
        );
        let sim = unsigned_for_simulation(&tx);
        assert_eq!(sim.len(), 541 - 64);
        assert!(sim.ends_with(&[0x1a, 0x00]));
    }

    #[test]
    fn v9_puts_the_value_in_field_4_and_never_writes_values() {
        let b = build_bundle(&payload(-1.2345e-7, 5, 67), "allo1x", Emissions::V9).unwrap();
        let inf = b.inference.as_ref().unwrap();
        assert_eq!(inf.value, "-1.2345E-7");
        assert!(inf.values.is_empty());
        let mut with_values = inf.clone();
        with_values.values.push(("y".into(), "1".into()));
        assert_eq!(with_values.encode(Emissions::V9), inf.encode(Emissions::V9));
        assert_ne!(
            with_values.encode(Emissions::V10),
            inf.encode(Emissions::V10)
        );
    }
}
