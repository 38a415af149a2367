//! Scoring a lead (the hand-off from intake), its explanation, previews for tools, and sales'
//! outcomes (accept, reject with a reason, convert).

use revops::intake::lead::Lead;
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::routes::{Method, Service};
use revops::scoring::backtest::SalesOutcome;
use revops::scoring::condition::{Facts, RoutingFacts};
use revops::scoring::engine::{next_stage, Activity};
use revops::scoring::outcome::Refusal;
use revops::scoring::{Model, MQL};
use revops::time::rfc3339;
use revops::workflows::events::Cause;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::store::{self, LeadData};
use platform::retry::{self, Attempt};
use platform::{args, http, jobs, problem, Cx, Error, Result};

fn not_found(id: &str) -> Error {
    Error::Problem(Problem::not_found(format!("lead {id}")))
}

async fn one(cx: &Cx, id: &str) -> Result<LeadData> {
    if !revops::ids::is_id(revops::ids::prefix::LEAD, id) {
        return Err(not_found(id));
    }
    store::load(cx, &[id.to_string()], cx.now_ms)
        .await?
        .pop()
        .ok_or_else(|| not_found(id))
}

/// Scores a lead with the active model and stores the result; returns the view and whether the
/// lead just became an MQL.
pub async fn rescore(cx: &Cx, id: &str) -> Result<(Value, bool)> {
    rescore_given(cx, id, None, &Cause::default())
        .await
        .map(|(view, mql, _)| (view, mql))
}

/// [`rescore`], starting from the lead as its owner intake passed it (`None`: read it), and
/// returning the lead and what routing sees of its new score, for the hand-off.
async fn rescore_given(
    cx: &Cx,
    id: &str,
    mut given: Option<Lead>,
    cause: &Cause,
) -> Result<(Value, bool, (Lead, RoutingFacts))> {
    let (version, model) = store::active(cx).await?;
    retry::optimistic(retry::contended(format!("the score of {id}")), async |_| {
        // A retry after a concurrent writer reads everything afresh.
        let data = match given.take() {
            Some(lead) => store::load_for(cx, vec![lead], cx.now_ms)
                .await?
                .pop()
                .ok_or_else(|| not_found(id))?,
            None => one(cx, id).await?,
        };
        let score = data.score(&model, cx.now_ms);
        let stage = next_stage(&model, data.stage(), score.total);
        let since = data.current.as_ref().and_then(|c| c.engagement_since);
        let scored = store::Scored {
            version,
            model: &model,
            score: &score,
            stage: &stage,
            reason: "score",
            engagement_since: since,
            at: cx.now_ms,
            cause,
        };
        let (stmts, saved) = store::save_statements(cx, &data, &scored)?;
        if cx.db.batch(stmts).await?.first() == Some(&1) {
            let became_mql = saved.to == MQL && saved.from != MQL;
            let transition =
                (saved.from != saved.to).then(|| json!({ "from": saved.from, "to": saved.to }));
            return Ok(Attempt::Done((
                json!({
                    "lead_id": id,
                    "score": { "fit": score.fit, "engagement": score.engagement, "total": score.total, "model_version": version },
                    "stage": stage,
                    "transition": transition,
                }),
                became_mql,
                (data.lead, score.routing_facts(&stage)),
            )));
        }
        Ok(Attempt::Again)
    })
    .await
}

/// The internal hand-off's body: the lead as intake just wrote it (absent: read it).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HandOff {
    lead: Option<Lead>,
    /// The workflows whose steps led to this re-score (an activity a step recorded).
    #[serde(default)]
    cause: Cause,
}

/// `POST /internal/leads/{id}/score`: intake's hand-off after a submission or an activity. A lead
/// that becomes an MQL goes on to routing in the same request, with the lead and its score.
pub async fn score_lead(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("lead_id").to_string();
    let body: HandOff = http::optional_json_body(&mut req, 256 * 1024).await?;
    if body.lead.as_ref().is_some_and(|l| l.id != id) {
        return Err(Error::internal(format!(
            "the hand-off of {id} carried another lead"
        )));
    }
    let (mut view, became_mql, (lead, facts)) =
        rescore_given(cx, &id, body.lead, &body.cause).await?;
    if became_mql {
        view["owner"] = route(cx, &id, Some((&lead, &facts))).await;
    }
    http::json(200, &view)
}

