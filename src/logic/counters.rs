//! What the daemon has done, as numbers: windows seen, submissions, misses by
//! reason, tx failures by code, last success, balance, model age, loop lag.
//! Rendered as `status.json` content and as Prometheus text format for
//! node_exporter's textfile collector. Pure: times are arguments.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Why a window was missed. Every miss is counted under one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Miss {
    NoData,
    ModelInvalid,
    TxRejected,
    Late,
    EndpointDown,
    LowBalance,
}

impl Miss {
    /// The label value used in logs, status.json and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Miss::NoData => "no_data",
            Miss::ModelInvalid => "model_invalid",
            Miss::TxRejected => "tx_rejected",
            Miss::Late => "late",
            Miss::EndpointDown => "endpoint_down",
            Miss::LowBalance => "low_balance",
        }
    }
}

/// The daemon's running totals and latest facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub started_at: i64,
    pub cycles: u64,
    pub windows_seen: u64,
    pub submitted: u64,
    pub admitted: u64,
    /// Included with code 0 but not admitted (no `EventInsertInfererPayload`).
    pub not_admitted: u64,
    /// Fees the chain charged (tx fees, failed-in-block txs too, plus the
    /// data sending fee of every payload it ran).
    pub fees_paid_uallo: u128,
    /// The longest single loop step (waiting excluded), in ms.
    pub max_step_ms: u64,
    pub missed: BTreeMap<Miss, u64>,
    pub tx_failures: BTreeMap<String, u64>,
    pub last_window: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_tx_hash: Option<String>,
    pub last_heartbeat_at: Option<i64>,
    pub balance_uallo: Option<u128>,
    pub runway_days: Option<f64>,
    /// What one submission costs (gas at the price used + data sending fee).
    pub fee_per_submission_uallo: Option<u128>,
    pub model_trained_at: Option<i64>,
    pub loop_lag_ms: u64,
    pub problem: Option<String>,
    /// Times evidence showed another signer using this key (issue 13 item 9).
    pub key_conflicts: u64,
    /// Ledger entries a restarted chain no longer matches (nonce above its height).
    pub stale_ledger_entries: u64,
}

impl Counters {
    /// Counts a missed window.
    pub fn miss(&mut self, why: Miss) {
        *self.missed.entry(why).or_default() += 1;
    }

    /// Counts a tx failure under `codespace/code`.
    pub fn tx_failure(&mut self, codespace: &str, code: u32) {
        *self
            .tx_failures
            .entry(format!("{codespace}/{code}"))
            .or_default() += 1;
    }

    /// Total missed windows.
    pub fn missed_total(&self) -> u64 {
        self.missed.values().sum()
    }

    /// The `status.json` document at `now` (unix seconds).
    pub fn status_json(&self, now: i64, pid: u32) -> Value {
        let missed: BTreeMap<&str, u64> = self.missed.iter().map(|(k, v)| (k.name(), *v)).collect();
        json!({
            "pid": pid,
            "updated_at": now,
            "uptime_s": now - self.started_at,
            "cycles": self.cycles,
            "windows_seen": self.windows_seen,
            "submitted": self.submitted,
            "admitted": self.admitted,
            "not_admitted": self.not_admitted,
            "fees_paid_uallo": self.fees_paid_uallo.to_string(),
            "max_step_ms": self.max_step_ms,
            "missed": missed,
            "tx_failures": self.tx_failures,
            "last_window": self.last_window,
            "last_success_at": self.last_success_at,
            "last_tx_hash": self.last_tx_hash,
            "last_heartbeat_at": self.last_heartbeat_at,
            "balance_uallo": self.balance_uallo.map(|b| b.to_string()),
            "runway_days": self.runway_days,
            "fee_per_submission_uallo": self.fee_per_submission_uallo.map(|f| f.to_string()),
            "model_age_s": self.model_trained_at.map(|t| now - t),
            "loop_lag_ms": self.loop_lag_ms,
            "problem": self.problem,
            "key_conflicts": self.key_conflicts,
            "stale_ledger_entries": self.stale_ledger_entries,
        })
    }

    /// `status.json` after a start that failed: the `previous` document (if
    /// any) with `last_start_failure` set, so `status` can say why.
    pub fn start_failure_json(previous: Option<Value>, at: i64, reason: &str) -> Value {
        let mut doc = match previous {
            Some(v @ Value::Object(_)) => v,
            _ => json!({}),
        };
        doc["last_start_failure"] = json!({"at": at, "reason": reason});
        doc
    }

