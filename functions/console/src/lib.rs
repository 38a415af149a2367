//! The console: server-rendered pages for the people both teams are — a RevOps lead, a
//! demand-gen manager, an SDR manager — reached through the gateway at `/console`. Sign-in is
//! with an API key and starts a revocable session; every figure and story the console shows it
//! reads through the handlers' APIs with that key's scopes. No JavaScript, no external assets,
//! a strict Content-Security-Policy; what each page shows is computed by `revops::console`.

mod api;
mod flows;
mod manage;
mod ops;
mod pages;
mod sessions;

use std::rc::Rc;

use revops::console::layout;
use revops::logging::Level;
use revops::problem::ProblemKind;
use revops::routes::{self, ConsoleRoute, RouteMatch, Service, ServiceRoutes};
use serde_json::json;
use worker::{event, Context, Env, Request, Response};

use platform::cx::{self, log_request, RequestLine};
use platform::{http, problem, Cx, Error};

const SERVICE: Service = Service::Console;

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let started = cx::now_ms();
    let request_id = cx::request_id_of(&req);
    let path = req.path();
    let method = req.inner().method();
    let mut principal = None;
    let (pattern, meter, result) = match routes::match_route(&method, &path) {
        RouteMatch::Found { route, params } => match ConsoleRoute::of(route.id) {
            Some(own) => match Cx::new(env, SERVICE, request_id.clone(), None, route, params) {
                Ok(mut cx) => {
                    cx.ctx = Some(Rc::new(ctx));
                    let meter = cx.db.meter();
                    let result = pages::serve(cx, own, req, &mut principal).await;
                    (route.pattern, Some(meter), result)
                }
                Err(e) => (route.pattern, None, Err(e)),
            },
            None => ("unmatched", None, Err(not_found(&path))),
        },
        _ => ("unmatched", None, Err(not_found(&path))),
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => error_page(e, &request_id, &path)?,
    };
    let headers = response.headers_mut();
    headers.set("x-request-id", &request_id)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "same-origin")?;
    if headers.get("cache-control")?.is_none() {
        headers.set("cache-control", "no-store")?;
    }
    if headers
        .get("content-type")?
        .is_some_and(|t| t.starts_with("text/html"))
    {
        headers.set("content-security-policy", layout::CSP)?;
    }
    if let Some(meter) = &meter {
        meter.chain().to_headers(headers)?;
    }
    log_request(
        SERVICE,
        &request_id,
        &RequestLine {
            method,
            route: pattern,
            status: response.status_code(),
            started,
            principal,
            meter: meter.as_deref(),
        },
    );
    Ok(response)
}

fn not_found(path: &str) -> Error {
    problem(
        ProblemKind::NotFound,
        format!("there is no console page at {path}"),
    )
}

/// A readable page for a browser in place of problem+json: the problem's own words, or for an
/// internal error an apology with the request id (the cause goes to the log, never the page).
fn error_page(e: Error, request_id: &str, path: &str) -> worker::Result<Response> {
    let (status, message) = match e {
        Error::Problem(p) => (p.status(), p.detail.clone()),
        Error::Internal(cause) => {
            cx::log(
                Level::Error,
                SERVICE,
                request_id,
                "request.failed",
                json!({ "cause": cause.message(), "chain": cause.chain, "at": format!("{}:{}", cause.at.file(), cause.at.line()), "path": path }),
            );
            (
                500,
                format!("The console could not show this page. Quote request id {request_id} when you ask for help."),
            )
        }
    };
    http::html(status, layout::error(status, &message)).or_else(|_| Response::error("error", 500))
}
