//! The ledger file: an append-only JSON-lines file per (chain id, topic,
//! address) in the data dir, every record fsync'd before the call returns, so
//! a record written before a broadcast survives `kill -9` and power loss.
//! Reading tolerates a torn last line (a crash mid-write); a failed append
//! leaves the file as it was; compaction rewrites the file atomically (all
//! through `io::jsonl`). A file holding a line of a newer format than
//! `logic::ledger::FORMAT` is refused before anything is written to it.
//! What the records mean is decided in `logic::ledger`.
//!
//! Every append passes the write check (`set_write_check`) first: a test
//! seam that lets an in-process test make ledger writes fail. Production
//! never sets it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::io::jsonl::JsonLines;
use crate::logic::ledger::{self as format, Ledger, Record};

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

/// An error naming both formats when `lines` hold one newer than this
/// binary's (a downgrade): the ledger is then neither read nor written.
fn refuse_newer(path: &Path, lines: &[String]) -> Result<()> {
    let Some(found) = format::newer_format(lines) else {
        return Ok(());
    };
    Err(Error::Decode(format!(
        "ledger {} holds records of format {found}, written by a newer allora-worker; \
         this binary ({}) reads formats {} to {}: run the newer binary (the file is left unchanged)",
        path.display(),
        env!("CARGO_PKG_VERSION"),
        format::UNVERSIONED_FORMAT,
        format::FORMAT,
    )))
}

/// An open ledger file and its folded state.
pub struct LedgerFile {
    file: JsonLines,
    state: Ledger,
}

/// The ledger path for one (chain id, topic, address).
pub fn path_for(data_dir: &Path, chain_id: &str, topic: u64, address: &str) -> PathBuf {
    let name = crate::io::lock::instance_name(chain_id, topic, address);
    data_dir.join(format!("ledger-{name}.jsonl"))
}

impl LedgerFile {
    /// Opens (creating if needed) and reads the ledger. Returns the number of
    /// unreadable lines skipped (only a torn last line is expected). A
    /// ledger a newer binary wrote is an error naming both versions, and the
    /// file is left untouched.
    pub fn open(path: &Path) -> Result<(LedgerFile, usize)> {
        let (mut file, lines) = JsonLines::open(path, "ledger", |l| refuse_newer(path, l))?;
        let records: Vec<Record> = lines
            .iter()
            .filter_map(|l| Record::from_line(l).ok())
            .collect();
        let skipped = lines.len() - records.len();
        file.lines = records.len();
        let state = Ledger::from_records(records);
        Ok((LedgerFile { file, state }, skipped))
    }

    /// The folded state.
    pub fn state(&self) -> &Ledger {
        &self.state
    }

    /// Appends a record and fsyncs it; only then is it applied to the state.
    pub fn append(&mut self, record: Record) -> Result<()> {
        let path = self.file.path().to_path_buf();
        self.file.append(&record.to_line(), || write_check(&path))?;
        self.state.apply(record);
        Ok(())
    }

    /// Rewrites the file with `logic::ledger::Ledger::compacted(keep_since)`
    /// when it has grown past `max_lines`. Returns true when it compacted.
    pub fn compact_if_needed(&mut self, keep_since: i64, max_lines: usize) -> Result<bool> {
        if self.file.lines <= max_lines {
            return Ok(false);
        }
        let keep = self.state.compacted(keep_since);
        let lines: Vec<String> = keep.iter().map(Record::to_line).collect();
        self.file.rewrite(&lines)?;
        self.state = Ledger::from_records(keep);
        Ok(true)
    }
}
