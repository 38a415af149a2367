//! The consent handler: one source of truth for who may be contacted about what, with proof —
//! the ledger and its fast KV-backed check, one-click unsubscribe and double opt-in pages, email
//! providers' feedback, and data-subject erasure and export.

mod api;
mod pages;
mod providers;
mod store;
mod subjects;

use revops::routes::{RouteId, Service};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use platform::{jobs, tick, Cx, Error, Result};

static SPEC: platform::Spec = platform::Spec {
    service: Service::Consent,
    kv: &[platform::cache::CONFIG, store::KV],
    secrets: &["SUBJECT_HASH_KEY", "UNSUBSCRIBE_TOKEN_KEY"],
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, req: Request) -> Result<Response> {
    match cx.route.id {
        RouteId::GetConsent => api::get(&cx, &req).await,
        RouteId::CheckConsent => api::check(&cx, req).await,
        RouteId::RecordConsent => api::record(&cx, req).await,
        RouteId::ConsentHistory => api::history(&cx).await,
        RouteId::IssueUnsubscribeToken => api::issue_token(&cx, req).await,
        RouteId::UnsubscribePage => pages::preferences(&cx).await,
        RouteId::Unsubscribe => pages::unsubscribe(&cx, req).await,
        RouteId::ConfirmPage => pages::confirm_page(&cx).await,
        RouteId::Confirm => pages::confirm(&cx, req).await,
        RouteId::EmailProviderWebhook => providers::receive(&cx, req).await,
        RouteId::GetConsentTopics => api::get_topics(&cx).await,
        RouteId::PutConsentTopics => api::put_topics(&cx, req).await,
        RouteId::GetEmailProviders => api::get_providers(&cx).await,
        RouteId::PutEmailProviders => api::put_providers(&cx, req).await,
        RouteId::EraseSubject => subjects::erase(&cx).await,
        RouteId::ExportSubject => subjects::export(&cx).await,
        RouteId::ConsentForIntake => api::for_intake(&cx, req).await,
        RouteId::HandlerTick => tick(&cx, req).await,
        other => Err(Error::internal(format!(
            "consent has no handler for {other:?}"
        ))),
    }
}

/// The cron tick: rewrite KV snapshots whose write-through failed.
async fn tick(cx: &Cx, req: Request) -> Result<Response> {
    tick::serve(cx, req, |now| async move {
        let (done, failed) = jobs::run_due(cx, store::SYNC_JOB, now, 100, |job| async move {
            store::resync(cx, &job.subject).await
        })
        .await?;
        Ok(tick::Done {
            items: (done + failed) as i64,
            report: json!({ "kv_resynced": done, "failed": failed }),
        })
    })
    .await
}
