//! HTTP to the chain: one ureq agent (rustls + ring, connect and read
//! timeouts from config, and `timeout_global` = connect + read: one call,
//! connect to the last body byte, never takes longer) and an endpoint list per kind (LCD REST, CometBFT
//! RPC; never mixed) with failover in order and a per-endpoint cool-down.
//!
//! A step budget (the agent opens one per loop step): every call inside it
//! gets `timeout_global` = `logic::schedule::call_limit` (its bound, cut to
//! the budget left); a call with too little left is not started and fails at
//! once as `Error::StepBudget` (never reached a node: `Sent::NotSent`); a
//! call the budget cut short is `Error::StepBudget` too (a POST's answer
//! still unknown: `Sent::Lost`). Neither cools the endpoint down.
//!
//! An endpoint fails when it cannot be reached, times out, answers 429 or
//! 5xx, or sends a body that is not JSON (HTML error page, empty, truncated);
//! the request then moves to the next endpoint. A 2xx or other 4xx with a JSON
//! body is an answer and goes back to the caller. Errors name the endpoint
//! (credentials removed) and the path. Decides nothing about chain semantics.

use std::time::{Duration, Instant};

use ureq::Agent;

use crate::config::{redact_url, Config};
use crate::error::{Error, Result};
use crate::logic::schedule::{call_limit, STEP_SLACK};

/// Largest response body read (bytes).
const BODY_LIMIT: u64 = 8 << 20;

/// Which endpoint list a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Cosmos LCD REST gateway.
    Lcd,
    /// CometBFT RPC.
    Rpc,
}

/// An answer: the status (2xx or a non-429 4xx) and a body that parses as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// True for 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How a single POST went.
#[derive(Debug)]
pub enum Sent {
    /// The server answered.
    Reply(Reply),
    /// No connection was made: the request never reached the server.
    NotSent(Error),
    /// The request may have reached the server; its answer is unknown.
    Lost(Error),
}

struct Endpoint {
    url: String,
    failed_at: Option<Instant>,
}

/// The agent and the endpoint lists.
pub struct Http {
    agent: Agent,
    lcd: Vec<Endpoint>,
    rpc: Vec<Endpoint>,
    cooldown: Duration,
    /// One call's bound: connect + read timeout.
    full: Duration,
    /// The open step budget's end, if any.
    deadline: Option<Instant>,
}

