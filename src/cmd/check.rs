//! `allora-worker check` (doctor): one line per check on stdout, ✓ (fine),
//! ⚠ (a warning: low runway, clock skew) or ✗ (cannot work as configured),
//! each with its fix. Exit 0 only when nothing is ✗. Reads and probes only;
//! never pays, signs or prints a secret.

use std::ffi::OsString;
use std::path::Path;

use crate::cmd::{unexpected, Command, Ctx};
use crate::config::{redact_url, MnemonicSource, TopicSettings};
use crate::error::Result;
use crate::io::chain::Client;
use crate::io::{clock, http};
use crate::logic::chain_json::Topic;
use crate::logic::topic_fit::{self, SchedulerMode};
use crate::logic::{human, submit};

pub const COMMAND: Command = Command {
    name: "check",
    summary:
        "check configuration, key, endpoints, chain, topic, registration, funds, clock and dirs",
    needs_wallet: false,
    usage: "Usage: allora-worker check\n\n\
            One line per check: ✓ ok, ⚠ warning, ✗ cannot work (with the fix). Exit 1 if any ✗.\n",
    run,
};

/// Warn when the runway is shorter than this many days.
const LOW_RUNWAY_DAYS: f64 = 7.0;
/// Warn when the latest block time is further than this from our clock.
const MAX_SKEW_SECS: f64 = 30.0;
/// Warn below this much free space in a directory (KiB).
const LOW_SPACE_KIB: u64 = 100 * 1024;

#[derive(Default)]
struct Report {
    failed: usize,
}

impl Report {
    fn ok(&mut self, name: &str, detail: impl AsRef<str>) {
        println!("✓ {name}: {}", detail.as_ref());
    }
    fn warn(&mut self, name: &str, detail: impl AsRef<str>, fix: &str) {
        println!("⚠ {name}: {} — {fix}", detail.as_ref());
    }
    fn fail(&mut self, name: &str, detail: impl AsRef<str>, fix: &str) {
        self.failed += 1;
        println!("✗ {name}: {} — {fix}", detail.as_ref());
    }
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut parser = lexopt::Parser::from_args(args);
    if let Some(arg) = parser.next()? {
        return Err(unexpected(arg, "check"));
    }
    let c = &ctx.config;
    let mut r = Report::default();
    r.ok(
        "configuration",
        format!(
            "{:?}, chain id {}, topic {}",
            c.network, c.chain_id, c.topic_id
        ),
    );
    key_file(&mut r, &c.mnemonic, c.insecure_key_file);
    let addr = match ctx.wallet() {
        Ok(w) => {
            r.ok("address", w.address());
            Some(w.address().to_string())
        }
        Err(e) => {
            r.fail(
                "address",
                e.to_string(),
                "fix the mnemonic source (MNEMONIC_FILE)",
            );
            None
        }
    };
    let mut client = Client::new(c)?;
    endpoints(&mut r, &client);
    chain(&mut r, &mut client, addr.as_deref(), &c.topics);
    let mut tickers: Vec<&str> = c.topics.iter().map(|t| t.ticker.as_str()).collect();
    tickers.dedup();
    for ticker in tickers {
        market(&mut r, ctx, ticker, c.topics.len() > 1);
    }
    dir(&mut r, "data dir", &c.data_dir);
    dir(&mut r, "log dir", &c.log_dir);
    Ok(if r.failed == 0 { 0 } else { 1 })
}

fn key_file(r: &mut Report, source: &MnemonicSource, insecure: bool) {
    use std::os::unix::fs::PermissionsExt;
    match source {
        MnemonicSource::File(p) | MnemonicSource::Credential(p) => match std::fs::metadata(p) {
            Ok(m) if m.permissions().mode() & 0o077 == 0 => {
                r.ok("key file", format!("{} is private", p.display()))
            }
            Ok(m) if insecure => r.warn(
                "key file",
                format!(
                    "{} has mode {:o}",
                    p.display(),
                    m.permissions().mode() & 0o777
                ),
                "chmod 600 it",
            ),
            Ok(m) => r.fail(
                "key file",
                format!(
                    "{} has mode {:o}",
                    p.display(),
                    m.permissions().mode() & 0o777
                ),
                &format!("run chmod 600 {}", p.display()),
            ),
            Err(e) => r.fail(
                "key file",
                format!("{}: {e}", p.display()),
                "set MNEMONIC_FILE to a readable file",
            ),
        },
        MnemonicSource::Inline(_) => r.warn(
            "key file",
            "mnemonic given inline",
            "prefer MNEMONIC_FILE (chmod 600)",
        ),
        MnemonicSource::Missing => {
            r.fail("key file", "no mnemonic configured", "set MNEMONIC_FILE")
        }
    }
}

