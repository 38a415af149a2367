//! The model as a versioned operational parameter: publish (kept forever, with who, when and
//! why), dry-run, rollback, backtest, and the bounded rescoring a publish starts.

use revops::problem::{FieldError, Problem};
use revops::scoring::backtest::{self, Case, SalesOutcome};
use revops::scoring::engine::{next_stage, score};
use revops::scoring::Model;
use revops::time::rfc3339;
use revops::workflows::events::Cause;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api;
use crate::store;
use platform::{args, http, jobs, settings, Cx, Error, Result};

pub const RESCORE_JOB: &str = "scoring.rescore";
const RESCORE_SUBJECT: &str = "all";
/// Leads rescored per cron tick: a handful of queries and one batch, well inside the CPU budget.
pub const RESCORE_BATCH: usize = 200;
/// Leads a dry run or a backtest evaluates (most recent first).
pub const SAMPLE: usize = 2000;
const STATUS_KEY: &str = "scoring.rescoring";

fn compile(v: &Value) -> Result<Model> {
    Model::from_json(v).map_err(|errors| store::MODELS.invalid(errors))
}

/// The statement that (re)starts the one rescoring job with `version`, committed with the
/// activation (a publish or a rollback): a newer activation restarts it from the first lead.
pub fn rescoring(cx: &Cx, version: i64) -> Result<(Vec<worker::D1PreparedStatement>, Value)> {
    let stmt = jobs::enqueue_latest(
        &cx.db,
        &cx.new_id(revops::ids::prefix::JOB),
        RESCORE_JOB,
        RESCORE_SUBJECT,
        &json!({ "version": version, "cursor": "", "processed": 0, "started_at": cx.now_ms }),
        cx.now_ms,
        cx.now_ms,
    )?;
    Ok((
        vec![stmt],
        json!({ "rescoring": { "version": version, "state": "scheduled", "batch_per_tick": RESCORE_BATCH } }),
    ))
}

