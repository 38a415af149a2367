//! The gateway: revops-edge's one public hostname.
//!
//! It matches each request against the shared route table, authenticates API keys (only their
//! SHA-256 digests are stored in D1), checks the route's scope, and forwards the request through
//! a service binding to the handler that owns the route, propagating the caller's principal and
//! the request id. It serves `/health` (gathered from all five handlers), `/openapi.json`, the
//! problem-type pages and the API-key administration itself.

mod admin;
mod keys;

use revops::auth::{self, Principal};
use revops::html;
use revops::problem::ProblemKind;
use revops::routes::{self, Access, GatewayRoute, Method, RouteMatch, Service, ServiceRoutes};
use serde_json::json;
use worker::{
    event, Context as WorkerContext, Env, Headers, Request, RequestInit, Response, ScheduleContext,
    ScheduledEvent,
};

use std::rc::Rc;

use platform::cx::{self, finish, log};
use platform::db::{Cost, Meter, ROUND_TRIPS_HEADER, STATEMENTS_HEADER};
use platform::http::{self, header, PRINCIPAL, REQUEST_ID};
use platform::resources::Resource;
use platform::{problem, Context, Cx, Db, Result};
use revops::intake::{form::FormConfig, source::SourceConfig};

const SERVICE: Service = Service::Gateway;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: WorkerContext) -> worker::Result<Response> {
    let started = cx::now_ms();
    // Clients do not choose our request ids: the gateway always mints a new one.
    let request_id = revops::ids::new_id(revops::ids::prefix::REQUEST, cx::random_bytes());
    let path = req.path();
    // The method as sent: `worker::Method` reads names it does not know (QUERY) as GET.
    let method = req.inner().method();
    let meter = Rc::new(Meter::default());
    let (route_label, principal_id, result) = handle(req, env, &request_id, &meter).await;
    let response = finish(result, SERVICE, &request_id, &path)?;
    // The totals for the whole chain: the gateway's own statements (API keys) and those of the
    // handler it forwarded to, with everything that handler called.
    cx::log_request(
        SERVICE,
        &request_id,
        &cx::RequestLine {
            method,
            route: route_label,
            status: response.status_code(),
            started,
            principal: principal_id,
            meter: Some(&meter),
        },
    );
    Ok(response)
}

/// Forms and webhook sources, administered here (the control plane) and read by intake.
static FORM_ADMIN: Resource = Resource {
    store: &platform::configs::FORMS,
    param: "form_id",
    plural: "forms",
    validate: FormConfig::validate_json,
    view: FormConfig::view_json,
};
static SOURCE_ADMIN: Resource = Resource {
    store: &platform::configs::SOURCES,
    param: "source_id",
    plural: "sources",
    validate: SourceConfig::validate_json,
    view: SourceConfig::view_json,
};

// Every handler has periodic work. The system has one cron trigger, on this worker: it calls
// each handler (`Service::HANDLERS`) at `/internal/tick`, concurrently, each in its own
// invocation and CPU budget. (One schedule to reason about; and the local runtime can fire the
// primary worker's trigger.)

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let request_id = revops::ids::new_id(revops::ids::prefix::REQUEST, cx::random_bytes());
    let tick = platform::tick::Tick {
        cron: event.cron(),
        scheduled_ms: event.schedule() as i64,
    };
    let body = serde_json::to_value(&tick).unwrap_or_default();
    let pruned = match Db::from_env(&env) {
        Ok(db) => platform::maintenance::prune(&db, tick.scheduled_ms).await,
        Err(e) => Err(e),
    };
    match pruned {
        Ok(counts) => log(
            revops::logging::Level::Info,
            SERVICE,
            &request_id,
            "cron.pruned",
            counts,
        ),
        Err(e) => log(
            revops::logging::Level::Error,
            SERVICE,
            &request_id,
            "cron.prune_failed",
            json!({ "error": e.to_string() }),
        ),
    }
    let called_at = cx::now_ms();
    let calls = Service::HANDLERS.iter().map(|service| {
        let (env, body, request_id) = (&env, &body, &request_id);
        async move {
            let outcome = platform::services::call(
                env,
                SERVICE,
                request_id,
                *service,
                Method::Post,
                "/internal/tick",
                Some(body),
            )
            .await;
            (*service, outcome)
        }
    });
    for (service, outcome) in futures_util::future::join_all(calls).await {
        let name = service.name();
        let (level, fields, failure) = match outcome {
            Ok(reply) if reply.ok() => (
                revops::logging::Level::Info,
                json!({ "handler": name, "result": reply.body }),
                None,
            ),
            Ok(reply) => {
                let failure = format!("answered {}: {}", reply.status, reply.body);
                (
                    revops::logging::Level::Error,
                    json!({ "handler": name, "status": reply.status, "result": reply.body }),
                    Some(failure),
                )
            }
            Err(e) => (
                revops::logging::Level::Error,
                json!({ "handler": name, "error": e.to_string() }),
                Some(e.to_string()),
            ),
        };
        log(level, SERVICE, &request_id, "cron.tick", fields);
        // A handler that crashed recorded nothing: record the failure for it, so /health and
        // /v1/admin/ticks show it.
        if let (Some(failure), Ok(db)) = (failure, Db::from_env(&env)) {
            if let Err(e) =
                platform::tick::record_unanswered(&db, service, called_at, &failure).await
            {
                log(
                    revops::logging::Level::Error,
                    SERVICE,
                    &request_id,
                    "cron.record_failed",
                    json!({ "handler": name, "error": e.to_string() }),
                );
            }
        }
    }
}

