//! Canonical decimals: the `decimal_canonicalization` table of
//! `bundle_signature.json`, and a 100 000-value property test (seeded
//! xorshift) that canonical strings parse back to the same `f64` and are
//! fixed points of canonicalisation.

use allora_worker::logic::decimal::{self, Decimal};

use crate::support;

#[test]
fn canonicalization_table() {
    let v = support::vectors("bundle_signature.json");
    let rows = v["decimal_canonicalization"].as_array().unwrap();
    assert!(rows.len() >= 40);
    for row in rows {
        let input = row["input"].as_str().unwrap();
        let canonical = row["canonical"].as_str().unwrap();
        let within = row["within_BoundedExp40Dec"].as_bool().unwrap();
        let d = Decimal::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(d.text(), canonical, "text of {input:?}");
        assert_eq!(d.within_bounds(), within, "bounds of {input:?}");
        assert_eq!(
            canonical == input,
            row["accepted_as_is"].as_bool().unwrap(),
            "{input:?}"
        );
        match decimal::canonicalize_str(input) {
            Ok(c) => assert!(within && c == canonical, "{input:?} -> {c}"),
            Err(e) => assert!(!within, "{input:?}: {e}"),
        }
        if row["input_type"]
            .as_str()
            .unwrap()
            .starts_with("python float")
        {
            let x: f64 = input.parse().unwrap();
            match decimal::canonical(x) {
                Ok(c) => {
                    assert!(within, "{input}");
                    assert_eq!(c.parse::<f64>().unwrap(), x, "{input} -> {c}");
                    assert_eq!(decimal::canonicalize_str(&c).unwrap(), c, "{input} -> {c}");
                }
                Err(e) => assert!(!within, "{input}: {e}"),
            }
        }
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A random finite f64 with |x| in [1e-40, 1e40]: random sign, decimal
/// exponent and mantissa bits, so every magnitude and digit count shows up.
fn random_in_range(rng: &mut XorShift) -> f64 {
    loop {
        let r = rng.next();
        let x = match r % 4 {
            // raw bit patterns
            0 => f64::from_bits(rng.next()),
            // short decimals like a price or a log-return
            1 => (rng.next() % 10_000_000) as f64 / 10f64.powi((rng.next() % 12) as i32),
            // log-uniform magnitude over the whole range
            _ => {
                let e = (rng.next() % 81) as i32 - 40;
                let m = 1.0 + (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 9.0;
                m * 10f64.powi(e)
            }
        };
        let x = if r & (1 << 40) != 0 { -x } else { x };
        if x.is_finite() && (x == 0.0 || (1e-40..=1e40).contains(&x.abs())) {
            return x;
        }
    }
}

#[test]
fn canonical_round_trips_for_100k_random_floats() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..100_000 {
        let x = random_in_range(&mut rng);
        let c = decimal::canonical(x).unwrap_or_else(|e| panic!("{x:e}: {e}"));
        let back: f64 = c.parse().unwrap_or_else(|e| panic!("{x:e} -> {c}: {e}"));
        assert_eq!(
            back.to_bits(),
            if x == 0.0 { 0 } else { x.to_bits() },
            "{x:e} -> {c}"
        );
        assert_eq!(
            decimal::canonicalize_str(&c).unwrap(),
            c,
            "{x:e} not a fixed point"
        );
        assert!(
            c != "-0" && !c.contains('e') && !c.contains("inf") && !c.contains("NaN"),
            "{c}"
        );
    }
}
