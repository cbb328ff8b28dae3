//! Market data behind one interface: a CSV file, or Tiingo's crypto prices
//! (or the devnet standing in for it at `TIINGO_URL`) over ureq, paged by
//! date range, with an on-disk bar cache so a restart does not refetch
//! everything, and a backoff file so a rate-limit reply is never retried
//! before the allocation resets (no retry storm, across restarts too).
//!
//! Moves bytes only: parsing and the data gate are `logic::bars`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::redact_url;
use crate::error::{Error, Result};
use crate::io::atomic;
use crate::logic::bars::{self, format_time, Bar, Reply, HOUR};
use crate::logic::secret::Secret;

/// Days of bars asked for in one request.
pub const PAGE_DAYS: i64 = 30;
/// The cache keeps at most this many hours of bars.
pub const CACHE_HOURS: i64 = 24 * 60;

/// Where bars come from.
#[derive(Debug, Clone)]
pub enum Source {
    Csv(PathBuf),
    Tiingo(Tiingo),
}

/// A Tiingo-compatible endpoint.
#[derive(Debug, Clone)]
pub struct Tiingo {
    /// Base URL, e.g. `https://api.tiingo.com` or the devnet's market URL.
    pub base: String,
    pub ticker: String,
    pub key: Option<Secret<String>>,
    pub timeout: Duration,
}

/// Reads a CSV bar file.
pub fn read_csv(path: &Path) -> Result<Vec<Bar>> {
    let text =
        fs::read_to_string(path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    bars::parse_csv(&text, &path.display().to_string())
}

/// Bars up to `now` covering at least `need_hours` (CSV: the whole file).
pub fn load(source: &Source, data_dir: &Path, now: i64, need_hours: i64) -> Result<Vec<Bar>> {
    match source {
        Source::Csv(path) => read_csv(path),
        Source::Tiingo(t) => update_cache(t, data_dir, now, need_hours),
    }
}

fn cache_path(data_dir: &Path, ticker: &str) -> PathBuf {
    data_dir.join(format!("bars-{ticker}.csv"))
}

fn backoff_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tiingo-backoff-until")
}

/// Fetches only what the cache lacks, merges, trims and rewrites the cache.
pub fn update_cache(t: &Tiingo, data_dir: &Path, now: i64, need_hours: i64) -> Result<Vec<Bar>> {
    let path = cache_path(data_dir, &t.ticker);
    let cached = match fs::read_to_string(&path) {
        Ok(text) => bars::parse_csv(&text, &path.display().to_string()).unwrap_or_else(|e| {
            log::warn!("ignoring unreadable bar cache: {e}");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    };
    let current_hour = now - now.rem_euclid(HOUR);
    let oldest_needed = current_hour - need_hours * HOUR;
    let long_enough = cached.first().is_some_and(|b| b.t <= oldest_needed);
    if long_enough && cached.last().is_some_and(|b| b.t >= current_hour - HOUR) {
        log::debug!("bar cache {} is current", path.display());
        return Ok(cached);
    }
    let start = match (cached.first(), cached.last()) {
        (Some(first), Some(last)) if first.t <= oldest_needed => last.t,
        _ => oldest_needed,
    };
    let fresh = fetch_range(t, data_dir, start, now)?;
    let mut merged = bars::merge(&cached, &fresh);
    let keep_from = current_hour - CACHE_HOURS.max(need_hours) * HOUR;
    merged.retain(|b| b.t >= keep_from);
    atomic::write(&path, bars::to_csv(&merged).as_bytes())?;
    log::info!(
        "fetched {} bars from {}, cache holds {} up to {}",
        fresh.len(),
        redact_url(&t.base),
        merged.len(),
        merged.last().map(|b| format_time(b.t)).unwrap_or_default()
    );
    Ok(merged)
}

fn date(t: i64) -> String {
    format_time(t)[..10].to_string()
}

/// All bars from `start` to `now`, one request per `PAGE_DAYS`.
pub fn fetch_range(t: &Tiingo, data_dir: &Path, start: i64, now: i64) -> Result<Vec<Bar>> {
    let mut out = Vec::new();
    let mut from = start;
    loop {
        let to = (from + PAGE_DAYS * 86_400).min(now);
        let page = fetch_page(t, data_dir, &date(from), &date(to), now)?;
        out = bars::merge(&out, &page);
        if to >= now {
            break;
        }
        from = to;
    }
    if out.is_empty() {
        return Err(Error::Data(format!(
            "tiingo returned no bars for {} from {} to {}",
            t.ticker,
            date(start),
            date(now)
        )));
    }
    Ok(out)
}

fn fetch_page(t: &Tiingo, data_dir: &Path, start: &str, end: &str, now: i64) -> Result<Vec<Bar>> {
    check_backoff(data_dir, now)?;
    let path = format!(
        "/tiingo/crypto/prices?tickers={}&startDate={start}&endDate={end}&resampleFreq=1hour",
        t.ticker
    );
    let token = t
        .key
        .as_ref()
        .map(|k| format!("&token={}", k.expose()))
        .unwrap_or_default();
    let endpoint = redact_url(&t.base);
    let http = |problem: String| Error::Http {
        endpoint: endpoint.clone(),
        path: path.clone(),
        problem,
    };
    // One page is one HTTP call: the watchdog is fed between pages.
    crate::io::notify::watchdog();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(t.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(&format!("{}{path}{token}", t.base))
        .call()
        .map_err(|e| http(e.to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(32 << 20)
        .read_to_string()
        .map_err(|e| http(format!("reading body: {e}")))?;
    match bars::parse_tiingo(&body, now) {
        Ok(Reply::RateLimited {
            detail,
            backoff_secs,
        }) => {
            let until = now + backoff_secs;
            atomic::write(&backoff_path(data_dir), until.to_string().as_bytes())?;
            Err(Error::Data(format!(
                "tiingo rate limit: {detail}; backing off {backoff_secs} s until {}",
                format_time(until)
            )))
        }
        Ok(Reply::Bars(_)) if status != 200 => Err(http(format!("HTTP {status}"))),
        Ok(Reply::Bars(b)) => Ok(b),
        Err(e) if status != 200 => Err(http(format!("HTTP {status}: {e}"))),
        Err(e) => Err(e),
    }
}

/// Refuses to call Tiingo before a recorded rate-limit backoff ends.
fn check_backoff(data_dir: &Path, now: i64) -> Result<()> {
    let Ok(text) = fs::read_to_string(backoff_path(data_dir)) else {
        return Ok(());
    };
    match text.trim().parse::<i64>() {
        Ok(until) if until > now => Err(Error::Data(format!(
            "tiingo rate limit: not asking again before {} ({} s)",
            format_time(until),
            until - now
        ))),
        _ => Ok(()),
    }
}
