//! The request context every handler function receives, and the envelope around each request.
//!
//! [`serve`] is each handler worker's whole `fetch`: it reads the request id and the principal the
//! gateway propagated, matches the shared route table, re-checks the route's scope, runs the
//! handler's function for the route, maps any error to problem+json in one place, stamps
//! `x-request-id` on the response and writes one structured access log line.

use std::future::Future;

use revops::auth::Principal;
use revops::ids;
use revops::logging::{self, Level};
use revops::problem::{Problem, ProblemKind};
use revops::routes::{self, Access, EachHandlerRoute, Route, RouteMatch, Service, ServiceRoutes};
use serde_json::{json, Value};
use std::rc::Rc;

use worker::{Context, Env, KvStore, Request, Response};

use crate::db::Db;
use crate::error::{problem, Context as _, Error, Result};
use crate::http::{self, header, PRINCIPAL, REQUEST_ID};

/// What a handler function knows about the request it serves.
pub struct Cx {
    pub env: Env,
    pub service: Service,
    pub request_id: String,
    pub principal: Option<Principal>,
    /// Milliseconds since the epoch when the request arrived; the domain crate's `now`.
    pub now_ms: i64,
    pub route: Route,
    pub params: Vec<(&'static str, String)>,
    pub db: Db,
    /// The invocation's context, for work that continues after the response
    /// ([`Cx::background`]); `None` where the caller has none.
    pub ctx: Option<Rc<Context>>,
}

impl Cx {
    pub fn new(
        env: Env,
        service: Service,
        request_id: String,
        principal: Option<Principal>,
        route: Route,
        params: Vec<(&'static str, String)>,
    ) -> Result<Cx> {
        Ok(Cx {
            db: Db::from_env(&env)?,
            env,
            service,
            request_id,
            principal,
            now_ms: now_ms(),
            route,
            params,
            ctx: None,
        })
    }

    /// Runs `work` after the response is sent (within the invocation's lifetime). Without an
    /// invocation context the work is skipped: callers use this only for work a cron tick also
    /// picks up (outgoing webhook deliveries), never for anything that would otherwise be lost.
    pub fn background(&self, work: impl Future<Output = ()> + 'static) {
        if let Some(ctx) = &self.ctx {
            ctx.wait_until(work);
        }
    }

    /// Commits `statements` as one atomic batch after the response is sent, and logs `event`
    /// with the round trip it cost (the request's own line was written before it ran). Only
    /// for bookkeeping whose loss a retry repairs: the work it records is already committed
    /// and a leased job stands behind it, so if this batch never lands the cron re-runs the
    /// (idempotent) work and records it then. Without an invocation context it runs inline.
    pub async fn commit_after_response(
        &self,
        event: &'static str,
        statements: Vec<worker::D1PreparedStatement>,
        fields: Value,
    ) -> Result<()> {
        let Some(ctx) = &self.ctx else {
            self.db.batch(statements).await?;
            return Ok(());
        };
        let db = Db::from_env(&self.env)?;
        let (service, request_id) = (self.service, self.request_id.clone());
        ctx.wait_until(async move {
            let started = now_ms();
            let (level, mut fields) = match db.batch(statements).await {
                Ok(_) => (Level::Info, fields),
                Err(e) => (Level::Warn, json!({ "error": e.to_string(), "of": fields })),
            };
            if let Value::Object(map) = &mut fields {
                map.insert("ms".into(), (now_ms() - started).into());
                db.meter().log_fields(map);
            }
            log(level, service, &request_id, event, fields);
        });
        Ok(())
    }

    /// A path parameter of the matched route (always present: the route table defines them).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// The caller, or 401 if the route somehow ran without one.
    pub fn principal(&self) -> Result<&Principal> {
        self.principal
            .as_ref()
            .ok_or_else(|| problem(ProblemKind::Unauthorized, "no credentials were presented"))
    }

    /// Whether the caller holds `scope` (or `admin`).
    pub fn allows(&self, scope: revops::auth::Scope) -> bool {
        self.principal.as_ref().is_some_and(|p| p.allows(scope))
    }

    /// Who to record as the actor of a change.
    pub fn actor(&self) -> String {
        self.principal
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_else(|| "public".into())
    }

    pub fn kv(&self, binding: &str) -> Result<KvStore> {
        self.env.kv(binding).context(binding)
    }

    /// A plain variable or a secret, whichever is set; `None` when unset or empty.
    pub fn var(&self, name: &str) -> Option<String> {
        env_var(&self.env, name)
    }

    pub fn new_id(&self, prefix: &str) -> String {
        ids::new_id(prefix, random_bytes())
    }

    pub fn log(&self, level: Level, event: &str, fields: Value) {
        log(level, self.service, &self.request_id, event, fields);
    }

    /// The system principal this handler uses when it calls another handler on its own behalf.
    pub fn system_principal(&self) -> Principal {
        Principal::system(self.service.name())
    }
}

pub fn env_var(env: &Env, name: &str) -> Option<String> {
    let value = env
        .secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()?;
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::getrandom(&mut buf).expect("the runtime provides crypto.getRandomValues");
    buf
}

pub fn log(level: Level, service: Service, request_id: &str, event: &str, fields: Value) {
    let line = logging::line(level, now_ms(), service.name(), request_id, event, fields);
    match level {
        Level::Info => worker::console_log!("{line}"),
        Level::Warn => worker::console_warn!("{line}"),
        Level::Error => worker::console_error!("{line}"),
    }
}

/// The request id the caller sent (only our gateway and handlers send one), or a new one.
pub fn request_id_of(req: &Request) -> String {
    header(req, REQUEST_ID)
        .filter(|id| ids::is_id(ids::prefix::REQUEST, id))
        .unwrap_or_else(|| ids::new_id(ids::prefix::REQUEST, random_bytes()))
}

/// Turns a handler's outcome into the response: problems become problem+json, internal errors
/// are logged and answered with an opaque 500. Stamps the request id.
pub fn finish(
    result: Result<Response>,
    service: Service,
    request_id: &str,
    instance: &str,
) -> worker::Result<Response> {
    let response = match result {
        Ok(response) => Ok(response),
        Err(Error::Problem(p)) => http::problem_response(&p, instance, request_id),
        Err(Error::Internal(cause)) => {
            log(
                Level::Error,
                service,
                request_id,
                "request.failed",
                json!({ "cause": cause.message(), "chain": cause.chain, "at": format!("{}:{}", cause.at.file(), cause.at.line()), "path": instance }),
            );
            http::problem_response(&Problem::internal(), instance, request_id)
        }
    };
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            log(
                Level::Error,
                service,
                request_id,
                "response.failed",
                json!({ "cause": e.to_string() }),
            );
            Response::error("internal error", 500)?
        }
    };
    response.headers_mut().set(REQUEST_ID, request_id)?;
    Ok(response)
}

