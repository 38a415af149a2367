//! The workflows API: publish (a new workflow or a new version of one), list, read, roll back,
//! pause and resume; the dry run; and a lead's workflows ("why did this run?").

use std::collections::BTreeSet;

use revops::consent::TopicsConfig;
use revops::problem::{FieldError, Problem};
use revops::time::rfc3339;
use revops::workflows::activity;
use revops::workflows::doc::{Action, Workflow};
use revops::workflows::run::{self, Enrol, Published};
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::engine::{self, Incoming, Report};
use crate::store::{self, WorkflowRow};
use crate::{facts, list_store};
use platform::versions::{only_keys, reason_of};
use platform::{db, http, settings, Cx, Error, Result};

const MAX_BODY: usize = 256 * 1024;

fn invalid(errors: Vec<FieldError>) -> Error {
    Error::Problem(Problem::validation(errors))
}

/// Parses `body.workflow` and checks that the lists its steps name exist and are static.
async fn checked_workflow(cx: &Cx, body: &Value) -> Result<(Workflow, Value)> {
    let doc = body.get("workflow").cloned().unwrap_or(Value::Null);
    let wf = Workflow::parse(&doc).map_err(invalid)?;
    let mut named: Vec<(usize, String)> = Vec::new();
    for (i, s) in wf.steps.iter().enumerate() {
        if let Action::AddToList(l) | Action::RemoveFromList(l) = &s.action {
            named.push((i, l.clone()));
        }
    }
    if !named.is_empty() {
        let ids: Vec<String> = named
            .iter()
            .map(|(_, l)| l.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let lists = list_store::kinds(cx, &ids).await?;
        let mut errors = Vec::new();
        for (i, l) in &named {
            match lists.iter().find(|r| &r.id == l) {
                None => errors.push(FieldError::new(format!("workflow.steps[{i}].list"), format!("no list has the id {l}"))),
                Some(r) if r.kind != "static" => errors.push(FieldError::new(
                    format!("workflow.steps[{i}].list"),
                    format!("{l} is a dynamic list: its members follow its condition, so steps cannot add or remove them"),
                )),
                Some(_) => {}
            }
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
    }
    Ok((wf, doc))
}

fn workflow_id_of(body: &Value) -> Result<Option<String>> {
    match body.get("id") {
        None => Ok(None),
        Some(Value::String(id)) if revops::ids::is_id(revops::ids::prefix::WORKFLOW, id) => Ok(Some(id.clone())),
        Some(_) => Err(invalid(vec![FieldError::new("id", "give the id of the workflow to publish a new version of (wf_…), or leave it out for a new workflow")])),
    }
}

/// `POST /v1/admin/workflows` `{"workflow": {...}, "reason": "...", "id"?: "wf_…"}`: a new
/// workflow (version 1), or a new version of workflow `id`. Enrolments under way finish on the
/// version they started on.
pub async fn publish(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: Value = http::json_body(&mut req, MAX_BODY).await?;
    only_keys(&body, &["workflow", "reason", "id"])?;
    let id = workflow_id_of(&body)?;
    let reason = reason_of(&body)?;
    let (wf, doc) = checked_workflow(cx, &body).await?;
    let (id, created, state) = match id {
        Some(id) => match store::get(cx, &id).await? {
            None => return Err(Error::Problem(Problem::not_found(format!("workflow {id}")))),
            // A new version does not resume a paused workflow.
            Some(row) => (id, false, row.state),
        },
        None => (
            cx.new_id(revops::ids::prefix::WORKFLOW),
            true,
            "active".to_string(),
        ),
    };
    let trigger = wf.trigger.event.as_str();
    let what = format!("publishing workflow {id}");
    let version = platform::retry::optimistic(platform::retry::contended(what), async |_| {
        let version = store::next_version(cx, &id).await?;
        let stamp = format!("\u{0}{}", cx.new_id("pub"));
        let stmts =
            store::publish_statements(cx, &id, version, &wf.name, trigger, &doc, &reason, &stamp)?;
        let changes = cx.db.batch(stmts).await?;
        Ok(if changes.first() == Some(&1) {
            platform::retry::Attempt::Done(version)
        } else {
            platform::retry::Attempt::Again
        })
    })
    .await?;
    cx.log(
        revops::logging::Level::Info,
        "workflow.published",
        json!({ "workflow_id": id, "version": version, "by": cx.actor() }),
    );
    http::json(
        if created { 201 } else { 200 },
        &json!({
            "id": id,
            "version": version,
            "name": wf.name,
            "trigger": trigger,
            "state": state,
            "published_at": rfc3339(cx.now_ms),
            "published_by": cx.actor(),
            "reason": reason,
        }),
    )
}

/// Since when the activity figures count.
fn window_start(cx: &Cx) -> i64 {
    cx.now_ms - activity::WINDOW_DAYS * 86_400_000
}

/// `GET /v1/admin/workflows`: each with its activity over the last days.
pub async fn list(cx: &Cx) -> Result<Response> {
    let (rows, all) = store::all(cx, window_start(cx)).await?;
    let view: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = r.view();
            v["activity"] = json!(activity::of(&all, &r.id));
            v
        })
        .collect();
    http::json(200, &json!({ "workflows": view }))
}

