//! A workflow document: its trigger, the condition a lead must meet to enrol, its steps and
//! its enrolment policy, parsed with errors that name the offending place
//! (`workflow.steps[2].list`).
//!
//! ```json
//! {"name": "Event registration",
//!  "trigger": {"event": "form.submitted", "form": "form_…"},
//!  "when": {"field": "country", "in": ["DE", "AT"]},
//!  "steps": [
//!    {"id": "registrants", "action": "add_to_list", "list": "list_…"},
//!    {"id": "confirm", "action": "request_email", "template": "event-confirmation", "topic": "events"},
//!    {"id": "pause", "action": "wait", "for": "2d"},
//!    {"id": "hot", "action": "branch", "when": {"field": "score", "at_least": 50}, "else": "end"},
//!    {"id": "tell", "action": "notify_owner", "message": "{{lead.email}} registered"},
//!    {"id": "end", "action": "stop"}],
//!  "enrolment": {"once": true}}
//! ```

use serde_json::{json, Map, Value};

use crate::problem::FieldError;
use crate::scoring::condition::{Condition, LIST, ROUTING_FIELDS};

use super::events::EventType;

/// Longest workflow (steps), so one enrolment's pass stays bounded.
pub const MAX_STEPS: usize = 50;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: String,
    pub trigger: Trigger,
    pub when: Option<Condition>,
    pub steps: Vec<Step>,
    pub enrolment: Enrolment,
}

/// Which events start a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub event: EventType,
    /// `form.submitted`: this form only.
    pub form: Option<String>,
    /// `activity.recorded`: this activity type only, and a test on one of its properties (the
    /// test scoring's engagement rules use: `{"property": "plan", "in": ["pro"]}`).
    pub activity: Option<String>,
    pub property: Option<crate::scoring::PropertyTest>,
    /// `stage.changed`: from / to these stages.
    pub from: Option<String>,
    pub to: Option<String>,
    /// `score.changed`: the score crossed this value upwards.
    pub crossed: Option<f64>,
    /// `field.changed` and `date.reached`: the field (`custom.<name>` or a lead attribute).
    pub field: Option<String>,
    /// `date.reached`: the offset from the field's date (negative: before).
    pub offset_ms: i64,
    /// `consent.changed`: this topic, and/or this new state.
    pub topic: Option<String>,
    pub state: Option<String>,
    /// `sla.step`: this ladder step.
    pub step: Option<String>,
}

/// Whether a lead may enrol again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolment {
    Once,
    /// Again once this long has passed since the last enrolment began.
    AgainAfter(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub action: Action,
}

/// Whom a task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    Owner,
    Manager,
}

impl Assignee {
    pub fn as_str(self) -> &'static str {
        match self {
            Assignee::Owner => "owner",
            Assignee::Manager => "manager",
        }
    }
}

/// A value a `set_field` step writes: a literal (templated), or a time relative to now.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    Literal(Value),
    NowPlus(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// A duration; in business hours when a schedule is given.
    For {
        ms: i64,
        hours: Option<crate::hours::Schedule>,
    },
    /// Until a date the lead holds (plus or minus an offset).
    Until { field: String, offset_ms: i64 },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    AddToList(String),
    RemoveFromList(String),
    SetField {
        field: String,
        value: SetValue,
    },
    ClearField(String),
    RecordActivity {
        kind: String,
        properties: Value,
    },
    Webhook {
        endpoint: String,
        body: Value,
    },
    NotifyOwner {
        message: String,
    },
    CreateTask {
        assignee: Assignee,
        title: String,
    },
    RequestEmail {
        template: String,
        topic: String,
    },
    Wait(Wait),
    /// Go on at `then` when the condition holds, else at `otherwise` (`None`: the next step).
    Branch {
        when: Condition,
        then: Option<String>,
        otherwise: Option<String>,
    },
    Stop,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::AddToList(_) => "add_to_list",
            Action::RemoveFromList(_) => "remove_from_list",
            Action::SetField { .. } => "set_field",
            Action::ClearField(_) => "clear_field",
            Action::RecordActivity { .. } => "record_activity",
            Action::Webhook { .. } => "webhook",
            Action::NotifyOwner { .. } => "notify_owner",
            Action::CreateTask { .. } => "create_task",
            Action::RequestEmail { .. } => "request_email",
            Action::Wait(_) => "wait",
            Action::Branch { .. } => "branch",
            Action::Stop => "stop",
        }
    }
}

