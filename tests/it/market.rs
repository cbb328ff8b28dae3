//! Market data: Tiingo over real HTTP on loopback (canned replies from a
//! tiny server started here), the bar cache, the rate-limit backoff, and the
//! data gate's reasons through the binary (gap, NaN, stale, bad CSV row).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use allora_worker::io::market::{self, Tiingo};
use allora_worker::logic::bars::{self, Bar, HOUR};
use allora_worker::logic::synthetic::synthetic_bars;

use crate::support::{run, temp_dir, texts};

/// Serves `replies` in order, one per connection, on 127.0.0.1:0; returns
/// the base URL and the request lines seen so far.
fn serve(replies: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (status, body) in replies {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            log.lock()
                .expect("request log")
                .push(line.trim().to_string());
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let kind = if body.starts_with('<') {
                "text/html"
            } else {
                "application/json"
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

fn tiingo(base: &str) -> Tiingo {
    Tiingo {
        base: base.to_string(),
        ticker: "btcusd".into(),
        key: Some(allora_worker::logic::secret::Secret::new("k3y".into())),
        timeout: Duration::from_secs(10),
    }
}

fn sample() -> String {
    crate::support::vectors("tiingo_crypto_prices_sample.json").to_string()
}

const SAMPLE_LAST: i64 = 1_756_166_400 + 48 * HOUR; // 2025-08-28T00:00Z, the sample's last bar

#[test]
fn tiingo_sample_is_fetched_once_and_cached() {
    let (base, seen) = serve(vec![(200, sample())]);
    let dir = temp_dir("tiingo-cache");
    let now = SAMPLE_LAST + 600;
    let got = market::update_cache(&tiingo(&base), &dir, now, 24).expect("bars");
    assert_eq!(got.last().map(|b| b.t), Some(SAMPLE_LAST));
    assert!(got.len() == 49 && got.iter().all(|b| b.close > 10_000.0));
    let req = seen.lock().unwrap()[0].clone();
    assert!(req.starts_with("GET /tiingo/crypto/prices?tickers=btcusd&startDate=2025-08-27&endDate=2025-08-28&resampleFreq=1hour&token=k3y"), "{req}");
    // Same hour again: served from the cache, no second request.
    let again = market::update_cache(&tiingo(&base), &dir, now + 60, 24).expect("cached bars");
    assert_eq!(again, got);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let cached = std::fs::read_to_string(dir.join("bars-btcusd.csv")).unwrap();
    assert_eq!(bars::parse_csv(&cached, "cache").unwrap(), got);
}

#[test]
fn rate_limit_reply_backs_off_without_retrying() {
    let detail = r#"{"detail":"Error: You have run over your hourly request allocation. Please upgrade at https://api.tiingo.com/pricing to have your limits increased."}"#;
    let (base, seen) = serve(vec![(429, detail.into()), (200, sample())]);
    let dir = temp_dir("tiingo-limit");
    let now = SAMPLE_LAST + 1800;
    let e = market::update_cache(&tiingo(&base), &dir, now, 24)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tiingo rate limit") && e.contains("backing off 1860 s"),
        "{e}"
    );
    let e = market::update_cache(&tiingo(&base), &dir, now + 60, 24)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not asking again before 2025-08-28T01:01:00Z"),
        "{e}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "no retry during the backoff");
    let ok = market::update_cache(&tiingo(&base), &dir, now + 1900, 24);
    assert!(ok.is_ok(), "after the backoff the fetch resumes: {ok:?}");
}

#[test]
fn html_error_object_and_empty_array_are_clear_errors() {
    let cases = [
        (
            502,
            "<html><body>Bad gateway</body></html>",
            "HTML instead of JSON",
        ),
        (
            200,
            "<!DOCTYPE html><html>maintenance</html>",
            "HTML instead of JSON",
        ),
        (200, "[]", "tiingo returned no bars for btcusd"),
        (
            200,
            r#"[{"ticker":"btcusd","priceData":[]}]"#,
            "tiingo returned no bars",
        ),
        (
            401,
            r#"{"detail":"Invalid token."}"#,
            "tiingo error: Invalid token.",
        ),
    ];
    for (status, body, expected) in cases {
        let (base, _) = serve(vec![(status, body.into())]);
        let dir = temp_dir("tiingo-bad");
        let e = market::update_cache(&tiingo(&base), &dir, SAMPLE_LAST, 24).unwrap_err();
        assert!(e.to_string().contains(expected), "{status} {body}: {e}");
        assert!(!dir.join("bars-btcusd.csv").exists());
    }
}

/// Writes `bars` as CSV and runs `predict --csv` at `at`.
fn predict_on(label: &str, bars: &[Bar], extra: &str, at: i64) -> (bool, String, String) {
    let dir = temp_dir(label);
    let path = dir.join("bars.csv");
    std::fs::write(&path, format!("{}{extra}", bars::to_csv(bars))).unwrap();
    let at = bars::format_time(at);
    let out = run(
        &dir,
        &["predict", "--csv", path.to_str().unwrap(), "--at", &at],
        &[],
    );
    let (stdout, stderr) = texts(&out);
    (out.status.success(), stdout, stderr)
}

fn check_refused(label: &str, bars: &[Bar], extra: &str, at: i64, reason: &str) {
    let (ok, stdout, stderr) = predict_on(label, bars, extra, at);
    assert!(!ok, "{label}: predicted {stdout}");
    assert!(
        stdout.is_empty(),
        "{label}: no prediction on stdout, got {stdout}"
    );
    assert!(stderr.contains(reason), "{label}: {stderr}");
}

#[test]
fn data_gate_reasons_through_the_binary() {
    let good = synthetic_bars(11, 487_000, 1000);
    let newest = good[999].t;
    let (ok, stdout, _) = predict_on("gate-ok", &good, "", newest + 3600);
    let value = stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("prediction "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(
        ok && value.is_some_and(|v| v.is_finite() && v != 0.0),
        "{stdout}"
    );
    check_refused("gate-stale", &good, "", newest + 3 * HOUR, "is 3.0 h old");
    let gappy: Vec<Bar> = good
        .iter()
        .enumerate()
        .filter(|(i, _)| !(900..920).contains(i))
        .map(|(_, b)| *b)
        .collect();
    check_refused(
        "gate-gap",
        &gappy,
        "",
        newest,
        "20 of 672 hours missing (limit 2 %), e.g.",
    );
    let mut nan = good.clone();
    nan[500].close = f64::NAN;
    check_refused(
        "gate-nan",
        &nan,
        "",
        newest,
        "non-finite or non-positive price",
    );
    check_refused("gate-short", &good[700..], "", newest, "only 300 h of bars");
    check_refused(
        "gate-badrow",
        &good,
        "2030-01-01T00:00:00Z,1,1,1,oops,1\n",
        newest,
        "bars.csv line 1002: bad close \"oops\"",
    );
}

#[test]
fn csv_with_empty_ohlv_fields_is_accepted() {
    let text = "timestamp,open,high,low,close,volume\n2025-11-27T00:00:00Z,,,,90468.69,\n";
    let b = bars::parse_csv(text, "x").unwrap();
    assert_eq!((b[0].close, b[0].open, b[0].volume), (90468.69, None, None));
    assert!(Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tiingo_crypto_prices_sample.json")
        .exists());
}

#[test]
fn devnet_market_endpoint_stands_in_for_tiingo() {
    use allora_worker::devnet::{Devnet, DevnetConfig};
    let devnet = Devnet::start(DevnetConfig {
        seed: 9,
        ..DevnetConfig::default()
    })
    .expect("devnet starts");
    let dir = temp_dir("devnet-market");
    let env = [("TIINGO_URL", devnet.market_url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(&dir, &["train", "--seed", "2"], &env);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("validation") && stdout.contains("forecast"),
        "{stdout}"
    );
    let cache = std::fs::read_to_string(dir.join("data/bars-btcusd.csv")).unwrap();
    let cached = bars::parse_csv(&cache, "cache").unwrap();
    assert!(cached.len() >= 864, "cache holds {} bars", cached.len());
    let out = run(&dir, &["predict", "--json"], &env);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        v["prediction"]
            .as_f64()
            .is_some_and(|p| p.is_finite() && p != 0.0),
        "{v}"
    );
    assert!(v["source"].as_str().unwrap().starts_with("model ("), "{v}");
}

#[test]
fn long_ranges_are_paged_by_thirty_days() {
    let (base, seen) = serve(vec![(200, "[]".into()), (200, sample())]);
    let dir = temp_dir("tiingo-paging");
    let got = market::update_cache(&tiingo(&base), &dir, SAMPLE_LAST + 600, 24 * 40).unwrap();
    assert_eq!(got.len(), 49);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].contains("startDate=2025-07-19&endDate=2025-08-18"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].contains("startDate=2025-08-18&endDate=2025-08-28"),
        "{}",
        seen[1]
    );
}
