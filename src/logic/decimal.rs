//! Decimal strings exactly as the chain prints them: cockroachdb/apd v3
//! `Text('G')`, the form `math.Dec` / `math.BoundedExp40Dec` re-marshal
//! before the bundle signature is checked (ALLORA-PROTOCOL.md §3.12).
//!
//! `canonical` turns an `f64` into that form (shortest round-trip digits from
//! `{:e}`, integers written out in full, never `-0`); `canonicalize_str` parses
//! a string with apd's grammar and re-prints it. Both refuse NaN, infinities
//! and values that are not 0 and outside [1e-40, 1e40]. Pure.

use crate::error::{Error, Result};

/// apd prints plain notation while the adjusted exponent is at least this.
const ADJ_EXPONENT_LIMIT: i64 = -6;
/// apd pads zero's digit count by `-exponent` only above this exponent.
const LOWEST_ZERO_NEG_EXP: i64 = -2000;
/// `BoundedExp40Dec`: 0 or 1e-40 <= |x| <= 1e40.
const BOUND_EXP: i64 = 40;

/// A finite decimal as apd holds it: sign, coefficient digits, exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    /// Coefficient digits without leading zeros; "0" for zero.
    digits: String,
    exponent: i64,
}

impl Decimal {
    /// Parses `s` the way allora's `Dec.Unmarshal` does: empty is zero, else
    /// apd's `SetString` grammar (`[+-]digits[.digits][(e|E)[+-]digits]`).
    /// NaN and infinities are errors: `BoundedExp40Dec` refuses them.
    pub fn parse(s: &str) -> Result<Decimal> {
        let bad = |why: &str| Error::Decode(format!("decimal {s:?}: {why}"));
        if s.is_empty() {
            return Ok(Decimal::zero());
        }
        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = rest.to_ascii_lowercase();
        if matches!(lower.as_str(), "nan" | "snan" | "qnan" | "inf" | "infinity") {
            return Err(bad("value must be finite"));
        }
        let (mantissa, mut exponent) = match lower.find('e') {
            Some(i) => (
                &lower[..i],
                parse_exponent(&lower[i + 1..]).ok_or_else(|| bad("bad exponent"))?,
            ),
            None => (lower.as_str(), 0),
        };
        let digits: String = match mantissa.find('.') {
            Some(j) => {
                exponent -= (mantissa.len() - j - 1) as i64;
                [&mantissa[..j], &mantissa[j + 1..]].concat()
            }
            None => mantissa.to_string(),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a decimal number"));
        }
        if exponent < i64::from(i32::MIN) || exponent > i64::from(i32::MAX) {
            return Err(bad("exponent out of range"));
        }
        let trimmed = digits.trim_start_matches('0');
        Ok(Decimal {
            negative,
            digits: if trimmed.is_empty() { "0" } else { trimmed }.to_string(),
            exponent,
        })
    }

    fn zero() -> Decimal {
        Decimal {
            negative: false,
            digits: "0".into(),
            exponent: 0,
        }
    }

    /// True for any zero (`0`, `-0`, `0.000`).
    pub fn is_zero(&self) -> bool {
        self.digits == "0"
    }

    /// The adjusted exponent: the power of ten of the leading digit.
    fn adjusted(&self) -> i64 {
        self.exponent + self.digits.len() as i64 - 1
    }

    /// `BoundedExp40Dec.validateBounds`: 0, or 1e-40 <= |x| <= 1e40.
    pub fn within_bounds(&self) -> bool {
        if self.is_zero() {
            return true;
        }
        let adj = self.adjusted();
        let at_most_one = self.digits.trim_end_matches('0') == "1";
        adj >= -BOUND_EXP && (adj < BOUND_EXP || (adj == BOUND_EXP && at_most_one))
    }

    /// apd `Text('G')`: what the chain writes back on the wire.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.digits.len() + 8);
        if self.negative {
            out.push('-');
        }
        let mut digit_len = self.digits.len() as i64;
        if self.is_zero() && self.exponent < 0 && self.exponent >= LOWEST_ZERO_NEG_EXP {
            digit_len += -self.exponent;
        }
        let adj = self.exponent + digit_len - 1;
        if self.exponent <= 0 && adj >= ADJ_EXPONENT_LIMIT {
            self.push_plain(&mut out);
        } else {
            self.push_scientific(&mut out);
        }
        out
    }

    fn push_plain(&self, out: &mut String) {
        let d = &self.digits;
        if self.exponent >= 0 {
            out.push_str(d);
            out.extend(std::iter::repeat_n('0', self.exponent as usize));
            return;
        }
        let left = -self.exponent - d.len() as i64;
        if left >= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', left as usize));
            out.push_str(d);
        } else {
            let split = d.len() - (-self.exponent) as usize;
            out.push_str(&d[..split]);
            out.push('.');
            out.push_str(&d[split..]);
        }
    }

    fn push_scientific(&self, out: &mut String) {
        let d = &self.digits;
        out.push_str(&d[..1]);
        if d.len() > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        let adj = self.adjusted();
        out.push('E');
        out.push(if adj < 0 { '-' } else { '+' });
        out.push_str(&adj.unsigned_abs().to_string());
    }
}

