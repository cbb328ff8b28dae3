//! Logging set-up: every log line goes to stderr (never to stdout, which
//! carries only a command's own output); `run` and `once` also write
//! `worker.log` (not when stderr is the systemd journal) and `event()`
//! appends one JSON line to `events.jsonl` with a greppable marker in the
//! human log.
//!
//! Both files rotate (`io::logfile`). When a file cannot be written (disk
//! full, directory gone) the worker says so once on stderr, keeps running on
//! stderr alone, and says again when file logging resumes. Only this crate's
//! own log records are kept, so no dependency can log a header or a body.
//!
//! `init_to` takes the stderr destination as an argument so an in-process
//! test can read what the worker says there; `init` passes the real stderr.

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use log::LevelFilter;
use serde_json::Value;
use simplelog::{CombinedLogger, ConfigBuilder, SharedLogger, WriteLogger};

use crate::io::clock;
use crate::io::logfile::RotatingFile;
use crate::logic::event::{self, Kind};
use crate::logic::rotation::Policy;

/// The log file name inside the log dir.
pub const LOG_FILE: &str = "worker.log";
/// The event log file name inside the log dir.
pub const EVENTS_FILE: &str = "events.jsonl";

static EVENTS: OnceLock<Mutex<ReportingFile>> = OnceLock::new();

/// The stderr destination, shared by the stderr logger and the file-failure
/// reports.
#[derive(Clone)]
struct Stderr(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// A rotating file that reports its own failures and recoveries on stderr.
struct ReportingFile {
    file: RotatingFile,
    failing: bool,
    stderr: Stderr,
}

impl ReportingFile {
    fn append(&mut self, record: &[u8]) {
        match self.file.write_record(record) {
            Ok(()) if self.failing => {
                self.failing = false;
                let _ = writeln!(
                    self.stderr,
                    "allora-worker: file logging to {} resumed",
                    self.file.path().display()
                );
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                let _ = writeln!(
                    self.stderr,
                    "allora-worker: file logging to {} fails ({e}); logging to stderr only until it works again",
                    self.file.path().display()
                );
            }
            Err(_) => {}
        }
    }
}

/// Adapts a `ReportingFile` to `Write`, one record per complete line.
struct LineFile {
    out: ReportingFile,
    pending: Vec<u8>,
}

impl Write for LineFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            self.out.append(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Which files a command's logging writes besides stderr.
#[derive(Debug, Clone, Copy)]
pub enum Files<'a> {
    /// stderr only (every command but `run` and `once`).
    None,
    /// `events.jsonl` only: stderr already is the journal, so `worker.log`
    /// would write every line to the disk a second time.
    Events(&'a Path),
    /// `worker.log` and `events.jsonl`.
    Both(&'a Path),
}

/// Starts logging to stderr and the chosen files, and installs the panic
/// hook. Calling it twice keeps the first set-up.
pub fn init(files: Files<'_>, policy: Policy, debug: bool) {
    setup(files, policy, debug, Box::new(io::stderr()));
}

/// Logging to `log_dir` (both files) with `stderr` standing in for the
/// process's stderr.
pub fn init_to(log_dir: &Path, policy: Policy, debug: bool, stderr: Box<dyn Write + Send>) {
    setup(Files::Both(log_dir), policy, debug, stderr);
}

/// True when stderr is the systemd journal: `JOURNAL_STREAM` names the
/// device and inode of fd 2.
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    stream == format!("{}:{}", meta.dev(), meta.ino())
}

fn setup(files: Files<'_>, policy: Policy, debug: bool, stderr: Box<dyn Write + Send>) {
    let stderr = Stderr(Arc::new(Mutex::new(stderr)));
    let level = if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let config = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off)
        .add_filter_allow_str("allora_worker")
        .build();
    let mut loggers: Vec<Box<dyn SharedLogger>> =
        vec![WriteLogger::new(level, config.clone(), stderr.clone())];
    if let Files::Both(dir) = files {
        let file = LineFile {
            out: ReportingFile {
                file: RotatingFile::new(dir, LOG_FILE, policy),
                failing: false,
                stderr: stderr.clone(),
            },
            pending: Vec::new(),
        };
        loggers.push(WriteLogger::new(level, config, file));
    }
    if CombinedLogger::init(loggers).is_err() {
        return;
    }
    if let Files::Events(dir) | Files::Both(dir) = files {
        let events = ReportingFile {
            file: RotatingFile::new(dir, EVENTS_FILE, policy),
            failing: false,
            stderr,
        };
        let _ = EVENTS.set(Mutex::new(events));
    }
    install_panic_hook();
}

/// Records an event: one `events.jsonl` line and one human log line that
/// starts with the event's marker (`SUCCESS`, `HEARTBEAT`, …; an error's
/// marker is its `[ERROR]` level).
pub fn event(kind: Kind, message: &str, data: Value) {
    match kind {
        // The level already reads `[ERROR]`; a second "ERROR" adds nothing.
        Kind::Error => log::error!("{message}"),
        Kind::Warning | Kind::NotAdmitted => log::warn!("{} {message}", kind.marker()),
        _ => log::info!("{} {message}", kind.marker()),
    }
    if let Some(events) = EVENTS.get() {
        let mut line = event::line(clock::now_utc(), kind, message, data);
        line.push('\n');
        if let Ok(mut f) = events.lock() {
            f.append(line.as_bytes());
        }
    }
}

/// Logs a panic (location and message) through the logger, then hands it
/// to the hook that was there before (the standard one prints it to
/// stderr), so a panic is never only in a log file that may be failing, and
/// a test binary that runs the worker in-process still shows its own
/// panics' messages.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".into());
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".into());
        log::error!("PANIC at {location}: {payload}");
        log::logger().flush();
        previous(info);
    }));
}
