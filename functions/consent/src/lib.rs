//! The consent handler: one source of truth for who may be contacted about what, with proof —
//! the ledger and its fast KV-backed check, one-click unsubscribe and double opt-in pages, email
//! providers' feedback, and data-subject erasure and export.

mod api;
mod pages;
mod providers;
mod store;
mod subjects;

use revops::routes::{ConsentRoute, Service};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use platform::cx::TickFuture;
use platform::{jobs, tick, Cx, Result};

static SPEC: platform::Spec = platform::Spec {
    service: Service::Consent,
    kv: &[platform::cache::CONFIG, store::KV],
    secrets: &["SUBJECT_HASH_KEY", "UNSUBSCRIBE_TOKEN_KEY"],
    tick,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, route: ConsentRoute, req: Request) -> Result<Response> {
    match route {
        ConsentRoute::GetConsent => api::get(&cx, &req).await,
        ConsentRoute::CheckConsent => api::check(&cx, req).await,
        ConsentRoute::RecordConsent => api::record(&cx, req).await,
        ConsentRoute::ConsentHistory => api::history(&cx).await,
        ConsentRoute::IssueUnsubscribeToken => api::issue_token(&cx, req).await,
        ConsentRoute::UnsubscribePage => pages::preferences(&cx).await,
        ConsentRoute::Unsubscribe => pages::unsubscribe(&cx, req).await,
        ConsentRoute::ConfirmPage => pages::confirm_page(&cx).await,
        ConsentRoute::Confirm => pages::confirm(&cx, req).await,
        ConsentRoute::EmailProviderWebhook => providers::receive(&cx, req).await,
        ConsentRoute::GetConsentTopics => api::get_topics(&cx).await,
        ConsentRoute::PutConsentTopics => api::put_topics(&cx, req).await,
        ConsentRoute::GetEmailProviders => api::get_providers(&cx).await,
        ConsentRoute::PutEmailProviders => api::put_providers(&cx, req).await,
        ConsentRoute::EraseSubject => subjects::erase(&cx).await,
        ConsentRoute::ExportSubject => subjects::export(&cx).await,
        ConsentRoute::ConsentForIntake => api::for_intake(&cx, req).await,
        ConsentRoute::UnsubscribeLinkInternal => api::link_for_handler(&cx, req).await,
    }
}

/// The cron tick: rewrite KV snapshots whose write-through failed.
fn tick(cx: &Cx, now: i64) -> TickFuture<'_> {
    Box::pin(async move {
        let (done, failed) = jobs::run_due(cx, store::SYNC_JOB, now, 100, |job| async move {
            store::resync(cx, &job.subject).await
        })
        .await?;
        Ok(tick::Done {
            items: (done + failed) as i64,
            report: json!({ "kv_resynced": done, "failed": failed }),
        })
    })
}
