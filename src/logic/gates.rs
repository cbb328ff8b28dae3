//! The seven Allora Forge promotion gates for log-return topics, exactly as
//! `shared/SCORING.md` §4 states them: effective sample size (with the
//! lag-autocorrelation correction), the horizon scale, the continuity-
//! corrected one-sided Wilson bound on directional accuracy, the Fisher
//! interval on Pearson r, and influence-function intervals on the WRMSE and
//! WCZAR improvements over zero and on the log aspect ratio.
//!
//! Pure arithmetic on slices; no I/O. An undefined value is NaN (JSON null)
//! and fails its gate.

use serde_json::{json, Value};

use crate::logic::metrics::{normal_upper, student_t_upper};
use crate::logic::scoring::Czar;

/// One-sided 95 % and two-sided 95 % normal quantiles.
pub const Z95: f64 = 1.644_853_626_951_472_2;
pub const Z975: f64 = 1.959_963_984_540_054;

/// The gates' names, in `SCORING.md` §4 order.
pub const NAMES: [&str; 7] = [
    "n_eff",
    "directional_accuracy_ci",
    "correlation_ci",
    "wrmse_ci",
    "wczar_ci",
    "log_aspect_ratio",
    "participation",
];

/// What one evaluation looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input<'a> {
    /// Realised returns.
    pub y: &'a [f64],
    /// Predictions, aligned with `y`.
    pub p: &'a [f64],
    /// Epoch gaps between consecutive samples (`y.len() − 1` of them).
    pub lags: Option<&'a [u64]>,
    /// Ground-truth lag over epoch length (168 for topic 67 hourly).
    pub gt_ratio: u64,
    pub horizon_minutes: f64,
    /// (submitted, expected) nonces.
    pub participation: (f64, f64),
}

/// Every gate value; NaN where undefined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gates {
    pub n_eff: f64,
    pub neff_scale: f64,
    pub nvalid: usize,
    pub dir_acc: f64,
    pub dir_acc_pval: f64,
    pub dir_acc_ci: (f64, f64),
    pub pearson_r: f64,
    pub pearson_pval: f64,
    pub pearson_ci: (f64, f64),
    pub wrmse_imp: f64,
    pub wrmse_ci: (f64, f64),
    pub wczar_imp: f64,
    pub wczar_ci: (f64, f64),
    pub log_aspect_ratio: f64,
    pub log_aspect_ratio_ci: (f64, f64),
    pub participation: f64,
    /// The value each gate tests, in `NAMES` order.
    pub criteria: [f64; 7],
    pub passed: [bool; 7],
}

/// Evaluates all seven gates.
pub fn evaluate(inp: &Input) -> Gates {
    let n = inp.y.len().min(inp.p.len());
    let (y, p) = (&inp.y[..n], &inp.p[..n]);
    let (n_eff, nvalid) = effective_n(y, inp.lags, inp.gt_ratio);
    let scale = (inp.horizon_minutes / 20.0).max(1.0).sqrt();
    let (dir_acc, dir_acc_pval, dir_acc_ci) = directional(y, p, n_eff * scale);
    let (fy, fp) = finite_pairs(y, p);
    let (pearson_r, pearson_pval, pearson_ci) = pearson(&fy, &fp, n_eff);
    let (wrmse_imp, wrmse_se) = wrmse(&fy, &fp, n_eff);
    let (wczar_imp, wczar_se) = wczar(&fy, &fp, n_eff);
    let (lar, lar_se) = aspect(&fy, &fp, n_eff);
    let (submitted, expected) = inp.participation;
    let participation = (submitted / expected).min(1.0);
    let half = |se: f64| Z95 * se / scale.sqrt();
    let wrmse_ci = (wrmse_imp - half(wrmse_se), wrmse_imp + half(wrmse_se));
    let wczar_ci = (wczar_imp - half(wczar_se), wczar_imp + half(wczar_se));
    let log_aspect_ratio_ci = (lar - lar_se, lar + lar_se);
    let criteria = [
        n_eff,
        dir_acc_ci.0,
        pearson_ci.0,
        100.0 * wrmse_ci.0,
        100.0 * wczar_ci.0,
        lar,
        participation,
    ];
    let passed = [
        n_eff >= 20.0,
        dir_acc_ci.0 > 0.5,
        pearson_ci.0 > 0.0,
        criteria[3] > 0.0,
        criteria[4] > 0.0,
        lar.is_finite() && log_aspect_ratio_ci.1 >= -0.5 && log_aspect_ratio_ci.0 <= 0.5,
        participation > 0.9,
    ];
    Gates {
        n_eff,
        neff_scale: scale,
        nvalid,
        dir_acc,
        dir_acc_pval,
        dir_acc_ci,
        pearson_r,
        pearson_pval,
        pearson_ci,
        wrmse_imp,
        wrmse_ci,
        wczar_imp,
        wczar_ci,
        log_aspect_ratio: lar,
        log_aspect_ratio_ci,
        participation,
        criteria,
        passed,
    }
}

