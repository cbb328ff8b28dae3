//! The singleton lock: one worker per (chain id, topic, address). An
//! exclusive advisory lock (`File::try_lock`) on a file in the data dir that
//! also holds the owner's pid, for messages and for `stop`. The kernel drops
//! the lock when the process dies, so a lock left by `kill -9` is simply
//! taken over.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held lock; released when dropped or when the process ends.
pub struct Lock {
    path: PathBuf,
    _file: File,
}

/// The lock path for one (chain id, topic, address).
pub fn path_for(data_dir: &Path, chain_id: &str, topic: u64, address: &str) -> PathBuf {
    data_dir.join(format!(
        "worker-{}.lock",
        instance_name(chain_id, topic, address)
    ))
}

/// `CHAIN-TOPIC-ADDRESS` with the chain id made safe for a file name; the
/// lock and the ledger of one worker instance share it.
pub fn instance_name(chain_id: &str, topic: u64, address: &str) -> String {
    let safe: String = chain_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-{topic}-{address}")
}

impl Lock {
    /// Takes the lock or fails naming the pid that holds it.
    pub fn acquire(path: &Path) -> Result<Lock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let what = |e| Error::io(format!("lock file {}", path.display()), e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(what)?;
        if file.try_lock().is_err() {
            let holder = read_pid(path)
                .map(|p| format!("pid {p}"))
                .unwrap_or_else(|| "another process".into());
            return Err(Error::Running(format!(
                "another worker ({holder}) already runs for this chain, topic and address (lock {})",
                path.display()
            )));
        }
        file.set_len(0).map_err(what)?;
        file.seek(SeekFrom::Start(0)).map_err(what)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(what)?;
        file.sync_data().map_err(what)?;
        Ok(Lock {
            path: path.to_path_buf(),
            _file: file,
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid written in a lock file, if any.
pub fn read_pid(path: &Path) -> Option<u32> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// True when a process holds the lock at `path` right now.
pub fn is_held(path: &Path) -> bool {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f.try_lock().is_err(),
        Err(_) => false,
    }
}
