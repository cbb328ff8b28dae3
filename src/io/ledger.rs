//! The ledger file: an append-only JSON-lines file per (chain id, topic,
//! address) in the data dir, every record fsync'd before the call returns, so
//! a record written before a broadcast survives `kill -9` and power loss.
//! Reading tolerates a torn last line (a crash mid-write); compaction rewrites
//! the file atomically (temp file, fsync, rename, fsync the directory).
//! What the records mean is decided in `logic::ledger`.
//!
//! Every append passes the write check (`set_write_check`) first: a test
//! seam that lets an in-process test make ledger writes fail. Production
//! never sets it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::logic::ledger::{Ledger, Record};

/// Decides whether a record may be appended to the ledger at the given
/// path; an `Err` fails the append as the disk would.
pub type WriteCheck = fn(&Path) -> std::io::Result<()>;

static WRITE_CHECK: Mutex<Option<WriteCheck>> = Mutex::new(None);

/// Test seam: every following append asks `check` first (None: no check).
pub fn set_write_check(check: Option<WriteCheck>) {
    *WRITE_CHECK.lock().unwrap_or_else(|e| e.into_inner()) = check;
}

fn write_check(path: &Path) -> std::io::Result<()> {
    match *WRITE_CHECK.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(check) => check(path),
        None => Ok(()),
    }
}

/// An open ledger file and its folded state.
pub struct LedgerFile {
    path: PathBuf,
    file: File,
    state: Ledger,
    lines: usize,
}

/// The ledger path for one (chain id, topic, address).
pub fn path_for(data_dir: &Path, chain_id: &str, topic: u64, address: &str) -> PathBuf {
    let name = crate::io::lock::instance_name(chain_id, topic, address);
    data_dir.join(format!("ledger-{name}.jsonl"))
}

impl LedgerFile {
    /// Opens (creating if needed) and reads the ledger. Returns the number of
    /// unreadable lines skipped (only a torn last line is expected).
    pub fn open(path: &Path) -> Result<(LedgerFile, usize)> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(format!("read ledger {}", path.display()), e)),
        };
        let mut records = Vec::new();
        let mut skipped = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match Record::from_line(line) {
                Ok(r) => records.push(r),
                Err(_) => skipped += 1,
            }
        }
        let lines = records.len();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("open ledger {}", path.display()), e))?;
        if !text.is_empty() && !text.ends_with('\n') {
            // A torn last line: end it so the next record starts on its own line.
            let mut f = &file;
            f.write_all(b"\n")
                .map_err(|e| Error::io(format!("repair ledger {}", path.display()), e))?;
        }
        let state = Ledger::from_records(records);
        Ok((
            LedgerFile {
                path: path.to_path_buf(),
                file,
                state,
                lines,
            },
            skipped,
        ))
    }

    /// The folded state.
    pub fn state(&self) -> &Ledger {
        &self.state
    }

    /// Appends a record and fsyncs it; only then is it applied to the state.
    pub fn append(&mut self, record: Record) -> Result<()> {
        let mut line = record.to_line();
        line.push('\n');
        write_check(&self.path)
            .and_then(|_| self.file.write_all(line.as_bytes()))
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(format!("write ledger {}", self.path.display()), e))?;
        self.state.apply(record);
        self.lines += 1;
        Ok(())
    }

    /// Rewrites the file with `logic::ledger::Ledger::compacted(keep_since)`
    /// when it has grown past `max_lines`. Returns true when it compacted.
    pub fn compact_if_needed(&mut self, keep_since: i64, max_lines: usize) -> Result<bool> {
        if self.lines <= max_lines {
            return Ok(false);
        }
        let keep = self.state.compacted(keep_since);
        let tmp = self.path.with_extension("jsonl.tmp");
        let what = |e| Error::io(format!("compact ledger {}", self.path.display()), e);
        let mut out = File::create(&tmp).map_err(what)?;
        for r in &keep {
            out.write_all(format!("{}\n", r.to_line()).as_bytes())
                .map_err(what)?;
        }
        out.sync_all().map_err(what)?;
        fs::rename(&tmp, &self.path).map_err(what)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(what)?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(what)?;
        self.state = Ledger::from_records(keep.clone());
        self.lines = keep.len();
        Ok(true)
    }
}
