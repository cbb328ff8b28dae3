//! Hourly price bars: the `Bar` type, CSV and Tiingo JSON parsing, the hourly
//! grid the features read (`Series`), and the data gate that refuses to
//! predict from stale, gappy, too short or non-positive data.
//!
//! Pure: text in, bars or one `Error::Data` reason out; `now` is an argument.
//! Never fabricates a price: the only synthetic prices are `synthetic_bars`,
//! which the devnet, the bench and tests call explicitly.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// Seconds in an hour.
pub const HOUR: i64 = 3600;
/// The newest bar may be at most this old (seconds) for a prediction.
pub const MAX_STALENESS: i64 = 2 * HOUR;
/// At most this fraction of the hours in the training span may be missing.
pub const MAX_MISSING: f64 = 0.02;
/// At least this many hours of bars are needed (14 days).
pub const MIN_HOURS: usize = 14 * 24;

/// One hourly bar. Only `close` is required; Tiingo's resampled tail and the
/// shared CSV may leave open/high/low/volume empty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Start of the hour, unix seconds (UTC).
    pub t: i64,
    pub open: Option<f64>,
    pub high: Option<f64>,
    pub low: Option<f64>,
    pub close: f64,
    pub volume: Option<f64>,
}

/// What a Tiingo reply held.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Bars, oldest first (possibly empty for an empty page).
    Bars(Vec<Bar>),
    /// `{"detail": "...over your hourly request allocation..."}`: do not ask
    /// again for `backoff_secs` seconds.
    RateLimited { detail: String, backoff_secs: i64 },
}

/// Parses an RFC 3339 timestamp into unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("unix:{t}"))
}

/// Parses `timestamp,open,high,low,close,volume` CSV (header required; empty
/// open/high/low/volume allowed). A bad row is named by its 1-based line.
pub fn parse_csv(text: &str, source: &str) -> Result<Vec<Bar>> {
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l.trim()).unwrap_or("");
    if header != "timestamp,open,high,low,close,volume" {
        return Err(Error::Data(format!(
            "{source} line 1: expected header timestamp,open,high,low,close,volume, got {header:?}"
        )));
    }
    let mut bars = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let bar = parse_csv_row(line)
            .map_err(|why| Error::Data(format!("{source} line {}: {why}", i + 1)))?;
        bars.push(bar);
    }
    if bars.is_empty() {
        return Err(Error::Data(format!("{source}: no bars")));
    }
    Ok(sorted(bars))
}

fn parse_csv_row(line: &str) -> std::result::Result<Bar, String> {
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() != 6 {
        return Err(format!("expected 6 fields, found {}", f.len()));
    }
    let t = parse_time(f[0]).ok_or_else(|| format!("bad timestamp {:?}", f[0]))?;
    let opt = |s: &str, name: &str| -> std::result::Result<Option<f64>, String> {
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>()
            .map(Some)
            .map_err(|_| format!("bad {name} {s:?}"))
    };
    let close = opt(f[4], "close")?.ok_or("empty close")?;
    Ok(Bar {
        t,
        open: opt(f[1], "open")?,
        high: opt(f[2], "high")?,
        low: opt(f[3], "low")?,
        close,
        volume: opt(f[5], "volume")?,
    })
}

/// Writes bars as the CSV `parse_csv` reads (the bar cache's format).
pub fn to_csv(bars: &[Bar]) -> String {
    let mut s = String::from("timestamp,open,high,low,close,volume\n");
    let o = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for b in bars {
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            format_time(b.t),
            o(b.open),
            o(b.high),
            o(b.low),
            b.close,
            o(b.volume)
        ));
    }
    s
}