/// Hands a new MQL to routing, with the lead and the score just stored when the caller has them
/// (routing then reads neither). A failure is logged and left to routing's own retry (its sweep
/// routes every MQL without an owner), so scoring never fails because routing did.
pub async fn route(cx: &Cx, id: &str, given: Option<(&Lead, &RoutingFacts)>) -> Value {
    let mut body = json!({ "reason": "mql" });
    if let Some((lead, facts)) = given {
        body["lead"] = json!(lead);
        body["scores"] = json!(facts);
    }
    match cx
        .call(
            Service::Routing,
            Method::Post,
            &format!("/internal/leads/{id}/route"),
            Some(&body),
        )
        .await
    {
        Ok(reply) if reply.ok() => reply.body.get("owner").cloned().unwrap_or(Value::Null),
        Ok(reply) => {
            cx.log(
                revops::logging::Level::Warn,
                "scoring.route_failed",
                json!({ "lead_id": id, "status": reply.status, "body": reply.body }),
            );
            Value::Null
        }
        Err(e) => {
            cx.log(
                revops::logging::Level::Warn,
                "scoring.route_failed",
                json!({ "lead_id": id, "error": e.to_string() }),
            );
            Value::Null
        }
    }
}

/// `GET /v1/leads/{id}/score`: the score, each rule that fired with its points and decay, the
/// model version, the stage and its history.
pub async fn get(cx: &Cx) -> Result<Response> {
    let id = cx.param("lead_id").to_string();
    let mut data = one(cx, &id).await?;
    if data.current.is_none() {
        rescore(cx, &id).await?;
        data = one(cx, &id).await?;
    }
    let row = data
        .current
        .as_ref()
        .ok_or_else(|| Error::internal("scored but unreadable"))?;
    #[derive(Deserialize, serde::Serialize)]
    struct Transition {
        from_stage: String,
        to_stage: String,
        total: Option<f64>,
        model_version: Option<i64>,
        reason: String,
        at: i64,
    }
    let transitions: Vec<Transition> = cx
        .db
        .all(
            "SELECT from_stage, to_stage, total, model_version, reason, at FROM stage_transitions WHERE lead_id = ? ORDER BY at, id",
            args![&id],
        )
        .await?;
    let transitions: Vec<Value> = transitions
        .into_iter()
        .map(|t| {
            let at = rfc3339(t.at);
            let mut v = serde_json::to_value(t).unwrap_or_default();
            v["at"] = Value::String(at);
            v
        })
        .collect();
    http::json(
        200,
        &json!({
            "lead_id": id,
            "model_version": row.model_version,
            "fit": row.fit,
            "engagement": row.engagement,
            "total": row.total,
            "stage": row.stage,
            "scored_at": rfc3339(row.scored_at),
            "engagement_since": row.engagement_since.map(rfc3339),
            "stage_changes_by_decay_at": row.next_review_at.map(rfc3339),
            "rules": serde_json::from_str::<Value>(&row.explanation).unwrap_or(Value::Null),
            "transitions": transitions,
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityInput {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "revops::de::present")]
    occurred_at: Option<String>,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    lead: serde_json::Map<String, Value>,
    #[serde(default)]
    activities: Vec<ActivityInput>,
    /// A candidate model to preview with, instead of the active one.
    #[serde(default, deserialize_with = "revops::de::present")]
    model: Option<Value>,
}

/// `POST /v1/score`: scores a payload without storing anything (a preview for tools).
pub async fn preview(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: PreviewBody = http::json_body(&mut req, 256 * 1024).await?;
    let (version, model) = match &body.model {
        Some(m) => (
            None,
            Model::from_json(m).map_err(|e| store::MODELS.invalid(e))?,
        ),
        None => {
            let (v, m) = store::active(cx).await?;
            (Some(v), m)
        }
    };
    // Intake normalises the payload exactly as it would a submission (and owns that code).
    let reply = cx
        .call(
            Service::Intake,
            Method::Post,
            "/internal/normalise",
            Some(&Value::Object(body.lead)),
        )
        .await?;
    if reply.status == 422 {
        let errors: Vec<FieldError> =
            serde_json::from_value(reply.body["errors"].clone()).unwrap_or_default();
        return Err(Error::Problem(Problem::validation(
            errors
                .into_iter()
                .map(|f| FieldError::new(format!("lead.{}", f.field), f.reason))
                .collect(),
        )));
    }
    let lead: Lead = reply.into_result(Service::Intake)?;
    let mut activities = Vec::new();
    for (i, a) in body.activities.into_iter().enumerate() {
        if !revops::intake::activity::is_activity_type(&a.kind) {
            return Err(Error::Problem(Problem::validation(vec![FieldError::new(
                format!("activities[{i}].type"),
                format!("`{}` is not an activity type", a.kind),
            )])));
        }
        let at = match a.occurred_at.as_deref() {
            None => cx.now_ms,
            Some(t) => revops::time::parse_rfc3339(t).ok_or_else(|| {
                Error::Problem(Problem::validation(vec![FieldError::new(
                    format!("activities[{i}].occurred_at"),
                    "is not an RFC 3339 date-time",
                )]))
            })?,
        };
        activities.push(Activity {
            kind: a.kind,
            at,
            properties: Value::Object(a.properties),
        });
    }
    let facts = Facts {
        lead: Some(&lead),
        ..Facts::default()
    };
    let score = revops::scoring::engine::score(&model, &facts, &activities, cx.now_ms, None);
    let stage = next_stage(&model, revops::scoring::NEW, score.total);
    http::json(
        200,
        &json!({
            "model_version": version,
            "fit": score.fit,
            "engagement": score.engagement,
            "total": score.total,
            "stage": stage,
            "rules": score.hits,
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    outcome: String,
    #[serde(default, deserialize_with = "revops::de::present")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    note: Option<String>,
}

/// `POST /v1/leads/{id}/outcome`: sales accepts an MQL, rejects it with a reason from the model's
/// list (which recycles the lead as the model says), or records a conversion.
pub async fn outcome(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("lead_id").to_string();
    // Tests make routing's part fail once to prove the tick carries it out (never in production:
    // honoured only with ALLOW_FAULT_INJECTION=true).
    let fail_close = cx.var("ALLOW_FAULT_INJECTION").as_deref() == Some("true")
        && http::header(&req, "x-revops-inject-fault").as_deref() == Some("close");
    let body: OutcomeBody = http::json_body(&mut req, 16 * 1024).await?;
    let errors = revops::scoring::backtest::outcome_text_errors(
        body.reason.as_deref(),
        body.note.as_deref(),
    );
    if !errors.is_empty() {
        return Err(Error::Problem(Problem::validation(errors)));
    }
    let outcome = SalesOutcome::parse(&body.outcome).ok_or_else(|| {
        Error::Problem(Problem::validation(vec![FieldError::new(
            "outcome",
            "is accepted, rejected or converted",
        )]))
    })?;
    let (version, model) = store::active(cx).await?;
    // The reason is checked against the model before the lead is read.
    revops::scoring::outcome::recycle(&model, outcome, body.reason.as_deref())
        .map_err(|e| Error::Problem(Problem::validation(vec![e])))?;
    let answer = retry::optimistic(retry::contended(format!("the outcome of {id}")), async |_| {
        let data = one(cx, &id).await?;
        let plan = revops::scoring::outcome::plan(
            &model,
            outcome,
            body.reason.as_deref(),
            data.stage(),
            data.current.as_ref().and_then(|c| c.engagement_since),
            cx.now_ms,
        )
        .map_err(|refusal| match refusal {
            Refusal::Invalid(e) => Error::Problem(Problem::validation(vec![e])),
            Refusal::NotNow(why) => problem(ProblemKind::Conflict, why),
        })?;
        let (stage, since, reason) = (plan.stage, plan.engagement_since, &plan.reason);
        let score = revops::scoring::engine::score(
            &model,
            &data.facts(),
            &data.activities,
            cx.now_ms,
            since,
        );
        let scored = store::Scored {
            version,
            model: &model,
            score: &score,
            stage,
            reason,
            engagement_since: since,
            at: cx.now_ms,
            cause: &Cause::default(),
        };
        let (mut stmts, saved) = store::save_statements(cx, &data, &scored)?;
        stmts.push(cx.db.stmt(
            "INSERT INTO lead_outcomes (id, lead_id, outcome, reason, note, at, by, model_version) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM lead_scores WHERE lead_id = ? AND last_change = ?)",
            args![cx.new_id(revops::ids::prefix::REJECTION), &id, &body.outcome, body.reason.as_deref(), body.note.as_deref(), cx.now_ms, cx.actor(), version, &id, &saved.change],
        )?);
        // Routing owns the assignment: closing it is a job written with the outcome (exactly
        // when the outcome is), carried out by routing right after, and by the tick if that
        // call fails.
        let close = plan.closes_assignment.then(|| Close {
            reason: reason.clone(),
            at: cx.now_ms,
        });
        if let Some(close) = &close {
            stmts.push(jobs::enqueue_latest_if(
                &cx.db,
                &cx.new_id(revops::ids::prefix::JOB),
                CLOSE_JOB,
                &id,
                &serde_json::to_value(close)?,
                cx.now_ms + revops::jobs::LEASE_MS,
                cx.now_ms,
                (
                    "EXISTS (SELECT 1 FROM lead_scores WHERE lead_id = ? AND last_change = ?)",
                    args![&id, &saved.change],
                ),
            )?);
        }
        if cx.db.batch(stmts).await?.first() == Some(&1) {
            if let Some(close) = &close {
                close_assignment(cx, &id, close, fail_close).await;
            }
            return Ok(Attempt::Done(json!({
                    "lead_id": id,
                    "outcome": body.outcome,
                    "reason": body.reason,
                    "stage": stage,
                    "recycled": plan.recycle,
                    "total": score.total,
            })));
        }
        Ok(Attempt::Again)
    })
    .await?;
    http::json(200, &answer)
}

/// Closes the lead's open assignment once an outcome ends it (rejected, converted).
pub const CLOSE_JOB: &str = "scoring.close_assignment";

/// What routing is asked to close: the assignment open at `at`, with `reason`.
#[derive(serde::Serialize, Deserialize)]
struct Close {
    reason: String,
    at: i64,
}

/// Asks routing to close the assignment the outcome ended; done, the job goes. A failure is
/// logged and left to the tick, which retries the job.
async fn close_assignment(cx: &Cx, lead_id: &str, close: &Close, injected_fault: bool) {
    let done = async {
        if injected_fault {
            return Err(Error::internal(
                "injected fault: routing's close made to fail",
            ));
        }
        cx.call_ok::<Value>(
            Service::Routing,
            Method::Post,
            &format!("/internal/leads/{lead_id}/close"),
            Some(&serde_json::to_value(close)?),
        )
        .await?;
        jobs::complete(&cx.db, CLOSE_JOB, lead_id).await
    }
    .await;
    if let Err(e) = done {
        cx.log(
            revops::logging::Level::Warn,
            "scoring.close_deferred",
            json!({ "lead_id": lead_id, "error": e.to_string() }),
        );
    }
}

/// The tick's retry of [`close_assignment`].
pub async fn retry_close(cx: &Cx, job: &platform::jobs::Job) -> Result<()> {
    let close: Close = serde_json::from_str(&job.payload)?;
    cx.call_ok::<Value>(
        Service::Routing,
        Method::Post,
        &format!("/internal/leads/{}/close", job.subject),
        Some(&serde_json::to_value(&close)?),
    )
    .await
    .map(|_| ())
}