/// The extra names a workflow's conditions may use: routing's (score, stage, segment) and lists.
pub const CONDITION_NAMES: &[&str] = &[
    "score",
    "fit_score",
    "engagement_score",
    "stage",
    "segment",
    LIST,
];

/// Parses a workflow condition (`when` of a workflow, a branch or a dynamic list).
pub fn condition(v: &Value, at: &str) -> Result<Condition, String> {
    debug_assert!(ROUTING_FIELDS.iter().all(|f| CONDITION_NAMES.contains(f)));
    Condition::parse_with(v, at, CONDITION_NAMES)
}

/// A duration such as `90m`, `4h`, `14d`, `2w` (`-3d` where `signed`), in milliseconds: 1 to
/// 9999 units, written without spaces, sign or leading zeros (exactly what openapi.json's pattern
/// says).
pub fn duration(v: &Value, signed: bool) -> Result<i64, String> {
    let text = v
        .as_str()
        .ok_or("give a duration such as \"30m\", \"4h\", \"14d\" or \"2w\"")?;
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        Some(_) => return Err("a wait cannot be negative".into()),
        None => (false, text),
    };
    let unit_at = body
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("give a unit: m, h, d or w")?;
    let (n, unit) = body.split_at(unit_at);
    if n.is_empty() || n.len() > 4 || n.starts_with('0') {
        return Err("give a whole number from 1 to 9999 before the unit".into());
    }
    let n: i64 = n
        .parse()
        .map_err(|_| "give a whole number from 1 to 9999")?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => DAY_MS,
        "w" => 7 * DAY_MS,
        _ => return Err(format!("`{unit}` is not a unit: use m, h, d or w")),
    };
    Ok(if negative { -n * unit_ms } else { n * unit_ms })
}

/// A custom field a step may write: `custom.<name>` (or `<name>`), stored under `<name>`.
fn custom_field(v: Option<&Value>, at: &str) -> Result<String, String> {
    let name = v
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}: name the custom field (custom.<name>)"))?;
    let key = name.strip_prefix("custom.").unwrap_or(name);
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(format!(
            "{at}: `{name}` is not a custom field name (lowercase letters, digits and _, at most 64)"
        ));
    }
    Ok(format!("custom.{key}"))
}

/// A text of at most `max` characters with something besides white space, kept trimmed.
fn text(obj: &Map<String, Value>, key: &str, at: &str, max: usize) -> Result<String, String> {
    match obj.get(key).and_then(Value::as_str) {
        Some(s) if s.chars().count() > max => Err(format!("{at}.{key}: at most {max} characters")),
        Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(format!(
            "{at}.{key}: give a string with a non-blank character"
        )),
    }
}

fn id_of(obj: &Map<String, Value>, key: &str, prefix: &str, at: &str) -> Result<String, String> {
    match obj.get(key).and_then(Value::as_str) {
        Some(id) if crate::ids::is_id(prefix, id) => Ok(id.to_string()),
        _ => Err(format!("{at}.{key}: give an id ({prefix}_…)")),
    }
}

