//! The routing handler: every MQL gets an owner (account owner, decision list, team
//! distribution, fallback), every assignment is explained and announced by a signed webhook,
//! and the roster, accounts and rules are managed through the API.

mod api;
mod configs;
mod queues;
mod roster;
mod store;

use revops::routes::{RouteId, Service};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{event, Context, Env, Request, Response};

use platform::{args, outbox, tick, Cx, Error, Result};

static SPEC: platform::Spec = platform::Spec {
    service: Service::Routing,
    kv: &[platform::cache::CONFIG],
    secrets: &[],
};

/// MQLs left without an owner (a failed hand-off) that one tick routes.
const SWEEP_BATCH: usize = 20;
use revops::routing::unrouted::SWEEP_AFTER_MS;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, req: Request) -> Result<Response> {
    match cx.route.id {
        RouteId::RouteLeadInternal => api::route(cx, req, true).await,
        RouteId::RouteLead => api::route(cx, req, false).await,
        RouteId::GetLeadRouting => api::explain(&cx).await,
        RouteId::AssignLead => api::assign(&cx, req).await,
        RouteId::ListReps => roster::list_reps(&cx).await,
        RouteId::GetRep => roster::get_rep(&cx).await,
        RouteId::PutRep => roster::put_rep(&cx, req).await,
        RouteId::PatchRep => roster::patch_rep(&cx, req).await,
        RouteId::DeactivateRep => roster::deactivate(&cx, req).await,
        RouteId::ListTeams => roster::list_teams(&cx).await,
        RouteId::PutTeam => roster::put_team(&cx, req).await,
        RouteId::UpsertAccounts => roster::upsert_accounts(&cx, req).await,
        RouteId::GetAccount => roster::get_account(&cx).await,
        RouteId::ListRoutingConfigs => configs::list(&cx).await,
        RouteId::PublishRoutingConfig => configs::publish(&cx, req).await,
        RouteId::GetRoutingConfig => configs::get(&cx).await,
        RouteId::DryRunRoutingConfig => configs::dry_run(&cx, req).await,
        RouteId::RollbackRoutingConfig => configs::rollback(&cx, req).await,
        RouteId::RoutingStats => configs::stats(&cx, &req).await,
        RouteId::ListQueues => queues::list(&cx).await,
        RouteId::GetQueue => queues::get(&cx, &req).await,
        RouteId::ClaimFromQueue => queues::claim(&cx, req).await,
        RouteId::AssignmentTouched => queues::touched(&cx, req).await,
        RouteId::HandlerTick => tick(&cx, req).await,
        other => Err(Error::internal(format!(
            "routing has no handler for {other:?}"
        ))),
    }
}

/// The cron tick: outgoing webhooks that are due, deactivated reps' remaining open leads, and
/// MQLs whose hand-off to routing failed.
async fn tick(cx: &Cx, req: Request) -> Result<Response> {
    tick::serve(cx, req, |now| run_tick(cx, now)).await
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
    #[derive(Deserialize)]
    struct Lead {
        lead_id: String,
    }
    let orphans: Vec<Lead> = cx
        .db
        .all(
            "SELECT s.lead_id AS lead_id FROM lead_scores s WHERE s.stage = 'mql' AND s.scored_at < ? \
             AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.lead_id = s.lead_id AND a.current = 1 AND a.status = 'open') LIMIT ?",
            args![now - SWEEP_AFTER_MS, SWEEP_BATCH],
        )
        .await?;
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
        match api::route_lead(cx, &o.lead_id, why).await {
            Ok((view, _)) => swept.push(json!({ "lead_id": o.lead_id, "owner": view["owner"] })),
            Err(e) => cx.log(
                revops::logging::Level::Warn,
                "routing.sweep_failed",
                json!({ "lead_id": o.lead_id, "error": e.to_string() }),
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
