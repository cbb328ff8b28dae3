//! The clock: the only place (with the daemon loop) that reads wall time.
//! Pure code takes `now` as an argument.
//!
//! The wall clock can be shifted in-process (`shift_wall_clock`) so a test
//! can make it jump hours forward or back under a running daemon; production
//! never shifts it. Windows follow chain heights and timeouts follow the
//! monotonic clock (`Instant`), so a jump must change neither. The devnet,
//! which stands in for another machine, reads `system_now_utc`.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// Seconds added to the system clock by `now_utc` (0 outside tests).
static SHIFT_S: AtomicI64 = AtomicI64::new(0);

/// Current wall-clock time in UTC, as the worker sees it.
pub fn now_utc() -> OffsetDateTime {
    let shift = time::Duration::seconds(SHIFT_S.load(Ordering::SeqCst));
    system_now_utc().saturating_add(shift)
}

/// The system clock, never shifted (the devnet's chain time).
pub fn system_now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Test seam: from now on `now_utc` is the system clock plus `shift`
/// (process-wide; `time::Duration::ZERO` undoes it).
pub fn shift_wall_clock(shift: time::Duration) {
    SHIFT_S.store(shift.whole_seconds(), Ordering::SeqCst);
}
