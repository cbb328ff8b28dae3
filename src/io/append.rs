//! Appending one record to a file whole, or not at all: the one "append or
//! roll back" of the ledger, the score record, `events.jsonl` and
//! `worker.log`. A write that fails part-way (disk full, a file-size limit:
//! the kernel writes what fits, then answers ENOSPC or EFBIG) or an fsync
//! that fails truncates the file back to its length before the write, so a
//! torn line can never swallow the next record. Moves bytes, decides nothing.

use std::fs::File;
use std::io::{self, Write};

/// Appends `record` to `file` (opened for appending) and, when `durable`,
/// fsyncs it. On any failure the file is cut back to its length before the
/// call and the write's error is returned (a failed cut too is named in it).
pub fn append_whole(file: &mut File, record: &[u8], durable: bool) -> io::Result<()> {
    let before = file.metadata()?.len();
    let written = file
        .write_all(record)
        .and_then(|()| if durable { file.sync_data() } else { Ok(()) });
    let Err(e) = written else {
        return Ok(());
    };
    match file.set_len(before).and_then(|()| file.sync_data()) {
        Ok(()) => Err(e),
        Err(cut) => Err(io::Error::new(
            e.kind(),
            format!("{e}; cutting the file back to {before} bytes failed too: {cut}"),
        )),
    }
}
