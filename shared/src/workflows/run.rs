//! Running a workflow: whether an event enrols a lead, and what an enrolment's steps do from
//! where it stands until it waits or ends. Every decision carries its reason, so the handler
//! stores it and a reader can ask "why did this run?" (or why not).
//!
//! The handler stores each step it is given here under a key unique per enrolment and step, in
//! one D1 batch with the step's effects guarded on that row (the SLA ladder's technique), so a
//! step runs exactly once however ticks overlap or die.

use serde_json::{json, Map, Value};

use crate::consent::{Snapshot, TopicsConfig};
use crate::intake::lead::Lead;
use crate::scoring::condition::{Facts, RoutingFacts};
use crate::time::rfc3339;

use super::doc::{Action, Assignee, Enrolment, SetValue, Wait, Workflow};
use super::events::{Event, MAX_DEPTH};

/// A workflow as published: its id, version and document.
#[derive(Debug, Clone)]
pub struct Published<'a> {
    pub id: &'a str,
    pub version: i64,
    pub doc: &'a Workflow,
}

/// Whether an event enrols the lead (`None`: the trigger does not start on it at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrol {
    Yes,
    No(String),
}

/// What is known about a lead when a workflow decides about it.
#[derive(Debug, Clone)]
pub struct LeadState {
    pub lead: Lead,
    pub routing: RoutingFacts,
    pub lists: Vec<String>,
    pub consent: Snapshot,
    pub existing_customer: bool,
    pub owner: Option<Owner>,
}

/// The lead's current owner, from routing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub assignment_id: String,
    pub rep_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub manager: Option<String>,
}

impl LeadState {
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            lead: Some(&self.lead),
            opted_out: self
                .consent
                .topics
                .iter()
                .filter(|(_, s)| **s == crate::consent::TopicState::OptedOut)
                .map(|(t, _)| t.clone())
                .collect(),
            suppressed: self.consent.suppressed.is_some(),
            existing_customer: self.existing_customer,
            routing: Some(&self.routing),
            lists: &self.lists,
        }
    }
}

