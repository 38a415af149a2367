//! What happens to a lead, as workflows hear of it. Each handler writes an event in the D1 batch
//! that makes the change it announces (a job for the workflows handler, keyed by the event's
//! id), so an event exists exactly when its change does and a change delivered twice is one
//! event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many workflow-caused changes may follow one another before the chain is cut: a workflow
/// whose step causes an event that starts a workflow whose step causes … stops here.
pub const MAX_DEPTH: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "lead.created")]
    LeadCreated,
    #[serde(rename = "form.submitted")]
    FormSubmitted,
    #[serde(rename = "activity.recorded")]
    ActivityRecorded,
    #[serde(rename = "stage.changed")]
    StageChanged,
    #[serde(rename = "score.changed")]
    ScoreChanged,
    #[serde(rename = "field.changed")]
    FieldChanged,
    #[serde(rename = "consent.changed")]
    ConsentChanged,
    #[serde(rename = "email.bounced")]
    EmailBounced,
    #[serde(rename = "email.complained")]
    EmailComplained,
    #[serde(rename = "email.suppressed")]
    EmailSuppressed,
    #[serde(rename = "assignment.created")]
    AssignmentCreated,
    #[serde(rename = "sla.step")]
    SlaStep,
    #[serde(rename = "date.reached")]
    DateReached,
}

impl EventType {
    pub const ALL: [EventType; 13] = [
        EventType::LeadCreated,
        EventType::FormSubmitted,
        EventType::ActivityRecorded,
        EventType::StageChanged,
        EventType::ScoreChanged,
        EventType::FieldChanged,
        EventType::ConsentChanged,
        EventType::EmailBounced,
        EventType::EmailComplained,
        EventType::EmailSuppressed,
        EventType::AssignmentCreated,
        EventType::SlaStep,
        EventType::DateReached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadCreated => "lead.created",
            EventType::FormSubmitted => "form.submitted",
            EventType::ActivityRecorded => "activity.recorded",
            EventType::StageChanged => "stage.changed",
            EventType::ScoreChanged => "score.changed",
            EventType::FieldChanged => "field.changed",
            EventType::ConsentChanged => "consent.changed",
            EventType::EmailBounced => "email.bounced",
            EventType::EmailComplained => "email.complained",
            EventType::EmailSuppressed => "email.suppressed",
            EventType::AssignmentCreated => "assignment.created",
            EventType::SlaStep => "sla.step",
            EventType::DateReached => "date.reached",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// What caused an event, when a workflow's step did: the workflows of the chain so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The workflows whose steps led here, first to last.
    #[serde(default)]
    pub chain: Vec<String>,
}

impl Cause {
    pub fn depth(&self) -> u32 {
        self.chain.len() as u32
    }

    /// The cause of what `workflow`'s step does next.
    pub fn then(&self, workflow: &str) -> Cause {
        let mut chain = self.chain.clone();
        chain.push(workflow.to_string());
        Cause { chain }
    }
}

/// One event about one lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Deterministic from the change (`form.submitted:sub_…`): the same change is one event.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub lead_id: String,
    pub at: i64,
    /// What the change was (the form, the activity, the stage's from and to …).
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub cause: Cause,
}

impl Event {
    pub fn new(kind: EventType, reference: &str, lead_id: &str, at: i64, data: Value) -> Event {
        Event {
            id: format!("{}:{reference}", kind.as_str()),
            kind,
            lead_id: lead_id.to_string(),
            at,
            data,
            cause: Cause::default(),
        }
    }

    pub fn caused_by(mut self, cause: Cause) -> Event {
        self.cause = cause;
        self
    }

    fn text(&self, key: &str) -> Option<String> {
        self.data
            .get(key)
            .and_then(Value::as_str)
            .map(crate::text::lowercase)
    }
}

impl super::doc::Trigger {
    /// Whether this trigger starts on the event.
    pub fn matches(&self, e: &Event) -> bool {
        if self.event != e.kind {
            return false;
        }
        let same = |want: &Option<String>, got: Option<String>| {
            want.as_ref().is_none_or(|w| got.as_deref() == Some(w))
        };
        match e.kind {
            EventType::FormSubmitted => self
                .form
                .as_ref()
                .is_none_or(|f| e.data.get("form_id").and_then(Value::as_str) == Some(f)),
            EventType::ActivityRecorded => {
                same(&self.activity, e.text("type"))
                    && self
                        .property
                        .as_ref()
                        .is_none_or(|p| p.matches(e.data.get("properties").unwrap_or(&Value::Null)))
            }
            EventType::StageChanged => {
                same(&self.from, e.text("from")) && same(&self.to, e.text("to"))
            }
            EventType::ScoreChanged => match self.crossed {
                None => true,
                Some(v) => {
                    let before = e.data.get("from").and_then(Value::as_f64).unwrap_or(0.0);
                    let after = e.data.get("to").and_then(Value::as_f64).unwrap_or(0.0);
                    before < v && after >= v
                }
            },
            EventType::FieldChanged | EventType::DateReached => {
                self.field.as_deref() == e.data.get("field").and_then(Value::as_str)
            }
            EventType::ConsentChanged => {
                self.topic
                    .as_ref()
                    .is_none_or(|t| e.data.get("topic").and_then(Value::as_str) == Some(t))
                    && same(&self.state, e.text("state"))
            }
            EventType::SlaStep => self
                .step
                .as_ref()
                .is_none_or(|s| e.data.get("step").and_then(Value::as_str) == Some(s)),
            EventType::LeadCreated
            | EventType::EmailBounced
            | EventType::EmailComplained
            | EventType::EmailSuppressed
            | EventType::AssignmentCreated => true,
        }
    }
}

