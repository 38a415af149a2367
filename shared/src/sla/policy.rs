//! An SLA policy: tiers, the escalation ladder, queues; parsed and validated.

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

/// The touches that stop a clock (call, email and meeting unless the policy says).
fn parse_touches(v: &Value, errors: &mut Vec<FieldError>) -> Vec<String> {
    match v {
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
    }
}

/// The tiers, in order: named, each but the last with a condition, their deadlines in minutes.
fn parse_tiers(v: &Value, errors: &mut Vec<FieldError>) -> Vec<Tier> {
    let mut tiers: Vec<Tier> = Vec::new();
    let items = v.as_array().cloned().unwrap_or_default();
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
            errors,
        );
        if first == Some(0) {
            errors.push(FieldError::new(
                format!("{at}.first_touch_minutes"),
                "give at least one minute",
            ));
        }
        let follow_up = match &t["follow_up_minutes"] {
            Value::Null => None,
            m => minutes(m, &format!("{at}.follow_up_minutes"), errors),
        };
        tiers.push(Tier {
            name: name.to_string(),
            when,
            first_touch_minutes: first.unwrap_or(1),
            follow_up_minutes: follow_up,
        });
    }
    tiers
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
        let qualifying_touches = parse_touches(&v["qualifying_touches"], &mut errors);
        let tiers = parse_tiers(&v["tiers"], &mut errors);
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
