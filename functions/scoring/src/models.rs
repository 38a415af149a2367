//! The model as a versioned operational parameter: publish (kept forever, with who, when and
//! why), dry-run, rollback, backtest, and the bounded rescoring a publish starts.

use revops::problem::{FieldError, Problem};
use revops::scoring::backtest::{self, Case, Outcome};
use revops::scoring::engine::{next_stage, score};
use revops::scoring::Model;
use revops::time::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api;
use crate::store::{self, Active};
use platform::{args, http, jobs, settings, Cx, Error, Result};

pub const RESCORE_JOB: &str = "scoring.rescore";
const RESCORE_SUBJECT: &str = "all";
/// Leads rescored per cron tick: a handful of queries and one batch, well inside the CPU budget.
pub const RESCORE_BATCH: usize = 200;
/// Leads a dry run or a backtest evaluates (most recent first).
pub const SAMPLE: usize = 2000;
const STATUS_KEY: &str = "scoring.rescoring";

fn compile(v: &Value) -> Result<Model> {
    Model::from_json(v).map_err(|errors| {
        Error::Problem(Problem::validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("model.{}", e.field), e.reason))
                .collect(),
        ))
    })
}

#[derive(Deserialize)]
struct VersionRow {
    version: i64,
    name: String,
    published_at: i64,
    published_by: String,
    reason: String,
}

fn version_view(r: &VersionRow, active: i64) -> Value {
    json!({
        "version": r.version,
        "name": r.name,
        "published_at": rfc3339(r.published_at),
        "published_by": r.published_by,
        "reason": r.reason,
        "active": r.version == active,
    })
}

/// `GET /v1/admin/scoring/models`: every version, the active one, and the activation history.
pub async fn list(cx: &Cx) -> Result<Response> {
    let (active, _) = store::active(cx).await?;
    let rows: Vec<VersionRow> = cx
        .db
        .all("SELECT version, name, published_at, published_by, reason FROM scoring_models ORDER BY version DESC", vec![])
        .await?;
    #[derive(Deserialize, serde::Serialize)]
    struct Activation {
        version: i64,
        kind: String,
        at: i64,
        by: String,
        reason: String,
    }
    let activations: Vec<Activation> = cx
        .db
        .all("SELECT version, kind, at, by, reason FROM scoring_activations ORDER BY id DESC LIMIT 100", vec![])
        .await?;
    let activations: Vec<Value> = activations
        .into_iter()
        .map(|a| json!({ "version": a.version, "kind": a.kind, "at": rfc3339(a.at), "by": a.by, "reason": a.reason }))
        .collect();
    http::json(
        200,
        &json!({
            "active_version": active,
            "versions": rows.iter().map(|r| version_view(r, active)).collect::<Vec<_>>(),
            "activations": activations,
        }),
    )
}

/// `GET /v1/admin/scoring/models/{version}` (0 is the built-in model).
pub async fn get(cx: &Cx) -> Result<Response> {
    let raw = cx.param("version");
    let not_found = || Error::Problem(Problem::not_found(format!("model version {raw}")));
    let version: i64 = raw.parse().map_err(|_| not_found())?;
    let (active, _) = store::active(cx).await?;
    if version == 0 {
        let model: Value = serde_json::from_str(revops::scoring::BUILTIN)?;
        return http::json(
            200,
            &json!({ "version": 0, "name": model["name"], "active": active == 0, "model": model, "published_by": "revops-edge", "reason": "built-in default" }),
        );
    }
    #[derive(Deserialize)]
    struct Row {
        version: i64,
        name: String,
        published_at: i64,
        published_by: String,
        reason: String,
        model: String,
    }
    let row: Row = cx
        .db
        .first("SELECT version, name, published_at, published_by, reason, model FROM scoring_models WHERE version = ?", args![version])
        .await?
        .ok_or_else(not_found)?;
    let mut view = version_view(
        &VersionRow {
            version: row.version,
            name: row.name,
            published_at: row.published_at,
            published_by: row.published_by,
            reason: row.reason,
        },
        active,
    );
    view["model"] = serde_json::from_str(&row.model)?;
    http::json(200, &view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    model: Value,
    reason: String,
}

fn need_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(Error::Problem(Problem::validation(vec![FieldError::new(
            "reason",
            "say why (it is kept with the version)",
        )])));
    }
    Ok(())
}

