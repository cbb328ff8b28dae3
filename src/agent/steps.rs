//! The daemon's non-submission steps: probing the chain, the websocket,
//! window status, polling, training, heartbeat, status files and waiting.
//! Each step updates `State` so the scheduler sees its result.

use std::time::{Duration, Instant};

use serde_json::json;

use super::Agent;
use crate::error::Error;
use crate::io::ws::{WsClient, WsEvent};
use crate::io::{atomic, clock, logging, signals};
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

impl Agent<'_> {
    /// Chain id, emissions version, topic, registration, whitelist, params.
    pub(super) fn probe(&mut self) {
        let now = self.now_ms();
        match self.try_probe() {
            Ok(()) => {
                self.state.probed = true;
                self.state.need_window_status = true;
                self.counters.problem = None;
            }
            Err(e @ (Error::Config { .. } | Error::Usage(_))) => {
                logging::event(
                    Kind::Error,
                    &format!("cannot work as configured: {e}"),
                    json!({}),
                );
                self.fatal = Some(e);
            }
            Err(e) if self.opts.once => {
                logging::event(
                    Kind::Error,
                    &format!("start-up probe failed: {e}"),
                    json!({}),
                );
                self.fatal = Some(e);
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
                    &format!("start-up probe failed, retrying in {} s: {e}", wait / 1000),
                    json!({}),
                );
                self.counters.problem = Some(match e {
                    Error::Chain { code: 13, .. } => e.to_string(),
                    _ => format!("chain unreachable at start-up: {e}"),
                });
                self.state.probe_retry_at_ms = now + wait;
                self.write_status();
            }
        }
    }

    fn try_probe(&mut self) -> crate::error::Result<()> {
        let emissions = self.client.probe()?;
        let topic = self.client.topic()?;
        if let Some(why) = topic_fit::arity_problem(&topic) {
            return Err(Error::Usage(format!("refusing to submit: {why}")));
        }
        // Seconds mode: windows close by block time (`windows.rs`).
        let mode = self.client.scheduler_mode().unwrap_or_else(|e| {
            log::warn!("cannot read the scheduler mode ({e}); assuming blocks");
            SchedulerMode::Blocks
        });
        let addr = self.wallet.address().to_string();
        if !self.client.is_registered(&addr)? {
            return Err(Error::Chain {
                codespace: "emissions".into(),
                code: 13,
                log: format!(
                    "{addr} is not registered in topic {}: run allora-worker register",
                    topic.id
                ),
            });
        }
        if !self.client.can_submit(&addr)? {
            return Err(Error::Usage(format!(
                "{addr} may not submit to topic {} (not whitelisted); ask the topic owner",
                topic.id
            )));
        }
        self.params = Some(self.client.params()?);
        self.mode = mode;
        // A restarted chain may be lower: the tip is read as it is now.
        (self.state.latest_height, self.state.block_time) = (0, None);
        self.refresh_tip()?;
        self.timers.close_check_ms = self
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
        self.topic = Some(topic);
        self.drop_stale();
        let unknown: Vec<i64> = (self.state.open.iter())
            .filter(|(_, w)| w.end_block.is_none() && w.close_at.is_none())
            .map(|(n, _)| *n)
            .collect();
        for nonce in unknown {
            let (end, close_at) = self.window_close(nonce, None);
            if let Some(w) = self.state.open.get_mut(&nonce) {
                (w.end_block, w.close_at) = (end, close_at);
            }
        }
        Ok(())
    }

    /// Opens the websocket (it reconnects by itself afterwards). `once`
    /// never opens one.
    pub(super) fn connect_ws(&mut self) {
        let now = self.now_ms();
        if self.opts.once {
            self.state.ws_connected = true;
            return;
        }
        let emissions = match self.client.emissions() {
            Ok(e) => e,
            Err(e) => return self.ws_failed(now, &e.to_string()),
        };
        let c = self.config;
        match WsClient::connect(
            &c.ws_url,
            c.topic_id,
            emissions,
            c.connect_timeout,
            c.ws_silence,
        ) {
            Ok(ws) => {
                self.ws = Some(ws);
                self.state.ws_connected = true;
                self.state.ws_last_frame_ms = now;
                self.state.need_window_status = true;
            }
            Err(e) => self.ws_failed(now, &e.to_string()),
        }
    }

    fn ws_failed(&mut self, now: u64, why: &str) {
        log::warn!(
            "WARNING websocket {}: {why}; polling every {:?} meanwhile",
            self.config.ws_url,
            self.opts.poll_interval
        );
        self.state.ws_retry_at_ms = now + RETRY_MS;
    }

    /// Asks whether a window is open now (after start and every reconnect).
    pub(super) fn check_window_status(&mut self) {
        match self.client.window_status(self.wallet.address()) {
            Ok(ws) => {
                self.state.need_window_status = false;
                if ws.is_open && ws.current_nonce > 0 {
                    // A missing window end (0) is unknown, not block 0.
                    let end = (ws.window_end > 0).then_some(ws.window_end);
                    self.open_window(ws.current_nonce, end);
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
    pub(super) fn poll(&mut self) {
        self.state.last_poll_ms = Some(self.now_ms());
        match self.refresh_tip() {
            Ok(_) => {}
            Err(e) => {
                self.counters.problem = Some(format!("chain unreachable: {e}"));
                return log::warn!("WARNING latest height: {e}");
            }
        }
        match self.client.unfulfilled_nonces() {
            Ok(nonces) => {
                for n in nonces
                    .into_iter()
                    .take(crate::logic::schedule::MAX_NONCES_PER_CYCLE)
                {
                    self.open_window(n, None);
                }
            }
            Err(e) => log::warn!("WARNING unfulfilled nonces: {e}"),
        }
    }

    /// Records an open window (once per nonce), with its end block if known
    /// (seconds mode: its close time; `end`, the event's, is not a height).
    pub(super) fn open_window(&mut self, nonce: i64, end: Option<u64>) {
        let known = |w: &Window| w.end_block.is_some() || w.close_at.is_some();
        if self.summary.nonces.contains_key(&nonce)
            || self.state.open.get(&nonce).is_some_and(known)
        {
            return;
        }
        let (end, close_at) = if self.state.probed {
            self.window_close(nonce, end)
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
                (Some(e), _) => format!("window open for nonce {nonce} (ends at block {e})"),
                (None, Some(at)) => format!(
                    "window open for nonce {nonce} (closes at block time {})",
                    crate::logic::human::unix_rfc3339(at)
                ),
                (None, None) => format!("window open for nonce {nonce} (its end is not known yet)"),
            },
            json!({"nonce": nonce, "window_end": end, "close_at": close_at}),
        );
    }

    /// Refreshes market data and trains the model.
    pub(super) fn train(&mut self) {
        let now = self.now_ms();
        match self.forecast.train(clock::now_utc().unix_timestamp()) {
            Ok(trained_at) => {
                self.state.model_ready = true;
                self.state.model_trained_ms = Some(now);
                self.counters.model_trained_at = Some(trained_at);
                self.score_due();
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

    /// The hourly heartbeat: balance, runway, counters.
    pub(super) fn heartbeat(&mut self) {
        self.state.last_heartbeat_ms = Some(self.now_ms());
        self.counters.last_heartbeat_at = Some(clock::now_utc().unix_timestamp());
        if let Ok(b) = self.client.balance(self.wallet.address()) {
            self.counters.balance_uallo = Some(b);
            self.update_runway(b);
        }
        let c = &self.counters;
        logging::event(
            Kind::Heartbeat,
            &format!(
                "alive: {} windows seen, {} submitted, {} missed, balance {} uallo",
                c.windows_seen,
                c.submitted,
                c.missed_total(),
                c.balance_uallo.map_or("?".into(), |b| b.to_string())
            ),
            json!({"windows_seen": c.windows_seen, "submitted": c.submitted, "missed": c.missed_total(),
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
        self.score_due();
        self.compact_scores(keep_since, LEDGER_MAX_LINES, compacted);
        self.write_status();
    }

    /// Days of submissions the balance pays for (the same figure `check`
    /// shows); a warning under 3 days.
    fn update_runway(&mut self, balance: u128) {
        let data_fee = self.params.as_ref().map_or(0, |p| p.data_sending_fee);
        let per_window = self.client.fee_per_submission(data_fee);
        self.counters.fee_per_submission_uallo = Some(per_window);
        let epoch = self.topic.as_ref().map_or(720, |t| t.epoch_length);
        let secs_per_block = self.client.seconds_per_block().unwrap_or(5.0);
        let days = crate::logic::submit::runway_days(balance, per_window, epoch, secs_per_block);
        self.counters.runway_days = days.is_finite().then_some((days * 10.0).round() / 10.0);
        if days < 3.0 {
            logging::event(
                Kind::Warning,
                &format!("balance {balance} uallo pays for about {days:.1} more days of submissions; fund {}", self.wallet.address()),
                json!({"balance_uallo": balance.to_string(), "runway_days": days}),
            );
        }
    }

    /// Writes status.json, the metrics file and the systemd status.
    pub(super) fn write_status(&mut self) {
        self.state.last_status_ms = Some(self.now_ms());
        let now = clock::now_utc().unix_timestamp();
        let mut status = self.counters.status_json(now, std::process::id());
        status["score"] = self.score.summary().clone();
        let path = self.config.data_dir.join("status.json");
        if let Err(e) = atomic::write(&path, format!("{status:#}\n").as_bytes()) {
            log::warn!("WARNING {e}");
        }
        if let Some(metrics) = &self.opts.metrics_file {
            let text = self.counters.prometheus(now) + &self.score.prometheus();
            if let Err(e) = atomic::write(metrics, text.as_bytes()) {
                log::warn!("WARNING {e}");
            }
        }
        let problem = self.counters.problem.clone().unwrap_or_else(|| "ok".into());
        let line = format!(
            "STATUS=last window {}, {} submitted, {} missed; {problem}",
            self.counters
                .last_window
                .map_or("none".into(), |n| n.to_string()),
            self.counters.submitted,
            self.counters.missed_total()
        );
        self.notifier.send(&line);
    }

    /// Waits for a websocket event or `until_ms`, in slices of at most 1 s so
    /// a stop request is seen quickly.
    pub(super) fn wait(&mut self, until_ms: u64) {
        let slice = until_ms.saturating_sub(self.now_ms()).min(1_000);
        let deadline = Instant::now() + Duration::from_millis(slice);
        let intended = self.now_ms() + slice;
        match self.ws.as_mut().map(|ws| ws.next_event(deadline)) {
            Some(Ok(Some(WsEvent::Window(w)))) if w.topic_id == self.config.topic_id => {
                // The height comes from block headers, never from an event.
                if let Err(e) = self.refresh_tip() {
                    log::warn!("WARNING latest block: {e}");
                }
                self.open_window(w.nonce, Some(w.window_end));
            }
            Some(Ok(Some(WsEvent::Connected))) => self.state.need_window_status = true,
            Some(Ok(_)) => {}
            Some(Err(e)) => log::warn!("WARNING websocket: {e}"),
            None => {
                signals::sleep_until(deadline);
            }
        }
        self.state.ws_last_frame_ms = self.now_ms();
        self.counters.loop_lag_ms = self.now_ms().saturating_sub(intended);
    }

    /// Steps the machines of windows past their end (each finishes: served
    /// if a tx of ours landed, else missed with its reason).
    pub(super) fn expire_windows(&mut self) {
        let now = self.now_ms();
        for nonce in crate::logic::schedule::expired(&self.state, self.ledger.state(), now) {
            self.advance(nonce);
        }
    }
}
