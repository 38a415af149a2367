//! Handoff SLAs: first-touch deadlines in business time, and the escalation ladder that acts on
//! a missed one.
//!
//! A policy is versioned configuration:
//!
//! ```json
//! {
//!   "name": "Inbound SLA",
//!   "business_hours": {"timezone": "America/New_York", "hours": {"mon": "09:00-17:00", "fri": "09:00-17:00"}, "holidays": ["2026-12-25"]},
//!   "use_rep_hours": true,
//!   "qualifying_touches": ["call", "email", "meeting"],
//!   "tiers": [
//!     {"name": "hot", "when": {"field": "score", "at_least": 80}, "first_touch_minutes": 60, "follow_up_minutes": 1440},
//!     {"name": "standard", "first_touch_minutes": 1440}
//!   ],
//!   "ladder": [
//!     {"id": "warn", "action": "warn", "before_deadline_minutes": 15},
//!     {"id": "escalate", "action": "escalate", "after_deadline_minutes": 0, "via": ["task", "webhook"]},
//!     {"id": "reassign", "action": "reassign", "after_deadline_minutes": 60}
//!   ]
//! }
//! ```
//! Minutes are business minutes: in the owner's working hours and time zone when
//! `use_rep_hours` is set and the rep has them, otherwise in `business_hours`. The first tier
//! whose condition matches applies; the last tier has no condition, so every lead gets one. A
//! clock starts when a lead is assigned to a rep; the first qualifying touch stops it. Each
//! ladder step is due at a fixed instant computed when the clock starts; the cron runs each step
//! once, in order.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hours::Schedule;
use crate::problem::FieldError;
use crate::scoring::condition::{Condition, Facts, ROUTING_FIELDS};

pub const TOUCH_TYPES: &[&str] = &["call", "email", "meeting", "sms", "social", "status_change"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Tell the owner (a signed `sla.warning` webhook; recorded on the lead).
    Warn,
    /// A task for the owner's manager and/or a signed `sla.escalated` webhook.
    Escalate,
    /// Move the lead to the next rep through routing, away from the current owner.
    Reassign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Task,
    Webhook,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub action: Action,
    /// Business minutes relative to the deadline (negative: before it).
    pub offset_minutes: i64,
    pub via: Vec<Via>,
}

#[derive(Debug, Clone)]
pub struct Tier {
    pub name: String,
    pub when: Option<Condition>,
    pub first_touch_minutes: i64,
    pub follow_up_minutes: Option<i64>,
}

/// Tiers a policy may have: the first match applies, the last is the default.
pub const MAX_TIERS: usize = 10;

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub business_hours: Schedule,
    pub use_rep_hours: bool,
    pub qualifying_touches: Vec<String>,
    pub tiers: Vec<Tier>,
    pub ladder: Vec<Step>,
    /// Who gets an escalation task when the owner has no manager and their team no lead.
    pub escalation_owner: Option<String>,
    /// Deadlines for leads waiting in a queue (first match wins; `*` matches every queue).
    pub queues: Vec<QueueTier>,
}

/// A queue's first-touch deadline — a rep claiming the lead, or any qualifying touch — and its
/// ladder (warn and escalate: a queue lead is moved on by a rep claiming it).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueTier {
    pub queue: String,
    pub first_touch_minutes: i64,
    pub ladder: Vec<Step>,
}

/// The assignee of an escalation task when nobody else is named: RevOps, who owns the process.
pub const DEFAULT_ESCALATION_OWNER: &str = "revops";

