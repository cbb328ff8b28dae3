//! Where windows end and whose chain this is: the chain tip (height and
//! block time), seconds-mode close times from the epoch record, the ledger
//! entries a restarted chain no longer matches, and evidence that another
//! signer uses this key. Decisions are `logic::window`'s; this joins them
//! to `io::chain`.

use std::time::Instant;

use serde_json::json;
use time::OffsetDateTime;

use super::topic::TopicWorker;
use super::Shared;
use crate::io::logging;
use crate::logic::event::Kind;
use crate::logic::schedule;
use crate::logic::topic_fit::SchedulerMode;
use crate::logic::window::{self, Close, Tip};

/// A key-conflict ERROR is repeated at most this often (each is counted).
const CONFLICT_LOG_EVERY_SECS: u64 = 3600;
/// A tip this many blocks below the one seen is a restarted chain (an LCD
/// lagging behind by less is just behind).
const RESTART_DROP_BLOCKS: u64 = 20;

impl TopicWorker {
    /// Reads the newest block: height and time (monotonic, never lower
    /// than what the worker saw, except through `probe`'s restart check).
    pub(super) fn refresh_tip(&mut self, sh: &mut Shared<'_>) -> crate::error::Result<Tip> {
        let h = sh.client.block(None)?;
        self.note_header(sh, h.height, h.time);
        Ok(self.tip())
    }

    fn note_header(&mut self, sh: &mut Shared<'_>, height: u64, time: OffsetDateTime) {
        if self.state.probed
            && height.saturating_add(RESTART_DROP_BLOCKS) < self.state.latest_height
        {
            log::warn!(
                "WARNING the chain's height went down from {} to {height}: the chain was restarted or reset; probing it again",
                self.state.latest_height
            );
            self.state.probed = false;
            sh.first_header = None;
            sh.last_header = None;
        }
        if height >= self.state.latest_height || self.state.block_time.is_none() {
            self.state.latest_height = height;
            self.state.block_time = Some(time.unix_timestamp());
        }
        match sh.first_header {
            Some((h0, _)) if h0 < height => sh.last_header = Some((height, time)),
            Some(_) => {}
            None => sh.first_header = Some((height, time)),
        }
    }

    pub(super) fn tip(&self) -> Tip {
        Tip {
            height: self.state.latest_height,
            time: self.state.block_time,
        }
    }

    /// Seconds per block: the chain's 100-block measure, else what this
    /// process saw between two blocks.
    fn secs_per_block(sh: &mut Shared<'_>) -> Option<f64> {
        if let Some(s) = sh.client.seconds_per_block() {
            return Some(s);
        }
        let ((h0, t0), (h1, t1)) = (sh.first_header?, sh.last_header?);
        let secs = (t1 - t0).as_seconds_f64() / (h1 - h0) as f64;
        (secs > 0.0).then_some(secs)
    }

    /// The scheduler's `CheckClose`: the newest block's time, then windows
    /// closed by it get the end block the submission machine reads.
    pub(super) fn check_close(&mut self, sh: &mut Shared<'_>) {
        self.state.last_close_check_ms = Some(sh.now_ms());
        if let Err(e) = self.refresh_tip(sh) {
            log::warn!("WARNING latest block: {e}");
        }
        self.mark_closed();
    }

    /// Seconds mode: a window the chain closed by time ends, for its
    /// machine, at the block before the one that showed it closed.
    pub(super) fn mark_closed(&mut self) {
        let height = self.state.latest_height;
        let closed: Vec<i64> = self
            .state
            .open
            .iter()
            .filter(|(_, w)| w.end_block.is_none() && schedule::is_past(w, &self.state))
            .map(|(n, _)| *n)
            .collect();
        for nonce in closed {
            let end = window::end_block_seen_closed(height);
            if let Some(w) = self.state.open.get_mut(&nonce) {
                w.end_block = Some(end);
            }
            if let Some(sub) = self.subs.get_mut(&nonce) {
                sub.limits.window_end = Some(end);
            }
        }
    }

    /// How `nonce`'s window ends: (end block, close time). Blocks mode: the
    /// end block given or nonce + the topic's window. Seconds mode: never
    /// an end block (the event's `window_end_block` is not a height), the
    /// close time from the epoch record, else the nonce's block time + the
    /// topic's window in seconds.
    pub(super) fn window_close(
        &mut self,
        sh: &mut Shared<'_>,
        nonce: i64,
        end: Option<u64>,
    ) -> (Option<u64>, Option<i64>) {
        let len = self.topic.as_ref().map(|t| t.worker_submission_window);
        if self.mode == SchedulerMode::Blocks {
            return (
                end.or_else(|| len.and_then(|l| schedule::window_end(nonce, l))),
                None,
            );
        }
        let from_epochs = match sh.client.epoch_windows() {
            Ok(list) => list.iter().find(|e| e.nonce == nonce).map(|e| e.close_at),
            Err(e) => {
                log::warn!("WARNING epochs of topic {}: {e}", self.config.topic_id);
                None
            }
        };
        let close = from_epochs.or_else(|| {
            let opened = sh.client.block_time(u64::try_from(nonce).ok()?).ok()?;
            let secs = i64::try_from(len?).ok()?;
            opened.unix_timestamp().checked_add(secs)
        });
        (None, close)
    }

