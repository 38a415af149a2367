//! The intake handler: web forms, the JSON API for marketing tools and signed vendor webhooks.
//! Every submission is committed to D1 before any 2xx, normalised, merged into one lead per
//! email and handed on; a step that fails is retried by the cron tick until it succeeds.

mod api;
mod forms;
mod hooks;
mod pipeline;
mod store;

use revops::routes::{RouteId, Service};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use platform::tick::Tick;
use platform::{http, jobs, Cx, Error, Result};

const SERVICE: Service = Service::Intake;
static SPEC: platform::Spec = platform::Spec {
    service: SERVICE,
    kv: &[platform::cache::CONFIG],
    secrets: &["SUBJECT_HASH_KEY"],
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, &SPEC, route).await
}

async fn route(cx: Cx, req: Request) -> Result<Response> {
    match cx.route.id {
        RouteId::SubmitForm => forms::submit(&cx, req).await,
        RouteId::FormPreflight => forms::preflight(&cx, req).await,
        RouteId::ReceiveWebhook => hooks::receive(&cx, req).await,
        RouteId::CreateLead => api::create_lead(&cx, req).await,
        RouteId::GetLead => api::get_lead(&cx).await,
        RouteId::CreateActivity => api::create_activity(&cx, req).await,
        RouteId::CreateForm => forms::create(&cx, req).await,
        RouteId::ListForms => forms::list(&cx).await,
        RouteId::GetForm => forms::get(&cx).await,
        RouteId::UpdateForm => forms::update(&cx, req).await,
        RouteId::FormStats => forms::stats(&cx).await,
        RouteId::CreateSource => hooks::create(&cx, req).await,
        RouteId::ListSources => hooks::list(&cx).await,
        RouteId::GetSource => hooks::get(&cx).await,
        RouteId::UpdateSource => hooks::update(&cx, req).await,
        RouteId::ListIntakeJobs => list_jobs(&cx, &req).await,
        RouteId::RetryIntakeJob => retry_job(&cx).await,
        RouteId::HandlerTick => tick(&cx, req).await,
        other => Err(Error::internal(format!(
            "intake has no handler for {other:?}"
        ))),
    }
}

/// `GET /v1/intake/jobs?state=pending|dead`: what is waiting to be retried, and what gave up.
async fn list_jobs(cx: &Cx, req: &Request) -> Result<Response> {
    let state = http::query_param(req, "state");
    if let Some(s) = &state {
        if s != "pending" && s != "dead" {
            return Err(platform::problem(
                revops::problem::ProblemKind::BadRequest,
                "state is pending or dead",
            ));
        }
    }
    let list = jobs::list(&cx.db, "intake.", state.as_deref(), 200).await?;
    let views: Vec<_> = list.iter().map(jobs::Job::view).collect();
    http::json(200, &json!({ "jobs": views }))
}

/// `POST /v1/intake/jobs/{id}/retry`: run a pending or dead job at the next tick.
async fn retry_job(cx: &Cx) -> Result<Response> {
    let id = cx.param("job_id");
    let job = jobs::retry_now(&cx.db, id, "intake.", cx.now_ms)
        .await?
        .ok_or_else(|| Error::Problem(revops::problem::Problem::not_found(format!("job {id}"))))?;
    http::json(200, &job.view())
}

/// The cron tick: retry due submissions, prune expired replay receipts, rate windows and keys.
async fn tick(cx: &Cx, mut req: Request) -> Result<Response> {
    let tick: Tick = http::json_body(&mut req, 4096).await?;
    let now = tick.scheduled_ms.max(cx.now_ms);
    let (done, failed) = jobs::run_due(cx, store::PROCESS_JOB, now, 50, |job| async move {
        let extras: store::Extras = serde_json::from_str(&job.payload).unwrap_or_default();
        pipeline::retry(cx, &job.subject, &extras).await
    })
    .await?;
    let receipts = hooks::prune_receipts(cx, now).await?;
    let windows = cx
        .db
        .run(
            "DELETE FROM rate_windows WHERE window_start < ?",
            platform::args![now - revops::time::DAY],
        )
        .await?;
    let keys = cx
        .db
        .run(
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            platform::args![now - revops::idempotency::RETENTION_MS],
        )
        .await?;
    http::json(
        200,
        &json!({ "retried": done, "failed": failed, "pruned": { "receipts": receipts, "rate_windows": windows, "idempotency_keys": keys } }),
    )
}