/// A handler's share of the cron trigger, given the tick's time (see [`crate::tick`]).
pub type TickWork = for<'a> fn(&'a Cx, i64) -> TickFuture<'a>;
pub type TickFuture<'a> = std::pin::Pin<Box<dyn Future<Output = Result<crate::tick::Done>> + 'a>>;

/// What a handler worker is: its service, the KV namespaces it uses, the secrets it needs (its
/// health check reads each namespace and reports any missing secret, never a value) and its
/// share of the cron trigger (recorded in `handler_ticks` by [`crate::tick::serve`]).
pub struct Spec {
    pub service: Service,
    pub kv: &'static [&'static str],
    pub secrets: &'static [&'static str],
    pub tick: TickWork,
}

/// The whole `fetch` of a handler worker: `handler` serves every route the table gives the
/// spec's service, as that service's own route enum `R` (so the handler's `match` is checked
/// complete by the compiler); the routes every handler serves (its health, its tick) are served
/// here from the spec.
pub async fn serve<R, F, Fut>(
    req: Request,
    env: Env,
    ctx: Context,
    spec: &'static Spec,
    handler: F,
) -> worker::Result<Response>
where
    R: ServiceRoutes,
    F: FnOnce(Cx, R, Request) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    crate::zones::install();
    let service = spec.service;
    let started = now_ms();
    let request_id = request_id_of(&req);
    let principal: Option<Principal> =
        header(&req, PRINCIPAL).and_then(|h| serde_json::from_str(&h).ok());
    let path = req.path();
    let method = req.inner().method();
    let matched = routes::match_route(&method, &path);
    let mut meter = None;
    let (pattern, result) = match matched {
        RouteMatch::Found { route, params } => {
            let each = EachHandlerRoute::of(route.id);
            let own = (route.service == service)
                .then(|| R::of(route.id))
                .flatten();
            let result = if each == Some(EachHandlerRoute::HandlerHealth) {
                crate::health::check(&env, spec).await
            } else if each.is_none() && own.is_none() {
                Err(problem(
                    ProblemKind::NotFound,
                    format!("{path} is not served here"),
                ))
            } else {
                match authorize(route.access, principal.as_ref()) {
                    Err(e) => Err(e),
                    Ok(()) => match Cx::new(
                        env,
                        service,
                        request_id.clone(),
                        principal.clone(),
                        route,
                        params,
                    ) {
                        Ok(mut cx) => {
                            cx.ctx = Some(Rc::new(ctx));
                            meter = Some(cx.db.meter());
                            match own {
                                Some(own) => handler(cx, own, req).await,
                                None => {
                                    let cx = &cx;
                                    crate::tick::serve(cx, req, |now| (spec.tick)(cx, now)).await
                                }
                            }
                        }
                        Err(e) => Err(e),
                    },
                }
            };
            (route.pattern, result)
        }
        RouteMatch::MethodNotAllowed { .. } | RouteMatch::NotFound => (
            "unmatched",
            Err(problem(
                ProblemKind::NotFound,
                format!("{path} is not served here"),
            )),
        ),
    };
    let mut response = finish(result, service, &request_id, &path)?;
    if let Some(meter) = &meter {
        // The caller adds what this request cost to its own line.
        meter.chain().to_headers(response.headers_mut())?;
    }
    log_request(
        service,
        &request_id,
        &RequestLine {
            method,
            route: pattern,
            status: response.status_code(),
            started,
            principal: principal.map(|p| p.id),
            meter: meter.as_deref(),
        },
    );
    Ok(response)
}

