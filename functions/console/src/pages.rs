//! Each console route: sign-in and sign-out, and the pages. A page resolves the session (or
//! sends the browser to sign in), checks the key's scope for the page, reads what it shows
//! through the handlers' APIs in one concurrent round, renders it with `revops::console`, and
//! answers.

use futures_util::future::{join, join3, join4};
use revops::auth::{self, Scope};
use revops::console::layout::{self, Section, Viewer};
use revops::console::overview::{self, Overview, Period};
use revops::console::session::{self, hex};
use revops::console::{leads, story};
use revops::intake::search::LeadQuery;
use revops::problem::ProblemKind;
use revops::routes::{Access, ConsoleRoute, Service};
use revops::time::rfc3339;
use serde_json::Value;
use worker::{Request, Response};

use crate::api::Api;
use crate::sessions::{self, Session};
use platform::{http, problem, Cx, Error, Result};

/// The most a sign-in or sign-out form may send.
const MAX_FORM: usize = 16 * 1024;

pub async fn serve(
    mut cx: Cx,
    route: ConsoleRoute,
    req: Request,
    principal_id: &mut Option<String>,
) -> Result<Response> {
    let scope = match cx.route.access {
        Access::Session(scope) => scope,
        _ => {
            return match route {
                ConsoleRoute::ConsoleStylesheet => stylesheet(),
                ConsoleRoute::ConsoleLoginPage => login_page(&req),
                ConsoleRoute::ConsoleLogin => login(&cx, req).await,
                // The route table gives every other console route a session scope.
                _ => Err(problem(ProblemKind::NotFound, "not found")),
            };
        }
    };
    let Some(session) = current(&cx, &req).await? else {
        if route == ConsoleRoute::ConsoleLogout {
            return signed_out(is_local(&req));
        }
        return to_login(&req);
    };
    *principal_id = Some(session.principal.id.clone());
    if !session.principal.allows(scope) {
        return Err(problem(
            ProblemKind::Forbidden,
            format!(
                "the key you signed in with lacks the `{}` scope this page needs",
                scope.as_str()
            ),
        ));
    }
    cx.principal = Some(session.principal.clone());
    let (cx, s) = (&cx, &session);
    match route {
        ConsoleRoute::ConsoleLogout => logout(cx, req, s).await,
        ConsoleRoute::ConsoleOverview => overview_page(cx, &req, s).await,
        ConsoleRoute::ConsoleLeads => leads_page(cx, &req, s).await,
        ConsoleRoute::ConsoleLead => lead_page(cx, &req, s).await,
        ConsoleRoute::ConsoleSubmission => submission_page(cx, s).await,
        ConsoleRoute::ConsoleRouting => crate::ops::routing(cx, s).await,
        ConsoleRoute::ConsoleSla => crate::ops::sla(cx, s).await,
        ConsoleRoute::ConsoleHealth => crate::ops::health(cx, s).await,
        ConsoleRoute::ConsoleDefinitions => crate::manage::index(cx, s).await,
        ConsoleRoute::ConsoleDefinition => crate::manage::definition(cx, &req, s).await,
        ConsoleRoute::ConsoleDryRun => {
            let fields = checked_form(req, s).await?;
            crate::manage::dry_run(cx, &fields, s).await
        }
        ConsoleRoute::ConsolePublish => {
            let fields = checked_form(req, s).await?;
            crate::manage::publish(cx, &fields, s).await
        }
        ConsoleRoute::ConsoleRollback => {
            let fields = checked_form(req, s).await?;
            crate::manage::rollback(cx, &fields, s).await
        }
        ConsoleRoute::ConsoleWorkflows => crate::flows::index(cx, &req, s).await,
        ConsoleRoute::ConsoleWorkflow => crate::flows::workflow(cx, &req, s).await,
        ConsoleRoute::ConsoleWorkflowCreate
        | ConsoleRoute::ConsoleWorkflowDraftDryRun
        | ConsoleRoute::ConsoleWorkflowDryRun
        | ConsoleRoute::ConsoleWorkflowPublish
        | ConsoleRoute::ConsoleWorkflowRollback
        | ConsoleRoute::ConsoleWorkflowPause
        | ConsoleRoute::ConsoleWorkflowResume => {
            let fields = checked_form(req, s).await?;
            let f = &fields;
            match route {
                ConsoleRoute::ConsoleWorkflowCreate => crate::flows::create(cx, f, s).await,
                ConsoleRoute::ConsoleWorkflowDraftDryRun => {
                    crate::flows::draft_dry_run(cx, f, s).await
                }
                ConsoleRoute::ConsoleWorkflowDryRun => {
                    crate::flows::version_dry_run(cx, f, s).await
                }
                ConsoleRoute::ConsoleWorkflowPublish => crate::flows::new_version(cx, f, s).await,
                ConsoleRoute::ConsoleWorkflowRollback => crate::flows::rollback(cx, f, s).await,
                ConsoleRoute::ConsoleWorkflowPause => crate::flows::pause(cx, f, s).await,
                ConsoleRoute::ConsoleWorkflowResume => crate::flows::resume(cx, f, s).await,
                _ => Err(problem(ProblemKind::NotFound, "not found")),
            }
        }
        ConsoleRoute::ConsoleReassign => {
            let fields = checked_form(req, s).await?;
            crate::manage::reassign(cx, &fields, s).await
        }
        ConsoleRoute::ConsoleStylesheet
        | ConsoleRoute::ConsoleLoginPage
        | ConsoleRoute::ConsoleLogin => Err(problem(ProblemKind::NotFound, "not found")),
    }
}

