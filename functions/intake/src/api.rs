//! The JSON API for marketing tools: create or update a lead, read it, record activities.

use revops::ids::{self, prefix};
use revops::intake::activity::{self, ActivityBody};
use revops::intake::fields::FieldMap;
use revops::intake::normalize::{normalise, ApiLead, Submission};
use revops::intake::search::{self, Cursor, LeadQuery};
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::time::rfc3339;
use revops::workflows::events::Cause;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::pipeline;
use crate::store::{self, Extras, NewSubmission};
use platform::{http, problem, Cx, Error, Result};

const MAX_BODY: usize = 64 * 1024;
/// Scoring's retry of a re-score an activity asked for (the scoring handler runs these jobs).
const SCORE_JOB: &str = "scoring.score_lead";

fn require_json(req: &Request) -> Result<()> {
    let media = http::media_type(req.headers());
    if media == "application/json" || media.ends_with("+json") {
        Ok(())
    } else {
        Err(problem(
            ProblemKind::UnsupportedMediaType,
            format!("send application/json (got `{media}`)"),
        ))
    }
}

/// The public origin a request arrived at (links handed back to the submitter point there).
pub fn origin(req: &Request) -> Option<String> {
    revops::intake::form::origin_of_url(&req.inner().url())
}

/// The headers of an API or form request worth keeping with the submission.
pub fn kept_headers(req: &Request) -> Value {
    let mut kept = serde_json::Map::new();
    for name in [
        "content-type",
        "user-agent",
        "origin",
        "referer",
        "idempotency-key",
    ] {
        if let Some(v) = http::header(req, name) {
            kept.insert(name.into(), Value::String(v));
        }
    }
    if let Some(ip) = http::client_ip(req) {
        kept.insert("ip".into(), Value::String(ip));
    }
    Value::Object(kept)
}

/// `POST /v1/leads`: same person (normalised email), same lead.
pub async fn create_lead(cx: &Cx, mut req: Request) -> Result<Response> {
    require_json(&req)?;
    let body = http::body_bytes(&mut req, MAX_BODY).await?;
    platform::idempotency::run(cx, &req, &body, || async {
        let value: Value = http::parse_json(&body)?;
        let Value::Object(obj) = value else {
            return Err(Error::Problem(Problem::validation(vec![FieldError::new(
                "body",
                "must be a JSON object",
            )])));
        };
        let lead = ApiLead::from_object(obj);
        let n = lead
            .normalise(cx.now_ms)
            .map_err(|errors| Error::Problem(Problem::validation(errors)))?;
        let extras = Extras {
            activity: None,
            consent: lead.consent,
            base_url: origin(&req),
            subjects_admin: cx.allows(revops::auth::Scope::SubjectsAdmin),
            fault: None,
        };
        let headers = kept_headers(&req);
        let text = String::from_utf8_lossy(&body);
        let outcome = pipeline::accept(
            cx,
            NewSubmission {
                kind: "api",
                source_id: Some(&cx.actor()),
                content_type: Some("application/json"),
                body: &text,
                headers: &headers,
                normalised: &n,
                extras: &extras,
            },
            pipeline::injected_fault(cx, &req).as_ref(),
        )
        .await?;
        Ok((outcome.status_code(), outcome.view()))
    })
    .await
}

/// `GET /v1/leads/{id}`: the lead, normalised, with its submission history.
pub async fn get_lead(cx: &Cx) -> Result<Response> {
    let id = cx.param("lead_id");
    let not_found = || Error::Problem(Problem::not_found(format!("lead {id}")));
    if !ids::is_id(prefix::LEAD, id) {
        return Err(not_found());
    }
    let lead = store::lead_by_id(cx, id).await?.ok_or_else(not_found)?;
    let mut view = lead.view();
    view["history"] = Value::Array(store::history(cx, id).await?);
    http::json(200, &view)
}

/// `POST /v1/activities`: an activity against a lead, by id or email (an unknown email becomes
/// a new lead, so engagement sent before the lead is never lost).
pub async fn create_activity(cx: &Cx, mut req: Request) -> Result<Response> {
    require_json(&req)?;
    let body = http::body_bytes(&mut req, MAX_BODY).await?;
    platform::idempotency::run(cx, &req, &body, || async {
        let parsed: ActivityBody = http::parse_json(&body)?;
        let a = activity::validate(parsed, cx.now_ms)
            .map_err(|e| Error::Problem(Problem::validation(e)))?;
        let lead_id = match (&a.lead_id, &a.email) {
            (Some(id), _) => {
                store::lead_by_id(cx, id)
                    .await?
                    .ok_or_else(|| Error::Problem(Problem::not_found(format!("lead {id}"))))?
                    .id
            }
            (None, Some(email)) => match store::lead_by_email(cx, email.as_str()).await? {
                Some((lead, _)) => lead.id,
                // An erased person's activity is not stored, and retrying will not change that.
                None if store::is_erased(cx, email.as_str()).await? => {
                    return Err(Error::Problem(Problem::new(
                        ProblemKind::Gone,
                        "this person was erased at their request: nothing about them is stored, including activities; stop sending theirs",
                    )))
                }
                None => lead_for_email(cx, &req, email.as_str(), a.source.as_deref()).await?,
            },
            (None, None) => unreachable!("validated"),
        };
        let (id, new, score) = record_activity(cx, &lead_id, &a, &Cause::default()).await?;
        Ok((
            if new { 201 } else { 200 },
            json!({ "id": id, "lead_id": lead_id, "duplicate": !new, "score": score.get("score").cloned().unwrap_or(Value::Null), "stage": score.get("stage").cloned().unwrap_or(Value::Null) }),
        ))
    })
    .await
}

