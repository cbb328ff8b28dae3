//! The ledger file on a real filesystem: records survive reopening, a torn
//! last line (crash mid-write) is skipped and repaired, compaction keeps the
//! unresolved and recent nonces; the score record beside it does the same;
//! and the singleton lock names its holder. A ledger of a newer format is
//! refused untouched; a genuine partial write (a child process under a
//! 1 KiB file-size limit, SIGXFSZ ignored, so the kernel writes what fits and
//! then answers EFBIG) leaves the ledger and a log file at a record boundary.

use std::path::Path;
use std::process::Command;

use allora_worker::io::ledger::LedgerFile;
use allora_worker::io::lock::{self, Lock};
use allora_worker::io::logfile::RotatingFile;
use allora_worker::logic::ledger::{Next, Record, Stage};
use allora_worker::logic::rotation::Policy;

use crate::support::temp_dir;

fn signed(nonce: i64, at: i64) -> Record {
    Record {
        nonce,
        at,
        stage: Stage::Signed {
            tx_hash: format!("H{nonce}"),
            sequence: 3,
            tx_b64: "AAAA".into(),
            timeout_height: 40,
        },
    }
}

#[test]
fn records_survive_reopen_and_a_torn_line() {
    let dir = temp_dir("ledger");
    let path = dir.join("ledger.jsonl");
    {
        let (mut l, skipped) = LedgerFile::open(&path).unwrap();
        assert_eq!(skipped, 0);
        l.append(signed(10, 1)).unwrap();
        l.append(Record {
            nonce: 11,
            at: 2,
            stage: Stage::Done {
                reason: "window closed".into(),
            },
        })
        .unwrap();
    }
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"nonce\":12,\"at\":3,\"state\":\"sig");
    std::fs::write(&path, text).unwrap();
    let (mut l, skipped) = LedgerFile::open(&path).unwrap();
    assert_eq!(skipped, 1, "the torn line is skipped");
    assert_eq!(l.state().next(10), Next::Reconcile);
    assert_eq!(l.state().signed(10)[0].hash, "H10");
    assert_eq!(l.state().next(11), Next::Finished);
    assert_eq!(l.state().next(12), Next::Submit);
    l.append(signed(13, 4)).unwrap();
    let (l, skipped) = LedgerFile::open(&path).unwrap();
    assert_eq!(skipped, 1);
    assert!(
        matches!(l.state().next(13), Next::Reconcile),
        "a record after the torn line is readable"
    );
}

#[test]
fn compaction_rewrites_atomically() {
    let dir = temp_dir("ledger-compact");
    let path = dir.join("ledger.jsonl");
    let (mut l, _) = LedgerFile::open(&path).unwrap();
    for n in 0..50 {
        l.append(Record {
            nonce: n,
            at: n,
            stage: Stage::Done {
                reason: "ok".into(),
            },
        })
        .unwrap();
    }
    l.append(signed(5, 5)).unwrap(); // ignored: nonce 5 is finished
    l.append(signed(100, 1)).unwrap();
    assert!(!l.compact_if_needed(40, 1000).unwrap());
    assert!(l.compact_if_needed(40, 10).unwrap());
    let (reopened, skipped) = LedgerFile::open(&path).unwrap();
    assert_eq!(skipped, 0);
    assert_eq!(
        reopened.state().len(),
        11,
        "nonces 40..49 and the unresolved 100"
    );
    assert!(matches!(reopened.state().next(100), Next::Reconcile));
    assert_eq!(reopened.state().next(45), Next::Finished);
}

#[test]
fn a_second_lock_names_the_first_pid() {
    let dir = temp_dir("lock");
    let path = lock::path_for(&dir, "devnet-1", 67, "allo1x");
    let held = Lock::acquire(&path).unwrap();
    assert_eq!(lock::read_pid(held.path()), Some(std::process::id()));
    assert!(lock::is_held(&path));
    let err = Lock::acquire(&path)
        .err()
        .expect("second lock must fail")
        .to_string();
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
    assert!(!lock::is_held(&path));
    assert!(
        Lock::acquire(&path).is_ok(),
        "a released lock is taken over"
    );
}

#[test]
fn the_score_record_survives_a_torn_line_and_compacts_with_the_ledger() {
    use allora_worker::io::scorefile::ScoreFile;
    use allora_worker::logic::score_record::{Entry, Outcome};
    let dir = temp_dir("score-record");
    let path = dir.join("score.jsonl");
    let day = 86_400;
    let entry = |nonce, at, outcome| Entry { nonce, at, outcome };
    {
        let (mut f, skipped) = ScoreFile::open(&path).unwrap();
        assert_eq!(skipped, 0);
        f.append(entry(1, 0, Outcome::Missed)).unwrap();
        f.append(entry(2, 40 * day, Outcome::Submitted { value: Some(0.5) }))
            .unwrap();
        f.append(entry(3, 41 * day, Outcome::Submitted { value: None }))
            .unwrap();
    }
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"nonce\":4,\"at\":3,\"sta");
    std::fs::write(&path, text).unwrap();
    let (mut f, skipped) = ScoreFile::open(&path).unwrap();
    assert_eq!((skipped, f.state().len()), (1, 3));
    assert!(
        !f.compact_if_needed(0, 168, 10, false).unwrap(),
        "small and not forced"
    );
    // The ledger compacted: keep 30 days of target times (at + 7 days here).
    assert!(f.compact_if_needed(40 * day, 168, 10, true).unwrap());
    f.append(entry(5, 42 * day, Outcome::Missed)).unwrap();
    let (f, skipped) = ScoreFile::open(&path).unwrap();
    assert_eq!(skipped, 0, "the torn line went with the compaction");
    let kept: Vec<i64> = f.state().entries().map(|e| e.nonce).collect();
    assert_eq!(kept, vec![2, 3, 5]);
    assert_eq!(f.state().due(48 * day, 168), vec![(2, 0.5)]);
}

