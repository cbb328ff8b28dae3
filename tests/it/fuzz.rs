//! Deterministic, seeded mutation fuzzing of every parser that reads bytes
//! from outside: the websocket frame parser, the Tiingo and CSV parsers, the
//! env-file parser, the transaction decoders and the ledger line parser (the
//! REST decoders have their own loop in `chain.rs`). Each target gets a fixed
//! number of cases (`ALLORA_FUZZ_CASES` raises it for a manual run); a panic
//! fails the test with the seed and case number, and each crash found becomes
//! a regression case in `regressions_stay_fixed`.

use std::time::Instant;

use allora_worker::logic::bars;
use allora_worker::logic::chain_json as cj;
use allora_worker::logic::emissions::Emissions;
use allora_worker::logic::envfile;
use allora_worker::logic::hex;
use allora_worker::logic::ledger::{Record, Stage};
use allora_worker::logic::tx_decode;
use allora_worker::logic::verify;

use crate::support;
use crate::support::Rng;

const SEED: u64 = 0xF022_5EED_0000_0009;

/// Tokens that tend to break parsers when spliced in.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"-1",
    b"1e999",
    b"NaN",
    b"18446744073709551616",
    b"\n",
    b"\r\n",
    b"=",
    b"'",
    b"#",
    b"export ",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x00",
    b"\x0a\x80\x80\x80\x80\x10",
    b"2024-13-45T25:61:00Z",
    b"\xe2\x82\xac",
];

/// One mutation of `input`: truncation, bit flips, a spliced token, a
/// duplicated or deleted slice, or several of these.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = b.len();
        match rng.below(5) {
            0 => b.truncate(rng.below(len + 1)),
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                b.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let (i, n) = (rng.below(len), rng.below(64));
                let slice: Vec<u8> = b[i..(i + n).min(len)].to_vec();
                let j = rng.below(len + 1);
                b.splice(j..j, slice);
            }
            _ if len > 0 => {
                let (i, n) = (rng.below(len), rng.below(16));
                b.drain(i..(i + n).min(len));
            }
            _ => {}
        }
    }
    b
}

