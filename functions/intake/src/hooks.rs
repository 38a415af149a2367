//! Signed vendor webhooks: `POST /hooks/{source_id}` verified before anything is stored, and
//! the sources' administration.

use revops::ids::prefix;
use revops::intake::normalize::{normalise, Submission};
use revops::intake::source::SourceConfig;
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::webhooks::{self, adapters, Inbound, Vendor, VerifyError};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::pipeline;
use crate::store::{Extras, NewSubmission};
use platform::{args, cache, http, problem, Cx, Error, Result};

const MAX_BODY: usize = 256 * 1024;

fn cache_key(id: &str) -> String {
    format!("source:{id}")
}

async fn load(cx: &Cx, id: &str) -> Result<Option<SourceConfig>> {
    if !revops::ids::is_id(prefix::SOURCE, id) {
        return Ok(None);
    }
    cache::get_or_load(
        cx,
        &cache_key(id),
        "SELECT config FROM webhook_sources WHERE id = ?",
        id,
    )
    .await
}

/// The headers a vendor request carries that identify or sign it, kept with the submission.
fn kept_headers(headers: &[(String, String)]) -> Value {
    let keep = |n: &str| {
        n.starts_with("webhook-")
            || n.starts_with("x-hubspot-")
            || n.starts_with("x-webflow-")
            || n == "typeform-signature"
            || n == "user-agent"
            || n == "content-type"
    };
    Value::Object(
        headers
            .iter()
            .filter(|(n, _)| keep(n))
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// `POST /hooks/{source_id}`: verify, refuse replays, store every person in the payload, process.
pub async fn receive(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("source_id").to_string();
    let config = match load(cx, &id).await? {
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
    let verified = webhooks::verify(
        config.vendor,
        &config.secrets,
        &inbound,
        cx.now_ms,
        tolerance,
    )
    .map_err(|e| {
        cx.log(
            revops::logging::Level::Warn,
            "webhook.refused",
            json!({ "source_id": id, "reason": e.to_string() }),
        );
        match e {
            VerifyError::Stale { .. } => problem(ProblemKind::StaleTimestamp, e.to_string()),
            VerifyError::NoSecret => Error::internal(format!("source {id} has no usable secret")),
            _ => problem(ProblemKind::InvalidSignature, e.to_string()),
        }
    })?;
    let records = adapters::extract(config.vendor, &body)
        .map_err(|why| Error::Problem(Problem::validation(vec![FieldError::new("body", why)])))?;

    let mut normalised = Vec::new();
    let mut rejected = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let mut fields = record.fields;
        if let Some(ext) = &record.external_id {
            fields.push((
                format!("{}_id", config.vendor.name()),
                Value::String(ext.clone()),
            ));
        }
        match normalise(&Submission {
            fields: &fields,
            field_map: &config.field_map,
            default_lead_source: config.lead_source.as_deref(),
            received_at: cx.now_ms,
        }) {
            Ok(n) => normalised.push(n),
            Err(errors) => rejected
                .push(json!({ "record": i, "external_id": record.external_id, "errors": errors })),
        }
    }
    if normalised.is_empty() {
        let errors: Vec<FieldError> = rejected
            .iter()
            .flat_map(|r| {
                serde_json::from_value::<Vec<FieldError>>(r["errors"].clone()).unwrap_or_default()
            })
            .collect();
        return Err(Error::Problem(Problem::validation(if errors.is_empty() {
            vec![FieldError::new("body", "the payload names no person")]
        } else {
            errors
        })));
    }
    let is_form_vendor = matches!(config.vendor, Vendor::Typeform | Vendor::Webflow);
    let extras = Extras {
        activity: is_form_vendor.then(|| "form_submission".to_string()),
        consent: None,
        base_url: None,
    };
    let kept = kept_headers(&headers);
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
    // Receipts outlive every window in which a replay could still verify: twice the tolerance for
    // schemes that sign a timestamp, 30 days for those that do not.
    let keep_for = if config.vendor.signs_timestamp() {
        2 * tolerance
    } else {
        30 * revops::time::DAY
    };
    let receipt = cx.db.stmt(
        "INSERT INTO webhook_receipts (source_id, message_id, received_at, expires_at) VALUES (?, ?, ?, ?)",
        args![&id, &verified.message_id, cx.now_ms, cx.now_ms + keep_for],
    )?;
    let outcomes = match pipeline::accept_all(
        cx,
        &subs,
        vec![receipt],
        pipeline::injected_fault(cx, &req).as_deref(),
    )
    .await
    {
        Ok(o) => o,
        Err(e) if e.is_constraint_violation() => {
            return Err(problem(
                ProblemKind::Replayed,
                format!(
                    "message {} was already received from this source",
                    verified.message_id
                ),
            ))
        }
        Err(e) => return Err(e),
    };
    let accepted: Vec<Value> = outcomes.iter().map(|o| o.view()).collect();
    http::json(
        200,
        &json!({ "received": true, "message_id": verified.message_id, "accepted": accepted, "rejected": rejected }),
    )
}

async fn store_config(cx: &Cx, id: &str, config: &SourceConfig, create: bool) -> Result<()> {
    let json = serde_json::to_string(config)?;
    if create {
        cx.db
            .run(
                "INSERT INTO webhook_sources (id, config, created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?)",
                args![id, json, cx.now_ms, cx.actor(), cx.now_ms],
            )
            .await?;
    } else {
        cx.db
            .run(
                "UPDATE webhook_sources SET config = ?, updated_at = ? WHERE id = ?",
                args![json, cx.now_ms, id],
            )
            .await?;
    }
    cache::put(cx, &cache_key(id), config).await
}

fn with_url(id: &str, config: &SourceConfig) -> Value {
    let mut v = config.view(id);
    v["post_url"] = Value::String(format!("/hooks/{id}"));
    v
}

pub async fn create(cx: &Cx, mut req: Request) -> Result<Response> {
    let config: SourceConfig = http::json_body(&mut req, 64 * 1024).await?;
    let config = config
        .validate(None)
        .map_err(|e| Error::Problem(Problem::validation(e)))?;
    let id = cx.new_id(prefix::SOURCE);
    store_config(cx, &id, &config, true).await?;
    http::json(201, &with_url(&id, &config))
}

/// Replaces a source's configuration; omitting `secrets` keeps the current ones.
pub async fn update(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("source_id").to_string();
    let current = load(cx, &id)
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("webhook source {id}"))))?;
    let config: SourceConfig = http::json_body(&mut req, 64 * 1024).await?;
    let config = config
        .validate(Some(&current.secrets))
        .map_err(|e| Error::Problem(Problem::validation(e)))?;
    store_config(cx, &id, &config, false).await?;
    http::json(200, &with_url(&id, &config))
}

pub async fn get(cx: &Cx) -> Result<Response> {
    let id = cx.param("source_id");
    let config = load(cx, id)
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("webhook source {id}"))))?;
    http::json(200, &with_url(id, &config))
}

pub async fn list(cx: &Cx) -> Result<Response> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        config: String,
    }
    let rows: Vec<Row> = cx
        .db
        .all(
            "SELECT id, config FROM webhook_sources ORDER BY created_at DESC",
            vec![],
        )
        .await?;
    let sources: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            serde_json::from_str::<SourceConfig>(&r.config)
                .ok()
                .map(|c| with_url(&r.id, &c))
        })
        .collect();
    http::json(200, &json!({ "sources": sources }))
}

/// Forgets receipts no replay could use any more.
pub async fn prune_receipts(cx: &Cx, now: i64) -> Result<usize> {
    cx.db
        .run(
            "DELETE FROM webhook_receipts WHERE expires_at < ?",
            args![now],
        )
        .await
}
