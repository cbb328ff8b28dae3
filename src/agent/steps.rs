//! The daemon's non-submission steps: probing the chain, the websocket,
//! window status, polling, training, heartbeat, status files and waiting.
//! Each step updates `State` so the scheduler sees its result.

use std::time::Instant;

use serde_json::json;

use super::topic::TopicWorker;
use super::Shared;
use crate::error::Error;
use crate::io::{clock, logging};
use crate::logic::chain_json::Topic;
use crate::logic::event::Kind;
use crate::logic::schedule::Window;
use crate::logic::topic_fit::{self, SchedulerMode};

/// How long a failed probe or training waits before the next try.
const RETRY_MS: u64 = 30_000;
/// How long a worker that is not registered waits before asking again.
const NOT_REGISTERED_RETRY_MS: u64 = 300_000;
/// After a step ran out of its budget (`Error::StepBudget`): soon.
const STEP_BUDGET_RETRY_MS: u64 = 1_000;
/// The ledger keeps at least this much history when compacted (30 days)…
const LEDGER_KEEP_SECS: i64 = 30 * 24 * 3600;
/// …and is compacted once it holds more lines than this (~4 records a window).
const LEDGER_MAX_LINES: usize = 20_000;

impl TopicWorker {
    /// Chain id, emissions version, topic, registration, whitelist, params.
    pub(super) fn probe(&mut self, sh: &mut Shared<'_>) {
        let now = sh.now_ms();
        match self.try_probe(sh) {
            Ok(()) => {
                self.state.probed = true;
                self.state.need_window_status = true;
                self.counters.problem = None;
            }
            Err(e @ (Error::Config { .. } | Error::Usage(_))) => {
                logging::event(
                    Kind::Error,
                    &format!("topic {}: cannot work as configured: {e}", self.id),
                    json!({"topic_id": self.id}),
                );
                self.stop(e);
            }
            Err(e) if sh.opts.once => {
                logging::event(
                    Kind::Error,
                    &format!("topic {}: start-up probe failed: {e}", self.id),
                    json!({"topic_id": self.id}),
                );
                self.stop(e);
            }
            Err(e) => {
                // Not registered is for the operator to fix: ask again rarely.
                let wait = if matches!(e, Error::Chain { code: 13, .. }) {
                    NOT_REGISTERED_RETRY_MS
                } else if matches!(e, Error::StepBudget { .. }) {
                    STEP_BUDGET_RETRY_MS
                } else {
                    RETRY_MS
                };
                logging::event(
                    Kind::Error,
                    &format!(
                        "topic {}: start-up probe failed, retrying in {} s: {e}",
                        self.id,
                        wait / 1000
                    ),
                    json!({"topic_id": self.id}),
                );
                self.counters.problem = Some(match e {
                    Error::Chain { code: 13, .. } => e.to_string(),
                    _ => format!("chain unreachable at start-up: {e}"),
                });
                self.state.probe_retry_at_ms = now + wait;
                sh.status_due = true;
            }
        }
    }

    fn try_probe(&mut self, sh: &mut Shared<'_>) -> crate::error::Result<()> {
        let emissions = sh.client.probe()?;
        let topic = sh.client.topic()?;
        if let Some(why) = topic_fit::arity_problem(&topic) {
            return Err(Error::Usage(format!("refusing to submit: {why}")));
        }
        // Seconds mode: windows close by block time (`windows.rs`).
        let mode = sh.client.scheduler_mode().unwrap_or_else(|e| {
            log::warn!("cannot read the scheduler mode ({e}); assuming blocks");
            SchedulerMode::Blocks
        });
        let addr = sh.wallet.address().to_string();
        if !sh.client.is_registered(&addr)? {
            return Err(Error::Chain {
                codespace: "emissions".into(),
                code: 13,
                log: format!(
                    "{addr} is not registered in topic {}: run allora-worker register",
                    topic.id
                ),
            });
        }
        if !sh.client.can_submit(&addr)? {
            return Err(Error::Usage(format!(
                "{addr} may not submit to topic {} (not whitelisted); ask the topic owner",
                topic.id
            )));
        }
        self.params = Some(sh.client.params()?);
        self.mode = mode;
        // A restarted chain may be lower: the tip is read as it is now.
        (self.state.latest_height, self.state.block_time) = (0, None);
        self.refresh_tip(sh)?;
        sh.timers.close_check_ms = sh
            .client
            .seconds_per_block()
            .map_or(500, |s| (s * 500.0) as u64)
            .clamp(100, 1_000);
        log::info!(
            "chain {} emissions {} scheduler {} topic {} ({}): epoch {} {unit}, window {} {unit}",
            self.config.chain_id,
            emissions.name(),
            mode.name(),
            topic.id,
            topic.metadata,
            topic.epoch_length,
            topic.worker_submission_window,
            unit = mode.unit()
        );
        self.log_fit(sh, &topic);
        self.topic = Some(topic);
        self.drop_stale();
        let unknown: Vec<i64> = (self.state.open.iter())
            .filter(|(_, w)| w.end_block.is_none() && w.close_at.is_none())
            .map(|(n, _)| *n)
            .collect();
        for nonce in unknown {
            let (end, close_at) = self.window_close(sh, nonce, None);
            if let Some(w) = self.state.open.get_mut(&nonce) {
                (w.end_block, w.close_at) = (end, close_at);
            }
        }
        Ok(())
    }

