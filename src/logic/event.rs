//! The `events.jsonl` record: one JSON object per line with the keys the
//! existing Python worker's event log used (`timestamp`, `event`, `message`,
//! `data`), so users' `jq` recipes keep working (`data.prediction` on
//! prediction events, `data.tx_hash` on submission and success events).
//! Pure: the timestamp is an argument.

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The event kinds, as the old worker named them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    WindowOpen,
    Prediction,
    Submission,
    Success,
    /// Included with code 0 but not admitted (§12 C8): not a success.
    NotAdmitted,
    Error,
    Warning,
    Info,
    Heartbeat,
    Registered,
    /// A submitted nonce scored once its target time passed.
    Score,
    Shutdown,
}

impl Kind {
    /// The `event` string in the JSON line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Startup => "startup",
            Kind::WindowOpen => "window_open",
            Kind::Prediction => "prediction",
            Kind::Submission => "submission",
            Kind::Success => "success",
            Kind::NotAdmitted => "not_admitted",
            Kind::Error => "error",
            Kind::Warning => "warning",
            Kind::Info => "info",
            Kind::Heartbeat => "heartbeat",
            Kind::Registered => "registered",
            Kind::Score => "score",
            Kind::Shutdown => "shutdown",
        }
    }

    /// The greppable marker that starts the human log line for this event.
    pub fn marker(self) -> &'static str {
        match self {
            Kind::Startup => "STARTUP",
            Kind::WindowOpen => "WINDOW",
            Kind::Prediction => "PREDICTION",
            Kind::Submission => "SUBMISSION",
            Kind::Success => "SUCCESS",
            Kind::NotAdmitted => "NOT_ADMITTED",
            Kind::Error => "ERROR",
            Kind::Warning => "WARNING",
            Kind::Info => "INFO",
            Kind::Heartbeat => "HEARTBEAT",
            Kind::Registered => "REGISTERED",
            Kind::Score => "SCORE",
            Kind::Shutdown => "SHUTDOWN",
        }
    }
}

/// Formats a timestamp as RFC 3339 UTC with a `Z` and whole seconds.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// One `events.jsonl` line, without the trailing newline.
pub fn line(at: OffsetDateTime, kind: Kind, message: &str, data: Value) -> String {
    let data = if data.is_null() { json!({}) } else { data };
    json!({ "timestamp": rfc3339(at), "event": kind.name(), "message": message, "data": data })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_the_old_keys() {
        let at = OffsetDateTime::from_unix_timestamp(1_764_288_000).unwrap();
        let l = line(
            at,
            Kind::Prediction,
            "predicted",
            json!({"prediction": -0.01}),
        );
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["timestamp"], "2025-11-28T00:00:00Z");
        assert_eq!(v["event"], "prediction");
        assert_eq!(v["data"]["prediction"], -0.01);
        assert!(!l.contains('\n'));
        let v: Value = serde_json::from_str(&line(at, Kind::Info, "x", Value::Null)).unwrap();
        assert!(v["data"].is_object());
    }
}
