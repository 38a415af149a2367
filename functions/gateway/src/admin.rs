//! The control plane the gateway serves for the handlers: form statistics and the retry queue
//! of every handler. (Forms and webhook sources are `platform::configs` resources.)

use revops::problem::Problem;
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use platform::configs::FORMS;
use platform::{args, http, jobs, Cx, Error, Result};

/// `GET /v1/admin/forms/{form_id}/stats`: accepted and refused posts per day (last 30 days),
/// refusals by reason, with totals.
pub async fn form_stats(cx: &Cx) -> Result<Response> {
    let id = cx.param("form_id");
    if FORMS.load_value(cx, id).await?.is_none() {
        return Err(Error::Problem(Problem::not_found(format!("form {id}"))));
    }
    #[derive(Deserialize)]
    struct Row {
        day: String,
        outcome: String,
        count: i64,
    }
    let since = revops::time::rfc3339(cx.now_ms - 30 * revops::time::DAY)[..10].to_string();
    let rows: Vec<Row> = cx
        .db
        .all(
            "SELECT day, outcome, count FROM form_counters WHERE form_id = ? AND day >= ? ORDER BY day",
            args![id, since],
        )
        .await?;
    let mut days: Vec<serde_json::Value> = Vec::new();
    let mut totals = json!({ "accepted": 0, "refused": {} });
    for r in rows {
        if days.last().is_none_or(|d| d["day"] != r.day.as_str()) {
            days.push(json!({ "day": r.day, "accepted": 0, "refused": {} }));
        }
        let day = days.last_mut().expect("pushed above");
        if r.outcome == "accepted" {
            day["accepted"] = json!(day["accepted"].as_i64().unwrap_or(0) + r.count);
            totals["accepted"] = json!(totals["accepted"].as_i64().unwrap_or(0) + r.count);
        } else {
            day["refused"][&r.outcome] = json!(r.count);
            let t = totals["refused"][&r.outcome].as_i64().unwrap_or(0);
            totals["refused"][&r.outcome] = json!(t + r.count);
        }
    }
    http::json(
        200,
        &json!({ "form_id": id, "days": days, "totals": totals }),
    )
}

/// The job-kind prefix of a handler named in a query (`handler=intake` → `intake.`).
fn kind_prefix(req: &Request) -> Result<String> {
    let names = revops::routes::Service::HANDLERS.map(|s| s.name());
    Ok(http::query_enum(req, "handler", &names)?
        .map(|h| format!("{h}."))
        .unwrap_or_default())
}

/// `GET /v1/admin/jobs[?handler=…][&status=pending|dead]`: what is waiting to be retried, and
/// what gave up, for every handler. (`state` is the earlier name of `status`.)
pub async fn list_jobs(cx: &Cx, req: &Request) -> Result<Response> {
    let status = http::query_enum(req, "status", &["pending", "dead"])?;
    let state = http::query_enum(req, "state", &["pending", "dead"])?;
    let state = status.or(state);
    let list = jobs::list(&cx.db, &kind_prefix(req)?, state.as_deref(), 200).await?;
    let views: Vec<_> = list.iter().map(jobs::Job::view).collect();
    http::json(200, &json!({ "jobs": views }))
}

/// `GET /v1/admin/ticks`: each handler's last cron tick — when it ran, how long it took, what it
/// did, whether it failed — and whether its schedule is healthy.
pub async fn list_ticks(cx: &Cx) -> Result<Response> {
    http::json(200, &platform::tick::overview(&cx.db, cx.now_ms).await?)
}

pub async fn retry_job(cx: &Cx) -> Result<Response> {
    let id = cx.param("job_id");
    let job = jobs::retry_now(&cx.db, id, "", cx.now_ms)
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("job {id}"))))?;
    http::json(200, &job.view())
}