    /// Asks whether a window is open now (after start and every reconnect).
    pub(super) fn check_window_status(&mut self, sh: &mut Shared<'_>) {
        match sh.client.window_status(sh.wallet.address()) {
            Ok(ws) => {
                self.state.need_window_status = false;
                if ws.is_open && ws.current_nonce > 0 {
                    // A missing window end (0) is unknown, not block 0.
                    let end = (ws.window_end > 0).then_some(ws.window_end);
                    self.open_window(sh, ws.current_nonce, end);
                }
            }
            Err(e) => {
                log::warn!("WARNING window status: {e}");
                self.state.need_window_status = false;
                self.state.last_poll_ms = None;
            }
        }
    }

    /// Polls the unfulfilled nonces (the fallback when events are missed).
    pub(super) fn poll(&mut self, sh: &mut Shared<'_>) {
        self.state.last_poll_ms = Some(sh.now_ms());
        match self.refresh_tip(sh) {
            Ok(_) => {}
            Err(e) => {
                self.counters.problem = Some(format!("chain unreachable: {e}"));
                return log::warn!("WARNING latest height: {e}");
            }
        }
        match sh.client.unfulfilled_nonces() {
            Ok(nonces) => {
                for n in nonces
                    .into_iter()
                    .take(crate::logic::schedule::MAX_NONCES_PER_CYCLE)
                {
                    self.open_window(sh, n, None);
                }
            }
            Err(e) => log::warn!("WARNING unfulfilled nonces: {e}"),
        }
        self.refresh_topic(sh);
    }

    /// Re-reads the topic's parameters (at each poll: one cheap query, off
    /// the path of a window). When they changed, says what changed, checks
    /// the output arity again (a topic it cannot encode stops, naming it)
    /// and logs the topic-fit warnings `check` would show.
    fn refresh_topic(&mut self, sh: &mut Shared<'_>) {
        let Some(old) = self.topic.clone() else {
            return;
        };
        let new = match sh.client.topic() {
            Ok(t) => t,
            Err(e) => return log::debug!("topic {} re-read: {e}", self.id),
        };
        // `epoch_last_ended` moves every epoch; it is not a parameter.
        let params = |t: &Topic| Topic {
            epoch_last_ended: 0,
            ..t.clone()
        };
        if params(&old) == params(&new) {
            self.topic = Some(new);
            return;
        }
        logging::event(
            Kind::Warning,
            &format!(
                "topic {} changed on chain: epoch {} → {}, window {} → {}, ground_truth_lag {} → {}, loss {} → {}, arity {:?} → {:?}, labels {:?} → {:?}",
                self.id, old.epoch_length, new.epoch_length, old.worker_submission_window,
                new.worker_submission_window, old.ground_truth_lag, new.ground_truth_lag,
                old.loss_method, new.loss_method, old.output_arity, new.output_arity,
                old.labels, new.labels
            ),
            json!({"topic_id": self.id}),
        );
        self.topic = Some(new.clone());
        if let Some(why) = topic_fit::arity_problem(&new) {
            return self.stop(Error::Usage(format!("refusing to submit: {why}")));
        }
        self.log_fit(sh, &new);
    }

