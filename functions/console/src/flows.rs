//! The Workflows pages, each through the workflows handler's API as the signed-in key: every
//! workflow with its last days and every list; a workflow's own page (what it does, pause and
//! resume, failed steps, versions, history); and a draft's dry-run and publish, for a new
//! workflow or a new version. Every form here passed the Origin and CSRF checks before it
//! reaches these.

use futures_util::future::join;
use revops::auth::Scope;
use revops::console::layout::{self, Section};
use revops::console::{definitions, workflows};
use revops::problem::ProblemKind;
use revops::routes::Service;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::Api;
use crate::manage::{draft_of, publish_form, refusal};
use crate::pages::{field, viewer};
use crate::sessions::Session;
use platform::services::Reply;
use platform::{http, problem, Cx, Result};

const COLLECTION: &str = "/v1/admin/workflows";
const DRY_RUN: &str = "/v1/admin/workflows/dry-run";
/// The days a dry-run replays unless the form says otherwise.
const DAYS: i64 = 30;

/// What a page shows besides what it reads.
struct View {
    /// The editor's text (`None`: the active version, or the new-workflow template).
    draft: Option<String>,
    /// Why the draft was refused (shown in the editor).
    errors: Vec<String>,
    /// Why another change (pause, resume, rollback) was refused (shown at the top).
    alert: Vec<String>,
    notice: Option<String>,
    dry_run: Option<Value>,
    days: i64,
    status: u16,
}

impl View {
    fn plain(notice: Option<String>) -> View {
        View {
            draft: None,
            errors: Vec::new(),
            alert: Vec::new(),
            notice,
            dry_run: None,
            days: DAYS,
            status: 200,
        }
    }
}

fn api<'a>(cx: &'a Cx, s: &'a Session) -> Api<'a> {
    Api {
        cx,
        principal: &s.principal,
    }
}

fn top(view: &View) -> String {
    let mut out = String::new();
    if let Some(text) = &view.notice {
        out.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            revops::html::escape(text)
        ));
    }
    if !view.alert.is_empty() {
        out.push_str("<ul class=\"error\" role=\"alert\">");
        for e in &view.alert {
            out.push_str(&format!("<li>{}</li>", revops::html::escape(e)));
        }
        out.push_str("</ul>");
    }
    if let Some(result) = &view.dry_run {
        out.push_str(&workflows::dry_run_result(result));
    }
    out
}

/// A whole-number query parameter telling the page what was just done (anything else is
/// ignored: a link cannot make the page say what it likes).
fn number(req: &Request, name: &str) -> Option<u64> {
    http::query_param(req, name).and_then(|v| v.parse().ok())
}

/// `GET /console/workflows`.
pub async fn index(cx: &Cx, req: &Request, s: &Session) -> Result<Response> {
    let notice = number(req, "published").map(|_| "Published. It runs from now on.".to_string());
    index_page(cx, s, View::plain(notice)).await
}

async fn index_page(cx: &Cx, s: &Session, view: View) -> Result<Response> {
    let api = api(cx, s);
    let may_change = s.principal.allows(Scope::ConfigWrite);
    let (flows, lists) = join(
        async {
            if may_change {
                api.may(Service::Workflows, COLLECTION).await
            } else {
                Ok(None)
            }
        },
        api.may(Service::Workflows, "/v1/lists"),
    )
    .await;
    let mut body = top(&view);
    body.push_str("<p>“If this happens, then do that”: each workflow runs every step exactly once per enrolment, finishes on the version it started on, and says on each lead why it ran or did not.</p><h2>Workflows</h2>");
    match flows? {
        Some(list) => body.push_str(&workflows::workflows_table(&list)),
        None => body.push_str(
            "<p>Reading workflows needs a key with the <code>config:write</code> scope.</p>",
        ),
    }
    body.push_str("<h2>Lists</h2>");
    match lists? {
        Some(list) => body.push_str(&workflows::lists_table(&list)),
        None => body.push_str("<p>Reading lists needs the <code>leads:read</code> scope.</p>"),
    }
    if may_change {
        body.push_str("<h2>New workflow</h2>");
        body.push_str(&definitions::editor(
            "/console/workflows",
            "/console/workflows",
            Some(workflows::dry_run_offer(view.days)),
            view.draft.as_deref().unwrap_or(workflows::NEW_DRAFT),
            &s.csrf,
            &view.errors,
        ));
    }
    http::html(
        view.status,
        layout::page(Section::Workflows, "Workflows", &viewer(s), &body),
    )
}

/// The workflow the path names (its id checked before anything is read).
fn id_of(cx: &Cx) -> Result<&str> {
    let id = cx.param("workflow_id");
    if revops::ids::is_id(revops::ids::prefix::WORKFLOW, id) {
        Ok(id)
    } else {
        Err(problem(
            ProblemKind::NotFound,
            format!("there is no workflow {id}"),
        ))
    }
}