#[test]
fn a_ledger_of_a_newer_format_is_refused_untouched() {
    let dir = temp_dir("ledger-newer");
    let path = dir.join("ledger.jsonl");
    let old = r#"{"at":5,"nonce":9,"state":"done","reason":"ok"}"#;
    // A torn last line too: even the repair (a newline) must not be written.
    let text = format!(
        "{old}\n{}\n{{\"v\":3,\"nonce\":10",
        r#"{"v":3,"at":6,"nonce":10,"state":"sealed"}"#
    );
    std::fs::write(&path, &text).unwrap();
    let err = LedgerFile::open(&path)
        .err()
        .expect("a newer ledger is refused");
    let said = err.to_string();
    assert!(
        said.contains("format 3")
            && said.contains("formats 1 to 2")
            && said.contains("ledger.jsonl"),
        "the error names the versions and the file: {said}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "never rewritten"
    );
    std::fs::write(&path, format!("{old}\n")).unwrap();
    let (l, skipped) = LedgerFile::open(&path).expect("a format-1 ledger opens");
    assert_eq!((skipped, l.state().next(9)), (0, Next::Finished));
}

/// Set in the child process that writes under the file-size limit.
const FSIZE_CHILD: &str = "ALLORA_TEST_FSIZE_CHILD";

fn big_record(nonce: i64) -> Record {
    Record {
        nonce,
        at: nonce,
        stage: Stage::Signed {
            tx_hash: format!("H{nonce}"),
            sequence: 3,
            tx_b64: "A".repeat(200),
            timeout_height: 40,
        },
    }
}

/// Child: appends under the limit until a write fails; prints what happened.
fn write_until_full(dir: &Path) {
    use std::io::Write;
    let mut control = std::fs::File::create(dir.join("control")).unwrap();
    let plain = (0..4)
        .try_for_each(|n| control.write_all(format!("{}\n", big_record(n).to_line()).as_bytes()));
    let (mut ledger, _) = LedgerFile::open(&dir.join("ledger.jsonl")).unwrap();
    let ledger_err = (0..10)
        .find_map(|n| ledger.append(big_record(n)).err())
        .map(|e| e.to_string());
    let policy = Policy {
        max_bytes: 1 << 20,
        backups: 1,
    };
    let mut log = RotatingFile::new(dir, "worker.log", policy);
    let line = format!("{}\n", "x".repeat(299));
    let log_err = (0..10)
        .find_map(|_| log.write_record(line.as_bytes()).err())
        .map(|e| e.to_string());
    println!(
        "CHILD plain={:?} ledger={ledger_err:?} log={log_err:?}",
        plain.err().map(|e| e.to_string())
    );
}

#[test]
fn a_partial_append_is_cut_back_to_the_record_before() {
    if let Some(dir) = std::env::var_os(FSIZE_CHILD) {
        return write_until_full(Path::new(&dir));
    }
    let dir = temp_dir("ledger-fsize");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 2; exec \"$0\" \"$@\""])
        .arg(&exe)
        .args([
            "--exact",
            "ledger::a_partial_append_is_cut_back_to_the_record_before",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FSIZE_CHILD, &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = stdout
        .lines()
        .find_map(|l| l.find("CHILD ").map(|i| &l[i..]))
        .unwrap_or_else(|| {
            panic!(
                "the child reports: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(out.status.success(), "{said}");
    // The fault landed: a plain write_all stops at the 1024-byte limit mid-record.
    let control = std::fs::read(dir.join("control")).unwrap();
    assert_eq!(control.len(), 1024, "{said}");
    assert_ne!(
        control.last(),
        Some(&b'\n'),
        "a plain write leaves a torn line"
    );
    assert_eq!(
        said.matches("File too large").count(),
        3,
        "every writer hit EFBIG: {said}"
    );
    let line_len = big_record(0).to_line().len() + 1;
    let ledger_path = dir.join("ledger.jsonl");
    let text = std::fs::read_to_string(&ledger_path).unwrap();
    assert_eq!(
        text.len(),
        1024 / line_len * line_len,
        "cut back to the last whole record: {said}"
    );
    let (mut ledger, skipped) = LedgerFile::open(&ledger_path).unwrap();
    assert_eq!(skipped, 0);
    assert_eq!(ledger.state().len(), 1024 / line_len);
    ledger.append(big_record(50)).unwrap();
    let (reopened, skipped) = LedgerFile::open(&ledger_path).unwrap();
    assert_eq!(skipped, 0, "the next append is a line of its own");
    assert_eq!(reopened.state().next(50), Next::Reconcile);
    let log = std::fs::read_to_string(dir.join("worker.log")).unwrap();
    assert_eq!(
        log.len(),
        1024 / 300 * 300,
        "worker.log ends at a record boundary: {said}"
    );
    assert!(log.lines().all(|l| l.len() == 299), "only whole lines");
}