fn endpoints(r: &mut Report, client: &Client) {
    for e in client.endpoint_reports() {
        let name = format!("{:?} endpoint {}", e.kind, redact_url(&e.url));
        match e.result {
            Ok(h) => r.ok(&name, format!("{} ms, height {h}", e.latency.as_millis())),
            Err(why) => r.fail(
                &name,
                why,
                "check the URL in ALLORA_LCD_URLS / ALLORA_RPC_URLS",
            ),
        }
    }
}

fn chain(r: &mut Report, client: &mut Client, addr: Option<&str>, topics: &[TopicSettings]) {
    match client.check_chain_id() {
        Ok(id) => r.ok("chain id", id),
        Err(e) => {
            return r.fail(
                "chain id",
                e.to_string(),
                "point the endpoints at the right chain or fix ALLORA_CHAIN_ID",
            )
        }
    }
    match client.emissions() {
        Ok(v) => r.ok("emissions version", v.name()),
        Err(e) => {
            return r.fail(
                "emissions version",
                e.to_string(),
                "set ALLORA_EMISSIONS or upgrade allora-worker",
            )
        }
    }
    let mode = scheduler(r, client);
    let secs_per_block = client.seconds_per_block();
    let mut epochs = Vec::new();
    for t in topics {
        client.set_topic(t.id);
        // With several topics each topic's lines name it.
        let name = |n: &str| match topics.len() {
            1 => n.to_string(),
            _ => format!("{n} (topic {})", t.id),
        };
        let topic = one_topic(r, client, mode, &name);
        if let Some(topic) = &topic {
            fit(r, topic, t.target_hours, mode, secs_per_block, &name);
        }
        // In seconds mode the epoch is in seconds: the runway wants blocks.
        epochs.push(topic.map_or(720, |t| match mode {
            SchedulerMode::Blocks => t.epoch_length,
            SchedulerMode::Seconds => {
                (t.epoch_length as f64 / secs_per_block.unwrap_or(5.0)) as u64
            }
        }));
        let Some(addr) = addr else { continue };
        flag(
            r,
            &name("registered"),
            client.is_registered(addr),
            "run allora-worker register --yes",
        );
        flag(
            r,
            &name("whitelisted"),
            client.can_submit(addr),
            "ask the topic creator to whitelist the address",
        );
    }
    let Some(addr) = addr else { return };
    funds(r, client, addr, &epochs);
    skew(r, client);
}

/// The configured topic (`client.set_topic`): it exists and is active.
fn one_topic(
    r: &mut Report,
    client: &mut Client,
    mode: SchedulerMode,
    name: &dyn Fn(&str) -> String,
) -> Option<Topic> {
    match (client.topic(), client.topic_active()) {
        (Ok(t), Ok(true)) => {
            let d = format!(
                "{} epoch {} {unit}, window {} {unit}, loss {}",
                t.id,
                t.epoch_length,
                t.worker_submission_window,
                t.loss_method,
                unit = mode.unit()
            );
            r.ok(&name("topic"), d);
            Some(t)
        }
        (Ok(t), Ok(false)) => {
            r.fail(
                &name("topic"),
                format!("{} exists but is not active", t.id),
                "choose an active TOPIC_ID",
            );
            Some(t)
        }
        (Err(e), _) | (_, Err(e)) => {
            r.fail(&name("topic"), e.to_string(), "check TOPIC_ID");
            None
        }
    }
}

/// The scheduler mode (blocks unless the epochs route answers).
fn scheduler(r: &mut Report, client: &mut Client) -> SchedulerMode {
    match client.scheduler_mode() {
        Ok(m) => {
            let what = match m {
                SchedulerMode::Blocks => "blocks (windows by height)",
                SchedulerMode::Seconds => "seconds (epochs by block time, topic timing in seconds)",
            };
            r.ok("scheduler", what);
            m
        }
        Err(e) => {
            r.warn(
                "scheduler",
                e.to_string(),
                "assuming blocks; check the LCD endpoints",
            );
            SchedulerMode::Blocks
        }
    }
}

/// The topic against this worker: arity it can encode, horizon, loss, labels.
fn fit(
    r: &mut Report,
    t: &Topic,
    target_hours: u32,
    mode: SchedulerMode,
    spb: Option<f64>,
    name: &dyn Fn(&str) -> String,
) {
    if let Some(why) = topic_fit::arity_problem(t) {
        r.fail(&name("output arity"), why, "choose a single-value topic");
    }
    let warnings = topic_fit::warnings(t, target_hours, mode, spb);
    if warnings.is_empty() {
        let h = topic_fit::horizon_hours(t, mode, spb).map_or("?".into(), |h| format!("{h:.1}"));
        r.ok(
            &name("topic fit"),
            format!("TARGET_HOURS {target_hours} h, horizon {h} h"),
        );
    }
    for w in warnings {
        r.warn(&name(w.name), w.detail, w.fix);
    }
}

