//! The pages that change things, each through the owner's API as the signed-in key: the
//! Definitions pages (versions, diff, dry-run, publish, rollback) and a lead's manual
//! reassignment. Every form here passed the Origin and CSRF checks before it reaches these.

use futures_util::future::join;
use revops::console::definitions::{self, Kind};
use revops::console::layout::{self, Section};
use revops::console::story;
use revops::problem::ProblemKind;
use revops::routes::Service;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::Api;
use crate::pages::{field, viewer};
use crate::sessions::Session;
use platform::services::Reply;
use platform::{http, problem, Cx, Result};

fn kind_of(cx: &Cx) -> Result<Kind> {
    let slug = cx.param("kind");
    Kind::parse(slug).ok_or_else(|| {
        problem(
            ProblemKind::NotFound,
            format!("no definition `{slug}`: choose scoring, routing or sla"),
        )
    })
}

/// The API's own words when it refused a change: its detail and each field error.
pub(crate) fn refusal(reply: &Reply) -> Vec<String> {
    let mut out = vec![reply.body["detail"]
        .as_str()
        .unwrap_or("the change was refused")
        .to_string()];
    for e in reply.body["errors"].as_array().into_iter().flatten() {
        out.push(format!(
            "{}: {}",
            e["field"].as_str().unwrap_or(""),
            e["reason"].as_str().unwrap_or("")
        ));
    }
    out
}

pub async fn index(cx: &Cx, s: &Session) -> Result<Response> {
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let lists = futures_util::future::join_all(
        Kind::ALL.map(|k| api.must::<Value>(k.service(), k.collection())),
    )
    .await;
    let mut body = String::from("<p>Each definition is versioned: who changed it, when and why is kept, any version can be compared with another, and a draft can be dry-run against recent leads before it is published.</p>");
    for (kind, list) in Kind::ALL.into_iter().zip(lists) {
        let list = list?;
        let active = list["active_version"].as_i64().unwrap_or(0);
        let current = list["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["active"] == true));
        body.push_str(&format!(
            "<h2><a href=\"/console/definitions/{}\">{}</a></h2><p>Active version <strong>{active}</strong>{}.</p>",
            kind.slug(),
            kind.title(),
            current
                .map(|v| format!(
                    ", published {} by {}: “{}”",
                    layout::when(v["published_at"].as_str().unwrap_or("")),
                    revops::html::escape(v["published_by"].as_str().unwrap_or("")),
                    revops::html::escape(v["reason"].as_str().unwrap_or(""))
                ))
                .unwrap_or_else(|| " (built in)".into())
        ));
    }
    http::html(
        200,
        layout::page(Section::Definitions, "Definitions", &viewer(s), &body),
    )
}

/// Where the extra part of a Definitions page comes from.
enum Extra {
    None,
    Notice(String),
    DryRun(Value),
}

/// What a kind's page shows besides its versions.
struct View {
    /// Two versions to show side by side.
    compare: Option<(i64, i64)>,
    /// The editor's text (`None`: the active version).
    draft: Option<String>,
    /// Why the last change was refused.
    errors: Vec<String>,
    extra: Extra,
    status: u16,
}

impl View {
    fn of(draft: Option<String>, errors: Vec<String>, extra: Extra, status: u16) -> View {
        View {
            compare: None,
            draft,
            errors,
            extra,
            status,
        }
    }
}

/// A kind's page: versions, the comparison, and the editor.
async fn kind_page(cx: &Cx, s: &Session, kind: Kind, view: View) -> Result<Response> {
    let View {
        compare,
        draft,
        errors,
        extra,
        status,
    } = view;
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let service = kind.service();
    let list: Value = api.must(service, kind.collection()).await?;
    let active = list["active_version"].as_i64().unwrap_or(0);
    let versions: Vec<i64> = list["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_i64())
        .collect();
    let doc_of = |v: i64| format!("{}/{v}", kind.collection());
    let (a_path, b_path) = match compare {
        Some((a, b)) => (doc_of(a), doc_of(b)),
        None => (doc_of(active), doc_of(active)),
    };
    let (a, b) = join(api.may(service, &a_path), api.may(service, &b_path)).await;
    let (a, b) = (a?, b?);
    let key = kind.document_key();
    let mut body = String::new();
    match extra {
        Extra::Notice(text) => body.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            revops::html::escape(&text)
        )),
        Extra::DryRun(result) => body.push_str(&definitions::dry_run_result(kind, &result)),
        Extra::None => {}
    }
    body.push_str("<h2>Versions</h2>");
    let base = format!("/console/definitions/{}", kind.slug());
    body.push_str(&definitions::versions_table(&base, &list, &s.csrf));
    body.push_str(&definitions::compare_form(
        kind,
        &versions,
        compare.map(|c| c.0),
        compare.map(|c| c.1),
    ));
    if let (Some((va, vb)), Some(a), Some(b)) = (compare, &a, &b) {
        let rows =
            definitions::side_by_side(&definitions::pretty(&a[key]), &definitions::pretty(&b[key]));
        body.push_str(&definitions::diff_table(va, vb, &rows));
    }
    let draft = draft.unwrap_or_else(|| {
        a.as_ref()
            .filter(|_| compare.is_none())
            .map(|v| definitions::pretty(&v[key]))
            .unwrap_or_default()
    });
    body.push_str("<h2>Change it</h2>");
    body.push_str(&definitions::editor(
        &base,
        &format!("{base}/publish"),
        definitions::dry_run_offer(kind),
        &draft,
        &s.csrf,
        &errors,
    ));
    http::html(
        status,
        layout::page(Section::Definitions, kind.title(), &viewer(s), &body),
    )
}

