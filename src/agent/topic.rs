//! One topic of the daemon: its narrowed configuration, ledger,
//! forecaster (its own model; the bar cache on disk is per ticker, so
//! topics sharing a ticker share it), score record, windows, submission
//! machines and counters. `steps.rs`, `submit.rs` and `score.rs` carry out
//! its actions, each given the `Shared` part (client, wallet, websocket).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::score::Scorer;
use super::{Forecaster, Options, Summary};
use crate::config::{Config, TopicSettings};
use crate::error::{Error, Result};
use crate::io::clock;
use crate::io::ledger::{self, LedgerFile};
use crate::logic::chain_json::{Params, Topic};
use crate::logic::counters::{Counters, Miss};
use crate::logic::ledger::Next;
use crate::logic::schedule::State;
use crate::logic::submission::{Event, Submission};
use crate::logic::topic_fit::SchedulerMode;
use crate::logic::wallet::Wallet;

/// One topic's state.
pub(super) struct TopicWorker {
    pub id: u64,
    /// `" (topic ID)"` after a nonce in log lines when several topics are
    /// served; empty with one (its lines as before).
    pub tag: String,
    /// The configuration narrowed to this topic (`Config::for_topic`).
    pub config: Config,
    /// `TOPIC_<id>_FALLBACK_VALUE`, else `--fallback-value`.
    pub fallback_value: Option<f64>,
    pub ledger: LedgerFile,
    pub forecast: Forecaster,
    pub score: Scorer,
    pub state: State,
    pub counters: Counters,
    pub topic: Option<Topic>,
    pub params: Option<Params>,
    /// The submission machine of each nonce being served.
    pub subs: BTreeMap<i64, Submission>,
    /// A machine's next event, when it is ready for the next loop turn.
    pub pending: BTreeMap<i64, Event>,
    /// The predicted value of each nonce being served.
    pub values: BTreeMap<i64, f64>,
    pub miss_reason: BTreeMap<i64, Miss>,
    pub opened_at: BTreeMap<i64, Instant>,
    pub summary: Summary,
    /// status.json and the metrics are due (an outcome to show).
    pub status_due: bool,
    /// The chain's scheduler, detected by each probe.
    pub mode: SchedulerMode,
    /// Ledger nonces already reported as not matching the chain.
    pub stale_seen: BTreeSet<i64>,
    /// Why this topic stopped (not whitelisted, an arity it cannot
    /// encode, a bad setting): the other topics go on.
    pub stopped: Option<Error>,
}

impl TopicWorker {
    /// Opens the topic's ledger and score record.
    pub fn new(
        base: &Config,
        t: &TopicSettings,
        wallet: &Wallet,
        opts: &Options,
    ) -> Result<TopicWorker> {
        let config = base.for_topic(t);
        let path = ledger::path_for(&config.data_dir, &config.chain_id, t.id, wallet.address());
        let (ledger, skipped) = LedgerFile::open(&path)?;
        if skipped > 0 {
            log::warn!(
                "WARNING ledger {}: skipped {skipped} unreadable line(s) (a crash mid-write)",
                path.display()
            );
        }
        let mut topic_opts = opts.clone();
        topic_opts.predict_cmd = t.predict_cmd.clone().or(topic_opts.predict_cmd);
        Ok(TopicWorker {
            id: t.id,
            tag: match base.topics.len() {
                1 => String::new(),
                _ => format!(" (topic {})", t.id),
            },
            fallback_value: t.fallback_value.or(opts.fallback_value),
            forecast: Forecaster::new(&config, &topic_opts),
            score: Scorer::open(&config, wallet)?,
            counters: Counters {
                started_at: clock::now_utc().unix_timestamp(),
                ..Counters::default()
            },
            config,
            ledger,
            state: State::default(),
            topic: None,
            params: None,
            subs: BTreeMap::new(),
            pending: BTreeMap::new(),
            values: BTreeMap::new(),
            miss_reason: BTreeMap::new(),
            opened_at: BTreeMap::new(),
            summary: Summary::default(),
            status_due: false,
            mode: SchedulerMode::Blocks,
            stale_seen: BTreeSet::new(),
            stopped: None,
        })
    }

    /// `once`: probed, polled, and every open window finished.
    pub fn served_once(&self) -> bool {
        self.state.probed
            && self.state.last_poll_ms.is_some()
            && !self.state.need_window_status
            && self
                .state
                .open
                .keys()
                .all(|n| self.ledger.state().next(*n) == Next::Finished)
    }

    /// Stops this topic (the others go on), with one error event.
    pub fn stop(&mut self, e: Error) {
        crate::io::logging::event(
            crate::logic::event::Kind::Error,
            &format!("topic {} stopped: {e}", self.id),
            serde_json::json!({"topic_id": self.id}),
        );
        self.counters.problem = Some(format!("stopped: {e}"));
        self.stopped = Some(e);
    }
}
