//! The daemon: one thread, one blocking loop. `logic::schedule` decides the
//! next `Action` from what the worker knows; the handlers in `steps.rs` and
//! `submit.rs` carry it out through `io` and feed the result back into the
//! state. This is the only module that uses both layers.
//!
//! Invariants: the ledger record of a signed tx is fsync'd before its
//! broadcast; a nonce whose tx may still land is never signed again; every
//! window that ends unserved is counted as missed with a reason; nothing
//! here sleeps except through `io::signals::sleep_until` or the websocket's
//! bounded read, so a stop request is seen within a second.

mod drive;
mod forecast;
mod score;
mod steps;
mod submit;
mod windows;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use time::OffsetDateTime;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::chain::Client;
use crate::io::claim::Claim;
use crate::io::ledger::{self, LedgerFile};
use crate::io::lock::{self, Lock};
use crate::io::notify::Notifier;
use crate::io::ws::WsClient;
use crate::io::{clock, logging, signals};
use crate::logic::chain_json::{Params, Topic};
use crate::logic::counters::{Counters, Miss};
use crate::logic::event::Kind;
use crate::logic::schedule::{self, Action, State, Timers};
use crate::logic::submission::{Event, Submission};
use crate::logic::topic_fit::SchedulerMode;
use crate::logic::wallet::Wallet;

pub use drive::{perform, submit_blocking, REGISTER_TIMEOUT_BLOCKS};
pub use forecast::Forecaster;

/// How the daemon runs (from `run` / `once` / `demo` flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Serve what is open now, then exit (`once`).
    pub once: bool,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub retrain: Duration,
    pub start_at: Option<OffsetDateTime>,
    pub stop_at: Option<OffsetDateTime>,
    pub metrics_file: Option<PathBuf>,
    /// Submitted when no forecast is possible (only when set explicitly).
    pub fallback_value: Option<f64>,
    pub predict_cmd: Option<String>,
    pub predict_timeout: Duration,
    /// Market data from a CSV instead of Tiingo.
    pub csv: Option<PathBuf>,
    /// Stop after this many windows have been finished (served or missed).
    pub max_windows: Option<u64>,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            once: false,
            poll_interval: Duration::from_secs(120),
            heartbeat: Duration::from_secs(3600),
            retrain: Duration::from_secs(6 * 3600),
            start_at: None,
            stop_at: None,
            metrics_file: None,
            fallback_value: None,
            predict_cmd: None,
            predict_timeout: Duration::from_secs(30),
            csv: None,
            max_windows: None,
            seed: 0,
        }
    }
}

/// What the run did, for the shutdown summary, `demo` and tests.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub counters: Counters,
    /// Nonces finished by this run and how: "included", "already", "missed: …".
    pub nonces: BTreeMap<i64, String>,
    /// Window-open event → broadcast reaching the node, per nonce.
    pub latencies: Vec<Duration>,
    /// Failed attempts (each retried later while the window is open).
    pub errors: u64,
    pub uptime: Duration,
}

/// The daemon's state and its connections.
pub struct Agent<'a> {
    config: &'a Config,
    wallet: &'a Wallet,
    opts: Options,
    client: Client,
    ws: Option<WsClient>,
    ledger: LedgerFile,
    forecast: Forecaster,
    score: score::Scorer,
    state: State,
    timers: Timers,
    counters: Counters,
    topic: Option<Topic>,
    params: Option<Params>,
    /// The submission machine of each nonce being served.
    subs: BTreeMap<i64, Submission>,
    /// A machine's next event, when it is ready for the next loop turn.
    pending: BTreeMap<i64, Event>,
    /// The predicted value of each nonce being served.
    values: BTreeMap<i64, f64>,
    miss_reason: BTreeMap<i64, Miss>,
    opened_at: BTreeMap<i64, Instant>,
    summary: Summary,
    notifier: Notifier,
    epoch: Instant,
    fatal: Option<Error>,
    last_low_balance_log: Option<Instant>,
    /// The chain's scheduler, detected by each probe.
    mode: SchedulerMode,
    /// The first and the newest block header this process read (block rate).
    first_header: Option<(u64, OffsetDateTime)>,
    last_header: Option<(u64, OffsetDateTime)>,
    /// The sequence of the newest tx this process signed.
    last_sequence: Option<u64>,
    last_conflict_log: Option<Instant>,
    /// Ledger nonces already reported as not matching the chain.
    stale_seen: std::collections::BTreeSet<i64>,
}