    /// The timeout height of a tx signed now for a window ending at `end`
    /// (blocks) or `close_at` (seconds; 0 when the block rate is unknown).
    pub(super) fn timeout_for(
        &mut self,
        sh: &mut Shared<'_>,
        end: Option<u64>,
        close_at: Option<i64>,
    ) -> Option<u64> {
        match (end, close_at) {
            (Some(end), None) => Some(end),
            (_, Some(at)) => {
                let spb = Self::secs_per_block(sh);
                Some(window::timeout_height(Close::Time(at), self.tip(), spb))
            }
            (None, None) => None,
        }
    }

    /// After a chain restart (lower height, a reset chain): the ledger's
    /// nonces above the chain's height no longer match it. Reported in one
    /// line and counted (each once per process); unfinished ones are not
    /// served, finished ones stay finished (never signed again).
    pub(super) fn drop_stale(&mut self) {
        let mut nonces = self.ledger.state().nonces();
        nonces.extend(self.state.open.keys().copied());
        nonces.sort_unstable();
        nonces.dedup();
        let stale: Vec<i64> = window::stale_nonces(&nonces, self.state.latest_height)
            .into_iter()
            .filter(|n| !self.stale_seen.contains(n))
            .collect();
        let (Some(first), Some(last)) = (stale.first().copied(), stale.last().copied()) else {
            return;
        };
        self.counters.stale_ledger_entries += stale.len() as u64;
        logging::event(
            Kind::Warning,
            &format!(
                "ledger: {} entr{} (nonces {first}…{last}) above the chain's height {}: the chain was restarted or reset; they are not served, and a nonce finished there is not signed again",
                stale.len(),
                if stale.len() == 1 { "y" } else { "ies" },
                self.state.latest_height
            ),
            json!({"stale": stale.len(), "first": first, "last": last, "height": self.state.latest_height}),
        );
        for nonce in stale {
            self.stale_seen.insert(nonce);
            self.state.open.remove(&nonce);
            self.subs.remove(&nonce);
            self.pending.remove(&nonce);
            self.opened_at.remove(&nonce);
        }
    }

    /// A tx was signed with `sequence`: evidence of another signer when the
    /// account moved past our previous tx by more than our own tx can.
    pub(super) fn note_sequence(&mut self, sh: &mut Shared<'_>, nonce: i64, sequence: u64) {
        let ours = sh.last_sequence.replace(sequence);
        if window::sequence_moved_by_another(ours, sequence) {
            let prev = ours.unwrap_or(0);
            self.key_conflict(sh, &format!(
                "the account sequence moved from {prev} (our last tx) to {sequence} without a tx of ours (signing nonce {nonce})"
            ));
        }
    }

    /// The chain shows our inference for `nonce`, which this worker never signed.
    pub(super) fn note_unsigned_inference(&mut self, sh: &mut Shared<'_>, nonce: i64) {
        if self.ledger.state().signed(nonce).is_empty() {
            let addr = sh.wallet.address().to_string();
            self.key_conflict(sh, &format!(
                "the chain shows an inference by {addr} for nonce {nonce}, which this worker never signed"
            ));
        }
    }

    /// One ERROR (then at most hourly), the `problem`, the counter. The
    /// sequence is never fought over: each sign reads the account afresh
    /// and sdk/32 re-signs are bounded (`logic::submit::Budget`).
    fn key_conflict(&mut self, sh: &mut Shared<'_>, evidence: &str) {
        self.counters.key_conflicts += 1;
        let why = format!("another signer uses this worker's key: {evidence}");
        self.counters.problem = Some(why.clone());
        if sh
            .last_conflict_log
            .is_none_or(|t| t.elapsed().as_secs() >= CONFLICT_LOG_EVERY_SECS)
        {
            sh.last_conflict_log = Some(Instant::now());
            logging::event(
                Kind::Error,
                &format!("{why}; run one worker per key"),
                json!({"topic_id": self.id, "evidence": evidence, "address": sh.wallet.address()}),
            );
        }
        sh.status_due = true;
    }
}
