//! Retries: a step that fails after its input was stored is retried by the cron trigger with
//! exponential backoff until it succeeds; after [`MAX_ATTEMPTS`] it is parked as `dead`,
//! visible through the API and retryable by hand. Nothing acknowledged is dropped.

use crate::time::{HOUR, MINUTE};

pub const MAX_ATTEMPTS: u32 = 14;
/// How long a claimed job is left to its claimant before another tick may take it over.
pub const LEASE_MS: i64 = 2 * MINUTE;

/// The delay before attempt `attempt + 1`, after `attempt` failures: 1, 2, 4, … minutes, at most
/// 6 hours.
pub fn backoff_ms(attempt: u32) -> i64 {
    let exp = attempt.saturating_sub(1).min(16);
    (MINUTE << exp).min(6 * HOUR)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(i64),
    Dead,
}

/// What happens to a job that just failed its `attempts`-th attempt at `now`.
pub fn after_failure(attempts: u32, now_ms: i64) -> AfterFailure {
    if attempts >= MAX_ATTEMPTS {
        AfterFailure::Dead
    } else {
        AfterFailure::RetryAt(now_ms + backoff_ms(attempts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1), MINUTE);
        assert_eq!(backoff_ms(2), 2 * MINUTE);
        assert_eq!(backoff_ms(5), 16 * MINUTE);
        assert_eq!(backoff_ms(11), 6 * HOUR);
        assert_eq!(after_failure(1, 100), AfterFailure::RetryAt(100 + MINUTE));
        assert_eq!(after_failure(MAX_ATTEMPTS, 100), AfterFailure::Dead);
        let total: i64 = (1..MAX_ATTEMPTS).map(backoff_ms).sum();
        assert!(
            total > 24 * HOUR,
            "retries span more than a day before a job is parked"
        );
    }
}
