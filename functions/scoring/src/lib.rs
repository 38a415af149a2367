//! The scoring handler: scores leads with the active model (fit, engagement with caps and decay,
//! a combined score and stages with hysteresis), explains every score, records sales' outcomes,
//! and manages the model as a versioned operational parameter (publish, dry-run, rollback,
//! backtest, bounded rescoring). New MQLs go on to routing.

mod api;
mod models;
mod reports;
mod store;

use models::rescoring;
use platform::versions::Op;
use revops::routes::{ScoringRoute, Service};
use serde_json::json;
use store::MODELS;
use worker::{event, Context, Env, Request, Response};

use platform::cx::TickFuture;
use platform::{jobs, tick, Cx, Result};

/// Re-scores a lead after an activity (enqueued by intake; retried by the tick if it failed).
pub const SCORE_JOB: &str = "scoring.score_lead";

static SPEC: platform::Spec = platform::Spec {
    service: Service::Scoring,
    kv: &[platform::cache::CONFIG],
    secrets: &[],
    tick,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    platform::serve(req, env, ctx, &SPEC, route).await
}

async fn route(cx: Cx, route: ScoringRoute, req: Request) -> Result<Response> {
    match route {
        ScoringRoute::ScoreLead => api::score_lead(&cx, req).await,
        ScoringRoute::GetLeadScore => api::get(&cx).await,
        ScoringRoute::ScorePreview => api::preview(&cx, req).await,
        ScoringRoute::RecordOutcome => api::outcome(&cx, req).await,
        ScoringRoute::ListScoringModels => MODELS.serve(&cx, req, Op::List, rescoring).await,
        ScoringRoute::PublishScoringModel => MODELS.serve(&cx, req, Op::Publish, rescoring).await,
        ScoringRoute::GetScoringModel => MODELS.serve(&cx, req, Op::Get, rescoring).await,
        ScoringRoute::RollbackScoringModel => MODELS.serve(&cx, req, Op::Rollback, rescoring).await,
        ScoringRoute::DryRunScoringModel => models::dry_run(&cx, req).await,
        ScoringRoute::BacktestScoringModel => models::backtest(&cx, req).await,
        ScoringRoute::RescoringStatus => models::status(&cx).await,
        ScoringRoute::FunnelReport => reports::funnel(&cx, &req).await,
    }
}

/// The cron tick: re-score leads whose hand-off failed, and the next batch of a rescoring.
fn tick(cx: &Cx, now: i64) -> TickFuture<'_> {
    Box::pin(async move {
        let (done, failed) = jobs::run_due(cx, SCORE_JOB, now, 50, |job| async move {
            let (_, became_mql) = api::rescore(cx, &job.subject).await?;
            if became_mql {
                api::route(cx, &job.subject, None).await;
            }
            Ok(())
        })
        .await?;
        let (closed, close_failing) =
            jobs::run_due(cx, api::CLOSE_JOB, now, 50, |job| async move {
                api::retry_close(cx, &job).await
            })
            .await?;
        let rescoring = models::rescore_tick(cx, now).await?;
        let decay = models::decay_tick(cx, now).await?;
        let items = (done + failed + closed + close_failing) as i64
            + rescoring["rescored"].as_i64().unwrap_or(0)
            + decay["reviewed"].as_i64().unwrap_or(0);
        Ok(tick::Done {
            items,
            report: json!({ "rescored_after_failure": done, "failed": failed, "assignments_closed": { "done": closed, "failing": close_failing }, "rescoring": rescoring, "decay": decay }),
        })
    })
}
