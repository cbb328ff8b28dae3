//! The websocket as strict as CometBFT: server pings, a client that sends
//! nothing (not even a pong) is dropped after the read wait, at most 5
//! subscriptions per connection, the 512-byte query limit, and the
//! websocket faults counted in `faults_fired`.

use super::*;

fn keepalive_devnet() -> Devnet {
    Devnet::start(DevnetConfig {
        ws_ping_ms: 100,
        ws_read_wait_ms: 400,
        ..fast()
    })
    .unwrap()
}

/// Reads the raw TCP bytes under `ws` (never answering a ping) until the
/// server closes; returns how long that took and the bytes read.
fn read_raw_until_closed(mut ws: WebSocket<MaybeTlsStream<TcpStream>>) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("loopback websocket is plain TCP");
    };
    let mut raw = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the silent client was never dropped"
        );
    }
    (started.elapsed(), raw)
}

#[test]
fn a_client_that_answers_pings_stays_and_a_silent_one_is_dropped() {
    let devnet = keepalive_devnet();
    let silent = ws_connect(&devnet.ws_url());
    let dropped = std::thread::spawn(move || read_raw_until_closed(silent));
    let mut alive = ws_connect(&devnet.ws_url());
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(1_500) || !dropped.is_finished() {
        match alive.read() {
            // tungstenite queues the pong and writes it on the next read.
            Ok(Message::Ping(_)) => pings += 1,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("a client answering pings was dropped: {e}"),
        }
        assert!(started.elapsed() < DEADLINE);
    }
    assert!(pings >= 8, "a ping every 100 ms for 1.5 s: {pings}");
    let (after, raw) = dropped.join().unwrap();
    assert!(
        after >= Duration::from_millis(400) && after < Duration::from_millis(1_400),
        "dropped after the 400 ms read wait, not {after:?}"
    );
    assert_eq!(raw.first(), Some(&0x89), "it was pinged first: {raw:?}");
    assert!(
        !raw.contains(&0x88),
        "no close frame, the connection just ends: {raw:?}"
    );
    alive
        .send(Message::text(
            json!({"jsonrpc": "2.0", "method": "subscribe", "id": 1, "params": {"query": QUERY}})
                .to_string(),
        ))
        .unwrap();
    let ack = ws_text(&mut alive, DEADLINE).unwrap().unwrap();
    assert_eq!(ack["result"], json!({}), "still served: {ack}");
}

fn rpc(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>, method: &str, id: u64, query: &str) -> Value {
    let req = json!({"jsonrpc": "2.0", "method": method, "id": id, "params": {"query": query}});
    ws.send(Message::text(req.to_string())).unwrap();
    ws_text(ws, DEADLINE).unwrap().expect("an answer")
}

fn query(topic: u64) -> String {
    format!("tm.event='NewBlockEvents' AND emissions.v10.EventWorkerSubmissionWindowOpened.topic_id='\"{topic}\"'")
}

#[test]
fn five_subscriptions_per_client_and_the_query_limit() {
    let devnet = keepalive_devnet();
    let mut ws = ws_connect(&devnet.ws_url());
    for topic in 1..=5 {
        let ack = rpc(&mut ws, "subscribe", topic, &query(topic));
        assert_eq!(ack, json!({"jsonrpc": "2.0", "id": topic, "result": {}}));
    }
    let refusal = json!({"jsonrpc": "2.0", "id": 6, "error": {
        "code": -32603, "message": "Internal error",
        "data": "max_subscriptions_per_client 5 reached"}});
    assert_eq!(rpc(&mut ws, "subscribe", 6, &query(6)), refusal);
    let other = ws_connect(&devnet.ws_url());
    let mut other = other;
    assert_eq!(
        rpc(&mut other, "subscribe", 1, &query(6))["result"],
        json!({}),
        "the limit is per connection"
    );
    assert_eq!(
        rpc(&mut ws, "unsubscribe", 7, &query(1))["result"],
        json!({})
    );
    assert_eq!(rpc(&mut ws, "subscribe", 8, &query(6))["result"], json!({}));
    let long = format!("{} AND x.y='{}'", query(67), "z".repeat(512));
    let mut fresh = ws_connect(&devnet.ws_url());
    assert_eq!(
        rpc(&mut fresh, "subscribe", 9, &long)["error"]["data"],
        "maximum query length exceeded"
    );
}

#[test]
fn websocket_faults_are_counted() {
    let devnet = keepalive_devnet();
    let mut first = ws_connect(&devnet.ws_url());
    let mut second = ws_connect(&devnet.ws_url());
    assert_eq!(rpc(&mut first, "subscribe", 1, QUERY)["result"], json!({}));
    assert_eq!(rpc(&mut second, "subscribe", 1, QUERY)["result"], json!({}));
    devnet.inject(Fault::SilentWebsocket);
    wait_for("silence", || {
        (devnet.stats()["faults_fired"]["silent-ws"] == 2).then_some(())
    });
    devnet.inject(Fault::DropWebsocket);
    wait_for("the drops", || {
        (devnet.stats()["faults_fired"]["drop-ws"] == 2).then_some(())
    });
}