async fn existing(cx: &Cx) -> Result<WorkflowRow> {
    let id = cx.param("workflow_id");
    if !revops::ids::is_id(revops::ids::prefix::WORKFLOW, id) {
        return Err(workflow_not_found(id));
    }
    store::get(cx, id)
        .await?
        .ok_or_else(|| workflow_not_found(id))
}

fn workflow_not_found(id: &str) -> Error {
    Error::Problem(Problem::not_found(format!("workflow {id}")))
}

/// `GET /v1/admin/workflows/{id}`: the active version, every version and the history, its
/// activity over the last days, the enrolments waiting on a step and its latest failed steps.
pub async fn get(cx: &Cx) -> Result<Response> {
    let id = cx.param("workflow_id");
    if !revops::ids::is_id(revops::ids::prefix::WORKFLOW, id) {
        return Err(workflow_not_found(id));
    }
    let d = store::detail(cx, id, window_start(cx))
        .await?
        .ok_or_else(|| workflow_not_found(id))?;
    let mut view = d.row.view();
    view["versions"] = d
        .versions
        .iter()
        .map(|v| {
            let mut out = v.view(false);
            out["active"] = json!(v.version == d.row.version);
            out
        })
        .collect();
    view["history"] = d.changes.iter().map(store::ChangeRow::view).collect();
    view["activity"] = json!(d.activity);
    view["in_progress"] = json!(d.in_progress);
    view["recent_failures"] = d.failures.iter().map(store::FailureRow::view).collect();
    http::json(200, &view)
}

/// `GET /v1/admin/workflows/{id}/versions/{version}`.
pub async fn version(cx: &Cx) -> Result<Response> {
    let row = existing(cx).await?;
    let v = cx.param("version");
    let not_found = || {
        Error::Problem(Problem::not_found(format!(
            "version {v} of workflow {}",
            row.id
        )))
    };
    let n: i64 = v.parse().ok().filter(|n| *n >= 1).ok_or_else(not_found)?;
    let found = store::version(cx, &row.id, n)
        .await?
        .ok_or_else(not_found)?;
    http::json(200, &found.view(true))
}

/// `POST /v1/admin/workflows/{id}/rollback` `{"version": n, "reason": "..."}`.
pub async fn rollback(cx: &Cx, mut req: Request) -> Result<Response> {
    let row = existing(cx).await?;
    let body: Value = http::json_body(&mut req, 16 * 1024).await?;
    only_keys(&body, &["version", "reason"])?;
    let reason = reason_of(&body)?;
    let n = body["version"]
        .as_i64()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            invalid(vec![FieldError::new(
                "version",
                "give the version number to make active",
            )])
        })?;
    let found = store::version(cx, &row.id, n).await?.ok_or_else(|| {
        Error::Problem(Problem::not_found(format!(
            "version {n} of workflow {}",
            row.id
        )))
    })?;
    let doc: Value = serde_json::from_str(&found.document)?;
    let wf = Workflow::parse(&doc).map_err(invalid)?;
    cx.db
        .batch(vec![
            store::rollback_statement(cx, &row.id, n, &wf.name, wf.trigger.event.as_str())?,
            store::change_statement(cx, &row.id, "rollback", n, &reason, None)?,
        ])
        .await?;
    http::json(
        200,
        &json!({ "id": row.id, "version": n, "reason": reason }),
    )
}

/// `POST /v1/admin/workflows/{id}/pause` `{"reason": "..."}`: nothing runs while paused (new
/// events are recorded as not enrolled, waiting steps are held).
pub async fn pause(cx: &Cx, mut req: Request) -> Result<Response> {
    let row = existing(cx).await?;
    let body: Value = http::json_body(&mut req, 16 * 1024).await?;
    only_keys(&body, &["reason"])?;
    let reason = reason_of(&body)?;
    if row.state == "paused" {
        return Err(Error::Problem(Problem::new(
            revops::problem::ProblemKind::Conflict,
            format!("workflow {} is already paused", row.id),
        )));
    }
    let mut stmts = store::hold_statements(cx, &row.id, true)?;
    stmts.push(store::change_statement(
        cx,
        &row.id,
        "pause",
        row.version,
        &reason,
        None,
    )?);
    cx.db.batch(stmts).await?;
    http::json(
        200,
        &json!({ "id": row.id, "state": "paused", "paused_at": rfc3339(cx.now_ms), "reason": reason }),
    )
}

