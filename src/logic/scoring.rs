//! The network's per-forecast losses, exactly as `shared/SCORING.md` states
//! them: CZAR (Composite Zero-Agnostic Returns) with its three parameter sets
//! (the reputers', the Forge WCZAR gate's and the training default) and the
//! log10 form reputers submit, ZPTAE, and the reputers' std rule.
//!
//! Pure arithmetic; no I/O. The gates over a series of forecasts are in
//! `logic::gates`.

use std::f64::consts::{FRAC_PI_2, PI};

use crate::logic::bars::Series;

/// One CZAR parameter set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Czar {
    pub alpha: f64,
    pub epsilon: f64,
    pub tau: f64,
    /// The WCZAR gate's variant of `eps_eff` and `tau_eff`.
    pub gate: bool,
}

impl Czar {
    /// What reputers compute on chain (topic 67 since 2026-07).
    pub const REPUTER: Czar = Czar {
        alpha: 0.01,
        epsilon: 1.0,
        tau: 0.05,
        gate: false,
    };
    /// The Forge WCZAR gate's loss.
    pub const GATE: Czar = Czar {
        alpha: 0.0,
        epsilon: 1.0,
        tau: 0.1,
        gate: true,
    };
    /// The builder kit's training default.
    pub const TRAINING: Czar = Czar {
        alpha: 1.0,
        epsilon: 1.0,
        tau: 0.05,
        gate: false,
    };

    /// The loss of forecast `pred` for outcome `truth`, both scaled by `std`.
    pub fn loss(&self, truth: f64, pred: f64, std: f64) -> f64 {
        let delta = self.alpha / 3f64.sqrt();
        let base = base_loss(truth / std, pred / std, delta);
        if self.epsilon > 0.0 {
            base + self.softening((truth / std).abs(), delta)
        } else {
            base
        }
    }

    /// `log10(loss + 1e-100)`: what a reputer submits.
    pub fn log10_loss(&self, truth: f64, pred: f64, std: f64) -> f64 {
        (self.loss(truth, pred, std) + 1e-100).log10()
    }