/// Stores an activity (announced to workflows with its `cause`) and, if it is new, has the lead
/// re-scored now (if scoring is down, its tick retries the job). Returns the activity's id,
/// whether it is new, and scoring's answer.
pub async fn record_activity(
    cx: &Cx,
    lead_id: &str,
    a: &activity::NewActivity,
    cause: &Cause,
) -> Result<(String, bool, Value)> {
    let (id, new) = store::insert_activity(cx, lead_id, a, cause).await?;
    if !new {
        return Ok((id, false, Value::Null));
    }
    let job = platform::jobs::enqueue(
        &cx.db,
        &cx.new_id(prefix::JOB),
        SCORE_JOB,
        lead_id,
        &Value::Null,
        cx.now_ms + revops::jobs::LEASE_MS,
        cx.now_ms,
    )?;
    cx.db.batch(vec![job]).await?;
    let score = match pipeline::hand_off(cx, lead_id, None, cause).await {
        Ok(reply) => {
            platform::jobs::complete(&cx.db, SCORE_JOB, lead_id).await?;
            reply
        }
        Err(e) => {
            cx.log(
                revops::logging::Level::Warn,
                "intake.score_deferred",
                json!({ "lead_id": lead_id, "error": e.to_string() }),
            );
            Value::Null
        }
    };
    Ok((id, true, score))
}

async fn lead_for_email(
    cx: &Cx,
    req: &Request,
    email: &str,
    source: Option<&str>,
) -> Result<String> {
    let fields = vec![("email".to_string(), Value::String(email.to_string()))];
    let map = FieldMap::new();
    let n = normalise(&Submission {
        fields: &fields,
        field_map: &map,
        default_lead_source: source,
        default_country: None,
        received_at: cx.now_ms,
    })
    .map_err(|errors| Error::Problem(Problem::validation(errors)))?;
    let headers = kept_headers(req);
    let body = json!({ "email": email, "from": "activity" }).to_string();
    let outcome = pipeline::accept(
        cx,
        NewSubmission {
            kind: "api",
            source_id: Some(&cx.actor()),
            content_type: Some("application/json"),
            body: &body,
            headers: &headers,
            normalised: &n,
            extras: &Extras::default(),
        },
        None,
    )
    .await?;
    outcome
        .lead_id
        .ok_or_else(|| Error::internal("the lead for the activity could not be created yet; retry"))
}

/// `POST /internal/normalise`: what intake would make of these fields, as a lead, without storing
/// anything (scoring's previews).
pub async fn normalise_only(cx: &Cx, mut req: Request) -> Result<Response> {
    let fields: serde_json::Map<String, Value> = http::json_body(&mut req, MAX_BODY).await?;
    // Read exactly as POST /v1/leads reads a lead (its consent claim changes no score).
    let n = ApiLead::from_object(fields)
        .normalise(cx.now_ms)
        .map_err(|errors| Error::Problem(Problem::validation(errors)))?;
    http::json(
        200,
        &revops::intake::lead::Lead::new("lead_preview".into(), &n),
    )
}

/// `GET /v1/leads?email=&company=&owner=&stage=&source=&created_from=&created_to=&limit=&cursor=`:
/// the leads matching every filter given, newest first, a page at a time.
pub async fn list_leads(cx: &Cx, req: &Request) -> Result<Response> {
    let query = LeadQuery::parse(&http::query(req))
        .map_err(|errors| Error::Problem(Problem::validation(errors)))?;
    let rows = store::search_leads(cx, &query).await?;
    let (rows, next) = search::page(rows, query.limit, |l| Cursor {
        created_at: l.created_at,
        id: l.id.clone(),
    });
    let leads: Vec<Value> = rows
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "email": l.email,
                "company": l.company,
                "company_domain": l.company_domain,
                "lead_source": l.lead_source,
                "created_at": rfc3339(l.created_at),
                "stage": l.stage.as_deref().unwrap_or(revops::scoring::NEW),
                "score": l.score,
                "owner": match (&l.owner_rep, &l.owner_queue) {
                    (Some(rep), _) => json!({ "rep": rep }),
                    (None, Some(queue)) => json!({ "queue": queue }),
                    (None, None) => Value::Null,
                },
            })
        })
        .collect();
    http::json(
        200,
        &json!({ "leads": leads, "next_cursor": next.map(|c| c.encode()) }),
    )
}

/// `GET /v1/leads/{lead_id}/submissions/{submission_id}`: one submission as it was received.
pub async fn get_submission(cx: &Cx) -> Result<Response> {
    let (lead, id) = (cx.param("lead_id"), cx.param("submission_id"));
    let not_found = || {
        Error::Problem(Problem::not_found(format!(
            "submission {id} of lead {lead}"
        )))
    };
    if !ids::is_id(prefix::LEAD, lead) || !ids::is_id(prefix::SUBMISSION, id) {
        return Err(not_found());
    }
    let found = store::submission_of_lead(cx, lead, id)
        .await?
        .ok_or_else(not_found)?;
    http::json(200, &found)
}