/// A state-changing form of a signed-in page: from the console's own origin, carrying the
/// session's CSRF token. Its fields, once both hold.
async fn checked_form(mut req: Request, s: &Session) -> Result<Vec<(String, String)>> {
    require_same_origin(&req)?;
    let fields = form_fields(&mut req).await?;
    if !session::csrf_matches(field(&fields, "csrf").unwrap_or(""), &s.csrf) {
        return Err(problem(
            ProblemKind::Forbidden,
            "the form's CSRF token does not belong to your session: reload the page and try again",
        ));
    }
    Ok(fields)
}

fn stylesheet() -> Result<Response> {
    let response = Response::ok(layout::CSS)?;
    response
        .headers()
        .set("content-type", "text/css; charset=utf-8")?;
    response
        .headers()
        .set("cache-control", "public, max-age=3600")?;
    Ok(response)
}

/// The origin the browser sees (scheme, host and port of the request's URL).
fn own_origin(req: &Request) -> String {
    revops::intake::form::origin_of_url(&req.inner().url()).unwrap_or_default()
}

fn is_local(req: &Request) -> bool {
    let origin = own_origin(req);
    let host = origin.split_once("://").map_or("", |(_, h)| h);
    session::is_local_host(host)
}

/// The path and query the browser asked for (where to come back to after signing in).
fn path_and_query(req: &Request) -> String {
    let url = req.inner().url();
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    after_scheme
        .find('/')
        .map_or("/console".to_string(), |i| after_scheme[i..].to_string())
}

async fn current(cx: &Cx, req: &Request) -> Result<Option<Session>> {
    let cookie = http::header(req, "cookie");
    let Some(token) = session::token_from_cookie(cookie.as_deref()) else {
        return Ok(None);
    };
    sessions::live(cx, token, cx.var("ADMIN_API_KEY").as_deref()).await
}

fn to_login(req: &Request) -> Result<Response> {
    let next = path_and_query(req);
    http::redirect(&format!("/console/login?next={}", leads::encode(&next)))
}

fn signed_out(local: bool) -> Result<Response> {
    let response = http::redirect("/console/login")?;
    response
        .headers()
        .set("set-cookie", &session::clear_cookie(local))?;
    Ok(response)
}

fn login_page(req: &Request) -> Result<Response> {
    let next = session::safe_next(http::query_param(req, "next").as_deref());
    http::html(200, layout::login(None, &next))
}

/// Refuses a state-changing request that did not come from the console's own pages.
fn require_same_origin(req: &Request) -> Result<()> {
    if session::same_origin(http::header(req, "origin").as_deref(), &own_origin(req)) {
        Ok(())
    } else {
        Err(problem(
            ProblemKind::Forbidden,
            "this form must be sent from the console's own pages (the request's Origin is missing or belongs to another site)",
        ))
    }
}