/// Who an escalation task goes to, and why: the owner's manager, else the team's lead, else the
/// policy's escalation owner, else RevOps. A task is never left without an assignee.
pub fn escalation_assignee(
    manager: Option<&str>,
    team_lead: Option<&str>,
    policy_owner: Option<&str>,
) -> (String, &'static str) {
    fn pick(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    if let Some(m) = pick(manager) {
        return (m.to_string(), "manager");
    }
    if let Some(l) = pick(team_lead) {
        return (l.to_string(), "team_lead");
    }
    if let Some(o) = pick(policy_owner) {
        return (o.to_string(), "escalation_owner");
    }
    (DEFAULT_ESCALATION_OWNER.to_string(), "default")
}

/// The built-in policy (version 0): one business day (09:00–17:00 UTC, Monday to Friday) to
/// the first touch, a warning an hour before, an escalation to the manager at the deadline.
/// Automatic reassignment is a choice a team opts into by publishing a policy.
pub const BUILTIN: &str = r#"{
  "name": "built-in: one business day, warn, then escalate",
  "business_hours": {"timezone": "UTC", "hours": {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}},
  "use_rep_hours": true,
  "qualifying_touches": ["call", "email", "meeting"],
  "tiers": [{"name": "standard", "first_touch_minutes": 480}],
  "ladder": [
    {"id": "warn", "action": "warn", "before_deadline_minutes": 60},
    {"id": "escalate", "action": "escalate", "after_deadline_minutes": 0, "via": ["task", "webhook"]}
  ]
}"#;

fn minutes(v: &Value, at: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match v.as_i64() {
        Some(m) if (0..=525_600).contains(&m) => Some(m),
        _ => {
            errors.push(FieldError::new(
                at,
                "a whole number of minutes from 0 to 525600",
            ));
            None
        }
    }
}

fn split(e: String) -> FieldError {
    match e.split_once(": ") {
        Some((field, reason)) => FieldError::new(field, reason),
        None => FieldError::new("", e),
    }
}

/// An escalation ladder (`at` names it in errors). Queue ladders may not reassign: a rep claims
/// a queue's lead.
fn parse_ladder(
    v: &Value,
    at_ladder: &str,
    allow_reassign: bool,
    errors: &mut Vec<FieldError>,
) -> Vec<Step> {
    let mut ladder: Vec<Step> = Vec::new();
    let steps = match v {
        Value::Null => Vec::new(),
        Value::Array(items) if items.len() <= 10 => items.clone(),
        _ => {
            errors.push(FieldError::new(at_ladder, "give at most 10 steps"));
            Vec::new()
        }
    };
    for (i, s) in steps.iter().enumerate() {
        let at = format!("{at_ladder}[{i}]");
        let id = s["id"].as_str().unwrap_or("");
        if !crate::routing::id_ok(id) {
            errors.push(FieldError::new(
                format!("{at}.id"),
                "give an id of letters, digits, - _ .",
            ));
        } else if ladder.iter().any(|x| x.id == id) {
            errors.push(FieldError::new(
                format!("{at}.id"),
                format!("`{id}` is used by an earlier step"),
            ));
        }
        let action = match serde_json::from_value::<Action>(s["action"].clone()) {
            Ok(a) => a,
            Err(_) => {
                errors.push(FieldError::new(
                    format!("{at}.action"),
                    "one of warn, escalate, reassign",
                ));
                Action::Warn
            }
        };
        let offset = match (&s["before_deadline_minutes"], &s["after_deadline_minutes"]) {
            (Value::Null, Value::Null) | (Value::Number(_), Value::Number(_)) => {
                errors.push(FieldError::new(
                    at.clone(),
                    "give before_deadline_minutes or after_deadline_minutes",
                ));
                0
            }
            (b, Value::Null) => {
                -minutes(b, &format!("{at}.before_deadline_minutes"), errors).unwrap_or(0)
            }
            (_, a) => minutes(a, &format!("{at}.after_deadline_minutes"), errors).unwrap_or(0),
        };
        let via: Vec<Via> = match (&s["via"], action) {
            (Value::Null, Action::Escalate) => vec![Via::Task, Via::Webhook],
            (Value::Null, _) => vec![Via::Webhook],
            (v, _) => match serde_json::from_value::<Vec<Via>>(v.clone()) {
                Ok(list) if !list.is_empty() => list,
                _ => {
                    errors.push(FieldError::new(
                        format!("{at}.via"),
                        "a list drawn from task, webhook",
                    ));
                    Vec::new()
                }
            },
        };
        if let Some(prev) = ladder.last() {
            if offset < prev.offset_minutes {
                errors.push(FieldError::new(at.clone(), "steps must be in time order"));
            }
            if prev.action == Action::Reassign {
                errors.push(FieldError::new(
                    at.clone(),
                    "reassign ends the clock: it must be the last step",
                ));
            }
        }
        ladder.push(Step {
            id: id.to_string(),
            action,
            offset_minutes: offset,
            via,
        });
    }
    if !allow_reassign {
        for (i, s) in ladder.iter().enumerate() {
            if s.action == Action::Reassign {
                errors.push(FieldError::new(
                    format!("{at_ladder}[{i}].action"),
                    "a queue's ladder can warn and escalate; a rep claims the lead from the queue",
                ));
            }
        }
    }
    ladder
}