    /// Prometheus text exposition format, every metric prefixed `allora_worker_`.
    pub fn prometheus(&self, now: i64) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
            out.push_str(&format!(
                "# HELP allora_worker_{name} {help}\n# TYPE allora_worker_{name} {kind}\n"
            ));
            for (labels, value) in samples {
                out.push_str(&format!("allora_worker_{name}{labels} {value}\n"));
            }
        };
        let one = |v: String| vec![(String::new(), v)];
        metric(
            "windows_seen_total",
            "counter",
            "Submission windows seen.",
            one(self.windows_seen.to_string()),
        );
        metric(
            "submitted_total",
            "counter",
            "Transactions included on chain.",
            one(self.submitted.to_string()),
        );
        metric(
            "not_admitted_total",
            "counter",
            "Payloads included with code 0 but not admitted (no EventInsertInfererPayload).",
            one(self.not_admitted.to_string()),
        );
        metric(
            "fees_paid_uallo_total",
            "counter",
            "Fees the chain charged, in uallo (failed-in-block txs included).",
            one(format!("{}", self.fees_paid_uallo as f64)),
        );
        let missed = [
            Miss::NoData,
            Miss::ModelInvalid,
            Miss::TxRejected,
            Miss::Late,
            Miss::EndpointDown,
            Miss::LowBalance,
        ]
        .iter()
        .map(|m| {
            (
                format!("{{reason=\"{}\"}}", label_value(m.name())),
                self.missed.get(m).copied().unwrap_or(0).to_string(),
            )
        })
        .collect();
        metric(
            "missed_total",
            "counter",
            "Windows missed, by reason.",
            missed,
        );
        let failures = self
            .tx_failures
            .iter()
            .map(|(code, n)| (format!("{{code=\"{}\"}}", label_value(code)), n.to_string()))
            .collect();
        metric(
            "tx_failures_total",
            "counter",
            "Transaction failures by codespace/code.",
            failures,
        );
        metric(
            "key_conflict_total",
            "counter",
            "Times the chain showed another signer using this worker's key (sequence moved, or an inference this worker did not sign).",
            one(self.key_conflicts.to_string()),
        );
        metric(
            "ledger_stale_entries_total",
            "counter",
            "Ledger entries the chain no longer matches (a restarted or reset chain), reported and not served.",
            one(self.stale_ledger_entries.to_string()),
        );
        let last = self.last_success_at.unwrap_or(0);
        metric(
            "last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last included submission.",
            one(last.to_string()),
        );
        if let Some(b) = self.balance_uallo {
            metric(
                "balance_uallo",
                "gauge",
                "Wallet balance in uallo.",
                one(format!("{}", b as f64)),
            );
        }
        if let Some(t) = self.model_trained_at {
            metric(
                "model_age_seconds",
                "gauge",
                "Age of the trained model.",
                one((now - t).to_string()),
            );
        }
        if let Some(t) = self.last_heartbeat_at {
            metric(
                "heartbeat_timestamp_seconds",
                "gauge",
                "Unix time of the last heartbeat (hourly; also while waiting for --start-at).",
                one(t.to_string()),
            );
        }
        metric(
            "loop_lag_milliseconds",
            "gauge",
            "How late the loop woke up last time.",
            one(self.loop_lag_ms.to_string()),
        );
        metric(
            "max_step_milliseconds",
            "gauge",
            "The longest single loop step since start (waiting excluded).",
            one(self.max_step_ms.to_string()),
        );
        out
    }
}