/// Runs the daemon until a stop request, `--stop-at`, `once` finishing, or
/// `max_windows`. Holds the singleton lock for the whole run.
pub fn run(config: &Config, wallet: &Wallet, opts: Options) -> Result<Summary> {
    let lock_path = lock::path_for(
        &config.data_dir,
        &config.chain_id,
        config.topic_id,
        wallet.address(),
    );
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::io(format!("create {}", config.data_dir.display()), e))?;
    let _claim = Claim::acquire(
        &config.chain_id,
        config.topic_id,
        wallet.address(),
        &config.data_dir,
    )?;
    let _lock = Lock::acquire(&lock_path)?;
    check_metrics_file(&opts)?;
    warn_short_watchdog(config);
    let mut agent = Agent::new(config, wallet, opts)?;
    agent.startup();
    // Ready once configured and locked, also while waiting for --start-at:
    // a chain that is down shows in STATUS and the metrics; systemd must
    // not restart us for it.
    agent.notifier.send("READY=1");
    agent.wait_for_start();
    while !agent.finished() {
        crate::io::notify::watchdog();
        signals::take_sighup();
        let step = Instant::now();
        agent.client.open_step(step);
        agent.mark_closed();
        agent.expire_windows();
        agent.note_step(step, false);
        let action = schedule::next(
            &agent.state,
            agent.ledger.state(),
            agent.now_ms(),
            &agent.timers,
        );
        log::debug!("action {action:?}");
        agent.counters.cycles += 1;
        let step = Instant::now();
        agent.client.open_step(step);
        let waiting = matches!(action, Action::Wait { .. });
        match action {
            Action::Probe => agent.probe(),
            Action::ConnectWs => agent.connect_ws(),
            Action::CheckWindowStatus => agent.check_window_status(),
            Action::Poll => agent.poll(),
            Action::CheckClose => agent.check_close(),
            Action::Train => agent.train(),
            Action::Reconcile(nonce) | Action::Submit(nonce) => agent.advance(nonce),
            Action::Heartbeat => agent.heartbeat(),
            Action::WriteStatus => agent.write_status(),
            Action::Wait { until_ms } => agent.wait(until_ms),
        }
        agent.note_step(step, waiting);
    }
    agent.shutdown()
}

/// Refuses a `--metrics-file` that cannot be written, at start rather than
/// with a warning a minute later (writes an empty file, which the textfile
/// collector reads as no metrics; the first status write fills it).
fn check_metrics_file(opts: &Options) -> Result<()> {
    let Some(path) = &opts.metrics_file else {
        return Ok(());
    };
    crate::io::atomic::write(path, b"").map_err(|e| {
        Error::Usage(format!(
            "--metrics-file {} cannot be written: {e}",
            path.display()
        ))
    })
}

/// One HTTP call may block for connect + read timeout without a watchdog
/// ping; a `WATCHDOG_USEC` shorter than twice that risks a kill.
fn warn_short_watchdog(config: &Config) {
    let Some(usec) = crate::io::notify::watchdog_usec() else {
        return;
    };
    let need = 2 * (config.connect_timeout + config.read_timeout);
    if usec < need {
        log::warn!(
            "WARNING the systemd watchdog ({} s) is shorter than twice ALLORA_CONNECT_TIMEOUT + ALLORA_READ_TIMEOUT ({} s): one slow HTTP call can get the worker killed; raise WatchdogSec= to {} or more",
            usec.as_secs_f64(),
            need.as_secs_f64(),
            need.as_secs_f64().ceil()
        );
    }
}

