//! `allora-worker status`: finds the running worker through its machine-wide
//! claim (from any directory, also under the hardened unit), reads
//! `status.json` from that worker's data dir (else the configured one) and
//! prints a human summary (or `--json`). Exit 0 when a worker runs, 3 when
//! not (LSB). Needs no key and no network.

use std::ffi::OsString;
use std::path::Path;

use serde_json::{json, Value};

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::claim::{self, Running};
use crate::io::{clock, lock};
use crate::logic::human;

pub const COMMAND: Command = Command {
    name: "status",
    summary: "show whether the worker runs and what it did (from status.json)",
    needs_wallet: false,
    usage: "Usage: allora-worker status [--json]\n\nExit status: 0 when a worker runs, 3 when none does.\n\nFlags:\n  --json    print one JSON object\n",
    run,
};

/// The workers running on this machine for the configured chain and topic,
/// found through their machine-wide claims: the configured address's
/// (`ALLORA_WALLET_ADDR`, else the one the mnemonic derives, if one is
/// configured), else every address's.
pub fn running_workers(ctx: &Ctx) -> Vec<Running> {
    let c = &ctx.config;
    let address = c
        .wallet_addr
        .clone()
        .or_else(|| ctx.wallet().ok().map(|w| w.address().to_string()))
        .unwrap_or_default();
    let prefix = lock::instance_name(&c.chain_id, c.topic_id, &address);
    claim::running()
        .into_iter()
        .filter(|r| r.instance.starts_with(&prefix))
        .collect()
}

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut as_json = false;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Long("json") => as_json = true,
            other => return Err(unexpected(other, "status")),
        }
    }
    let c = &ctx.config;
    let running = running_workers(ctx);
    let first = running.first();
    let data_dir = first
        .and_then(|r| r.data_dir.clone())
        .unwrap_or_else(|| c.data_dir.clone());
    let path = data_dir.join("status.json");
    let status: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Decode(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
        // The hardened unit's data dir is root's: say so, still say running.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && first.is_some() => {
            json!({"problem": format!("cannot read {}: {e} (run status with sudo)", path.display())})
        }
        Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
    };
    let pid = first.and_then(|r| r.pid);
    if as_json {
        println!(
            "{}",
            json!({"running": first.is_some(), "pid": pid, "data_dir": data_dir, "status": status})
        );
    } else {
        print!(
            "{}",
            human(
                pid,
                first.is_some(),
                &path,
                &status,
                clock::now_utc().unix_timestamp()
            )
        );
    }
    // LSB: 0 running, 3 not running.
    Ok(if first.is_some() { 0 } else { 3 })
}

/// The `worker:` line: running with its pid, or not, and why it last failed
/// to start when it did.
fn state_line(pid: Option<u32>, running: bool, s: &Value) -> String {
    match (running, pid) {
        (true, Some(p)) => format!("worker:        running (pid {p})\n"),
        (true, None) => "worker:        running\n".to_string(),
        (false, _) => match (
            s["last_start_failure"]["at"].as_i64(),
            s["last_start_failure"]["reason"].as_str(),
        ) {
            (Some(at), Some(reason)) => format!(
                "worker:        not running — last start failed at {}: {reason}\n",
                human::unix_rfc3339(at)
            ),
            _ => "worker:        not running\n".to_string(),
        },
    }
}

fn human(pid: Option<u32>, running: bool, path: &Path, s: &Value, now: i64) -> String {
    let mut out = state_line(pid, running, s);
    out.push_str(&format!("read:          {}\n", path.display()));
    if s.is_null() {
        out.push_str("status.json:   none yet (the worker has not written one)\n");
        return out;
    }
    match s["topics"].as_object() {
        Some(topics) if topics.len() > 1 => {
            for (id, section) in topics {
                out.push_str(&format!("── topic {id} ──\n"));
                out.push_str(&topic_lines(section, now));
            }
        }
        _ => out.push_str(&topic_lines(s, now)),
    }
    out
}

