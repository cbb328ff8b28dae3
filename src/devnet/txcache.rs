//! CometBFT's mempool tx cache (`cache_size`, default 10 000): the hashes
//! of txs seen recently, least recently used evicted first. A tx enters on
//! broadcast, leaves when CheckTx or DeliverTx fails, and stays after a
//! successful delivery until evicted; size 0 is CometBFT's no-op cache.

use std::collections::{BTreeMap, HashMap};

/// A bounded LRU set of tx hashes.
#[derive(Debug, Default)]
pub struct TxCache {
    capacity: usize,
    serial: u64,
    by_hash: HashMap<String, u64>,
    by_age: BTreeMap<u64, String>,
}

impl TxCache {
    pub fn new(capacity: usize) -> TxCache {
        TxCache {
            capacity,
            ..TxCache::default()
        }
    }

    /// CometBFT's `Push`: false when `hash` is cached (it becomes the most
    /// recent), true when it was added, evicting the oldest beyond capacity.
    pub fn push(&mut self, hash: &str) -> bool {
        if self.capacity == 0 {
            return true;
        }
        self.serial += 1;
        if let Some(old) = self.by_hash.insert(hash.to_string(), self.serial) {
            self.by_age.remove(&old);
            self.by_age.insert(self.serial, hash.to_string());
            return false;
        }
        self.by_age.insert(self.serial, hash.to_string());
        while self.by_hash.len() > self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.by_hash.remove(&oldest);
        }
        true
    }

    pub fn remove(&mut self, hash: &str) {
        if let Some(serial) = self.by_hash.remove(hash) {
            self.by_age.remove(&serial);
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut c = TxCache::new(2);
        assert!(c.push("a") && c.push("b"));
        assert!(!c.push("a"), "a is cached and becomes the newest");
        assert!(c.push("c"), "c evicts b");
        assert!(!c.push("a"));
        assert!(c.push("b"), "b was evicted");
        c.remove("b");
        assert!(c.push("b"));
        assert_eq!(c.len(), 2);
        let mut none = TxCache::new(0);
        assert!(none.push("a") && none.push("a") && none.is_empty());
    }
}
