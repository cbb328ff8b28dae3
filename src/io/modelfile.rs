//! Saving (atomically, through `io::atomic`) and reading the model file.
//! Moves bytes only; the format is `logic::model_format`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::atomic;
use crate::logic::model_format::{self, ModelFile};

/// The model file of `topic` in the data directory: `model.json` for topic
/// 67 (as before several topics), `model-<topic>.json` for any other.
pub fn path(data_dir: &Path, topic: u64) -> PathBuf {
    if topic == 67 {
        data_dir.join("model.json")
    } else {
        data_dir.join(format!("model-{topic}.json"))
    }
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