/// One topic's lines (the whole status with one topic).
fn topic_lines(s: &Value, now: i64) -> String {
    let mut out = String::new();
    let ago = |k: &str| {
        s[k].as_i64().map_or("never".to_string(), |t| {
            let d = std::time::Duration::from_secs(now.saturating_sub(t).max(0) as u64);
            format!("{} ({} ago)", human::unix_rfc3339(t), human::duration(d))
        })
    };
    let text = |k: &str| match &s[k] {
        Value::Null => "-".to_string(),
        Value::String(v) => v.clone(),
        v => v.to_string(),
    };
    out.push_str(&format!("updated:       {}\n", ago("updated_at")));
    out.push_str(&format!("heartbeat:     {}\n", ago("last_heartbeat_at")));
    out.push_str(&format!("windows seen:  {}\n", text("windows_seen")));
    out.push_str(&format!(
        "submitted:     {} (last {}, tx {})\n",
        text("submitted"),
        ago("last_success_at"),
        text("last_tx_hash")
    ));
    out.push_str(&format!(
        "not admitted:  {} (included, code 0, but not counted by the chain)\n",
        text("not_admitted")
    ));
    out.push_str(&format!("missed:        {}\n", text("missed")));
    out.push_str(&format!("last window:   {}\n", text("last_window")));
    let balance = s["balance_uallo"]
        .as_str()
        .and_then(|b| b.parse::<u128>().ok())
        .map_or("-".to_string(), human::allo);
    let fee = s["fee_per_submission_uallo"]
        .as_str()
        .and_then(|b| b.parse::<u128>().ok())
        .map_or("-".to_string(), human::allo);
    out.push_str(&format!(
        "balance:       {balance}, about {fee} per submission, runway {} days\n",
        text("runway_days")
    ));
    let paid = s["fees_paid_uallo"]
        .as_str()
        .and_then(|b| b.parse::<u128>().ok())
        .map_or("-".to_string(), human::allo);
    out.push_str(&format!("fees paid:     {paid} since start\n"));
    out.push_str(&format!("longest step:  {} ms\n", text("max_step_ms")));
    let model_age = s["model_age_s"].as_u64().map_or("-".to_string(), |a| {
        human::duration(std::time::Duration::from_secs(a))
    });
    out.push_str(&format!("model age:     {model_age}\n"));
    out.push_str(&format!("problem:       {}\n", text("problem")));
    out.push_str(&score_lines(&s["score"]));
    out
}

/// The live score record's lines: per window, what was scored and how it
/// compares with the zero forecast, then the gates the record allows.
fn score_lines(score: &Value) -> String {
    if score.is_null() {
        return String::new();
    }
    let f = |v: &Value, digits: usize| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{x:.digits$}"))
    };
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{:.0} %", 100.0 * x))
    };
    let mut out = format!(
        "scores:        {} submission(s) waiting for their target time (or its bars)\n",
        score["pending"]
    );
    for key in ["7d", "30d"] {
        let w = &score[key];
        out.push_str(&format!(
            "  last {:<3}     {} scored, participation {}, CZAR {} (zero {}), log10 CZAR {} (zero {}), DA {}\n",
            key,
            w["scored"],
            pct(&w["participation"]),
            f(&w["mean_czar"], 4),
            f(&w["zero_mean_czar"], 4),
            f(&w["mean_log10_czar"], 4),
            f(&w["zero_mean_log10_czar"], 4),
            pct(&w["dir_acc"]),
        ));
        let g = &w["gates"];
        if g.is_null() {
            continue;
        }
        let shown: Vec<String> = crate::logic::gates::NAMES
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let mark = if g["passed"][i].as_bool() == Some(true) {
                    "✓"
                } else {
                    "✗"
                };
                g["criteria"][i]
                    .as_f64()
                    .map(|x| format!("{name} {x:.3} {mark}"))
            })
            .collect();
        out.push_str(&format!(
            "                gates {}/7: {}{}\n",
            w["gates_passed"],
            shown.join(", "),
            if shown.len() < 7 {
                " (the others need more scored submissions)"
            } else {
                ""
            }
        ));
        if g["n_eff"].as_f64().is_some_and(|n| n < 20.0) {
            out.push_str("                (n_eff below 20: too few independent targets for the gates to mean anything yet)\n");
        }
    }
    out
}
