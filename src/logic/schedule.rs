//! The daemon's decisions: given what the worker knows (open windows, the
//! ledger, timers, connection state) and the monotonic time, what to do
//! next. Returns one `Action`; `agent.rs` carries it out and reports back.
//!
//! Pure. Chain heights drive windows (a window is open until its end block,
//! or in seconds mode until the newest block's time reaches its close);
//! the monotonic clock drives timers and retries, so a wall-clock jump
//! changes nothing here.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::logic::ledger::{Ledger, Next};
use crate::logic::window::{self, Close, Tip};

/// How often things happen, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub poll_ms: u64,
    pub heartbeat_ms: u64,
    pub retrain_ms: u64,
    pub ws_silence_ms: u64,
    pub status_ms: u64,
    /// Seconds mode: how often the newest block's time is read while a
    /// window closed by time is open (about half a block).
    pub close_check_ms: u64,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            poll_ms: 120_000,
            heartbeat_ms: 3_600_000,
            retrain_ms: 6 * 3_600_000,
            ws_silence_ms: 60_000,
            status_ms: 60_000,
            close_check_ms: 1_000,
        }
    }
}

/// A window the chain says is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Last block at which a submission is accepted, when known.
    pub end_block: Option<u64>,
    /// Seconds mode: unix seconds of block time at which it closes.
    pub close_at: Option<i64>,
    /// Earliest monotonic time for the next attempt (after a failed one).
    pub retry_at_ms: u64,
    /// Attempts made so far for this nonce in this process.
    pub attempts: u32,
}

/// Everything the scheduler looks at.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub open: BTreeMap<i64, Window>,
    pub latest_height: u64,
    /// Unix seconds of the block at `latest_height`, when read.
    pub block_time: Option<i64>,
    pub last_close_check_ms: Option<u64>,
    pub last_poll_ms: Option<u64>,
    pub last_heartbeat_ms: Option<u64>,
    pub last_status_ms: Option<u64>,
    pub model_ready: bool,
    pub model_trained_ms: Option<u64>,
    pub train_retry_at_ms: u64,
    pub ws_connected: bool,
    pub ws_retry_at_ms: u64,
    pub ws_last_frame_ms: u64,
    pub need_window_status: bool,
    pub paused_until_ms: Option<u64>,
    pub probed: bool,
    pub probe_retry_at_ms: u64,
}

/// One decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Check chain id, emissions version, topic (at start and after errors).
    Probe,
    /// (Re)connect the websocket and subscribe.
    ConnectWs,
    /// Ask the window status (after start and every reconnect).
    CheckWindowStatus,
    /// Ask the chain for unfulfilled nonces.
    Poll,
    /// Read the newest block (height and time): a window closed by time is
    /// open (seconds mode).
    CheckClose,
    /// Refresh data and train (or retrain) the model.
    Train,
    /// Look a signed-but-unconfirmed nonce up by hash (ledger says so).
    Reconcile(i64),
    /// Predict (cached), sign, record, broadcast and track this nonce.
    Submit(i64),
    /// Log the heartbeat (events, metrics).
    Heartbeat,
    /// Rewrite status.json and the metrics file.
    WriteStatus,
    /// Nothing due: wait for a websocket frame or until this monotonic time.
    Wait { until_ms: u64 },
}

/// At most this many nonces are served per cycle (newest first).
pub const MAX_NONCES_PER_CYCLE: usize = 10;

/// What one loop step may spend on HTTP beyond one call's bound: the step
/// holds the loop at most one call bound + 1 s, and this leaves the other
/// half second for the step's own work (ledger, signing, logging).
pub const STEP_SLACK: Duration = Duration::from_millis(500);

/// A call is not started with less than this left of its step's budget.
pub const MIN_CALL: Duration = Duration::from_millis(100);

/// How long one HTTP call may take (`timeout_global`): the whole per-call
/// bound `full` (connect + read), cut to what is `left` of the step's budget
/// when a step budget is open; `None` when less than `MIN_CALL` is left: the
/// call is not started and the rest of the step waits for the next turn.
pub fn call_limit(full: Duration, left: Option<Duration>) -> Option<Duration> {
    match left {
        None => Some(full),
        Some(left) if left < MIN_CALL => None,
        Some(left) => Some(full.min(left)),
    }
}

