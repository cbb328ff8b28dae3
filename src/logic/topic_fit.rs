//! Whether the configured worker fits the chain's topic: the scheduler mode
//! (block windows, or the newest chain code's seconds epochs, §12 C12), the
//! output arity the worker can encode (a single value, label `y`), and the
//! warnings `check` shows: `TARGET_HOURS` against `ground_truth_lag` (in
//! blocks × the measured block time, or in seconds mode in seconds), a loss
//! method the worker cannot score, a single-arity label other than `y`.

use crate::logic::chain_json::Topic;

/// Loss methods the worker can score (`logic::scoring`).
pub const SCORABLE_LOSSES: [&str; 2] = ["czar", "zptae"];
/// `TARGET_HOURS` may differ from the topic's horizon by this fraction.
pub const HORIZON_TOLERANCE: f64 = 0.10;
/// Arities the worker encodes: one value (v9 chains have no arity field).
const SINGLE_ARITIES: [&str; 3] = [
    "TOPIC_OUTPUT_ARITY_SINGLE",
    "TOPIC_OUTPUT_ARITY_UNSPECIFIED",
    "",
];

/// How the chain opens worker windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerMode {
    /// A window every `epoch_length` blocks, `window_end_block` a height.
    Blocks,
    /// Scheduler epochs: topic timing in seconds, windows by block time.
    Seconds,
}

impl SchedulerMode {
    pub fn name(self) -> &'static str {
        match self {
            SchedulerMode::Blocks => "blocks",
            SchedulerMode::Seconds => "seconds",
        }
    }

    /// The unit of the topic's timing fields in this mode.
    pub fn unit(self) -> &'static str {
        match self {
            SchedulerMode::Blocks => "blocks",
            SchedulerMode::Seconds => "s",
        }
    }
}

/// One warning: what (a check name), the detail naming both values, the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub name: &'static str,
    pub detail: String,
    pub fix: &'static str,
}

/// Why the worker cannot submit to `topic`, if its output arity is one it
/// cannot encode.
pub fn arity_problem(topic: &Topic) -> Option<String> {
    (!SINGLE_ARITIES.contains(&topic.output_arity.as_str())).then(|| {
        format!(
            "topic {} has output arity {}: allora-worker encodes a single value (label y) only",
            topic.id, topic.output_arity
        )
    })
}

/// The topic's horizon in hours: `ground_truth_lag` in seconds (seconds
/// mode) or blocks × `secs_per_block`; None when the block time is unknown.
pub fn horizon_hours(
    topic: &Topic,
    mode: SchedulerMode,
    secs_per_block: Option<f64>,
) -> Option<f64> {
    let lag = topic.ground_truth_lag as f64;
    match mode {
        SchedulerMode::Seconds => Some(lag / 3600.0),
        SchedulerMode::Blocks => secs_per_block.map(|s| lag * s / 3600.0),
    }
}

/// The warnings for a worker predicting `target_hours` ahead on `topic`.
pub fn warnings(
    topic: &Topic,
    target_hours: u32,
    mode: SchedulerMode,
    secs_per_block: Option<f64>,
) -> Vec<Warning> {
    let mut out = Vec::new();
    if let Some(h) = horizon_hours(topic, mode, secs_per_block) {
        let target = f64::from(target_hours);
        if (target - h).abs() > HORIZON_TOLERANCE * h.max(f64::MIN_POSITIVE) {
            let how = match (mode, secs_per_block) {
                (SchedulerMode::Blocks, Some(s)) => format!(" × {s:.3} s per block"),
                _ => String::new(),
            };
            let detail = format!(
                "TARGET_HOURS {target_hours} h but the topic's ground_truth_lag {} {}{how} is {h:.1} h",
                topic.ground_truth_lag,
                mode.unit()
            );
            let fix = "set TARGET_HOURS to the topic's horizon";
            out.push(Warning {
                name: "horizon",
                detail,
                fix,
            });
        }
    }
    let loss = topic.loss_method.to_ascii_lowercase();
    if !SCORABLE_LOSSES.contains(&loss.as_str()) {
        let detail = format!(
            "loss method {:?}: allora-worker scores czar and zptae only",
            topic.loss_method
        );
        let fix = "scores for this topic will be missing";
        out.push(Warning {
            name: "loss method",
            detail,
            fix,
        });
    }
    let single = SINGLE_ARITIES.contains(&topic.output_arity.as_str());
    if single && topic.labels.iter().any(|l| !l.eq_ignore_ascii_case("y")) {
        let detail = format!(
            "single-arity topic with labels {:?}, not y: allora-worker labels its value y",
            topic.labels
        );
        let fix = "the chain may refuse the label";
        out.push(Warning {
            name: "labels",
            detail,
            fix,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic67() -> Topic {
        Topic {
            id: 67,
            loss_method: "czar".into(),
            ground_truth_lag: 120_960,
            output_arity: "TOPIC_OUTPUT_ARITY_SINGLE".into(),
            ..Topic::default()
        }
    }

    #[test]
    fn a_fitting_topic_has_no_warnings() {
        // 120 960 blocks × 5 s = 168 h, and 7 days in seconds.
        assert_eq!(
            warnings(&topic67(), 168, SchedulerMode::Blocks, Some(5.0)),
            []
        );
        let secs = Topic {
            ground_truth_lag: 604_800,
            ..topic67()
        };
        assert_eq!(warnings(&secs, 168, SchedulerMode::Seconds, None), []);
        assert_eq!(
            warnings(&topic67(), 1, SchedulerMode::Blocks, None),
            [],
            "block time unknown"
        );
        assert_eq!(arity_problem(&topic67()), None);
        let v9 = Topic {
            output_arity: String::new(),
            ..topic67()
        };
        assert_eq!(arity_problem(&v9), None);
    }

    #[test]
    fn each_misfit_is_named_with_both_values() {
        // 10 % off is tolerated, 11 % is not.
        assert_eq!(
            warnings(&topic67(), 184, SchedulerMode::Blocks, Some(5.0)),
            []
        );
        let w = warnings(&topic67(), 187, SchedulerMode::Blocks, Some(5.0));
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].detail,
            "TARGET_HOURS 187 h but the topic's ground_truth_lag 120960 blocks × 5.000 s per block is 168.0 h"
        );
        let t = Topic {
            loss_method: "mse".into(),
            labels: vec!["p50".into()],
            ground_truth_lag: 3600,
            ..topic67()
        };
        let names: Vec<&str> = warnings(&t, 1, SchedulerMode::Seconds, None)
            .iter()
            .map(|w| w.name)
            .collect();
        assert_eq!(names, ["loss method", "labels"]);
        let multi = Topic {
            output_arity: "TOPIC_OUTPUT_ARITY_MULTI".into(),
            ..topic67()
        };
        let why = arity_problem(&multi).unwrap();
        assert!(
            why.contains("topic 67") && why.contains("TOPIC_OUTPUT_ARITY_MULTI"),
            "{why}"
        );
        assert_eq!(SchedulerMode::Seconds.name(), "seconds");
    }
}
