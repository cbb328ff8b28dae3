//! Decoders for every JSON answer the worker reads from the chain: LCD REST
//! (§5.2–5.3 of the protocol notes), CometBFT RPC `/status` and websocket
//! frames (§6.3). Each takes the response text and returns a typed value.
//!
//! Pure and total: uint64/int64 arrive as JSON strings (numbers are accepted
//! too), absent or null fields take their default, and anything malformed is
//! an `Error::Decode` naming the field — never a panic. No I/O here.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::logic::emissions::Emissions;

/// `GET /emissions/vN/topics/{id}`: the fields the worker uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topic {
    pub id: u64,
    pub metadata: String,
    pub loss_method: String,
    pub epoch_length: u64,
    pub epoch_last_ended: u64,
    pub ground_truth_lag: u64,
    pub worker_submission_window: u64,
    /// e.g. `TOPIC_OUTPUT_ARITY_SINGLE`; empty on v9 chains.
    pub output_arity: String,
    pub allow_negative: bool,
    /// `label_whitelist` (v10; empty: any label, single-arity ones `y`).
    pub labels: Vec<String>,
}

/// `GET /emissions/vN/worker_submission_window_status/{topic}?address=…`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowStatus {
    pub is_open: bool,
    pub current_nonce: i64,
    pub window_start: u64,
    pub window_end: u64,
    pub next_window_start: u64,
    pub next_window_end: u64,
    pub is_registered: bool,
    pub is_whitelisted: bool,
    pub is_topic_active: bool,
}

/// `GET /cosmos/auth/v1beta1/account_info/{address}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub address: String,
    pub account_number: u64,
    pub sequence: u64,
}

/// One ABCI event: its type and (key, value) attributes as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub kind: String,
    pub attributes: Vec<(String, String)>,
}

/// A `tx_response` (broadcast answer or looked-up tx).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxResponse {
    pub height: u64,
    pub txhash: String,
    pub codespace: String,
    pub code: u32,
    pub raw_log: String,
    pub gas_wanted: u64,
    pub gas_used: u64,
    pub events: Vec<Event>,
}

/// A block header (from LCD `blocks/{h}` or `blocks/latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub chain_id: String,
    pub height: u64,
    pub time: OffsetDateTime,
}

/// CometBFT RPC `/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpcStatus {
    pub network: String,
    pub latest_height: u64,
    pub latest_time: String,
    pub catching_up: bool,
}

/// Emissions module parameters the worker needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pub registration_fee: u128,
    pub data_sending_fee: u128,
}

/// `…/latest_input_inference` (v10) or `…/latest_inference` (v9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatestInference {
    pub topic_id: u64,
    pub block_height: i64,
    pub inferer: String,
    /// v9 `value`, or the first labeled value on v10.
    pub value: String,
}

/// A worker submission window opened (websocket event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowOpened {
    pub topic_id: u64,
    pub nonce: i64,
    pub window_end: u64,
}

/// A gateway error body `{"code":5,"message":"…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiError {
    pub code: i64,
    pub message: String,
}

/// Parses response text as JSON; an empty, HTML or truncated body is an error.
pub fn parse(body: &str) -> Result<Value> {
    serde_json::from_str(body).map_err(|e| {
        let head: String = body.chars().take(40).collect();
        Error::Decode(format!("response is not JSON ({e}): {head:?}"))
    })
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

fn object<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value> {
    match at(v, path) {
        Some(o) if o.is_object() => Ok(o),
        _ => Err(Error::Decode(format!("missing object {}", path.join(".")))),
    }
}

fn bad(field: &str, v: &Value) -> Error {
    let shown: String = v.to_string().chars().take(40).collect();
    Error::Decode(format!("field {field} has unexpected value {shown}"))
}

fn u128_of(v: &Value, field: &str) -> Result<u128> {
    match at(v, &[field]) {
        None => Ok(0),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| bad(field, &v[field])),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(u128::from)
            .ok_or_else(|| bad(field, &v[field])),
        Some(other) => Err(bad(field, other)),
    }
}