pub async fn definition(cx: &Cx, req: &Request, s: &Session) -> Result<Response> {
    let kind = kind_of(cx)?;
    let version =
        |name: &str| -> Result<Option<i64>> { http::query_int(req, name, 0, i64::from(u32::MAX)) };
    let compare = match (version("a")?, version("b")?) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    let notice = match (
        http::query_param(req, "published"),
        http::query_param(req, "rolled_back"),
    ) {
        (Some(v), _) => Extra::Notice(format!("Published version {v}. It is live now.")),
        (_, Some(v)) => Extra::Notice(format!("Version {v} is active again.")),
        _ => Extra::None,
    };
    kind_page(
        cx,
        s,
        kind,
        View {
            compare,
            ..View::of(None, Vec::new(), notice, 200)
        },
    )
    .await
}

/// The draft from the form, as JSON (a syntax error is named for the person who typed it).
pub(crate) fn draft_of(
    fields: &[(String, String)],
) -> (String, std::result::Result<Value, String>) {
    let text = field(fields, "document").unwrap_or("").to_string();
    let parsed = serde_json::from_str::<Value>(&text).map_err(|e| {
        format!(
            "the draft is not JSON: line {}, column {}: {e}",
            e.line(),
            e.column()
        )
    });
    (text, parsed)
}

pub async fn dry_run(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    let kind = kind_of(cx)?;
    let Some(path) = kind.dry_run_path() else {
        return Err(problem(
            ProblemKind::NotFound,
            "an SLA policy has no dry-run: publish it, and roll back if it is wrong",
        ));
    };
    let (text, parsed) = draft_of(fields);
    let doc = match parsed {
        Ok(doc) => doc,
        Err(e) => {
            return kind_page(cx, s, kind, View::of(Some(text), vec![e], Extra::None, 422)).await
        }
    };
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let reply = api
        .post(kind.service(), path, &json!({ kind.document_key(): doc }))
        .await?;
    if reply.ok() {
        kind_page(
            cx,
            s,
            kind,
            View::of(Some(text), Vec::new(), Extra::DryRun(reply.body), 200),
        )
        .await
    } else {
        kind_page(
            cx,
            s,
            kind,
            View::of(Some(text), refusal(&reply), Extra::None, reply.status),
        )
        .await
    }
}

