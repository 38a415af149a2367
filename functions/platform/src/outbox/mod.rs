//! Signed outgoing webhooks (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature` = HMAC-SHA256 over `id.timestamp.body` with the endpoint's `whsec_`
//! secret).
//!
//! A message is written to the outbox (`webhook_deliveries`, one row per subscribed endpoint)
//! by a statement in the same D1 batch as the change it announces, so it exists exactly when the
//! change does. It is then delivered in the background right after the response and, until an
//! endpoint acknowledges with a 2xx, retried by the cron tick with the shared backoff
//! (`revops::jobs`). A message that keeps failing is parked as `failed`, listed by the API and
//! can be retried by hand. Receivers deduplicate on `webhook-id`: delivery is at least once.
//!
//! This module writes messages ([`enqueue`]); `deliver` sends them, `admin` serves the
//! endpoints and deliveries API.

mod admin;
mod deliver;

pub use admin::{create, deactivate, deliveries, list, list_deliveries, retry};
pub use deliver::{deliver_due, deliver_soon};

use revops::time::rfc3339;
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use crate::args;
use crate::cx::Cx;
use crate::db::Arg;
use crate::error::Result;

/// A statement that queues `event` about `subject` (a lead id) for every active endpoint
/// subscribed to it. `guard` (SQL condition and its arguments) makes the message conditional
/// on the change it announces having happened in the same batch.
pub fn enqueue(
    cx: &Cx,
    event: &str,
    subject: &str,
    reference: &str,
    data: &Value,
    guard: Option<(&str, Vec<Arg>)>,
) -> Result<D1PreparedStatement> {
    let payload = json!({ "type": event, "timestamp": rfc3339(cx.now_ms), "data": data });
    let mut sql = String::from(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event, subject, ref, payload, status, attempts, next_attempt_at, created_at) \
         SELECT ? || '_' || lower(hex(randomblob(16))), id, ?, ?, ?, ?, 'pending', 0, ?, ? FROM webhook_endpoints \
         WHERE active = 1 AND instr(events, ?) > 0",
    );
    let mut values = args![
        revops::ids::prefix::DELIVERY,
        event,
        subject,
        reference,
        payload.to_string(),
        cx.now_ms,
        cx.now_ms,
        format!("\"{event}\"")
    ];
    if let Some((condition, more)) = guard {
        sql.push_str(" AND ");
        sql.push_str(condition);
        values.extend(more);
    }
    cx.db.stmt(&sql, values)
}

/// A statement that queues `body` (sent as it is, signed like every message) for one endpoint,
/// whatever events it subscribes to: a workflow's call to a product API, Slack or a CRM. Nothing
/// is queued if the endpoint is gone or inactive. `guard` as for [`enqueue`].
pub fn enqueue_to(
    cx: &Cx,
    endpoint: &str,
    event: &str,
    subject: &str,
    reference: &str,
    body: &Value,
    guard: (&str, Vec<Arg>),
) -> Result<D1PreparedStatement> {
    let (condition, more) = guard;
    let mut values = args![
        revops::ids::prefix::DELIVERY,
        event,
        subject,
        reference,
        body.to_string(),
        cx.now_ms,
        cx.now_ms,
        endpoint
    ];
    values.extend(more);
    cx.db.stmt(
        &format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event, subject, ref, payload, status, attempts, next_attempt_at, created_at) \
             SELECT ? || '_' || lower(hex(randomblob(16))), id, ?, ?, ?, ?, 'pending', 0, ?, ? FROM webhook_endpoints \
             WHERE active = 1 AND id = ? AND {condition}"
        ),
        values,
    )
}

/// The read of the active endpoints' ids (for a read batch; rows are [`EndpointId`]s): what a
/// workflow's webhook step may send to.
pub fn active_endpoints_statement(cx: &Cx) -> Result<D1PreparedStatement> {
    cx.db
        .stmt("SELECT id FROM webhook_endpoints WHERE active = 1", args![])
}

#[derive(serde::Deserialize)]
pub struct EndpointId {
    pub id: String,
}

/// The active endpoints' ids.
pub async fn active_endpoints(cx: &Cx) -> Result<Vec<String>> {
    let rows = cx
        .db
        .read_batch(vec![active_endpoints_statement(cx)?])
        .await?
        .remove(0);
    Ok(crate::db::rows::<EndpointId>("webhook_endpoints", rows)?
        .into_iter()
        .map(|e| e.id)
        .collect())
}