async fn form_fields(req: &mut Request) -> Result<Vec<(String, String)>> {
    let media = http::media_type(req.headers());
    if media != "application/x-www-form-urlencoded" {
        return Err(problem(
            ProblemKind::UnsupportedMediaType,
            "send the form as application/x-www-form-urlencoded, as the console's pages do",
        ));
    }
    let body = http::body_bytes(req, MAX_FORM).await?;
    Ok(revops::intake::normalize::parse_urlencoded(
        &String::from_utf8_lossy(&body),
    ))
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn login(cx: &Cx, mut req: Request) -> Result<Response> {
    require_same_origin(&req)?;
    let fields = form_fields(&mut req).await?;
    let next = session::safe_next(field(&fields, "next"));
    let key = field(&fields, "api_key").map(str::trim).unwrap_or("");
    if key.is_empty() || key.len() > 512 {
        return http::html(422, layout::login(Some("Enter an API key."), &next));
    }
    let Some(principal) = platform::keys::authenticate(&cx.env, &cx.db, key).await? else {
        cx.log(
            revops::logging::Level::Warn,
            "console.sign_in_refused",
            serde_json::json!({ "why": "unknown or revoked key" }),
        );
        return http::html(
            401,
            layout::login(Some("That key is unknown or revoked."), &next),
        );
    };
    if !principal.allows(Scope::ReportsRead) {
        return Err(problem(
            ProblemKind::Forbidden,
            "that key lacks the reports:read scope the console needs: ask an admin for a key that has it",
        ));
    }
    let token = hex(&platform::cx::random_bytes::<32>());
    let csrf = hex(&platform::cx::random_bytes::<32>());
    let bootstrap = (principal.id == "bootstrap").then(|| auth::digest_key(key));
    sessions::start(cx, &token, &csrf, &principal, bootstrap.as_deref()).await?;
    cx.log(
        revops::logging::Level::Info,
        "console.signed_in",
        serde_json::json!({ "key_id": principal.id }),
    );
    let response = http::redirect(&next)?;
    response
        .headers()
        .set("set-cookie", &session::cookie(&token, is_local(&req)))?;
    Ok(response)
}

async fn logout(cx: &Cx, req: Request, s: &Session) -> Result<Response> {
    let local = is_local(&req);
    checked_form(req, s).await?;
    sessions::end(cx, &s.digest).await?;
    cx.log(
        revops::logging::Level::Info,
        "console.signed_out",
        serde_json::json!({ "key_id": s.principal.id }),
    );
    signed_out(local)
}

pub(crate) fn viewer(s: &Session) -> Viewer<'_> {
    Viewer {
        name: &s.principal.name,
        csrf: &s.csrf,
    }
}

fn bad_request(detail: impl Into<String>) -> Error {
    problem(ProblemKind::BadRequest, detail)
}

async fn overview_page(cx: &Cx, req: &Request, s: &Session) -> Result<Response> {
    let period = Period::parse(http::query_param(req, "period").as_deref())
        .ok_or_else(|| bad_request("choose a period of 7d, 30d or 90d"))?;
    let ((from, to), (pfrom, pto)) = period.window(cx.now_ms);
    let window = |f: i64, t: i64| format!("from={}&to={}", rfc3339(f), rfc3339(t));
    let (now, before) = (window(from, to), window(pfrom, pto));
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let funnel_path = format!("/v1/reports/funnel?{now}");
    let sla_now = format!("/v1/sla/metrics?{now}");
    let sla_before = format!("/v1/sla/metrics?{before}");
    let routing_now = format!("/v1/admin/routing/stats?{now}");
    let routing_before = format!("/v1/admin/routing/stats?{before}");
    let (((funnel, sla, sla_previous), (routing, routing_previous, queues)), machinery) = join(
        join(
            join3(
                api.must(Service::Scoring, &funnel_path),
                api.must(Service::Sla, &sla_now),
                api.must(Service::Sla, &sla_before),
            ),
            join3(
                api.must(Service::Routing, &routing_now),
                api.must(Service::Routing, &routing_before),
                api.may(Service::Routing, "/v1/queues"),
            ),
        ),
        crate::ops::machinery(&api, s, period.days()),
    )
    .await;
    let queues = match queues? {
        Some(q) => serde_json::from_value(q)?,
        None => overview::Queues::default(),
    };
    let machinery = machinery?;
    let o = Overview {
        period,
        funnel: funnel?,
        sla: sla?,
        sla_previous: sla_previous?,
        routing: routing?,
        routing_previous: routing_previous?,
        queues,
        machinery,
    };
    http::html(
        200,
        layout::page(
            Section::Overview,
            "Overview",
            &viewer(s),
            &overview::render(&o),
        ),
    )
}