/// What a stored score tells workflows: a stage change when the stage moved, a score change
/// when the total moved, each named by the score write's change token and carrying `cause`.
pub fn from_score(
    change: &str,
    lead_id: &str,
    at: i64,
    (from, to): (&str, &str),
    (before, after): (f64, f64),
    reason: &str,
    cause: &Cause,
) -> Vec<Event> {
    let mut out = Vec::new();
    if from != to {
        out.push(Event::new(
            EventType::StageChanged,
            change,
            lead_id,
            at,
            serde_json::json!({ "from": from, "to": to, "reason": reason }),
        ));
    }
    if before != after {
        out.push(Event::new(
            EventType::ScoreChanged,
            change,
            lead_id,
            at,
            serde_json::json!({ "from": before, "to": after, "reason": reason }),
        ));
    }
    out.into_iter()
        .map(|e| e.caused_by(cause.clone()))
        .collect()
}

/// What a change to a person's consent tells workflows: each topic whose state changed, a
/// bounce, a complaint and a new suppression. The consent ledger knows people by address, so
/// these name the `email` and leave `lead_id` empty for the workflows handler to resolve.
pub fn from_consent(
    change: &crate::consent::ledger::Change,
    recorded: &[crate::consent::ledger::Event],
    reference: &str,
    email: &str,
    at: i64,
) -> Vec<Event> {
    use crate::consent::ledger::Change;
    use crate::consent::SuppressionReason;
    let event = |kind, i: usize, data: Value| {
        let mut e = Event::new(kind, &format!("{reference}:{i}"), "", at, data);
        e.data["email"] = Value::String(email.to_string());
        e
    };
    let mut out = Vec::new();
    match change {
        Change::Suppress(SuppressionReason::HardBounce) => out.push(event(
            EventType::EmailBounced,
            0,
            serde_json::json!({ "bounce": "hard" }),
        )),
        Change::SoftBounce => out.push(event(
            EventType::EmailBounced,
            0,
            serde_json::json!({ "bounce": "soft" }),
        )),
        Change::Suppress(SuppressionReason::Complaint) => {
            out.push(event(EventType::EmailComplained, 0, serde_json::json!({})))
        }
        _ => {}
    }
    for (i, e) in recorded.iter().enumerate() {
        if e.from == e.to {
            continue;
        }
        match (&e.topic, e.kind.as_str()) {
            (None, "suppressed") => out.push(event(
                EventType::EmailSuppressed,
                i + 1,
                serde_json::json!({ "reason": e.to, "from": e.from }),
            )),
            (Some(topic), _) => out.push(event(
                EventType::ConsentChanged,
                i + 1,
                serde_json::json!({ "topic": topic, "state": e.to, "from": e.from, "kind": e.kind }),
            )),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::ledger::{Change, Event as Recorded};
    use crate::consent::SuppressionReason;

    fn recorded(topic: Option<&str>, kind: &str, from: Option<&str>, to: Option<&str>) -> Recorded {
        Recorded {
            topic: topic.map(str::to_string),
            kind: kind.into(),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }

    #[test]
    fn a_score_announces_what_moved_and_carries_its_cause() {
        let cause = Cause {
            chain: vec!["wf_a".into()],
        };
        let both = from_score(
            "trn_1",
            "lead_1",
            5,
            ("new", "mql"),
            (40.0, 65.0),
            "score",
            &cause,
        );
        let kinds: Vec<EventType> = both.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventType::StageChanged, EventType::ScoreChanged]);
        assert_eq!(both[0].id, "stage.changed:trn_1");
        assert_eq!(both[1].data["to"], 65.0);
        assert!(both.iter().all(|e| e.cause == cause));
        let none = from_score(
            "trn_2",
            "lead_1",
            5,
            ("mql", "mql"),
            (65.0, 65.0),
            "rescore",
            &Cause::default(),
        );
        assert!(none.is_empty(), "nothing moved, nothing to say");
    }

    #[test]
    fn a_hard_bounce_is_a_bounce_and_a_new_suppression() {
        let out = from_consent(
            &Change::Suppress(SuppressionReason::HardBounce),
            &[recorded(None, "suppressed", None, Some("hard_bounce"))],
            "cev_1",
            "a@b.c",
            5,
        );
        let kinds: Vec<EventType> = out.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventType::EmailBounced, EventType::EmailSuppressed]);
        assert_eq!(out[0].id, "email.bounced:cev_1:0");
        assert_eq!(out[0].data["email"], "a@b.c");
        assert_eq!(out[1].data["reason"], "hard_bounce");
    }

    #[test]
    fn topic_changes_are_consent_changes_and_repeats_are_nothing() {
        let out = from_consent(
            &Change::OptOut { topics: None },
            &[
                recorded(
                    Some("newsletter"),
                    "opted_out",
                    Some("opted_in"),
                    Some("opted_out"),
                ),
                recorded(
                    Some("events"),
                    "opted_out",
                    Some("opted_out"),
                    Some("opted_out"),
                ),
            ],
            "cev_2",
            "a@b.c",
            5,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, EventType::ConsentChanged);
        assert_eq!(out[0].data["topic"], "newsletter");
        assert_eq!(out[0].data["state"], "opted_out");
    }
}