fn u64_of(v: &Value, field: &str) -> Result<u64> {
    u64::try_from(u128_of(v, field)?).map_err(|_| bad(field, &v[field]))
}

fn i64_of(v: &Value, field: &str) -> Result<i64> {
    match at(v, &[field]) {
        Some(Value::String(s)) if s.starts_with('-') => {
            s.parse().map_err(|_| bad(field, &v[field]))
        }
        _ => i64::try_from(u64_of(v, field)?).map_err(|_| bad(field, &v[field])),
    }
}

/// A nonce is a block height: ≤ 0 is refused.
fn positive_nonce(n: i64) -> Result<i64> {
    if n <= 0 {
        return Err(Error::Decode(format!(
            "nonce {n} is not a positive block height"
        )));
    }
    Ok(n)
}

fn u32_of(v: &Value, field: &str) -> Result<u32> {
    u32::try_from(u64_of(v, field)?).map_err(|_| bad(field, &v[field]))
}

fn str_of(v: &Value, field: &str) -> Result<String> {
    match at(v, &[field]) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(bad(field, other)),
    }
}

fn bool_of(v: &Value, field: &str) -> Result<bool> {
    match at(v, &[field]) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(field, other)),
    }
}

fn array_of<'a>(v: &'a Value, field: &str) -> Result<&'a [Value]> {
    match at(v, &[field]) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(bad(field, other)),
    }
}

/// A gateway error body, when the text is one.
pub fn api_error(body: &str) -> Option<ApiError> {
    let v = parse(body).ok()?;
    let message = str_of(&v, "message").ok().filter(|m| !m.is_empty())?;
    Some(ApiError {
        code: i64_of(&v, "code").unwrap_or(0),
        message,
    })
}

/// `{"<key>": true|false}` answers (worker_registered, is_topic_active, …).
pub fn flag(body: &str, key: &str) -> Result<bool> {
    let v = parse(body)?;
    match at(&v, &[key]) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(key, other)),
        None if v.is_object() => Ok(false),
        None => Err(Error::Decode(format!("expected an object with {key}"))),
    }
}

/// `GET …/epochs/{topic}` (seconds mode only): how many epochs it lists.
pub fn epochs(body: &str) -> Result<usize> {
    let v = parse(body)?;
    if !v.is_object() {
        return Err(Error::Decode("expected an object with epochs".into()));
    }
    Ok(array_of(&v, "epochs")?.len())
}

/// One epoch's worker window (seconds mode): the nonce (the epoch's start
/// height) and its open and close times in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochWindow {
    pub nonce: i64,
    pub open_at: i64,
    pub close_at: i64,
}

/// `GET …/epochs/{topic}`: the worker window of every epoch listed.
pub fn epoch_windows(body: &str) -> Result<Vec<EpochWindow>> {
    let v = parse(body)?;
    if !v.is_object() {
        return Err(Error::Decode("expected an object with epochs".into()));
    }
    let time = |w: &Value, field: &str| -> Result<i64> {
        let text = str_of(w, field)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(|t| t.unix_timestamp())
            .map_err(|_| Error::Decode(format!("epoch {field} {text:?} is not RFC 3339")))
    };
    array_of(&v, "epochs")?
        .iter()
        .map(|e| {
            let w = object(e, &["worker_submission_window"])?;
            let nonce = i64::try_from(u64_of(e, "start_block_height")?)
                .map_err(|_| bad("start_block_height", e))?;
            Ok(EpochWindow {
                nonce,
                open_at: time(w, "open_at")?,
                close_at: time(w, "close_at")?,
            })
        })
        .collect()
}