/// Makes `version` active and starts rescoring every lead with it.
async fn activate(cx: &Cx, version: i64, model: &Value, kind: &str, reason: &str) -> Result<Value> {
    cx.db
        .batch(vec![
            cx.db.stmt(
                "INSERT INTO scoring_activations (version, kind, at, by, reason) VALUES (?, ?, ?, ?, ?)",
                args![version, kind, cx.now_ms, cx.actor(), reason],
            )?,
            // One rescoring at a time: a newer activation restarts it from the first lead.
            cx.db.stmt(
                "INSERT INTO jobs (id, kind, subject, payload, state, attempts, run_after, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) \
                 ON CONFLICT (kind, subject) DO UPDATE SET payload = excluded.payload, state = 'pending', attempts = 0, run_after = excluded.run_after, last_error = NULL, updated_at = excluded.updated_at",
                args![
                    cx.new_id(revops::ids::prefix::JOB),
                    RESCORE_JOB,
                    RESCORE_SUBJECT,
                    json!({ "version": version, "cursor": "", "processed": 0, "started_at": cx.now_ms }).to_string(),
                    cx.now_ms,
                    cx.now_ms,
                    cx.now_ms
                ],
            )?,
        ])
        .await?;
    store::set_active(
        cx,
        &Active {
            version,
            model: model.clone(),
        },
    )
    .await?;
    Ok(json!({ "version": version, "state": "scheduled", "batch_per_tick": RESCORE_BATCH }))
}

/// `POST /v1/admin/scoring/models`: publishes a new version (validated first) and activates it.
pub async fn publish(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: PublishBody = http::json_body(&mut req, 512 * 1024).await?;
    need_reason(&body.reason)?;
    let model = compile(&body.model)?;
    let doc = serde_json::to_value(&model.spec)?;
    #[derive(Deserialize)]
    struct Next {
        next: i64,
    }
    for _ in 0..5 {
        let next: Next = cx
            .db
            .first(
                "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM scoring_models",
                vec![],
            )
            .await?
            .unwrap_or(Next { next: 1 });
        let inserted = cx
            .db
            .run(
                "INSERT INTO scoring_models (version, name, model, published_at, published_by, reason) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                args![next.next, &model.spec.name, doc.to_string(), cx.now_ms, cx.actor(), &body.reason],
            )
            .await?;
        if inserted == 1 {
            let rescoring = activate(cx, next.next, &doc, "publish", &body.reason).await?;
            cx.log(
                revops::logging::Level::Info,
                "scoring.published",
                json!({ "version": next.next, "by": cx.actor() }),
            );
            return http::json(
                201,
                &json!({
                    "version": next.next,
                    "name": model.spec.name,
                    "published_at": rfc3339(cx.now_ms),
                    "published_by": cx.actor(),
                    "reason": body.reason,
                    "active": true,
                    "rescoring": rescoring,
                }),
            );
        }
    }
    Err(Error::internal("publishing stayed contended"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    version: i64,
    reason: String,
}

/// `POST /v1/admin/scoring/rollback`: makes an earlier version active again (recorded as such).
pub async fn rollback(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: RollbackBody = http::json_body(&mut req, 16 * 1024).await?;
    need_reason(&body.reason)?;
    let model: Value = if body.version == 0 {
        serde_json::from_str(revops::scoring::BUILTIN)?
    } else {
        #[derive(Deserialize)]
        struct Row {
            model: String,
        }
        let row: Row = cx
            .db
            .first(
                "SELECT model FROM scoring_models WHERE version = ?",
                args![body.version],
            )
            .await?
            .ok_or_else(|| {
                Error::Problem(Problem::not_found(format!(
                    "model version {}",
                    body.version
                )))
            })?;
        serde_json::from_str(&row.model)?
    };
    let rescoring = activate(cx, body.version, &model, "rollback", &body.reason).await?;
    http::json(
        200,
        &json!({ "active_version": body.version, "reason": body.reason, "rescoring": rescoring }),
    )
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
                outcome: o.and_then(|o| Outcome::parse(&o.outcome)),
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
    let (version, model) = store::active(cx).await?;
    let leads = store::load(cx, &ids, now).await?;
    let mut stmts = Vec::new();
    let mut new_mqls = Vec::new();
    for data in &leads {
        let s = score(
            &model,
            &data.facts(),
            &data.activities,
            now,
            data.current.as_ref().and_then(|c| c.engagement_since),
        );
        let stage = next_stage(&model, data.stage(), s.total);
        if stage == revops::scoring::MQL && data.stage() != revops::scoring::MQL {
            new_mqls.push(data.lead.id.clone());
        }
        let since = data.current.as_ref().and_then(|c| c.engagement_since);
        stmts.extend(store::save_statements(cx, data, version, &s, &stage, "rescore", since)?.0);
    }
    // A lead scored concurrently keeps that newer score: its guarded statements change nothing.
    cx.db.batch(stmts).await?;
    for id in &new_mqls {
        api::route(cx, id).await;
    }
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