/// `POST /v1/admin/workflows/{id}/resume` `{"reason": "...", "catch_up": false}`: held steps
/// resume; events that came while paused enrol only with `catch_up: true`.
pub async fn resume(cx: &Cx, mut req: Request) -> Result<Response> {
    let row = existing(cx).await?;
    let body: Value = http::json_body(&mut req, 16 * 1024).await?;
    only_keys(&body, &["reason", "catch_up"])?;
    let reason = reason_of(&body)?;
    let catch_up = match body.get("catch_up") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(vec![FieldError::new(
                "catch_up",
                "give true or false",
            )]))
        }
    };
    if row.state != "paused" {
        return Err(Error::Problem(Problem::new(
            revops::problem::ProblemKind::Conflict,
            format!("workflow {} is not paused", row.id),
        )));
    }
    let mut stmts = store::hold_statements(cx, &row.id, false)?;
    stmts.push(store::change_statement(
        cx,
        &row.id,
        "resume",
        row.version,
        &reason,
        None,
    )?);
    cx.db.batch(stmts).await?;
    let mut report = Report::default();
    let mut more = false;
    if catch_up {
        // The events refused while it was paused (whenever they happened), a page at a time.
        let since = row.paused_at.unwrap_or(cx.now_ms);
        let mut after = (i64::MIN, String::new());
        for _ in 0..CATCH_UP_PAGES {
            let rows =
                store::paused_refusals(cx, &row.id, since, (after.0, &after.1), CATCH_UP_PAGE)
                    .await?;
            let Some(last) = rows.last() else { break };
            after = (last.at, last.id.clone());
            more = rows.len() == CATCH_UP_PAGE;
            let incoming: Vec<Incoming> = rows
                .iter()
                .filter_map(|r| r.event())
                .map(|event| Incoming { event, done: None })
                .collect();
            engine::take_events(cx, incoming, Some(&row.id), cx.now_ms, &mut report).await?;
            if !more {
                break;
            }
        }
    }
    http::json(
        200,
        &json!({ "id": row.id, "state": "active", "reason": reason,
                 "caught_up": { "events": report.events, "enrolled": report.enrolled, "not_enrolled": report.refused, "more": more } }),
    )
}

/// Events a catch-up takes per page, and pages per request (`caught_up.more`: there are more;
/// pause and resume with catch_up again to take them).
const CATCH_UP_PAGE: usize = 250;
const CATCH_UP_PAGES: usize = 40;

/// Most recorded events a dry run replays.
const DRY_RUN_EVENTS: usize = 2000;

