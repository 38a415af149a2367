//! The intake handler: web forms, the JSON API for marketing tools and signed vendor webhooks.
//! Every submission is committed to D1 before any 2xx, normalised, merged into one lead per
//! email and handed on; a step that fails is retried by the cron tick until it succeeds.

mod api;
mod changes;
mod counters;
mod forms;
mod hooks;
mod pipeline;
mod store;

use revops::routes::{IntakeRoute, Service};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use platform::cx::TickFuture;
use platform::{jobs, tick, Cx, Result};

const SERVICE: Service = Service::Intake;
static SPEC: platform::Spec = platform::Spec {
    service: SERVICE,
    kv: &[platform::cache::CONFIG],
    secrets: &["SUBJECT_HASH_KEY"],
    tick,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, route: IntakeRoute, req: Request) -> Result<Response> {
    match route {
        IntakeRoute::SubmitForm => forms::submit(&cx, req).await,
        IntakeRoute::FormPreflight => forms::preflight(&cx, req).await,
        IntakeRoute::ReceiveWebhook => hooks::receive(&cx, req).await,
        IntakeRoute::CreateLead => api::create_lead(&cx, req).await,
        IntakeRoute::GetLead => api::get_lead(&cx).await,
        IntakeRoute::ListLeads => api::list_leads(&cx, &req).await,
        IntakeRoute::IntakeStats => counters::stats(&cx, &req).await,
        IntakeRoute::GetSubmission => api::get_submission(&cx).await,
        IntakeRoute::CreateActivity => api::create_activity(&cx, req).await,
        IntakeRoute::NormaliseLead => api::normalise_only(&cx, req).await,
        IntakeRoute::ChangeLead => changes::apply(&cx, req).await,
    }
}

/// The cron tick: retry the submissions whose pipeline is due for another attempt.
fn tick(cx: &Cx, now: i64) -> TickFuture<'_> {
    Box::pin(async move {
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
}