fn only(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{at}.{k}: is not part of this (it takes {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

impl Trigger {
    fn parse(v: &Value, at: &str) -> Result<Trigger, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{at}: give the trigger as an object with an event"))?;
        let event = obj
            .get("event")
            .and_then(Value::as_str)
            .and_then(EventType::parse)
            .ok_or_else(|| {
                format!(
                    "{at}.event: give one of {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                )
            })?;
        let mut t = Trigger {
            event,
            form: None,
            activity: None,
            property: None,
            from: None,
            to: None,
            crossed: None,
            field: None,
            offset_ms: 0,
            topic: None,
            state: None,
            step: None,
        };
        let opt_text = |key: &str| -> Result<Option<String>, String> {
            obj.get(key)
                .map(|_| text(obj, key, at, 100).map(|s| crate::text::lowercase(&s)))
                .transpose()
        };
        match event {
            EventType::FormSubmitted => {
                only(obj, &["event", "form"], at)?;
                if let Some(f) = obj.get("form") {
                    // A form of ours, or a webhook source (Typeform, Tally, Webflow …).
                    match f.as_str() {
                        Some(id)
                            if crate::ids::is_id(crate::ids::prefix::FORM, id)
                                || crate::ids::is_id(crate::ids::prefix::SOURCE, id) =>
                        {
                            t.form = Some(id.to_string())
                        }
                        _ => {
                            return Err(format!(
                                "{at}.form: give a form id (form_…) or a webhook source id (src_…)"
                            ))
                        }
                    }
                }
            }
            EventType::ActivityRecorded => {
                only(obj, &["event", "type", "where"], at)?;
                t.activity = obj
                    .get("type")
                    .map(|v| activity_type(v, &format!("{at}.type")))
                    .transpose()?;
                t.property = obj
                    .get("where")
                    .map(|w| crate::scoring::parse_property(w, &format!("{at}.where")))
                    .transpose()?;
            }
            EventType::StageChanged => {
                only(obj, &["event", "from", "to"], at)?;
                t.from = opt_text("from")?;
                t.to = opt_text("to")?;
            }
            EventType::ScoreChanged => {
                only(obj, &["event", "crossed"], at)?;
                t.crossed = match obj.get("crossed") {
                    None => None,
                    Some(n) => Some(
                        n.as_f64()
                            .filter(|n| n.is_finite())
                            .ok_or_else(|| format!("{at}.crossed: give a number"))?,
                    ),
                };
            }
            EventType::FieldChanged => {
                only(obj, &["event", "field"], at)?;
                t.field = Some(lead_field(obj.get("field"), &format!("{at}.field"))?);
            }
            EventType::DateReached => {
                only(obj, &["event", "field", "offset"], at)?;
                t.field = Some(custom_field(obj.get("field"), &format!("{at}.field"))?);
                if let Some(o) = obj.get("offset") {
                    t.offset_ms = duration(o, true).map_err(|e| format!("{at}.offset: {e}"))?;
                }
            }
            EventType::ConsentChanged => {
                only(obj, &["event", "topic", "state"], at)?;
                if let Some(topic) = obj.get("topic") {
                    match topic.as_str() {
                        Some(s) if crate::consent::is_topic_id(s) => t.topic = Some(s.into()),
                        _ => return Err(format!("{at}.topic: give a consent topic id")),
                    }
                }
                if let Some(state) = obj.get("state") {
                    match state.as_str() {
                        Some(s @ ("opted_in" | "opted_out" | "pending")) => {
                            t.state = Some(s.into())
                        }
                        _ => {
                            return Err(format!("{at}.state: give opted_in, opted_out or pending"))
                        }
                    }
                }
            }
            EventType::SlaStep => {
                only(obj, &["event", "step"], at)?;
                t.step = obj
                    .get("step")
                    .map(|_| text(obj, "step", at, 100))
                    .transpose()?;
            }
            EventType::LeadCreated
            | EventType::EmailBounced
            | EventType::EmailComplained
            | EventType::EmailSuppressed
            | EventType::AssignmentCreated => only(obj, &["event"], at)?,
        }
        Ok(t)
    }
}

/// An activity type, as intake accepts them: a known type or `custom:<snake_case>`.
fn activity_type(v: &Value, at: &str) -> Result<String, String> {
    match v.as_str() {
        Some(t) if crate::intake::activity::is_activity_type(t) => Ok(t.to_string()),
        _ => Err(format!(
            "{at}: give an activity type ({}, or custom:<snake_case name>)",
            crate::intake::activity::KNOWN_TYPES.join(", ")
        )),
    }
}

/// A lead attribute a `field.changed` trigger watches (as the condition language names them).
fn lead_field(v: Option<&Value>, at: &str) -> Result<String, String> {
    let name = v
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}: name the field"))?;
    if crate::scoring::condition::FIELDS.contains(&name) {
        return Ok(name.to_string());
    }
    custom_field(Some(&json!(name)), at).and_then(|f| {
        if name.starts_with("custom.") {
            Ok(f)
        } else {
            Err(format!(
                "{at}: `{name}` is not a lead attribute (nor custom.<name>)"
            ))
        }
    })
}

fn step_id(v: Option<&Value>, at: &str) -> Result<String, String> {
    match v.and_then(Value::as_str) {
        Some(id)
            if !id.is_empty()
                && id.len() <= 40
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Ok(id.to_string())
        }
        _ => Err(format!(
            "{at}: give the step an id (letters, digits, _ and -, at most 40)"
        )),
    }
}

fn parse_step(v: &Value, at: &str) -> Result<Step, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{at}: a step is an object with an id and an action"))?;
    let id = step_id(obj.get("id"), &format!("{at}.id"))?;
    let action = obj.get("action").and_then(Value::as_str).unwrap_or("");
    let keys = |more: &[&str]| {
        let mut all = vec!["id", "action"];
        all.extend_from_slice(more);
        only(obj, &all, at)
    };
    let action = match action {
        "add_to_list" | "remove_from_list" => {
            keys(&["list"])?;
            let list = id_of(obj, "list", crate::ids::prefix::LIST, at)?;
            if action == "add_to_list" {
                Action::AddToList(list)
            } else {
                Action::RemoveFromList(list)
            }
        }
        "set_field" => {
            keys(&["field", "value", "now_plus"])?;
            let field = custom_field(obj.get("field"), &format!("{at}.field"))?;
            let value = match (obj.get("value"), obj.get("now_plus")) {
                (Some(v), None) if !v.is_null() => SetValue::Literal(v.clone()),
                (None, Some(d)) => SetValue::NowPlus(
                    duration(d, true).map_err(|e| format!("{at}.now_plus: {e}"))?,
                ),
                _ => {
                    return Err(format!(
                        "{at}: give either value (not null: use clear_field) or now_plus (a duration)"
                    ))
                }
            };
            Action::SetField { field, value }
        }
        "clear_field" => {
            keys(&["field"])?;
            Action::ClearField(custom_field(obj.get("field"), &format!("{at}.field"))?)
        }
        "record_activity" => {
            keys(&["type", "properties"])?;
            let kind = activity_type(obj.get("type").unwrap_or(&Value::Null), &format!("{at}.type"))?;
            let properties = match obj.get("properties") {
                None => json!({}),
                Some(p @ Value::Object(_)) => p.clone(),
                Some(_) => return Err(format!("{at}.properties: give an object")),
            };
            Action::RecordActivity { kind, properties }
        }
        "webhook" => {
            keys(&["endpoint", "body"])?;
            let endpoint = id_of(obj, "endpoint", crate::ids::prefix::WEBHOOK_ENDPOINT, at)?;
            let body = match obj.get("body") {
                Some(b @ (Value::Object(_) | Value::Array(_))) => b.clone(),
                _ => {
                    return Err(format!(
                        "{at}.body: give the JSON body (an object or a list; strings may hold {{{{lead.email}}}} placeholders)"
                    ))
                }
            };
            Action::Webhook { endpoint, body }
        }
        "notify_owner" => {
            keys(&["message"])?;
            Action::NotifyOwner {
                message: text(obj, "message", at, 1000)?,
            }
        }
        "create_task" => {
            keys(&["for", "title"])?;
            let assignee = match obj.get("for").map(Value::as_str) {
                None | Some(Some("owner")) => Assignee::Owner,
                Some(Some("manager")) => Assignee::Manager,
                _ => return Err(format!("{at}.for: give owner or manager")),
            };
            Action::CreateTask {
                assignee,
                title: text(obj, "title", at, 200)?,
            }
        }
        "request_email" => {
            keys(&["template", "topic"])?;
            let topic = match obj.get("topic").and_then(Value::as_str) {
                Some(t) if crate::consent::is_topic_id(t) => t.to_string(),
                _ => {
                    return Err(format!(
                        "{at}.topic: name the consent topic the email is sent under"
                    ))
                }
            };
            Action::RequestEmail {
                template: text(obj, "template", at, 100)?,
                topic,
            }
        }
        "wait" => {
            keys(&["for", "business_hours", "until", "offset"])?;
            match (obj.get("for"), obj.get("until")) {
                (Some(d), None) => {
                    if obj.contains_key("offset") {
                        return Err(format!("{at}.offset: applies to until"));
                    }
                    let ms = duration(d, false).map_err(|e| format!("{at}.for: {e}"))?;
                    let hours = match obj.get("business_hours") {
                        None => None,
                        Some(h) => Some(crate::hours::Schedule::parse(h).map_err(|errors| {
                            let first = &errors[0];
                            format!("{at}.business_hours.{}: {}", first.field, first.reason)
                        })?),
                    };
                    Action::Wait(Wait::For { ms, hours })
                }
                (None, Some(_)) => {
                    if obj.contains_key("business_hours") {
                        return Err(format!("{at}.business_hours: applies to for"));
                    }
                    let field = custom_field(obj.get("until"), &format!("{at}.until"))?;
                    let offset_ms = match obj.get("offset") {
                        None => 0,
                        Some(o) => duration(o, true).map_err(|e| format!("{at}.offset: {e}"))?,
                    };
                    Action::Wait(Wait::Until { field, offset_ms })
                }
                _ => {
                    return Err(format!(
                        "{at}: give either for (a duration) or until (a date field)"
                    ))
                }
            }
        }
        "branch" => {
            keys(&["when", "then", "else"])?;
            let when = condition(
                obj.get("when")
                    .ok_or_else(|| format!("{at}.when: give the condition"))?,
                &format!("{at}.when"),
            )?;
            let then = obj
                .get("then")
                .map(|v| step_id(Some(v), &format!("{at}.then")))
                .transpose()?;
            let otherwise = obj
                .get("else")
                .map(|v| step_id(Some(v), &format!("{at}.else")))
                .transpose()?;
            if then.is_none() && otherwise.is_none() {
                return Err(format!("{at}: give then and/or else (a later step's id)"));
            }
            Action::Branch {
                when,
                then,
                otherwise,
            }
        }
        "stop" => {
            keys(&[])?;
            Action::Stop
        }
        _ => {
            return Err(format!(
                "{at}.action: give one of add_to_list, remove_from_list, set_field, clear_field, record_activity, webhook, notify_owner, create_task, request_email, wait, branch, stop"
            ))
        }
    };
    Ok(Step { id, action })
}

