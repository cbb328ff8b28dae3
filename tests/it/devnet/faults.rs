//! Devnet faults: chain faults fire once, HTTP faults hit one listener and
//! count down, websocket drop and silence, and shutdown under a hung request.

use super::*;

#[test]
fn chain_faults_fire_once() {
    let (devnet, w) = worker_devnet();
    devnet.inject(Fault::SequenceMismatchOnce);
    let r = broadcast(&w.base, &w.register(0).tx_raw);
    assert_eq!(
        r["raw_log"],
        "account sequence mismatch, expected 1, got 0: incorrect account sequence"
    );
    let info = ok(
        &w.base,
        &format!("/cosmos/auth/v1beta1/account_info/{}", w.wallet.address()),
    );
    assert_eq!(
        info["info"]["sequence"], "1",
        "the account moved on, as if another client used the key"
    );
    devnet.inject(Fault::InsufficientFeeOnce);
    let reg = w.register(1);
    let r = broadcast(&w.base, &reg.tx_raw);
    assert_eq!(
        (r["code"].as_u64(), r["codespace"].as_str()),
        (Some(13), Some("sdk")),
        "{r}"
    );
    devnet.inject(Fault::HoldInMempool(4));
    let h0 = devnet.height();
    let r = broadcast(&w.base, &reg.tx_raw);
    assert_eq!(
        r["code"], 0,
        "the same bytes pass once the fault is spent: {r}"
    );
    let again = broadcast(&w.base, &reg.tx_raw);
    assert_eq!(
        (again["code"].as_u64(), again["raw_log"].as_str()),
        (Some(19), Some("")),
        "the tx cache answers before CheckTx, with no raw_log (cosmos-sdk CheckCometError)"
    );
    let t = included(&w.base, r["txhash"].as_str().unwrap());
    let height: u64 = t["height"].as_str().unwrap().parse().unwrap();
    assert!(
        height >= h0 + 5,
        "held 4 extra blocks: broadcast after {h0}, included at {height}"
    );
    devnet.inject(Fault::SkipNextWindow);
    let first = devnet.height();
    let s = wait_for("two epochs", || {
        let s = devnet.stats();
        (s["height"].as_u64()? >= first + 80).then_some(s)
    });
    assert_eq!(
        s["windows_opened"].as_u64().unwrap() + 1,
        s["height"].as_u64().unwrap() / 40,
        "one window skipped: {s}"
    );
    devnet.inject(Fault::WrongChainId(true));
    let network = |base: &str| {
        ok(base, "/cosmos/base/tendermint/v1beta1/node_info")["default_node_info"]["network"]
            .clone()
    };
    assert_eq!(network(&w.base), "devnet-1-wrong");
    assert_eq!(
        ok(&w.base, "/status")["result"]["node_info"]["network"],
        "devnet-1-wrong"
    );
    devnet.inject(Fault::WrongChainId(false));
    assert_eq!(network(&w.base), "devnet-1");
    let fired = &devnet.stats()["faults_fired"];
    for name in [
        "sequence-mismatch",
        "insufficient-fee",
        "hold",
        "skip-window",
    ] {
        assert_eq!(fired[name], 1, "{name} acted once: {fired}");
    }
    assert!(fired["wrong-chain-id"].as_u64().unwrap() >= 2, "{fired}");
}

#[test]
fn http_faults_hit_one_listener_and_count_down() {
    let devnet = Devnet::start(fast()).unwrap();
    let main = devnet.base_url();
    let extra = devnet.extra_listener().unwrap();
    assert_ne!(main, extra);
    assert_eq!(
        ok(&extra, "/emissions/v10/topics/67"),
        ok(&main, "/emissions/v10/topics/67")
    );
    let path = "/cosmos/base/tendermint/v1beta1/node_info";
    let call = |base: &str| http(base, "GET", path, "", DEADLINE).unwrap();
    devnet.inject_on(&extra, Fault::Http500(2));
    assert_eq!(call(&main).0, 200, "the other listener is unaffected");
    assert_eq!(call(&extra).0, 500);
    assert_eq!(call(&extra).0, 500);
    assert_eq!(call(&extra).0, 200);
    devnet.inject_on(&extra, Fault::HtmlPage(1));
    let (status, ctype, body) = call(&extra);
    assert_eq!((status, ctype.as_str()), (502, "text/html"));
    assert!(body.contains("<html>"));
    devnet.inject_on(&extra, Fault::EmptyBody(1));
    assert_eq!(
        call(&extra),
        (200, "application/json".to_string(), String::new())
    );
    devnet.inject(Fault::Http500(1));
    assert_eq!((call(&main).0, call(&extra).0), (500, 500));
    devnet.inject_on(&main, Fault::Hang(1));
    let started = Instant::now();
    let hung = http(&main, "GET", path, "", Duration::from_millis(300));
    assert!(
        hung.is_err() || hung.as_ref().unwrap().0 == 0,
        "no answer: {hung:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(call(&main).0, 200, "a hung request does not block others");
    assert_eq!(ok(&main, "/devnet/stats")["rejected"], json!({}));
}

#[test]
fn websocket_drop_and_silence() {
    let devnet = Devnet::start(fast()).unwrap();
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, QUERY);
    devnet.inject(Fault::DropWebsocket);
    let ended = wait_for("the drop", || {
        ws_text(&mut ws, Duration::from_millis(100)).err()
    });
    assert!(!ended.is_empty());
    let mut ws = ws_connect(&devnet.ws_url());
    subscribe(&mut ws, QUERY);
    assert!(
        ws_text(&mut ws, DEADLINE).unwrap().is_some(),
        "a new connection gets frames"
    );
    devnet.inject(Fault::SilentWebsocket);
    let injected = devnet.height();
    while devnet.height() < injected + 3 {
        // Drain what the server sent before it noticed the fault.
        let _ = ws_text(&mut ws, Duration::from_millis(10));
    }
    let opened = devnet.stats()["windows_opened"].as_u64().unwrap();
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    let mut got = Vec::new();
    while devnet.stats()["windows_opened"].as_u64().unwrap() < opened + 2 {
        match ws.read() {
            Ok(m) => got.push(m),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("a silent connection stays open: {e}"),
        }
    }
    assert!(
        got.is_empty(),
        "silent: no frames, no pongs, no pings: {got:?}"
    );
    let mut fresh = ws_connect(&devnet.ws_url());
    subscribe(&mut fresh, QUERY);
    assert!(ws_text(&mut fresh, DEADLINE).unwrap().is_some());
}

#[test]
fn shutdown_frees_the_port() {
    let devnet = Devnet::start(fast()).unwrap();
    let base = devnet.base_url();
    let _ws = ws_connect(&devnet.ws_url());
    devnet.inject(Fault::Hang(1));
    let hung = std::thread::spawn({
        let base = base.clone();
        move || http(&base, "GET", "/status", "", DEADLINE)
    });
    let started = Instant::now();
    devnet.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    let answer = hung.join().unwrap();
    assert!(
        answer.map_or(true, |(status, _, _)| status == 0),
        "the hung request got no answer"
    );
    let addr = base.trim_start_matches("http://");
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens on {addr}"
    );
    std::net::TcpListener::bind(addr).expect("the port is free again");
}
