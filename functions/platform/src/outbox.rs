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

use revops::jobs::{after_failure, AfterFailure};
use revops::logging::Level;
use revops::problem::Problem;
use revops::time::rfc3339;
use revops::webhooks::outgoing::Endpoint;
use revops::webhooks::standard;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1PreparedStatement, Fetch, Headers, Method, Request, RequestInit};

use crate::cx::{log, random_bytes, Cx};
use crate::db::{Arg, Db};
use crate::error::{Error, Result};
use crate::{args, http};

/// How long a delivery attempt holds its claim before a tick may retry it.
const CLAIM_MS: i64 = 60_000;

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

/// Delivers, after the response, the messages `reference` produced.
pub fn deliver_soon(cx: &Cx, reference: &str) {
    let env = cx.env.clone();
    let (service, request_id, reference) =
        (cx.service, cx.request_id.clone(), reference.to_string());
    let now = cx.now_ms;
    cx.background(async move {
        let Ok(db) = Db::from_env(&env) else { return };
        if let Err(e) = deliver_where(&db, "ref = ?", args![reference], now, 20).await {
            log(
                Level::Warn,
                service,
                &request_id,
                "outbox.delivery_failed",
                json!({ "error": e.to_string() }),
            );
        }
    });
}

/// Delivers messages that are due (the cron tick). Returns (delivered, still failing).
pub async fn deliver_due(db: &Db, now: i64, limit: usize) -> Result<(usize, usize)> {
    deliver_where(db, "next_attempt_at <= ?", args![now], now, limit).await
}

#[derive(Deserialize)]
struct Due {
    id: String,
    url: String,
    secret: String,
    payload: String,
    attempts: i64,
}

async fn deliver_where(
    db: &Db,
    condition: &str,
    mut values: Vec<Arg>,
    now: i64,
    limit: usize,
) -> Result<(usize, usize)> {
    values.push(Arg::Int(now));
    values.push(Arg::Int(limit as i64));
    let due: Vec<Due> = db
        .all(
            &format!(
                "SELECT d.id AS id, e.url AS url, e.secret AS secret, d.payload AS payload, d.attempts AS attempts \
                 FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                 WHERE d.status = 'pending' AND {condition} AND (d.claimed_until IS NULL OR d.claimed_until < ?) \
                 ORDER BY d.next_attempt_at LIMIT ?"
            ),
            values,
        )
        .await?;
    let (mut delivered, mut failing) = (0, 0);
    for d in due {
        // Claim it, so an overlapping tick or background delivery does not send it concurrently.
        let claimed = db
            .run(
                "UPDATE webhook_deliveries SET claimed_until = ?, attempts = attempts + 1 \
                 WHERE id = ? AND status = 'pending' AND attempts = ? AND (claimed_until IS NULL OR claimed_until < ?)",
                args![now + CLAIM_MS, &d.id, d.attempts, now],
            )
            .await?;
        if claimed != 1 {
            continue;
        }
        let attempts = d.attempts as u32 + 1;
        match send(&d, now).await {
            Ok(()) => {
                db.run(
                    "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = ?, last_status = 200, last_error = NULL, claimed_until = NULL WHERE id = ?",
                    args![now, &d.id],
                )
                .await?;
                delivered += 1;
            }
            Err((status, error)) => {
                let (state, next) = match after_failure(attempts, now) {
                    AfterFailure::RetryAt(at) => ("pending", at),
                    AfterFailure::Dead => ("failed", now),
                };
                db.run(
                    "UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, last_status = ?, last_error = ?, claimed_until = NULL WHERE id = ?",
                    args![state, next, status, error.chars().take(500).collect::<String>(), &d.id],
                )
                .await?;
                failing += 1;
            }
        }
    }
    Ok((delivered, failing))
}

/// One signed POST; a non-2xx answer or a network error is a failure (status, reason).
async fn send(d: &Due, now: i64) -> std::result::Result<(), (Option<i64>, String)> {
    let key = standard::secret_key(&d.secret)
        .ok_or((None, "the endpoint secret is invalid".to_string()))?;
    let ts = now / 1000;
    let signature = standard::sign(&key, &d.id, ts, d.payload.as_bytes());
    let fail = |e: worker::Error| (None, e.to_string());
    let headers = Headers::new();
    for (name, value) in [
        ("content-type", "application/json"),
        ("user-agent", "revops-edge-webhooks/1"),
        ("webhook-id", d.id.as_str()),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", &signature),
    ] {
        headers.set(name, value).map_err(fail)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(d.payload.as_str().into()));
    let req = Request::new_with_init(&d.url, &init).map_err(fail)?;
    let resp = Fetch::Request(req).send().await.map_err(fail)?;
    let status = resp.status_code();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err((
            Some(status as i64),
            format!("the endpoint answered {status}"),
        ))
    }
}

