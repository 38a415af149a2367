//! The cron's work: take the events the handlers announced (and the date triggers whose day
//! came), enrol leads, then run the steps that are due.
//!
//! Exactly once, by construction:
//! - an event is one row (its id is the change's), and an enrolment is unique per workflow,
//!   lead and enrolment key (`once`, or the event's id), so an event delivered twice, or taken
//!   by two overlapping ticks, enrols once;
//! - a step is taken by inserting its record only while the enrolment still waits at that step
//!   (the SLA ladder's guarded insert); every effect of the pass, and the enrolment's advance,
//!   is guarded on that record in the same D1 batch. Two ticks racing, or a tick that dies and is
//!   followed by another, cannot take a step twice; a change to another handler's data (a lead
//!   field, an activity, a task) goes through the retry queue, keyed by the step, and the owner
//!   applies it idempotently.

use std::collections::{BTreeMap, BTreeSet};

use revops::consent::TopicsConfig;
use revops::routes::{Method, Service};
use revops::workflows::doc::{Enrolment, Workflow};
use revops::workflows::events::{Cause, Event, EventType};
use revops::workflows::lists::{self as domain_lists, Kind, ListDef};
use revops::workflows::run::{self, Effect, Enrol, LeadChange, LeadState, Published, Scene};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use crate::store::{self, DueRow, TAKEN};
use crate::{facts, list_store};
use platform::events::{ACCOUNTS_JOB, EVENT_JOB};
use platform::{args, db, jobs, outbox, settings, Cx, Result};

/// A change to a lead (a field, an activity) waiting for (or retrying) its call to intake.
pub const LEAD_CHANGE_JOB: &str = "workflows.lead_change";
/// A task waiting for (or retrying) its call to the SLA handler.
pub const TASK_JOB: &str = "workflows.task";
/// Events one tick takes.
const EVENT_BATCH: usize = 200;
/// Due steps one tick takes.
pub const DUE_BATCH: usize = 1000;
/// Statements one D1 write batch holds at most (whole events and whole passes only; one pass
/// of a long workflow may exceed it alone).
const MAX_BATCH_STATEMENTS: usize = 200;
/// Events kept for dry runs and catch-up.
pub const KEEP_EVENTS_MS: i64 = 90 * 86_400_000;
/// Leads a new dynamic list is filled with per tick.
const FILL_BATCH: usize = 200;

#[derive(Debug, Default)]
pub struct Report {
    pub events: usize,
    pub enrolled: usize,
    pub refused: usize,
    pub steps: usize,
    pub ended: usize,
    pub list_changes: usize,
    pub d1_batches: usize,
}

#[derive(Deserialize)]
struct FillRow {
    id: String,
    condition: Option<String>,
    backfill: Option<String>,
}

/// One tick: the quiet case costs one read (events, date triggers, due steps, lists being
/// filled and a change of accounts, together).
pub async fn tick(cx: &Cx, now: i64) -> Result<Report> {
    let mut r = cx
        .db
        .read_batch(vec![
            jobs::due_statement(&cx.db, EVENT_JOB, now, EVENT_BATCH)?,
            store::due_timers_statement(cx, now, EVENT_BATCH)?,
            store::due_statement(cx, now, DUE_BATCH)?,
            cx.db.stmt(
                "SELECT id, condition, backfill FROM lists WHERE kind = 'dynamic' AND backfill IS NOT NULL LIMIT 1",
                args![],
            )?,
            jobs::due_statement(&cx.db, ACCOUNTS_JOB, now, 1)?,
        ])
        .await?
        .into_iter();
    let jobs_due = db::rows::<jobs::Job>("jobs", r.next().unwrap_or_default())?;
    let timers = db::rows::<store::TimerRow>("workflow_timers", r.next().unwrap_or_default())?;
    let due = db::rows::<DueRow>("workflow_due", r.next().unwrap_or_default())?;
    let filling = db::rows::<FillRow>("lists", r.next().unwrap_or_default())?;
    let accounts = db::rows::<jobs::Job>("jobs", r.next().unwrap_or_default())?;
    let mut report = Report::default();
    if !accounts.is_empty() {
        refill_after_accounts_changed(cx, accounts, now).await?;
    }
    let incoming = claim(cx, jobs_due, timers, now).await?;
    if !incoming.is_empty() {
        take_events(cx, incoming, None, now, &mut report).await?;
    }
    // Steps due now, the first steps of enrolments just made among them.
    let mut due = due;
    if report.enrolled > 0 {
        due = db::rows::<DueRow>(
            "workflow_due",
            cx.db
                .read_batch(vec![store::due_statement(cx, now, DUE_BATCH)?])
                .await?
                .remove(0),
        )?;
    }
    if !due.is_empty() {
        run_steps(cx, due, now, &mut report).await?;
    }
    if let Some(list) = filling.into_iter().next() {
        fill(cx, &list, &mut report).await?;
    }
    jobs::run_due(cx, LEAD_CHANGE_JOB, now, 20, |job| {
        apply_lead_change(cx, job.payload)
    })
    .await?;
    jobs::run_due(cx, TASK_JOB, now, 20, |job| create_task(cx, job.payload)).await?;
    cx.db
        .batch(store::prune_statements(cx, now - KEEP_EVENTS_MS)?)
        .await?;
    Ok(report)
}