/// `GET /console/workflows/{id}`: notices of what was just done come as query parameters.
pub async fn workflow(cx: &Cx, req: &Request, s: &Session) -> Result<Response> {
    let q = |name: &str| number(req, name);
    let notice = if let Some(v) = q("published") {
        Some(format!(
            "Published version {v}. Enrolments under way finish on the version they started on."
        ))
    } else if let Some(v) = q("rolled_back") {
        Some(format!("Version {v} is active again."))
    } else if q("paused").is_some() {
        Some("Paused: nothing runs until it is resumed.".to_string())
    } else {
        q("resumed").map(|_| match (q("caught_up"), q("more")) {
            (None, _) => "Resumed. Events that came while it was paused stay not enrolled.".to_string(),
            (Some(n), None) => format!("Resumed, and {n} leads whose events came while it was paused were enrolled."),
            (Some(n), Some(_)) => format!("Resumed, and {n} leads whose events came while it was paused were enrolled; more remain: pause and resume with catch-up again to take them."),
        })
    };
    workflow_page(cx, s, View::plain(notice)).await
}

async fn workflow_page(cx: &Cx, s: &Session, view: View) -> Result<Response> {
    let id = id_of(cx)?;
    let wf: Value = api(cx, s)
        .must(Service::Workflows, &format!("{COLLECTION}/{id}"))
        .await?;
    let base = workflows::href(id);
    let mut body = top(&view);
    body.push_str(&workflows::summary(&wf));
    body.push_str(&workflows::state_form(&wf, &s.csrf));
    body.push_str(&workflows::described(&wf["workflow"]));
    body.push_str(&workflows::failures(&wf));
    body.push_str("<h2>Versions</h2>");
    body.push_str(&definitions::versions_table(
        &base,
        &json!({ "versions": wf["versions"] }),
        &s.csrf,
    ));
    body.push_str(&workflows::history(&wf));
    body.push_str("<h2>New version</h2>");
    let draft = view
        .draft
        .unwrap_or_else(|| definitions::pretty(&wf["workflow"]));
    body.push_str(&definitions::editor(
        &base,
        &format!("{base}/publish"),
        Some(workflows::dry_run_offer(view.days)),
        &draft,
        &s.csrf,
        &view.errors,
    ));
    let title = wf["name"].as_str().unwrap_or(id);
    http::html(
        view.status,
        layout::page(Section::Workflows, title, &viewer(s), &body),
    )
}

/// A page answering a refused draft: the draft kept, the reasons beside it.
fn refused_draft(text: String, errors: Vec<String>, days: i64, status: u16) -> View {
    View {
        draft: Some(text),
        errors,
        days,
        status,
        ..View::plain(None)
    }
}

/// The days a dry-run form asks for (30 when empty); whether they are in range is the API's
/// to say.
fn days_of(fields: &[(String, String)]) -> std::result::Result<i64, String> {
    match field(fields, "days")
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => Ok(DAYS),
        Some(d) => d
            .parse::<i64>()
            .map_err(|_| "give the days to replay as a whole number from 1 to 90".to_string()),
    }
}

/// Which page a draft came from: the Workflows page (a new workflow) or a workflow's own.
#[derive(Clone, Copy)]
enum Draft {
    NewWorkflow,
    NewVersion,
}

async fn page(cx: &Cx, s: &Session, from: Draft, view: View) -> Result<Response> {
    match from {
        Draft::NewWorkflow => index_page(cx, s, view).await,
        Draft::NewVersion => workflow_page(cx, s, view).await,
    }
}

/// Sends a checked draft to the workflows API at `path` (naming the workflow when it is a new
/// version of one): the API's answer, or — when it refused — the page the draft came from with
/// the API's words beside the draft.
async fn send_draft(
    cx: &Cx,
    s: &Session,
    from: Draft,
    path: &str,
    mut body: Value,
    text: &str,
    days: i64,
) -> Result<std::result::Result<Reply, Response>> {
    if let Draft::NewVersion = from {
        body["id"] = json!(id_of(cx)?);
    }
    let reply = api(cx, s).post(Service::Workflows, path, &body).await?;
    if reply.ok() {
        return Ok(Ok(reply));
    }
    let view = refused_draft(text.to_string(), refusal(&reply), days, reply.status);
    Ok(Err(page(cx, s, from, view).await?))
}

/// `POST /console/workflows/dry-run` and `POST /console/workflows/{id}/dry-run`.
async fn dry_run(
    cx: &Cx,
    fields: &[(String, String)],
    s: &Session,
    from: Draft,
) -> Result<Response> {
    let (text, parsed) = draft_of(fields);
    let (doc, days) = match (parsed, days_of(fields)) {
        (Ok(doc), Ok(days)) => (doc, days),
        (parsed, days) => {
            let errors = [parsed.err(), days.as_ref().err().cloned()]
                .into_iter()
                .flatten()
                .collect();
            let shown = days.unwrap_or(DAYS);
            return page(cx, s, from, refused_draft(text, errors, shown, 422)).await;
        }
    };
    let body = json!({ "workflow": doc, "days": days });
    match send_draft(cx, s, from, DRY_RUN, body, &text, days).await? {
        Ok(reply) => {
            let view = View {
                dry_run: Some(reply.body),
                ..refused_draft(text, Vec::new(), days, 200)
            };
            page(cx, s, from, view).await
        }
        Err(refused) => Ok(refused),
    }
}