/// Parses a Tiingo `crypto/prices` reply. HTML, an error object, a non-array
/// or a malformed bar is an `Error::Data` naming what came back; the hourly
/// allocation reply is `Reply::RateLimited` with a backoff to the next hour.
pub fn parse_tiingo(body: &str, now: i64) -> Result<Reply> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('<') {
        return Err(Error::Data(format!(
            "tiingo returned HTML instead of JSON: {:?}",
            snippet(trimmed)
        )));
    }
    let v: Value = serde_json::from_str(body).map_err(|e| {
        Error::Data(format!(
            "tiingo reply is not JSON ({e}): {:?}",
            snippet(trimmed)
        ))
    })?;
    if let Some(detail) = v.get("detail").and_then(Value::as_str) {
        let lower = detail.to_ascii_lowercase();
        if lower.contains("allocation") || lower.contains("rate limit") {
            let backoff_secs = HOUR - now.rem_euclid(HOUR) + 60;
            return Ok(Reply::RateLimited {
                detail: detail.to_string(),
                backoff_secs,
            });
        }
        return Err(Error::Data(format!("tiingo error: {detail}")));
    }
    let Some(items) = v.as_array() else {
        return Err(Error::Data(format!(
            "tiingo reply is not an array: {:?}",
            snippet(trimmed)
        )));
    };
    let mut bars = Vec::new();
    for item in items {
        let data = item.get("priceData").and_then(Value::as_array);
        for p in data.into_iter().flatten() {
            bars.push(tiingo_bar(p)?);
        }
    }
    Ok(Reply::Bars(sorted(bars)))
}

fn tiingo_bar(p: &Value) -> Result<Bar> {
    let date = p.get("date").and_then(Value::as_str).unwrap_or("");
    let t = parse_time(date)
        .ok_or_else(|| Error::Data(format!("tiingo bar has a bad date {date:?}")))?;
    let num = |k: &str| p.get(k).and_then(Value::as_f64);
    let close = num("close")
        .ok_or_else(|| Error::Data(format!("tiingo bar {date} has no numeric close")))?;
    Ok(Bar {
        t,
        open: num("open"),
        high: num("high"),
        low: num("low"),
        close,
        volume: num("volume"),
    })
}

fn snippet(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Sorts by time and keeps the last bar of each hour.
fn sorted(mut bars: Vec<Bar>) -> Vec<Bar> {
    bars.sort_by_key(|b| b.t);
    let mut out: Vec<Bar> = Vec::with_capacity(bars.len());
    for b in bars {
        match out.last_mut() {
            Some(last) if last.t == b.t => *last = b,
            _ => out.push(b),
        }
    }
    out
}

/// Merges `newer` into `older`; on the same hour the newer bar wins.
pub fn merge(older: &[Bar], newer: &[Bar]) -> Vec<Bar> {
    sorted(older.iter().chain(newer).copied().collect())
}

/// Closes on a dense hourly grid. A missing hour carries the last known
/// close forward (an as-of lookup); the gate bounds how many there may be.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Unix seconds of `close[0]` (hour-aligned).
    pub start: i64,
    pub close: Vec<f64>,
}

impl Series {
    /// The grid from the first to the last bar (times floored to the hour).
    pub fn from_bars(bars: &[Bar]) -> Series {
        let Some(first) = bars.first() else {
            return Series {
                start: 0,
                close: Vec::new(),
            };
        };
        let start = first.t - first.t.rem_euclid(HOUR);
        let mut close: Vec<f64> = Vec::new();
        for b in bars {
            let i = ((b.t - start).div_euclid(HOUR)) as usize;
            while close.len() < i {
                let last = close.last().copied().unwrap_or(b.close);
                close.push(last);
            }
            if close.len() == i {
                close.push(b.close);
            } else {
                close[i] = b.close;
            }
        }
        Series { start, close }
    }

    /// Unix seconds of grid index `i`.
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * HOUR
    }

    /// Grid index of the newest hour; an error for an empty series.
    pub fn newest(&self) -> Result<usize> {
        self.close
            .len()
            .checked_sub(1)
            .ok_or_else(|| Error::Data("no bars".into()))
    }

    /// Grid index of the last hour at or before `t`, if inside the grid.
    pub fn index_at(&self, t: i64) -> Option<usize> {
        if t < self.start || self.close.is_empty() {
            return None;
        }
        let i = ((t - self.start) / HOUR) as usize;
        Some(i.min(self.close.len() - 1))
    }
}