impl<'a> Agent<'a> {
    fn new(config: &'a Config, wallet: &'a Wallet, opts: Options) -> Result<Agent<'a>> {
        let path = ledger::path_for(
            &config.data_dir,
            &config.chain_id,
            config.topic_id,
            wallet.address(),
        );
        let (ledger, skipped) = LedgerFile::open(&path)?;
        if skipped > 0 {
            log::warn!(
                "WARNING ledger {}: skipped {skipped} unreadable line(s) (a crash mid-write)",
                path.display()
            );
        }
        let timers = Timers {
            poll_ms: opts.poll_interval.as_millis() as u64,
            heartbeat_ms: opts.heartbeat.as_millis() as u64,
            retrain_ms: opts.retrain.as_millis() as u64,
            ws_silence_ms: u64::MAX / 4,
            status_ms: 60_000.min(opts.heartbeat.as_millis() as u64),
            close_check_ms: 1_000,
        };
        let started_at = clock::now_utc().unix_timestamp();
        Ok(Agent {
            client: Client::new(config)?,
            forecast: Forecaster::new(config, &opts),
            score: score::Scorer::open(config, wallet)?,
            counters: Counters {
                started_at,
                ..Counters::default()
            },
            config,
            wallet,
            opts,
            ws: None,
            ledger,
            state: State::default(),
            timers,
            topic: None,
            params: None,
            subs: BTreeMap::new(),
            pending: BTreeMap::new(),
            values: BTreeMap::new(),
            miss_reason: BTreeMap::new(),
            opened_at: BTreeMap::new(),
            summary: Summary::default(),
            notifier: Notifier::from_env(),
            epoch: Instant::now(),
            fatal: None,
            last_low_balance_log: None,
            mode: SchedulerMode::Blocks,
            first_header: None,
            last_header: None,
            last_sequence: None,
            last_conflict_log: None,
            stale_seen: Default::default(),
        })
    }

    /// Keeps the longest loop step (`max_step_ms`): a step's duration, or
    /// for a wait how long it held the loop past its deadline.
    fn note_step(&mut self, started: Instant, waited: bool) {
        let ms = if waited {
            self.counters.loop_lag_ms
        } else {
            started.elapsed().as_millis() as u64
        };
        self.counters.max_step_ms = self.counters.max_step_ms.max(ms);
    }

    /// Milliseconds on the monotonic clock since the agent started.
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn startup(&mut self) {
        let unresolved = self.ledger.state().unresolved();
        logging::event(
            Kind::Startup,
            &format!(
                "worker {} starting for topic {} on {} ({} unresolved ledger entries)",
                self.wallet.address(),
                self.config.topic_id,
                self.config.chain_id,
                unresolved.len()
            ),
            json!({"address": self.wallet.address(), "topic_id": self.config.topic_id,
                   "chain_id": self.config.chain_id, "version": env!("CARGO_PKG_VERSION")}),
        );
        for nonce in unresolved {
            self.open_window(nonce, None);
        }
    }

    /// Waits for `--start-at` as a serving worker would idle: status.json,
    /// metrics and systemd STATUS every minute, the heartbeat on its
    /// interval, and a stop request ends the wait (and the run).
    fn wait_for_start(&mut self) {
        let Some(start) = self.opts.start_at else {
            return;
        };
        let at = crate::logic::human::rfc3339(start);
        let mut logged: Option<Instant> = None;
        let mut heartbeat_at = Instant::now() + self.opts.heartbeat;
        loop {
            let left = start - clock::now_utc();
            if left <= time::Duration::ZERO || signals::stop_requested() {
                self.counters.problem = None;
                return;
            }
            let left = Duration::from_secs_f64(left.as_seconds_f64());
            if logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                logged = Some(Instant::now());
                log::info!(
                    "waiting for --start-at {at} (in {})",
                    crate::logic::human::duration(left)
                );
            }
            self.counters.problem = Some(format!("waiting until {at} (--start-at)"));
            if Instant::now() >= heartbeat_at {
                heartbeat_at = Instant::now() + self.opts.heartbeat;
                self.heartbeat();
            } else {
                self.write_status();
            }
            let slice = left.min(Duration::from_secs(60)).min(self.opts.heartbeat);
            signals::sleep_until(Instant::now() + slice);
        }
    }

    fn finished(&mut self) -> bool {
        if signals::stop_requested() || self.fatal.is_some() {
            return true;
        }
        if let Some(stop) = self.opts.stop_at {
            if clock::now_utc() >= stop {
                log::info!("--stop-at {stop} reached");
                return true;
            }
        }
        if let Some(max) = self.opts.max_windows {
            if self.summary.nonces.len() as u64 >= max {
                return true;
            }
        }
        self.opts.once
            && self.state.probed
            && self.state.last_poll_ms.is_some()
            && !self.state.need_window_status
            && self
                .state
                .open
                .keys()
                .all(|n| self.ledger.state().next(*n) == crate::logic::ledger::Next::Finished)
    }

    fn shutdown(mut self) -> Result<Summary> {
        // The last status write is a step of its own: a fresh budget.
        self.client.open_step(Instant::now());
        self.notifier.send("STOPPING=1");
        self.write_status();
        let c = &self.counters;
        let missed: Vec<String> = c
            .missed
            .iter()
            .map(|(m, n)| format!("{}={n}", m.name()))
            .collect();
        let uptime = self.epoch.elapsed();
        logging::event(
            Kind::Shutdown,
            &format!(
                "shutdown after {:.0} s: {} cycles, {} windows seen, {} submitted, {} missed ({})",
                uptime.as_secs_f64(),
                c.cycles,
                c.windows_seen,
                c.submitted,
                c.missed_total(),
                if missed.is_empty() {
                    "none".to_string()
                } else {
                    missed.join(", ")
                }
            ),
            json!({"cycles": c.cycles, "windows_seen": c.windows_seen, "submitted": c.submitted,
                   "missed": c.missed_total(), "uptime_s": uptime.as_secs()}),
        );
        self.summary.counters = self.counters.clone();
        self.summary.uptime = uptime;
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(self.summary),
        }
    }
}