/// `POST /v1/admin/workflows/dry-run` `{"workflow": {...}, "days": 30, "id"?: "wf_…"}`: which
/// leads the candidate would have enrolled over the last `days` days of recorded events, the
/// steps each would take and what it would request — with no side effects. Leads are judged
/// as they are now.
pub async fn dry_run(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: Value = http::json_body(&mut req, MAX_BODY).await?;
    only_keys(&body, &["workflow", "days", "id"])?;
    let days = match body.get("days") {
        None => 30,
        Some(d) => d.as_i64().filter(|d| (1..=90).contains(d)).ok_or_else(|| {
            invalid(vec![FieldError::new(
                "days",
                "give whole days from 1 to 90 (events are kept 90 days)",
            )])
        })?,
    };
    let id = workflow_id_of(&body)?;
    let (wf, _) = checked_workflow(cx, &body).await?;
    let since = cx.now_ms - days * 86_400_000;
    let rows = store::events_since(cx, wf.trigger.event.as_str(), since, DRY_RUN_EVENTS).await?;
    let events: Vec<_> = rows.iter().filter_map(|r| r.event()).collect();
    let leads: Vec<String> = events
        .iter()
        .map(|e| e.lead_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let states = facts::load(cx, &leads).await?;
    let mut enrolled = revops::Map::default();
    if let Some(id) = &id {
        for l in store::enrolled_at(cx, id).await? {
            enrolled.insert(l.lead_id, l.at);
        }
    }
    let endpoints = platform::outbox::active_endpoints(cx).await?;
    let topics: TopicsConfig = settings::load(cx, settings::CONSENT_TOPICS).await?;
    let replay: Vec<_> = events
        .into_iter()
        .filter_map(|e| states.get(&e.lead_id).cloned().map(|s| (e, s)))
        .collect();
    let candidate = Published {
        id: id.as_deref().unwrap_or("dry-run"),
        version: 0,
        doc: &wf,
    };
    let runs = run::dry_run(&candidate, &replay, &enrolled, &topics, &endpoints);
    let shown: Vec<Value> = runs
        .iter()
        .take(200)
        .map(|r| {
            json!({
                "lead_id": r.lead_id,
                "event_id": r.event_id,
                "at": rfc3339(r.at),
                "enrols": r.decision == Enrol::Yes,
                "reason": match &r.decision { Enrol::Yes => Value::Null, Enrol::No(why) => json!(why) },
                "steps": r.steps.iter().map(|s| json!({ "id": s.step_id, "action": s.action, "outcome": s.outcome.as_str(), "reason": s.reason })).collect::<Vec<_>>(),
            })
        })
        .collect();
    http::json(
        200,
        &json!({
            "days": days,
            "from": rfc3339(since),
            "to": rfc3339(cx.now_ms),
            "events_replayed": replay.len(),
            "truncated": rows.len() == DRY_RUN_EVENTS,
            "totals": run::rehearsal_totals(&runs),
            "leads": shown,
            "note": "Each lead is judged as it is now; nothing was stored, sent or changed.",
        }),
    )
}

/// `GET /v1/leads/{id}/workflows`: every enrolment (and every time the lead was not enrolled,
/// with why), each step taken, skipped or failed with its reason, and the lead's lists with
/// when and why it joined or left them.
pub async fn lead(cx: &Cx) -> Result<Response> {
    let id = cx.param("lead_id");
    let not_found = || Error::Problem(Problem::not_found(format!("lead {id}")));
    if !revops::ids::is_id(revops::ids::prefix::LEAD, id) {
        return Err(not_found());
    }
    let mut reads = vec![cx
        .db
        .stmt("SELECT id FROM leads WHERE id = ?", platform::args![id])?];
    reads.extend(store::lead_statements(cx, id)?);
    reads.push(list_store::lead_changes_statement(cx, id)?);
    reads.push(cx.db.stmt(
        "SELECT m.list_id AS list_id, l.name AS name, m.joined_at AS joined_at, m.cause AS cause FROM list_members m JOIN lists l ON l.id = m.list_id WHERE m.lead_id = ? ORDER BY m.joined_at",
        platform::args![id],
    )?);
    let mut r = cx.db.read_batch(reads).await?.into_iter();
    if r.next().unwrap_or_default().is_empty() {
        return Err(not_found());
    }
    let enrolments =
        db::rows::<store::EnrolmentRow>("workflow_enrolments", r.next().unwrap_or_default())?;
    let steps = db::rows::<store::StepRow>("workflow_steps", r.next().unwrap_or_default())?;
    let changes = db::rows::<list_store::ChangeRow>("list_changes", r.next().unwrap_or_default())?;
    #[derive(serde::Deserialize)]
    struct Membership {
        list_id: String,
        name: String,
        joined_at: i64,
        cause: String,
    }
    let members = db::rows::<Membership>("list_members", r.next().unwrap_or_default())?;
    let view: Vec<Value> = enrolments
        .iter()
        .map(|e| {
            let cause: Value = serde_json::from_str(&e.cause).unwrap_or(Value::Null);
            json!({
                "id": e.id,
                "workflow_id": e.workflow_id,
                "workflow": e.name,
                "version": e.version,
                "event_id": e.event_id,
                "state": e.state,
                "reason": e.reason,
                "caused_by": cause.get("chain").cloned().unwrap_or(json!([])),
                "started_at": rfc3339(e.started_at),
                "ended_at": e.ended_at.map(rfc3339),
                "next_step": e.next_step,
                "next_due_at": e.due_at.map(rfc3339),
                "steps": steps.iter().filter(|s| s.enrolment_id == e.id).map(|s| json!({
                    "id": s.step_id, "action": s.action, "outcome": s.outcome, "reason": s.reason,
                    "detail": s.detail.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()),
                    "at": rfc3339(s.at),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    http::json(
        200,
        &json!({
            "lead_id": id,
            "enrolments": view,
            "lists": members.iter().map(|m| json!({ "id": m.list_id, "name": m.name, "joined_at": rfc3339(m.joined_at), "cause": m.cause })).collect::<Vec<_>>(),
            "list_history": changes.iter().map(|c| json!({ "list_id": c.list_id, "name": c.name, "change": c.change, "at": rfc3339(c.at), "cause": c.cause })).collect::<Vec<_>>(),
        }),
    )
}
