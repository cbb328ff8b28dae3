//! The machine-wide claim on one (chain id, topic, address): two abstract
//! Unix sockets, which the kernel releases when the process dies and which
//! every process of the machine's network namespace sees, whatever its data
//! dir, user or systemd sandbox.
//!
//! - `allora-worker/lock/CHAIN-TOPIC-ADDRESS`: binding it is the claim; a
//!   second bind fails with "address in use".
//! - `aw/HASH/PID/DATA_DIR` (HASH: 16 hex of SHA-256 of the instance name):
//!   who holds the claim and where its data dir is, read back from
//!   `/proc/net/unix` by a second instance, `status` and `stop`.
//!
//! Moves bytes only; what to do about a running worker is the caller's call.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::io::lock::instance_name;

const LOCK_PREFIX: &str = "allora-worker/lock/";
const INFO_PREFIX: &str = "aw/";
/// The longest abstract socket name (`sun_path` is 108 bytes, one is the
/// leading NUL).
const MAX_NAME: usize = 107;

/// A held claim; released when dropped or when the process ends.
pub struct Claim {
    _lock: UnixDatagram,
    _info: Option<UnixDatagram>,
}

/// A worker that holds a claim, as `/proc/net/unix` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// `CHAIN-TOPIC-ADDRESS` (chain id made safe for a name).
    pub instance: String,
    pub pid: Option<u32>,
    pub data_dir: Option<PathBuf>,
}

fn lock_name(instance: &str) -> String {
    let name = format!("{LOCK_PREFIX}{instance}");
    if name.len() <= MAX_NAME {
        name
    } else {
        format!("{LOCK_PREFIX}{}", hash(instance))
    }
}

fn hash(instance: &str) -> String {
    crate::logic::hex::encode(&Sha256::digest(instance.as_bytes())[..8])
}

fn bind(name: &str) -> std::io::Result<UnixDatagram> {
    UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes())?)
}

impl Claim {
    /// Claims (chain id, topic, address) for this process, or fails naming
    /// the pid and data dir of the worker that holds it (exit 1).
    pub fn acquire(chain_id: &str, topic: u64, address: &str, data_dir: &Path) -> Result<Claim> {
        let instance = instance_name(chain_id, topic, address);
        let lock = match bind(&lock_name(&instance)) {
            Ok(sock) => sock,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let holder = running()
                    .into_iter()
                    .find(|r| r.instance == instance)
                    .map(|r| describe(&r))
                    .unwrap_or_else(|| "another process".into());
                return Err(Error::Running(format!(
                    "another worker ({holder}) already runs for this chain, topic and address"
                )));
            }
            Err(e) => return Err(Error::io("claim the machine-wide worker lock", e)),
        };
        let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let info = format!(
            "{INFO_PREFIX}{}/{}/{}",
            hash(&instance),
            std::process::id(),
            dir.display()
        );
        // A data dir too long for a socket name only costs `status` the path.
        let info = if info.len() <= MAX_NAME {
            bind(&info).ok()
        } else {
            None
        };
        Ok(Claim {
            _lock: lock,
            _info: info,
        })
    }
}

/// "pid N, data dir D" as far as known.
pub fn describe(r: &Running) -> String {
    let pid = r.pid.map_or("pid unknown".into(), |p| format!("pid {p}"));
    match &r.data_dir {
        Some(d) => format!("{pid}, data dir {}", d.display()),
        None => format!("{pid}, data dir unknown"),
    }
}

/// Every worker holding a claim on this machine.
pub fn running() -> Vec<Running> {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    parse_table(&table)
}

/// The claims in a `/proc/net/unix` table.
fn parse_table(table: &str) -> Vec<Running> {
    let names: Vec<&str> = table.lines().skip(1).filter_map(socket_name).collect();
    let mut out: Vec<Running> = names
        .iter()
        .filter_map(|n| n.strip_prefix(LOCK_PREFIX))
        .map(|instance| {
            let tag = format!("{INFO_PREFIX}{}/", hash(instance));
            let info = names.iter().find_map(|n| n.strip_prefix(tag.as_str()));
            let (pid, dir) = match info.and_then(|i| i.split_once('/')) {
                Some((pid, dir)) => (pid.parse().ok(), Some(PathBuf::from(dir))),
                None => (None, None),
            };
            Running {
                instance: instance.to_string(),
                pid,
                data_dir: dir,
            }
        })
        .collect();
    out.sort_by(|a, b| a.instance.cmp(&b.instance));
    out.dedup();
    out
}

/// The abstract name on one `/proc/net/unix` line (after 7 fixed fields),
/// without its `@`.
fn socket_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for _ in 0..7 {
        let end = rest.find(' ')?;
        rest = rest[end..].trim_start();
    }
    rest.strip_prefix('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_claims_back_from_the_table() {
        let instance = "devnet-1-67-allo1abc";
        let table = format!(
            "Num       RefCount Protocol Flags    Type St Inode Path\n\
             0000000000000000: 00000002 00000000 00000000 0002 01 12345 @{LOCK_PREFIX}{instance}\n\
             0000000000000000: 00000002 00000000 00000000 0002 01    77 @{INFO_PREFIX}{}/4242//home/pi/my data\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 999 /run/systemd/notify\n\
             0000000000000000: 00000002 00000000 00000000 0002 01 12346 @{LOCK_PREFIX}devnet-1-67-allo1other\n",
            hash(instance)
        );
        let got = parse_table(&table);
        assert_eq!(
            got,
            vec![
                Running {
                    instance: instance.into(),
                    pid: Some(4242),
                    data_dir: Some("/home/pi/my data".into()),
                },
                Running {
                    instance: "devnet-1-67-allo1other".into(),
                    pid: None,
                    data_dir: None,
                },
            ]
        );
        assert_eq!(describe(&got[0]), "pid 4242, data dir /home/pi/my data");
        assert_eq!(describe(&got[1]), "pid unknown, data dir unknown");
    }

    #[test]
    fn long_names_are_hashed_to_fit() {
        let long = "c".repeat(200);
        assert!(lock_name(&long).len() <= MAX_NAME);
        assert_eq!(lock_name("a-1-b"), format!("{LOCK_PREFIX}a-1-b"));
    }
}