    /// The zero-agnostic term `norm·soft0` for `a = |z|`.
    fn softening(&self, a: f64, delta: f64) -> f64 {
        let d = 1.0 + delta * delta;
        let beta = delta / d;
        let eps_eff = if self.gate {
            1f64.atan() * self.epsilon
        } else if delta == 0.0 {
            self.epsilon.atan()
        } else {
            let big_a = d * ((self.epsilon + delta).atan() - delta.atan());
            (-1.0 + (1.0 + 4.0 * beta * big_a).sqrt()) / (2.0 * beta)
        };
        let soft0 = base_loss(0.0, eps_eff, delta);
        let num = d * ((a + delta).atan() - delta.atan());
        let den = eps_eff + (delta / d) * eps_eff * eps_eff;
        let norm_min = 1.0 - num / den;
        let norm = if self.tau <= 0.0 {
            norm_min.max(0.0)
        } else {
            let norm_inf = 1.0 - d * (FRAC_PI_2 - delta.atan()) / den;
            let tau_eff = if self.gate {
                self.tau * (PI / (2.0 * eps_eff) - 1.0)
            } else {
                self.tau.abs() * norm_inf.abs()
            };
            softplus(norm_min / tau_eff) / softplus(1.0 / tau_eff)
        };
        norm * soft0
    }
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// +1 at zero, unlike numpy's `sign`.
fn sign(x: f64) -> f64 {
    if x >= 0.0 {
        1.0
    } else {
        -1.0
    }
}

/// The three-region base loss on z-scores.
fn base_loss(z: f64, zp: f64, delta: f64) -> f64 {
    let d = 1.0 + delta * delta;
    let dd = |x: f64| 2.0 * x.abs() / (1.0 + x * x).powi(2);
    let (s, s_pred) = (sign(z), sign(zp));
    let (a, u) = (z.abs(), s * zp);
    let d_true = z + s * delta;
    if u <= 0.0 {
        0.5 * d * dd(delta) * zp * zp - s * zp + s * d * (d_true.atan() - (s * delta).atan())
    } else if u <= a {
        let d_pred = zp + s_pred * delta;
        s * d * (d_true.atan() - d_pred.atan())
    } else {
        let dz = zp - z;
        0.5 * (d * dd(d_true)).min(d * dd(delta)) * dz * dz + s * d * dz / (1.0 + d_true * d_true)
    }
}

/// ZPTAE as the Allora SDK defines it (alpha 0.25, beta 2, mean 0):
/// `|pt(z) − pt(ẑ)| + (0.01·|ẑ − z|)^4`, `pt(x) = x / (1 + |x|²)^0.375`.
pub fn zptae(truth: f64, pred: f64, std: f64) -> f64 {
    let pt = |x: f64| x / (1.0 + x.abs().powi(2)).powf((1.0 - 0.25) / 2.0);
    let (z, zp) = (truth / std, pred / std);
    (pt(z) - pt(zp)).abs() + (0.01 * (zp - z).abs()).powi(4)
}

/// Most horizon-length returns behind the reputers' std.
pub const STD_RETURNS: usize = 100;
/// How far back the reputers' std window may start, in hours.
pub const STD_MAX_HOURS: usize = 365 * 24;

/// The reputers' std for the target ending at grid index `end` (the time
/// the outcome is known): the population std of the last ≤ 100
/// `horizon`-hour log returns ending at `end`, spaced one horizon apart,
/// the newest being the realised target itself, none starting earlier than
/// 365 days before `end`. `None` with fewer than 2 returns or no spread.
pub fn reputer_std(s: &Series, end: usize, horizon: usize) -> Option<f64> {
    if horizon == 0 || end >= s.close.len() {
        return None;
    }
    let oldest = end.saturating_sub(STD_MAX_HOURS);
    let mut r = Vec::new();
    let mut hi = end;
    while r.len() < STD_RETURNS && hi >= oldest + horizon {
        let (c1, c0) = (s.close[hi], s.close[hi - horizon]);
        if c1.is_finite() && c0.is_finite() && c0 > 0.0 && c1 > 0.0 {
            r.push((c1 / c0).ln());
        }
        hi -= horizon;
    }
    let sd = population_std(&r)?;
    (sd > 0.0).then_some(sd)
}

/// Population std (ddof 0); `None` when empty or below 2 values.
pub fn population_std(x: &[f64]) -> Option<f64> {
    if x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
    sd.is_finite().then_some(sd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::bars::Bar;

    fn check(got: f64, expected: f64) {
        assert!(
            (got - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{got} vs {expected}"
        );
    }

    #[test]
    fn a_zero_forecast_scores_what_a_tiny_one_does() {
        let c = Czar::REPUTER;
        let zero = c.loss(0.05, 0.0, 0.05);
        assert!((c.loss(0.05, 1e-8, 0.05) - zero).abs() < 1e-6);
        assert!((c.loss(0.05, -1e-8, 0.05) - zero).abs() < 1e-6);
        assert!(c.loss(0.05, 0.02, 0.05) < zero);
        assert!(c.loss(0.05, -0.02, 0.05) > zero);
        assert!(c.loss(0.05, 0.05, 0.05) > 0.0);
        check(c.log10_loss(0.05, 0.0, 0.05), zero.log10());
        check(zptae(0.05, 0.05, 0.05), 0.0);
    }

    #[test]
    fn reputer_std_uses_returns_one_horizon_apart_ending_at_the_target() {
        // Closes that double every 2 hours, then stay flat: the 2-hour returns
        // ending at index 8 are ln 2 (×2) and 0 (×2): mean ln2/2, std ln2/2.
        let close = [1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0];
        let bars: Vec<Bar> = close
            .iter()
            .enumerate()
            .map(|(i, c)| Bar {
                t: i as i64 * 3600,
                open: None,
                high: None,
                low: None,
                close: *c,
                volume: None,
            })
            .collect();
        let s = Series::from_bars(&bars);
        check(reputer_std(&s, 8, 2).unwrap(), 2f64.ln() / 2.0);
        assert_eq!(reputer_std(&s, 8, 8), None);
        assert_eq!(reputer_std(&s, 9, 2), None);
        assert_eq!(population_std(&[1.0]), None);
    }
}
