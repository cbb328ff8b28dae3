//! Log rotation policy, shared by `worker.log` and `events.jsonl`: when to
//! rotate and which renames to do. Pure; `io::logfile` carries it out.
//!
//! Invariant: a file is rotated *before* a record that would push it past the
//! limit, so no file exceeds the limit except by one record larger than the
//! limit itself. Backups are `NAME.1` (newest) … `NAME.N` (oldest).

/// Size limit and number of backups for one rotating file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_bytes: u64,
    pub backups: u32,
}

impl Policy {
    /// True when writing `incoming` bytes to a file of `current` bytes must
    /// first rotate it. An empty file is never rotated.
    pub fn should_rotate(&self, current: u64, incoming: u64) -> bool {
        current > 0 && current.saturating_add(incoming) > self.max_bytes
    }

    /// The file operations of one rotation, in order, for base name `name`.
    pub fn plan(&self, name: &str) -> Vec<Step> {
        if self.backups == 0 {
            return vec![Step::Remove(name.to_string())];
        }
        let numbered = |i: u32| format!("{name}.{i}");
        let mut steps = vec![Step::Remove(numbered(self.backups))];
        for i in (1..self.backups).rev() {
            steps.push(Step::Rename(numbered(i), numbered(i + 1)));
        }
        steps.push(Step::Rename(name.to_string(), numbered(1)));
        steps
    }
}

/// One file operation. A missing source is not an error when carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Remove(String),
    Rename(String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_before_overflow_only() {
        let p = Policy {
            max_bytes: 100,
            backups: 3,
        };
        assert!(!p.should_rotate(0, 500));
        assert!(!p.should_rotate(50, 50));
        assert!(p.should_rotate(51, 50));
    }

    #[test]
    fn plan_shifts_oldest_out() {
        let p = Policy {
            max_bytes: 1,
            backups: 3,
        };
        assert_eq!(
            p.plan("w.log"),
            vec![
                Step::Remove("w.log.3".into()),
                Step::Rename("w.log.2".into(), "w.log.3".into()),
                Step::Rename("w.log.1".into(), "w.log.2".into()),
                Step::Rename("w.log".into(), "w.log.1".into()),
            ]
        );
        assert_eq!(
            Policy {
                max_bytes: 1,
                backups: 0
            }
            .plan("w"),
            vec![Step::Remove("w".into())]
        );
    }
}