impl Workflow {
    /// Parses and checks a workflow document; every error names its place under `workflow`.
    pub fn parse(v: &Value) -> Result<Workflow, Vec<FieldError>> {
        let err = |field: &str, reason: String| vec![FieldError::new(field, reason)];
        let obj = v.as_object().ok_or_else(|| {
            err(
                "workflow",
                "give the workflow as an object with name, trigger and steps".into(),
            )
        })?;
        if let Some(k) = obj
            .keys()
            .find(|k| !["name", "trigger", "when", "steps", "enrolment"].contains(&k.as_str()))
        {
            return Err(err(
                &format!("workflow.{k}"),
                "is not part of a workflow (it takes name, trigger, when, steps, enrolment)".into(),
            ));
        }
        let mut errors = Vec::new();
        let name = text(obj, "name", "workflow", 120).unwrap_or_else(|e| {
            errors.push(FieldError::new("workflow.name", e));
            String::new()
        });
        let trigger = match obj.get("trigger") {
            Some(t) => Trigger::parse(t, "workflow.trigger").map_err(|e| split(&e)),
            None => Err(FieldError::new(
                "workflow.trigger",
                "give the event that starts the workflow",
            )),
        };
        let when = match obj.get("when") {
            None | Some(Value::Null) => Ok(None),
            Some(c) => condition(c, "workflow.when")
                .map(Some)
                .map_err(|e| split(&e)),
        };
        let enrolment = parse_enrolment(obj.get("enrolment")).map_err(|e| split(&e));
        let mut steps = Vec::new();
        match obj.get("steps").and_then(Value::as_array) {
            Some(items) if !items.is_empty() && items.len() <= MAX_STEPS => {
                for (i, s) in items.iter().enumerate() {
                    match parse_step(s, &format!("workflow.steps[{i}]")) {
                        Ok(step) => steps.push(step),
                        Err(e) => errors.push(split(&e)),
                    }
                }
            }
            _ => errors.push(FieldError::new(
                "workflow.steps",
                format!("give a list of 1 to {MAX_STEPS} steps"),
            )),
        }
        if errors.is_empty() {
            errors.extend(check_step_ids(&steps));
        }
        let trigger = trigger.map_err(|e| errors.push(e)).ok();
        let when = when.map_err(|e| errors.push(e)).ok();
        let enrolment = enrolment.map_err(|e| errors.push(e)).ok();
        match (trigger, when, enrolment) {
            (Some(trigger), Some(when), Some(enrolment)) if errors.is_empty() => Ok(Workflow {
                name,
                trigger,
                when,
                steps,
                enrolment,
            }),
            _ => Err(errors),
        }
    }

