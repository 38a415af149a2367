//! The lists API: create, read, page through members, add and remove (static lists), and export
//! (CSV or JSON, streamed page by page, optionally only those who may be contacted on a topic).

use std::collections::BTreeSet;

use revops::consent::{Snapshot, SuppressionReason, Topic, TopicState, TopicsConfig};
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::workflows::lists::{csv_row, Kind, ListDef, CSV_HEADER};
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::list_store::{self, ListRow, MemberRow};
use platform::{http, settings, Cx, Db, Error, Result};

/// Most leads one request adds or removes.
pub const MAX_MEMBERS_PER_REQUEST: usize = 500;
/// Members an export reads per D1 query (it never holds more in memory).
const EXPORT_PAGE: usize = 500;

fn invalid(errors: Vec<FieldError>) -> Error {
    Error::Problem(Problem::validation(errors))
}

/// `POST /v1/lists` `{"name": ..., "kind": "static" | "dynamic", "when": <condition>}`.
pub async fn create(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: Value = http::json_body(&mut req, 64 * 1024).await?;
    let def = ListDef::parse(&body).map_err(invalid)?;
    let id = cx.new_id(revops::ids::prefix::LIST);
    let (kind, condition) = match &def.kind {
        Kind::Static => ("static", None),
        Kind::Dynamic(_) => ("dynamic", body.get("when")),
    };
    list_store::create(cx, &id, &def.name, kind, condition).await?;
    // The row as written (a new list has no members; a dynamic one is being filled).
    let row = ListRow {
        id,
        name: def.name,
        kind: kind.to_string(),
        condition: condition.map(Value::to_string),
        backfill: (kind == "dynamic").then(String::new),
        created_at: cx.now_ms,
        created_by: cx.actor(),
        members: Some(0),
    };
    http::json(201, &row.view())
}

/// `GET /v1/lists`.
pub async fn all(cx: &Cx) -> Result<Response> {
    let rows = list_store::all(cx).await?;
    http::json(
        200,
        &json!({ "lists": rows.iter().map(ListRow::view).collect::<Vec<_>>() }),
    )
}

async fn existing(cx: &Cx) -> Result<ListRow> {
    let id = cx.param("list_id");
    let not_found = || Error::Problem(Problem::not_found(format!("list {id}")));
    if !revops::ids::is_id(revops::ids::prefix::LIST, id) {
        return Err(not_found());
    }
    list_store::get(cx, id).await?.ok_or_else(not_found)
}

/// `GET /v1/lists/{id}`.
pub async fn get(cx: &Cx) -> Result<Response> {
    http::json(200, &existing(cx).await?.view())
}

/// A lead id cursor (`after`), checked.
fn after_of(req: &Request) -> Result<String> {
    match http::query_param(req, "after") {
        None => Ok(String::new()),
        Some(a) if revops::ids::is_id(revops::ids::prefix::LEAD, &a) => Ok(a),
        Some(_) => Err(invalid(vec![FieldError::new(
            "after",
            "give the lead id the previous page ended at (next_after)",
        )])),
    }
}

