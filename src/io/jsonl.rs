//! An append-only JSON-lines file as the ledger and the score record keep
//! it: every appended line fsync'd before the call returns, a torn last line
//! (a crash mid-write) ended on open so the next line starts on its own, a
//! failed append cut back so it leaves no torn line (`io::append`),
//! and rewriting (compaction) done atomically: temp file, fsync, rename,
//! fsync the directory. It moves lines; what they mean is decided by the
//! caller's `logic` module.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::append::append_whole;

/// An open JSON-lines file; `name` ("ledger", "score record") starts its
/// error messages.
pub struct JsonLines {
    path: PathBuf,
    name: &'static str,
    file: File,
    /// Lines in the file (appended or kept by the last rewrite).
    pub lines: usize,
}

impl JsonLines {
    /// Opens (creating the file and its directory if needed) and returns its
    /// non-blank lines. `accept` sees the lines before anything is written:
    /// its error refuses the file and leaves it untouched.
    pub fn open(
        path: &Path,
        name: &'static str,
        accept: impl FnOnce(&[String]) -> Result<()>,
    ) -> Result<(JsonLines, Vec<String>)> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(format!("read {name} {}", path.display()), e)),
        };
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        accept(&lines)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(format!("open {name} {}", path.display()), e))?;
        if !text.is_empty() && !text.ends_with('\n') {
            // A torn last line: end it so the next record starts on its own line.
            let mut f = &file;
            f.write_all(b"\n")
                .map_err(|e| Error::io(format!("repair {name} {}", path.display()), e))?;
        }
        Ok((
            JsonLines {
                path: path.to_path_buf(),
                name,
                file,
                lines: 0,
            },
            lines,
        ))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line (without its newline) and fsyncs it, or leaves the
    /// file as it was (`io::append`); `check` runs first and can fail the
    /// write as the disk would (a test seam).
    pub fn append(
        &mut self,
        line: &str,
        check: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<()> {
        let line = format!("{line}\n");
        check()
            .and_then(|_| append_whole(&mut self.file, line.as_bytes(), true))
            .map_err(|e| Error::io(format!("write {} {}", self.name, self.path.display()), e))?;
        self.lines += 1;
        Ok(())
    }

    /// Replaces the whole file with `lines`, atomically.
    pub fn rewrite(&mut self, lines: &[String]) -> Result<()> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let what = |e| Error::io(format!("compact {} {}", self.name, self.path.display()), e);
        let mut out = File::create(&tmp).map_err(what)?;
        for l in lines {
            out.write_all(format!("{l}\n").as_bytes()).map_err(what)?;
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
        self.lines = lines.len();
        Ok(())
    }
}