/// `GET …/topics/{id}`.
pub fn topic(body: &str) -> Result<Topic> {
    let v = parse(body)?;
    let t = object(&v, &["topic"])?;
    Ok(Topic {
        id: u64_of(t, "id")?,
        metadata: str_of(t, "metadata")?,
        loss_method: str_of(t, "loss_method")?,
        epoch_length: u64_of(t, "epoch_length")?,
        epoch_last_ended: u64_of(t, "epoch_last_ended")?,
        ground_truth_lag: u64_of(t, "ground_truth_lag")?,
        worker_submission_window: u64_of(t, "worker_submission_window")?,
        output_arity: str_of(t, "output_arity")?,
        allow_negative: bool_of(t, "allow_negative")?,
        labels: array_of(t, "label_whitelist")?
            .iter()
            .map(|l| {
                l.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad("label_whitelist", l))
            })
            .collect::<Result<_>>()?,
    })
}

/// `GET …/unfulfilled_worker_nonces/{topic}`: nonce block heights as sent.
pub fn nonces(body: &str) -> Result<Vec<i64>> {
    let v = parse(body)?;
    let Some(outer) = at(&v, &["nonces"]) else {
        return Ok(Vec::new());
    };
    array_of(outer, "nonces")?
        .iter()
        .map(|n| positive_nonce(i64_of(n, "block_height")?))
        .collect()
}

/// `GET …/worker_submission_window_status/{topic}?address=…`.
pub fn window_status(body: &str) -> Result<WindowStatus> {
    let v = parse(body)?;
    if !v.is_object() {
        return Err(Error::Decode("window status is not an object".into()));
    }
    Ok(WindowStatus {
        is_open: bool_of(&v, "is_open")?,
        current_nonce: i64_of(&v, "current_nonce_block_height")?,
        window_start: u64_of(&v, "window_start_block")?,
        window_end: u64_of(&v, "window_end_block")?,
        next_window_start: u64_of(&v, "next_window_start_block")?,
        next_window_end: u64_of(&v, "next_window_end_block")?,
        is_registered: bool_of(&v, "is_registered")?,
        is_whitelisted: bool_of(&v, "is_whitelisted")?,
        is_topic_active: bool_of(&v, "is_topic_active")?,
    })
}

/// `GET /cosmos/auth/v1beta1/account_info/{address}`.
pub fn account(body: &str) -> Result<Account> {
    let v = parse(body)?;
    let i = object(&v, &["info"])?;
    Ok(Account {
        address: str_of(i, "address")?,
        account_number: u64_of(i, "account_number")?,
        sequence: u64_of(i, "sequence")?,
    })
}

/// `GET …/balances/{address}/by_denom?denom=uallo`: the amount (0 when absent).
pub fn balance(body: &str) -> Result<u128> {
    let v = parse(body)?;
    match at(&v, &["balance"]) {
        None if v.is_object() => Ok(0),
        Some(b) if b.is_object() => u128_of(b, "amount"),
        _ => Err(Error::Decode("missing object balance".into())),
    }
}

/// `GET /feemarket/v1/gas_price/uallo`: the price in uallo per gas.
pub fn gas_price(body: &str) -> Result<f64> {
    let v = parse(body)?;
    let p = object(&v, &["price"])?;
    let s = str_of(p, "amount")?;
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(Error::Decode(format!("gas price {s:?} is not a decimal"))),
    }
}

/// `GET /emissions/vN/params`.
pub fn params(body: &str) -> Result<Params> {
    let v = parse(body)?;
    let p = object(&v, &["params"])?;
    Ok(Params {
        registration_fee: u128_of(p, "registration_fee")?,
        data_sending_fee: u128_of(p, "data_sending_fee")?,
    })
}

/// `GET /cosmos/base/tendermint/v1beta1/node_info`: the network (chain id).
pub fn node_network(body: &str) -> Result<String> {
    let v = parse(body)?;
    let n = str_of(object(&v, &["default_node_info"])?, "network")?;
    if n.is_empty() {
        return Err(Error::Decode("node_info has no network".into()));
    }
    Ok(n)
}

/// `GET /cosmos/base/tendermint/v1beta1/blocks/{h|latest}`: the header.
pub fn block_header(body: &str) -> Result<Header> {
    let v = parse(body)?;
    let h = object(&v, &["sdk_block", "header"]).or_else(|_| object(&v, &["block", "header"]))?;
    let text = str_of(h, "time")?;
    let time = OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|_| Error::Decode(format!("block time {text:?} is not RFC 3339")))?;
    Ok(Header {
        chain_id: str_of(h, "chain_id")?,
        height: u64_of(h, "height")?,
        time,
    })
}

