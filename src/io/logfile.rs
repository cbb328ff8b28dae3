//! A log file that rotates itself by size: `worker.log`, `worker.log.1` …
//! `worker.log.N`, and the same for `events.jsonl`. When to rotate and which
//! renames to do come from `logic::rotation`; this file only carries them out.
//!
//! Records are written whole or not at all (`io::append`: a failed or
//! partial write is cut back, so no torn line swallows the next record). A
//! failed write closes the file so the next record tries to reopen it: logging resumes by
//! itself when the disk has room again.
//!
//! Every record passes the sink check (`set_sink_check`) first: a test seam
//! that lets an in-process test make the log "disk" full and free again
//! without a special filesystem. Production never sets it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::io::append::append_whole;
use crate::logic::rotation::{Policy, Step};

/// Decides whether a record for the file at the given path may be written;
/// an `Err` fails that write as the disk would.
pub type SinkCheck = fn(&Path) -> io::Result<()>;

static SINK_CHECK: Mutex<Option<SinkCheck>> = Mutex::new(None);

/// Test seam: every following record write asks `check` first (None: no check).
pub fn set_sink_check(check: Option<SinkCheck>) {
    *SINK_CHECK.lock().unwrap_or_else(|e| e.into_inner()) = check;
}

fn sink_check(path: &Path) -> io::Result<()> {
    match *SINK_CHECK.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(check) => check(path),
        None => Ok(()),
    }
}

/// Bumped by `reopen_all`; a file opened under an older value reopens.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Makes every rotating file reopen its path before the next record (SIGHUP,
/// after an outside tool such as logrotate moved the files).
pub fn reopen_all() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// One size-rotated append-only file.
pub struct RotatingFile {
    path: PathBuf,
    policy: Policy,
    file: Option<File>,
    size: u64,
    generation: u64,
}

impl RotatingFile {
    /// A rotating file at `dir/name`; opened lazily on the first record.
    pub fn new(dir: &Path, name: &str, policy: Policy) -> RotatingFile {
        RotatingFile {
            path: dir.join(name),
            policy,
            file: None,
            size: 0,
            generation: 0,
        }
    }

    /// The path of the live file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record, rotating first when it would overflow the limit.
    pub fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        let result = self.try_write(record);
        if result.is_err() {
            self.file = None;
        }
        result
    }

    fn try_write(&mut self, record: &[u8]) -> io::Result<()> {
        sink_check(&self.path)?;
        if self.generation != GENERATION.load(Ordering::SeqCst) {
            self.file = None;
        }
        if self.file.is_none() {
            self.open()?;
        }
        if self.policy.should_rotate(self.size, record.len() as u64) {
            self.rotate()?;
        }
        let file = self
            .file
            .as_mut()
            .expect("open() or rotate() left a file open");
        append_whole(file, record, false)?;
        self.size += record.len() as u64;
        Ok(())
    }

    fn open(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        self.generation = GENERATION.load(Ordering::SeqCst);
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        let name = self.path.to_string_lossy().into_owned();
        for step in self.policy.plan(&name) {
            let r = match &step {
                Step::Remove(p) => fs::remove_file(p),
                Step::Rename(from, to) => fs::rename(from, to),
            };
            match r {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.open()
    }
}