    /// The index of the step with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

/// `place: reason` back into a field error.
fn split(e: &str) -> FieldError {
    match e.split_once(": ") {
        Some((field, reason)) => FieldError::new(field, reason),
        None => FieldError::new("workflow", e),
    }
}

fn parse_enrolment(v: Option<&Value>) -> Result<Enrolment, String> {
    let at = "workflow.enrolment";
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Enrolment::Once);
    };
    let obj = v.as_object().ok_or_else(|| {
        format!("{at}: give {{\"once\": true}} or {{\"once\": false, \"again_after_days\": N}}")
    })?;
    only(obj, &["once", "again_after_days"], at)?;
    let once = match obj.get("once") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(format!("{at}.once: give true or false")),
    };
    match (once, obj.get("again_after_days")) {
        (Some(true) | None, None) => Ok(Enrolment::Once),
        (Some(false), Some(d)) => match d.as_u64().or_else(|| {
            d.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }) {
            Some(d @ 0..=3650) => Ok(Enrolment::AgainAfter(d as i64 * DAY_MS)),
            _ => Err(format!(
                "{at}.again_after_days: give whole days from 0 to 3650"
            )),
        },
        (Some(false), None) => Err(format!(
            "{at}.again_after_days: say after how many days a lead may enrol again"
        )),
        _ => Err(format!(
            "{at}.once: re-enrolment needs once: false with again_after_days"
        )),
    }
}

/// Step ids are unique, and a branch only goes forward (so every step runs at most once per
/// enrolment, and every enrolment ends).
fn check_step_ids(steps: &[Step]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if steps[..i].iter().any(|p| p.id == s.id) {
            errors.push(FieldError::new(
                format!("workflow.steps[{i}].id"),
                format!("`{}` is the id of an earlier step", s.id),
            ));
        }
        if let Action::Branch {
            then, otherwise, ..
        } = &s.action
        {
            for (key, target) in [("then", then), ("else", otherwise)] {
                let Some(target) = target else { continue };
                match steps.iter().position(|p| &p.id == target) {
                    Some(j) if j > i => {}
                    Some(_) => errors.push(FieldError::new(
                        format!("workflow.steps[{i}].{key}"),
                        format!("`{target}` is not after this step: a branch only goes forward"),
                    )),
                    None => errors.push(FieldError::new(
                        format!("workflow.steps[{i}].{key}"),
                        format!("no step has the id `{target}`"),
                    )),
                }
            }
        }
    }
    errors
}