/// Builds the one agent with the configured timeouts.
pub fn agent(connect: Duration, read: Duration) -> Agent {
    Agent::config_builder()
        .timeout_global(Some(connect + read))
        .timeout_connect(Some(connect))
        .timeout_recv_response(Some(read))
        .timeout_recv_body(Some(read))
        .timeout_send_body(Some(read))
        .http_status_as_error(false)
        .user_agent(concat!("allora-worker/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

impl Http {
    /// The client for `config`'s endpoints and timeouts.
    pub fn new(config: &Config) -> Http {
        let list = |urls: &[String]| {
            urls.iter()
                .map(|u| Endpoint {
                    url: u.trim_end_matches('/').to_string(),
                    failed_at: None,
                })
                .collect()
        };
        Http {
            agent: agent(config.connect_timeout, config.read_timeout),
            lcd: list(&config.lcd_urls),
            rpc: list(&config.rpc_urls),
            cooldown: config.endpoint_cooldown,
            full: config.connect_timeout + config.read_timeout,
            deadline: None,
        }
    }

    /// Opens a step budget at `now`: the calls until the next `open_step`
    /// together end by one call bound + `STEP_SLACK`.
    pub fn open_step(&mut self, now: Instant) {
        self.deadline = Some(now + self.full + STEP_SLACK);
    }

    /// The `timeout_global` of a call to `base` + `path` starting now, or
    /// the "not started" error once the step budget is spent.
    fn limit(&self, base: &str, path: &str) -> Result<Duration> {
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        call_limit(self.full, left).ok_or_else(|| self.spent(base, path, false))
    }

    /// The step budget's error for a call not started, or `started` and
    /// cut short by it.
    fn spent(&self, base: &str, path: &str, started: bool) -> Error {
        Error::StepBudget {
            path: format!("{}{path}", redact_url(base)),
            budget_ms: (self.full + STEP_SLACK).as_millis() as u64,
            started,
        }
    }

    /// The configured base URLs of `kind`, in order.
    pub fn endpoints(&self, kind: Kind) -> Vec<String> {
        self.list(kind).iter().map(|e| e.url.clone()).collect()
    }

    fn list(&self, kind: Kind) -> &Vec<Endpoint> {
        match kind {
            Kind::Lcd => &self.lcd,
            Kind::Rpc => &self.rpc,
        }
    }

    fn list_mut(&mut self, kind: Kind) -> &mut Vec<Endpoint> {
        match kind {
            Kind::Lcd => &mut self.lcd,
            Kind::Rpc => &mut self.rpc,
        }
    }

    /// Endpoint indices to try: those not cooling down first, in order;
    /// then the cooling ones, the one that failed longest ago first.
    fn order(&self, kind: Kind, now: Instant) -> Vec<usize> {
        let list = self.list(kind);
        let cooling = |i: usize| {
            list[i]
                .failed_at
                .is_some_and(|t| now.duration_since(t) < self.cooldown)
        };
        let mut idx: Vec<usize> = (0..list.len()).collect();
        idx.sort_by_key(|&i| (cooling(i), cooling(i).then_some(list[i].failed_at), i));
        idx
    }

    /// GET `path` with failover.
    pub fn get(&mut self, kind: Kind, path: &str) -> Result<Reply> {
        self.request(kind, path, None, usize::MAX)
    }

    /// POST a JSON `body` with failover (for idempotent calls such as simulate).
    pub fn post(&mut self, kind: Kind, path: &str, body: &str) -> Result<Reply> {
        self.request(kind, path, Some(body), usize::MAX)
    }

    /// POST to one endpoint only (the first not cooling down): a broadcast,
    /// whose unknown outcome the caller must resolve before trying again.
    /// Says whether a failed POST can have reached the node.
    pub fn post_once(&mut self, kind: Kind, path: &str, body: &str) -> Sent {
        let Some(i) = self.order(kind, Instant::now()).into_iter().next() else {
            return Sent::NotSent(summarise(Vec::new(), path));
        };
        let base = self.list(kind)[i].url.clone();
        if let Err(e) = self.limit(&base, path) {
            return Sent::NotSent(e);
        }
        match self.exchange(&base, path, Some(body), false) {
            Ok(reply) => {
                self.list_mut(kind)[i].failed_at = None;
                Sent::Reply(reply)
            }
            Err((e, reached)) => {
                self.failed(kind, i, &e);
                if reached {
                    Sent::Lost(e)
                } else {
                    Sent::NotSent(e)
                }
            }
        }
    }

    /// POST with failover where a 5xx carrying a JSON `message` is an answer
    /// (a simulate that ran the messages), not an endpoint failure.
    pub fn post_answer(&mut self, kind: Kind, path: &str, body: &str) -> Result<Reply> {
        let order = self.order(kind, Instant::now());
        let mut failures: Vec<Error> = Vec::new();
        for i in order {
            let base = self.list(kind)[i].url.clone();
            if let Err(e) = self.limit(&base, path) {
                failures.push(e);
                break;
            }
            match self.exchange(&base, path, Some(body), true) {
                Ok(reply) => {
                    self.list_mut(kind)[i].failed_at = None;
                    return Ok(reply);
                }
                Err((e, _)) => {
                    let spent = self.failed(kind, i, &e);
                    failures.push(e);
                    if spent {
                        break;
                    }
                }
            }
        }
        Err(summarise(failures, path))
    }

    /// Cools endpoint `i` down after `e`, unless the step budget cut the
    /// call short (no fault of the endpoint): then says the budget is spent.
    fn failed(&mut self, kind: Kind, i: usize, e: &Error) -> bool {
        if matches!(e, Error::StepBudget { .. }) {
            return true;
        }
        self.list_mut(kind)[i].failed_at = Some(Instant::now());
        false
    }

    fn request(
        &mut self,
        kind: Kind,
        path: &str,
        body: Option<&str>,
        tries: usize,
    ) -> Result<Reply> {
        let order = self.order(kind, Instant::now());
        let mut failures: Vec<Error> = Vec::new();
        for i in order.into_iter().take(tries) {
            let base = self.list(kind)[i].url.clone();
            if let Err(e) = self.limit(&base, path) {
                failures.push(e);
                break;
            }
            match self.once(&base, path, body) {
                Ok(reply) => {
                    self.list_mut(kind)[i].failed_at = None;
                    return Ok(reply);
                }
                Err(e) => {
                    log::debug!("endpoint failed: {e}");
                    let spent = self.failed(kind, i, &e);
                    failures.push(e);
                    if spent {
                        break;
                    }
                }
            }
        }
        Err(summarise(failures, path))
    }

    /// One request to `base` + `path`, without failover; errors name both.
    pub fn once(&self, base: &str, path: &str, body: Option<&str>) -> Result<Reply> {
        self.exchange(base, path, body, false).map_err(|(e, _)| e)
    }

    /// One request; on failure also whether the request can have reached
    /// the server (false only when the connection was never made).
    fn exchange(
        &self,
        base: &str,
        path: &str,
        body: Option<&str>,
        answer_5xx: bool,
    ) -> std::result::Result<Reply, (Error, bool)> {
        // Feeds the watchdog on the way in and out: only the call itself
        // (at most connect + read timeout, `timeout_global`) goes unpinged.
        crate::io::notify::watchdog();
        let result = self.exchange_inner(base, path, body, answer_5xx);
        crate::io::notify::watchdog();
        result
    }

    fn exchange_inner(
        &self,
        base: &str,
        path: &str,
        body: Option<&str>,
        answer_5xx: bool,
    ) -> std::result::Result<Reply, (Error, bool)> {
        let url = format!("{base}{path}");
        let fail = |problem: String| Error::Http {
            endpoint: redact_url(base),
            path: path.to_string(),
            problem,
        };
        let limit = self.limit(base, path).map_err(|e| (e, false))?;
        let sent = match body {
            None => self
                .agent
                .get(&url)
                .config()
                .timeout_global(Some(limit))
                .build()
                .call(),
            Some(b) => self
                .agent
                .post(&url)
                .config()
                .timeout_global(Some(limit))
                .build()
                .header("Content-Type", "application/json")
                .send(b),
        };
        let cut = |e: &ureq::Error| {
            limit < self.full && matches!(e, ureq::Error::Timeout(ureq::Timeout::Global))
        };
        let mut resp = sent.map_err(|e| {
            let reached = !never_connected(&e);
            match cut(&e) {
                true => (self.spent(base, path, true), reached),
                false => (fail(e.to_string()), reached),
            }
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| match cut(&e) {
                true => (self.spent(base, path, true), true),
                false => (fail(format!("HTTP {status}, body unreadable: {e}")), true),
            })?;
        let json = serde_json::from_str::<serde_json::Value>(&text).ok();
        let answer =
            answer_5xx && status >= 500 && json.as_ref().is_some_and(|v| v["message"].is_string());
        if status == 429 || (status >= 500 && !answer) {
            return Err((fail(format!("HTTP {status}")), true));
        }
        if json.is_none() {
            let head: String = text.chars().take(40).collect();
            return Err((
                fail(format!(
                    "HTTP {status} with a body that is not JSON: {head:?}"
                )),
                true,
            ));
        }
        Ok(Reply { status, body: text })
    }
}

/// True when a request failed before a connection existed.
fn never_connected(e: &ureq::Error) -> bool {
    use ureq::Timeout;
    match e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Timeout(t) => matches!(t, Timeout::Connect | Timeout::Resolve),
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

fn summarise(mut failures: Vec<Error>, path: &str) -> Error {
    let others = failures.len().saturating_sub(1);
    match failures.pop() {
        Some(Error::Http {
            endpoint,
            path,
            problem,
        }) if others > 0 => Error::Http {
            endpoint,
            path,
            problem: format!("{problem} (and {others} other endpoint(s) failed)"),
        },
        Some(e) => e,
        None => Error::Http {
            endpoint: "-".into(),
            path: path.to_string(),
            problem: "no endpoint configured".into(),
        },
    }
}
