//! Log rotation of `worker.log` and `events.jsonl`: with a 1 KB limit and 3
//! backups, 10 KB of records leave the live file plus exactly 3 backups, none
//! over the limit by more than one record, and only the oldest data gone.

use allora_worker::io::logfile::RotatingFile;
use allora_worker::logic::event::{self, Kind};
use allora_worker::logic::rotation::Policy;
use serde_json::json;
use time::OffsetDateTime;

use crate::support::temp_dir;

fn write_10k(dir: &std::path::Path, name: &str, record: impl Fn(usize) -> String) -> Vec<String> {
    let mut file = RotatingFile::new(
        dir,
        name,
        Policy {
            max_bytes: 1024,
            backups: 3,
        },
    );
    let mut written = Vec::new();
    let mut total = 0;
    let mut i = 0;
    while total < 10 * 1024 {
        let r = record(i);
        file.write_record(r.as_bytes()).unwrap();
        total += r.len();
        written.push(r);
        i += 1;
    }
    written
}

fn check_rotation(dir: &std::path::Path, name: &str, written: &[String]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = [
        name.to_string(),
        format!("{name}.1"),
        format!("{name}.2"),
        format!("{name}.3"),
    ]
    .into();
    assert_eq!(names, expected);
    let longest = written.iter().map(|r| r.len()).max().unwrap() as u64;
    let mut kept = String::new();
    for n in [
        format!("{name}.3"),
        format!("{name}.2"),
        format!("{name}.1"),
        name.to_string(),
    ] {
        let len = std::fs::metadata(dir.join(&n)).unwrap().len();
        assert!(len <= 1024 + longest, "{n} is {len} bytes");
        kept.push_str(&std::fs::read_to_string(dir.join(&n)).unwrap());
    }
    let all: String = written.concat();
    assert!(
        all.ends_with(&kept),
        "the kept files are exactly the newest records, in order"
    );
    assert!(kept.len() < all.len(), "the oldest records were dropped");
    kept.lines().map(str::to_string).collect()
}

#[test]
fn worker_log_rotates_keeping_three_backups() {
    let dir = temp_dir("rotate-log");
    let written = write_10k(&dir, "worker.log", |i| {
        format!("2026-01-01T00:00:00Z [INFO] record number {i:05}\n")
    });
    let lines = check_rotation(&dir, "worker.log", &written);
    assert!(lines
        .last()
        .unwrap()
        .contains(&format!("{:05}", written.len() - 1)));
}

#[test]
fn events_jsonl_rotates_and_every_line_is_json() {
    let dir = temp_dir("rotate-events");
    let at = OffsetDateTime::from_unix_timestamp(1_764_288_000).unwrap();
    let written = write_10k(&dir, "events.jsonl", |i| {
        event::line(
            at,
            Kind::Heartbeat,
            &format!("beat {i}"),
            json!({"cycle": i}),
        ) + "\n"
    });
    for line in check_rotation(&dir, "events.jsonl", &written) {
        let v: serde_json::Value = serde_json::from_str(&line).expect("every line parses as JSON");
        assert_eq!(v["event"], "heartbeat");
    }
}