fn flag(r: &mut Report, name: &str, answer: Result<bool>, fix: &str) {
    match answer {
        Ok(true) => r.ok(name, "yes"),
        Ok(false) => r.fail(name, "no", fix),
        Err(e) => r.fail(name, e.to_string(), "check the LCD endpoints"),
    }
}

/// The balance and its runway: every topic's fees (one epoch length each).
fn funds(r: &mut Report, client: &mut Client, addr: &str, epochs: &[u64]) {
    if let Err(e) = client.account(addr) {
        return r.fail("balance", e.to_string(), "fund the address");
    }
    let balance = match client.balance(addr) {
        Ok(b) => b,
        Err(e) => return r.fail("balance", e.to_string(), "check the LCD endpoints"),
    };
    let data_fee = client.params().map(|p| p.data_sending_fee).unwrap_or(0);
    let per_submission = client.fee_per_submission(data_fee);
    let secs_per_block = client.seconds_per_block().unwrap_or(5.0);
    let costs: Vec<(u128, u64)> = epochs.iter().map(|e| (per_submission, *e)).collect();
    let days = submit::runway_days_all(balance, &costs, secs_per_block);
    let detail = format!(
        "{}, about {} per submission, runway {days:.1} days",
        human::allo(balance),
        human::allo(per_submission)
    );
    if balance < per_submission {
        r.fail("balance", detail, "fund the address");
    } else if days < LOW_RUNWAY_DAYS {
        r.warn("balance", detail, "top up soon");
    } else {
        r.ok("balance", detail);
    }
}

fn skew(r: &mut Report, client: &mut Client) {
    match client.block(None) {
        Ok(h) => {
            let skew = (clock::now_utc() - h.time).as_seconds_f64();
            let detail = format!("latest block is {skew:.1} s behind our clock");
            if skew.abs() > MAX_SKEW_SECS {
                r.warn(
                    "clock",
                    detail,
                    "check NTP (timedatectl) or the endpoint's sync",
                );
            } else {
                r.ok("clock", detail);
            }
        }
        Err(e) => r.fail("clock", e.to_string(), "check the LCD endpoints"),
    }
}

fn market(r: &mut Report, ctx: &Ctx, ticker: &str, name_ticker: bool) {
    let base = ctx.config.tiingo_url.trim_end_matches('/');
    let agent = http::agent(ctx.config.connect_timeout, ctx.config.read_timeout);
    let token = ctx
        .config
        .tiingo_api_key
        .as_ref()
        .map(|k| k.expose().clone())
        .unwrap_or_default();
    let url = format!(
        "{base}/tiingo/crypto/prices?tickers={}&resampleFreq=1hour&token={token}",
        ticker
    );
    let name = match name_ticker {
        false => format!("market data {}", redact_url(base)),
        true => format!("market data {} ({ticker})", redact_url(base)),
    };
    match agent.get(&url).call() {
        Ok(resp) if resp.status().is_success() => r.ok(&name, "reachable"),
        Ok(resp) if matches!(resp.status().as_u16(), 401 | 403) => r.fail(
            &name,
            format!("HTTP {}", resp.status().as_u16()),
            "set a valid TIINGO_API_KEY",
        ),
        Ok(resp) => r.warn(
            &name,
            format!("HTTP {}", resp.status().as_u16()),
            "check TIINGO_URL",
        ),
        Err(e) => {
            let shown = if token.is_empty() {
                e.to_string()
            } else {
                e.to_string().replace(&token, "[redacted]")
            };
            r.fail(&name, shown, "check the network or TIINGO_URL")
        }
    }
}

/// Checks `path` is writable without creating it: a dir that does not
/// exist yet is judged by its nearest existing parent (`run` creates it).
fn dir(r: &mut Report, name: &str, path: &Path) {
    let existing = path
        .ancestors()
        .find(|a| a.is_dir())
        .unwrap_or(Path::new("."));
    let probe = existing.join(".allora-worker-check");
    let writable = std::fs::write(&probe, b"ok").and_then(|_| std::fs::remove_file(&probe));
    if let Err(e) = writable {
        return r.fail(
            name,
            format!("{}: {e}", existing.display()),
            "create it or fix its owner",
        );
    }
    if existing != path {
        return r.ok(
            name,
            format!(
                "{} does not exist yet; {} is writable (run creates it)",
                path.display(),
                existing.display()
            ),
        );
    }
    match free_kib(path) {
        Some(kib) if kib < LOW_SPACE_KIB => r.warn(
            name,
            format!("{} writable, only {} MiB free", path.display(), kib / 1024),
            "free some space",
        ),
        Some(kib) => r.ok(
            name,
            format!("{} writable, {} MiB free", path.display(), kib / 1024),
        ),
        None => r.warn(
            name,
            format!("{} writable, free space unknown", path.display()),
            "check with df",
        ),
    }
}

/// Free space in KiB from `df -Pk` (no libc binding needed).
fn free_kib(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}
