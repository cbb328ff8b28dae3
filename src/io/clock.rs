//! The clock: the only place (with the daemon loop) that reads wall time.
//! Pure code takes `now` as an argument.

use time::OffsetDateTime;

/// Current wall-clock time in UTC.
pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}
