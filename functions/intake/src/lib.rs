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

use platform::{jobs, tick, Cx, Error, Result};

const SERVICE: Service = Service::Intake;
static SPEC: platform::Spec = platform::Spec {
    service: SERVICE,
    kv: &[platform::cache::CONFIG],
    secrets: &["SUBJECT_HASH_KEY"],
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, req: Request) -> Result<Response> {
    match cx.route.id {
        RouteId::SubmitForm => forms::submit(&cx, req).await,
        RouteId::FormPreflight => forms::preflight(&cx, req).await,
        RouteId::ReceiveWebhook => hooks::receive(&cx, req).await,
        RouteId::CreateLead => api::create_lead(&cx, req).await,
        RouteId::GetLead => api::get_lead(&cx).await,
        RouteId::CreateActivity => api::create_activity(&cx, req).await,
        RouteId::NormaliseLead => api::normalise_only(&cx, req).await,
        RouteId::HandlerTick => tick(&cx, req).await,
        other => Err(Error::internal(format!(
            "intake has no handler for {other:?}"
        ))),
    }
}

/// The cron tick: retry the submissions whose pipeline is due for another attempt.
async fn tick(cx: &Cx, req: Request) -> Result<Response> {
    tick::serve(cx, req, |now| async move {
        let (done, failed) = jobs::run_due(cx, store::PROCESS_JOB, now, 50, |job| async move {
            let extras: store::Extras = serde_json::from_str(&job.payload).unwrap_or_default();
            pipeline::retry(cx, &job.subject, &extras, job.attempts).await
        })
        .await?;
        Ok(tick::Done {
            items: (done + failed) as i64,
            report: json!({ "retried": done, "failed": failed }),
        })
    })
    .await
}
