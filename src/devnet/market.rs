//! The devnet's market-data endpoint: Tiingo's crypto prices response shape
//! (`GET /tiingo/crypto/prices?tickers=..&startDate=..&endDate=..&resampleFreq=1hour`)
//! with hourly bars from a deterministic synthetic BTC path (a seeded
//! random walk) or from a CSV (`timestamp,open,high,low,close,volume`),
//! shifted so its last bar is the current hour. Ignores `token`.

use std::path::Path;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::error::{Error, Result};

const HOUR: i64 = 3600;
/// 2024-01-01T00:00Z, where the synthetic path starts at `START_PRICE`.
const ANCHOR: i64 = 1_704_067_200;
const START_PRICE: f64 = 42_000.0;

/// One hourly bar; `start` is the unix time of its hour.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub start: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// Where bars come from.
#[derive(Debug)]
pub enum Market {
    Synthetic { seed: u64 },
    Csv { bars: Vec<Bar> },
}

impl Market {
    /// A CSV market if `csv` is given, else the synthetic path for `seed`.
    pub fn load(csv: Option<&Path>, seed: u64) -> Result<Market> {
        let Some(path) = csv else {
            return Ok(Market::Synthetic { seed });
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read prices {}", path.display()), e))?;
        let bars = parse_csv(&text).map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
        Ok(Market::Csv { bars })
    }

    /// The Tiingo JSON for a request with `query` at wall-clock `now`.
    pub fn respond(
        &self,
        query: &[(String, String)],
        now: OffsetDateTime,
    ) -> Result<Value, String> {
        let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
        let ticker = get("tickers").unwrap_or("btcusd").to_lowercase();
        let now_hour = now.unix_timestamp().div_euclid(HOUR) * HOUR;
        let start = match get("startDate") {
            Some(d) => day_start(d)?,
            None => now_hour - 30 * 24 * HOUR,
        };
        let end = match get("endDate") {
            Some(d) if day_start(d)? < now_hour - 24 * HOUR => day_start(d)?,
            _ => now_hour,
        };
        let bars = self.bars(start, end.min(now_hour), now_hour);
        let data: Vec<Value> = bars.iter().map(bar_json).collect();
        Ok(json!([{
            "ticker": ticker,
            "baseCurrency": ticker.get(..3).unwrap_or("btc"),
            "quoteCurrency": ticker.get(3..).unwrap_or("usd"),
            "priceData": data,
        }]))
    }

    /// Bars whose hour lies in `[from, to]`.
    fn bars(&self, from: i64, to: i64, now_hour: i64) -> Vec<Bar> {
        match self {
            Market::Synthetic { seed } => synthetic(*seed, from, to),
            Market::Csv { bars } => {
                let shift = bars.last().map_or(0, |b| now_hour - b.start);
                bars.iter()
                    .map(|b| Bar {
                        start: b.start + shift,
                        ..b.clone()
                    })
                    .filter(|b| b.start >= from && b.start <= to)
                    .collect()
            }
        }
    }
}

fn day_start(text: &str) -> Result<i64, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(text.get(..10).unwrap_or(text), &fmt)
        .map_err(|_| format!("bad date {text:?}"))?;
    Ok(date.midnight().assume_utc().unix_timestamp())
}

fn bar_json(b: &Bar) -> Value {
    let date = OffsetDateTime::from_unix_timestamp(b.start)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
        .replace('Z', "+00:00");
    json!({
        "date": date, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
        "volume": b.volume, "volumeNotional": b.volume * b.close,
        "tradesDone": (b.volume * 40.0).round(),
    })
}

