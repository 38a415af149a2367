//! The scoring handler: scores leads with the active model (fit, engagement with caps and decay,
//! a combined score and stages with hysteresis), explains every score, records sales' outcomes,
//! and manages the model as a versioned operational parameter (publish, dry-run, rollback,
//! backtest, bounded rescoring). New MQLs go on to routing.

mod api;
mod models;
mod store;

use revops::routes::{RouteId, Service};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use platform::{jobs, tick, Cx, Error, Result};

/// Re-scores a lead after an activity (enqueued by intake; retried by the tick if it failed).
pub const SCORE_JOB: &str = "scoring.score_lead";

static SPEC: platform::Spec = platform::Spec {
    service: Service::Scoring,
    kv: &[platform::cache::CONFIG],
    secrets: &[],
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, req: Request) -> Result<Response> {
    match cx.route.id {
        RouteId::ScoreLead => api::score_lead(&cx, req).await,
        RouteId::GetLeadScore => api::get(&cx).await,
        RouteId::ScorePreview => api::preview(&cx, req).await,
        RouteId::RecordOutcome => api::outcome(&cx, req).await,
        RouteId::ListScoringModels => models::list(&cx).await,
        RouteId::PublishScoringModel => models::publish(&cx, req).await,
        RouteId::GetScoringModel => models::get(&cx).await,
        RouteId::RollbackScoringModel => models::rollback(&cx, req).await,
        RouteId::DryRunScoringModel => models::dry_run(&cx, req).await,
        RouteId::BacktestScoringModel => models::backtest(&cx, req).await,
        RouteId::RescoringStatus => models::status(&cx).await,
        RouteId::HandlerTick => tick(&cx, req).await,
        other => Err(Error::internal(format!(
            "scoring has no handler for {other:?}"
        ))),
    }
}

/// The cron tick: re-score leads whose hand-off failed, and the next batch of a rescoring.
async fn tick(cx: &Cx, req: Request) -> Result<Response> {
    tick::serve(cx, req, |now| async move {
        let (done, failed) = jobs::run_due(cx, SCORE_JOB, now, 50, |job| async move {
            let (_, became_mql) = api::rescore(cx, &job.subject).await?;
            if became_mql {
                api::route(cx, &job.subject, None).await;
            }
            Ok(())
        })
        .await?;
        let rescoring = models::rescore_tick(cx, now).await?;
        let decay = models::decay_tick(cx, now).await?;
        let items = (done + failed) as i64
            + rescoring["rescored"].as_i64().unwrap_or(0)
            + decay["reviewed"].as_i64().unwrap_or(0);
        Ok(tick::Done {
            items,
            report: json!({ "rescored_after_failure": done, "failed": failed, "rescoring": rescoring, "decay": decay }),
        })
    })
    .await
}
