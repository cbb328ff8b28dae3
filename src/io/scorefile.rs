//! The score record file beside the ledger (`score-<instance>.jsonl` in the
//! data dir): append-only JSON lines, each fsync'd, a torn last line
//! skipped on read, compaction by atomic rewrite (temp, fsync, rename,
//! fsync the directory). What the lines mean is decided in
//! `logic::score_record`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::logic::score_record::{Entry, Record};

/// An open score record and its folded state.
pub struct ScoreFile {
    path: PathBuf,
    file: File,
    state: Record,
    lines: usize,
}

/// The record's path for one (chain id, topic, address).
pub fn path_for(data_dir: &Path, chain_id: &str, topic: u64, address: &str) -> PathBuf {
    let name = crate::io::lock::instance_name(chain_id, topic, address);
    data_dir.join(format!("score-{name}.jsonl"))
}

impl ScoreFile {
    /// Opens (creating if needed) and reads the record; returns the number
    /// of unreadable lines skipped.
    pub fn open(path: &Path) -> Result<(ScoreFile, usize)> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
        };
        let mut entries = Vec::new();
        let mut skipped = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match Entry::from_line(line) {
                Ok(e) => entries.push(e),
                Err(_) => skipped += 1,
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n")
                .map_err(|e| Error::io(format!("repair {}", path.display()), e))?;
        }
        let lines = entries.len();
        Ok((
            ScoreFile {
                path: path.to_path_buf(),
                file,
                state: Record::from_entries(entries),
                lines,
            },
            skipped,
        ))
    }

    /// The folded record.
    pub fn state(&self) -> &Record {
        &self.state
    }

    /// Appends an entry and fsyncs it; only then is it applied.
    pub fn append(&mut self, entry: Entry) -> Result<()> {
        let line = format!("{}\n", entry.to_line());
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(format!("write {}", self.path.display()), e))?;
        self.state.apply(entry);
        self.lines += 1;
        Ok(())
    }

    /// Rewrites the file with `Record::compacted(keep_since)` when it holds
    /// more than `max_lines` lines, or when `force` (the ledger was just
    /// compacted). Returns true when it compacted.
    pub fn compact_if_needed(
        &mut self,
        keep_since: i64,
        horizon_hours: usize,
        max_lines: usize,
        force: bool,
    ) -> Result<bool> {
        if self.lines <= max_lines && !force {
            return Ok(false);
        }
        let keep = self.state.compacted(keep_since, horizon_hours);
        let tmp = self.path.with_extension("jsonl.tmp");
        let what = |e| Error::io(format!("compact {}", self.path.display()), e);
        let mut out = File::create(&tmp).map_err(what)?;
        for e in &keep {
            out.write_all(format!("{}\n", e.to_line()).as_bytes())
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
        self.lines = keep.len();
        self.state = Record::from_entries(keep);
        Ok(true)
    }
}
