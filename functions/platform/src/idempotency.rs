//! `Idempotency-Key` for POST endpoints: the rules are `revops::idempotency`; this stores keys
//! and responses in D1 (table `idempotency_keys`), scoped to the calling API key.

use std::future::Future;

use revops::idempotency::{self as rules, Decision, Stored};
use revops::problem::ProblemKind;
use serde::Deserialize;
use serde_json::Value;
use worker::{Request, Response};

use crate::cx::Cx;
use crate::error::{problem, Error, Result};
use crate::retry::{self, Attempt};
use crate::{args, http};

#[derive(Deserialize)]
struct Row {
    fingerprint: String,
    created_at: i64,
    status: Option<u16>,
    body: Option<String>,
}

async fn load(cx: &Cx, principal: &str, key: &str) -> Result<Option<Stored>> {
    let row: Option<Row> = cx
        .db
        .first(
            "SELECT fingerprint, created_at, status, body FROM idempotency_keys WHERE principal = ? AND key = ?",
            args![principal, key],
        )
        .await?;
    Ok(row.map(|r| Stored {
        fingerprint: r.fingerprint,
        created_at: r.created_at,
        response: r.status.map(|s| (s, r.body.unwrap_or_default())),
    }))
}

/// Runs `handler` at most once per (API key, `Idempotency-Key`): a retry of the same request gets
/// the stored response (with `idempotent-replayed: true`). Without the header it just runs.
/// The handler answers (status, JSON body); problems it returns are stored too.
pub async fn run<F, Fut>(cx: &Cx, req: &Request, body: &[u8], handler: F) -> Result<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(u16, Value)>>,
{
    let Some(key) = http::header(req, rules::HEADER) else {
        let (status, value) = handler().await?;
        return http::json(status, &value);
    };
    if !rules::valid_key(&key) {
        return Err(problem(
            ProblemKind::BadRequest,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    let principal = cx.actor();
    let fingerprint = rules::fingerprint(req.method().as_ref(), &req.path(), body);
    // The key is claimed with a guarded write (an insert, or taking over an expired claim); a
    // concurrent claim of the same key makes it a no-op, and the next attempt sees that claim.
    let contended = || {
        problem(
            ProblemKind::Conflict,
            "the Idempotency-Key is contended; retry shortly",
        )
    };
    let replay = retry::optimistic(contended, async |_| {
        let stored = load(cx, &principal, &key).await?;
        match rules::decide(stored.as_ref(), &fingerprint, cx.now_ms) {
            Decision::Replay { status, body } => {
                let response = http::json(
                    status,
                    &serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
                )?;
                if status >= 400 {
                    response
                        .headers()
                        .set("content-type", "application/problem+json")?;
                }
                response.headers().set("idempotent-replayed", "true")?;
                Ok(Attempt::Done(Some(response)))
            }
            Decision::Mismatch => Err(problem(
                ProblemKind::IdempotencyConflict,
                "this Idempotency-Key was used for a different request; use a new key",
            )),
            Decision::InProgress => Err(problem(
                ProblemKind::Conflict,
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )),
            Decision::Proceed => {
                let changes = match stored {
                    None => cx
                        .db
                        .run(
                            "INSERT INTO idempotency_keys (principal, key, fingerprint, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            args![&principal, &key, &fingerprint, cx.now_ms],
                        )
                        .await?,
                    Some(old) => cx
                        .db
                        .run(
                            "UPDATE idempotency_keys SET fingerprint = ?, created_at = ?, status = NULL, body = NULL \
                             WHERE principal = ? AND key = ? AND created_at = ?",
                            args![&fingerprint, cx.now_ms, &principal, &key, old.created_at],
                        )
                        .await?,
                };
                Ok(if changes == 1 {
                    Attempt::Done(None)
                } else {
                    Attempt::Again
                })
            }
        }
    })
    .await?;
    if let Some(response) = replay {
        return Ok(response);
    }
    let outcome = handler().await;
    let (status, value) = match &outcome {
        Ok((status, value)) => (*status, value.clone()),
        Err(Error::Problem(p)) => (p.status(), p.body(&req.path(), &cx.request_id)),
        Err(Error::Internal(_)) => (500, Value::Null),
    };
    if rules::keep_response(status) {
        cx.db
            .run(
                "UPDATE idempotency_keys SET status = ?, body = ? WHERE principal = ? AND key = ?",
                args![status as i64, value.to_string(), &principal, &key],
            )
            .await?;
    } else {
        cx.db
            .run(
                "DELETE FROM idempotency_keys WHERE principal = ? AND key = ?",
                args![&principal, &key],
            )
            .await?;
    }
    let (status, value) = outcome?;
    http::json(status, &value)
}