async fn handle(
    req: Request,
    env: Env,
    request_id: &str,
    meter: &Rc<Meter>,
) -> (&'static str, Option<String>, Result<Response>) {
    let path = req.path();
    let method = req.inner().method();
    // The handlers' service-to-service routes do not exist here, for any method: a 405 with
    // `Allow` would tell a caller they do.
    let internal = path == "/internal" || path.starts_with("/internal/");
    let (route, params) = match routes::match_route(&method, &path) {
        RouteMatch::Found { route, params } if route.access != Access::Internal && !internal => {
            (route, params)
        }
        RouteMatch::MethodNotAllowed { allowed } if !internal => {
            return (
                "unmatched",
                None,
                method_not_allowed(&method, &allowed, &path, request_id),
            );
        }
        _ => {
            return (
                "unmatched",
                None,
                Err(problem(
                    ProblemKind::NotFound,
                    format!("no endpoint at {path}; see /openapi.json"),
                )),
            )
        }
    };
    let principal = match route.access {
        // A console page's session is the console's to check (it answers a browser with a
        // redirect to its sign-in page, not with a 401).
        Access::Public | Access::Internal | Access::Session(_) => None,
        Access::Scope(_) => match authenticate(&req, &env, meter).await {
            Ok(p) => Some(p),
            Err(e) => return (route.pattern, None, Err(e)),
        },
    };
    let principal_id = principal.as_ref().map(|p| p.id.clone());
    if !matches!(route.access, Access::Session(_)) {
        if let Err(e) = cx::authorize(route.access, principal.as_ref()) {
            return (route.pattern, principal_id, Err(e));
        }
    }
    let result = if route.service == SERVICE {
        match Cx::new(
            env,
            SERVICE,
            request_id.to_string(),
            principal,
            route,
            params,
        ) {
            Ok(mut cx) => match Db::with_meter(&cx.env, meter.clone()) {
                Ok(db) => {
                    cx.db = db;
                    match GatewayRoute::of(route.id) {
                        Some(own) => serve_own(cx, own, req).await,
                        // The handlers' own internal routes are never the gateway's to serve.
                        None => Err(platform::problem(
                            revops::problem::ProblemKind::NotFound,
                            format!("{} is not served here", route.pattern),
                        )),
                    }
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    } else {
        forward(
            req,
            &env,
            route.service,
            request_id,
            principal.as_ref(),
            meter,
        )
        .await
    };
    (route.pattern, principal_id, result)
}

/// 405 with the `Allow` header RFC 9110 asks for.
fn method_not_allowed(
    method: &str,
    allowed: &[Method],
    path: &str,
    request_id: &str,
) -> Result<Response> {
    let list: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
    let p = revops::problem::Problem::new(
        ProblemKind::MethodNotAllowed,
        format!("{method} is not accepted here; use {}", list.join(", ")),
    );
    let response = http::problem_response(&p, path, request_id)?;
    response.headers().set("allow", &list.join(", "))?;
    Ok(response)
}

/// Resolves `Authorization: Bearer <key>` to a principal: the bootstrap admin key from
/// `ADMIN_API_KEY`, or a stored, unrevoked key found by its digest.
async fn authenticate(req: &Request, env: &Env, meter: &Rc<Meter>) -> Result<Principal> {
    let header_value = header(req, "authorization");
    let Some(token) = auth::bearer_token(header_value.as_deref()) else {
        return Err(problem(
            ProblemKind::Unauthorized,
            "send Authorization: Bearer <api key>",
        ));
    };
    let db = Db::with_meter(env, meter.clone())?;
    match platform::keys::authenticate(env, &db, token).await? {
        Some(principal) => Ok(principal),
        None => Err(problem(
            ProblemKind::Unauthorized,
            "the API key is unknown or revoked",
        )),
    }
}

/// Sends the request on to the handler that owns the route, with the principal and request id.
async fn forward(
    req: Request,
    env: &Env,
    target: Service,
    request_id: &str,
    principal: Option<&Principal>,
    meter: &Meter,
) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if name == PRINCIPAL || name == REQUEST_ID {
            continue;
        }
        headers.append(&name, &value)?;
    }
    headers.set(REQUEST_ID, request_id)?;
    if let Some(p) = principal {
        headers.set(PRINCIPAL, &serde_json::to_string(p)?)?;
    }
    let method = req.method();
    let mut init = RequestInit::new();
    // Redirects are the handler's answer to the client (a form's 303), never ours to follow.
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(worker::RequestRedirect::Manual);
    if !matches!(method, worker::Method::Get | worker::Method::Head) {
        init.with_body(req.inner().body().map(Into::into));
    }
    // The raw URL string: parsing it with `req.url()` would pull the `url` crate's IDNA tables
    // (over 100 KB of WASM) into the gateway for nothing.
    let url = req.inner().url();
    let forwarded = Request::new_with_init(&url, &init)?;
    let fetcher = env.service(target.binding()).context(target.binding())?;
    let response = fetcher
        .fetch_request(forwarded)
        .await
        .context(&format!("forwarding to {}", target.name()))?;
    meter.add_downstream(Cost::from_headers(response.headers()));
    // A fetched response's headers are immutable: copy them so the envelope can stamp its own,
    // leaving out the D1 figures the handler reported to us (they are for our log line).
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        if name == ROUND_TRIPS_HEADER || name == STATEMENTS_HEADER {
            continue;
        }
        headers.append(&name, &value)?;
    }
    let (builder, body) = response.into_parts();
    Ok(builder.with_headers(headers).body(body))
}