/// `POST /v1/admin/webhooks`: registers an endpoint; the answer carries its secret, once.
pub async fn create(cx: &Cx, mut req: worker::Request) -> Result<worker::Response> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        url: String,
        #[serde(default, deserialize_with = "revops::de::present")]
        events: Option<Vec<String>>,
        #[serde(default, deserialize_with = "revops::de::present")]
        description: Option<String>,
    }
    let body: Body = http::json_body(&mut req, 16 * 1024).await?;
    let Endpoint {
        url,
        events,
        description,
    } = Endpoint::validate(&body.url, body.events, body.description)
        .map_err(|errors| Error::Problem(Problem::validation(errors)))?;
    let id = cx.new_id(revops::ids::prefix::WEBHOOK_ENDPOINT);
    let secret = standard::new_secret(random_bytes());
    cx.db
        .run(
            "INSERT INTO webhook_endpoints (id, url, secret, events, description, active, created_at, created_by) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            args![&id, &url, &secret, &json!(events), &description, cx.now_ms, cx.actor()],
        )
        .await?;
    http::json(
        201,
        &json!({ "id": id, "url": url, "events": events, "description": description, "active": true, "secret": secret, "created_at": rfc3339(cx.now_ms) }),
    )
}

#[derive(Deserialize)]
struct EndpointRow {
    id: String,
    url: String,
    events: String,
    description: String,
    active: i64,
    created_at: i64,
    created_by: String,
}

/// `GET /v1/admin/webhooks`: endpoints (never their secrets) with delivery counts.
pub async fn list(cx: &Cx) -> Result<worker::Response> {
    let rows: Vec<EndpointRow> = cx
        .db
        .all("SELECT id, url, events, description, active, created_at, created_by FROM webhook_endpoints ORDER BY created_at", args![])
        .await?;
    #[derive(Deserialize)]
    struct Count {
        endpoint_id: String,
        status: String,
        n: i64,
    }
    let counts: Vec<Count> = cx
        .db
        .all("SELECT endpoint_id, status, COUNT(*) AS n FROM webhook_deliveries GROUP BY endpoint_id, status", args![])
        .await?;
    let endpoints: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut deliveries = json!({ "pending": 0, "delivered": 0, "failed": 0 });
            for c in counts.iter().filter(|c| c.endpoint_id == r.id) {
                deliveries[c.status.as_str()] = json!(c.n);
            }
            json!({
                "id": r.id, "url": r.url,
                "events": serde_json::from_str::<Value>(&r.events).unwrap_or(Value::Null),
                "description": r.description, "active": r.active == 1,
                "created_at": rfc3339(r.created_at), "created_by": r.created_by,
                "deliveries": deliveries,
            })
        })
        .collect();
    http::json(200, &json!({ "endpoints": endpoints }))
}

/// `DELETE /v1/admin/webhooks/{endpoint_id}`: stops sending to it (history is kept).
pub async fn deactivate(cx: &Cx) -> Result<worker::Response> {
    let id = cx.param("endpoint_id");
    let changed = cx
        .db
        .run(
            "UPDATE webhook_endpoints SET active = 0 WHERE id = ?",
            args![id],
        )
        .await?;
    if changed == 0 {
        return Err(Error::Problem(Problem::not_found(format!(
            "webhook endpoint {id}"
        ))));
    }
    cx.db
        .run("UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deactivated' WHERE endpoint_id = ? AND status = 'pending'", args![id])
        .await?;
    http::no_content()
}

#[derive(Deserialize)]
struct DeliveryRow {
    id: String,
    endpoint_id: String,
    event: String,
    subject: Option<String>,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

fn delivery_view(r: &DeliveryRow) -> Value {
    json!({
        "id": r.id, "endpoint_id": r.endpoint_id, "event": r.event, "lead_id": r.subject,
        "status": r.status, "attempts": r.attempts,
        "next_attempt_at": (r.status == "pending").then(|| rfc3339(r.next_attempt_at)),
        "last_status": r.last_status, "last_error": r.last_error,
        "created_at": rfc3339(r.created_at), "delivered_at": r.delivered_at.map(rfc3339),
    })
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, event, subject, status, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at";

/// `GET /v1/admin/webhooks/deliveries?status=failed&endpoint_id=…&limit=…`.
pub async fn deliveries(cx: &Cx, req: &worker::Request) -> Result<worker::Response> {
    let status = http::query_enum(req, "status", &["pending", "delivered", "failed"])?;
    let endpoint = http::query_param(req, "endpoint_id");
    let limit = http::query_int(req, "limit", 1, 500)?.unwrap_or(100);
    let rows: Vec<DeliveryRow> = cx
        .db
        .all(
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR endpoint_id = ?2) ORDER BY created_at DESC LIMIT ?3"),
            args![status, endpoint, limit],
        )
        .await?;
    http::json(
        200,
        &json!({ "deliveries": rows.iter().map(delivery_view).collect::<Vec<_>>() }),
    )
}

/// `POST /v1/admin/webhooks/deliveries/{delivery_id}/retry`: sends it again now.
pub async fn retry(cx: &Cx) -> Result<worker::Response> {
    let id = cx.param("delivery_id").to_string();
    let changed = cx
        .db
        .run(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, claimed_until = NULL WHERE id = ? AND status != 'delivered' \
             AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = endpoint_id AND e.active = 1)",
            args![cx.now_ms, &id],
        )
        .await?;
    if changed == 0 {
        return Err(Error::Problem(Problem::not_found(format!(
            "undelivered message {id} to an active endpoint"
        ))));
    }
    deliver_where(&cx.db, "d.id = ?", args![&id], cx.now_ms, 1).await?;
    let row: DeliveryRow = cx
        .db
        .first(
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?"),
            args![&id],
        )
        .await?
        .ok_or_else(|| Error::internal("delivery vanished"))?;
    http::json(200, &delivery_view(&row))
}
