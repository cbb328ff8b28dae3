//! The `--predict-cmd` hook: runs a user's program and reads one decimal
//! from its stdout. Calling convention: `sh -c 'CMD "$@"' sh NONCE TOPIC
//! BARS_CSV`, i.e. the command line gets three arguments appended (also set
//! as ALLORA_NONCE, ALLORA_TOPIC_ID, ALLORA_BARS_FILE). Timeout, a non-zero
//! exit, non-numeric or non-finite output is an error naming the cause; the
//! caller skips the window with that reason.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Runs `cmd` and returns the number it printed.
pub fn run(cmd: &str, nonce: i64, topic: u64, bars: &Path, timeout: Duration) -> Result<f64> {
    let fail = |why: String| Error::Model(format!("--predict-cmd {cmd:?}: {why}"));
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{cmd} \"$@\""))
        .arg("sh")
        .arg(nonce.to_string())
        .arg(topic.to_string())
        .arg(bars)
        .env("ALLORA_NONCE", nonce.to_string())
        .env("ALLORA_TOPIC_ID", topic.to_string())
        .env("ALLORA_BARS_FILE", bars)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| fail("no stdout".into()))?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.by_ref().take(64 * 1024).read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("timed out after {} s", timeout.as_secs_f64())));
            }
            Ok(None) => {
                crate::io::notify::watchdog();
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(fail(format!("wait failed: {e}"))),
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(fail(format!("exited with {status}")));
    }
    parse_output(&out).map_err(fail)
}

/// One decimal number, surrounding whitespace allowed, finite.
pub fn parse_output(out: &str) -> std::result::Result<f64, String> {
    let t = out.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("printed a non-finite value {v}")),
        Err(_) => Err(format!(
            "printed {:?}, not one decimal number",
            t.chars().take(60).collect::<String>()
        )),
    }
}