/// The `queues` setting: `[{"queue": "unrouted", "first_touch_minutes": 60, "ladder": [...]}]`.
fn parse_queues(v: &Value, errors: &mut Vec<FieldError>) -> Vec<QueueTier> {
    let items = match v {
        Value::Null => return Vec::new(),
        Value::Array(items) if items.len() <= 50 => items,
        _ => {
            errors.push(FieldError::new("queues", "give at most 50 queue deadlines"));
            return Vec::new();
        }
    };
    let mut out: Vec<QueueTier> = Vec::new();
    for (i, q) in items.iter().enumerate() {
        let at = format!("queues[{i}]");
        let queue = match q["queue"].as_str().map(str::trim) {
            Some(name) if name == "*" || (!name.is_empty() && name.chars().count() <= 100) => {
                name.to_string()
            }
            _ => {
                errors.push(FieldError::new(
                    format!("{at}.queue"),
                    "give the queue's name, or * for every queue",
                ));
                String::new()
            }
        };
        if out.iter().any(|x| x.queue == queue) {
            errors.push(FieldError::new(
                format!("{at}.queue"),
                format!("`{queue}` is given an earlier deadline"),
            ));
        }
        let first = minutes(
            &q["first_touch_minutes"],
            &format!("{at}.first_touch_minutes"),
            errors,
        );
        if first == Some(0) {
            errors.push(FieldError::new(
                format!("{at}.first_touch_minutes"),
                "give at least one minute",
            ));
        }
        let ladder = parse_ladder(&q["ladder"], &format!("{at}.ladder"), false, errors);
        out.push(QueueTier {
            queue,
            first_touch_minutes: first.unwrap_or(1),
            ladder,
        });
    }
    out
}

