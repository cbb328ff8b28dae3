//! Atomic file replacement: write a temp file beside the target, fsync it,
//! rename it over the target, fsync the directory. Readers see the old or
//! the new content, never a torn file (status.json, metrics, model files).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `path` with `bytes` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let what = |e| Error::io(format!("write {}", path.display()), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(what)?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let mut f = File::create(&tmp).map_err(what)?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(what)?;
    fs::rename(&tmp, path).map_err(what)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(what)?;
    }
    Ok(())
}