/// The data gate: `Ok` only when the newest bar is at most 2 h older than
/// `now`, every price is finite and positive, there are at least 14 days of
/// bars, and at most 2 % of the hours in the last `span_hours` are missing.
pub fn gate(bars: &[Bar], now: i64, span_hours: usize) -> Result<()> {
    if let Some(b) = bars.iter().find(|b| !valid_prices(b)) {
        return Err(Error::Data(format!(
            "bar {} has a non-finite or non-positive price (close {})",
            format_time(b.t),
            b.close
        )));
    }
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Err(Error::Data("no bars".into()));
    };
    let age = now - last.t;
    if age > MAX_STALENESS {
        return Err(Error::Data(format!(
            "newest bar {} is {:.1} h old at {} (limit 2 h)",
            format_time(last.t),
            age as f64 / HOUR as f64,
            format_time(now)
        )));
    }
    let hours = ((last.t - first.t) / HOUR + 1) as usize;
    if hours < MIN_HOURS {
        return Err(Error::Data(format!(
            "only {hours} h of bars from {} to {}; need at least 14 days ({MIN_HOURS} h)",
            format_time(first.t),
            format_time(last.t)
        )));
    }
    let span = span_hours.max(1).min(hours);
    let missing = missing_hours(bars, last.t - (span as i64 - 1) * HOUR);
    if missing.len() as f64 > MAX_MISSING * span as f64 {
        let shown: Vec<String> = missing.iter().take(5).map(|t| format_time(*t)).collect();
        return Err(Error::Data(format!(
            "{} of {span} hours missing (limit 2 %), e.g. {}",
            missing.len(),
            shown.join(", ")
        )));
    }
    Ok(())
}

fn valid_prices(b: &Bar) -> bool {
    let ok = |x: f64| x.is_finite() && x > 0.0;
    ok(b.close) && [b.open, b.high, b.low].iter().flatten().all(|x| ok(*x))
}