/// A publish form: the draft's text, and its document with the reason when the draft parses
/// and a reason is given — otherwise every reason it cannot be sent.
pub(crate) fn publish_form(
    fields: &[(String, String)],
) -> (String, std::result::Result<(Value, String), Vec<String>>) {
    let (text, parsed) = draft_of(fields);
    let reason = field(fields, "reason").map(str::trim).unwrap_or("");
    let mut errors = Vec::new();
    if reason.is_empty() {
        errors.push(
            "say why you are publishing this (the reason is kept with the version)".to_string(),
        );
    }
    let checked = match parsed {
        Ok(doc) if errors.is_empty() => Ok((doc, reason.to_string())),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e);
            Err(errors)
        }
    };
    (text, checked)
}

pub async fn publish(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    let kind = kind_of(cx)?;
    let (text, checked) = publish_form(fields);
    let (doc, reason) = match checked {
        Ok(ok) => ok,
        Err(errors) => {
            return kind_page(cx, s, kind, View::of(Some(text), errors, Extra::None, 422)).await
        }
    };
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let reply = api
        .post(
            kind.service(),
            kind.collection(),
            &json!({ kind.document_key(): doc, "reason": reason }),
        )
        .await?;
    if !reply.ok() {
        return kind_page(
            cx,
            s,
            kind,
            View::of(Some(text), refusal(&reply), Extra::None, reply.status),
        )
        .await;
    }
    let version = reply.body["version"].as_i64().unwrap_or(0);
    http::redirect(&format!(
        "/console/definitions/{}?published={version}",
        kind.slug()
    ))
}

pub async fn rollback(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    let kind = kind_of(cx)?;
    let version = field(fields, "version").and_then(|v| v.trim().parse::<i64>().ok());
    let reason = field(fields, "reason").map(str::trim).unwrap_or("");
    let (Some(version), false) = (version, reason.is_empty()) else {
        let why = vec!["choose a version and say why you are returning to it".to_string()];
        return kind_page(cx, s, kind, View::of(None, why, Extra::None, 422)).await;
    };
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let reply = api
        .post(
            kind.service(),
            kind.rollback_path(),
            &json!({ "version": version, "reason": reason }),
        )
        .await?;
    if !reply.ok() {
        return kind_page(
            cx,
            s,
            kind,
            View::of(None, refusal(&reply), Extra::None, reply.status),
        )
        .await;
    }
    http::redirect(&format!(
        "/console/definitions/{}?rolled_back={version}",
        kind.slug()
    ))
}

/// A manual reassignment, recorded and explained by routing like any assignment.
pub async fn reassign(cx: &Cx, fields: &[(String, String)], s: &Session) -> Result<Response> {
    let id = cx.param("lead_id");
    if !revops::ids::is_id(revops::ids::prefix::LEAD, id) {
        return Err(problem(ProblemKind::NotFound, format!("no lead {id}")));
    }
    let pick = |name: &str| field(fields, name).map(str::trim).filter(|v| !v.is_empty());
    let mut body = json!({ "reason": pick("reason").unwrap_or("") });
    match (pick("rep"), pick("queue")) {
        (Some(rep), None) => body["rep"] = json!(rep),
        (None, Some(queue)) => body["queue"] = json!(queue),
        _ => {
            return Err(problem(
                ProblemKind::Validation,
                "choose either a rep or a queue (not both) to reassign the lead to",
            ))
        }
    }
    let api = Api {
        cx,
        principal: &s.principal,
    };
    let reply = api
        .post(
            Service::Routing,
            &format!("/v1/leads/{id}/assignment"),
            &body,
        )
        .await?;
    if !reply.ok() {
        let detail = refusal(&reply).join("; ");
        return Err(problem(
            ProblemKind::from_status(reply.status).unwrap_or(ProblemKind::Validation),
            detail,
        ));
    }
    http::redirect(&format!("/console/leads/{id}?reassigned=1"))
}

/// The reassign form for the lead page, when the key may reassign.
pub async fn reassign_form(api: &Api<'_>, lead_id: &str, s: &Session) -> Result<String> {
    if !s.principal.allows(revops::auth::Scope::LeadsWrite) {
        return Ok(String::new());
    }
    let reps = api
        .may(Service::Routing, "/v1/roster/reps")
        .await?
        .unwrap_or(Value::Null);
    Ok(story::reassign_form(lead_id, &reps, &s.csrf))
}
