//! The chain client against the devnet (register, 20 windows end to end,
//! each fault once, `check`) and the mutation fuzz loop over every response
//! decoder in `logic::chain_json`.

use serde_json::Value;

use allora_worker::logic::chain_json as cj;
use allora_worker::logic::emissions::Emissions;

use crate::support;

/// Seeded xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Runs the decoder named `name` on `text`; only panics matter here.
fn decode(name: &str, text: &str) -> bool {
    match name {
        "topic" => cj::topic(text).is_ok(),
        "nonces" => cj::nonces(text).is_ok(),
        "window_status" => cj::window_status(text).is_ok(),
        "account" => cj::account(text).is_ok(),
        "balance" => cj::balance(text).is_ok(),
        "gas_price" => cj::gas_price(text).is_ok(),
        "params" => cj::params(text).is_ok(),
        "node_network" => cj::node_network(text).is_ok(),
        "block_header" => cj::block_header(text).is_ok(),
        "rpc_status" => cj::rpc_status(text).is_ok(),
        "simulated_gas" => cj::simulated_gas(text).is_ok(),
        "tx_response" | "broadcast_rejected" => cj::tx_response(text).is_ok(),
        "latest_inference" => cj::latest_inference(text).is_ok(),
        "flag" => cj::flag(text, "is_registered").is_ok(),
        "api_error" => cj::api_error(text).is_some(),
        "ws_event" | "ws_ack" => cj::ws_windows(text, Emissions::V10, 67).is_ok(),
        other => panic!("no decoder for fixture {other}"),
    }
}

/// Every object member of `v`, as paths.
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(k.clone());
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(i.to_string());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn parent_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let mut cur = v;
    for k in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(k)?,
            Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A fixture: its decoder name, value, text and member paths.
struct Sample {
    name: String,
    value: Value,
    text: String,
    paths: Vec<Vec<String>>,
}

fn mutate(s: &Sample, rng: &mut Rng) -> String {
    let (original, text) = (&s.value, s.text.clone());
    match rng.below(4) {
        0 => text[..text.len() * rng.below(100) / 100].to_string(),
        1 => {
            let mut bytes = text.into_bytes();
            for _ in 0..=rng.below(3) {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        kind => {
            let mut v = original.clone();
            if s.paths.is_empty() {
                return text;
            }
            let path = &s.paths[rng.below(s.paths.len())];
            let (last, parent) = path.split_last().expect("paths are non-empty");
            if let Some(Value::Object(m)) = parent_mut(&mut v, parent) {
                if kind == 2 {
                    m.remove(last);
                } else {
                    let replacements = [
                        Value::Null,
                        Value::Bool(true),
                        serde_json::json!(-1),
                        serde_json::json!(1.5e300),
                        serde_json::json!("99999999999999999999999999999999999999999"),
                        serde_json::json!("-5"),
                        serde_json::json!(""),
                        serde_json::json!([1, "a"]),
                        serde_json::json!({"x": 1}),
                    ];
                    m.insert(
                        last.clone(),
                        replacements[rng.below(replacements.len())].clone(),
                    );
                }
            }
            v.to_string()
        }
    }
}

#[test]
fn decoders_survive_mutation_fuzz() {
    let fixtures = support::vectors("chain_responses.json");
    let samples: Vec<Sample> = fixtures
        .as_object()
        .expect("fixture file is an object")
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| {
            let mut all = Vec::new();
            paths(v, &mut Vec::new(), &mut all);
            Sample {
                name: k.clone(),
                value: v.clone(),
                text: v.to_string(),
                paths: all,
            }
        })
        .collect();
    for s in &samples {
        assert!(decode(&s.name, &s.text), "pristine {} must decode", s.name);
    }
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let (mut cases, mut decoded) = (0u64, 0u64);
    while cases < 100_000 {
        for s in &samples {
            decoded += u64::from(decode(&s.name, &mutate(s, &mut rng)));
            cases += 1;
        }
    }
    // Mutations must be real: most of them break the response.
    assert!(
        decoded > 0 && decoded < cases * 3 / 4,
        "{decoded} of {cases} still decoded"
    );
}