/// The most recently updated leads, for dry runs and backtests.
async fn sample_ids(cx: &Cx, sql: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let ids: Vec<Id> = cx.db.all(sql, args![SAMPLE]).await?;
    Ok(ids.into_iter().map(|i| i.id).collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateBody {
    #[serde(default, deserialize_with = "revops::de::present")]
    model: Option<Value>,
}

/// `POST /v1/admin/scoring/dry-run`: how many leads a candidate model would move between stages.
pub async fn dry_run(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: CandidateBody = http::json_body(&mut req, 512 * 1024).await?;
    let model = compile(body.model.as_ref().ok_or_else(|| {
        Error::Problem(Problem::validation(vec![FieldError::new(
            "model",
            "give the candidate model",
        )]))
    })?)?;
    let ids = sample_ids(cx, "SELECT id FROM leads ORDER BY updated_at DESC LIMIT ?").await?;
    let leads = store::load(cx, &ids, cx.now_ms).await?;
    let mut transitions: std::collections::BTreeMap<String, usize> = Default::default();
    let (mut would_change, mut delta) = (0usize, 0.0);
    for data in &leads {
        let s = data.score(&model, cx.now_ms);
        let stage = next_stage(&model, data.stage(), s.total);
        delta += s.total - data.current.as_ref().map_or(0.0, |c| c.total);
        if stage != data.stage() {
            would_change += 1;
            *transitions
                .entry(format!("{} -> {stage}", data.stage()))
                .or_default() += 1;
        }
    }
    let total: Value = cx
        .db
        .first("SELECT COUNT(*) AS n FROM leads", vec![])
        .await?
        .unwrap_or(json!({"n": 0}));
    http::json(
        200,
        &json!({
            "evaluated": leads.len(),
            "total_leads": total["n"],
            "would_change_stage": would_change,
            "transitions": transitions,
            "mean_score_change": if leads.is_empty() { 0.0 } else { (delta / leads.len() as f64 * 10.0).round() / 10.0 },
        }),
    )
}

/// `POST /v1/admin/scoring/backtest`: replays a candidate (or the active) model over the leads
/// sales decided on and a sample of the rest.
pub async fn backtest(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: CandidateBody = http::json_body(&mut req, 512 * 1024).await?;
    let (version, model) = match &body.model {
        Some(m) => (None, compile(m)?),
        None => {
            let (v, m) = store::active(cx).await?;
            (Some(v), m)
        }
    };
    #[derive(Deserialize)]
    struct OutcomeRow {
        lead_id: String,
        outcome: String,
        reason: Option<String>,
        at: i64,
    }
    // The latest outcome of each lead that has one.
    let outcomes: Vec<OutcomeRow> = cx
        .db
        .all(
            "SELECT o.lead_id AS lead_id, o.outcome AS outcome, o.reason AS reason, o.at AS at FROM lead_outcomes o \
             WHERE o.at = (SELECT MAX(at) FROM lead_outcomes WHERE lead_id = o.lead_id) ORDER BY o.at DESC LIMIT ?",
            args![SAMPLE],
        )
        .await?;
    let mut ids: Vec<String> = outcomes.iter().map(|o| o.lead_id.clone()).collect();
    for id in sample_ids(cx, "SELECT id FROM leads WHERE id NOT IN (SELECT lead_id FROM lead_outcomes) ORDER BY updated_at DESC LIMIT ?").await? {
        ids.push(id);
    }
    let leads = store::load(cx, &ids, cx.now_ms).await?;
    let cases: Vec<Case> = leads
        .iter()
        .map(|data| {
            let o = outcomes.iter().find(|o| o.lead_id == data.lead.id);
            Case {
                facts: data.facts(),
                activities: &data.activities,
                outcome: o.and_then(|o| SalesOutcome::parse(&o.outcome)),
                reason: o.and_then(|o| o.reason.as_deref()),
                // Score each lead as it stood when sales decided; the rest as of now.
                at: o.map_or(cx.now_ms, |o| o.at),
            }
        })
        .collect();
    let report = backtest::run(&model, &cases);
    let mut out = serde_json::to_value(&report)?;
    out["model_version"] = json!(version);
    http::json(200, &out)
}

/// `GET /v1/admin/scoring/rescoring`: progress of the rescoring the last activation started.
pub async fn status(cx: &Cx) -> Result<Response> {
    let running: Option<jobs::Job> = jobs::list(&cx.db, RESCORE_JOB, None, 1).await?.pop();
    if let Some(job) = running {
        let p: Value = serde_json::from_str(&job.payload).unwrap_or_default();
        return http::json(
            200,
            &json!({ "state": job.state, "version": p["version"], "processed": p["processed"], "next_batch_at": rfc3339(job.run_after), "last_error": job.last_error }),
        );
    }
    let done: Value = settings::load(cx, STATUS_KEY).await?;
    if done.is_null() {
        return http::json(200, &json!({ "state": "idle" }));
    }
    http::json(200, &done)
}

/// Re-scores these leads at `now` with the active model in one batch, recording stage changes
/// with `reason` — or `decay`, when that is what changed them (`engine::transition_reason`);
/// new MQLs go to routing. Returns the model version and the new MQLs.
async fn rescore_leads(
    cx: &Cx,
    ids: &[String],
    now: i64,
    reason: &str,
) -> Result<(i64, Vec<String>)> {
    let (version, model) = store::active(cx).await?;
    let leads = store::load(cx, ids, now).await?;
    let mut stmts = Vec::new();
    let mut new_mqls = Vec::new();
    for data in &leads {
        let since = data.current.as_ref().and_then(|c| c.engagement_since);
        let s = score(&model, &data.facts(), &data.activities, now, since);
        let stage = next_stage(&model, data.stage(), s.total);
        if stage == revops::scoring::MQL && data.stage() != revops::scoring::MQL {
            new_mqls.push(data.lead.id.clone());
        }
        let reason = revops::scoring::engine::transition_reason(
            reason,
            data.current.as_ref().map(|c| c.model_version) == Some(version),
            data.current.as_ref().and_then(|c| c.next_review_at),
            now,
        );
        let scored = store::Scored {
            version,
            model: &model,
            score: &s,
            stage: &stage,
            reason,
            engagement_since: since,
            at: now,
            cause: &Cause::default(),
        };
        stmts.extend(store::save_statements(cx, data, &scored)?.0);
    }
    // A lead scored concurrently keeps that newer score: its guarded statements change nothing.
    cx.db.batch(stmts).await?;
    for id in &new_mqls {
        api::route(cx, id, None).await;
    }
    Ok((version, new_mqls))
}

/// Leads whose decayed score is due to change their stage, re-scored per tick.
pub const DECAY_BATCH: usize = 200;

/// One tick of decay: re-scores the leads whose stored stage decay has made stale (their
/// `next_review_at` has come), oldest due first; the transition is recorded as `decay` (as
/// `rescore` if a newer model is active since their score was stored).
pub async fn decay_tick(cx: &Cx, now: i64) -> Result<Value> {
    #[derive(Deserialize)]
    struct Due {
        lead_id: String,
    }
    let due: Vec<Due> = cx
        .db
        .all(
            "SELECT lead_id FROM lead_scores WHERE next_review_at IS NOT NULL AND next_review_at <= ? ORDER BY next_review_at LIMIT ?",
            args![now, DECAY_BATCH],
        )
        .await?;
    if due.is_empty() {
        return Ok(json!({ "reviewed": 0 }));
    }
    let ids: Vec<String> = due.into_iter().map(|d| d.lead_id).collect();
    let (_, new_mqls) = rescore_leads(cx, &ids, now, "rescore").await?;
    Ok(json!({ "reviewed": ids.len(), "new_mqls": new_mqls.len() }))
}

/// One tick of rescoring: the next batch of leads, by id, with the active model. Leads that
/// become MQLs go to routing. The job advances its cursor and stays due until every lead is done.
pub async fn rescore_tick(cx: &Cx, now: i64) -> Result<Value> {
    let due: Vec<jobs::Job> = jobs::list(&cx.db, RESCORE_JOB, Some("pending"), 1).await?;
    let Some(job) = due.into_iter().find(|j| j.run_after <= now) else {
        return Ok(json!({ "rescored": 0 }));
    };
    let claimed = cx
        .db
        .run(
            "UPDATE jobs SET run_after = ?, attempts = attempts + 1, updated_at = ? WHERE id = ? AND run_after <= ?",
            args![now + revops::jobs::LEASE_MS, now, &job.id, now],
        )
        .await?;
    if claimed == 0 {
        return Ok(json!({ "rescored": 0 }));
    }
    let mut p: Value = serde_json::from_str(&job.payload).unwrap_or_default();
    let cursor = p["cursor"].as_str().unwrap_or("").to_string();
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let ids: Vec<Id> = cx
        .db
        .all(
            "SELECT id FROM leads WHERE id > ? ORDER BY id LIMIT ?",
            args![&cursor, RESCORE_BATCH],
        )
        .await?;
    let ids: Vec<String> = ids.into_iter().map(|i| i.id).collect();
    if ids.is_empty() {
        jobs::complete(&cx.db, RESCORE_JOB, RESCORE_SUBJECT).await?;
        let done = json!({ "state": "done", "version": p["version"], "processed": p["processed"], "finished_at": rfc3339(now) });
        settings::save(cx, STATUS_KEY, &done).await?;
        return Ok(json!({ "rescored": 0, "finished": true }));
    }
    let (version, new_mqls) = rescore_leads(cx, &ids, now, "rescore").await?;
    let processed = p["processed"].as_u64().unwrap_or(0) + ids.len() as u64;
    p["cursor"] = json!(ids.last());
    p["processed"] = json!(processed);
    cx.db
        .run(
            "UPDATE jobs SET payload = ?, run_after = ?, attempts = 0, updated_at = ? WHERE id = ?",
            args![p.to_string(), now, now, &job.id],
        )
        .await?;
    Ok(json!({ "rescored": ids.len(), "new_mqls": new_mqls.len(), "version": version }))
}