/// A label value as the Prometheus text format wants it: backslash, double
/// quote and newline escaped (`\\`, `\"`, `\n`).
pub fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_status_and_prometheus() {
        let mut c = Counters {
            started_at: 100,
            windows_seen: 3,
            submitted: 2,
            ..Counters::default()
        };
        c.miss(Miss::NoData);
        c.tx_failure("sdk", 32);
        c.model_trained_at = Some(150);
        c.last_heartbeat_at = Some(190);
        let s = c.status_json(200, 42);
        assert_eq!(s["uptime_s"], 100);
        assert_eq!(s["missed"]["no_data"], 1);
        assert_eq!(s["model_age_s"], 50);
        let p = c.prometheus(200);
        assert!(
            p.contains("allora_worker_missed_total{reason=\"no_data\"} 1\n"),
            "{p}"
        );
        assert!(p.contains("allora_worker_missed_total{reason=\"late\"} 0\n"));
        assert!(p.contains("allora_worker_tx_failures_total{code=\"sdk/32\"} 1\n"));
        assert!(p.contains(
            "# TYPE allora_worker_submitted_total counter\nallora_worker_submitted_total 2\n"
        ));
        assert!(p.contains("allora_worker_model_age_seconds 50\n"));
        assert!(p.contains(
            "# TYPE allora_worker_heartbeat_timestamp_seconds gauge\nallora_worker_heartbeat_timestamp_seconds 190\n"
        ));
        assert_eq!(c.missed_total(), 1);
        assert_eq!(s["not_admitted"], 0);
        assert_eq!(s["fees_paid_uallo"], "0");
        assert!(p.contains("allora_worker_not_admitted_total 0\n"), "{p}");
        assert!(p.contains("allora_worker_fees_paid_uallo_total 0\n"), "{p}");
        assert!(p.contains("allora_worker_max_step_milliseconds 0\n"), "{p}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("sdk/32"), "sdk/32");
        assert_eq!(label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(label_value("two\nlines"), "two\\nlines");
        let mut c = Counters::default();
        c.tx_failures.insert("odd\"space\\\n/1".into(), 2);
        let p = c.prometheus(0);
        assert!(
            p.contains("allora_worker_tx_failures_total{code=\"odd\\\"space\\\\\\n/1\"} 2\n"),
            "{p}"
        );
    }
}

/// The Prometheus text of several topics as one exposition: every sample
/// gets `topic="ID"` as its first label, and each family's `# HELP` and
/// `# TYPE` lines appear once, its samples of every topic under them.
pub fn label_topics(parts: &[(u64, String)]) -> String {
    // (family name, the part that created it, header lines, samples)
    let mut families: Vec<(String, usize, Vec<String>, Vec<String>)> = Vec::new();
    for (part, (topic, text)) in parts.iter().enumerate() {
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if line.starts_with('#') {
                let name = line.split(' ').nth(2).unwrap_or("").to_string();
                let i = match families.iter().position(|f| f.0 == name) {
                    Some(i) => i,
                    None => {
                        families.push((name, part, Vec::new(), Vec::new()));
                        families.len() - 1
                    }
                };
                if families[i].1 == part {
                    families[i].2.push(line.to_string());
                }
                current = Some(i);
            } else if !line.is_empty() {
                let sample = with_topic(line, *topic);
                match current {
                    Some(i) => families[i].3.push(sample),
                    None => families.push((String::new(), part, Vec::new(), vec![sample])),
                }
            }
        }
    }
    let mut out = String::new();
    for (_, _, header, samples) in families {
        for l in header.iter().chain(samples.iter()) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// `name{a="b"} 1` → `name{topic="67",a="b"} 1`; `name 1` → `name{topic="67"} 1`.
fn with_topic(line: &str, topic: u64) -> String {
    let label = format!("topic=\"{topic}\"");
    match line.find(['{', ' ']) {
        Some(i) if line[i..].starts_with("{}") => {
            format!("{}{{{label}}}{}", &line[..i], &line[i + 2..])
        }
        Some(i) if line[i..].starts_with('{') => {
            format!("{}{{{label},{}", &line[..i], &line[i + 1..])
        }
        Some(i) => format!("{}{{{label}}}{}", &line[..i], &line[i..]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn every_sample_gets_the_topic_label_and_each_family_one_header() {
        let a = "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n# HELP m M.\n# TYPE m gauge\nm{reason=\"late\"} 2\n";
        let b = a.replace(" 1\n", " 5\n");
        let out = label_topics(&[(67, a.to_string()), (69, b)]);
        assert_eq!(
            out,
            "# HELP x_total X.\n# TYPE x_total counter\nx_total{topic=\"67\"} 1\nx_total{topic=\"69\"} 5\n# HELP m M.\n# TYPE m gauge\nm{topic=\"67\",reason=\"late\"} 2\nm{topic=\"69\",reason=\"late\"} 2\n"
        );
        assert_eq!(with_topic("y{} 3", 1), "y{topic=\"1\"} 3");
    }
}