/// splitmix64: the synthetic path's deterministic noise.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE5_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A roughly normal draw (sum of four uniforms, unit variance) for hour `k`.
fn noise(seed: u64, k: i64, salt: u64) -> f64 {
    let mut sum = 0.0;
    for i in 0..4u64 {
        let r = mix(seed ^ mix((k as u64).wrapping_mul(4).wrapping_add(i) ^ salt));
        sum += (r >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
    }
    sum * 3f64.sqrt()
}

/// The synthetic path: log price walks 0.45% per hour from `ANCHOR`.
fn synthetic(seed: u64, from: i64, to: i64) -> Vec<Bar> {
    let (first, last) = (from.max(ANCHOR) / HOUR, to / HOUR);
    let mut log_p = START_PRICE.ln();
    let mut bars = Vec::new();
    for k in ANCHOR / HOUR..=last {
        let step = 0.0045 * noise(seed, k, 1);
        let (open, close) = (log_p.exp(), (log_p + step).exp());
        log_p += step;
        if k < first {
            continue;
        }
        let wick = 1.0 + 0.002 * noise(seed, k, 2).abs();
        bars.push(Bar {
            start: k * HOUR,
            open,
            high: open.max(close) * wick,
            low: open.min(close) / wick,
            close,
            volume: 300.0 + 150.0 * noise(seed, k, 3).abs(),
        });
    }
    bars
}

/// Parses `timestamp,open,high,low,close,volume`; empty OHLV fields take the close.
fn parse_csv(text: &str) -> Result<Vec<Bar>, String> {
    let mut bars = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = || format!("line {}: bad row {line:?}", i + 1);
        if f.len() < 5 {
            return Err(bad());
        }
        let start = OffsetDateTime::parse(f[0], &Rfc3339)
            .map_err(|_| bad())?
            .unix_timestamp();
        let close: f64 = f[4].parse().map_err(|_| bad())?;
        let num = |s: &str, d: f64| {
            if s.is_empty() {
                Ok(d)
            } else {
                s.parse::<f64>().map_err(|_| bad())
            }
        };
        bars.push(Bar {
            start,
            open: num(f[1], close)?,
            high: num(f[2], close)?,
            low: num(f[3], close)?,
            close,
            volume: num(f.get(5).copied().unwrap_or(""), 0.0)?,
        });
    }
    if bars.is_empty() {
        return Err("no bars".into());
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn synthetic_is_deterministic_and_tiingo_shaped() {
        let m = Market::Synthetic { seed: 7 };
        let now = OffsetDateTime::from_unix_timestamp(1_757_000_000).unwrap();
        let query = q(&[
            ("tickers", "btcusd"),
            ("startDate", "2025-08-26"),
            ("endDate", "2025-08-28"),
        ]);
        let a = m.respond(&query, now).unwrap();
        assert_eq!(a, m.respond(&query, now).unwrap());
        let data = a[0]["priceData"].as_array().unwrap();
        assert_eq!(
            data.len(),
            49,
            "start 00:00 through end-date midnight, like Tiingo"
        );
        assert_eq!(data[0]["date"], "2025-08-26T00:00:00+00:00");
        for bar in data {
            let (o, h, l, c) = (
                bar["open"].as_f64().unwrap(),
                bar["high"].as_f64().unwrap(),
                bar["low"].as_f64().unwrap(),
                bar["close"].as_f64().unwrap(),
            );
            assert!(l <= o.min(c) && h >= o.max(c) && l > 0.0);
        }
        let other = Market::Synthetic { seed: 8 }.respond(&query, now).unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn live_requests_end_at_the_current_hour() {
        let m = Market::Synthetic { seed: 1 };
        let now = OffsetDateTime::from_unix_timestamp(1_756_400_000).unwrap();
        let v = m
            .respond(
                &q(&[("startDate", "2025-08-27"), ("endDate", "2025-09-30")]),
                now,
            )
            .unwrap();
        let last = v[0]["priceData"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["date"], "2025-08-28T16:00:00+00:00");
    }

    #[test]
    fn csv_rows_shift_to_now_and_fill_close_only_rows() {
        let csv = "timestamp,open,high,low,close,volume\n2025-07-30T00:00:00Z,1,2,0.5,1.5,10\n2025-07-30T01:00:00Z,,,,1.7,\n";
        let bars = parse_csv(csv).unwrap();
        assert_eq!(bars[1].open, 1.7);
        let m = Market::Csv { bars };
        let now = OffsetDateTime::from_unix_timestamp(1_756_400_000).unwrap();
        let v = m.respond(&q(&[("startDate", "2025-08-01")]), now).unwrap();
        let data = v[0]["priceData"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[1]["date"], "2025-08-28T16:00:00+00:00");
        assert!(parse_csv("timestamp,open\nnope,1").is_err());
    }
}
