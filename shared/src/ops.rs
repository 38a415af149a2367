//! Operations: whether the system is doing its periodic work. Each handler records its last cron
//! tick (when it started and finished, how much it did, and whether it failed); these rules say
//! when that record — or a retry queue with jobs that gave up — makes the system degraded.
//!
//! The schedule runs every minute in production. A handler whose last tick failed, or that has
//! not finished a tick for [`STALE_AFTER_MS`], is degraded: deadlines would pass unenforced.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::time::{rfc3339, MINUTE};

/// No finished tick for this long means the schedule is not running (or every tick dies).
pub const STALE_AFTER_MS: i64 = 5 * MINUTE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TickOutcome {
    Ok,
    Failed,
}

impl TickOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TickOutcome::Ok => "ok",
            TickOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<TickOutcome> {
        match s {
            "ok" => Some(TickOutcome::Ok),
            "failed" => Some(TickOutcome::Failed),
            _ => None,
        }
    }
}

/// A handler's last tick as recorded (times are wall-clock milliseconds).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TickRecord {
    pub started_at: Option<i64>,
    /// The time the tick was scheduled for (tests fire the trigger "in the future").
    pub scheduled_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    /// What the tick did (retries, steps, deliveries, …).
    pub items: Option<i64>,
    /// The outcome of the last tick that finished.
    pub outcome: Option<TickOutcome>,
    pub error: Option<String>,
    pub last_ok_at: Option<i64>,
    /// Ticks failed in a row.
    pub failures: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TickState {
    /// The last tick finished recently and succeeded.
    Ok,
    /// The first tick is under way.
    Starting,
    /// Nothing has run yet, and the system is new (younger than [`STALE_AFTER_MS`]).
    Waiting,
    /// The last tick failed.
    Failed,
    /// No tick finished for [`STALE_AFTER_MS`]: the schedule is not running, or ticks die.
    Stale,
}

impl TickState {
    pub fn healthy(self) -> bool {
        matches!(
            self,
            TickState::Ok | TickState::Starting | TickState::Waiting
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TickState::Ok => "ok",
            TickState::Starting => "starting",
            TickState::Waiting => "waiting",
            TickState::Failed => "failed",
            TickState::Stale => "stale",
        }
    }
}

/// The state of a handler's periodic work at `now`. `system_since` is when the schema was first
/// applied: a system older than the stale window that has never ticked has no schedule.
pub fn tick_state(record: Option<&TickRecord>, now: i64, system_since: Option<i64>) -> TickState {
    let Some(r) = record else {
        return match system_since {
            Some(since) if now - since > STALE_AFTER_MS => TickState::Stale,
            _ => TickState::Waiting,
        };
    };
    match (r.finished_at, r.started_at) {
        (None, Some(started)) if now - started <= STALE_AFTER_MS => TickState::Starting,
        (None, _) => TickState::Stale,
        (Some(finished), _) if now - finished > STALE_AFTER_MS => TickState::Stale,
        (Some(_), _) if r.outcome == Some(TickOutcome::Failed) => TickState::Failed,
        (Some(_), _) => TickState::Ok,
    }
}

/// What `/health` and `/v1/admin/ticks` show of a handler's ticks.
pub fn tick_view(record: Option<&TickRecord>, now: i64, system_since: Option<i64>) -> Value {
    let state = tick_state(record, now, system_since);
    let why = match state {
        TickState::Ok | TickState::Starting => None,
        TickState::Waiting => Some("no tick has run yet".to_string()),
        TickState::Failed => Some(format!(
            "the last tick failed ({} in a row): {}",
            record.map_or(0, |r| r.failures),
            record
                .and_then(|r| r.error.as_deref())
                .unwrap_or("no error recorded")
        )),
        TickState::Stale => Some(match record.and_then(|r| r.finished_at.or(r.started_at)) {
            Some(at) => format!(
                "no tick has finished for {} minutes (last at {}): is the cron trigger running?",
                (now - at) / MINUTE,
                rfc3339(at)
            ),
            None => "no tick has run since the schema was applied: is the cron trigger configured?"
                .to_string(),
        }),
    };
    let r = record.cloned().unwrap_or_default();
    json!({
        "ok": state.healthy(),
        "state": state.as_str(),
        "why": why,
        "started_at": r.started_at.map(rfc3339),
        "scheduled_for": r.scheduled_at.map(rfc3339),
        "finished_at": r.finished_at.map(rfc3339),
        "duration_ms": r.duration_ms,
        "items": r.items,
        "outcome": r.outcome.map(TickOutcome::as_str),
        "error": r.error,
        "last_ok_at": r.last_ok_at.map(rfc3339),
        "consecutive_failures": r.failures,
    })
}