/// Hours from `from` to the last bar that have no bar.
pub fn missing_hours(bars: &[Bar], from: i64) -> Vec<i64> {
    let Some(last) = bars.last() else {
        return Vec::new();
    };
    let from = from - from.rem_euclid(HOUR);
    let have: std::collections::BTreeSet<i64> =
        bars.iter().map(|b| b.t - b.t.rem_euclid(HOUR)).collect();
    (0..)
        .map(|k| from + k * HOUR)
        .take_while(|t| *t <= last.t)
        .filter(|t| !have.contains(t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_756_166_400; // 2025-08-26T00:00:00Z

    fn bar(t: i64, close: f64) -> Bar {
        Bar {
            t,
            open: None,
            high: None,
            low: None,
            close,
            volume: None,
        }
    }

    fn hourly(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| bar(T0 + i as i64 * HOUR, 100.0 + i as f64))
            .collect()
    }

    fn check_gate(bars: &[Bar], now: i64, expected: &str) {
        match gate(bars, now, 504) {
            Ok(()) => assert_eq!("ok", expected),
            Err(e) => assert!(e.to_string().contains(expected), "{e} !~ {expected}"),
        }
    }

    #[test]
    fn csv_rows_and_bad_lines() {
        let text = "timestamp,open,high,low,close,volume\n\
                    2025-08-26T01:00:00Z,1,2,0.5,1.5,10\n\
                    2025-08-26T00:00:00Z,,,,1.25,\n";
        let bars = parse_csv(text, "x.csv").unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!((bars[0].t, bars[0].close, bars[0].open), (T0, 1.25, None));
        assert_eq!(bars[1].volume, Some(10.0));
        assert_eq!(parse_csv(&to_csv(&bars), "c").unwrap(), bars);
        let bad = |body: &str| parse_csv(body, "x.csv").unwrap_err().to_string();
        let h = "timestamp,open,high,low,close,volume\n";
        let ok = "2025-08-26T00:00:00Z,1,1,1,1,1\n";
        assert!(bad(&format!("{h}{ok}2025-08-26T01:00:00Z,1,1,1,abc,1\n"))
            .contains("x.csv line 3: bad close \"abc\""));
        assert!(bad(&format!("{h}{ok}{ok}yesterday,1,1,1,1,1\n")).contains("line 4: bad timestamp"));
        assert!(
            bad(&format!("{h}2025-08-26T00:00:00Z,1,1\n")).contains("line 2: expected 6 fields")
        );
        assert!(bad("date,close\n").contains("line 1: expected header"));
        assert!(bad(h).contains("no bars"));
    }

    #[test]
    fn gate_reasons() {
        let bars = hourly(600);
        let newest = bars[599].t;
        check_gate(&bars, newest + HOUR, "ok");
        check_gate(&bars, newest + 3 * HOUR, "is 3.0 h old");
        check_gate(&bars[..300], bars[299].t, "only 300 h of bars");
        let mut nan = bars.clone();
        nan[10].close = f64::NAN;
        check_gate(&nan, newest, "non-finite or non-positive price");
        let mut neg = bars.clone();
        neg[20].close = -1.0;
        check_gate(&neg, newest, "non-positive");
        let gappy: Vec<Bar> = bars
            .iter()
            .enumerate()
            .filter(|(i, _)| !(400..420).contains(i))
            .map(|(_, b)| *b)
            .collect();
        check_gate(
            &gappy,
            newest,
            "20 of 504 hours missing (limit 2 %), e.g. 2025-09-11T16:00:00Z",
        );
        let few_gaps: Vec<Bar> = bars
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 100 != 50)
            .map(|(_, b)| *b)
            .collect();
        check_gate(&few_gaps, newest, "ok");
        check_gate(&[], newest, "no bars");
    }

    #[test]
    fn series_carries_last_close_over_gaps() {
        let bars = vec![
            bar(T0, 1.0),
            bar(T0 + 3 * HOUR, 4.0),
            bar(T0 + 4 * HOUR + 60, 5.0),
        ];
        let s = Series::from_bars(&bars);
        assert_eq!(s.close, vec![1.0, 1.0, 1.0, 4.0, 5.0]);
        assert_eq!(s.index_at(T0 + 2 * HOUR + 5), Some(2));
        assert_eq!(s.index_at(T0 + 99 * HOUR), Some(4));
        assert_eq!(s.index_at(T0 - 1), None);
        let m = merge(&bars, &[bar(T0, 2.0)]);
        assert_eq!((m.len(), m[0].close), (3, 2.0));
    }

    #[test]
    fn tiingo_shapes() {
        let ok = r#"[{"ticker":"btcusd","priceData":[{"date":"2025-08-26T01:00:00+00:00","open":1,"high":2,"low":0.5,"close":1.5,"volume":3},{"date":"2025-08-26T00:00:00+00:00","close":1.0}]}]"#;
        let Reply::Bars(b) = parse_tiingo(ok, 0).unwrap() else {
            panic!("expected bars")
        };
        assert_eq!((b.len(), b[0].t, b[1].close), (2, T0, 1.5));
        assert_eq!(parse_tiingo("[]", 0).unwrap(), Reply::Bars(vec![]));
        let limited = r#"{"detail":"Error: You have run over your hourly request allocation."}"#;
        match parse_tiingo(limited, T0 + 1800).unwrap() {
            Reply::RateLimited { backoff_secs, .. } => assert_eq!(backoff_secs, 1860),
            other => panic!("{other:?}"),
        }
        let err = |b: &str| parse_tiingo(b, 0).unwrap_err().to_string();
        assert!(err("<html><body>502</body></html>").contains("HTML instead of JSON"));
        assert!(err(r#"{"detail":"Invalid token."}"#).contains("tiingo error: Invalid token."));
        assert!(err("{}").contains("not an array"));
        assert!(err("garbage").contains("not JSON"));
        assert!(err(r#"[{"priceData":[{"date":"x","close":1}]}]"#).contains("bad date"));
    }
}