    /// Logs `check`'s topic-fit warnings for `topic` (horizon, loss, labels).
    fn log_fit(&self, sh: &mut Shared<'_>, topic: &Topic) {
        let mode = sh.client.scheduler_mode().unwrap_or(SchedulerMode::Blocks);
        let spb = sh.client.seconds_per_block();
        for w in topic_fit::warnings(topic, self.config.target_hours, mode, spb) {
            log::warn!(
                "WARNING topic {}: {}: {} — {}",
                self.id,
                w.name,
                w.detail,
                w.fix
            );
        }
    }

    /// Records an open window (once per nonce), with its end block if known
    /// (seconds mode: its close time; `end`, the event's, is not a height).
    pub(super) fn open_window(&mut self, sh: &mut Shared<'_>, nonce: i64, end: Option<u64>) {
        let at = self.tag.clone();
        let known = |w: &Window| w.end_block.is_some() || w.close_at.is_some();
        if self.summary.nonces.contains_key(&nonce)
            || self.state.open.get(&nonce).is_some_and(known)
        {
            return;
        }
        let (end, close_at) = if self.state.probed {
            self.window_close(sh, nonce, end)
        } else {
            (end.filter(|_| self.mode == SchedulerMode::Blocks), None)
        };
        if let Some(w) = self.state.open.get_mut(&nonce) {
            (w.end_block, w.close_at) = (end, close_at);
            return;
        }
        self.state.open.insert(
            nonce,
            Window {
                end_block: end,
                close_at,
                retry_at_ms: 0,
                attempts: 0,
            },
        );
        self.opened_at.entry(nonce).or_insert_with(Instant::now);
        self.counters.windows_seen += 1;
        self.counters.last_window = Some(nonce);
        logging::event(
            Kind::WindowOpen,
            &match (end, close_at) {
                (Some(e), _) => format!("window open for nonce {nonce}{at} (ends at block {e})"),
                (None, Some(close)) => format!(
                    "window open for nonce {nonce}{at} (closes at block time {})",
                    crate::logic::human::unix_rfc3339(close)
                ),
                (None, None) => {
                    format!("window open for nonce {nonce}{at} (its end is not known yet)")
                }
            },
            json!({"topic_id": self.id, "nonce": nonce, "window_end": end, "close_at": close_at}),
        );
    }

    /// Refreshes market data and trains the model.
    pub(super) fn train(&mut self, sh: &mut Shared<'_>) {
        let now = sh.now_ms();
        match self.forecast.train(clock::now_utc().unix_timestamp()) {
            Ok(trained_at) => {
                self.state.model_ready = true;
                self.state.model_trained_ms = Some(now);
                self.counters.model_trained_at = Some(trained_at);
                self.score_due(sh);
            }
            Err(e) => {
                logging::event(
                    Kind::Warning,
                    &format!("training failed, retrying in 30 s: {e}"),
                    json!({}),
                );
                self.state.model_ready = false;
                self.state.train_retry_at_ms = now + RETRY_MS;
            }
        }
    }

    /// The hourly heartbeat of this topic (the balance and runway are the
    /// agent's, `shared.rs`): counters, ledger and score compaction.
    pub(super) fn heartbeat(&mut self, sh: &mut Shared<'_>) {
        self.state.last_heartbeat_ms = Some(sh.now_ms());
        self.counters.last_heartbeat_at = Some(clock::now_utc().unix_timestamp());
        let c = &self.counters;
        logging::event(
            Kind::Heartbeat,
            &format!(
                "alive: topic {}: {} windows seen, {} submitted, {} missed, balance {} uallo",
                self.id,
                c.windows_seen,
                c.submitted,
                c.missed_total(),
                c.balance_uallo.map_or("?".into(), |b| b.to_string())
            ),
            json!({"topic_id": self.id, "windows_seen": c.windows_seen, "submitted": c.submitted, "missed": c.missed_total(),
                   "balance_uallo": c.balance_uallo.map(|b| b.to_string()), "height": self.state.latest_height}),
        );
        let keep_since = clock::now_utc().unix_timestamp() - LEDGER_KEEP_SECS;
        let compacted = match self.ledger.compact_if_needed(keep_since, LEDGER_MAX_LINES) {
            Ok(c) => c,
            Err(e) => {
                log::warn!("WARNING ledger compaction: {e}");
                false
            }
        };
        if compacted {
            log::info!("ledger compacted to {} nonces", self.ledger.state().len());
        }
        self.score_due(sh);
        self.compact_scores(keep_since, LEDGER_MAX_LINES, compacted);
    }
}
