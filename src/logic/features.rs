//! Feature rows and targets from an hourly `Series`: log returns, rolling
//! volatility, distance from moving averages, RSI and the calendar. The
//! feature list and its hash are stored with every model.
//!
//! Logarithms come from `portable_math`, so rows are bit-identical on
//! every platform. Pure: a row at grid index `i` reads only closes at or before `i`, so a
//! feature never sees the future; the target at `i` reads `i + horizon`.

use sha2::{Digest, Sha256};

use crate::logic::bars::{Series, HOUR};
use crate::logic::hex;
use crate::logic::portable_math::ln;

/// Feature names, in column order.
pub const NAMES: &[&str] = &[
    "ret_1h",
    "ret_3h",
    "ret_6h",
    "ret_12h",
    "ret_24h",
    "ret_48h",
    "ret_72h",
    "ret_168h",
    "vol_24h",
    "vol_72h",
    "vol_168h",
    "ma_dist_24h",
    "ma_dist_72h",
    "ma_dist_168h",
    "rsi_14h",
    "hour_of_day",
    "day_of_week",
];

/// Number of feature columns.
pub const N: usize = NAMES.len();

/// Hours of history a row needs before it (the longest lookback).
pub const LOOKBACK: usize = 168;

const RETURNS: [usize; 8] = [1, 3, 6, 12, 24, 48, 72, 168];
const VOLS: [usize; 3] = [24, 72, 168];
const MAS: [usize; 3] = [24, 72, 168];
const RSI: usize = 14;

/// SHA-256 (hex) of the feature names joined by newlines.
pub fn hash() -> String {
    hex::encode(&Sha256::digest(NAMES.join("\n").as_bytes()))
}

/// The feature row at grid index `i`, or `None` without `LOOKBACK` hours before it.
pub fn row(s: &Series, i: usize) -> Option<[f64; N]> {
    if i < LOOKBACK || i >= s.close.len() {
        return None;
    }
    let c = &s.close;
    let lc = |k: usize| ln(c[k]);
    let mut f = [0.0; N];
    let mut j = 0;
    for h in RETURNS {
        f[j] = lc(i) - lc(i - h);
        j += 1;
    }
    for w in VOLS {
        f[j] = volatility(c, i, w);
        j += 1;
    }
    for w in MAS {
        let mean = c[i + 1 - w..=i].iter().sum::<f64>() / w as f64;
        f[j] = ln(c[i] / mean);
        j += 1;
    }
    f[j] = rsi(c, i, RSI);
    let t = s.time(i);
    f[j + 1] = (t.rem_euclid(86_400) / HOUR) as f64;
    // 1970-01-01 was a Thursday; 0 = Monday.
    f[j + 2] = ((t.div_euclid(86_400) + 3).rem_euclid(7)) as f64;
    Some(f)
}

/// Standard deviation of the `w` hourly log returns ending at `i`.
fn volatility(c: &[f64], i: usize, w: usize) -> f64 {
    let r: Vec<f64> = (i + 1 - w..=i).map(|k| ln(c[k] / c[k - 1])).collect();
    let mean = r.iter().sum::<f64>() / w as f64;
    (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / w as f64).sqrt()
}

/// Relative strength index over `w` hours, in [0, 100] (50 when flat).
fn rsi(c: &[f64], i: usize, w: usize) -> f64 {
    let (mut up, mut down) = (0.0, 0.0);
    for k in i + 1 - w..=i {
        let d = c[k] - c[k - 1];
        if d > 0.0 {
            up += d;
        } else {
            down -= d;
        }
    }
    if up + down == 0.0 {
        50.0
    } else {
        100.0 * up / (up + down)
    }
}

/// ln(close[i + horizon] / close[i]), or `None` past the end.
pub fn target(s: &Series, i: usize, horizon: usize) -> Option<f64> {
    let later = s.close.get(i + horizon)?;
    Some(ln(later / s.close[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: &[f64; N], name: &str, expected: f64) {
        let j = NAMES
            .iter()
            .position(|n| *n == name)
            .expect("known feature");
        assert!(
            (f[j] - expected).abs() < 1e-12,
            "{name}: {} vs {expected}",
            f[j]
        );
    }

    #[test]
    fn rows_read_only_the_past() {
        // Doubling every hour: every 1 h log return is ln 2, volatility 0.
        let s = Series {
            start: 1_756_166_400, // Tuesday 2025-08-26T00:00Z
            close: (0..200).map(|k| 2f64.powi(k)).collect(),
        };
        let f = row(&s, 170).expect("enough history");
        let ln2 = 2f64.ln();
        check(&f, "ret_1h", ln2);
        check(&f, "ret_24h", 24.0 * ln2);
        check(&f, "ret_168h", 168.0 * ln2);
        check(&f, "vol_72h", 0.0);
        check(&f, "rsi_14h", 100.0);
        check(&f, "hour_of_day", 2.0); // 170 h = 7 d 2 h
        check(&f, "day_of_week", 1.0); // Tuesday + 7 days
        assert!(row(&s, 167).is_none());
        assert!(row(&s, 200).is_none());
        let mut future = s.clone();
        future.close[171] = 1.0;
        assert_eq!(row(&future, 170), Some(f));
        assert!((target(&s, 10, 5).unwrap() - 5.0 * ln2).abs() < 1e-12);
        assert_eq!(target(&s, 196, 5), None);
        assert_eq!(hash().len(), 64);
    }
}
