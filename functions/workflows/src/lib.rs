//! The workflows handler: automation workflows ("if this happens, then do that") and lists.
//! Each handler announces what happens to a lead as an event in the batch that makes the
//! change; the cron tick enrols leads in the workflows those events trigger and runs the steps
//! that are due, each exactly once, every decision recorded with its reason.

mod api;
mod engine;
mod facts;
mod list_store;
mod lists;
mod store;

use revops::routes::{Service, WorkflowsRoute};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use platform::cx::TickFuture;
use platform::{tick, Cx, Result};

static SPEC: platform::Spec = platform::Spec {
    service: Service::Workflows,
    kv: &[platform::cache::CONFIG],
    secrets: &[],
    tick,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, route: WorkflowsRoute, req: Request) -> Result<Response> {
    match route {
        WorkflowsRoute::ListWorkflows => api::list(&cx).await,
        WorkflowsRoute::PublishWorkflow => api::publish(&cx, req).await,
        WorkflowsRoute::DryRunWorkflow => api::dry_run(&cx, req).await,
        WorkflowsRoute::GetWorkflow => api::get(&cx).await,
        WorkflowsRoute::GetWorkflowVersion => api::version(&cx).await,
        WorkflowsRoute::RollbackWorkflow => api::rollback(&cx, req).await,
        WorkflowsRoute::PauseWorkflow => api::pause(&cx, req).await,
        WorkflowsRoute::ResumeWorkflow => api::resume(&cx, req).await,
        WorkflowsRoute::LeadWorkflows => api::lead(&cx).await,
        WorkflowsRoute::CreateList => lists::create(&cx, req).await,
        WorkflowsRoute::ListLists => lists::all(&cx).await,
        WorkflowsRoute::GetList => lists::get(&cx).await,
        WorkflowsRoute::ListMembers => lists::members(&cx, &req).await,
        WorkflowsRoute::AddListMembers => lists::add(&cx, req).await,
        WorkflowsRoute::RemoveListMembers => lists::remove(&cx, req).await,
        WorkflowsRoute::ExportList => lists::export(&cx, &req).await,
    }
}

/// The cron tick: events to enrolments, due steps to effects, new dynamic lists filled.
fn tick(cx: &Cx, now: i64) -> TickFuture<'_> {
    Box::pin(run_tick(cx, now))
}

async fn run_tick(cx: &Cx, now: i64) -> Result<tick::Done> {
    let r = engine::tick(cx, now).await?;
    Ok(tick::Done {
        items: (r.events + r.steps + r.list_changes) as i64,
        report: json!({
            "events": r.events,
            "enrolled": r.enrolled,
            "not_enrolled": r.refused,
            "steps": r.steps,
            "ended": r.ended,
            "list_changes": r.list_changes,
            "write_batches": r.d1_batches,
        }),
    })
}
