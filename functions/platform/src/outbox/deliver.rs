//! Sending the outbox: right after the response that wrote a message, and from the cron tick
//! until the endpoint acknowledges (or the message is parked as `failed`).

use revops::jobs::{after_failure, AfterFailure};
use revops::logging::Level;
use revops::webhooks::standard;
use serde::Deserialize;
use serde_json::json;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use crate::args;
use crate::cx::{log, Cx};
use crate::db::{Arg, Db};
use crate::error::Result;

/// How long a delivery attempt holds its claim before a tick may retry it.
const CLAIM_MS: i64 = 60_000;

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

pub(super) async fn deliver_where(
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
