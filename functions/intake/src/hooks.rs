//! Signed vendor webhooks: `POST /hooks/{source_id}` verified before anything is stored, and
//! the sources' administration.

use revops::intake::source::SourceConfig;
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::webhooks::{self, adapters, Inbound, VerifyError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{Request, Response};

use crate::counters::{self, Counted};
use crate::pipeline;
use crate::store::{Extras, NewSubmission};
use platform::{http, problem, receipts, Cx, Error, Result};
use revops::intake::stats;

const MAX_BODY: usize = 256 * 1024;

/// `POST /hooks/{source_id}`: verify, refuse replays, store every person in the payload, process.
pub async fn receive(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("source_id").to_string();
    let config = match platform::configs::SOURCES
        .load::<SourceConfig>(cx, &id)
        .await?
    {
        Some(c) if c.enabled => c,
        _ => {
            return Err(Error::Problem(Problem::not_found(format!(
                "webhook source {id}"
            ))))
        }
    };
    let body = http::body_bytes(&mut req, MAX_BODY).await?;
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| req.inner().url());
    let method = req.method().to_string();
    let inbound = Inbound {
        method: &method,
        url: &url,
        headers: &headers,
        body: &body,
    };
    let tolerance = i64::from(config.tolerance_seconds) * 1000;
    let verified = match webhooks::verify(
        config.vendor,
        config.signature.as_ref(),
        &config.secrets,
        &inbound,
        cx.now_ms,
        tolerance,
    ) {
        Ok(verified) => verified,
        Err(e) => {
            cx.log(
                revops::logging::Level::Warn,
                "webhook.refused",
                json!({ "source_id": id, "reason": e.to_string() }),
            );
            let (code, refusal) = match e {
                VerifyError::Stale { .. } => (
                    stats::STALE_TIMESTAMP,
                    problem(ProblemKind::StaleTimestamp, e.to_string()),
                ),
                VerifyError::NoSecret => {
                    return Err(Error::internal(format!("source {id} has no usable secret")))
                }
                _ => (
                    stats::INVALID_SIGNATURE,
                    problem(ProblemKind::InvalidSignature, e.to_string()),
                ),
            };
            // Counted, so the Health page shows a source whose sender cannot sign.
            counters::count(cx, Counted::Source, &id, code).await?;
            return Err(refusal);
        }
    };
    // A message we already received: the same bytes again get the answer they got then (the
    // sender did not hear it); the same id with other bytes is refused.
    let digest = revops::auth::hex(&Sha256::digest(&body));
    if let Some(answer) = redelivery(cx, &id, &verified.message_id, &digest).await? {
        return answer;
    }
    let records = adapters::extract(config.vendor, &body, &config.field_map)
        .map_err(|why| Error::Problem(Problem::validation(vec![FieldError::new("body", why)])))?;

    let delivery = config
        .normalise_records(records, cx.now_ms)
        .map_err(|errors| Error::Problem(Problem::validation(errors)))?;
    let (normalised, rejected) = (delivery.people, delivery.rejected);
    let extras = Extras {
        activity: config
            .vendor
            .sends_forms()
            .then(|| "form_submission".to_string()),
        consent: None,
        base_url: None,
        subjects_admin: false,
        fault: None,
    };
    let kept = config.kept_headers(&headers);
    let text = String::from_utf8_lossy(&body).into_owned();
    let content_type = http::header(&req, "content-type");
    let subs: Vec<NewSubmission> = normalised
        .iter()
        .map(|n| NewSubmission {
            kind: "webhook",
            source_id: Some(&id),
            content_type: content_type.as_deref(),
            body: &text,
            headers: &kept,
            normalised: n,
            extras: &extras,
        })
        .collect();
    // The receipt commits with the submissions: a replay fails its primary key and the batch.
    // Receipts outlive the sender's retries (which re-sign with fresh timestamps for days) and
    // every window in which a replay could still verify.
    let keep_for = revops::webhooks::receipt_retention(
        config.vendor.signs_timestamp(config.signature.as_ref()),
        tolerance,
    );
    let receipt = receipts::insert(
        &cx.db,
        &receipts::Receipt {
            source: &id,
            message_id: &verified.message_id,
            received_at: cx.now_ms,
            expires_at: cx.now_ms + keep_for,
            body_digest: Some(&digest),
        },
    )?;
    let counted = counters::statement(cx, Counted::Source, &id, stats::ACCEPTED)?;
    let outcomes = match pipeline::accept_all(
        cx,
        &subs,
        vec![receipt, counted],
        pipeline::injected_fault(cx, &req).as_ref(),
    )
    .await
    {
        Ok(o) => o,
        // A concurrent delivery of the same message won the receipt.
        Err(e) if e.is_constraint_violation() => {
            return match redelivery(cx, &id, &verified.message_id, &digest).await? {
                Some(answer) => answer,
                None => Err(Error::internal("the receipt vanished")),
            };
        }
        Err(e) => return Err(e),
    };
    let accepted: Vec<Value> = outcomes.iter().map(|o| o.view()).collect();
    let answer = json!({ "received": true, "message_id": verified.message_id, "accepted": accepted, "rejected": rejected });
    receipts::record_response(&cx.db, &id, &verified.message_id, &answer).await?;
    http::json(200, &answer)
}

/// The answer to a message whose receipt exists: the original answer for the same bytes (with
/// `duplicate: true`), a 409 for other bytes under the same id; `None` when it is new.
async fn redelivery(
    cx: &Cx,
    source: &str,
    message_id: &str,
    digest: &str,
) -> Result<Option<Result<Response>>> {
    let receipt = receipts::stored(&cx.db, source, message_id).await?;
    let Some(receipt) = receipt else {
        return Ok(None);
    };
    if receipt.body_digest.as_deref() != Some(digest) {
        return Ok(Some(Err(problem(
            ProblemKind::Replayed,
            format!(
                "message {message_id} was already received from this source with a different body"
            ),
        ))));
    }
    let mut answer: Value = receipt
        .response
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        // Received, and still being processed by the first delivery.
        .unwrap_or_else(|| json!({ "received": true, "message_id": message_id, "accepted": [], "rejected": [] }));
    answer["duplicate"] = json!(true);
    Ok(Some(http::json(200, &answer)))
}