/// What every worker's `http.request` log line says about a request.
pub struct RequestLine<'a> {
    /// As sent (`worker::Method` reads names it does not know as GET).
    pub method: String,
    /// The route's pattern, or `unmatched`.
    pub route: &'a str,
    pub status: u16,
    pub started: i64,
    pub principal: Option<String>,
    /// What it cost in D1: this worker's round trips and statements, and the chain's.
    pub meter: Option<&'a crate::db::Meter>,
}

/// Writes the one `http.request` line a request gets, in every worker (the gateway's carries
/// the totals of the whole chain it forwarded to).
pub fn log_request(service: Service, request_id: &str, line: &RequestLine) {
    let mut fields = serde_json::Map::new();
    fields.insert("method".into(), line.method.clone().into());
    fields.insert("route".into(), line.route.into());
    fields.insert("status".into(), line.status.into());
    fields.insert("ms".into(), (now_ms() - line.started).into());
    fields.insert("principal".into(), line.principal.clone().into());
    if let Some(meter) = line.meter {
        meter.log_fields(&mut fields);
    }
    log(
        Level::Info,
        service,
        request_id,
        "http.request",
        Value::Object(fields),
    );
}

/// Defence in depth: the gateway already authenticated and authorized; a handler re-checks the
/// route's access against the principal the gateway propagated.
pub fn authorize(access: Access, principal: Option<&Principal>) -> Result<()> {
    match access {
        Access::Public => Ok(()),
        // A console session resolves to the principal of its key, checked like a key.
        Access::Scope(scope) | Access::Session(scope) => match principal {
            None => Err(problem(
                ProblemKind::Unauthorized,
                "send Authorization: Bearer <api key>",
            )),
            Some(p) if p.allows(scope) => Ok(()),
            Some(_) => Err(problem(
                ProblemKind::Forbidden,
                format!("this API key lacks the `{}` scope", scope.as_str()),
            )),
        },
        Access::Internal => match principal {
            Some(p) if p.id.starts_with("system:") => Ok(()),
            _ => Err(problem(ProblemKind::NotFound, "not found")),
        },
    }
}