/// CometBFT RPC `GET /status` (JSON-RPC envelope or bare result).
pub fn rpc_status(body: &str) -> Result<RpcStatus> {
    let v = parse(body)?;
    let r = at(&v, &["result"]).unwrap_or(&v);
    let node = object(r, &["node_info"])?;
    let sync = object(r, &["sync_info"])?;
    Ok(RpcStatus {
        network: str_of(node, "network")?,
        latest_height: u64_of(sync, "latest_block_height")?,
        latest_time: str_of(sync, "latest_block_time")?,
        catching_up: bool_of(sync, "catching_up")?,
    })
}

/// `POST /cosmos/tx/v1beta1/simulate`: gas used.
pub fn simulated_gas(body: &str) -> Result<u64> {
    let v = parse(body)?;
    u64_of(object(&v, &["gas_info"])?, "gas_used")
}

/// The `tx_response` of a broadcast or of `GET /cosmos/tx/v1beta1/txs/{hash}`.
pub fn tx_response(body: &str) -> Result<TxResponse> {
    let v = parse(body)?;
    let r = object(&v, &["tx_response"])?;
    Ok(TxResponse {
        height: u64_of(r, "height")?,
        txhash: str_of(r, "txhash")?,
        codespace: str_of(r, "codespace")?,
        // A tx_response without a code is no answer, never a success.
        code: match at(r, &["code"]) {
            Some(_) => u32_of(r, "code")?,
            None => return Err(Error::Decode("tx_response has no code".into())),
        },
        raw_log: str_of(r, "raw_log")?,
        gas_wanted: u64_of(r, "gas_wanted")?,
        gas_used: u64_of(r, "gas_used")?,
        events: events(array_of(r, "events")?)?,
    })
}

fn events(list: &[Value]) -> Result<Vec<Event>> {
    list.iter()
        .map(|e| {
            let attributes = array_of(e, "attributes")?
                .iter()
                .map(|a| Ok((str_of(a, "key")?, str_of(a, "value")?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Event {
                kind: str_of(e, "type")?,
                attributes,
            })
        })
        .collect()
}

/// The worker's latest inference (v10 `latest_input_inference`, v9 `latest_inference`).
pub fn latest_inference(body: &str) -> Result<LatestInference> {
    let v = parse(body)?;
    let i =
        object(&v, &["latest_input_inference"]).or_else(|_| object(&v, &["latest_inference"]))?;
    let first = array_of(i, "values")?.first();
    let value = match first {
        Some(lv) => str_of(lv, "value")?,
        None => str_of(i, "value")?,
    };
    Ok(LatestInference {
        topic_id: u64_of(i, "topic_id")?,
        block_height: i64_of(i, "block_height")?,
        inferer: str_of(i, "inferer")?,
        value,
    })
}

/// One websocket text frame: the windows it opens for `topic` (empty for
/// acks and unrelated blocks). A JSON-RPC error frame is an `Error::Decode`.
pub fn ws_windows(text: &str, emissions: Emissions, topics: &[u64]) -> Result<Vec<WindowOpened>> {
    let v = parse(text)?;
    if let Some(e) = at(&v, &["error"]) {
        return Err(Error::Decode(format!("websocket error frame: {e}")));
    }
    let Some(value) = at(&v, &["result", "data", "value"]) else {
        return Ok(Vec::new());
    };
    let wanted = format!("{}.EventWorkerSubmissionWindowOpened", emissions.package());
    let mut out = Vec::new();
    for e in events(array_of(value, "events")?)? {
        if e.kind != wanted {
            continue;
        }
        let w = window_opened(&e)?;
        if topics.contains(&w.topic_id) {
            out.push(w);
        }
    }
    Ok(out)
}

fn window_opened(e: &Event) -> Result<WindowOpened> {
    let get = |key: &str| -> Result<String> {
        let raw = e
            .attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Error::Decode(format!("{} has no attribute {key}", e.kind)))?;
        Ok(unquote(raw).to_string())
    };
    let num = |key: &str| -> Result<i64> {
        let s = get(key)?;
        s.parse()
            .map_err(|_| Error::Decode(format!("attribute {key} is not an integer: {s:?}")))
    };
    let topic_id =
        u64::try_from(num("topic_id")?).map_err(|_| Error::Decode("negative topic_id".into()))?;
    let window_end = u64::try_from(num("window_end_block")?)
        .map_err(|_| Error::Decode("negative window_end_block".into()))?;
    Ok(WindowOpened {
        topic_id,
        nonce: positive_nonce(num("nonce_block_height")?)?,
        window_end,
    })
}

/// Strips one layer of JSON quotes from a typed-event attribute value.
pub fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(s)
}