/// `GET /v1/lists/{id}/members?after=&limit=`: in lead id order.
pub async fn members(cx: &Cx, req: &Request) -> Result<Response> {
    let list = existing(cx).await?;
    let after = after_of(req)?;
    let limit = http::query_int(req, "limit", 1, 500)?.unwrap_or(100) as usize;
    let rows = list_store::members(cx, &list.id, &after, limit + 1, None).await?;
    let more = rows.len() > limit;
    let page: Vec<&MemberRow> = rows.iter().take(limit).collect();
    http::json(
        200,
        &json!({
            "list_id": list.id,
            "members": page.iter().map(|m| m.view()).collect::<Vec<_>>(),
            "next_after": if more { page.last().map(|m| json!(m.lead_id)) } else { None }.unwrap_or(Value::Null),
        }),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersBody {
    #[serde(default)]
    lead_ids: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
}

/// The leads a members request names (by id or email), and the names that are no lead.
async fn named_leads(cx: &Cx, req: &mut Request) -> Result<(Vec<String>, Vec<String>)> {
    let body: MembersBody = http::json_body(req, 128 * 1024).await?;
    if body.lead_ids.is_empty() && body.emails.is_empty() {
        return Err(invalid(vec![FieldError::new(
            "lead_ids",
            "give lead ids and/or emails",
        )]));
    }
    for (name, n) in [
        ("lead_ids", body.lead_ids.len()),
        ("emails", body.emails.len()),
    ] {
        if n > MAX_MEMBERS_PER_REQUEST {
            return Err(invalid(vec![FieldError::new(
                name,
                format!("at most {MAX_MEMBERS_PER_REQUEST} at once"),
            )]));
        }
    }
    let mut errors = Vec::new();
    for (i, id) in body.lead_ids.iter().enumerate() {
        if !revops::ids::is_id(revops::ids::prefix::LEAD, id) {
            errors.push(FieldError::new(
                format!("lead_ids[{i}]"),
                "not a lead id (lead_…)",
            ));
        }
    }
    let mut emails = Vec::new();
    for (i, e) in body.emails.iter().enumerate() {
        match revops::intake::email::Email::parse(e) {
            Ok(e) => emails.push(e.as_str().to_string()),
            Err(_) => errors.push(FieldError::new(
                format!("emails[{i}]"),
                "not an email address",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let ids: Vec<String> = body
        .lead_ids
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut found = list_store::existing_leads(cx, &ids).await?;
    let mut unknown: Vec<String> = ids.iter().filter(|i| !found.contains(i)).cloned().collect();
    let by_email = list_store::leads_by_email(cx, &emails).await?;
    for e in &emails {
        match by_email.iter().find(|(m, _)| m == e) {
            Some((_, id)) => found.push(id.clone()),
            None => unknown.push(e.clone()),
        }
    }
    found.sort();
    found.dedup();
    Ok((found, unknown))
}

fn static_only(list: &ListRow) -> Result<()> {
    if list.kind == "static" {
        return Ok(());
    }
    Err(Error::Problem(Problem::new(
        ProblemKind::Conflict,
        format!(
            "{} is a dynamic list: its members are the leads that meet its condition",
            list.id
        ),
    )))
}

/// `POST /v1/lists/{id}/members` `{"lead_ids": [...], "emails": [...]}` (static lists).
pub async fn add(cx: &Cx, req: Request) -> Result<Response> {
    let (list, leads, unknown, changed) = change_members(cx, req, true).await?;
    http::json(
        200,
        &json!({ "list_id": list, "added": changed, "already_members": leads - changed, "unknown": unknown }),
    )
}

/// `DELETE /v1/lists/{id}/members` `{"lead_ids": [...], "emails": [...]}` (static lists).
pub async fn remove(cx: &Cx, req: Request) -> Result<Response> {
    let (list, leads, unknown, changed) = change_members(cx, req, false).await?;
    http::json(
        200,
        &json!({ "list_id": list, "removed": changed, "not_members": leads - changed, "unknown": unknown }),
    )
}

/// Adds (`join`) or removes the leads a request names, each with its history line, in one
/// batch: (the list, the leads named, the names that are no lead, the memberships changed).
async fn change_members(
    cx: &Cx,
    mut req: Request,
    join: bool,
) -> Result<(String, usize, Vec<String>, usize)> {
    let list = existing(cx).await?;
    static_only(&list)?;
    let (leads, unknown) = named_leads(cx, &mut req).await?;
    let cause = format!("api:{}", cx.actor());
    let mut stmts = Vec::new();
    for lead in &leads {
        let change = if join {
            list_store::join_statements
        } else {
            list_store::leave_statements
        };
        stmts.extend(change(cx, &list.id, lead, &cause, ("1", Vec::new()))?);
    }
    // The membership row is a join's first statement and a leave's second.
    let changes = cx.db.batch(stmts).await?;
    let changed = changes
        .iter()
        .skip(usize::from(!join))
        .step_by(2)
        .filter(|c| **c == 1)
        .count();
    Ok((list.id, leads.len(), unknown, changed))
}

/// Whether a member may be contacted on `topic`, by the consent ledger's own rule.
fn may_contact(topic: &Topic, m: &MemberRow) -> bool {
    let mut snapshot = Snapshot {
        suppressed: m
            .suppressed
            .as_ref()
            .and_then(|s| serde_json::from_value::<SuppressionReason>(json!(s)).ok()),
        ..Snapshot::default()
    };
    if let Some(state) = m.state.as_deref().and_then(TopicState::parse) {
        snapshot.topics.insert(topic.id.clone(), state);
    }
    snapshot.verdict(topic).may_send
}

/// `GET /v1/lists/{id}/export?format=csv|json&topic=`: every member (email first), streamed a
/// page at a time; with a topic, only those who may be contacted on it.
pub async fn export(cx: &Cx, req: &Request) -> Result<Response> {
    let list = existing(cx).await?;
    let format = http::query_enum(req, "format", &["csv", "json"])?.unwrap_or_else(|| "csv".into());
    let topic = match http::query_param(req, "topic") {
        None => None,
        Some(t) => {
            let config: TopicsConfig = settings::load(cx, settings::CONSENT_TOPICS).await?;
            Some(config.topic(&t).cloned().ok_or_else(|| {
                invalid(vec![FieldError::new(
                    "topic",
                    format!("`{t}` is not a configured topic"),
                )])
            })?)
        }
    };
    let db = Db::from_env(&cx.env)?;
    let csv = format == "csv";
    struct State {
        db: Db,
        list: String,
        topic: Option<Topic>,
        after: String,
        started: bool,
        first_row: bool,
        done: bool,
        csv: bool,
    }
    let state = State {
        db,
        list: list.id.clone(),
        topic,
        after: String::new(),
        started: false,
        first_row: true,
        done: false,
        csv,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = String::new();
        if !s.started {
            s.started = true;
            out.push_str(if s.csv { CSV_HEADER } else { "[" });
        }
        let page = match list_store::members_on(
            &s.db,
            &s.list,
            &s.after,
            EXPORT_PAGE,
            s.topic.as_ref().map(|t| t.id.as_str()),
        )
        .await
        {
            Ok(p) => p,
            Err(e) => {
                return Some((
                    Err(worker::Error::RustError(e.to_string())),
                    State { done: true, ..s },
                ))
            }
        };
        if page.len() < EXPORT_PAGE {
            s.done = true;
        }
        if let Some(last) = page.last() {
            s.after = last.lead_id.clone();
        }
        for m in page
            .iter()
            .filter(|m| m.email.is_some() && s.topic.as_ref().is_none_or(|t| may_contact(t, m)))
        {
            let email = m.email.as_deref().unwrap_or_default();
            let joined = revops::time::rfc3339(m.joined_at);
            if s.csv {
                out.push_str(&csv_row(&[
                    email,
                    &m.lead_id,
                    m.first_name.as_deref().unwrap_or(""),
                    m.last_name.as_deref().unwrap_or(""),
                    m.company.as_deref().unwrap_or(""),
                    &joined,
                ]));
            } else {
                if !s.first_row {
                    out.push(',');
                }
                s.first_row = false;
                out.push_str(&json!({ "email": email, "lead_id": m.lead_id, "first_name": m.first_name, "last_name": m.last_name, "company": m.company, "joined_at": joined }).to_string());
            }
        }
        if s.done && !s.csv {
            out.push_str("]\n");
        }
        Some((Ok::<Vec<u8>, worker::Error>(out.into_bytes()), s))
    });
    let mut res = Response::from_stream(stream)?;
    let headers = res.headers_mut();
    headers.set(
        "content-type",
        if csv {
            "text/csv; charset=utf-8"
        } else {
            "application/json"
        },
    )?;
    headers.set(
        "content-disposition",
        &format!("attachment; filename=\"{}.{format}\"", list.id),
    )?;
    Ok(res)
}
