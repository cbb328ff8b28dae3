//! Deterministic randomness and synthetic BTC-like hourly bars, for the
//! devnet's market endpoint, `bench` and tests. Never used as a fallback for
//! real market data.
//!
//! Pure: a seed in, the same numbers out on every platform (SplitMix64 and a
//! Box–Muller transform with `portable_math`, never the platform libm).

use crate::logic::bars::{Bar, HOUR};
use crate::logic::portable_math::{cos, exp, ln};

/// SplitMix64's increment (the golden-ratio gamma).
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The one SplitMix64 step: the output for generator state `state` (the
/// state then advances by `GAMMA`). Also a good 64-bit mixing function.
pub fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64: a tiny, portable, seedable generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let out = splitmix64(self.0);
        self.0 = self.0.wrapping_add(GAMMA);
        out
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * ln(u1)).sqrt() * cos(std::f64::consts::TAU * u2)
    }
}

/// `hours` hourly bars from `start_unix_hour` (hours since the epoch): a
/// random walk in log price from 100 000 with ~0.5 % hourly volatility that
/// itself drifts slowly, plus small OHLV around each close.
pub fn synthetic_bars(seed: u64, start_unix_hour: i64, hours: usize) -> Vec<Bar> {
    let mut rng = SplitMix64::new(seed);
    let mut log_p = ln(100_000.0);
    let mut log_vol = ln(0.005);
    let mut out = Vec::with_capacity(hours);
    for i in 0..hours {
        log_vol = (0.98 * log_vol + 0.02 * ln(0.005) + 0.05 * rng.normal()).clamp(-7.0, -3.5);
        let open = exp(log_p);
        log_p += exp(log_vol) * rng.normal();
        let close = exp(log_p);
        let wick = 1.0 + exp(log_vol) * rng.next_f64();
        out.push(Bar {
            t: (start_unix_hour + i as i64) * HOUR,
            open: Some(open),
            high: Some(open.max(close) * wick),
            low: Some(open.min(close) / wick),
            close,
            volume: Some(100.0 + 900.0 * rng.next_f64()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_outputs() {
        // Vigna's splitmix64.c seeded with 0.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn deterministic_and_plausible() {
        let a = synthetic_bars(7, 487_000, 1000);
        assert_eq!(a, synthetic_bars(7, 487_000, 1000));
        assert_ne!(a, synthetic_bars(8, 487_000, 1000));
        assert_eq!(a[0].t, 487_000 * HOUR);
        assert_eq!(a[999].t - a[0].t, 999 * HOUR);
        assert!(a.iter().all(|b| b.close.is_finite() && b.close > 1000.0));
        assert!(a
            .iter()
            .all(|b| b.high >= Some(b.close) && b.low <= Some(b.close)));
        let mut r = SplitMix64::new(1);
        let first = r.next_u64();
        assert_eq!(first, 0x910A_2DEC_8902_5CC1); // SplitMix64 reference output for seed 1
    }
}