/// The next action at monotonic time `now`.
pub fn next(s: &State, ledger: &Ledger, now: u64, t: &Timers) -> Action {
    let due = |last: Option<u64>, every: u64| last.is_none_or(|l| now >= l.saturating_add(every));
    if !s.probed {
        // A chain that is down at start-up: the heartbeat and the status
        // files keep going between the probes, as when serving.
        let next_at = |last: Option<u64>, every: u64| last.map_or(now, |l| l.saturating_add(every));
        return if now >= s.probe_retry_at_ms {
            Action::Probe
        } else if due(s.last_heartbeat_ms, t.heartbeat_ms) {
            Action::Heartbeat
        } else if due(s.last_status_ms, t.status_ms) {
            Action::WriteStatus
        } else {
            Action::Wait {
                until_ms: s
                    .probe_retry_at_ms
                    .min(next_at(s.last_heartbeat_ms, t.heartbeat_ms))
                    .min(next_at(s.last_status_ms, t.status_ms)),
            }
        };
    }
    if let Some(nonce) = servable(s, ledger, now).first() {
        return match ledger.next(*nonce) {
            Next::Reconcile => Action::Reconcile(*nonce),
            _ => Action::Submit(*nonce),
        };
    }
    if !s.ws_connected && now >= s.ws_retry_at_ms {
        return Action::ConnectWs;
    }
    if s.ws_connected && now >= s.ws_last_frame_ms.saturating_add(t.ws_silence_ms) {
        return Action::ConnectWs;
    }
    if s.need_window_status {
        return Action::CheckWindowStatus;
    }
    if due(s.last_poll_ms, t.poll_ms) {
        return Action::Poll;
    }
    if watching_close(s) && due(s.last_close_check_ms, t.close_check_ms) {
        return Action::CheckClose;
    }
    let model_due = !s.model_ready || due(s.model_trained_ms, t.retrain_ms);
    if model_due && now >= s.train_retry_at_ms {
        return Action::Train;
    }
    if due(s.last_heartbeat_ms, t.heartbeat_ms) {
        return Action::Heartbeat;
    }
    if due(s.last_status_ms, t.status_ms) {
        return Action::WriteStatus;
    }
    Action::Wait {
        until_ms: wake_time(s, now, t),
    }
}

/// Open nonces that can be worked on now, newest first, at most
/// `MAX_NONCES_PER_CYCLE`: not finished in the ledger, window not past its
/// end block, retry time reached, and submissions not paused (a pending tx
/// is still reconciled while paused: that costs nothing).
pub fn servable(s: &State, ledger: &Ledger, now: u64) -> Vec<i64> {
    let paused = s.paused_until_ms.is_some_and(|p| now < p);
    s.open
        .iter()
        .rev()
        .filter(|(n, w)| {
            let next = ledger.next(**n);
            now >= w.retry_at_ms
                && !is_past(w, s)
                && next != Next::Finished
                && (!paused || next == Next::Reconcile)
        })
        .map(|(n, _)| *n)
        .take(MAX_NONCES_PER_CYCLE)
        .collect()
}

/// True when no tx sent now can land in the window: the chain passed its
/// end block, or (seconds mode) the newest block's time reached its close.
pub fn is_past(w: &Window, s: &State) -> bool {
    let tip = Tip {
        height: s.latest_height,
        time: s.block_time,
    };
    let by_block = w
        .end_block
        .is_some_and(|end| window::is_closed(Close::Block(end), tip));
    by_block
        || w.close_at
            .is_some_and(|at| window::is_closed(Close::Time(at), tip))
}

/// True while some open window closes by time and has not yet closed.
fn watching_close(s: &State) -> bool {
    s.open
        .values()
        .any(|w| w.close_at.is_some() && !is_past(w, s))
}

/// Open windows past their end block, not finished, whose next step is due:
/// their submission machine decides whether a tx of ours landed.
pub fn expired(s: &State, ledger: &Ledger, now: u64) -> Vec<i64> {
    s.open
        .iter()
        .filter(|(n, w)| {
            is_past(w, s) && ledger.next(**n) != Next::Finished && now >= w.retry_at_ms
        })
        .map(|(n, _)| *n)
        .collect()
}