/// Whether `event` enrols the lead in `wf`, given when the lead last enrolled in it.
pub fn enrol(
    wf: &Published,
    event: &Event,
    lead: &LeadState,
    last_enrolled_at: Option<i64>,
) -> Option<Enrol> {
    if !wf.doc.trigger.matches(event) {
        return None;
    }
    let chain = &event.cause.chain;
    if chain.iter().any(|c| c == wf.id) {
        let path = chain
            .iter()
            .map(String::as_str)
            .chain([wf.id])
            .collect::<Vec<_>>()
            .join(" → ");
        return Some(Enrol::No(format!(
            "the event was caused by this workflow's own step ({path}): a workflow never triggers itself"
        )));
    }
    if event.cause.depth() >= MAX_DEPTH {
        return Some(Enrol::No(format!(
            "the event is the end of a chain of {} workflow-caused changes ({}); chains stop at {MAX_DEPTH}",
            event.cause.depth(),
            chain.join(" → ")
        )));
    }
    if let Some(at) = last_enrolled_at {
        match wf.doc.enrolment {
            Enrolment::Once => {
                return Some(Enrol::No(format!(
                    "the lead enrolled on {}; this workflow enrols a lead once",
                    rfc3339(at)
                )))
            }
            Enrolment::AgainAfter(gap) if event.at < at + gap => {
                return Some(Enrol::No(format!(
                    "the lead enrolled on {}; it may enrol again from {}",
                    rfc3339(at),
                    rfc3339(at + gap)
                )))
            }
            Enrolment::AgainAfter(_) => {}
        }
    }
    if let Some(when) = &wf.doc.when {
        if !when.matches(&lead.facts()) {
            return Some(Enrol::No(
                "the lead does not meet the workflow's condition (when)".into(),
            ));
        }
    }
    Some(Enrol::Yes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Taken,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Taken => "taken",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// A change to the lead itself, which its owner (intake) makes.
#[derive(Debug, Clone, PartialEq)]
pub enum LeadChange {
    Set { field: String, value: Value },
    Clear { field: String },
    Activity { kind: String, properties: Value },
}

/// What a step taken does outside the enrolment.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    ListAdd(String),
    ListRemove(String),
    Lead(LeadChange),
    /// A signed webhook to one registered endpoint, with its rendered body.
    Webhook {
        endpoint: String,
        body: Value,
    },
    /// `workflow.notification` to the endpoints subscribed to it (a Slack bridge, the CRM).
    Notify {
        owner: Owner,
        message: String,
    },
    Task {
        assignment_id: String,
        assignee: Option<String>,
        because: &'static str,
        title: String,
    },
    /// `email.requested` to the endpoints subscribed to it (the ESP integration).
    Email {
        template: String,
        topic: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub step_id: String,
    pub action: &'static str,
    pub outcome: Outcome,
    pub reason: String,
    pub effect: Option<Effect>,
}

/// Where an enrolment stands after a pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Waiting: resume at step index `at` from `due_at`.
    Wait { at: usize, due_at: i64 },
    /// Finished (the last step, a stop, or a failure that ends it).
    Done { reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    pub steps: Vec<StepRecord>,
    pub next: Next,
}

/// What a pass knows besides the lead.
pub struct Scene<'a> {
    pub workflow: &'a Published<'a>,
    pub enrolment_id: &'a str,
    pub topics: &'a TopicsConfig,
    /// The ids of the active webhook endpoints.
    pub endpoints: &'a [String],
    pub now: i64,
}

/// Runs the enrolment's steps from index `from` until it waits or ends. `lead` is updated as
/// the steps change it (a list joined, a field set), so later steps see what earlier ones did.
pub fn advance(scene: &Scene, lead: &mut LeadState, from: usize) -> Pass {
    let wf = scene.workflow.doc;
    let mut steps = Vec::new();
    let mut i = from;
    while let Some(step) = wf.steps.get(i) {
        let record = |outcome, reason: String, effect| StepRecord {
            step_id: step.id.clone(),
            action: step.action.name(),
            outcome,
            reason,
            effect,
        };
        i += 1;
        match &step.action {
            Action::Wait(wait) => {
                let due = match wait {
                    Wait::For { ms, hours: None } => Ok(scene.now + ms),
                    Wait::For {
                        ms,
                        hours: Some(schedule),
                    } => schedule
                        .add_business_minutes(scene.now, ms / 60_000)
                        .ok_or_else(|| "the business hours never open".to_string()),
                    Wait::Until { field, offset_ms } => date_field(&lead.lead, field)
                        .map(|d| d + offset_ms)
                        .ok_or_else(|| format!("{field} does not hold a date")),
                };
                match due {
                    Ok(due) if due > scene.now => {
                        steps.push(record(
                            Outcome::Taken,
                            format!("waiting until {}", rfc3339(due)),
                            None,
                        ));
                        return Pass {
                            steps,
                            next: Next::Wait { at: i, due_at: due },
                        };
                    }
                    Ok(due) => steps.push(record(
                        Outcome::Skipped,
                        format!("{} has already passed", rfc3339(due)),
                        None,
                    )),
                    Err(reason) => {
                        steps.push(record(Outcome::Failed, reason.clone(), None));
                        return Pass {
                            steps,
                            next: Next::Done {
                                reason: format!("step {} failed: {reason}", step.id),
                            },
                        };
                    }
                }
            }
            Action::Branch {
                when,
                then,
                otherwise,
            } => {
                let holds = when.matches(&lead.facts());
                let target = if holds { then } else { otherwise };
                let reason = match target {
                    Some(t) => format!(
                        "the condition {}: going on at {t}",
                        if holds { "holds" } else { "does not hold" }
                    ),
                    None => format!(
                        "the condition {}: going on with the next step",
                        if holds { "holds" } else { "does not hold" }
                    ),
                };
                steps.push(record(Outcome::Taken, reason, None));
                if let Some(t) = target.as_ref().and_then(|t| wf.position(t)) {
                    // Forward only (checked when published): the skipped steps are recorded.
                    for skipped in &wf.steps[i..t] {
                        steps.push(StepRecord {
                            step_id: skipped.id.clone(),
                            action: skipped.action.name(),
                            outcome: Outcome::Skipped,
                            reason: format!("branch {} went on at {}", step.id, wf.steps[t].id),
                            effect: None,
                        });
                    }
                    i = t;
                }
            }
            Action::Stop => {
                steps.push(record(Outcome::Taken, "stop".into(), None));
                return Pass {
                    steps,
                    next: Next::Done {
                        reason: format!("stopped at step {}", step.id),
                    },
                };
            }
            action => {
                let (outcome, reason, effect) = act(scene, lead, action);
                steps.push(record(outcome, reason, effect));
            }
        }
    }
    // A failed step does not stop the ones after it; the end says which failed.
    let failed: Vec<&str> = steps
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .map(|s| s.step_id.as_str())
        .collect();
    let reason = match failed.as_slice() {
        [] => "every step is done".to_string(),
        [one] => format!("every step is done, though step {one} failed"),
        many => format!(
            "every step is done, though steps {} failed",
            many.join(", ")
        ),
    };
    Pass {
        steps,
        next: Next::Done { reason },
    }
}

/// One step that acts, and its effect on `lead` for the steps after it.
fn act(scene: &Scene, lead: &mut LeadState, action: &Action) -> (Outcome, String, Option<Effect>) {
    let taken = |reason: String, effect| (Outcome::Taken, reason, Some(effect));
    let skipped = |reason: &str| (Outcome::Skipped, reason.to_string(), None);
    match action {
        Action::AddToList(list) => {
            if lead.lists.contains(list) {
                return skipped("already a member of the list");
            }
            lead.lists.push(list.clone());
            taken(format!("added to {list}"), Effect::ListAdd(list.clone()))
        }
        Action::RemoveFromList(list) => {
            if !lead.lists.contains(list) {
                return skipped("not a member of the list");
            }
            lead.lists.retain(|l| l != list);
            taken(
                format!("removed from {list}"),
                Effect::ListRemove(list.clone()),
            )
        }
        Action::SetField { field, value } => {
            let value = match value {
                SetValue::Literal(v) => render(v, &template_scope(scene, lead)),
                SetValue::NowPlus(ms) => json!(rfc3339(scene.now + ms)),
            };
            let key = field.strip_prefix("custom.").unwrap_or(field);
            lead.lead.custom.insert(key.to_string(), value.clone());
            taken(
                format!("{field} set to {value}"),
                Effect::Lead(LeadChange::Set {
                    field: field.clone(),
                    value,
                }),
            )
        }
        Action::ClearField(field) => {
            let key = field.strip_prefix("custom.").unwrap_or(field);
            if lead.lead.custom.remove(key).is_none() {
                return skipped("the field is already empty");
            }
            taken(
                format!("{field} cleared"),
                Effect::Lead(LeadChange::Clear {
                    field: field.clone(),
                }),
            )
        }
        Action::RecordActivity { kind, properties } => taken(
            format!("activity {kind} recorded"),
            Effect::Lead(LeadChange::Activity {
                kind: kind.clone(),
                properties: render(properties, &template_scope(scene, lead)),
            }),
        ),
        Action::Webhook { endpoint, body } => {
            if !scene.endpoints.contains(endpoint) {
                return (
                    Outcome::Failed,
                    format!("webhook endpoint {endpoint} is not registered (or was deactivated)"),
                    None,
                );
            }
            taken(
                format!("webhook to {endpoint} queued (signed; retried until it answers 2xx)"),
                Effect::Webhook {
                    endpoint: endpoint.clone(),
                    body: render(body, &template_scope(scene, lead)),
                },
            )
        }
        Action::NotifyOwner { message } => match &lead.owner {
            None => skipped("the lead has no owner to notify"),
            Some(owner) => taken(
                format!("{} notified", owner.rep_id),
                Effect::Notify {
                    owner: owner.clone(),
                    message: render_text(message, &template_scope(scene, lead)),
                },
            ),
        },
        Action::CreateTask { assignee, title } => {
            let Some(owner) = &lead.owner else {
                return skipped("the lead has no owner, so no task was created");
            };
            let (to, because) = match assignee {
                Assignee::Owner => (Some(owner.rep_id.clone()), "owner"),
                Assignee::Manager => match &owner.manager {
                    Some(m) => (Some(m.clone()), "manager"),
                    None => (None, "no_manager"),
                },
            };
            let title = render_text(title, &template_scope(scene, lead));
            taken(
                format!(
                    "task for the {} ({}) created",
                    assignee.as_str(),
                    to.as_deref().unwrap_or("no manager on file: unassigned")
                ),
                Effect::Task {
                    assignment_id: owner.assignment_id.clone(),
                    assignee: to,
                    because,
                    title,
                },
            )
        }
        Action::RequestEmail { template, topic } => {
            let Some(t) = scene.topics.topic(topic) else {
                return (
                    Outcome::Failed,
                    format!("the consent topic {topic} is not configured"),
                    None,
                );
            };
            let verdict = lead.consent.verdict(t);
            if !verdict.may_send {
                return (
                    Outcome::Skipped,
                    format!("not sent: {} ({topic})", verdict.reason),
                    None,
                );
            }
            taken(
                format!("email {template} requested ({}; {topic})", verdict.reason),
                Effect::Email {
                    template: template.clone(),
                    topic: topic.clone(),
                },
            )
        }
        Action::Wait(_) | Action::Branch { .. } | Action::Stop => {
            unreachable!("advance handles these itself")
        }
    }
}

/// A date a lead holds in a custom field: RFC 3339, or a plain `YYYY-MM-DD` (midnight UTC).
pub fn date_field(lead: &Lead, field: &str) -> Option<i64> {
    let key = field.strip_prefix("custom.").unwrap_or(field);
    let text = lead.custom.get(key)?.as_str()?.trim();
    crate::time::parse_rfc3339(text).or_else(|| {
        crate::hours::parse_date(text)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
    })
}

/// What `{{…}}` placeholders may name: the lead, its owner, the workflow and the enrolment.
pub fn template_scope(scene: &Scene, lead: &LeadState) -> Value {
    json!({
        "lead": lead_view(&lead.lead, &lead.routing),
        "owner": lead.owner,
        "workflow": { "id": scene.workflow.id, "name": scene.workflow.doc.name, "version": scene.workflow.version },
        "enrolment": { "id": scene.enrolment_id },
        "now": rfc3339(scene.now),
    })
}

/// The lead as templates and webhooks see it.
pub fn lead_view(lead: &Lead, routing: &RoutingFacts) -> Value {
    json!({
        "id": lead.id,
        "email": lead.email,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "company_domain": lead.company_domain,
        "title": lead.title,
        "phone": lead.phone_e164.as_ref().or(lead.phone.as_ref()),
        "country": lead.country,
        "custom": lead.custom,
        "score": routing.score,
        "stage": routing.stage,
        "first_touch": lead.first_touch,
        "created_at": rfc3339(lead.created_at),
    })
}

/// Renders a JSON template: in every string, `{{path}}` becomes the value at that path of
/// `scope` (`lead.email`, `lead.custom.plan`, `owner.name`). A string that is one placeholder
/// takes the value's own JSON type; a path that names nothing renders as null (or empty text).
pub fn render(template: &Value, scope: &Value) -> Value {
    match template {
        Value::String(s) => {
            let t = s.trim();
            if let Some(path) = t
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .filter(|p| !p.contains("{{") && !p.contains("}}"))
            {
                return lookup(scope, path.trim()).cloned().unwrap_or(Value::Null);
            }
            Value::String(render_text(s, scope))
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| render(i, scope)).collect()),
        Value::Object(obj) => Value::Object(
            obj.iter()
                .map(|(k, v)| (k.clone(), render(v, scope)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Renders the placeholders of a text.
pub fn render_text(text: &str, scope: &Value) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                match lookup(scope, after[..end].trim()) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(v) => out.push_str(&v.to_string()),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn lookup<'a>(scope: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(scope, |v, key| v.get(key))
        .filter(|_| !path.is_empty())
}

/// One lead's enrolment as a dry run sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rehearsal {
    pub event_id: String,
    pub lead_id: String,
    pub at: i64,
    pub decision: Enrol,
    /// The steps it would take (following waits as if the lead stayed as it is now).
    pub steps: Vec<StepRecord>,
}

/// Replays `events` (oldest first, each with the lead as it is now) through a candidate
/// workflow: who would enrol and what each would do, with no side effects. `enrolled` holds when
/// each lead last enrolled in the workflow for real.
pub fn dry_run(
    wf: &Published,
    events: &[(Event, LeadState)],
    enrolled: &crate::Map<String, i64>,
    topics: &TopicsConfig,
    endpoints: &[String],
) -> Vec<Rehearsal> {
    let mut last: crate::Map<String, i64> = enrolled.clone();
    let mut out = Vec::new();
    for (event, lead) in events {
        let Some(decision) = enrol(wf, event, lead, last.get(&event.lead_id).copied()) else {
            continue;
        };
        let mut steps = Vec::new();
        if decision == Enrol::Yes {
            last.insert(event.lead_id.clone(), event.at);
            let mut lead = lead.clone();
            let mut from = 0;
            let mut now = event.at;
            loop {
                let scene = Scene {
                    workflow: wf,
                    enrolment_id: "dry-run",
                    topics,
                    endpoints,
                    now,
                };
                let pass = advance(&scene, &mut lead, from);
                steps.extend(pass.steps);
                match pass.next {
                    Next::Wait { at, due_at } => {
                        from = at;
                        now = due_at;
                    }
                    Next::Done { .. } => break,
                }
            }
        }
        out.push(Rehearsal {
            event_id: event.id.clone(),
            lead_id: event.lead_id.clone(),
            at: event.at,
            decision,
            steps,
        });
    }
    out
}

/// A dry run's totals: enrolments, and what the steps would request.
pub fn rehearsal_totals(runs: &[Rehearsal]) -> Value {
    let mut webhooks = 0;
    let mut emails = 0;
    let mut tasks = 0;
    let mut not_enrolled = 0;
    let mut leads = std::collections::BTreeSet::new();
    for r in runs {
        match &r.decision {
            Enrol::Yes => {
                leads.insert(r.lead_id.as_str());
            }
            Enrol::No(_) => not_enrolled += 1,
        }
        for s in &r.steps {
            match s.effect {
                Some(Effect::Webhook { .. }) | Some(Effect::Notify { .. }) => webhooks += 1,
                Some(Effect::Email { .. }) => emails += 1,
                Some(Effect::Task { .. }) => tasks += 1,
                _ => {}
            }
        }
    }
    json!({
        "events_matched": runs.len(),
        "enrolments": runs.iter().filter(|r| r.decision == Enrol::Yes).count(),
        "leads": leads.len(),
        "not_enrolled": not_enrolled,
        "webhooks": webhooks,
        "emails": emails,
        "tasks": tasks,
    })
}
