//! `allora-worker status`: reads `status.json` and the lock file in the data
//! dir and prints a human summary (or `--json`). Needs no key and no network.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::cmd::{unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::{clock, lock};

pub const COMMAND: Command = Command {
    name: "status",
    summary: "show whether the worker runs and what it did (from status.json)",
    needs_wallet: false,
    usage: "Usage: allora-worker status [--json]\n\nFlags:\n  --json    print one JSON object\n",
    run,
};

/// Lock files in `data_dir` for the configured chain and topic.
pub fn lock_files(data_dir: &Path, chain_id: &str, topic: u64) -> Vec<PathBuf> {
    let prefix = lock::path_for(data_dir, chain_id, topic, "");
    let prefix = prefix
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".lock").to_string());
    let mut out: Vec<PathBuf> = std::fs::read_dir(data_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    prefix
                        .as_ref()
                        .is_some_and(|pre| name.starts_with(pre.as_str()))
                        && name.ends_with(".lock")
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
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
    let running: Vec<(PathBuf, Option<u32>)> = lock_files(&c.data_dir, &c.chain_id, c.topic_id)
        .into_iter()
        .filter(|p| lock::is_held(p))
        .map(|p| {
            let pid = lock::read_pid(&p);
            (p, pid)
        })
        .collect();
    let path = c.data_dir.join("status.json");
    let status: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::Decode(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Null,
        Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
    };
    let pid = running.first().and_then(|(_, pid)| *pid);
    if as_json {
        println!(
            "{}",
            json!({"running": !running.is_empty(), "pid": pid, "status": status})
        );
    } else {
        print!(
            "{}",
            human(
                pid,
                !running.is_empty(),
                &status,
                clock::now_utc().unix_timestamp()
            )
        );
    }
    Ok(0)
}

fn human(pid: Option<u32>, running: bool, s: &Value, now: i64) -> String {
    let mut out = match (running, pid) {
        (true, Some(p)) => format!("worker:        running (pid {p})\n"),
        (true, None) => "worker:        running\n".to_string(),
        (false, _) => "worker:        not running\n".to_string(),
    };
    if s.is_null() {
        out.push_str("status.json:   none yet (the worker has not written one)\n");
        return out;
    }
    let ago = |k: &str| {
        s[k].as_i64()
            .map_or("never".to_string(), |t| format!("{} s ago", now - t))
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
        "submitted:     {} (last {} , tx {})\n",
        text("submitted"),
        ago("last_success_at"),
        text("last_tx_hash")
    ));
    out.push_str(&format!("missed:        {}\n", text("missed")));
    out.push_str(&format!("last window:   {}\n", text("last_window")));
    out.push_str(&format!(
        "balance:       {} uallo (runway {} days)\n",
        text("balance_uallo"),
        text("runway_days")
    ));
    out.push_str(&format!("model age:     {} s\n", text("model_age_s")));
    out.push_str(&format!("problem:       {}\n", text("problem")));
    out
}
