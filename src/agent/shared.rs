//! The loop's turn over every topic, and what the topics share: choosing
//! the next action (the newest open nonce of any topic first, then the
//! websocket, then each topic's other work in turn), the sequence gate
//! over every topic's machines, the one websocket (one subscription for
//! all topics, its events handed to their topic), the balance and runway
//! (every topic's fees), and the status files (a section per topic, a
//! `topic` label on every metric).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Agent, SeqGate};
use crate::io::ws::{WsClient, WsEvent};
use crate::io::{atomic, clock, signals};
use crate::logic::schedule::{self, Action};

/// How long a failed websocket connect waits before the next try.
const WS_RETRY_MS: u64 = 30_000;

impl Agent<'_> {
    /// One turn of the loop: the windows that ended, then one action of
    /// one topic or a shared one; each a step of its own (its HTTP budget
    /// opened, its duration kept for `max_step_ms`).
    pub(super) fn turn(&mut self) {
        self.sh.cycles += 1;
        let step = Instant::now();
        self.sh.client.open_step(step);
        self.expire_all();
        self.note_step(step, false);
        let step = Instant::now();
        self.sh.client.open_step(step);
        let waited = self.act();
        self.note_step(step, waited);
    }

    /// Windows past their end, in every topic.
    fn expire_all(&mut self) {
        for t in self.topics.iter_mut().filter(|t| t.stopped.is_none()) {
            // Seconds mode: windows the chain closed by time get an end.
            t.state.latest_height = self.sh.latest_height;
            t.state.block_time = self.sh.block_time;
            t.mark_closed();
        }
        self.expire_windows();
    }

    /// The most urgent action of any topic, or a shared one; true when it
    /// was a wait.
    fn act(&mut self) -> bool {
        let now = self.sh.now_ms();
        let mut actions = Vec::new();
        for (i, t) in self.topics.iter_mut().enumerate() {
            if t.stopped.is_some() {
                continue;
            }
            t.state.ws_connected = self.sh.ws_connected;
            t.state.ws_retry_at_ms = self.sh.ws_retry_at_ms;
            t.state.ws_last_frame_ms = self.sh.ws_last_frame_ms;
            // One chain tip for every topic: the shared one, as last seen.
            t.state.latest_height = self.sh.latest_height;
            t.state.block_time = self.sh.block_time;
            let a = schedule::next(&t.state, t.ledger.state(), now, &self.sh.timers);
            actions.push((i, a));
        }
        log::debug!("actions {actions:?}");
        // The newest open nonce of any topic first (heights compare across
        // topics); at the same nonce a submission before a lookup.
        let newest = actions
            .iter()
            .filter_map(|(i, a)| match a {
                Action::Submit(n) => Some((*n, true, std::cmp::Reverse(*i))),
                Action::Reconcile(n) => Some((*n, false, std::cmp::Reverse(*i))),
                _ => None,
            })
            .max();
        if let Some((nonce, _, std::cmp::Reverse(i))) = newest {
            self.advance(i, nonce);
            return false;
        }
        if actions.iter().any(|(_, a)| *a == Action::ConnectWs) {
            self.connect_ws();
            return false;
        }
        let n = self.topics.len().max(1);
        let mut until = u64::MAX;
        for k in 0..n {
            let idx = (self.next_topic + k) % n;
            let Some((i, a)) = actions.iter().find(|(i, _)| *i == idx).copied() else {
                continue;
            };
            if let Action::Wait { until_ms } = a {
                until = until.min(until_ms);
                continue;
            }
            self.next_topic = idx + 1;
            self.topic_action(i, a);
            return false;
        }
        self.wait(if until == u64::MAX {
            now + 1_000
        } else {
            until
        });
        true
    }

    /// Carries out a topic's non-submission action.
    fn topic_action(&mut self, i: usize, a: Action) {
        self.sh.client.set_topic(self.topics[i].id);
        let t = &mut self.topics[i];
        match a {
            Action::Probe => t.probe(&mut self.sh),
            Action::CheckWindowStatus => t.check_window_status(&mut self.sh),
            Action::Poll => t.poll(&mut self.sh),
            Action::CheckClose => t.check_close(&mut self.sh),
            Action::Train => t.train(&mut self.sh),
            Action::Heartbeat => return self.heartbeat(i),
            Action::WriteStatus => return self.write_status(),
            Action::ConnectWs | Action::Submit(_) | Action::Reconcile(_) | Action::Wait { .. } => {}
        }
        self.after_topic(i);
    }

    /// After topic `i` acted: the chain tip it saw is everyone's (each
    /// topic acts from the shared tip, so this is the newest); status files
    /// it asked for are written.
    fn after_topic(&mut self, i: usize) {
        self.sh.latest_height = self.topics[i].state.latest_height;
        self.sh.block_time = self.topics[i].state.block_time;
        let topic_due = std::mem::take(&mut self.topics[i].status_due);
        if std::mem::take(&mut self.sh.status_due) || topic_due {
            self.write_status();
        }
    }

    /// Whether topic `i`'s `nonce` may sign now, over every topic's machines.
    fn gate(&self, i: usize, nonce: i64) -> SeqGate {
        let h = self.sh.latest_height;
        let mut g = SeqGate::default();
        for (j, t) in self.topics.iter().enumerate() {
            for (n, s) in &t.subs {
                if j == i && *n == nonce {
                    continue;
                }
                g.busy |= s.holds_unknown_sequence(h);
                if let Some(q) = s.accepted_sequence(h) {
                    let next = q.saturating_add(1);
                    g.floor = Some(g.floor.map_or(next, |f| f.max(next)));
                }
            }
        }
        g
    }

    /// One step of topic `i`'s `nonce`.
    pub(super) fn advance(&mut self, i: usize, nonce: i64) {
        let gate = self.gate(i, nonce);
        self.sh.client.set_topic(self.topics[i].id);
        self.sh.client.set_sequence_floor(gate.floor);
        let t = &mut self.topics[i];
        t.state.latest_height = self.sh.latest_height;
        t.state.block_time = self.sh.block_time;
        t.advance(&mut self.sh, nonce, gate.busy);
        self.after_topic(i);
    }

    /// Steps the machines of windows past their end, in every topic (each
    /// finishes: served if a tx of ours landed, else missed with its reason).
    fn expire_windows(&mut self) {
        let now = self.sh.now_ms();
        for i in 0..self.topics.len() {
            let t = &self.topics[i];
            if t.stopped.is_some() {
                continue;
            }
            for nonce in schedule::expired(&t.state, t.ledger.state(), now) {
                self.advance(i, nonce);
            }
        }
    }

    /// Opens the websocket (it reconnects by itself afterwards): one
    /// subscription for every topic. `once` never opens one.
    fn connect_ws(&mut self) {
        let now = self.sh.now_ms();
        if self.sh.opts.once {
            self.sh.ws_connected = true;
            return;
        }
        let emissions = match self.sh.client.emissions() {
            Ok(e) => e,
            Err(e) => return self.ws_failed(now, &e.to_string()),
        };
        let ids: Vec<u64> = self.topics.iter().map(|t| t.id).collect();
        let c = self.sh.config;
        match WsClient::connect(&c.ws_url, &ids, emissions, c.connect_timeout, c.ws_silence) {
            Ok(ws) => {
                self.sh.ws = Some(ws);
                self.sh.ws_connected = true;
                self.sh.ws_last_frame_ms = now;
                self.topics
                    .iter_mut()
                    .for_each(|t| t.state.need_window_status = true);
            }
            Err(e) => self.ws_failed(now, &e.to_string()),
        }
    }

    fn ws_failed(&mut self, now: u64, why: &str) {
        log::warn!(
            "WARNING websocket {}: {why}; polling every {:?} meanwhile",
            self.sh.config.ws_url,
            self.sh.opts.poll_interval
        );
        self.sh.ws_retry_at_ms = now + WS_RETRY_MS;
    }

    /// Waits for a websocket event or `until_ms`, in slices of at most 1 s so
    /// a stop request is seen quickly; a window event goes to its topic.
    fn wait(&mut self, until_ms: u64) {
        let sh = &mut self.sh;
        let slice = until_ms.saturating_sub(sh.now_ms()).min(1_000);
        let deadline = Instant::now() + Duration::from_millis(slice);
        let intended = sh.now_ms() + slice;
        let (mut first, mut refreshed) = (true, false);
        loop {
            // The first event waits until the deadline; the rest of a frame
            // (several topics' windows in one block) is taken at once.
            let until = if first { deadline } else { Instant::now() };
            match sh.ws.as_mut().map(|ws| ws.next_event(until)) {
                Some(Ok(Some(WsEvent::Window(w)))) => {
                    if let Some(t) = self.topics.iter_mut().find(|t| t.id == w.topic_id) {
                        (t.state.latest_height, t.state.block_time) =
                            (sh.latest_height, sh.block_time);
                        sh.client.set_topic(t.id);
                        // The height comes from block headers, never from an
                        // event: read once for the events of one frame.
                        if !refreshed {
                            refreshed = true;
                            if let Err(e) = t.refresh_tip(sh) {
                                log::warn!("WARNING latest block: {e}");
                            }
                        }
                        t.open_window(sh, w.nonce, Some(w.window_end));
                        (sh.latest_height, sh.block_time) =
                            (t.state.latest_height, t.state.block_time);
                    }
                }
                Some(Ok(Some(WsEvent::Connected))) => self
                    .topics
                    .iter_mut()
                    .for_each(|t| t.state.need_window_status = true),
                Some(Ok(None)) => break,
                Some(Err(e)) => {
                    log::warn!("WARNING websocket: {e}");
                    break;
                }
                None => {
                    signals::sleep_until(deadline);
                    break;
                }
            }
            first = false;
        }
        sh.ws_last_frame_ms = sh.now_ms();
        sh.loop_lag_ms = sh.now_ms().saturating_sub(intended);
    }

    /// Topic `i`'s heartbeat: the balance (one query, every topic's
    /// counters), the runway over every topic's fees, then its own log line.
    pub(super) fn heartbeat(&mut self, i: usize) {
        self.sh.client.set_topic(self.topics[i].id);
        if let Ok(b) = self.sh.client.balance(self.sh.wallet.address()) {
            self.update_runway(b);
        }
        self.topics[i].heartbeat(&mut self.sh);
        self.write_status();
    }

    /// Days of submissions the balance pays for, every topic's fees counted
    /// (the same figure `check` shows); a warning under 3 days.
    fn update_runway(&mut self, balance: u128) {
        let spb = self.sh.client.seconds_per_block().unwrap_or(5.0);
        let mut costs = Vec::new();
        for t in &mut self.topics {
            let data_fee = t.params.as_ref().map_or(0, |p| p.data_sending_fee);
            let per_window = self.sh.client.fee_per_submission(data_fee);
            t.counters.fee_per_submission_uallo = Some(per_window);
            t.counters.balance_uallo = Some(balance);
            let epoch = t.topic.as_ref().map_or(720, |t| t.epoch_length);
            if t.stopped.is_none() {
                costs.push((per_window, epoch));
            }
        }
        let days = crate::logic::submit::runway_days_all(balance, &costs, spb);
        let rounded = days.is_finite().then_some((days * 10.0).round() / 10.0);
        self.topics
            .iter_mut()
            .for_each(|t| t.counters.runway_days = rounded);
        if days < 3.0 {
            crate::io::logging::event(
                crate::logic::event::Kind::Warning,
                &format!(
                    "balance {balance} uallo pays for about {days:.1} more days of submissions; fund {}",
                    self.sh.wallet.address()
                ),
                json!({"balance_uallo": balance.to_string(), "runway_days": days}),
            );
        }
    }

    /// Writes status.json (the first topic's keys at the top, as with one
    /// topic, and `topics`: a section per topic), the metrics file (every
    /// metric labelled `topic`) and the systemd status.
    pub(super) fn write_status(&mut self) {
        let now_ms = self.sh.now_ms();
        let now = clock::now_utc().unix_timestamp();
        let pid = std::process::id();
        let mut sections = serde_json::Map::new();
        let mut metrics = Vec::new();
        let (mut submitted, mut missed, mut last_window) = (0, 0, None);
        let mut problems = Vec::new();
        for t in &mut self.topics {
            t.state.last_status_ms = Some(now_ms);
            t.counters.cycles = self.sh.cycles;
            t.counters.loop_lag_ms = self.sh.loop_lag_ms;
            t.counters.max_step_ms = self.sh.max_step_ms;
            let mut status = t.counters.status_json(now, pid);
            status["score"] = t.score.summary().clone();
            status["topic_id"] = json!(t.id);
            sections.insert(t.id.to_string(), status);
            metrics.push((t.id, t.counters.prometheus(now) + &t.score.prometheus()));
            submitted += t.counters.submitted;
            missed += t.counters.missed_total();
            last_window = last_window.max(t.counters.last_window);
            if let Some(p) = &t.counters.problem {
                problems.push(format!("topic {}: {p}", t.id));
            }
        }
        let first = self.topics.first().map(|t| t.id.to_string());
        let mut status = first
            .and_then(|id| sections.get(&id).cloned())
            .unwrap_or(Value::Null);
        status["topics"] = Value::Object(sections);
        let path = self.sh.config.data_dir.join("status.json");
        if let Err(e) = atomic::write(&path, format!("{status:#}\n").as_bytes()) {
            log::warn!("WARNING {e}");
        }
        if let Some(file) = &self.sh.opts.metrics_file {
            let text = crate::logic::counters::label_topics(&metrics);
            if let Err(e) = atomic::write(file, text.as_bytes()) {
                log::warn!("WARNING {e}");
            }
        }
        let problem = if problems.is_empty() {
            "ok".to_string()
        } else if self.topics.len() == 1 {
            self.topics[0].counters.problem.clone().unwrap_or_default()
        } else {
            problems.join("; ")
        };
        let line = format!(
            "STATUS=last window {}, {submitted} submitted, {missed} missed; {problem}",
            last_window.map_or("none".into(), |n| n.to_string()),
        );
        self.sh.notifier.send(&line);
    }
}
