//! The SLA figures: compliance tallies and percentiles of time to first touch.

use serde_json::Value;

use super::*;

/// The value at percentile `p` (0–100) of sorted values, nearest-rank.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// The figures for one group (a team, a rep, everyone): what marketing and sales review.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub assigned: u64,
    pub met: u64,
    pub breached: u64,
    pub pending: u64,
    pub ended: u64,
    /// Milliseconds from assignment to first touch, for each touched clock.
    pub times: Vec<i64>,
    pub accepted: u64,
    pub rejected: u64,
    pub converted: u64,
    pub reasons: std::collections::BTreeMap<String, u64>,
    pub follow_ups_met: u64,
    pub follow_ups_missed: u64,
    pub follow_ups_pending: u64,
}

impl Tally {
    pub fn add_clock(
        &mut self,
        started_at: i64,
        deadline_at: i64,
        touched_at: Option<i64>,
        ended_at: Option<i64>,
        now: i64,
    ) {
        self.assigned += 1;
        match standing(deadline_at, touched_at, ended_at, now) {
            Standing::Met => self.met += 1,
            Standing::Breached => self.breached += 1,
            Standing::Pending => self.pending += 1,
            Standing::Ended => self.ended += 1,
        }
        if let Some(t) = touched_at {
            self.times.push((t - started_at).max(0));
        }
    }

    /// A clock's follow-up deadline (set by its first touch when the tier has one).
    pub fn add_follow_up(&mut self, due_at: Option<i64>, done_at: Option<i64>, now: i64) {
        match (due_at, done_at) {
            (None, _) => {}
            (Some(due), Some(done)) if done <= due => self.follow_ups_met += 1,
            (Some(_), Some(_)) => self.follow_ups_missed += 1,
            (Some(due), None) if now > due => self.follow_ups_missed += 1,
            (Some(_), None) => self.follow_ups_pending += 1,
        }
    }

    pub fn add_outcome(&mut self, outcome: &str, reason: Option<&str>) {
        match outcome {
            "accepted" => self.accepted += 1,
            "rejected" => {
                self.rejected += 1;
                *self
                    .reasons
                    .entry(reason.unwrap_or("unspecified").to_string())
                    .or_default() += 1;
            }
            "converted" => self.converted += 1,
            _ => {}
        }
    }

    pub fn to_json(&self) -> Value {
        let mut times = self.times.clone();
        times.sort_unstable();
        let minutes =
            |p: f64| percentile(&times, p).map(|ms| (ms as f64 / 60_000.0 * 10.0).round() / 10.0);
        let decided = self.accepted + self.rejected;
        let rate =
            |n: u64, d: u64| (d > 0).then(|| (n as f64 / d as f64 * 1000.0).round() / 1000.0);
        serde_json::json!({
            "assigned": self.assigned,
            "touched_within_sla": self.met,
            "breached": self.breached,
            "pending": self.pending,
            "ended_before_deadline": self.ended,
            "within_sla_rate": rate(self.met, self.met + self.breached),
            "median_minutes_to_first_touch": minutes(50.0),
            "p90_minutes_to_first_touch": minutes(90.0),
            "touched": times.len(),
            "follow_ups": { "met": self.follow_ups_met, "missed": self.follow_ups_missed, "pending": self.follow_ups_pending },
            "mql_outcomes": {
                "accepted": self.accepted,
                "rejected": self.rejected,
                "converted": self.converted,
                "acceptance_rate": rate(self.accepted, decided),
                "rejection_rate": rate(self.rejected, decided),
                "rejection_reasons": self.reasons,
            },
        })
    }
}
