//! The webhooks API: endpoints (register, list, deactivate) and their deliveries (list, retry).

use revops::problem::Problem;
use revops::time::rfc3339;
use revops::webhooks::outgoing::Endpoint;
use revops::webhooks::standard;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cx::{random_bytes, Cx};
use crate::error::{Error, Result};
use crate::{args, http};

use super::deliver::deliver_where;

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
    let views = list_deliveries(&cx.db, status.as_deref(), endpoint.as_deref(), limit).await?;
    http::json(200, &json!({ "deliveries": views }))
}

/// Messages, newest first, optionally of one status and one endpoint (the deliveries API and
/// the console's Health page).
pub async fn list_deliveries(
    db: &crate::Db,
    status: Option<&str>,
    endpoint: Option<&str>,
    limit: i64,
) -> Result<Vec<serde_json::Value>> {
    let rows: Vec<DeliveryRow> = db
        .all(
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR endpoint_id = ?2) ORDER BY created_at DESC LIMIT ?3"),
            args![status, endpoint, limit],
        )
        .await?;
    Ok(rows.iter().map(delivery_view).collect())
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