/// An event to take, and the statement that marks it taken (its job's deletion, its timer's).
pub struct Incoming {
    pub event: Event,
    pub done: Option<D1PreparedStatement>,
}

/// Claims the due event jobs (overlapping ticks never take one twice at once; one that failed
/// every attempt is parked as dead: listed, reported by /health, retryable by hand) and turns
/// the due date timers into events.
async fn claim(
    cx: &Cx,
    jobs_due: Vec<jobs::Job>,
    timers: Vec<store::TimerRow>,
    now: i64,
) -> Result<Vec<Incoming>> {
    let mut out = Vec::new();
    for j in jobs::claim_all(&cx.db, jobs_due, now).await? {
        match serde_json::from_str::<Event>(&j.payload) {
            Ok(event) => out.push(Incoming {
                event,
                done: Some(jobs::done_statement(&cx.db, &j.id)?),
            }),
            Err(e) => {
                // Not an event this handler can read (written by a newer version?): kept, dead.
                cx.log(
                    revops::logging::Level::Warn,
                    "workflows.event_unreadable",
                    json!({ "job": j.id, "error": e.to_string() }),
                );
                jobs::park(&cx.db, &j.id, &e.to_string(), now).await?;
            }
        }
    }
    for t in timers {
        let event = Event::new(
            EventType::DateReached,
            &format!("{}:{}:{}", t.workflow_id, t.lead_id, t.value),
            &t.lead_id,
            t.fire_at,
            json!({ "field": date_trigger_field(&t), "date": t.value, "workflow_id": t.workflow_id }),
        );
        out.push(Incoming {
            event,
            done: Some(store::fired_timer_statement(cx, &t)?),
        });
    }
    out.sort_by_key(|i| i.event.at);
    Ok(out)
}

fn date_trigger_field(t: &store::TimerRow) -> Value {
    // The timer's value is `<field>=<date>`.
    t.value
        .split_once('=')
        .map_or(Value::Null, |(f, _)| json!(f))
}

/// A workflow as stored, parsed once per tick.
pub struct Loaded {
    pub row: store::WorkflowRow,
    pub doc: Workflow,
}

fn parse_workflows(rows: Vec<store::WorkflowRow>) -> Vec<Loaded> {
    rows.into_iter()
        .filter_map(|row| {
            let doc = serde_json::from_str::<Value>(&row.document)
                .ok()
                .and_then(|v| Workflow::parse(&v).ok())?;
            Some(Loaded { row, doc })
        })
        .collect()
}

