//! When a submission window has closed, in both of the chain's scheduler
//! modes, and what that implies for a tx's timeout height; ledger entries a
//! restarted chain no longer matches; a sequence moved by another signer.
//!
//! Block mode: a window is open up to and including its end block. Seconds
//! mode (§12 C12): the chain closes a window in the EndBlock of the first
//! block whose time is at or past the window's close time, so once the
//! newest committed block's time reached the close time, no tx can land in
//! the window any more. Pure: heights, times and rates are arguments.

/// How a window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The last block at which a submission is accepted.
    Block(u64),
    /// Unix seconds of block time at or after which the window is closed.
    Time(i64),
}

/// The chain as the worker last saw it: newest height and its block time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tip {
    pub height: u64,
    /// Unix seconds; None when no block time was read yet.
    pub time: Option<i64>,
}

/// True when no tx sent now can land in a window ending at `close`.
pub fn is_closed(close: Close, tip: Tip) -> bool {
    match close {
        Close::Block(end) => tip.height > end,
        Close::Time(at) => tip.time.is_some_and(|t| t >= at),
    }
}

/// Extra blocks past the estimated closing height a seconds-mode tx may
/// still land in (block times vary); the chain refuses anything after the
/// close anyway, this only bounds how long a lost tx is waited for.
pub const TIMEOUT_MARGIN_BLOCKS: u64 = 3;

/// A tx's timeout height for a window ending at `close`: the end block, or
/// in seconds mode the estimated closing height (seconds left at
/// `secs_per_block`, rounded up, plus a fifth) plus `TIMEOUT_MARGIN_BLOCKS`.
/// 0 (no timeout) when the block time or the block rate is unknown.
pub fn timeout_height(close: Close, tip: Tip, secs_per_block: Option<f64>) -> u64 {
    match close {
        Close::Block(end) => end,
        Close::Time(at) => {
            let (Some(now), Some(spb)) = (tip.time, secs_per_block.filter(|s| *s > 0.0)) else {
                return 0;
            };
            let left = at.saturating_sub(now).max(0) as f64;
            let blocks = (left / spb * 1.2).ceil().min(1e9) as u64;
            tip.height
                .saturating_add(blocks)
                .saturating_add(TIMEOUT_MARGIN_BLOCKS)
        }
    }
}

/// The end block the submission machine should use once a seconds-mode
/// window is seen closed at `height`: the block before it (the machine
/// treats a height above the end as closed).
pub fn end_block_seen_closed(height: u64) -> u64 {
    height.saturating_sub(1)
}

/// Ledger nonces that cannot belong to the chain at `height`: above it (the
/// chain was restarted lower or reset). Sorted as given.
pub fn stale_nonces(nonces: &[i64], height: u64) -> Vec<i64> {
    nonces
        .iter()
        .copied()
        .filter(|n| u64::try_from(*n).map_or(true, |n| n > height))
        .collect()
}

/// Evidence that another signer uses this key: the account's sequence at
/// signing is `seen`, the previous tx this process signed had `ours`. Our
/// own tx can account for one step (it landed); more is someone else.
pub fn sequence_moved_by_another(ours: Option<u64>, seen: u64) -> bool {
    ours.is_some_and(|p| seen > p.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(height: u64, time: Option<i64>) -> Tip {
        Tip { height, time }
    }

    #[test]
    fn closed_by_height_or_by_block_time() {
        assert!(!is_closed(Close::Block(10), tip(10, None)));
        assert!(is_closed(Close::Block(10), tip(11, None)));
        assert!(
            !is_closed(Close::Time(1_000), tip(99, None)),
            "no block time: open"
        );
        assert!(!is_closed(Close::Time(1_000), tip(99, Some(999))));
        assert!(is_closed(Close::Time(1_000), tip(99, Some(1_000))));
        assert!(
            is_closed(Close::Time(1_000), tip(5, Some(5_000))),
            "after a halt"
        );
    }

    #[test]
    fn timeout_heights() {
        assert_eq!(timeout_height(Close::Block(42), tip(1, None), None), 42);
        assert_eq!(
            timeout_height(Close::Time(100), tip(50, None), Some(1.0)),
            0
        );
        assert_eq!(timeout_height(Close::Time(100), tip(50, Some(90)), None), 0);
        // 10 s left at 2 s a block: 5 blocks, 6 with a fifth more, + margin.
        assert_eq!(
            timeout_height(Close::Time(100), tip(50, Some(90)), Some(2.0)),
            59
        );
        assert_eq!(
            timeout_height(Close::Time(100), tip(50, Some(200)), Some(2.0)),
            53
        );
        assert_eq!(end_block_seen_closed(7), 6);
        assert_eq!(end_block_seen_closed(0), 0);
    }

    #[test]
    fn stale_entries_and_moved_sequences() {
        assert_eq!(stale_nonces(&[5, 90, 120, -1], 100), vec![120, -1]);
        assert!(stale_nonces(&[5, 100], 100).is_empty());
        assert!(!sequence_moved_by_another(None, 9));
        assert!(!sequence_moved_by_another(Some(4), 4));
        assert!(!sequence_moved_by_another(Some(4), 5));
        assert!(sequence_moved_by_another(Some(4), 6));
    }
}