async fn leads_page(cx: &Cx, req: &Request, s: &Session) -> Result<Response> {
    // The search form sends every field; one left empty is no filter.
    let filters: Vec<(String, String)> = http::query(req)
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
    let page = |status: u16, body: String| {
        http::html(
            status,
            layout::page(Section::Leads, "Leads", &viewer(s), &body),
        )
    };
    if let Err(errors) = LeadQuery::parse(&filters) {
        let errors: Vec<(String, String)> =
            errors.into_iter().map(|e| (e.field, e.reason)).collect();
        return page(422, leads::form(&filters, &errors));
    }
    let query: Vec<String> = filters
        .iter()
        .map(|(k, v)| format!("{}={}", leads::encode(k), leads::encode(v)))
        .collect();
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let found: leads::Page = api
        .must(Service::Intake, &format!("/v1/leads?{}", query.join("&")))
        .await?;
    page(
        200,
        format!(
            "{}{}",
            leads::form(&filters, &[]),
            leads::results(&found, &filters)
        ),
    )
}

async fn lead_page(cx: &Cx, req: &Request, s: &Session) -> Result<Response> {
    let id = cx.param("lead_id");
    if !revops::ids::is_id(revops::ids::prefix::LEAD, id) {
        return Err(problem(ProblemKind::NotFound, format!("no lead {id}")));
    }
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let (lead_path, score_path) = (format!("/v1/leads/{id}"), format!("/v1/leads/{id}/score"));
    let (routing_path, sla_path) = (
        format!("/v1/leads/{id}/routing"),
        format!("/v1/leads/{id}/sla"),
    );
    let (lead, score, routing, sla) = join4(
        api.must::<Value>(Service::Intake, &lead_path),
        api.may(Service::Scoring, &score_path),
        api.may(Service::Routing, &routing_path),
        api.may(Service::Sla, &sla_path),
    )
    .await;
    let lead = lead?;
    let email = leads::encode(lead["email"].as_str().unwrap_or(""));
    let (consent_path, history_path) = (
        format!("/v1/consent/{email}"),
        format!("/v1/consent/{email}/history"),
    );
    let workflows_path = format!("/v1/leads/{id}/workflows");
    let (consent, history, reassign, workflows) = join4(
        api.may(Service::Consent, &consent_path),
        api.may(Service::Consent, &history_path),
        crate::manage::reassign_form(&api, id, s),
        api.may(Service::Workflows, &workflows_path),
    )
    .await;
    let (score, routing, sla, consent, history, workflows) =
        (score?, routing?, sla?, consent?, history?, workflows?);
    let told = story::Story {
        lead: &lead,
        score: score.as_ref(),
        routing: routing.as_ref(),
        sla: sla.as_ref(),
        consent: consent.as_ref(),
        consent_history: history.as_ref(),
        workflows: workflows.as_ref(),
    };
    let title = lead["email"].as_str().unwrap_or(id).to_string();
    let mut body = String::new();
    if http::query_param(req, "reassigned").is_some() {
        body.push_str("<p class=\"notice\" role=\"status\">Reassigned: the new assignment is recorded under Routing decisions, with its reason.</p>");
    }
    body.push_str(&story::render(&told));
    body.push_str(&reassign?);
    http::html(200, layout::page(Section::Leads, &title, &viewer(s), &body))
}

async fn submission_page(cx: &Cx, s: &Session) -> Result<Response> {
    let (lead, id) = (cx.param("lead_id"), cx.param("submission_id"));
    if !revops::ids::is_id(revops::ids::prefix::LEAD, lead)
        || !revops::ids::is_id(revops::ids::prefix::SUBMISSION, id)
    {
        return Err(problem(
            ProblemKind::NotFound,
            format!("no submission {id} of lead {lead}"),
        ));
    }
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let sub: Value = api
        .must(
            Service::Intake,
            &format!("/v1/leads/{lead}/submissions/{id}"),
        )
        .await?;
    http::html(
        200,
        layout::page(
            Section::Leads,
            &format!("Submission {id}"),
            &viewer(s),
            &story::submission(&sub),
        ),
    )
}
