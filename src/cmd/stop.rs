//! `allora-worker stop`: sends SIGTERM to the worker holding the lock for
//! this chain and topic and waits (up to `--timeout`, default 30 s) until it
//! has let go of the lock.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use lexopt::ValueExt;

use crate::cmd::{status, unexpected, Command, Ctx};
use crate::error::{Error, Result};
use crate::io::{lock, signals};

pub const COMMAND: Command = Command {
    name: "stop",
    summary: "stop the running worker (SIGTERM to the pid in its lock file) and wait for it",
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
    let held: Vec<_> = status::lock_files(&c.data_dir, &c.chain_id, c.topic_id)
        .into_iter()
        .filter(|p| lock::is_held(p))
        .collect();
    if held.is_empty() {
        println!(
            "no worker is running for {} topic {} in {}",
            c.chain_id,
            c.topic_id,
            c.data_dir.display()
        );
        return Ok(0);
    }
    for path in &held {
        let pid = lock::read_pid(path)
            .ok_or_else(|| Error::Decode(format!("lock file {} holds no pid", path.display())))?;
        signals::terminate(pid)?;
        let deadline = Instant::now() + timeout;
        while lock::is_held(path) {
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
        println!("stopped worker pid {pid}");
    }
    Ok(0)
}
