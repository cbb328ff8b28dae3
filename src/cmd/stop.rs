//! `allora-worker stop`: sends SIGTERM to the worker holding the
//! machine-wide claim for this chain and topic (found from any directory)
//! and waits (up to `--timeout`, default 30 s) until it has let go of it.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use lexopt::ValueExt;

use crate::cmd::{status, unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::{claim, signals};

pub const COMMAND: Command = Command {
    name: "stop",
    summary: "stop the running worker (SIGTERM, found from any directory) and wait for it",
    needs_wallet: false,
    usage: "Usage: allora-worker stop [--timeout SECS]\n\nFlags:\n  --timeout SECS   how long to wait for the exit (default 30)\n",
    run,
};

fn run(ctx: &Ctx, args: Vec<OsString>) -> Result<i32> {
    let mut timeout = Duration::from_secs(30);
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            lexopt::Arg::Long("timeout") => timeout = Duration::from_secs(p.value()?.parse()?),
            other => return Err(unexpected(other, "stop")),
        }
    }
    let c = &ctx.config;
    let running = status::running_workers(ctx);
    if running.is_empty() {
        println!(
            "no worker is running for {} topic {} on this machine",
            c.chain_id, c.topic_id
        );
        return Ok(0);
    }
    for worker in &running {
        let pid = worker.pid.ok_or_else(|| {
            Error::Decode(format!(
                "the worker {} does not say its pid",
                worker.instance
            ))
        })?;
        signals::terminate(pid)?;
        let deadline = Instant::now() + timeout;
        while status::running_workers(ctx)
            .iter()
            .any(|r| r.instance == worker.instance)
        {
            if Instant::now() >= deadline {
                return Err(Error::Io {
                    what: format!(
                        "worker pid {pid} did not exit within {} s",
                        timeout.as_secs()
                    ),
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!("stopped worker {}", claim::describe(worker));
    }
    Ok(0)
}