/// Jobs that gave up (after [`crate::jobs::MAX_ATTEMPTS`]) degrade the system until someone
/// retries or resolves them: something acknowledged is not done.
pub fn jobs_view(dead: i64, pending: i64) -> Value {
    json!({
        "ok": dead == 0,
        "dead": dead,
        "pending": pending,
        "why": (dead > 0).then(|| format!("{dead} job(s) gave up after {} attempts: see /v1/admin/jobs?status=dead and retry them", crate::jobs::MAX_ATTEMPTS)),
    })
}

/// `d1_migrations.applied_at` (`YYYY-MM-DD HH:MM:SS`, UTC) in milliseconds.
pub fn parse_sqlite_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.len() < 19 {
        return None;
    }
    crate::time::parse_rfc3339(&format!("{}T{}Z", &t[..10], &t[11..19]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn finished(at: i64, outcome: TickOutcome) -> TickRecord {
        TickRecord {
            started_at: Some(at - 100),
            finished_at: Some(at),
            outcome: Some(outcome),
            ..Default::default()
        }
    }

    #[test]
    fn a_recent_successful_tick_is_ok_and_a_failed_one_is_not() {
        let ok = finished(NOW - MINUTE, TickOutcome::Ok);
        assert_eq!(tick_state(Some(&ok), NOW, None), TickState::Ok);
        let failed = finished(NOW - MINUTE, TickOutcome::Failed);
        assert_eq!(tick_state(Some(&failed), NOW, None), TickState::Failed);
        assert!(!TickState::Failed.healthy());
    }

    #[test]
    fn no_finished_tick_for_five_minutes_is_stale() {
        let old = finished(NOW - STALE_AFTER_MS - 1, TickOutcome::Ok);
        assert_eq!(tick_state(Some(&old), NOW, None), TickState::Stale);
        let edge = finished(NOW - STALE_AFTER_MS, TickOutcome::Ok);
        assert_eq!(tick_state(Some(&edge), NOW, None), TickState::Ok);
        // A tick that keeps dying never finishes: its starts do not make it healthy.
        let dying = TickRecord {
            started_at: Some(NOW - 10),
            finished_at: Some(NOW - 20 * MINUTE),
            outcome: Some(TickOutcome::Ok),
            ..Default::default()
        };
        assert_eq!(tick_state(Some(&dying), NOW, None), TickState::Stale);
    }

    #[test]
    fn the_first_tick_and_a_new_system_are_not_degraded_but_an_old_one_without_ticks_is() {
        let starting = TickRecord {
            started_at: Some(NOW - MINUTE),
            ..Default::default()
        };
        assert_eq!(tick_state(Some(&starting), NOW, None), TickState::Starting);
        let never_finished = TickRecord {
            started_at: Some(NOW - 6 * MINUTE),
            ..Default::default()
        };
        assert_eq!(
            tick_state(Some(&never_finished), NOW, None),
            TickState::Stale
        );
        assert_eq!(
            tick_state(None, NOW, Some(NOW - MINUTE)),
            TickState::Waiting
        );
        assert_eq!(tick_state(None, NOW, None), TickState::Waiting);
        assert_eq!(
            tick_state(None, NOW, Some(NOW - STALE_AFTER_MS - 1)),
            TickState::Stale
        );
        let view = tick_view(None, NOW, Some(NOW - 10 * MINUTE));
        assert_eq!(view["ok"], false);
        assert!(view["why"].as_str().unwrap().contains("cron trigger"));
    }

    #[test]
    fn the_view_says_why() {
        let mut failed = finished(NOW - MINUTE, TickOutcome::Failed);
        failed.error = Some("D1 is down".into());
        failed.failures = 3;
        let v = tick_view(Some(&failed), NOW, None);
        assert_eq!(v["ok"], false);
        assert_eq!(v["state"], "failed");
        assert_eq!(v["consecutive_failures"], 3);
        assert!(v["why"].as_str().unwrap().contains("D1 is down"));
        assert_eq!(jobs_view(0, 4)["ok"], true);
        assert_eq!(jobs_view(2, 0)["ok"], false);
    }

    #[test]
    fn parses_the_migration_time() {
        assert_eq!(
            parse_sqlite_time("2026-12-01 08:35:12"),
            crate::time::parse_rfc3339("2026-12-01T08:35:12Z")
        );
        assert_eq!(parse_sqlite_time("yesterday"), None);
    }
}
