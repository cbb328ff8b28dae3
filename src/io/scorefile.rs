//! The score record file beside the ledger (`score-<instance>.jsonl` in the
//! data dir): append-only JSON lines, each fsync'd, a torn last line
//! skipped on read, compaction by atomic rewrite (both through `io::jsonl`).
//! What the lines mean is decided in `logic::score_record`.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::jsonl::JsonLines;
use crate::logic::score_record::{Entry, Record};

/// An open score record and its folded state.
pub struct ScoreFile {
    file: JsonLines,
    state: Record,
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
        let (mut file, lines) = JsonLines::open(path, "score record", |_| Ok(()))?;
        let entries: Vec<Entry> = lines
            .iter()
            .filter_map(|l| Entry::from_line(l).ok())
            .collect();
        let skipped = lines.len() - entries.len();
        file.lines = entries.len();
        let state = Record::from_entries(entries);
        Ok((ScoreFile { file, state }, skipped))
    }

    /// The folded record.
    pub fn state(&self) -> &Record {
        &self.state
    }

    /// Appends an entry and fsyncs it; only then is it applied.
    pub fn append(&mut self, entry: Entry) -> Result<()> {
        self.file.append(&entry.to_line(), || Ok(()))?;
        self.state.apply(entry);
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
        if self.file.lines <= max_lines && !force {
            return Ok(false);
        }
        let keep = self.state.compacted(keep_since, horizon_hours);
        let lines: Vec<String> = keep.iter().map(Entry::to_line).collect();
        self.file.rewrite(&lines)?;
        self.state = Record::from_entries(keep);
        Ok(true)
    }
}
