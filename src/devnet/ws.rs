//! The CometBFT `/websocket` endpoint: JSON-RPC subscribe / unsubscribe with
//! a `tm.event='NewBlockEvents' AND type.attr='value'` query, one
//! `NewBlockEvents` frame per block that matches, and CometBFT's limits:
//! a ping every `ws_ping_ms`, a client that sends nothing (not even a pong)
//! for `ws_read_wait_ms` is dropped, at most 5 subscriptions per
//! connection, queries up to 512 bytes. Also the websocket faults (drop,
//! silent). Uses tungstenite's server side on the
//! connection `http.rs` already read the request head from.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tungstenite::{Message, WebSocket};

use super::chain::Event;
use super::http::Listener;
use super::Shared;

/// The connection after the HTTP head was read: replays those bytes first.
struct Replay {
    pre: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.pre.len() {
            let n = buf.len().min(self.pre.len() - self.pos);
            buf[..n].copy_from_slice(&self.pre[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A subscription query: `(key, value)` conditions joined by AND; a value
/// of `None` is CometBFT's `key EXISTS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub text: String,
    conditions: Vec<(String, Option<String>)>,
}

impl Query {
    /// Parses `tm.event='NewBlockEvents' AND a.b.c = '"67"'` (or `a.b.c EXISTS`).
    pub fn parse(text: &str) -> Result<Query, String> {
        let mut conditions = Vec::new();
        for part in text.split(" AND ") {
            if let Some(k) = part.trim().strip_suffix(" EXISTS") {
                conditions.push((k.trim().to_string(), None));
                continue;
            }
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("failed to parse query: {text}"))?;
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            conditions.push((k.trim().to_string(), Some(v.to_string())));
        }
        Ok(Query {
            text: text.to_string(),
            conditions,
        })
    }

    /// True when a block with `events` satisfies every condition.
    pub fn matches(&self, events: &[Event]) -> bool {
        self.conditions.iter().all(|(key, value)| {
            if key == "tm.event" {
                return value.as_deref() == Some("NewBlockEvents");
            }
            let Some((kind, attr)) = key.rsplit_once('.') else {
                return false;
            };
            events.iter().any(|e| {
                e.kind == kind
                    && match value {
                        Some(v) => e.attr(attr) == Some(v.as_str()),
                        None => e.attr(attr).is_some(),
                    }
            })
        })
    }
}

/// The frame CometBFT sends for a block matching a subscription.
pub fn frame(id: &Value, query: &Query, height: u64, events: &[Event], num_txs: usize) -> Value {
    let mut index: Map<String, Value> = Map::new();
    index.insert("tm.event".into(), json!(["NewBlockEvents"]));
    for e in events {
        for (k, v) in &e.attrs {
            let entry = index
                .entry(format!("{}.{k}", e.kind))
                .or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!(v));
            }
        }
    }
    let list: Vec<Value> = events.iter().map(Event::to_json).collect();
    json!({"jsonrpc": "2.0", "id": id, "result": {
        "query": query.text,
        "data": {"type": "tendermint/event/NewBlockEvents", "value": {
            "height": height.to_string(), "events": list, "num_txs": num_txs.to_string()}},
        "events": index,
    }})
}