/// Enrols (or records why not) each event's lead in each workflow its event triggers, keeps
/// date timers and dynamic lists current for the leads, and marks the events taken — each
/// event's statements in one atomic batch with its mark. `only` limits this to one workflow (a
/// catch-up after a pause).
pub async fn take_events(
    cx: &Cx,
    incoming: Vec<Incoming>,
    only: Option<&str>,
    now: i64,
    report: &mut Report,
) -> Result<()> {
    let mut incoming = incoming;
    resolve_leads(cx, &mut incoming).await?;
    let leads: Vec<String> = incoming
        .iter()
        .map(|i| i.event.lead_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut types: BTreeSet<&str> = incoming.iter().map(|i| i.event.kind.as_str()).collect();
    if types.contains(EventType::FieldChanged.as_str())
        || types.contains(EventType::LeadCreated.as_str())
    {
        types.insert(EventType::DateReached.as_str());
    }
    let types: Vec<&str> = types.into_iter().collect();
    let mut reads = store::triggered_by(cx, &types)?;
    let n_workflows = reads.len();
    let last_reads = store::last_enrolled_statements(cx, &leads)?;
    let n_last = last_reads.len();
    reads.extend(last_reads);
    reads.extend(facts::statements(cx, &leads)?);
    reads.push(list_store::dynamic_statement(cx)?);
    let mut r = cx.db.read_batch(reads).await?.into_iter();
    let mut rows = Vec::new();
    for _ in 0..n_workflows {
        rows.extend(db::rows::<store::WorkflowRow>(
            "workflows",
            r.next().unwrap_or_default(),
        )?);
    }
    let workflows: Vec<Loaded> = parse_workflows(rows)
        .into_iter()
        .filter(|w| only.is_none_or(|o| o == w.row.id))
        .collect();
    let mut last: BTreeMap<(String, String), i64> = BTreeMap::new();
    for _ in 0..n_last {
        for l in
            db::rows::<store::LastEnrolled>("workflow_enrolments", r.next().unwrap_or_default())?
        {
            last.insert((l.workflow_id, l.lead_id), l.at);
        }
    }
    let states = facts::parse(&mut r, &leads)?;
    let dynamic = dynamic_lists(db::rows::<list_store::ListRow>(
        "lists",
        r.next().unwrap_or_default(),
    )?);

    let mut pending: Vec<D1PreparedStatement> = Vec::new();
    let mut seen_leads = BTreeSet::new();
    for Incoming { event, done } in incoming {
        report.events += 1;
        let mut stmts = vec![store::event_statement(cx, &event)?];
        if let Some(lead) = states.get(&event.lead_id) {
            for w in &workflows {
                stmts.extend(decide(cx, w, &event, lead, &mut last, now, report)?);
            }
            if only.is_none() {
                stmts.extend(date_timers(cx, &workflows, &event, lead, now)?);
            }
            if only.is_none() && seen_leads.insert(event.lead_id.clone()) {
                stmts.extend(reconcile_lists(cx, &dynamic, lead, report)?);
            }
        }
        stmts.extend(done);
        // Each event's statements commit together with its mark; a batch holds whole events, as
        // many as fit a bounded number of statements.
        if !pending.is_empty() && pending.len() + stmts.len() > MAX_BATCH_STATEMENTS {
            cx.db.batch(std::mem::take(&mut pending)).await?;
            report.d1_batches += 1;
        }
        pending.extend(stmts);
    }
    if !pending.is_empty() {
        cx.db.batch(pending).await?;
        report.d1_batches += 1;
    }
    Ok(())
}

/// The consent ledger names people by address: its events get their lead here (one read, only
/// when there are such events).
async fn resolve_leads(cx: &Cx, incoming: &mut [Incoming]) -> Result<()> {
    let email = |e: &Event| {
        e.data
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let emails: Vec<String> = incoming
        .iter()
        .filter(|i| i.event.lead_id.is_empty())
        .filter_map(|i| email(&i.event))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if emails.is_empty() {
        return Ok(());
    }
    let found = list_store::leads_by_email(cx, &emails).await?;
    for i in incoming.iter_mut().filter(|i| i.event.lead_id.is_empty()) {
        if let Some(e) = email(&i.event) {
            if let Some((_, id)) = found.iter().find(|(m, _)| *m == e) {
                i.event.lead_id = id.clone();
            }
        }
    }
    Ok(())
}

/// One workflow's decision about one event's lead, as statements.
fn decide(
    cx: &Cx,
    w: &Loaded,
    event: &Event,
    lead: &LeadState,
    last: &mut BTreeMap<(String, String), i64>,
    now: i64,
    report: &mut Report,
) -> Result<Vec<D1PreparedStatement>> {
    if w.row.trigger_event != event.kind.as_str() {
        return Ok(Vec::new());
    }
    // A date trigger's timer names its workflow.
    if event.kind == EventType::DateReached
        && event.data.get("workflow_id").and_then(Value::as_str) != Some(w.row.id.as_str())
    {
        return Ok(Vec::new());
    }
    let published = Published {
        id: &w.row.id,
        version: w.row.version,
        doc: &w.doc,
    };
    let key = (w.row.id.clone(), event.lead_id.clone());
    let decision = if w.row.state == "paused" {
        if !w.doc.trigger.matches(event) {
            return Ok(Vec::new());
        }
        Enrol::No(store::PAUSED.into())
    } else {
        match run::enrol(&published, event, lead, last.get(&key).copied()) {
            Some(d) => d,
            None => return Ok(Vec::new()),
        }
    };
    let id = cx.new_id(revops::ids::prefix::ENROLMENT);
    match decision {
        Enrol::Yes => {
            report.enrolled += 1;
            // When the event happened, as the once / again-after rule compares it.
            last.insert(key, event.at.max(0));
            let enrol_key = match w.doc.enrolment {
                Enrolment::Once => "once".to_string(),
                Enrolment::AgainAfter(_) => event.id.clone(),
            };
            store::decision_statements(
                cx,
                &id,
                &w.row.id,
                w.row.version,
                event,
                Some(&enrol_key),
                None,
                now,
            )
        }
        Enrol::No(reason) => {
            report.refused += 1;
            store::decision_statements(
                cx,
                &id,
                &w.row.id,
                w.row.version,
                event,
                None,
                Some(&reason),
                now,
            )
        }
    }
}

/// Date triggers: when a lead is created, or a date field a `date.reached` trigger watches
/// changes, the timer for the date it now holds (plus the trigger's offset) while that is in the
/// future, and none otherwise.
fn date_timers(
    cx: &Cx,
    workflows: &[Loaded],
    event: &Event,
    lead: &LeadState,
    now: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let changed = match event.kind {
        EventType::FieldChanged => event.data.get("field").and_then(Value::as_str),
        EventType::LeadCreated => None,
        _ => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    for w in workflows {
        let t = &w.doc.trigger;
        let Some(field) = t
            .field
            .as_deref()
            .filter(|_| t.event == EventType::DateReached)
        else {
            continue;
        };
        if changed.is_some_and(|c| c != field) {
            continue;
        }
        let date = run::date_field(&lead.lead, field);
        if changed.is_none() && date.is_none() {
            continue;
        }
        let value = format!(
            "{field}={}",
            date.map(revops::time::rfc3339).unwrap_or_default()
        );
        let fire = date.map(|d| d + t.offset_ms).filter(|f| *f > now);
        out.push(store::timer_statement(
            cx,
            &w.row.id,
            &lead.lead.id,
            fire.map(|f| (f, value.as_str())),
        )?);
    }
    Ok(out)
}

/// The dynamic lists, parsed.
fn dynamic_lists(
    rows: Vec<list_store::ListRow>,
) -> Vec<(String, revops::scoring::condition::Condition)> {
    rows.into_iter()
        .filter_map(|l| {
            let when: Value = serde_json::from_str(l.condition.as_deref()?).ok()?;
            let def =
                ListDef::parse(&json!({ "name": l.name, "kind": "dynamic", "when": when })).ok()?;
            match def.kind {
                Kind::Dynamic(c) => Some((l.id, c)),
                Kind::Static => None,
            }
        })
        .collect()
}

/// Joins or leaves the dynamic lists whose condition the lead now meets or no longer meets.
fn reconcile_lists(
    cx: &Cx,
    dynamic: &[(String, revops::scoring::condition::Condition)],
    lead: &LeadState,
    report: &mut Report,
) -> Result<Vec<D1PreparedStatement>> {
    let mut out = Vec::new();
    for (id, condition) in dynamic {
        let member = lead.lists.contains(id);
        match domain_lists::reconcile(condition, lead, member) {
            Some(domain_lists::Change::Join) => {
                report.list_changes += 1;
                out.extend(list_store::join_statements(
                    cx,
                    id,
                    &lead.lead.id,
                    "condition",
                    ("1", Vec::new()),
                )?);
            }
            Some(domain_lists::Change::Leave) => {
                report.list_changes += 1;
                out.extend(list_store::leave_statements(
                    cx,
                    id,
                    &lead.lead.id,
                    "condition",
                    ("1", Vec::new()),
                )?);
            }
            None => {}
        }
    }
    Ok(out)
}

/// The CRM's accounts changed (routing said so): every dynamic list whose condition reads the
/// existing-customer fact is judged again for every lead, from the first, by the same filling
/// that fills a new list — members who stopped meeting it leave, leads who started join.
async fn refill_after_accounts_changed(cx: &Cx, due: Vec<jobs::Job>, now: i64) -> Result<()> {
    let claimed = jobs::claim_all(&cx.db, due, now).await?;
    if claimed.is_empty() {
        return Ok(());
    }
    let rows = db::rows::<list_store::ListRow>(
        "lists",
        cx.db
            .read_batch(vec![list_store::dynamic_statement(cx)?])
            .await?
            .remove(0),
    )?;
    let mut stmts = Vec::new();
    for (id, condition) in dynamic_lists(rows) {
        if condition.reads_accounts() {
            stmts.push(list_store::backfill_statement(cx, &id, Some(""))?);
        }
    }
    for j in &claimed {
        stmts.push(jobs::done_statement(&cx.db, &j.id)?);
    }
    cx.db.batch(stmts).await?;
    Ok(())
}

/// Fills a new dynamic list (or one judged again), a page of leads per tick.
async fn fill(cx: &Cx, list: &FillRow, report: &mut Report) -> Result<()> {
    let after = list.backfill.clone().unwrap_or_default();
    let leads = list_store::leads_after(cx, &after, FILL_BATCH).await?;
    let dynamic = dynamic_lists(vec![list_store::ListRow {
        id: list.id.clone(),
        name: "filling".into(),
        kind: "dynamic".into(),
        condition: list.condition.clone(),
        backfill: None,
        created_at: 0,
        created_by: String::new(),
        members: None,
    }]);
    let states = facts::load(cx, &leads).await?;
    let mut stmts = Vec::new();
    for lead in states.values() {
        stmts.extend(reconcile_lists(cx, &dynamic, lead, report)?);
    }
    let cursor = (leads.len() == FILL_BATCH)
        .then(|| leads.last().cloned())
        .flatten();
    stmts.push(list_store::backfill_statement(
        cx,
        &list.id,
        cursor.as_deref(),
    )?);
    cx.db.batch(stmts).await?;
    report.d1_batches += 1;
    Ok(())
}

/// Runs the due steps: one read for the versions they are pinned to, their leads and the
/// endpoints, then each enrolment's pass, whole passes per atomic batch.
async fn run_steps(cx: &Cx, due: Vec<DueRow>, now: i64, report: &mut Report) -> Result<()> {
    let pairs: Vec<(String, i64)> = due
        .iter()
        .map(|d| (d.workflow_id.clone(), d.version))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let leads: Vec<String> = due
        .iter()
        .map(|d| d.lead_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut reads = vec![outbox::active_endpoints_statement(cx)?];
    let mut doc_reads = 0;
    for chunk in pairs.chunks(45) {
        if let Some(s) = store::documents_statement(cx, chunk)? {
            reads.push(s);
            doc_reads += 1;
        }
    }
    reads.extend(facts::statements(cx, &leads)?);
    let mut r = cx.db.read_batch(reads).await?.into_iter();
    let endpoints: Vec<String> =
        db::rows::<outbox::EndpointId>("webhook_endpoints", r.next().unwrap_or_default())?
            .into_iter()
            .map(|e| e.id)
            .collect();
    let mut docs: BTreeMap<(String, i64), (String, Workflow)> = BTreeMap::new();
    for _ in 0..doc_reads {
        for d in db::rows::<store::DocumentRow>("workflow_versions", r.next().unwrap_or_default())?
        {
            if let Some(doc) = serde_json::from_str::<Value>(&d.document)
                .ok()
                .and_then(|v| Workflow::parse(&v).ok())
            {
                docs.insert((d.workflow_id, d.version), (doc.name.clone(), doc));
            }
        }
    }
    let mut states = facts::parse(&mut r, &leads)?;
    let topics: TopicsConfig = settings::load(cx, settings::CONSENT_TOPICS).await?;

    let mut stmts = Vec::new();
    let mut firsts = Vec::new();
    let mut calls: Vec<Vec<Call>> = Vec::new();
    for d in &due {
        // A batch holds whole passes, as many as fit a bounded number of statements.
        if stmts.len() >= MAX_BATCH_STATEMENTS {
            let batch = (
                std::mem::take(&mut stmts),
                std::mem::take(&mut firsts),
                std::mem::take(&mut calls),
            );
            commit_passes(cx, batch, report).await?;
        }
        let Some((_, doc)) = docs.get(&(d.workflow_id.clone(), d.version)) else {
            // The version it started on no longer reads as a workflow: it cannot go on.
            let why = format!("version {} of the workflow could not be read", d.version);
            stmts.extend(store::end_statements(cx, d, "failed", &why, now)?);
            continue;
        };
        let Some(lead) = states.get_mut(&d.lead_id) else {
            // The lead is gone (erased): nothing more to do for it.
            stmts.push(cx.db.stmt(
                "DELETE FROM workflow_due WHERE enrolment_id = ? AND step = ? AND due_at = ?",
                args![&d.enrolment_id, d.step, d.due_at],
            )?);
            continue;
        };
        let published = Published {
            id: &d.workflow_id,
            version: d.version,
            doc,
        };
        let scene = Scene {
            workflow: &published,
            enrolment_id: &d.enrolment_id,
            topics: &topics,
            endpoints: &endpoints,
            now,
        };
        // The pass runs on a copy: one that cannot get its email's unsubscribe link is
        // left for the next tick, and must not have changed the lead for the next pass.
        let mut working = lead.clone();
        let pass = run::advance(&scene, &mut working, d.step as usize);
        if pass.steps.is_empty() {
            // Nothing after its last wait: the enrolment is done.
            stmts.extend(store::end_statements(
                cx,
                d,
                "done",
                "every step is done",
                now,
            )?);
            report.ended += 1;
            continue;
        }
        let Some(links) = unsubscribe_links(cx, &working, &pass).await else {
            // Tried again in five minutes, so one lead never holds up the steps due after it.
            stmts.push(store::postpone_statement(cx, d, now + 5 * 60_000)?);
            continue;
        };
        *lead = working;
        let cause: Cause = serde_json::from_str(&d.cause).unwrap_or_default();
        let next_cause = cause.then(&d.workflow_id);
        let token = cx.new_id(revops::ids::prefix::WORKFLOW_STEP);
        firsts.push(stmts.len());
        let mut after = Vec::new();
        for (i, record) in pass.steps.iter().enumerate() {
            let id = if i == 0 {
                token.clone()
            } else {
                cx.new_id(revops::ids::prefix::WORKFLOW_STEP)
            };
            let detail = record.effect.as_ref().map(effect_view);
            stmts.push(store::step_statement(
                cx,
                &id,
                d,
                record,
                detail.as_ref(),
                &token,
                i == 0,
                now,
            )?);
            if let Some(effect) = &record.effect {
                let (more, call) = effect_statements(
                    cx,
                    d,
                    &scene,
                    lead,
                    (effect, links[i].as_ref()),
                    (&record.step_id, &id),
                    &token,
                    &next_cause,
                )?;
                stmts.extend(more);
                after.extend(call);
            }
            report.steps += 1;
        }
        if matches!(pass.next, run::Next::Done { .. }) {
            report.ended += 1;
        }
        stmts.extend(store::advance_statements(cx, d, &pass.next, &token, now)?);
        calls.push(after);
    }
    commit_passes(cx, (stmts, firsts, calls), report).await?;
    outbox::deliver_due(&cx.db, now, 50).await?;
    Ok(())
}

/// Commits a batch of passes, then makes the changes to other handlers' data for the passes this
/// tick won (the retry queue holds each until its owner confirms it). `firsts` holds where each
/// pass's first statement is, `calls` its changes.
async fn commit_passes(
    cx: &Cx,
    (stmts, firsts, calls): (Vec<D1PreparedStatement>, Vec<usize>, Vec<Vec<Call>>),
    report: &mut Report,
) -> Result<()> {
    if stmts.is_empty() {
        return Ok(());
    }
    let changes = cx.db.batch(stmts).await?;
    report.d1_batches += 1;
    for (at, work) in firsts.into_iter().zip(calls) {
        if changes.get(at) != Some(&1) {
            continue;
        }
        for (kind, subject, payload) in work {
            let outcome = match kind {
                LEAD_CHANGE_JOB => apply_lead_change(cx, payload.to_string()).await,
                _ => create_task(cx, payload.to_string()).await,
            };
            match outcome {
                Ok(()) => jobs::complete(&cx.db, kind, &subject).await?,
                Err(e) => cx.log(
                    revops::logging::Level::Warn,
                    "workflows.effect_deferred",
                    json!({ "kind": kind, "subject": subject, "error": e.to_string() }),
                ),
            }
        }
    }
    Ok(())
}

/// A change to another handler's data to ask for once a pass has committed: its job's kind,
/// subject and payload.
type Call = (&'static str, String, Value);

/// What a step's effect did, as its record keeps it.
fn effect_view(e: &Effect) -> Value {
    match e {
        Effect::ListAdd(l) => json!({ "list": l }),
        Effect::ListRemove(l) => json!({ "list": l }),
        Effect::Lead(LeadChange::Set { field, value }) => json!({ "field": field, "value": value }),
        Effect::Lead(LeadChange::Clear { field }) => json!({ "field": field }),
        Effect::Lead(LeadChange::Activity { kind, properties }) => {
            json!({ "activity": kind, "properties": properties })
        }
        Effect::Webhook { endpoint, body } => json!({ "endpoint": endpoint, "body": body }),
        Effect::Notify { owner, message } => json!({ "owner": owner, "message": message }),
        Effect::Task {
            assignee, title, ..
        } => json!({ "assignee": assignee, "title": title }),
        Effect::Email { template, topic } => json!({ "template": template, "topic": topic }),
    }
}

/// The statements a step's effect writes, each guarded on the pass's first record, and the
/// call to another handler to make once the batch has committed.
#[allow(clippy::too_many_arguments)]
fn effect_statements(
    cx: &Cx,
    d: &DueRow,
    scene: &Scene,
    lead: &LeadState,
    (effect, unsubscribe): (&Effect, Option<&Value>),
    (step, record): (&str, &str),
    token: &str,
    cause: &Cause,
) -> Result<(Vec<D1PreparedStatement>, Option<Call>)> {
    let guard = || (TAKEN, args![token]);
    // A change another handler makes: its job, keyed by the step and leased to this tick (which
    // asks at once after the batch commits; the cron retries it after the lease), guarded like
    // every effect.
    let ask =
        |kind: &'static str, payload: Value| -> Result<(Vec<D1PreparedStatement>, Option<Call>)> {
            let job = jobs::enqueue_if(
                &cx.db,
                &cx.new_id(revops::ids::prefix::JOB),
                kind,
                record,
                &payload,
                scene.now + revops::jobs::LEASE_MS,
                scene.now,
                guard(),
            )?;
            Ok((vec![job], Some((kind, record.to_string(), payload))))
        };
    let member_cause = format!("workflow:{}:{}", d.workflow_id, d.enrolment_id);
    let about = json!({
        "lead": run::lead_view(&lead.lead, &lead.routing),
        "workflow": { "id": d.workflow_id, "name": scene.workflow.doc.name, "version": d.version },
        "enrolment_id": d.enrolment_id,
        "step": step,
        "step_record": record,
        "explain_url": format!("/v1/leads/{}/workflows", d.lead_id),
    });
    let with = |more: Value| {
        let mut v = about.clone();
        if let (Value::Object(o), Value::Object(m)) = (&mut v, more) {
            o.extend(m);
        }
        v
    };
    Ok(match effect {
        Effect::ListAdd(list) => (
            list_store::join_statements(cx, list, &d.lead_id, &member_cause, guard())?,
            None,
        ),
        Effect::ListRemove(list) => (
            list_store::leave_statements(cx, list, &d.lead_id, &member_cause, guard())?,
            None,
        ),
        Effect::Lead(change) => {
            let change = match change {
                LeadChange::Set { field, value } => json!({ "set": { field: value } }),
                LeadChange::Clear { field } => json!({ "clear": [field] }),
                LeadChange::Activity { kind, properties } => {
                    json!({ "activity": { "type": kind, "properties": properties } })
                }
            };
            let payload = json!({ "lead_id": d.lead_id, "change": change, "cause": cause, "at": scene.now, "ref": record });
            ask(LEAD_CHANGE_JOB, payload)?
        }
        Effect::Webhook { endpoint, body } => (
            vec![outbox::enqueue_to(
                cx,
                endpoint,
                "workflow.webhook",
                &d.lead_id,
                record,
                body,
                guard(),
            )?],
            None,
        ),
        Effect::Notify { owner, message } => (
            vec![outbox::enqueue(
                cx,
                "workflow.notification",
                &d.lead_id,
                record,
                &with(json!({ "owner": owner, "message": message })),
                Some(guard()),
            )?],
            None,
        ),
        Effect::Email { template, topic } => (
            vec![outbox::enqueue(
                cx,
                "email.requested",
                &d.lead_id,
                record,
                &with(
                    json!({ "template": template, "topic": topic, "to": lead.lead.email, "unsubscribe": unsubscribe }),
                ),
                Some(guard()),
            )?],
            None,
        ),
        Effect::Task {
            assignment_id,
            assignee,
            because,
            title,
        } => {
            let payload = json!({
                "id": cx.new_id(revops::ids::prefix::TASK),
                "lead_id": d.lead_id,
                "assignment_id": assignment_id,
                "assignee": assignee,
                "assigned_because": because,
                "title": title,
            });
            ask(TASK_JOB, payload)?
        }
    })
}

/// The one-click unsubscribe link (RFC 8058) and its headers for each email a pass requests,
/// from the consent handler, under `PUBLIC_BASE_URL` (a cron-run step has no request origin to
/// take it from; unset, the request carries none). `None` when consent could not answer: the
/// pass waits for the next tick rather than ask for an email without its link.
async fn unsubscribe_links(
    cx: &Cx,
    lead: &LeadState,
    pass: &run::Pass,
) -> Option<Vec<Option<Value>>> {
    let base = cx.var("PUBLIC_BASE_URL");
    let mut out = Vec::with_capacity(pass.steps.len());
    for record in &pass.steps {
        let (Some(Effect::Email { topic, .. }), Some(base)) = (&record.effect, &base) else {
            out.push(None);
            continue;
        };
        let body = json!({ "email": lead.lead.email, "topic": topic, "base_url": base });
        match cx
            .call_ok::<Value>(
                Service::Consent,
                Method::Post,
                "/internal/consent/unsubscribe-link",
                Some(&body),
            )
            .await
        {
            Ok(link) => out.push(Some(
                json!({ "url": link["url"], "headers": link["headers"] }),
            )),
            Err(e) => {
                cx.log(
                    revops::logging::Level::Warn,
                    "workflows.unsubscribe_link_failed",
                    json!({ "lead_id": lead.lead.id, "error": e.to_string() }),
                );
                return None;
            }
        }
    }
    Some(out)
}

/// Asks intake to make a step's change to a lead (idempotent there: a field set to a value, an
/// activity keyed by the step).
async fn apply_lead_change(cx: &Cx, payload: String) -> Result<()> {
    let p: Value = serde_json::from_str(&payload)?;
    let lead = p["lead_id"].as_str().unwrap_or_default();
    let body =
        json!({ "change": p["change"], "cause": p["cause"], "at": p["at"], "ref": p["ref"] });
    let _: Value = cx
        .call_ok(
            Service::Intake,
            Method::Post,
            &format!("/internal/leads/{lead}/changes"),
            Some(&body),
        )
        .await?;
    Ok(())
}

/// Asks the SLA handler, which owns tasks, to create a step's task (idempotent by its id).
async fn create_task(cx: &Cx, payload: String) -> Result<()> {
    let p: Value = serde_json::from_str(&payload)?;
    let _: Value = cx
        .call_ok(Service::Sla, Method::Post, "/internal/tasks", Some(&p))
        .await?;
    Ok(())
}
