//! How long an invocation has left, from the Runtime API's `Lambda-Runtime-Deadline-Ms`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A deadline this far in the past cannot be Lambda's: Lambda sends epoch milliseconds of the
/// invocation's start plus the function's timeout, always in the future when the event arrives.
const NOT_AN_EPOCH_TIME: Duration = Duration::from_secs(24 * 3600);

/// The time left before `deadline_ms` (epoch milliseconds), as Lambda's Runtime API gives it.
///
/// `cargo lambda watch` (1.9.2, the local Runtime API `make invoke` uses) sends the constant
/// `600000` instead, which read as a time is ten minutes past midnight on 1 January 1970: every
/// invocation would have run out before it began, and the processor would hand every message back
/// unread. A deadline more than a day in the past is read as what cargo-lambda means by it, a
/// duration in milliseconds.
pub fn remaining(deadline_ms: u64, now_ms: u64) -> Duration {
    if deadline_ms.saturating_add(NOT_AN_EPOCH_TIME.as_millis() as u64) < now_ms {
        return Duration::from_millis(deadline_ms);
    }
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// [`remaining`] from now.
pub fn remaining_from_now(deadline_ms: u64) -> Duration {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    remaining(deadline_ms, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_601_600_000; // 2026-12-07T00:00:00Z

    #[test]
    fn lambda_deadlines_are_epoch_times() {
        assert_eq!(remaining(NOW + 900_000, NOW), Duration::from_secs(900));
        assert_eq!(remaining(NOW + 1, NOW), Duration::from_millis(1));
    }

    #[test]
    fn a_deadline_just_passed_leaves_nothing() {
        // An invocation that overran (or a clock a little off) has no time left, as before.
        assert_eq!(remaining(NOW - 5_000, NOW), Duration::ZERO);
        assert_eq!(remaining(NOW - 23 * 3600 * 1000, NOW), Duration::ZERO);
    }

    #[test]
    fn cargo_lambda_watch_sends_a_duration() {
        assert_eq!(remaining(600_000, NOW), Duration::from_secs(600));
    }
}