/// Serves one websocket connection until it closes, a fault drops it, or shutdown.
pub fn serve(shared: &Shared, me: &Listener, stream: TcpStream, pre: Vec<u8>) {
    let serial = me.ws_serial.fetch_add(1, Ordering::SeqCst);
    let Ok(raw) = stream.try_clone() else { return };
    let mut ws = match tungstenite::accept(Replay {
        pre,
        pos: 0,
        inner: stream,
    }) {
        Ok(ws) => ws,
        Err(e) => {
            log::debug!("devnet: websocket handshake failed: {e}");
            return;
        }
    };
    shared.chain().stats.ws_connections += 1;
    let _ = raw.set_read_timeout(Some(Duration::from_millis(25)));
    let mut conn = Conn {
        subs: Vec::new(),
        seen: shared.chain().height(),
        last_ping: Instant::now(),
        last_heard: Instant::now(),
        ping: Duration::from_millis(shared.cfg.ws_ping_ms.max(1)),
        read_wait: Duration::from_millis(shared.cfg.ws_read_wait_ms.max(1)),
    };
    let mut silent = false;
    loop {
        if shared.stopping() {
            let _ = ws.close(None);
            let _ = ws.flush();
            return;
        }
        if serial < me.ws_drop_below.load(Ordering::SeqCst) {
            shared.chain().stats.fired("drop-ws");
            let _ = raw.shutdown(Shutdown::Both);
            return;
        }
        if serial < me.ws_silent_below.load(Ordering::SeqCst) {
            if !std::mem::replace(&mut silent, true) {
                shared.chain().stats.fired("silent-ws");
            }
            shared.wait_stop(Duration::from_millis(50));
            continue;
        }
        if conn.step(shared, &mut ws).is_none() {
            return;
        }
        if conn.last_heard.elapsed() >= conn.read_wait {
            // CometBFT's read deadline: the connection ends, no close frame.
            shared.chain().stats.ws_read_wait_drops += 1;
            log::debug!(
                "devnet: websocket client silent for {:?}; dropped",
                conn.read_wait
            );
            let _ = raw.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// CometBFT's default `max_subscriptions_per_client`.
pub const MAX_SUBSCRIPTIONS: usize = 5;
/// CometBFT's longest subscription query.
const MAX_QUERY_LEN: usize = 512;

struct Conn {
    subs: Vec<(Value, Query)>,
    seen: u64,
    last_ping: Instant,
    /// When the client last sent anything (a frame, a ping or a pong).
    last_heard: Instant,
    ping: Duration,
    read_wait: Duration,
}

impl Conn {
    /// One turn: read a message (or time out), send new block frames, ping.
    fn step(&mut self, shared: &Shared, ws: &mut WebSocket<Replay>) -> Option<()> {
        let read = ws.read();
        if read.is_ok() {
            self.last_heard = Instant::now();
        }
        match read {
            Ok(Message::Text(t)) => {
                let answer = self.rpc(t.as_str());
                ws.send(Message::text(answer.to_string())).ok()?;
            }
            Ok(Message::Close(_)) => return None,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
        let blocks: Vec<(u64, Vec<Event>, usize)> = {
            let chain = shared.chain();
            let h = chain.height();
            let out = (self.seen + 1..=h)
                .filter_map(|n| {
                    chain
                        .block(n)
                        .map(|b| (b.height, b.events.clone(), b.num_txs))
                })
                .collect();
            self.seen = h;
            out
        };
        for (height, events, num_txs) in blocks {
            for (id, q) in &self.subs {
                if q.matches(&events) {
                    ws.send(Message::text(
                        frame(id, q, height, &events, num_txs).to_string(),
                    ))
                    .ok()?;
                }
            }
        }
        if self.last_ping.elapsed() >= self.ping {
            self.last_ping = Instant::now();
            ws.send(Message::Ping(Vec::new().into())).ok()?;
        }
        Some(())
    }

    /// Answers one JSON-RPC request.
    fn rpc(&mut self, text: &str) -> Value {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return json!({"jsonrpc": "2.0", "id": -1, "error": {"code": -32700, "message": "Parse error. Invalid JSON"}});
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let query = req
            .pointer("/params/query")
            .and_then(Value::as_str)
            .unwrap_or("");
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        let error = |code: i64, message: &str, data: String| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": data}});
        match method {
            "subscribe" if self.subs.len() >= MAX_SUBSCRIPTIONS => error(
                -32603,
                "Internal error",
                format!("max_subscriptions_per_client {MAX_SUBSCRIPTIONS} reached"),
            ),
            "subscribe" if query.len() > MAX_QUERY_LEN => error(
                -32603,
                "Internal error",
                "maximum query length exceeded".into(),
            ),
            "subscribe" => match Query::parse(query) {
                Ok(q) if self.subs.iter().any(|(_, s)| s.text == q.text) => {
                    error(-32603, "Internal error", "already subscribed".into())
                }
                Ok(q) => {
                    self.subs.push((id.clone(), q));
                    json!({"jsonrpc": "2.0", "id": id, "result": {}})
                }
                Err(e) => error(-32603, "Internal error", e),
            },
            "unsubscribe" => {
                let before = self.subs.len();
                self.subs.retain(|(_, s)| s.text != query);
                if self.subs.len() == before {
                    return error(-32603, "Internal error", "subscription not found".into());
                }
                json!({"jsonrpc": "2.0", "id": id, "result": {}})
            }
            "unsubscribe_all" => {
                self.subs.clear();
                json!({"jsonrpc": "2.0", "id": id, "result": {}})
            }
            other => error(-32601, "Method not found", format!("method {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_filter_on_event_type_and_attribute() {
        let opened = Event::typed(
            "emissions.v10.EventWorkerSubmissionWindowOpened",
            &[
                ("topic_id", json!("67")),
                ("nonce_block_height", json!("20")),
            ],
            Some("EndBlock"),
        );
        let noise = Event::plain("mint", &[("amount", "5")]);
        let q67 = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id = '\"67\"'";
        let q69 = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id='\"69\"'";
        let check = |q: &str, events: &[Event], expected: bool| {
            assert_eq!(Query::parse(q).unwrap().matches(events), expected, "{q}");
        };
        check(q67, &[noise.clone(), opened.clone()], true);
        check(q67, std::slice::from_ref(&noise), false);
        check(q69, std::slice::from_ref(&opened), false);
        check("tm.event='NewBlock'", std::slice::from_ref(&opened), false);
        let any = "tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id EXISTS";
        check(any, &[noise.clone(), opened.clone()], true);
        check(any, std::slice::from_ref(&noise), false);
        assert!(Query::parse("nonsense").is_err());
        let f = frame(
            &json!("sub-1"),
            &Query::parse(q67).unwrap(),
            20,
            &[opened],
            0,
        );
        assert_eq!(
            f["result"]["data"]["type"],
            "tendermint/event/NewBlockEvents"
        );
        assert_eq!(f["result"]["data"]["value"]["height"], "20");
        let attrs = &f["result"]["data"]["value"]["events"][0]["attributes"];
        assert_eq!(
            attrs[1],
            json!({"key": "topic_id", "value": "\"67\"", "index": true})
        );
        assert_eq!(attrs[2]["key"], "mode");
        assert_eq!(
            f["result"]["events"]["emissions.v10.EventWorkerSubmissionWindowOpened.topic_id"],
            json!(["\"67\""])
        );
    }
}
