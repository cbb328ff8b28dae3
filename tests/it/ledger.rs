//! The ledger file on a real filesystem: records survive reopening, a torn
//! last line (crash mid-write) is skipped and repaired, compaction keeps the
//! unresolved and recent nonces; the score record beside it does the same;
//! and the singleton lock names its holder.

use allora_worker::io::ledger::LedgerFile;
use allora_worker::io::lock::{self, Lock};
use allora_worker::logic::ledger::{Next, Record, Stage};

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
