//! The routing handler: every MQL gets an owner (account owner, decision list, team
//! distribution, fallback), every assignment is explained and announced by a signed webhook,
//! and the roster, accounts and rules are managed through the API.

mod api;
mod configs;
mod queues;
mod roster;
mod store;

use platform::versions::{nothing_more, Op};
use revops::routes::{RoutingRoute, Service};
use serde::Deserialize;
use serde_json::{json, Value};
use store::CONFIGS;
use worker::{event, Context, Env, Request, Response};

use platform::cx::TickFuture;
use platform::{args, outbox, tick, Cx, Result};

static SPEC: platform::Spec = platform::Spec {
    service: Service::Routing,
    kv: &[platform::cache::CONFIG],
    secrets: &[],
    tick,
};

/// MQLs left without an owner (a failed hand-off) that one tick routes.
const SWEEP_BATCH: usize = 20;
use revops::routing::unrouted::SWEEP_AFTER_MS;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, route: RoutingRoute, req: Request) -> Result<Response> {
    match route {
        RoutingRoute::RouteLeadInternal => api::route(cx, req, true).await,
        RoutingRoute::RouteLead => api::route(cx, req, false).await,
        RoutingRoute::GetLeadRouting => api::explain(&cx).await,
        RoutingRoute::AssignLead => api::assign(&cx, req).await,
        RoutingRoute::ListReps => roster::list_reps(&cx).await,
        RoutingRoute::GetRep => roster::get_rep(&cx).await,
        RoutingRoute::PutRep => roster::put_rep(&cx, req).await,
        RoutingRoute::PatchRep => roster::patch_rep(&cx, req).await,
        RoutingRoute::DeactivateRep => roster::deactivate(&cx, req).await,
        RoutingRoute::ListTeams => roster::list_teams(&cx).await,
        RoutingRoute::PutTeam => roster::put_team(&cx, req).await,
        RoutingRoute::UpsertAccounts => roster::upsert_accounts(&cx, req).await,
        RoutingRoute::GetAccount => roster::get_account(&cx).await,
        RoutingRoute::ListRoutingConfigs => CONFIGS.serve(&cx, req, Op::List, nothing_more).await,
        RoutingRoute::PublishRoutingConfig => configs::publish(&cx, req).await,
        RoutingRoute::GetRoutingConfig => CONFIGS.serve(&cx, req, Op::Get, nothing_more).await,
        RoutingRoute::DryRunRoutingConfig => configs::dry_run(&cx, req).await,
        RoutingRoute::RollbackRoutingConfig => {
            CONFIGS.serve(&cx, req, Op::Rollback, nothing_more).await
        }
        RoutingRoute::RoutingStats => configs::stats(&cx, &req).await,
        RoutingRoute::ListQueues => queues::list(&cx).await,
        RoutingRoute::GetQueue => queues::get(&cx, &req).await,
        RoutingRoute::ClaimFromQueue => queues::claim(&cx, req).await,
        RoutingRoute::AssignmentTouched => queues::touched(&cx, req).await,
        RoutingRoute::CloseAssignment => api::close(&cx, req).await,
    }
}

/// The cron tick: outgoing webhooks that are due, deactivated reps' remaining open leads, and
/// MQLs whose hand-off to routing failed.
fn tick(cx: &Cx, now: i64) -> TickFuture<'_> {
    Box::pin(run_tick(cx, now))
}

async fn run_tick(cx: &Cx, now: i64) -> Result<tick::Done> {
    let (delivered, failing) = outbox::deliver_due(&cx.db, now, 50).await?;
    #[derive(Deserialize)]
    struct Pending {
        id: String,
        reroute_pending: i64,
    }
    let pending: Vec<Pending> = cx
        .db
        .all(
            "SELECT id, reroute_pending FROM reps WHERE reroute_pending > 0 LIMIT 3",
            args![],
        )
        .await?;
    let mut rerouted = Vec::new();
    for rep in pending {
        let handover = revops::routing::roster::Handover::from_code(rep.reroute_pending);
        rerouted.push(
            json!({ "rep": rep.id, "result": roster::reroute_rep(cx, &rep.id, handover).await? }),
        );
    }
    let orphans = store::unrouted_mqls(cx, now - SWEEP_AFTER_MS, SWEEP_BATCH).await?;
    let mut swept: Vec<Value> = Vec::new();
    for o in orphans {
        let why = api::Why {
            reason: "mql",
            force: false,
            exclude: None,
            ended_reason: "rerouted",
            only_if_current: None,
            given: None,
        };
        match api::route_lead(cx, &o, why).await {
            Ok((view, _)) => swept.push(json!({ "lead_id": o, "owner": view["owner"] })),
            Err(e) => cx.log(
                revops::logging::Level::Warn,
                "routing.sweep_failed",
                json!({ "lead_id": o, "error": e.to_string() }),
            ),
        }
    }
    Ok(tick::Done {
        items: (delivered + failing + rerouted.len() + swept.len()) as i64,
        report: json!({
            "webhooks": { "delivered": delivered, "failing": failing },
            "rerouted": rerouted,
            "swept": swept,
        }),
    })
}