/// Cases per target (a manual run sets `ALLORA_FUZZ_CASES`).
fn cases() -> u64 {
    std::env::var("ALLORA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Runs `target` on `cases()` mutations of the corpus; returns how many it
/// accepted. A panic names the target, the seed and the case.
fn fuzz(name: &str, corpus: &[Vec<u8>], target: impl Fn(&[u8]) -> bool) -> u64 {
    let mut rng = Rng(SEED ^ name.len() as u64 ^ corpus.len() as u64);
    let (mut ok, start) = (0, Instant::now());
    for case in 0..cases() {
        let input = mutate(&corpus[case as usize % corpus.len()], &mut rng);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
        match r {
            Ok(accepted) => ok += u64::from(accepted),
            Err(_) => panic!(
                "{name} panicked on case {case} (seed {SEED:#x}): {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    eprintln!(
        "fuzz {name}: {} cases, {ok} accepted, {:?}",
        cases(),
        start.elapsed()
    );
    ok
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ws_corpus() -> Vec<Vec<u8>> {
    let v = support::vectors("chain_responses.json");
    ["ws_event", "ws_ack"]
        .iter()
        .map(|k| v[*k].to_string().into_bytes())
        .collect()
}

fn tx_corpus() -> Vec<Vec<u8>> {
    let v = support::vectors("tx.json");
    v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| hex::decode(t["outputs"]["tx_raw_bytes_hex"].as_str().unwrap()).unwrap())
        .collect()
}

fn csv_corpus() -> Vec<Vec<u8>> {
    let bars: String = (0..48)
        .map(|h| {
            let t = 1_700_000_000 / 3600 * 3600 + h * 3600;
            format!(
                "{},{},{},{},{},{}\n",
                bars::format_time(t),
                100.0 + h as f64,
                101.5 + h as f64,
                99.0 + h as f64,
                100.5 + h as f64,
                12.25
            )
        })
        .collect();
    vec![
        format!("timestamp,open,high,low,close,volume\n{bars}").into_bytes(),
        b"date,close\n2024-01-01T00:00:00Z,42000.5\n2024-01-01T01:00:00Z,42001\n".to_vec(),
    ]
}

fn env_corpus() -> Vec<Vec<u8>> {
    vec![
        b"# comment\nexport ALLORA_CHAIN_ID=allora-testnet-1\nMNEMONIC=\"word1 word2 word3\"\n\nTOPIC_ID='67'\n".to_vec(),
        b"ALLORA_LCD_URLS=https://a.example,https://b.example\r\nALLORA_GAS_PRICE=10\n".to_vec(),
    ]
}

fn ledger_corpus() -> Vec<Vec<u8>> {
    let stages = [
        Stage::Predicted {
            value: "0.0123".into(),
        },
        Stage::Signed {
            tx_hash: "AB".repeat(32),
            sequence: 7,
            tx_b64: "CgQKAggB".into(),
            timeout_height: 99,
        },
        Stage::Broadcast {
            tx_hash: "CD".repeat(32),
            sequence: 8,
            tx_b64: "CgQKAggB".into(),
        },
        Stage::Included {
            tx_hash: "EF".repeat(32),
            height: 1234,
            admitted: true,
        },
        Stage::Refused {
            reason: "CheckTx sdk/32: account sequence mismatch".into(),
        },
        Stage::Done {
            reason: "missed (late): \"quoted\"".into(),
        },
    ];
    stages
        .into_iter()
        .enumerate()
        .map(|(i, stage)| {
            Record {
                nonce: 6_673_195 + i as i64,
                at: 1_700_000_000,
                stage,
            }
            .to_line()
            .into_bytes()
        })
        .collect()
}

#[test]
fn websocket_frame_parser_survives_mutation() {
    let corpus = ws_corpus();
    assert_eq!(
        cj::ws_windows(&text(&corpus[0]), Emissions::V10, &[67])
            .unwrap()
            .len(),
        1
    );
    let ok = fuzz("ws_windows", &corpus, |b| {
        [Emissions::V9, Emissions::V10]
            .iter()
            .any(|e| cj::ws_windows(&text(b), *e, &[67]).is_ok())
    });
    assert!(ok < cases(), "mutations must break some frames");
}

#[test]
fn tiingo_and_csv_parsers_survive_mutation() {
    let tiingo = support::vectors("tiingo_crypto_prices_sample.json").to_string();
    assert!(bars::parse_tiingo(&tiingo, 1_700_000_000).is_ok());
    let ok = fuzz("parse_tiingo", &[tiingo.into_bytes()], |b| {
        bars::parse_tiingo(&text(b), 1_700_000_000).is_ok()
    });
    assert!(ok < cases());
    let corpus = csv_corpus();
    assert_eq!(
        bars::parse_csv(&text(&corpus[0]), "fuzz.csv")
            .unwrap()
            .len(),
        48
    );
    let ok = fuzz("parse_csv", &corpus, |b| {
        bars::parse_csv(&text(b), "fuzz.csv").is_ok()
    });
    assert!(ok > 0 && ok < cases(), "{ok}");
}

#[test]
fn env_file_parser_survives_mutation_and_never_echoes_values() {
    let corpus = env_corpus();
    assert_eq!(
        envfile::parse(&text(&corpus[0]), "fuzz.env").unwrap().len(),
        3
    );
    let ok = fuzz("envfile", &corpus, |b| {
        match envfile::parse(&text(b), "fuzz.env") {
            Ok(_) => true,
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !msg.contains("word2 word3"),
                    "an env-file error echoes a value: {msg}"
                );
                false
            }
        }
    });
    assert!(ok > 0 && ok < cases(), "{ok}");
}

#[test]
fn tx_decoders_survive_mutation() {
    let corpus = tx_corpus();
    assert!(corpus.iter().all(|raw| verify::decode_tx(raw).is_ok()));
    let ok = fuzz("decode_tx", &corpus, |b| {
        let raw = tx_decode::decode_tx_raw(b).is_ok();
        verify::decode_tx(b).is_ok() && raw
    });
    assert!(ok < cases());
}

#[test]
fn ledger_line_parser_survives_mutation_and_round_trips() {
    let corpus = ledger_corpus();
    for line in &corpus {
        let r = Record::from_line(&text(line)).unwrap();
        assert_eq!(r.to_line(), text(line), "a ledger record round-trips");
    }
    let ok = fuzz("ledger", &corpus, |b| match Record::from_line(&text(b)) {
        Ok(r) => {
            let again = Record::from_line(&r.to_line()).expect("a written record reads back");
            assert_eq!(again, r);
            true
        }
        Err(_) => false,
    });
    assert!(ok > 0 && ok < cases(), "{ok}");
}
