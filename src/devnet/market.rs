//! The devnet's market-data endpoint: Tiingo's crypto prices response shape
//! (`GET /tiingo/crypto/prices?tickers=..&startDate=..&endDate=..&resampleFreq=1hour`)
//! with hourly bars from `logic::synthetic` (a seeded random walk from
//! `ANCHOR`) or from a CSV read by `logic::bars::parse_csv`
//! (`timestamp,open,high,low,close,volume`), shifted so its last bar is the
//! current hour. Ignores `token`. It only renders bars; it generates none.

use std::path::Path;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::error::{Error, Result};
use crate::logic::bars::{parse_csv, Bar, HOUR};
use crate::logic::synthetic::synthetic_bars;

/// 2025-06-01T00:00Z, where the synthetic path starts.
const ANCHOR: i64 = 1_748_736_000;

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
        let bars = parse_csv(&text, &path.display().to_string())?;
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
            Market::Synthetic { seed } => {
                let hours = usize::try_from((to - ANCHOR) / HOUR + 1).unwrap_or(0);
                let mut bars = synthetic_bars(*seed, ANCHOR / HOUR, hours);
                bars.retain(|b| b.t >= from && b.t <= to);
                bars
            }
            Market::Csv { bars } => {
                let shift = bars.last().map_or(0, |b| now_hour - b.t);
                bars.iter()
                    .map(|b| Bar {
                        t: b.t + shift,
                        ..*b
                    })
                    .filter(|b| b.t >= from && b.t <= to)
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

/// A Tiingo bar; missing open/high/low take the close, a missing volume is 0.
fn bar_json(b: &Bar) -> Value {
    let date = OffsetDateTime::from_unix_timestamp(b.t)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
        .replace('Z', "+00:00");
    let (close, volume) = (b.close, b.volume.unwrap_or(0.0));
    json!({
        "date": date, "open": b.open.unwrap_or(close), "high": b.high.unwrap_or(close),
        "low": b.low.unwrap_or(close), "close": close,
        "volume": volume, "volumeNotional": volume * close,
        "tradesDone": (volume * 40.0).round(),
    })
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
        let m = Market::Csv {
            bars: parse_csv(csv, "test").unwrap(),
        };
        let now = OffsetDateTime::from_unix_timestamp(1_756_400_000).unwrap();
        let v = m.respond(&q(&[("startDate", "2025-08-01")]), now).unwrap();
        let data = v[0]["priceData"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[1]["date"], "2025-08-28T16:00:00+00:00");
        assert_eq!(data[1]["open"], 1.7, "an empty open takes the close");
    }
}
