//! How times, durations and amounts read in human output: RFC 3339 times,
//! "1 h 5 min" durations, "1.5 ALLO (1500000 uallo)" balances.
//!
//! Pure: values in, text out.

use std::time::Duration;

use time::OffsetDateTime;

/// uallo per ALLO.
pub const UALLO_PER_ALLO: u128 = 1_000_000;

/// `t` as RFC 3339 in UTC, to the second (as in `events.jsonl`).
pub use crate::logic::event::rfc3339;

/// A Unix timestamp as RFC 3339, or the number when out of range.
pub fn unix_rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs).map_or_else(|_| secs.to_string(), rfc3339)
}

/// "45 s", "12 min", "1 h 5 min", "3 d 4 h".
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

/// `uallo` as ALLO with the exact uallo in brackets: "1.5 ALLO (1500000 uallo)".
pub fn allo(uallo: u128) -> String {
    let whole = uallo / UALLO_PER_ALLO;
    let frac = uallo % UALLO_PER_ALLO;
    let text = if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:06}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    };
    format!("{text} ALLO ({uallo} uallo)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let check = |secs: u64, want: &str| assert_eq!(duration(Duration::from_secs(secs)), want);
        check(0, "0 s");
        check(59, "59 s");
        check(60, "1 min");
        check(3599, "59 min");
        check(3600, "1 h");
        check(3900, "1 h 5 min");
        check(4319 * 60, "2 d 23 h");
        check(86_400, "1 d");
    }

    #[test]
    fn amounts() {
        assert_eq!(allo(0), "0 ALLO (0 uallo)");
        assert_eq!(allo(1_500_000), "1.5 ALLO (1500000 uallo)");
        assert_eq!(allo(3_000_010), "3.00001 ALLO (3000010 uallo)");
        assert_eq!(allo(7), "0.000007 ALLO (7 uallo)");
    }

    #[test]
    fn times() {
        let t = OffsetDateTime::from_unix_timestamp(1_764_547_200).unwrap();
        assert_eq!(rfc3339(t), "2025-12-01T00:00:00Z");
        assert_eq!(unix_rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