async fn serve_own(cx: Cx, route: GatewayRoute, req: Request) -> Result<Response> {
    match route {
        GatewayRoute::Health => health(&cx).await,
        GatewayRoute::OpenApi => {
            let response = Response::ok(revops::openapi::DOCUMENT)?;
            response.headers().set("content-type", "application/json")?;
            response.headers().set("access-control-allow-origin", "*")?;
            Ok(response)
        }
        GatewayRoute::ProblemPage => problem_page(cx.param("slug")),
        GatewayRoute::CreateApiKey => keys::create(&cx, req).await,
        GatewayRoute::ListApiKeys => keys::list(&cx).await,
        GatewayRoute::RevokeApiKey => keys::revoke(&cx).await,
        GatewayRoute::CreateForm => FORM_ADMIN.create(&cx, req).await,
        GatewayRoute::ListForms => FORM_ADMIN.list(&cx).await,
        GatewayRoute::GetForm => FORM_ADMIN.get(&cx).await,
        GatewayRoute::UpdateForm => FORM_ADMIN.update(&cx, req).await,
        GatewayRoute::FormStats => admin::form_stats(&cx).await,
        GatewayRoute::CreateSource => SOURCE_ADMIN.create(&cx, req).await,
        GatewayRoute::ListSources => SOURCE_ADMIN.list(&cx).await,
        GatewayRoute::GetSource => SOURCE_ADMIN.get(&cx).await,
        GatewayRoute::UpdateSource => SOURCE_ADMIN.update(&cx, req).await,
        GatewayRoute::ListJobs => admin::list_jobs(&cx, &req).await,
        GatewayRoute::RetryJob => admin::retry_job(&cx).await,
        GatewayRoute::ListTicks => admin::list_ticks(&cx).await,
        GatewayRoute::CreateWebhookEndpoint => platform::outbox::create(&cx, req).await,
        GatewayRoute::ListWebhookEndpoints => platform::outbox::list(&cx).await,
        GatewayRoute::DeleteWebhookEndpoint => platform::outbox::deactivate(&cx).await,
        GatewayRoute::ListWebhookDeliveries => platform::outbox::deliveries(&cx, &req).await,
        GatewayRoute::RetryWebhookDelivery => platform::outbox::retry(&cx).await,
    }
}

/// `/health`: each handler reports its own D1 and KV checks; 200 only if every one is ok.
async fn health(cx: &Cx) -> Result<Response> {
    let reports = platform::health::gather(&cx.env, SERVICE, &cx.request_id, &cx.db.meter()).await;
    let gateway_kv = match cx
        .kv(platform::cache::CONFIG)?
        .get("health:probe")
        .text()
        .await
    {
        Ok(_) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "error": format!("{e:?}") }),
    };
    let gateway_d1 = match platform::keys::probe(&cx.db).await {
        Ok(_) => json!({ "ok": true }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    };
    let mut handlers = serde_json::Map::new();
    for report in reports {
        let name = report["service"].as_str().unwrap_or("unknown").to_string();
        handlers.insert(name, report);
    }
    let ok = gateway_d1["ok"] == true
        && gateway_kv["ok"] == true
        && handlers.values().all(|r| r["ok"] == true);
    let body = json!({
        "status": if ok { "ok" } else { "degraded" },
        "gateway": { "d1": gateway_d1, "kv": { "CONFIG": gateway_kv } },
        "handlers": handlers,
    });
    http::json(if ok { 200 } else { 503 }, &body)
}

fn problem_page(slug: &str) -> Result<Response> {
    let Some(kind) = ProblemKind::from_slug(slug) else {
        return Err(problem(
            ProblemKind::NotFound,
            format!("no problem type `{slug}`"),
        ));
    };
    let body = format!(
        "<p>HTTP status {status}. Type <code>/problems/{slug}</code>.</p><p>{description}</p>\
         <p>Every problem response also carries a <code>request_id</code>; quote it when you ask for help.</p>",
        status = kind.status(),
        slug = kind.slug(),
        description = html::escape(kind.description()),
    );
    http::html(200, html::page(kind.title(), &body))
}
