//! `ln`, `exp` and `cos` in plain IEEE-754 arithmetic (no libm), so feature
//! values, targets and synthetic bars are bit-identical on x86_64, aarch64
//! and armv7: the platform libms differ in the last bit, which changed the
//! training-row hash between x86_64 and armv7 under qemu.
//!
//! Pure. Accurate to a few ulps, which is all the model needs; `sqrt` is
//! already exactly rounded everywhere and is used as is.

const LN2: f64 = std::f64::consts::LN_2;

/// Natural logarithm; NaN for x < 0 or NaN, −inf at 0, +inf at +inf.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    // Subnormals: scale into the normal range first.
    let (x, bias) = if x < f64::MIN_POSITIVE {
        (x * 2f64.powi(54), -54)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023 + bias;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| < 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    e as f64 * LN2 + 2.0 * sum
}

/// e^x; 0 below −745, +inf above 709.8.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.78 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    // Cody–Waite: LN2_HI has trailing zero bits, so k * LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // 6.93147180369123816490e-1
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // 1.90821492927058770002e-10
    let k = (x / LN2).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..24 {
        term *= r / n as f64;
        sum += term;
    }
    let k = k as i64;
    // 2^k in two steps keeps each factor a normal number.
    let half = k / 2;
    sum * pow2(half) * pow2(k - half)
}

fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023).clamp(1, 2046) as u64) << 52)
}

/// cos(x) for moderate |x| (reduced by whole turns, then a Taylor series).
pub fn cos(x: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    let a = x - (x / tau).round() * tau;
    let a2 = a * a;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut n = 0.0;
    while n < 40.0 {
        term *= -a2 / ((n + 1.0) * (n + 2.0));
        sum += term;
        n += 2.0;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(got: f64, expected: f64) {
        let tol = 4.0 * f64::EPSILON * expected.abs().max(1e-300);
        assert!((got - expected).abs() <= tol, "{got:e} vs {expected:e}");
    }

    #[test]
    fn agrees_with_std_to_a_few_ulps() {
        for x in [
            1e-300, 1e-10, 0.5, 0.999, 1.0, 1.001, 2.0, 10.0, 90_468.69, 1e300,
        ] {
            check(ln(x), x.ln());
        }
        assert_eq!(ln(1.0), 0.0);
        check(ln(5e-324), (5e-324f64).ln());
        assert!(ln(-1.0).is_nan() && ln(0.0) == f64::NEG_INFINITY);
        for x in [-700.0, -20.0, -1.0, -1e-9, 0.0, 0.3, 1.0, 11.5, 700.0] {
            check(exp(x), x.exp());
        }
        assert_eq!((exp(800.0), exp(-800.0)), (f64::INFINITY, 0.0));
        for x in [0.0, 0.1, 1.0, 2.0, 3.0, 3.1, 4.5, 6.2] {
            assert!((cos(x) - x.cos()).abs() < 1e-15, "cos {x}");
        }
    }
}