/// True when a tx's events show the inference was admitted
/// (`EventInsertInfererPayload` is emitted only on admission).
pub fn admitted(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| e.kind.ends_with(".EventInsertInfererPayload"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &str = include_str!("../../tests/data/chain_responses.json");

    fn sample(name: &str) -> String {
        let all: Value = serde_json::from_str(SAMPLES).expect("fixture is JSON");
        all[name].to_string()
    }

    fn check<T: PartialEq + std::fmt::Debug>(got: Result<T>, expected: Result<T, &str>) {
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e),
            (Err(g), Err(e)) => assert!(g.to_string().contains(e), "{g} lacks {e}"),
            (g, e) => panic!("got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn decodes_recorded_shapes() {
        let t = topic(&sample("topic")).unwrap();
        assert_eq!(
            (t.id, t.epoch_length, t.worker_submission_window),
            (67, 720, 600)
        );
        assert_eq!(
            (t.ground_truth_lag, t.loss_method.as_str()),
            (120960, "czar")
        );
        assert_eq!(t.output_arity, "TOPIC_OUTPUT_ARITY_SINGLE");
        assert!(t.allow_negative && t.labels.is_empty());
        check(
            epochs(r#"{"epochs": [{"nonce": "72057594037927936"}]}"#),
            Ok(1),
        );
        check(epochs("<html>"), Err("not JSON"));
        check(epochs(r#"{"epochs": 3}"#), Err("field epochs"));
        let w = r#"{"epochs": [{"start_block_height": "40", "worker_submission_window":
            {"open_at": "1970-01-01T00:01:40Z", "close_at": "1970-01-01T00:01:55Z"}}]}"#;
        check(
            epoch_windows(w),
            Ok(vec![EpochWindow {
                nonce: 40,
                open_at: 100,
                close_at: 115,
            }]),
        );
        check(
            epoch_windows(&w.replace("00:01:55Z", "soon")),
            Err("not RFC 3339"),
        );
        check(
            epoch_windows(r#"{"epochs": [{"start_block_height": "4"}]}"#),
            Err("worker_submission_window"),
        );
        check(nonces(&sample("nonces")), Ok(vec![6673195, 6672475]));
        let w = window_status(&sample("window_status")).unwrap();
        assert!(w.is_open && w.is_registered && w.is_whitelisted && w.is_topic_active);
        assert_eq!((w.current_nonce, w.window_end), (6673195, 6673795));
        let a = account(&sample("account")).unwrap();
        assert_eq!((a.account_number, a.sequence), (793307, 104));
        check(balance(&sample("balance")), Ok(2_500_000_000_000_000_000));
        check(gas_price(&sample("gas_price")), Ok(10.0));
        check(
            params(&sample("params")).map(|p| p.registration_fee),
            Ok(1_000_000),
        );
        check(
            node_network(&sample("node_network")),
            Ok("allora-testnet-1".into()),
        );
        let h = block_header(&sample("block_header")).unwrap();
        assert_eq!((h.height, h.time.unix_timestamp()), (6673195, 1763719205));
        let s = rpc_status(&sample("rpc_status")).unwrap();
        assert_eq!(
            (s.network.as_str(), s.latest_height),
            ("allora-testnet-1", 6673200)
        );
        check(simulated_gas(&sample("simulated_gas")), Ok(153842));
        let r = tx_response(&sample("tx_response")).unwrap();
        assert_eq!((r.height, r.code, r.events.len()), (6673199, 0, 2));
        assert!(admitted(&r.events));
        let r = tx_response(&sample("broadcast_rejected")).unwrap();
        assert_eq!((r.codespace.as_str(), r.code), ("sdk", 32));
        assert!(!admitted(&r.events));
        let l = latest_inference(&sample("latest_inference")).unwrap();
        assert_eq!(
            (l.block_height, l.value.as_str()),
            (6673195, "-0.0123456789")
        );
        check(flag(&sample("flag"), "is_registered"), Ok(true));
        assert_eq!(api_error(&sample("api_error")).map(|e| e.code), Some(5));
    }

    #[test]
    fn websocket_frames_filter_type_and_topic() {
        let w = ws_windows(&sample("ws_event"), Emissions::V10, &[67]).unwrap();
        let expected = WindowOpened {
            topic_id: 67,
            nonce: 6673195,
            window_end: 6673795,
        };
        assert_eq!(w, vec![expected]);
        check(
            ws_windows(&sample("ws_event"), Emissions::V9, &[67]),
            Ok(vec![]),
        );
        check(
            ws_windows(&sample("ws_ack"), Emissions::V10, &[67]),
            Ok(vec![]),
        );
        check(
            ws_windows(
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603}}"#,
                Emissions::V10,
                &[67],
            ),
            Err("error frame"),
        );
        assert_eq!(unquote("\"67\""), "67");
        assert_eq!(unquote("EndBlock"), "EndBlock");
    }

    #[test]
    fn malformed_and_absent_fields() {
        check(topic(""), Err("not JSON"));
        check(topic("<html>502 Bad Gateway</html>"), Err("not JSON"));
        check(topic(r#"{"topic":{"id":"6"#), Err("not JSON"));
        check(topic("{}"), Err("missing object topic"));
        check(
            topic(r#"{"topic":{"id":"x"}}"#).map(|t| t.id),
            Err("field id"),
        );
        check(topic(r#"{"topic":{"id":67}}"#).map(|t| t.id), Ok(67));
        check(
            topic(r#"{"topic":{"id":"67"}}"#).map(|t| t.epoch_length),
            Ok(0),
        );
        check(nonces("{}"), Ok(vec![]));
        check(nonces(r#"{"nonces":{"nonces":null}}"#), Ok(vec![]));
        check(
            nonces(r#"{"nonces":{"nonces":[{"block_height":true}]}}"#),
            Err("block_height"),
        );
        check(
            nonces(r#"{"nonces":{"nonces":[{"block_height":"0"}]}}"#),
            Err("not a positive block height"),
        );
        check(
            nonces(r#"{"nonces":{"nonces":[{"block_height":"-7"}]}}"#),
            Err("not a positive block height"),
        );
        check(
            tx_response(r#"{"tx_response":{"txhash":"AB","height":"3"}}"#),
            Err("no code"),
        );
        check(balance("{}"), Ok(0));
        check(balance(r#"{"balance":{"amount":"-1"}}"#), Err("amount"));
        check(
            gas_price(r#"{"price":{"amount":"NaN"}}"#),
            Err("not a decimal"),
        );
        check(flag("[]", "is_registered"), Err("expected an object"));
        check(
            flag(r#"{"is_registered":"yes"}"#, "is_registered"),
            Err("is_registered"),
        );
        check(
            account(r#"{"info":{"sequence":"99999999999999999999"}}"#),
            Err("sequence"),
        );
        check(
            block_header(r#"{"block":{"header":{"time":"yesterday"}}}"#),
            Err("RFC 3339"),
        );
        check(
            tx_response(r#"{"tx_response":{"code":4294967296}}"#),
            Err("code"),
        );
        assert_eq!(api_error("<html>"), None);
    }
}
