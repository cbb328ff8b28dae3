//! The volatility-scaled momentum prior R1 (issue 15): what the worker
//! submits when the model shows no skill, and what the model is shrunk
//! toward. At hour t over hourly closes c:
//! σ = population std of y_s = ln(c[s+168]/c[s]) for s in t−887 … t−168
//! (at least 648 of them), z = ln(c[t]/c[t−672]) / (2σ),
//! R1 = 0.025·σ·clamp(z, −2, 2). No training; its constants were chosen on
//! price history outside the years the project is judged on.
//!
//! Pure; uses `portable_math` so the submitted value is the same bits on
//! armv7 and x86_64.

use crate::logic::bars::Series;
use crate::logic::portable_math::ln;

/// Horizon of the returns behind σ, hours.
pub const RETURN_HOURS: usize = 168;
/// Oldest start of a return behind σ, hours before t.
pub const OLDEST: usize = 887;
/// Fewest returns σ needs.
pub const MIN_RETURNS: usize = 648;
/// Momentum lookback, hours.
pub const MOMENTUM_HOURS: usize = 672;
/// Scale of the prior in σ units per z.
pub const GAIN: f64 = 0.025;

/// R1 at grid index `t`; `None` without enough history or spread.
pub fn r1(s: &Series, t: usize) -> Option<f64> {
    if t >= s.close.len() || t < MOMENTUM_HOURS {
        return None;
    }
    let first = t.saturating_sub(OLDEST);
    let last = t.checked_sub(RETURN_HOURS)?;
    let y: Vec<f64> = (first..=last)
        .map(|i| ln(s.close[i + RETURN_HOURS] / s.close[i]))
        .filter(|v| v.is_finite())
        .collect();
    if y.len() < MIN_RETURNS {
        return None;
    }
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let sigma = (y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    let z = ln(s.close[t] / s.close[t - MOMENTUM_HOURS]) / (2.0 * sigma);
    let v = GAIN * sigma * z.clamp(-2.0, 2.0);
    (sigma > 0.0 && v.is_finite()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(close: Vec<f64>) -> Series {
        Series { start: 0, close }
    }

    #[test]
    fn r1_is_momentum_scaled_by_volatility_and_clamped() {
        // Alternating weekly moves of ±1 % give σ = 0.01 exactly in log terms;
        // then a 4-week drift decides z.
        let mut c = Vec::new();
        for i in 0..1000usize {
            let week = i / 168;
            c.push(if week % 2 == 0 {
                100.0
            } else {
                100.0 * 0.01f64.exp()
            });
        }
        let s = series(c.clone());
        let t = 999;
        let v = r1(&s, t).unwrap();
        let ys: Vec<f64> = (t - 887..=t - 168)
            .map(|i| (c[i + 168] / c[i]).ln())
            .collect();
        let m = ys.iter().sum::<f64>() / ys.len() as f64;
        let sigma = (ys.iter().map(|y| (y - m).powi(2)).sum::<f64>() / ys.len() as f64).sqrt();
        let z = (c[t] / c[t - 672]).ln() / (2.0 * sigma);
        assert!((v - 0.025 * sigma * z.clamp(-2.0, 2.0)).abs() < 1e-15);
        // A strong trend clamps z at 2: R1 = 0.05·σ.
        let mut trend = c.clone();
        for (i, x) in trend.iter_mut().enumerate().skip(300) {
            *x *= (0.001 * (i - 300) as f64).exp();
        }
        let st = series(trend);
        let up = r1(&st, t).unwrap();
        assert!(up > 0.0);
        assert_eq!(r1(&s, 600), None, "needs 672 h of momentum");
        assert_eq!(r1(&s, 1000), None, "past the end");
        assert_eq!(r1(&series(vec![1.0; 1000]), t), None, "no spread");
    }
}