fn wake_time(s: &State, now: u64, t: &Timers) -> u64 {
    let mut at = [
        s.last_poll_ms.map_or(now, |l| l + t.poll_ms),
        s.last_heartbeat_ms.map_or(now, |l| l + t.heartbeat_ms),
        s.last_status_ms.map_or(now, |l| l + t.status_ms),
        if s.model_ready {
            s.model_trained_ms.map_or(now, |l| l + t.retrain_ms)
        } else {
            s.train_retry_at_ms
        },
        if s.ws_connected {
            s.ws_last_frame_ms + t.ws_silence_ms
        } else {
            s.ws_retry_at_ms
        },
    ]
    .into_iter()
    .min()
    .unwrap_or(now + t.poll_ms);
    if watching_close(s) {
        at = at.min(s.last_close_check_ms.map_or(now, |l| l + t.close_check_ms));
    }
    for w in s.open.values() {
        if w.retry_at_ms > now {
            at = at.min(w.retry_at_ms);
        }
    }
    at.max(now)
}

/// The last block of `nonce`'s window of `len` blocks; None for a nonce
/// that is not a positive height or a sum that overflows.
pub fn window_end(nonce: i64, len: u64) -> Option<u64> {
    u64::try_from(nonce)
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_add(len))
}

/// Retry delay after the `attempt`-th failure for one nonce: 2 s doubling to 30 s.
pub fn nonce_retry_delay_ms(attempt: u32) -> u64 {
    (2_000u64 << attempt.min(4)).min(30_000)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_call_gets_its_bound_cut_to_the_step_budget_left() {
        let full = Duration::from_secs(3);
        let ms = Duration::from_millis;
        assert_eq!(
            call_limit(full, None),
            Some(full),
            "no budget: the whole bound"
        );
        assert_eq!(call_limit(full, Some(ms(3_500))), Some(full));
        assert_eq!(call_limit(full, Some(ms(400))), Some(ms(400)));
        assert_eq!(call_limit(full, Some(MIN_CALL)), Some(MIN_CALL));
        assert_eq!(call_limit(full, Some(ms(99))), None, "too little left");
        assert_eq!(call_limit(full, Some(Duration::ZERO)), None);
        // The step: every call ends by the budget, so HTTP holds the loop
        // at most one bound + STEP_SLACK, under the one bound + 1 s.
        assert!(STEP_SLACK + MIN_CALL < Duration::from_secs(1));
    }

    use super::*;
    use crate::logic::ledger::{Record, Stage};

    fn ready() -> State {
        State {
            probed: true,
            ws_connected: true,
            ws_last_frame_ms: 1_000,
            last_poll_ms: Some(1_000),
            last_heartbeat_ms: Some(1_000),
            last_status_ms: Some(1_000),
            model_ready: true,
            model_trained_ms: Some(1_000),
            latest_height: 100,
            ..State::default()
        }
    }

    fn check(s: &State, ledger: &Ledger, now: u64, expected: Action) {
        assert_eq!(
            next(s, ledger, now, &Timers::default()),
            expected,
            "state {s:?}"
        );
    }

    fn window(end: u64) -> Window {
        Window {
            end_block: Some(end),
            close_at: None,
            retry_at_ms: 0,
            attempts: 0,
        }
    }

    #[test]
    fn a_chain_down_at_start_still_gets_heartbeats_and_status() {
        let l = Ledger::default();
        let t = Timers::default();
        let mut s = State {
            probe_retry_at_ms: 30_000,
            ..State::default()
        };
        check(&s, &l, 1_000, Action::Heartbeat);
        s.last_heartbeat_ms = Some(1_000);
        check(&s, &l, 1_000, Action::WriteStatus);
        s.last_status_ms = Some(1_000);
        let until_ms = 30_000u64
            .min(1_000 + t.status_ms)
            .min(1_000 + t.heartbeat_ms);
        check(&s, &l, 1_000, Action::Wait { until_ms });
        check(&s, &l, 30_000, Action::Probe);
    }

    #[test]
    fn order_of_decisions() {
        let l = Ledger::default();
        check(&State::default(), &l, 0, Action::Probe);
        let mut s = ready();
        check(&s, &l, 2_000, Action::Wait { until_ms: 61_000 });
        s.open.insert(90, window(120));
        s.open.insert(95, window(130));
        check(&s, &l, 2_000, Action::Submit(95));
        s.open.clear();
        s.need_window_status = true;
        check(&s, &l, 2_000, Action::CheckWindowStatus);
        s.need_window_status = false;
        s.ws_connected = false;
        check(&s, &l, 2_000, Action::ConnectWs);
        s.ws_connected = true;
        check(&s, &l, 61_000, Action::ConnectWs);
        s.ws_last_frame_ms = 100_000;
        check(&s, &l, 121_000, Action::Poll);
        s.model_ready = false;
        s.last_poll_ms = Some(121_000);
        check(&s, &l, 121_000, Action::Train);
    }

    #[test]
    fn finished_past_and_paused_nonces_are_not_served() {
        let mut s = ready();
        s.open.insert(50, window(99));
        s.open.insert(60, window(200));
        s.open.insert(70, window(200));
        let mut l = Ledger::default();
        l.apply(Record {
            nonce: 70,
            at: 0,
            stage: Stage::Done { reason: "x".into() },
        });
        assert_eq!(servable(&s, &l, 0), vec![60]);
        assert_eq!(expired(&s, &l, 0), vec![50]);
        l.apply(Record {
            nonce: 60,
            at: 0,
            stage: Stage::Signed {
                tx_hash: "H".into(),
                sequence: 1,
                tx_b64: "A".into(),
                timeout_height: 200,
            },
        });
        check(&s, &l, 2_000, Action::Reconcile(60));
        s.paused_until_ms = Some(10_000);
        check(&s, &l, 2_000, Action::Reconcile(60));
        s.open.insert(80, window(200));
        assert_eq!(
            servable(&s, &l, 2_000),
            vec![60],
            "paused: no new submissions"
        );
        assert_eq!(servable(&s, &l, 10_000), vec![80, 60]);
    }

    #[test]
    fn at_most_ten_newest_first_and_retry_waits() {
        let mut s = ready();
        for n in 0..15 {
            s.open.insert(n, window(200));
        }
        let got = servable(&s, &Ledger::default(), 0);
        assert_eq!(got, (5..15).rev().collect::<Vec<_>>());
        let mut s = ready();
        s.open.insert(
            7,
            Window {
                end_block: Some(200),
                close_at: None,
                retry_at_ms: 5_000,
                attempts: 1,
            },
        );
        check(
            &s,
            &Ledger::default(),
            2_000,
            Action::Wait { until_ms: 5_000 },
        );
        check(&s, &Ledger::default(), 5_000, Action::Submit(7));
        assert_eq!(nonce_retry_delay_ms(0), 2_000);
        assert_eq!(window_end(100, 8), Some(108));
        assert_eq!(window_end(0, 8), None);
        assert_eq!(window_end(-5, 8), None);
        assert_eq!(window_end(i64::MAX, u64::MAX), None);
        assert_eq!(nonce_retry_delay_ms(9), 30_000);
    }

    #[test]
    fn a_window_closed_by_time_is_watched_then_expired_never_served() {
        let mut s = ready();
        s.block_time = Some(1_000);
        s.open.insert(
            90,
            Window {
                end_block: None,
                close_at: Some(1_010),
                retry_at_ms: 0,
                attempts: 0,
            },
        );
        s.open.get_mut(&90).unwrap().retry_at_ms = 5_000;
        s.last_close_check_ms = Some(1_000);
        let t = Timers::default();
        check(
            &s,
            &Ledger::default(),
            1_500,
            Action::Wait { until_ms: 2_000 },
        );
        check(&s, &Ledger::default(), 2_000, Action::CheckClose);
        assert_eq!(servable(&s, &Ledger::default(), 5_000), vec![90]);
        s.block_time = Some(1_010);
        assert!(servable(&s, &Ledger::default(), 5_000).is_empty());
        assert_eq!(expired(&s, &Ledger::default(), 5_000), vec![90]);
        s.last_close_check_ms = Some(0);
        assert_ne!(next(&s, &Ledger::default(), 2_000, &t), Action::CheckClose);
    }
}