impl Policy {
    /// Parses and validates a policy; every error names its place (`tiers[1].when.in`).
    pub fn parse(v: &Value) -> Result<Policy, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(vec![FieldError::new("", "an SLA policy is a JSON object")]);
        };
        for key in obj.keys() {
            if ![
                "name",
                "business_hours",
                "use_rep_hours",
                "qualifying_touches",
                "tiers",
                "ladder",
                "escalation_owner",
                "queues",
            ]
            .contains(&key.as_str())
            {
                errors.push(FieldError::new(key.clone(), "unknown setting"));
            }
        }
        let name = match v["name"].as_str().map(str::trim) {
            Some(n) if !n.is_empty() && n.chars().count() <= 200 => n.to_string(),
            _ => {
                errors.push(FieldError::new(
                    "name",
                    "give a name of at most 200 characters",
                ));
                String::new()
            }
        };
        let business_hours = match Schedule::parse(&v["business_hours"]) {
            Ok(s) => s,
            Err(e) => {
                errors.extend(
                    e.into_iter()
                        .map(|e| FieldError::new(format!("business_hours.{}", e.field), e.reason)),
                );
                Schedule::always()
            }
        };
        let use_rep_hours = match &v["use_rep_hours"] {
            Value::Null => true,
            Value::Bool(b) => *b,
            _ => {
                errors.push(FieldError::new("use_rep_hours", "must be true or false"));
                true
            }
        };
        let qualifying_touches: Vec<String> = match &v["qualifying_touches"] {
            Value::Null => vec!["call".into(), "email".into(), "meeting".into()],
            Value::Array(items) => {
                let list: Vec<String> = items
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect();
                if list.is_empty()
                    || list.len() != items.len()
                    || list.iter().any(|t| !TOUCH_TYPES.contains(&t.as_str()))
                {
                    errors.push(FieldError::new(
                        "qualifying_touches",
                        format!("a list drawn from {}", TOUCH_TYPES.join(", ")),
                    ));
                }
                list
            }
            _ => {
                errors.push(FieldError::new(
                    "qualifying_touches",
                    format!("a list drawn from {}", TOUCH_TYPES.join(", ")),
                ));
                Vec::new()
            }
        };
        let mut tiers: Vec<Tier> = Vec::new();
        let items = v["tiers"].as_array().cloned().unwrap_or_default();
        if items.is_empty() || items.len() > MAX_TIERS {
            errors.push(FieldError::new(
                "tiers",
                format!("give 1 to {MAX_TIERS} tiers; the last one without a condition"),
            ));
        }
        for (i, t) in items.iter().enumerate() {
            let at = format!("tiers[{i}]");
            let name = t["name"].as_str().unwrap_or("");
            if !crate::routing::id_ok(name) {
                errors.push(FieldError::new(
                    format!("{at}.name"),
                    "give a name of letters, digits, - _ .",
                ));
            } else if tiers.iter().any(|x| x.name == name) {
                errors.push(FieldError::new(
                    format!("{at}.name"),
                    format!("`{name}` is used by an earlier tier"),
                ));
            }
            let when = match &t["when"] {
                Value::Null => None,
                w => match Condition::parse_with(w, &format!("{at}.when"), ROUTING_FIELDS) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        errors.push(split(e));
                        None
                    }
                },
            };
            let last = i + 1 == items.len();
            if last && !t["when"].is_null() {
                errors.push(FieldError::new(
                    format!("{at}.when"),
                    "the last tier is the default: give it no condition",
                ));
            }
            if !last && t["when"].is_null() {
                errors.push(FieldError::new(
                    format!("{at}.when"),
                    "only the last tier may go without a condition",
                ));
            }
            let first = minutes(
                &t["first_touch_minutes"],
                &format!("{at}.first_touch_minutes"),
                &mut errors,
            );
            if first == Some(0) {
                errors.push(FieldError::new(
                    format!("{at}.first_touch_minutes"),
                    "give at least one minute",
                ));
            }
            let follow_up = match &t["follow_up_minutes"] {
                Value::Null => None,
                m => minutes(m, &format!("{at}.follow_up_minutes"), &mut errors),
            };
            tiers.push(Tier {
                name: name.to_string(),
                when,
                first_touch_minutes: first.unwrap_or(1),
                follow_up_minutes: follow_up,
            });
        }
        let ladder = parse_ladder(&v["ladder"], "ladder", true, &mut errors);
        let escalation_owner = match &v["escalation_owner"] {
            Value::Null => None,
            Value::String(o) if !o.trim().is_empty() && o.chars().count() <= 200 => {
                Some(o.trim().to_string())
            }
            _ => {
                errors.push(FieldError::new(
                    "escalation_owner",
                    "give who gets escalation tasks when the owner has no manager and the team no lead (a rep id or a name, at most 200 characters)",
                ));
                None
            }
        };
        let queues = parse_queues(&v["queues"], &mut errors);
        if errors.is_empty() {
            Ok(Policy {
                name,
                business_hours,
                use_rep_hours,
                qualifying_touches,
                tiers,
                ladder,
                escalation_owner,
                queues,
            })
        } else {
            Err(errors)
        }
    }

    /// The tier a lead falls in (the last tier has no condition, so there always is one).
    pub fn tier(&self, facts: &Facts) -> &Tier {
        self.tiers
            .iter()
            .find(|t| t.when.as_ref().is_none_or(|c| c.matches(facts)))
            .unwrap_or_else(|| self.tiers.last().expect("a policy has tiers"))
    }

    /// The deadline for leads waiting in `queue`, if the policy gives one.
    pub fn queue_tier(&self, queue: &str) -> Option<&QueueTier> {
        self.queues
            .iter()
            .find(|q| q.queue == queue)
            .or_else(|| self.queues.iter().find(|q| q.queue == "*"))
    }

    /// Whether a touch of this type stops the clock.
    pub fn qualifies(&self, touch_type: &str) -> bool {
        self.qualifying_touches.iter().any(|t| t == touch_type)
    }

    /// The schedule the clock counts in: the owner's hours when the policy says so.
    pub fn schedule<'a>(&'a self, rep_hours: Option<&'a Schedule>) -> &'a Schedule {
        match rep_hours {
            Some(h) if self.use_rep_hours => h,
            _ => &self.business_hours,
        }
    }
}

