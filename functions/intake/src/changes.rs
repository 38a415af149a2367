//! The changes a workflow's steps ask of a lead (`POST /internal/leads/{id}/changes`): set or
//! clear custom fields, record an activity. Intake owns the lead, so it makes them — each
//! idempotent, as the workflows handler retries a change until it is confirmed — and announces
//! them to workflows with their cause, so a workflow never triggers itself.

use std::collections::BTreeMap;

use revops::intake::activity::NewActivity;
use revops::intake::lead::changed_fields;
use revops::workflows::events::{Cause, Event, EventType};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::{api, store};
use platform::retry::{self, Attempt};
use platform::{events, http, Cx, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    change: Change,
    #[serde(default)]
    cause: Cause,
    at: i64,
    /// What asked for the change (a workflow step's record): makes its events and activity one.
    #[serde(rename = "ref")]
    reference: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Change {
    #[serde(default)]
    set: BTreeMap<String, Value>,
    #[serde(default)]
    clear: Vec<String>,
    activity: Option<ActivityChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityChange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

pub async fn apply(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: Body = http::json_body(&mut req, 64 * 1024).await?;
    let lead_id = cx.param("lead_id").to_string();
    let key = |f: &str| f.strip_prefix("custom.").unwrap_or(f).to_string();
    let mut changed = Vec::new();
    if !body.change.set.is_empty() || !body.change.clear.is_empty() {
        let what = format!("workflow change of lead {lead_id}");
        let outcome = retry::optimistic(retry::contended(what), async |_| {
            let Some((before, version)) = store::lead_by_id_versioned(cx, &lead_id).await? else {
                return Ok(Attempt::Done(None));
            };
            let mut lead = before.clone();
            for (field, value) in &body.change.set {
                lead.custom.insert(key(field), value.clone());
                lead.field_ts
                    .insert(format!("custom.{}", key(field)), body.at);
            }
            for field in &body.change.clear {
                lead.custom.remove(&key(field));
                lead.field_ts.remove(&format!("custom.{}", key(field)));
            }
            let changes = changed_fields(&before, &lead);
            if changes.is_empty() {
                return Ok(Attempt::Done(Some(Vec::new())));
            }
            lead.updated_at = cx.now_ms;
            let mut stmts = vec![store::update_lead_statement(cx, &lead, version)?];
            for (field, from, to) in &changes {
                let event = Event::new(
                    EventType::FieldChanged,
                    &format!("{}:{field}", body.reference),
                    &lead_id,
                    body.at,
                    json!({ "field": field, "from": from, "to": to }),
                )
                .caused_by(body.cause.clone());
                stmts.push(events::emit_if(
                    cx,
                    &event,
                    (
                        "EXISTS (SELECT 1 FROM leads WHERE id = ? AND version = ?)",
                        platform::args![&lead_id, version + 1],
                    ),
                )?);
            }
            let done = cx.db.batch(stmts).await?;
            Ok(if done.first() == Some(&1) {
                Attempt::Done(Some(changes.into_iter().map(|(f, _, _)| f).collect()))
            } else {
                Attempt::Again
            })
        })
        .await?;
        match outcome {
            Some(fields) => changed = fields,
            None => return http::json(200, &json!({ "lead_id": lead_id, "lead_gone": true })),
        }
    }
    let mut activity = Value::Null;
    let mut score = Value::Null;
    if let Some(a) = &body.change.activity {
        let new = NewActivity {
            lead_id: Some(lead_id.clone()),
            email: None,
            kind: a.kind.clone(),
            occurred_at: body.at,
            properties: a.properties.clone(),
            external_id: Some(body.reference.clone()),
            source: Some("workflow".into()),
        };
        if store::lead_by_id(cx, &lead_id).await?.is_none() {
            return http::json(200, &json!({ "lead_id": lead_id, "lead_gone": true }));
        }
        let (id, fresh, scored) = api::record_activity(cx, &lead_id, &new, &body.cause).await?;
        activity = json!({ "id": id, "new": fresh });
        score = scored;
    }
    http::json(
        200,
        &json!({ "lead_id": lead_id, "changed": changed, "activity": activity, "score": score.get("score").cloned().unwrap_or(Value::Null) }),
    )
}
