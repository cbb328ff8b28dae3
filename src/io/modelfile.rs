//! Saving (atomically, through `io::atomic`) and reading the model file.
//! Moves bytes only; the format is `logic::model_format`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::atomic;
use crate::logic::model_format::{self, ModelFile};

/// The model file's place in the data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("model.json")
}

/// Writes the model file atomically.
pub fn save(path: &Path, m: &ModelFile) -> Result<()> {
    atomic::write(path, model_format::encode(m).as_bytes())
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
