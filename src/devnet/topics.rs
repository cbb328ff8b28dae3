//! The topics the devnet serves (`--topics 67,69,…`, else `topic_id` alone):
//! each its own registrations, whitelist, open windows, submissions, latest
//! inferences and, in seconds mode, epochs; all share the chain's epoch and
//! window lengths. The noise topic (window events nobody serves) is 69, or
//! the first id above the served ones when 69 is served. No sockets here.

use std::collections::{BTreeMap, BTreeSet};

use super::chain::{Chain, Inference};
use super::scheduler::Epochs;

/// The noise topic when 69 is not served.
const NOISE_DEFAULT: u64 = 69;

/// One served topic's state.
#[derive(Debug, Clone, Default)]
pub struct Topic {
    pub registered: BTreeSet<String>,
    /// `--whitelist`: only these workers may submit; None = no whitelist.
    pub whitelist: Option<BTreeSet<String>>,
    /// Unfulfilled worker nonces → window end block (u64::MAX in seconds mode).
    pub windows: BTreeMap<u64, u64>,
    pub current_window: Option<(u64, u64)>,
    /// Nonce → worker → accepted submissions.
    pub submissions: BTreeMap<u64, BTreeMap<String, u64>>,
    /// Worker → its latest admitted inference.
    pub latest: BTreeMap<String, Inference>,
    /// The seconds scheduler's epochs; None in block mode.
    pub epochs: Option<Epochs>,
    pub windows_opened: u64,
}

impl Topic {
    /// Whether `addr` may submit payloads (always, unless `--whitelist`).
    pub fn is_whitelisted(&self, addr: &str) -> bool {
        self.whitelist.as_ref().is_none_or(|w| w.contains(addr))
    }
}

/// The served topic ids: `topics` if given, else `[primary]`; the primary
/// (`topic_id`) is always served and always first.
pub fn served(primary: u64, topics: &[u64]) -> Vec<u64> {
    let mut ids = vec![primary];
    ids.extend(topics.iter().filter(|t| **t != primary));
    let mut seen = BTreeSet::new();
    ids.retain(|t| seen.insert(*t));
    ids
}

/// Parses `--topics 67,69`: comma-separated topic ids, at least one.
pub fn parse_list(text: &str) -> Result<Vec<u64>, String> {
    let ids: Vec<u64> = text
        .split(',')
        .map(|t| t.trim().parse::<u64>().ok().filter(|id| *id > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("--topics {text:?}: expected topic ids like 67,69"))?;
    if ids.is_empty() {
        return Err(format!("--topics {text:?}: no topic id"));
    }
    Ok(ids)
}

impl Chain {
    /// The served topic `id`, if served.
    pub fn topic(&self, id: u64) -> Option<&Topic> {
        self.topics.get(&id)
    }

    /// The served topic named by a route's text, if served.
    pub fn topic_named(&self, text: &str) -> Option<&Topic> {
        self.topics.get(&text.parse::<u64>().ok()?)
    }

    /// The primary topic (`topic_id`), which is always served.
    pub fn primary(&self) -> &Topic {
        self.topics
            .get(&self.topic_id)
            .expect("the primary topic is always served")
    }

    /// The window events of this topic are noise nobody serves.
    pub fn noise_topic(&self) -> u64 {
        let mut id = NOISE_DEFAULT;
        while self.topics.contains_key(&id) {
            id += 1;
        }
        id
    }

    /// Topic id → windows opened, for `/devnet/stats`.
    pub fn windows_opened_by_topic(&self) -> BTreeMap<String, u64> {
        self.topics
            .iter()
            .map(|(id, t)| (id.to_string(), t.windows_opened))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_lists_parse_and_keep_the_primary_first() {
        assert_eq!(parse_list("67,69, 70"), Ok(vec![67, 69, 70]));
        assert!(parse_list("67,,69").is_err());
        assert!(parse_list("0").is_err());
        assert!(parse_list("btc").is_err());
        assert_eq!(served(67, &[]), vec![67]);
        assert_eq!(served(67, &[69, 67, 69, 70]), vec![67, 69, 70]);
    }
}