fn finite_pairs(y: &[f64], p: &[f64]) -> (Vec<f64>, Vec<f64>) {
    y.iter()
        .zip(p)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .unzip()
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (ddof 1); NaN below 2 values.
fn sd1(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0)).sqrt()
}

/// Pearson r; NaN below 2 pairs or with a constant side.
fn pearson_r(a: &[f64], b: &[f64]) -> f64 {
    let constant = |x: &[f64]| x.iter().all(|v| *v == x[0]);
    if a.len() < 2 || constant(a) || constant(b) {
        return f64::NAN;
    }
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa == 0.0 || sbb == 0.0 {
        return f64::NAN;
    }
    sab / (saa * sbb).sqrt()
}

/// (n_eff, number of kept samples): outcomes that are finite and non-zero,
/// corrected for significant autocorrelation at lags 1 … gt_ratio − 1.
pub fn effective_n(y: &[f64], lags: Option<&[u64]>, gt_ratio: u64) -> (f64, usize) {
    let mut pos = Vec::with_capacity(y.len());
    let mut at = 0u64;
    for i in 0..y.len() {
        if i > 0 {
            at += lags.and_then(|l| l.get(i - 1)).copied().unwrap_or(1);
        }
        pos.push(at);
    }
    let kept: Vec<(u64, f64)> = y
        .iter()
        .zip(&pos)
        .filter(|(v, _)| v.is_finite() && **v != 0.0)
        .map(|(v, q)| (*q, *v))
        .collect();
    let n = kept.len();
    if n < 3 {
        return ((n as f64).max(1.0), n);
    }
    let Some(_) = lags else {
        return ((n as f64 / gt_ratio.max(1) as f64).max(1.0), n);
    };
    let mut sum = 0.0;
    for lag in 1..gt_ratio {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (q, v) in &kept {
            if let Ok(j) = kept.binary_search_by(|(qq, _)| qq.cmp(&(q + lag))) {
                a.push(*v);
                b.push(kept[j].1);
            }
        }
        let rho = pearson_r(&a, &b);
        if !a.is_empty() && rho > 1.96 / (a.len() as f64).sqrt() {
            sum += rho;
        }
    }
    ((n as f64 / (1.0 + 2.0 * sum)).max(1.0), n)
}

/// (hit rate, p-value, one-sided continuity-corrected Wilson interval) over
/// finite non-zero outcomes with `m` effective trials.
fn directional(y: &[f64], p: &[f64], m: f64) -> (f64, f64, (f64, f64)) {
    let (mut n, mut hits) = (0usize, 0usize);
    for (a, b) in y.iter().zip(p) {
        if a.is_finite() && *a != 0.0 {
            n += 1;
            hits += usize::from(a * b > 0.0);
        }
    }
    if n == 0 {
        return (f64::NAN, f64::NAN, (f64::NAN, f64::NAN));
    }
    let rate = hits as f64 / n as f64;
    let t = rate - 0.5 / m;
    let pval = normal_upper((t - 0.5) / (0.25 / m).sqrt());
    if rate == 0.0 || m == 1.0 {
        return (rate, pval, (0.0, 1.0));
    }
    let a2 = Z95 * Z95 / m;
    let (qa, qb, qc) = (1.0 + a2, 2.0 * t + a2, t * t);
    let disc = (qb * qb - 4.0 * qa * qc).max(0.0);
    let lower = ((qb - disc.sqrt()) / (2.0 * qa)).max(0.0);
    (rate, pval, (lower, 1.0))
}

/// (r, two-sided p, Fisher interval with n' = max(3, min(N, n_eff))).
fn pearson(y: &[f64], p: &[f64], n_eff: f64) -> (f64, f64, (f64, f64)) {
    let big_n = y.len() as f64;
    let r = if y.len() < 3 {
        f64::NAN
    } else {
        pearson_r(p, y)
    };
    if r.is_nan() {
        return (r, f64::NAN, (f64::NAN, f64::NAN));
    }
    let n_prime = n_eff.min(big_n).max(3.0);
    let df = n_prime - 2.0;
    let t = r * (df / ((1.0 - r * r).max(0.0))).sqrt();
    let pval = (2.0 * student_t_upper(t.abs(), df)).min(1.0);
    let centre = r.clamp(-0.9999, 0.9999).atanh();
    let half = Z975 / (n_prime - 3.0).sqrt();
    (r, pval, ((centre - half).tanh(), (centre + half).tanh()))
}

