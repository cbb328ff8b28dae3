//! Atomic file writes (temp file, fsync, rename, fsync of the directory) and
//! reading the model file. Moves bytes only; the format is `logic::model`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::logic::model_format::{self, ModelFile};

/// The model file's place in the data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("model.json")
}

/// Writes `bytes` to `path` so a crash leaves either the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(format!("write {}", path.display()), e)
    })
}

/// Writes the model file atomically.
pub fn save(path: &Path, m: &ModelFile) -> Result<()> {
    write_atomic(path, model_format::encode(m).as_bytes())
}

/// Reads and decodes the model file; `Ok(None)` when there is none.
pub fn load(path: &Path) -> Result<Option<ModelFile>> {
    match fs::read_to_string(path) {
        Ok(text) => model_format::decode(&text)
            .map(Some)
            .map_err(|e| Error::Model(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("read {}", path.display()), e)),
    }
}