/// apd's exponent: `[+-]?[0-9]+` within int32.
fn parse_exponent(e: &str) -> Option<i64> {
    let body = e.strip_prefix(['+', '-']).unwrap_or(e);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = e.parse().ok()?;
    (i64::from(i32::MIN)..=i64::from(i32::MAX))
        .contains(&v)
        .then_some(v)
}

/// The chain's canonical string for `x`: shortest round-trip digits, plain
/// notation for integers and for |x| >= 1e-6, `d.dddE-n` below. NaN, ±inf and
/// non-zero values outside [1e-40, 1e40] are `Error::Encode`; -0 is `0`.
pub fn canonical(x: f64) -> Result<String> {
    if !x.is_finite() {
        return Err(Error::Encode(format!("{x} is not a finite number")));
    }
    if x == 0.0 {
        return Ok("0".into());
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("{:e} of a finite f64 always has an exponent");
    let exp: i64 = exp.parse().expect("{:e} exponent is an integer");
    let mut digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut exponent = exp - (digits.len() as i64 - 1);
    if exponent > 0 {
        digits.extend(std::iter::repeat_n('0', exponent as usize));
        exponent = 0;
    }
    let d = Decimal {
        negative: x < 0.0,
        digits,
        exponent,
    };
    if !d.within_bounds() {
        return Err(Error::Encode(format!(
            "{x:e} is outside the chain's range (0 or 1e-40 <= |x| <= 1e40)"
        )));
    }
    Ok(d.text())
}

/// Parses `s` as the chain does and returns the string it would re-emit.
/// Out-of-range values fail, as they fail the chain's decoder.
pub fn canonicalize_str(s: &str) -> Result<String> {
    let d = Decimal::parse(s)?;
    if !d.within_bounds() {
        return Err(Error::Decode(format!(
            "decimal {s:?} is outside the chain's range (0 or 1e-40 <= |x| <= 1e40)"
        )));
    }
    Ok(d.text())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(x: f64, expected: &str) {
        match canonical(x) {
            Ok(s) => assert_eq!(s, expected, "canonical({x:e})"),
            Err(e) => assert_eq!("error", expected, "canonical({x:e}): {e}"),
        }
    }

    fn check_str(s: &str, expected: &str) {
        match canonicalize_str(s) {
            Ok(c) => assert_eq!(c, expected, "canonicalize_str({s:?})"),
            Err(e) => assert_eq!("error", expected, "canonicalize_str({s:?}): {e}"),
        }
    }

    #[test]
    fn floats() {
        check(0.0, "0");
        check(-0.0, "0");
        check(1e-7, "1E-7");
        check(-1.2345e-7, "-1.2345E-7");
        check(0.0123, "0.0123");
        check(-0.0123456789, "-0.0123456789");
        check(0.000001, "0.000001");
        check(0.00000123, "0.00000123");
        check(5e-7, "5E-7");
        check(2.5e-8, "2.5E-8");
        check(3456.78, "3456.78");
        check(104610.0, "104610");
        check(1.0, "1");
        check(0.1, "0.1");
        check(0.30000000000000004, "0.30000000000000004");
        check(1e21, "1000000000000000000000");
        check(1e40, "10000000000000000000000000000000000000000");
        check(1e-40, "1E-40");
        check(-1e-40, "-1E-40");
        check(9.9e-41, "error");
        check(-9.99999999999999e-41, "error");
        check(1.0000000000000002e40, "error");
        check(1e41, "error");
        check(5e-324, "error");
        check(f64::NAN, "error");
        check(f64::INFINITY, "error");
        check(f64::NEG_INFINITY, "error");
    }

    #[test]
    fn strings() {
        check_str("1e-7", "1E-7");
        check_str("1E-07", "1E-7");
        check_str("0.0000001", "1E-7");
        check_str("1e3", "1E+3");
        check_str("+5", "5");
        check_str("5.", "5");
        check_str(".5", "0.5");
        check_str("007.50", "7.50");
        check_str("-0", "-0");
        check_str("0E-7", "0.0000000");
        check_str("0E+3", "0E+3");
        check_str("", "0");
        check_str("1.50", "1.50");
        check_str("1e40", "1E+40");
        check_str("1e41", "error");
        check_str("1.0000000000000000000001e40", "error");
        check_str("10E+39", "1.0E+40");
        check_str("NaN", "error");
        check_str("-Infinity", "error");
        check_str("inf", "error");
        check_str("--5", "error");
        check_str("+-5", "error");
        check_str("1_000", "error");
        check_str(" 1", "error");
        check_str("1e", "error");
        check_str("1e+", "error");
        check_str("1e99999999999", "error");
        check_str(".", "error");
        check_str("1.2.3", "error");
        check_str("0x10", "error");
        check_str("١", "error");
    }
}
