//! The SLA handler: a first-touch clock for every assignment to a rep, counted in business
//! hours; touches that stop it; the escalation ladder run by the cron trigger (warn, escalate
//! with a task and a signed webhook, reassign through routing), each step exactly once; and the
//! figures marketing and sales review together.

mod api;
mod ladder;
mod metrics;
mod store;
mod tasks;

use platform::versions::{nothing_more, Op};
use revops::routes::{Service, SlaRoute};
use serde_json::json;
use store::POLICIES;
use worker::{event, Context, Env, Request, Response};

use platform::cx::TickFuture;
use platform::{jobs, outbox, tick, Cx, Result};

static SPEC: platform::Spec = platform::Spec {
    service: Service::Sla,
    kv: &[platform::cache::CONFIG],
    secrets: &[],
    tick,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, route: SlaRoute, req: Request) -> Result<Response> {
    match route {
        SlaRoute::RecordTouch => api::touch(&cx, req).await,
        SlaRoute::GetLeadSla => api::lead(&cx).await,
        SlaRoute::ListSlaTasks => tasks::list(&cx, &req).await,
        SlaRoute::CompleteSlaTask => tasks::done(&cx).await,
        SlaRoute::SlaMetrics => metrics::metrics(&cx, &req).await,
        SlaRoute::SlaBreaches => metrics::breaches(&cx, &req).await,
        SlaRoute::SlaTouches => metrics::touches(&cx, &req).await,
        SlaRoute::ListSlaPolicies => POLICIES.serve(&cx, req, Op::List, nothing_more).await,
        SlaRoute::PublishSlaPolicy => POLICIES.serve(&cx, req, Op::Publish, nothing_more).await,
        SlaRoute::GetSlaPolicy => POLICIES.serve(&cx, req, Op::Get, nothing_more).await,
        SlaRoute::RollbackSlaPolicy => POLICIES.serve(&cx, req, Op::Rollback, nothing_more).await,
        SlaRoute::CreateTaskInternal => tasks::create_internal(&cx, req).await,
    }
}

/// The cron tick: start clocks for new assignments, take the ladder steps that are due, retry
/// reassignments whose call to routing failed, and send the webhooks the steps queued.
fn tick(cx: &Cx, now: i64) -> TickFuture<'_> {
    Box::pin(run_tick(cx, now))
}

async fn run_tick(cx: &Cx, now: i64) -> Result<tick::Done> {
    let started = ladder::start_new(cx, now).await?;
    // A clock late by several steps (the cron was down) takes them in order, one pass each.
    let mut pass = ladder::run_due(cx, now).await?;
    for _ in 0..3 {
        let more = ladder::run_due(cx, now).await?;
        if more.steps.is_empty() {
            break;
        }
        pass.steps.extend(more.steps);
        pass.ended += more.ended;
        pass.reassigned += more.reassigned;
    }
    let (retried, still_failing) = jobs::run_due(cx, ladder::REASSIGN_JOB, now, 10, |job| {
        ladder::retry_reassign(cx, job, now)
    })
    .await?;
    let (touched, touch_failing) = jobs::run_due(cx, ladder::TOUCHED_JOB, now, 50, |job| {
        ladder::retry_touched(cx, job)
    })
    .await?;
    let (delivered, failing) = outbox::deliver_due(&cx.db, now, 50).await?;
    Ok(tick::Done {
        items: (started
            + pass.steps.len()
            + pass.ended
            + retried
            + still_failing
            + touched
            + touch_failing
            + delivered
            + failing) as i64,
        report: json!({
            "clocks_started": started,
            "steps": pass.steps,
            "clocks_ended": pass.ended,
            "reassigned": pass.reassigned,
            "reassign_retries": { "done": retried, "failing": still_failing },
            "first_touches_sent": { "done": touched, "failing": touch_failing },
            "webhooks": { "delivered": delivered, "failing": failing },
        }),
    })
}
