//! `TOPIC_ID` as a comma-separated list (`TOPIC_ID=67,69`) and each topic's
//! own settings: `TOPIC_<id>_TICKER`, `TOPIC_<id>_TARGET_HOURS`,
//! `TOPIC_<id>_PREDICT_CMD`, `TOPIC_<id>_FALLBACK_VALUE`. Topic 67 keeps its
//! defaults (btcusd, 168 h); any other topic needs its ticker and horizon,
//! and the error names the missing variable. With one topic the plain
//! `TICKER` and `TARGET_HOURS` still apply, as before; with several they
//! are refused (which topic would they mean?).
//!
//! Pure: reads only the layered variables.

use super::{parse_hours, parse_u64, Vars};
use crate::error::{Error, Result};

/// One served topic's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSettings {
    pub id: u64,
    pub ticker: String,
    pub target_hours: u32,
    /// `TOPIC_<id>_PREDICT_CMD` (else `--predict-cmd` applies).
    pub predict_cmd: Option<String>,
    /// `TOPIC_<id>_FALLBACK_VALUE` (else `--fallback-value` applies).
    pub fallback_value: Option<f64>,
}

/// The topic ids of `TOPIC_ID`, in order, each once.
fn ids(v: &Vars<'_>) -> Result<Vec<u64>> {
    let text = v.or_default("TOPIC_ID");
    let mut out = Vec::new();
    for part in text.split(',') {
        let id = parse_u64("TOPIC_ID", part.trim())?;
        if id == 0 {
            return Err(Error::config(
                "TOPIC_ID",
                "0 is not a topic; expected a positive topic id",
            ));
        }
        if out.contains(&id) {
            return Err(Error::config(
                "TOPIC_ID",
                format!("topic {id} is listed twice"),
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// Every configured topic, the first being the one `TOPIC_ID` names first.
pub(super) fn parse(v: &Vars<'_>) -> Result<Vec<TopicSettings>> {
    let ids = ids(v)?;
    let single = ids.len() == 1;
    if !single {
        for k in ["TICKER", "TARGET_HOURS"] {
            if v.get(k).is_some() {
                return Err(Error::config(
                    k,
                    format!(
                        "TOPIC_ID lists several topics: set TOPIC_<id>_{k} for each topic instead"
                    ),
                ));
            }
        }
    }
    ids.into_iter().map(|id| one(v, id, single)).collect()
}

fn one(v: &Vars<'_>, id: u64, single: bool) -> Result<TopicSettings> {
    let key = |what: &str| format!("TOPIC_{id}_{what}");
    let (tk, hk) = (key("TICKER"), key("TARGET_HOURS"));
    let own = |k: &str, plain: &str| v.get(k).or_else(|| single.then(|| v.get(plain)).flatten());
    let (ticker, hours) = (own(&tk, "TICKER"), own(&hk, "TARGET_HOURS"));
    if id != 67 && (ticker.is_none() || hours.is_none()) {
        if single {
            return Err(Error::config(
                "TOPIC_ID",
                format!(
                    "topic {id} is not topic 67: set TICKER and TARGET_HOURS explicitly for it"
                ),
            ));
        }
        let missing = if ticker.is_none() { &tk } else { &hk };
        return Err(Error::config(
            missing,
            format!("topic {id} is not topic 67: set {tk} and {hk} explicitly for it"),
        ));
    }
    let ticker_key = if v.get(&tk).is_some() {
        tk.as_str()
    } else {
        "TICKER"
    };
    let ticker = ticker
        .unwrap_or(super::default_of("TICKER"))
        .to_ascii_lowercase();
    if ticker.is_empty() || !ticker.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::config(
            ticker_key,
            format!("{ticker:?} must be letters and digits, e.g. btcusd"),
        ));
    }
    let hours_key = if v.get(&hk).is_some() {
        hk.as_str()
    } else {
        "TARGET_HOURS"
    };
    let target_hours = parse_hours(
        hours_key,
        hours.unwrap_or(super::default_of("TARGET_HOURS")),
    )?;
    let fk = key("FALLBACK_VALUE");
    let fallback_value = match v.get(&fk) {
        None => None,
        Some(x) => Some(
            x.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| Error::config(&fk, format!("{x:?} is not a finite number")))?,
        ),
    };
    Ok(TopicSettings {
        id,
        ticker,
        target_hours,
        predict_cmd: v.get(&key("PREDICT_CMD")).map(str::to_string),
        fallback_value,
    })
}
