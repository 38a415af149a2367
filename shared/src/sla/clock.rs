//! A clock: when its deadline and ladder steps fall, what stops it, where a lead stands.

use serde::{Deserialize, Serialize};

use crate::hours::Schedule;

use super::*;

/// A ladder step with the instant it is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueStep {
    pub id: String,
    pub action: Action,
    pub via: Vec<Via>,
    pub due_at: i64,
}

/// A started clock: its deadline and its ladder.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub tier: String,
    pub deadline_at: i64,
    pub steps: Vec<DueStep>,
}

/// Starts a clock at `start` in `schedule` for `tier`. `None` only when the schedule does not
/// open within the look-ahead horizon.
pub fn start(policy: &Policy, tier: &Tier, schedule: &Schedule, start: i64) -> Option<Clock> {
    start_ladder(
        &tier.name,
        tier.first_touch_minutes,
        &policy.ladder,
        schedule,
        start,
    )
}

/// Starts a clock for a lead waiting in a queue (tier `queue:<name>`), in the policy's hours.
pub fn start_queue(policy: &Policy, queue: &QueueTier, start: i64) -> Option<Clock> {
    start_ladder(
        &format!("queue:{}", queue.queue),
        queue.first_touch_minutes,
        &queue.ladder,
        &policy.business_hours,
        start,
    )
}

fn start_ladder(
    tier: &str,
    first_touch_minutes: i64,
    ladder: &[Step],
    schedule: &Schedule,
    start: i64,
) -> Option<Clock> {
    let deadline_at = schedule.add_business_minutes(start, first_touch_minutes)?;
    let steps = ladder
        .iter()
        .map(|s| {
            let at = (first_touch_minutes + s.offset_minutes).max(0);
            schedule
                .add_business_minutes(start, at)
                .map(|due_at| DueStep {
                    id: s.id.clone(),
                    action: s.action,
                    via: s.via.clone(),
                    due_at,
                })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Clock {
        tier: tier.to_string(),
        deadline_at,
        steps,
    })
}

/// How a running clock ends when its lead gets a new assignment at `at`: a queue's clock is met
/// (or late) when a rep takes the lead from the queue — claiming it is the queue's first touch;
/// any other clock just ends (the new owner gets a clock of their own).
pub fn superseded(
    queue_clock: bool,
    deadline_at: i64,
    to_rep: bool,
    at: i64,
) -> (&'static str, Option<i64>) {
    match (queue_clock, to_rep) {
        (true, true) if at <= deadline_at => ("met", Some(at)),
        (true, true) => ("late", Some(at)),
        _ => ("ended", None),
    }
}

/// Which new assignments get a first-touch clock: every one owned by a rep, and a queue's only
/// when the policy gives that queue a deadline (`queues`).
pub fn gets_clock(policy: &Policy, rep: Option<&str>, queue: Option<&str>) -> bool {
    rep.is_some() || queue.and_then(|q| policy.queue_tier(q)).is_some()
}

/// What a touch does to a running first-touch clock: the one rule for a touch recorded while the
/// clock runs and for one recorded before the clock started (whichever comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// `met` (by the deadline) or `late`.
    pub state: &'static str,
    pub touched_at: i64,
    /// When the follow-up is due, if the tier asks for one.
    pub follow_up_due_at: Option<i64>,
}

/// Whether a touch of `touch_type` at `touched_at` stops a clock that started at `started_at`
/// with its deadline at `deadline_at`: only touches the policy counts, and only touches at or
/// after the clock's start (earlier ones were for an earlier owner). The follow-up, if the tier
/// has one (`follow_up`: its schedule and minutes), is due that many business minutes later.
pub fn touch_stops(
    policy: &Policy,
    touch_type: &str,
    touched_at: i64,
    started_at: i64,
    deadline_at: i64,
    follow_up: Option<(&Schedule, i64)>,
) -> Option<Stopped> {
    if touched_at < started_at || !policy.qualifies(touch_type) {
        return None;
    }
    Some(Stopped {
        state: if touched_at <= deadline_at {
            "met"
        } else {
            "late"
        },
        touched_at,
        follow_up_due_at: follow_up
            .and_then(|(schedule, minutes)| schedule.add_business_minutes(touched_at, minutes)),
    })
}

/// When the step after `done` steps is due (`None`: the ladder is finished).
pub fn next_due(steps: &[DueStep], done: usize) -> Option<i64> {
    steps.get(done).map(|s| s.due_at)
}

/// What the cron does with a clock whose next step is due.
#[derive(Debug, Clone, PartialEq)]
pub enum Move<'s> {
    /// Its assignment is no longer the lead's open one (re-routed, moved by hand, or the lead
    /// was rejected or converted): the clock ends, and no step is taken.
    End,
    /// Every step was taken: the clock stays as it is, no longer due.
    Idle,
    /// Take `step`. The clock is then due again at `next_due`, in `state` (`running`, or
    /// `reassigned` after a reassignment, which ends it — it runs after the deadline, so the
    /// clock counts as breached), ended at `ended_at`.
    Take {
        step: &'s DueStep,
        next_due: Option<i64>,
        state: &'static str,
        ended_at: Option<i64>,
    },
}

/// The cron's move for a due clock: `open` says whether its assignment is still the lead's
/// current, open one; `next_step` is the index of the step due.
pub fn next_move(open: bool, steps: &[DueStep], next_step: usize, now: i64) -> Move<'_> {
    if !open {
        return Move::End;
    }
    let Some(step) = steps.get(next_step) else {
        return Move::Idle;
    };
    if step.action == Action::Reassign {
        Move::Take {
            step,
            next_due: None,
            state: "reassigned",
            ended_at: Some(now),
        }
    } else {
        Move::Take {
            step,
            next_due: next_due(steps, next_step + 1),
            state: "running",
            ended_at: None,
        }
    }
}

/// How a clock stands for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Touched by the deadline.
    Met,
    /// Touched after the deadline, or not touched and the deadline has passed.
    Breached,
    /// Not touched yet, deadline still ahead.
    Pending,
    /// The assignment ended (reassigned by hand or re-routed) before any touch or breach.
    Ended,
}

pub fn standing(
    deadline_at: i64,
    touched_at: Option<i64>,
    ended_at: Option<i64>,
    now: i64,
) -> Standing {
    match touched_at {
        Some(t) if t <= deadline_at => Standing::Met,
        Some(_) => Standing::Breached,
        None => match ended_at {
            Some(e) if e < deadline_at => Standing::Ended,
            // Ended at or after the deadline untouched (an escalation moved it on): breached.
            Some(_) => Standing::Breached,
            None if now >= deadline_at => Standing::Breached,
            None => Standing::Pending,
        },
    }
}