/// Validates a document for publishing (the versioned-configuration hook).
pub fn validate(doc: &Value) -> Result<Value, Vec<FieldError>> {
    Policy::parse(doc).map(|_| doc.clone())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{parse_rfc3339, MINUTE};
    use serde_json::json;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn policy() -> Policy {
        Policy::parse(&json!({
            "name": "test",
            "business_hours": {"timezone": "America/New_York", "hours": {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}, "holidays": ["2026-11-26"]},
            "tiers": [
                {"name": "hot", "when": {"field": "score", "at_least": 80}, "first_touch_minutes": 60, "follow_up_minutes": 480},
                {"name": "standard", "first_touch_minutes": 1440}
            ],
            "ladder": [
                {"id": "warn", "action": "warn", "before_deadline_minutes": 15},
                {"id": "escalate", "action": "escalate", "after_deadline_minutes": 0},
                {"id": "reassign", "action": "reassign", "after_deadline_minutes": 60}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn reps_always_get_a_clock_and_queues_only_when_the_policy_names_them() {
        let p = policy();
        assert!(gets_clock(&p, Some("rep_a"), None));
        assert!(!gets_clock(&p, None, Some("unrouted")));
        assert!(!gets_clock(&p, None, None));
        let mut doc = json!({
            "name": "q", "business_hours": {"timezone": "UTC", "hours": {"mon": "09:00-17:00"}},
            "tiers": [{"name": "standard", "first_touch_minutes": 60}],
            "queues": [{"queue": "unrouted", "first_touch_minutes": 30}]
        });
        let q = Policy::parse(&doc).unwrap();
        assert!(gets_clock(&q, None, Some("unrouted")));
        assert!(!gets_clock(&q, None, Some("nurture")));
        doc["queues"][0]["queue"] = json!("*");
        assert!(gets_clock(
            &Policy::parse(&doc).unwrap(),
            None,
            Some("nurture")
        ));
    }

    #[test]
    fn a_counted_touch_after_the_start_stops_the_clock_met_or_late_with_its_follow_up() {
        let p = policy();
        // Monday 2026-11-23, 10:00 in New York; deadline an hour later.
        let (start, deadline) = (at("2026-11-23T15:00:00Z"), at("2026-11-23T16:00:00Z"));
        let follow_up = Some((&p.business_hours, 480));
        let met = touch_stops(
            &p,
            "call",
            at("2026-11-23T15:30:00Z"),
            start,
            deadline,
            follow_up,
        )
        .unwrap();
        assert_eq!(met.state, "met");
        // 480 business minutes after 10:30 on a 09:00-17:00 day: 6h30 today, 1h30 tomorrow.
        assert_eq!(met.follow_up_due_at, Some(at("2026-11-24T15:30:00Z")));
        let late = touch_stops(
            &p,
            "email",
            at("2026-11-23T16:00:01Z"),
            start,
            deadline,
            None,
        )
        .unwrap();
        assert_eq!((late.state, late.follow_up_due_at), ("late", None));
        // Not a counted kind of touch; or a touch before this clock started (an earlier owner's).
        assert_eq!(touch_stops(&p, "sms", start, start, deadline, None), None);
        assert_eq!(
            touch_stops(&p, "call", start - 1, start, deadline, None),
            None
        );
    }

    #[test]
    fn queues_get_deadlines_and_ladders_without_reassignment() {
        let mut doc = serde_json::to_value(json!({
            "name": "q", "business_hours": {"timezone": "UTC", "hours": {"mon": "09:00-17:00"}},
            "tiers": [{"name": "standard", "first_touch_minutes": 60}],
            "escalation_owner": "rep_head_of_sales",
            "queues": [
                {"queue": "unrouted", "first_touch_minutes": 30, "ladder": [{"id": "escalate", "action": "escalate", "after_deadline_minutes": 0}]},
                {"queue": "*", "first_touch_minutes": 240}
            ]
        }))
        .unwrap();
        let p = Policy::parse(&doc).unwrap();
        assert_eq!(p.escalation_owner.as_deref(), Some("rep_head_of_sales"));
        assert_eq!(p.queue_tier("unrouted").unwrap().first_touch_minutes, 30);
        assert_eq!(p.queue_tier("nurture").unwrap().queue, "*");
        // Monday 09:00 UTC: 30 business minutes.
        let c = start_queue(
            &p,
            p.queue_tier("unrouted").unwrap(),
            at("2026-11-23T09:00:00Z"),
        )
        .unwrap();
        assert_eq!(c.tier, "queue:unrouted");
        assert_eq!(c.deadline_at, at("2026-11-23T09:30:00Z"));
        assert_eq!(c.steps[0].action, Action::Escalate);
        // A queue lead is moved on by a rep claiming it, not reassigned by the ladder.
        doc["queues"][0]["ladder"] =
            json!([{"id": "move", "action": "reassign", "after_deadline_minutes": 10}]);
        doc["queues"][1]["queue"] = json!("unrouted");
        let errors = Policy::parse(&doc).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["queues[0].ladder[0].action", "queues[1].queue"],
            "{errors:?}"
        );
        // No queues: a queue lead gets no clock.
        assert!(policy().queue_tier("unrouted").is_none());
    }

    #[test]
    fn a_claim_meets_or_misses_the_queue_deadline_and_other_clocks_just_end() {
        assert_eq!(superseded(true, 100, true, 100), ("met", Some(100)));
        assert_eq!(superseded(true, 100, true, 101), ("late", Some(101)));
        assert_eq!(superseded(true, 100, false, 50), ("ended", None));
        assert_eq!(superseded(false, 100, true, 50), ("ended", None));
    }

    #[test]
    fn an_escalation_task_always_has_an_assignee() {
        assert_eq!(
            escalation_assignee(Some("mgr"), Some("lead"), Some("owner")),
            ("mgr".to_string(), "manager")
        );
        assert_eq!(
            escalation_assignee(None, Some("lead"), Some("owner")),
            ("lead".to_string(), "team_lead")
        );
        assert_eq!(
            escalation_assignee(Some(" "), None, Some("owner")),
            ("owner".to_string(), "escalation_owner")
        );
        assert_eq!(
            escalation_assignee(None, None, None),
            (DEFAULT_ESCALATION_OWNER.to_string(), "default")
        );
    }

    #[test]
    fn builtin_parses() {
        let p = Policy::parse(&serde_json::from_str(BUILTIN).unwrap()).unwrap();
        assert_eq!(p.tiers.len(), 1);
        assert_eq!(p.ladder[1].via, vec![Via::Task, Via::Webhook]);
    }

    #[test]
    fn tiers_by_score_with_a_default() {
        let p = policy();
        let hot = crate::scoring::condition::RoutingFacts {
            score: Some(85.0),
            ..Default::default()
        };
        let cold = crate::scoring::condition::RoutingFacts {
            score: Some(20.0),
            ..Default::default()
        };
        assert_eq!(
            p.tier(&Facts {
                routing: Some(&hot),
                ..Default::default()
            })
            .name,
            "hot"
        );
        assert_eq!(
            p.tier(&Facts {
                routing: Some(&cold),
                ..Default::default()
            })
            .name,
            "standard"
        );
        assert_eq!(p.tier(&Facts::default()).name, "standard");
        assert!(p.qualifies("call") && !p.qualifies("status_change"));
    }

    #[test]
    fn the_ladder_is_placed_in_business_time() {
        let p = policy();
        let hot = &p.tiers[0];
        // Assigned Friday 16:30 New York (21:30Z): one business hour runs to Monday 09:30.
        let c = start(&p, hot, &p.business_hours, at("2026-11-20T21:30:00Z")).unwrap();
        assert_eq!(c.deadline_at, at("2026-11-23T14:30:00Z"));
        let due: Vec<(String, i64)> = c.steps.iter().map(|s| (s.id.clone(), s.due_at)).collect();
        assert_eq!(
            due,
            vec![
                // 45 business minutes in: 16:30–17:00 Friday, then 09:00–09:15 Monday.
                ("warn".into(), at("2026-11-23T14:15:00Z")),
                ("escalate".into(), at("2026-11-23T14:30:00Z")),
                ("reassign".into(), at("2026-11-23T15:30:00Z")),
            ]
        );
        assert_eq!(next_due(&c.steps, 1), Some(at("2026-11-23T14:30:00Z")));
        assert_eq!(next_due(&c.steps, 3), None);
        // Thanksgiving (Thursday 26th) is a holiday: 24 business hours from Wednesday 09:00
        // run Wednesday, Friday and Monday.
        let c = start(
            &p,
            &p.tiers[1],
            &p.business_hours,
            at("2026-11-25T14:00:00Z"),
        )
        .unwrap();
        assert_eq!(c.deadline_at, at("2026-11-30T22:00:00Z"));
        // A warning longer before the deadline than the tier allows is due at the start.
        let p2 = Policy::parse(&json!({"name": "x", "business_hours": {"timezone": "UTC", "hours": {"mon": "00:00-24:00"}},
            "tiers": [{"name": "t", "first_touch_minutes": 10}], "ladder": [{"id": "w", "action": "warn", "before_deadline_minutes": 30}]})).unwrap();
        let monday = at("2026-11-23T12:00:00Z");
        assert_eq!(
            start(&p2, &p2.tiers[0], &p2.business_hours, monday)
                .unwrap()
                .steps[0]
                .due_at,
            monday
        );
    }

    #[test]
    fn the_owners_hours_count_when_the_policy_says_so() {
        let p = policy();
        let tokyo = Schedule::parse(&json!({"timezone": "Asia/Tokyo", "hours": {"mon": "09:00-18:00", "tue": "09:00-18:00"}})).unwrap();
        assert_eq!(p.schedule(Some(&tokyo)).tz.name(), "Asia/Tokyo");
        assert_eq!(p.schedule(None).tz.name(), "America/New_York");
        let c = start(
            &p,
            &p.tiers[0],
            p.schedule(Some(&tokyo)),
            at("2026-11-23T08:30:00Z"),
        )
        .unwrap();
        // Monday 17:30 Tokyo: 30 minutes today, 30 on Tuesday from 09:00.
        assert_eq!(c.deadline_at, at("2026-11-24T00:30:00Z"));
        let mut no_rep = policy();
        no_rep.use_rep_hours = false;
        assert_eq!(no_rep.schedule(Some(&tokyo)).tz.name(), "America/New_York");
    }

    #[test]
    fn policies_are_validated_with_paths() {
        let errors = Policy::parse(&json!({
            "name": "",
            "business_hours": {"timezone": "Nowhere/Else", "hours": {"mon": "09:00-17:00"}},
            "qualifying_touches": ["carrier_pigeon"],
            "tiers": [
                {"name": "hot", "first_touch_minutes": 0},
                {"name": "rest", "when": {"field": "score", "at_least": 1}, "first_touch_minutes": 60}
            ],
            "ladder": [
                {"id": "r", "action": "reassign", "after_deadline_minutes": 10},
                {"id": "w", "action": "warn", "before_deadline_minutes": 5},
                {"id": "x", "action": "shout", "after_deadline_minutes": 1, "before_deadline_minutes": 1}
            ]
        }))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "name",
            "business_hours.timezone",
            "qualifying_touches",
            "tiers[0].when",
            "tiers[0].first_touch_minutes",
            "tiers[1].when",
            "ladder[1]",
            "ladder[2].action",
            "ladder[2]",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn standing_and_percentiles() {
        let d = 100 * MINUTE;
        assert_eq!(standing(d, Some(d), None, 0), Standing::Met);
        assert_eq!(standing(d, Some(d + 1), None, 0), Standing::Breached);
        assert_eq!(standing(d, None, None, d), Standing::Breached);
        assert_eq!(standing(d, None, None, d - 1), Standing::Pending);
        assert_eq!(standing(d, None, Some(d - 5), d + 10), Standing::Ended);
        assert_eq!(standing(d, None, Some(d + 5), d + 10), Standing::Breached);
        assert_eq!(standing(d, None, Some(d + 5), 0), Standing::Breached);
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 90.0), Some(9));
        assert_eq!(percentile(&[7], 90.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn tallies_add_up() {
        let mut t = Tally::default();
        let d = 60 * MINUTE;
        t.add_clock(0, d, Some(10 * MINUTE), None, 2 * d); // met in 10 min
        t.add_clock(0, d, Some(90 * MINUTE), None, 2 * d); // late
        t.add_clock(0, d, None, None, 2 * d); // breached, untouched
        t.add_clock(0, 3 * d, None, None, 2 * d); // pending
        t.add_clock(0, d, None, Some(5 * MINUTE), 2 * d); // moved away in time
        t.add_follow_up(Some(100), Some(90), 200);
        t.add_follow_up(Some(100), Some(110), 200);
        t.add_follow_up(Some(100), None, 200);
        t.add_follow_up(Some(300), None, 200);
        t.add_follow_up(None, None, 200);
        t.add_outcome("accepted", None);
        t.add_outcome("rejected", Some("no_budget"));
        t.add_outcome("rejected", Some("no_budget"));
        t.add_outcome("converted", None);
        let v = t.to_json();
        assert_eq!(v["assigned"], 5);
        assert_eq!(
            (
                v["touched_within_sla"].clone(),
                v["breached"].clone(),
                v["pending"].clone(),
                v["ended_before_deadline"].clone()
            ),
            (json!(1), json!(2), json!(1), json!(1))
        );
        assert_eq!(v["median_minutes_to_first_touch"], 10.0);
        assert_eq!(v["p90_minutes_to_first_touch"], 90.0);
        assert_eq!(v["within_sla_rate"], 0.333);
        assert_eq!(v["mql_outcomes"]["acceptance_rate"], 0.333);
        assert_eq!(v["mql_outcomes"]["rejection_reasons"]["no_budget"], 2);
        assert_eq!(
            v["follow_ups"],
            json!({"met": 1, "missed": 2, "pending": 1})
        );
    }
}