/// (θ, SE) of the |y|-weighted RMSE improvement over the zero forecast.
fn wrmse(y: &[f64], p: &[f64], n_eff: f64) -> (f64, f64) {
    if y.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let e0: Vec<f64> = y.iter().map(|v| v.abs() * v * v).collect();
    let e1: Vec<f64> = y
        .iter()
        .zip(p)
        .map(|(v, q)| v.abs() * (v - q).powi(2))
        .collect();
    let (b, c) = (mean(&e0), mean(&e1));
    if b == 0.0 {
        return (0.0, 0.0);
    }
    if c == 0.0 {
        return (1.0, 0.0);
    }
    let ratio = (c / b).sqrt();
    let (k0, k1) = (0.5 * ratio / b, 0.5 / (b * c).sqrt());
    let inf: Vec<f64> = e0
        .iter()
        .zip(&e1)
        .map(|(g0, g1)| k0 * (g0 - b) - k1 * (g1 - c))
        .collect();
    (1.0 - ratio, sd1(&inf) / n_eff.max(1.0).sqrt())
}

/// (θ, SE) of the |y|-weighted gate-CZAR improvement over the zero forecast,
/// the window's own std σ included in the influence function.
fn wczar(y: &[f64], p: &[f64], n_eff: f64) -> (f64, f64) {
    if y.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let my = mean(y);
    let my2 = y.iter().map(|v| v * v).sum::<f64>() / y.len() as f64;
    let sigma = (my2 - my * my).max(1e-12).sqrt();
    let weighted = |sig: f64, zero: bool| -> Vec<f64> {
        y.iter()
            .zip(p)
            .map(|(v, q)| v.abs() * Czar::GATE.loss(*v, if zero { 0.0 } else { *q }, sig))
            .collect()
    };
    let (g0, g1) = (weighted(sigma, true), weighted(sigma, false));
    let (b, c) = (mean(&g0), mean(&g1));
    if b == 0.0 {
        return (0.0, 0.0);
    }
    let h = 1e-4 * sigma + 1e-12;
    let diff = |zero: bool| {
        (mean(&weighted(sigma + h, zero)) - mean(&weighted(sigma - h, zero))) / (2.0 * h)
    };
    // (C/B²)·x − y/B written as ((C/B)·x − y)/B: exactly 0 for the zero forecast.
    let ratio = c / b;
    let dtheta_b = ratio * diff(true) - diff(false);
    let inf: Vec<f64> = (0..y.len())
        .map(|i| {
            let if_sigma = (0.5 / sigma) * ((y[i] * y[i] - my2) - 2.0 * my * (y[i] - my));
            (ratio * (g0[i] - b) - (g1[i] - c) + dtheta_b * if_sigma) / b
        })
        .collect();
    (1.0 - c / b, sd1(&inf) / n_eff.sqrt())
}

/// (θ, SE) of log10(sd(p)/sd(y)), variances floored at 1e-12.
fn aspect(y: &[f64], p: &[f64], n_eff: f64) -> (f64, f64) {
    if y.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let moments = |x: &[f64]| {
        let m = mean(x);
        let m2 = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let var = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).max(1e-12);
        (m, m2, var)
    };
    let ((ep, ep2, vp), (ey, ey2, vy)) = (moments(p), moments(y));
    let theta = 0.5 * (vp / vy).log10();
    let inf: Vec<f64> = y
        .iter()
        .zip(p)
        .map(|(yv, pv)| {
            std::f64::consts::LOG10_E
                * ((-ep / vp) * (pv - ep) + (0.5 / vp) * (pv * pv - ep2) + (ey / vy) * (yv - ey)
                    - (0.5 / vy) * (yv * yv - ey2))
        })
        .collect();
    (theta, sd1(&inf) / n_eff.sqrt())
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn pair(x: (f64, f64)) -> Value {
    json!([num(x.0), num(x.1)])
}

/// The keys `SCORING.md` names (`evaluate --json`); NaN as null.
pub fn to_json(g: &Gates) -> Value {
    json!({
        "n_eff": num(g.n_eff),
        "neff_scale": num(g.neff_scale),
        "nvalid": g.nvalid,
        "dir_acc": num(g.dir_acc),
        "dir_acc_pval": num(g.dir_acc_pval),
        "dir_acc_ci": pair(g.dir_acc_ci),
        "pearson_r": num(g.pearson_r),
        "pearson_pval": num(g.pearson_pval),
        "pearson_ci": pair(g.pearson_ci),
        "wrmse_imp": num(g.wrmse_imp),
        "wrmse_ci": pair(g.wrmse_ci),
        "wczar_imp": num(g.wczar_imp),
        "wczar_ci": pair(g.wczar_ci),
        "log_aspect_ratio": num(g.log_aspect_ratio),
        "log_aspect_ratio_ci": pair(g.log_aspect_ratio_ci),
        "participation": num(g.participation),
        "criteria": g.criteria.iter().map(|c| num(*c)).collect::<Vec<Value>>(),
        "passed": g.passed,
    })
}