pub async fn draft_dry_run(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    dry_run(cx, fields, s, Draft::NewWorkflow).await
}

pub async fn version_dry_run(
    cx: &Cx,
    fields: &[(String, String)],
    s: &Session,
) -> Result<Response> {
    id_of(cx)?;
    dry_run(cx, fields, s, Draft::NewVersion).await
}

/// `POST /console/workflows` (a new workflow) and `POST /console/workflows/{id}/publish`.
async fn publish(
    cx: &Cx,
    fields: &[(String, String)],
    s: &Session,
    from: Draft,
) -> Result<Response> {
    let (text, checked) = publish_form(fields);
    let (doc, reason) = match checked {
        Ok(ok) => ok,
        Err(errors) => return page(cx, s, from, refused_draft(text, errors, DAYS, 422)).await,
    };
    let body = json!({ "workflow": doc, "reason": reason });
    let reply = match send_draft(cx, s, from, COLLECTION, body, &text, DAYS).await? {
        Ok(reply) => reply,
        Err(refused) => return Ok(refused),
    };
    let id = reply.body["id"].as_str().unwrap_or_default();
    http::redirect(&format!(
        "{}?published={}",
        workflows::href(id),
        reply.body["version"].as_i64().unwrap_or(0)
    ))
}

pub async fn create(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    publish(cx, fields, s, Draft::NewWorkflow).await
}

pub async fn new_version(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    id_of(cx)?;
    publish(cx, fields, s, Draft::NewVersion).await
}

/// A change to the workflow made through its API (rollback, pause, resume): to the page with a
/// notice when it was made, or the page with the API's own words when it was refused.
async fn change(
    cx: &Cx,
    s: &Session,
    action: &str,
    body: Value,
    done: impl FnOnce(&Reply) -> String,
) -> Result<Response> {
    let id = id_of(cx)?;
    let reply = api(cx, s)
        .post(
            Service::Workflows,
            &format!("{COLLECTION}/{id}/{action}"),
            &body,
        )
        .await?;
    if !reply.ok() {
        let view = View {
            alert: refusal(&reply),
            status: reply.status,
            ..View::plain(None)
        };
        return workflow_page(cx, s, view).await;
    }
    http::redirect(&format!("{}?{}", workflows::href(id), done(&reply)))
}

/// A change refused before it was sent, said at the top of the workflow's page.
fn refused(why: String) -> View {
    View {
        alert: vec![why],
        status: 422,
        ..View::plain(None)
    }
}

/// The reason a form gives, or why it must give one.
fn reason_in(fields: &[(String, String)], what: &str) -> std::result::Result<String, String> {
    field(fields, "reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("say why you {what} (the reason is kept in the history)"))
}

pub async fn rollback(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    let version = field(fields, "version").and_then(|v| v.trim().parse::<i64>().ok());
    let reason = match reason_in(fields, "are returning to that version") {
        Ok(r) => r,
        Err(why) => return workflow_page(cx, s, refused(why)).await,
    };
    let Some(version) = version else {
        let why = "choose the version to return to".to_string();
        return workflow_page(cx, s, refused(why)).await;
    };
    change(
        cx,
        s,
        "rollback",
        json!({ "version": version, "reason": reason }),
        |_| format!("rolled_back={version}"),
    )
    .await
}

pub async fn pause(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    let reason = match reason_in(fields, "are pausing it") {
        Ok(r) => r,
        Err(why) => return workflow_page(cx, s, refused(why)).await,
    };
    change(cx, s, "pause", json!({ "reason": reason }), |_| {
        "paused=1".to_string()
    })
    .await
}

pub async fn resume(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    let reason = match reason_in(fields, "are resuming it") {
        Ok(r) => r,
        Err(why) => return workflow_page(cx, s, refused(why)).await,
    };
    let catch_up = field(fields, "catch_up") == Some("true");
    change(
        cx,
        s,
        "resume",
        json!({ "reason": reason, "catch_up": catch_up }),
        |reply| {
            let caught = &reply.body["caught_up"];
            match (catch_up, caught["more"] == true) {
                (false, _) => "resumed=1".to_string(),
                (true, more) => format!(
                    "resumed=1&caught_up={}{}",
                    caught["enrolled"].as_i64().unwrap_or(0),
                    if more { "&more=1" } else { "" }
                ),
            }
        },
    )
    .await
}
