//! Forecast metrics: RMSE, MAE, directional accuracy, correlation, the
//! Diebold–Mariano test with Newey–West variance and the Harvey–Leybourne–
//! Newbold correction, and the Student t and normal tails they need. The
//! network's own losses are in `logic::scoring`.
//!
//! Pure arithmetic on slices; no I/O.

/// Root mean squared error.
pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    mean_of(pred, truth, |p, t| (p - t).powi(2)).sqrt()
}

/// Mean absolute error.
pub fn mae(pred: &[f64], truth: &[f64]) -> f64 {
    mean_of(pred, truth, |p, t| (p - t).abs())
}

/// Fraction of points with `pred * truth > 0`; a zero forecast has no sign
/// and counts as wrong (as CZAR scores it).
pub fn directional_accuracy(pred: &[f64], truth: &[f64]) -> f64 {
    mean_of(pred, truth, |p, t| f64::from(u8::from(p * t > 0.0)))
}

fn mean_of(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return f64::NAN;
    }
    a.iter().zip(b).map(|(x, y)| f(*x, *y)).sum::<f64>() / n as f64
}

/// Pearson correlation; `None` when either side has no variance.
pub fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len()) as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    let c = sab / (saa * sbb).sqrt();
    c.is_finite().then_some(c)
}

/// Population standard deviation.
pub fn std_dev(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt()
}

/// Diebold–Mariano test of equal accuracy from the loss differential
/// `d = loss_a − loss_b` (negative mean: `a` is better), Newey–West (Bartlett)
/// variance with `lag` autocovariances, Harvey–Leybourne–Newbold small-sample
/// correction for forecast horizon `h` (in steps), Student t with n − 1 df.
/// Returns (statistic, two-sided p); `None` with under 3 points or no variance.
pub fn diebold_mariano(d: &[f64], lag: usize, h: usize) -> Option<(f64, f64)> {
    let n = d.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let m = d.iter().sum::<f64>() / nf;
    let gamma = |k: usize| -> f64 { (k..n).map(|t| (d[t] - m) * (d[t - k] - m)).sum::<f64>() / nf };
    let mut var = gamma(0);
    for k in 1..=lag.min(n - 1) {
        var += 2.0 * (1.0 - k as f64 / (lag as f64 + 1.0)) * gamma(k);
    }
    if var <= 0.0 || !var.is_finite() {
        return None;
    }
    let dm = m / (var / nf).sqrt();
    let hf = h as f64;
    let hln = ((nf + 1.0 - 2.0 * hf + hf * (hf - 1.0) / nf) / nf)
        .max(0.0)
        .sqrt();
    let stat = dm * hln;
    let p = 2.0 * student_t_upper(stat.abs(), nf - 1.0);
    Some((stat, p.min(1.0)))
}

/// P(T > t) for Student's t with `df` degrees of freedom (t ≥ 0).
pub fn student_t_upper(t: f64, df: f64) -> f64 {
    0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// P(Z > x) for a standard normal Z, to near machine precision.
pub fn normal_upper(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let u = x / std::f64::consts::SQRT_2;
    if u < 0.0 {
        1.0 - 0.5 * erfc_pos(-u)
    } else {
        0.5 * erfc_pos(u)
    }
}

/// erfc(u) for u ≥ 0: the all-positive series of erf below 2, the Lentz
/// continued fraction above.
fn erfc_pos(u: f64) -> f64 {
    let front = (-u * u).exp();
    if u < 2.0 {
        let (mut term, mut sum) = (u, u);
        for n in 1..200 {
            term *= 2.0 * u * u / (2 * n + 1) as f64;
            sum += term;
            if term < sum * 1e-17 {
                break;
            }
        }
        return 1.0 - std::f64::consts::FRAC_2_SQRT_PI * front * sum;
    }
    // erfc(u) = e^{-u²}/√π · 1/(u + (1/2)/(u + 1/(u + (3/2)/(u + …)))).
    const TINY: f64 = 1e-300;
    let mut f = u;
    let (mut c, mut d) = (u, 0.0);
    for k in 1..300 {
        let a = k as f64 / 2.0;
        d = u + a * d;
        d = 1.0 / if d.abs() < TINY { TINY } else { d };
        c = u + a / c;
        c = if c.abs() < TINY { TINY } else { c };
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    front / (f * std::f64::consts::PI.sqrt())
}

/// Regularised incomplete beta I_x(a, b) (continued fraction, Lentz).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + num / c;
            c = if c.abs() < TINY { TINY } else { c };
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut acc = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        acc += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + acc.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(got: f64, expected: f64, tol: f64) {
        assert!((got - expected).abs() <= tol, "{got} vs {expected}");
    }

    #[test]
    fn basic_errors() {
        let p = [0.1, -0.2, 0.0];
        let t = [0.2, -0.1, 0.3];
        check(rmse(&p, &t), ((0.01 + 0.01 + 0.09) / 3f64).sqrt(), 1e-15);
        check(mae(&p, &t), 0.5 / 3.0, 1e-15);
        check(directional_accuracy(&p, &t), 2.0 / 3.0, 1e-15);
        check(
            correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap(),
            0.997_948_7,
            1e-6,
        );
        assert_eq!(correlation(&[0.0, 0.0], &[1.0, 2.0]), None);
        check(std_dev(&[1.0, 3.0]), 1.0, 1e-15);
    }

    #[test]
    fn normal_tail() {
        // scipy.stats.norm.sf: 1.0 → 0.15865525393145707, 2.5 → 0.006209665325776132,
        // 3.0 → 0.0013498980316300946, 4.0 → 3.167124183311998e-05, -1.0 → 0.8413447460685429.
        for (x, p) in [
            (0.0, 0.5),
            (1.0, 0.158_655_253_931_457_07),
            (2.5, 0.006_209_665_325_776_132),
            (3.0, 0.001_349_898_031_630_094_6),
            (4.0, 3.167_124_183_311_998e-5),
            (-1.0, 0.841_344_746_068_542_9),
        ] {
            let got = normal_upper(x);
            assert!((got - p).abs() <= 1e-12 * p, "{x}: {got} vs {p}");
        }
    }

    #[test]
    fn student_t_and_dm() {
        // Reference values: scipy.stats.t.sf(2.0, 10) = 0.036694, t.sf(1.0, 1) = 0.25.
        check(student_t_upper(2.0, 10.0), 0.036_694, 1e-6);
        check(student_t_upper(1.0, 1.0), 0.25, 1e-12);
        check(student_t_upper(0.0, 5.0), 0.5, 1e-12);
        check(ln_gamma(5.0), 24f64.ln(), 1e-12);
        // Constant-plus-alternating differential: mean 1, gamma0 = 1, gamma1 = -1.
        let d: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 2.0 } else { 0.0 })
            .collect();
        let (stat, p) = diebold_mariano(&d, 0, 1).unwrap();
        check(stat, 3.0, 1e-12); // 1 / sqrt(1/10) · sqrt((10 + 1 − 2)/10)
        check(p, 0.0149, 5e-4); // 2·t.sf(3, 9)
        assert_eq!(diebold_mariano(&[1.0, 1.0, 1.0], 1, 1), None);
        assert_eq!(diebold_mariano(&[1.0], 0, 1), None);
    }
}
