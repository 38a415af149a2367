//! The Routing, SLA and Health pages.

use futures_util::future::{join, join3, join_all};
use revops::console::layout::{self, Section};
use revops::console::operations;
use revops::console::overview::Machinery;
use revops::console::overview::Period;
use revops::intake::stats;
use revops::routes::Service;
use revops::time::rfc3339;
use serde_json::Value;
use worker::Response;

use crate::api::Api;
use crate::pages::viewer;
use crate::sessions::Session;
use platform::{http, Cx, Result};

/// How many queues the Routing page lists leads for (the busiest first, as routing orders them).
const QUEUES_SHOWN: usize = 5;

fn window(cx: &Cx) -> (String, String) {
    let ((from, to), (pfrom, pto)) = Period::Days30.window(cx.now_ms);
    (
        format!("from={}&to={}", rfc3339(from), rfc3339(to)),
        format!("from={}&to={}", rfc3339(pfrom), rfc3339(pto)),
    )
}

pub async fn routing(cx: &Cx, s: &Session) -> Result<Response> {
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let (now, before) = window(cx);
    let (stats_now, stats_before) = (
        format!("/v1/admin/routing/stats?{now}"),
        format!("/v1/admin/routing/stats?{before}"),
    );
    let ((reps, teams, queues), (stats, previous)) = join(
        join3(
            api.must::<Value>(Service::Routing, "/v1/roster/reps"),
            api.must::<Value>(Service::Routing, "/v1/roster/teams"),
            api.may(Service::Routing, "/v1/queues"),
        ),
        join(
            api.must::<Value>(Service::Routing, &stats_now),
            api.must::<Value>(Service::Routing, &stats_before),
        ),
    )
    .await;
    let ids: Vec<String> = queues?
        .as_ref()
        .and_then(|q| q["queues"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|q| q["waiting"].as_i64().unwrap_or(0) > 0)
        .take(QUEUES_SHOWN)
        .filter_map(|q| q["id"].as_str().map(str::to_string))
        .collect();
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/v1/queues/{}", revops::console::leads::encode(id)))
        .collect();
    let members = join_all(paths.iter().map(|p| api.may(Service::Routing, p))).await;
    let members: Vec<Value> = members
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let body = operations::routing(&reps?, &teams?, &members, &stats?, &previous?);
    http::html(
        200,
        layout::page(Section::Routing, "Routing", &viewer(s), &body),
    )
}

pub async fn sla(cx: &Cx, s: &Session) -> Result<Response> {
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let (now, _) = window(cx);
    let (metrics_path, breaches_path, touches_path) = (
        format!("/v1/sla/metrics?{now}"),
        format!("/v1/sla/breaches?{now}&limit=100"),
        format!("/v1/sla/touches?{now}&limit=50"),
    );
    let ((metrics, tasks), (breaches, touches)) = join(
        join(
            api.must::<Value>(Service::Sla, &metrics_path),
            api.must::<Value>(Service::Sla, "/v1/sla/tasks?status=open&limit=200"),
        ),
        join(
            api.must::<Value>(Service::Sla, &breaches_path),
            api.must::<Value>(Service::Sla, &touches_path),
        ),
    )
    .await;
    let body = format!(
        "<p class=\"muted\">The last 30 days.</p>{}{}",
        operations::sla(&metrics?, &tasks?),
        operations::breaches_and_touches(&breaches?, &touches?)
    );
    http::html(200, layout::page(Section::Sla, "SLA", &viewer(s), &body))
}

/// What the platform's own tables say (cron ticks, retry jobs, outgoing webhook messages), read
/// through the platform's repositories — the same functions behind `GET /v1/admin/ticks`,
/// `/v1/admin/jobs` and `/v1/admin/webhooks/deliveries`, under the same scopes: the webhooks
/// only for a key that may read them (`config:write`).
struct Platform {
    ticks: Value,
    failing_jobs: Vec<Value>,
    failing_deliveries: Option<Vec<Value>>,
}

async fn platform_state(cx: &Cx, s: &Session) -> Result<Platform> {
    let may_see_webhooks = s.principal.allows(revops::auth::Scope::ConfigWrite);
    let deliveries = async {
        if may_see_webhooks {
            platform::outbox::list_deliveries(&cx.db, None, None, 200)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    };
    let (ticks, jobs, deliveries) = join3(
        platform::tick::overview(&cx.db, cx.now_ms),
        platform::jobs::list(&cx.db, "", None, 200),
        deliveries,
    )
    .await;
    let jobs: Vec<Value> = jobs?.iter().map(platform::jobs::Job::view).collect();
    Ok(Platform {
        ticks: ticks?,
        failing_jobs: operations::failing_jobs(&jobs),
        failing_deliveries: deliveries?.map(|d| operations::failing_deliveries(&d)),
    })
}

/// What needs a look in the machinery, for the overview's attention list: the platform's state
/// and, through intake's API, the webhook sources failing their signature check in `days`.
pub async fn machinery(api: &Api<'_>, s: &Session, days: i64) -> Result<Machinery> {
    let stats_path = format!("/v1/admin/intake/stats?days={}", days.clamp(1, 90));
    let (state, stats) = join(
        platform_state(api.cx, s),
        api.may(Service::Intake, &stats_path),
    )
    .await;
    let state = state?;
    let signature_failures = stats?
        .as_ref()
        .and_then(|v| v["sources"].as_object().cloned())
        .map(|sources| {
            let by: std::collections::BTreeMap<String, stats::Figures> = sources
                .into_iter()
                .map(|(id, f)| {
                    let refused = f["refused"]
                        .as_object()
                        .map(|r| {
                            r.iter()
                                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                                .collect()
                        })
                        .unwrap_or_default();
                    (
                        id,
                        stats::Figures {
                            refused,
                            ..stats::Figures::default()
                        },
                    )
                })
                .collect();
            stats::signature_failures(&by)
        })
        .unwrap_or_default();
    Ok(Machinery {
        failing_jobs: state.failing_jobs.len(),
        failing_deliveries: state.failing_deliveries.as_ref().map(Vec::len),
        signature_failures,
    })
}

pub async fn health(cx: &Cx, s: &Session) -> Result<Response> {
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let meter = cx.db.meter();
    let ((state, stats), reports) = join(
        join(
            platform_state(cx, s),
            api.may(Service::Intake, "/v1/admin/intake/stats?days=7"),
        ),
        platform::health::gather(&cx.env, Service::Console, &cx.request_id, &meter),
    )
    .await;
    let state = state?;
    let mut body = operations::handlers(&reports);
    body += &operations::health(
        &state.ticks,
        &state.failing_jobs,
        state.failing_deliveries.as_deref().unwrap_or(&[]),
    );
    if state.failing_deliveries.is_none() {
        body.push_str("<p class=\"muted\">Outgoing webhooks are shown to keys with <code>config:write</code>.</p>");
    }
    if let Some(stats) = stats? {
        body.push_str(&operations::arrivals(&stats));
    }
    http::html(
        200,
        layout::page(Section::Health, "Health", &viewer(s), &body),
    )
}
