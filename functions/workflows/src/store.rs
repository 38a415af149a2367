//! The workflows handler's tables (`workflows`, `workflow_versions`, `workflow_changes`,
//! `workflow_events`, `workflow_enrolments`, `workflow_due`, `workflow_steps`,
//! `workflow_timers`): typed rows and named queries. Nothing else writes them.

use revops::time::rfc3339;
use revops::workflows::activity::{self, Activity, Count};
use revops::workflows::events::Event;
use revops::Map;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use platform::{args, Arg, Cx, Result};

/// A workflow and its active version's document.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRow {
    pub id: String,
    pub name: String,
    pub version: i64,
    pub trigger_event: String,
    pub state: String,
    pub paused_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub document: String,
}

const WORKFLOW_COLUMNS: &str = "w.id AS id, w.name AS name, w.version AS version, w.trigger_event AS trigger_event, \
     w.state AS state, w.paused_at AS paused_at, w.created_at AS created_at, w.updated_at AS updated_at, v.document AS document";
const WORKFLOW_FROM: &str =
    "FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version";

impl WorkflowRow {
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "state": self.state,
            "trigger": self.trigger_event,
            "paused_at": self.paused_at.map(rfc3339),
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "workflow": serde_json::from_str::<Value>(&self.document).unwrap_or(Value::Null),
        })
    }
}

/// The workflows (active or paused) whose trigger is one of `events`, with their documents.
pub fn triggered_by(cx: &Cx, events: &[&str]) -> Result<Vec<D1PreparedStatement>> {
    cx.db.in_statements(
        &format!("SELECT {WORKFLOW_COLUMNS} {WORKFLOW_FROM} WHERE w.trigger_event IN ({{in}})"),
        &[],
        events,
    )
}

/// Every workflow, with each one's activity since `since`, in one round trip.
pub async fn all(cx: &Cx, since: i64) -> Result<(Vec<WorkflowRow>, Map<String, Activity>)> {
    let mut reads = vec![cx.db.stmt(
        &format!("SELECT {WORKFLOW_COLUMNS} {WORKFLOW_FROM} ORDER BY w.created_at, w.id"),
        args![],
    )?];
    reads.extend(activity_statements(cx, since, None)?);
    let mut r = cx.db.read_batch(reads).await?.into_iter();
    let rows = platform::db::rows("workflows", r.next().unwrap_or_default())?;
    Ok((rows, tallied(&mut r)?))
}

/// Enrolments started since `since` by workflow and state, and steps since then by workflow
/// and outcome: ranges of the covering indexes of migration 0016.
fn activity_statements(
    cx: &Cx,
    since: i64,
    workflow: Option<&str>,
) -> Result<Vec<D1PreparedStatement>> {
    let (only, arg) = match workflow {
        Some(id) => (" AND workflow_id = ?", Some(id)),
        None => ("", None),
    };
    let with = |sql: String| -> Result<D1PreparedStatement> {
        match arg {
            Some(id) => cx.db.stmt(&sql, args![since, id]),
            None => cx.db.stmt(&sql, args![since]),
        }
    };
    Ok(vec![
        with(format!(
            "SELECT workflow_id, state AS key, COUNT(*) AS n FROM workflow_enrolments WHERE started_at >= ?{only} GROUP BY workflow_id, state"
        ))?,
        with(format!(
            "SELECT workflow_id, outcome AS key, COUNT(*) AS n FROM workflow_steps WHERE at >= ?{only} GROUP BY workflow_id, outcome"
        ))?,
    ])
}

fn tallied(r: &mut impl Iterator<Item = Vec<Value>>) -> Result<Map<String, Activity>> {
    let enrolments: Vec<Count> =
        platform::db::rows("workflow_enrolments", r.next().unwrap_or_default())?;
    let steps: Vec<Count> = platform::db::rows("workflow_steps", r.next().unwrap_or_default())?;
    Ok(activity::tally(&enrolments, &steps))
}

pub async fn get(cx: &Cx, id: &str) -> Result<Option<WorkflowRow>> {
    cx.db
        .first(
            &format!("SELECT {WORKFLOW_COLUMNS} {WORKFLOW_FROM} WHERE w.id = ?"),
            args![id],
        )
        .await
}

#[derive(Debug, Deserialize)]
pub struct VersionRow {
    pub version: i64,
    pub document: String,
    pub published_at: i64,
    pub published_by: String,
    pub reason: String,
}

impl VersionRow {
    pub fn view(&self, with_document: bool) -> Value {
        let document = serde_json::from_str::<Value>(&self.document).unwrap_or(Value::Null);
        let mut v = json!({
            "version": self.version,
            "name": document["name"],
            "published_at": rfc3339(self.published_at),
            "published_by": self.published_by,
            "reason": self.reason,
        });
        if with_document {
            v["workflow"] = document;
        }
        v
    }
}

#[derive(Debug, Deserialize)]
pub struct ChangeRow {
    pub action: String,
    pub version: i64,
    pub at: i64,
    pub by: String,
    pub reason: String,
}

impl ChangeRow {
    pub fn view(&self) -> Value {
        json!({ "action": self.action, "version": self.version, "at": rfc3339(self.at), "by": self.by, "reason": self.reason })
    }
}

/// A failed step, for the workflow's page.
#[derive(Debug, Deserialize)]
pub struct FailureRow {
    pub lead_id: String,
    pub step_id: String,
    pub action: String,
    pub reason: String,
    pub at: i64,
}

impl FailureRow {
    pub fn view(&self) -> Value {
        json!({ "lead_id": self.lead_id, "step": self.step_id, "action": self.action, "reason": self.reason, "at": rfc3339(self.at) })
    }
}

/// Everything a workflow's page reads, in one round trip.
pub struct Detail {
    pub row: WorkflowRow,
    pub versions: Vec<VersionRow>,
    pub changes: Vec<ChangeRow>,
    pub activity: Activity,
    /// Enrolments waiting on a step now (whenever they started).
    pub in_progress: i64,
    pub failures: Vec<FailureRow>,
}

/// The most recent failed steps a workflow's page lists.
const FAILURES_SHOWN: i64 = 20;

/// A workflow, its versions and history of changes (newest first), its activity since
/// `since`, how many enrolments wait on a step and its latest failed steps — `None` if there
/// is no such workflow.
pub async fn detail(cx: &Cx, id: &str, since: i64) -> Result<Option<Detail>> {
    let mut reads = vec![
        cx.db.stmt(
            &format!("SELECT {WORKFLOW_COLUMNS} {WORKFLOW_FROM} WHERE w.id = ?"),
            args![id],
        )?,
        cx.db.stmt(
            "SELECT version, document, published_at, published_by, reason FROM workflow_versions WHERE workflow_id = ? ORDER BY version DESC",
            args![id],
        )?,
        cx.db.stmt(
            "SELECT action, version, at, by, reason FROM workflow_changes WHERE workflow_id = ? ORDER BY id DESC LIMIT 100",
            args![id],
        )?,
        cx.db.stmt(
            "SELECT COUNT(*) AS n FROM workflow_due WHERE workflow_id = ?",
            args![id],
        )?,
        cx.db.stmt(
            "SELECT lead_id, step_id, action, reason, at FROM workflow_steps WHERE workflow_id = ? AND outcome = 'failed' ORDER BY at DESC LIMIT ?",
            args![id, FAILURES_SHOWN],
        )?,
    ];
    reads.extend(activity_statements(cx, since, Some(id))?);
    let mut r = cx.db.read_batch(reads).await?.into_iter();
    let Some(row) = platform::db::rows::<WorkflowRow>("workflows", r.next().unwrap_or_default())?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let versions = platform::db::rows("workflow_versions", r.next().unwrap_or_default())?;
    let changes = platform::db::rows("workflow_changes", r.next().unwrap_or_default())?;
    #[derive(Deserialize)]
    struct N {
        n: i64,
    }
    let in_progress = platform::db::rows::<N>("workflow_due", r.next().unwrap_or_default())?
        .first()
        .map_or(0, |c| c.n);
    let failures = platform::db::rows("workflow_steps", r.next().unwrap_or_default())?;
    let activity = activity::of(&tallied(&mut r)?, id);
    Ok(Some(Detail {
        row,
        versions,
        changes,
        activity,
        in_progress,
        failures,
    }))
}

pub async fn version(cx: &Cx, id: &str, version: i64) -> Result<Option<VersionRow>> {
    cx.db
        .first(
            "SELECT version, document, published_at, published_by, reason FROM workflow_versions WHERE workflow_id = ? AND version = ?",
            args![id, version],
        )
        .await
}

/// The next version of workflow `id` (1 for a new one).
pub async fn next_version(cx: &Cx, id: &str) -> Result<i64> {
    #[derive(Deserialize)]
    struct Next {
        next: i64,
    }
    Ok(cx
        .db
        .first::<Next>(
            "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM workflow_versions WHERE workflow_id = ?",
            args![id],
        )
        .await?
        .map_or(1, |n| n.next))
}

/// A published version, in the statements that store it and make it active: the version row
/// first (it inserts nothing if another publish took the number, and the rest is guarded on it).
#[allow(clippy::too_many_arguments)]
pub fn publish_statements(
    cx: &Cx,
    id: &str,
    version: i64,
    name: &str,
    trigger: &str,
    document: &Value,
    reason: &str,
    stamp: &str,
) -> Result<Vec<D1PreparedStatement>> {
    let by = cx.actor();
    let guard = "EXISTS (SELECT 1 FROM workflow_versions WHERE workflow_id = ? AND version = ? AND published_at = ? AND reason = ?)";
    let mut stamped = reason.to_string();
    stamped.push_str(stamp);
    Ok(vec![
        cx.db.stmt(
            "INSERT INTO workflow_versions (workflow_id, version, document, published_at, published_by, reason) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            args![id, version, document.to_string(), cx.now_ms, &by, &stamped],
        )?,
        cx.db.stmt(
            &format!(
                "INSERT INTO workflows (id, name, version, trigger_event, state, created_at, updated_at) SELECT ?, ?, ?, ?, 'active', ?, ? WHERE {guard} \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, trigger_event = excluded.trigger_event, updated_at = excluded.updated_at"
            ),
            args![id, name, version, trigger, cx.now_ms, cx.now_ms, id, version, cx.now_ms, &stamped],
        )?,
        change_statement(cx, id, "publish", version, reason, Some((guard, args![id, version, cx.now_ms, &stamped])))?,
        // The stamp only told this publish's rows apart from a concurrent one's.
        cx.db.stmt(
            "UPDATE workflow_versions SET reason = ? WHERE workflow_id = ? AND version = ? AND reason = ?",
            args![reason, id, version, &stamped],
        )?,
    ])
}

/// A line of the workflow's history, if `guard` holds.
pub fn change_statement(
    cx: &Cx,
    id: &str,
    action: &str,
    version: i64,
    reason: &str,
    guard: Option<(&str, Vec<Arg>)>,
) -> Result<D1PreparedStatement> {
    let (condition, more) = guard.unwrap_or(("1", Vec::new()));
    let mut values = args![id, action, version, cx.now_ms, cx.actor(), reason];
    values.extend(more);
    cx.db.stmt(
        &format!("INSERT INTO workflow_changes (workflow_id, action, version, at, by, reason) SELECT ?, ?, ?, ?, ?, ? WHERE {condition}"),
        values,
    )
}

/// Makes `version` (an earlier one) active again.
pub fn rollback_statement(
    cx: &Cx,
    id: &str,
    version: i64,
    name: &str,
    trigger: &str,
) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "UPDATE workflows SET version = ?, name = ?, trigger_event = ?, updated_at = ? WHERE id = ?",
        args![version, name, trigger, cx.now_ms, id],
    )
}

/// Pauses (`held` = true) or resumes a workflow: its state and its waiting steps together.
pub fn hold_statements(cx: &Cx, id: &str, held: bool) -> Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        cx.db.stmt(
            "UPDATE workflows SET state = ?, paused_at = ?, updated_at = ? WHERE id = ?",
            args![
                if held { "paused" } else { "active" },
                held.then_some(cx.now_ms),
                cx.now_ms,
                id
            ],
        )?,
        cx.db.stmt(
            "UPDATE workflow_due SET held = ? WHERE workflow_id = ?",
            args![held, id],
        )?,
    ])
}

/// The event row (kept for dry runs and catch-up); nothing if it was recorded before.
pub fn event_statement(cx: &Cx, e: &Event) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "INSERT OR IGNORE INTO workflow_events (id, type, lead_id, at, data, cause) VALUES (?, ?, ?, ?, ?, ?)",
        args![&e.id, e.kind.as_str(), &e.lead_id, e.at, e.data.to_string(), serde_json::to_string(&e.cause)?],
    )
}

#[derive(Debug, Deserialize)]
pub struct EventRow {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub lead_id: String,
    pub at: i64,
    pub data: String,
    pub cause: String,
}

impl EventRow {
    pub fn event(&self) -> Option<Event> {
        Some(Event {
            id: self.id.clone(),
            kind: revops::workflows::events::EventType::parse(&self.kind)?,
            lead_id: self.lead_id.clone(),
            at: self.at,
            data: serde_json::from_str(&self.data).ok()?,
            cause: serde_json::from_str(&self.cause).unwrap_or_default(),
        })
    }
}

/// Recorded events of one type from `since` on, oldest first.
pub async fn events_since(cx: &Cx, kind: &str, since: i64, limit: usize) -> Result<Vec<EventRow>> {
    cx.db
        .all(
            "SELECT id, type, lead_id, at, data, cause FROM workflow_events WHERE type = ? AND at >= ? ORDER BY at, id LIMIT ?",
            args![kind, since, limit],
        )
        .await
}

/// When each of `leads` last enrolled in workflow `id` (for the once / again-after rule).
pub fn last_enrolled_statements(cx: &Cx, leads: &[String]) -> Result<Vec<D1PreparedStatement>> {
    cx.db.in_statements(
        "SELECT workflow_id, lead_id, MAX(started_at) AS at FROM workflow_enrolments WHERE state != 'not_enrolled' AND lead_id IN ({in}) GROUP BY workflow_id, lead_id",
        &[],
        leads,
    )
}

#[derive(Debug, Deserialize)]
pub struct LastEnrolled {
    pub workflow_id: String,
    pub lead_id: String,
    pub at: i64,
}

/// An enrolment (`Some(key)`: its enrolment key) or a refusal (`None`, with its reason), and for
/// an enrolment its first step, due now.
#[allow(clippy::too_many_arguments)]
pub fn decision_statements(
    cx: &Cx,
    id: &str,
    workflow: &str,
    version: i64,
    event: &Event,
    key: Option<&str>,
    reason: Option<&str>,
    now: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let cause = serde_json::to_string(&event.cause)?;
    let (state, enrol_key) = match key {
        Some(k) => ("waiting", k.to_string()),
        None => ("not_enrolled", format!("no:{}", event.id)),
    };
    let mut out = vec![cx.db.stmt(
        "INSERT OR IGNORE INTO workflow_enrolments (id, workflow_id, version, lead_id, event_id, enrol_key, state, next_step, reason, cause, started_at, ended_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        args![id, workflow, version, &event.lead_id, &event.id, enrol_key, state, key.map(|_| 0), reason, cause, now, key.is_none().then_some(now)],
    )?];
    if key.is_some() {
        out.push(cx.db.stmt(
            // Held at once if the workflow was paused after the tick read it.
            "INSERT OR IGNORE INTO workflow_due (enrolment_id, workflow_id, lead_id, step, due_at, held) \
             SELECT ?, ?, ?, 0, ?, EXISTS (SELECT 1 FROM workflows WHERE id = ? AND state = 'paused') \
             WHERE EXISTS (SELECT 1 FROM workflow_enrolments WHERE id = ?)",
            args![id, workflow, &event.lead_id, now, workflow, id],
        )?);
    }
    Ok(out)
}

/// A waiting enrolment whose step is due.
#[derive(Debug, Clone, Deserialize)]
pub struct DueRow {
    pub enrolment_id: String,
    pub workflow_id: String,
    pub lead_id: String,
    pub step: i64,
    pub due_at: i64,
    pub version: i64,
    pub cause: String,
}

/// Up to `limit` due steps, earliest first: an index range on (held, due_at), so the cost is
/// the steps due, however many enrolments wait.
pub fn due_statement(cx: &Cx, now: i64, limit: usize) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "SELECT d.enrolment_id AS enrolment_id, d.workflow_id AS workflow_id, d.lead_id AS lead_id, d.step AS step, d.due_at AS due_at, \
         e.version AS version, e.cause AS cause FROM workflow_due d JOIN workflow_enrolments e ON e.id = d.enrolment_id \
         WHERE d.held = 0 AND d.due_at <= ? ORDER BY d.due_at LIMIT ?",
        args![now, limit],
    )
}

/// The documents of the given (workflow, version) pairs.
pub fn documents_statement(
    cx: &Cx,
    pairs: &[(String, i64)],
) -> Result<Option<D1PreparedStatement>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut sql =
        String::from("SELECT workflow_id, version, document FROM workflow_versions WHERE ");
    let mut values = Vec::new();
    for (i, (id, v)) in pairs.iter().enumerate() {
        if i > 0 {
            sql.push_str(" OR ");
        }
        sql.push_str("(workflow_id = ? AND version = ?)");
        values.push(Arg::from(id));
        values.push(Arg::from(*v));
    }
    cx.db.stmt(&sql, values).map(Some)
}

#[derive(Debug, Deserialize)]
pub struct DocumentRow {
    pub workflow_id: String,
    pub version: i64,
    pub document: String,
}

/// The guard every statement after a pass's first takes: the first step row, whose id only
/// this pass knows, exists (so the pass won the race for the due step).
pub const TAKEN: &str = "EXISTS (SELECT 1 FROM workflow_steps WHERE id = ?)";

/// A step record. The first of a pass (`first` = the due row it takes) is written only while
/// the enrolment still waits at that step; the others only if the first was.
#[allow(clippy::too_many_arguments)]
pub fn step_statement(
    cx: &Cx,
    id: &str,
    due: &DueRow,
    record: &revops::workflows::run::StepRecord,
    detail: Option<&Value>,
    token: &str,
    first: bool,
    now: i64,
) -> Result<D1PreparedStatement> {
    let mut values = args![
        id,
        &due.enrolment_id,
        &due.workflow_id,
        &due.lead_id,
        &record.step_id,
        record.action,
        record.outcome.as_str(),
        &record.reason,
        detail.map(Value::to_string),
        now
    ];
    let guard = if first {
        values.extend(args![&due.enrolment_id, due.step, due.due_at]);
        "EXISTS (SELECT 1 FROM workflow_due WHERE enrolment_id = ? AND step = ? AND due_at = ? AND held = 0)"
    } else {
        values.push(Arg::from(token));
        TAKEN
    };
    cx.db.stmt(
        &format!(
            "INSERT OR IGNORE INTO workflow_steps (id, enrolment_id, workflow_id, lead_id, step_id, action, outcome, reason, detail, at) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE {guard}"
        ),
        values,
    )
}

/// Where the enrolment goes after a pass: waiting at `next` from `due_at`, or ended.
pub fn advance_statements(
    cx: &Cx,
    due: &DueRow,
    next: &revops::workflows::run::Next,
    token: &str,
    now: i64,
) -> Result<Vec<D1PreparedStatement>> {
    use revops::workflows::run::Next;
    Ok(match next {
        Next::Wait { at, due_at } => vec![
            cx.db.stmt(
                &format!("UPDATE workflow_due SET step = ?, due_at = ? WHERE enrolment_id = ? AND {TAKEN}"),
                args![*at, *due_at, &due.enrolment_id, token],
            )?,
            cx.db.stmt(
                &format!("UPDATE workflow_enrolments SET next_step = ?, reason = NULL WHERE id = ? AND {TAKEN}"),
                args![*at, &due.enrolment_id, token],
            )?,
        ],
        Next::Done { reason } => {
            let state = if reason.starts_with("step ") && reason.contains(" failed") {
                "failed"
            } else {
                "done"
            };
            vec![
                cx.db.stmt(
                    &format!("DELETE FROM workflow_due WHERE enrolment_id = ? AND {TAKEN}"),
                    args![&due.enrolment_id, token],
                )?,
                cx.db.stmt(
                    &format!("UPDATE workflow_enrolments SET state = ?, next_step = NULL, reason = ?, ended_at = ? WHERE id = ? AND {TAKEN}"),
                    args![state, reason, now, &due.enrolment_id, token],
                )?,
            ]
        }
    })
}

/// The guard of a due step not yet taken: the enrolment still waits at it (and is not held).
const STILL_DUE: &str =
    "EXISTS (SELECT 1 FROM workflow_due WHERE enrolment_id = ? AND step = ? AND due_at = ? AND held = 0)";

/// Ends an enrolment with nothing left to run (its last step was a wait, or its version can no
/// longer be read), if it still waits at that step: `state` is done or failed, with the reason.
pub fn end_statements(
    cx: &Cx,
    due: &DueRow,
    state: &str,
    reason: &str,
    now: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let guard = || args![&due.enrolment_id, due.step, due.due_at];
    let mut update = args![state, reason, now, &due.enrolment_id];
    update.extend(guard());
    let mut delete = args![&due.enrolment_id];
    delete.extend(guard());
    Ok(vec![
        cx.db.stmt(
            &format!("UPDATE workflow_enrolments SET state = ?, next_step = NULL, reason = ?, ended_at = ? WHERE id = ? AND {STILL_DUE}"),
            update,
        )?,
        cx.db.stmt(&format!("DELETE FROM workflow_due WHERE enrolment_id = ? AND {STILL_DUE}"), delete)?,
    ])
}

/// Puts a due step off until `at` (a dependency could not answer), if it is still due.
pub fn postpone_statement(cx: &Cx, due: &DueRow, at: i64) -> Result<D1PreparedStatement> {
    let mut values = args![at, &due.enrolment_id];
    values.extend(args![&due.enrolment_id, due.step, due.due_at]);
    cx.db.stmt(
        &format!("UPDATE workflow_due SET due_at = ? WHERE enrolment_id = ? AND {STILL_DUE}"),
        values,
    )
}

/// The events a paused workflow refused (recorded since `since`), oldest first after `after`
/// (`(at, id)` of the last one taken), for a catch-up.
pub async fn paused_refusals(
    cx: &Cx,
    workflow: &str,
    since: i64,
    after: (i64, &str),
    limit: usize,
) -> Result<Vec<EventRow>> {
    cx.db
        .all(
            "SELECT ev.id AS id, ev.type AS type, ev.lead_id AS lead_id, ev.at AS at, ev.data AS data, ev.cause AS cause \
             FROM workflow_enrolments e JOIN workflow_events ev ON ev.id = e.event_id \
             WHERE e.workflow_id = ? AND e.state = 'not_enrolled' AND e.reason = ? AND e.started_at >= ? \
             AND (ev.at > ? OR (ev.at = ? AND ev.id > ?)) ORDER BY ev.at, ev.id LIMIT ?",
            args![workflow, PAUSED, since, after.0, after.0, after.1, limit],
        )
        .await
}

/// Why an event did not enrol a lead in a paused workflow (and how a catch-up finds them).
pub const PAUSED: &str = "the workflow was paused";

/// Date triggers: the timer for a lead's date (replacing an earlier one), or its removal when
/// the field no longer holds a future date.
pub fn timer_statement(
    cx: &Cx,
    workflow: &str,
    lead: &str,
    fire: Option<(i64, &str)>,
) -> Result<D1PreparedStatement> {
    match fire {
        Some((at, value)) => cx.db.stmt(
            "INSERT INTO workflow_timers (workflow_id, lead_id, fire_at, value) VALUES (?, ?, ?, ?) \
             ON CONFLICT (workflow_id, lead_id) DO UPDATE SET fire_at = excluded.fire_at, value = excluded.value",
            args![workflow, lead, at, value],
        ),
        None => cx.db.stmt(
            "DELETE FROM workflow_timers WHERE workflow_id = ? AND lead_id = ?",
            args![workflow, lead],
        ),
    }
}

#[derive(Debug, Deserialize)]
pub struct TimerRow {
    pub workflow_id: String,
    pub lead_id: String,
    pub fire_at: i64,
    pub value: String,
}

pub fn due_timers_statement(cx: &Cx, now: i64, limit: usize) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "SELECT workflow_id, lead_id, fire_at, value FROM workflow_timers WHERE fire_at <= ? ORDER BY fire_at LIMIT ?",
        args![now, limit],
    )
}

pub fn fired_timer_statement(cx: &Cx, t: &TimerRow) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "DELETE FROM workflow_timers WHERE workflow_id = ? AND lead_id = ? AND fire_at = ?",
        args![&t.workflow_id, &t.lead_id, t.fire_at],
    )
}

/// Events older than the dry-run window, and the records of leads not enrolled as old, a
/// bounded number per tick. (Enrolments and their steps are kept: they are the lead's history.)
pub fn prune_statements(cx: &Cx, before: i64) -> Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        cx.db.stmt(
            "DELETE FROM workflow_events WHERE id IN (SELECT id FROM workflow_events WHERE at < ? LIMIT 500)",
            args![before],
        )?,
        cx.db.stmt(
            "DELETE FROM workflow_enrolments WHERE id IN (SELECT id FROM workflow_enrolments WHERE state = 'not_enrolled' AND started_at < ? LIMIT 500)",
            args![before],
        )?,
    ])
}

#[derive(Debug, Deserialize)]
pub struct EnrolmentRow {
    pub id: String,
    pub workflow_id: String,
    pub name: Option<String>,
    pub version: i64,
    pub event_id: String,
    pub state: String,
    pub next_step: Option<i64>,
    pub due_at: Option<i64>,
    pub reason: Option<String>,
    pub cause: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct StepRow {
    pub enrolment_id: String,
    pub step_id: String,
    pub action: String,
    pub outcome: String,
    pub reason: String,
    pub detail: Option<String>,
    pub at: i64,
}

/// A lead's enrolments (and refusals), newest first, and their steps, in one round trip with
/// the other reads given.
pub fn lead_statements(cx: &Cx, lead: &str) -> Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        cx.db.stmt(
            "SELECT e.id AS id, e.workflow_id AS workflow_id, w.name AS name, e.version AS version, e.event_id AS event_id, e.state AS state, \
             e.next_step AS next_step, d.due_at AS due_at, e.reason AS reason, e.cause AS cause, e.started_at AS started_at, e.ended_at AS ended_at \
             FROM workflow_enrolments e LEFT JOIN workflows w ON w.id = e.workflow_id LEFT JOIN workflow_due d ON d.enrolment_id = e.id \
             WHERE e.lead_id = ? ORDER BY e.started_at DESC, e.id LIMIT 200",
            args![lead],
        )?,
        cx.db.stmt(
            "SELECT enrolment_id, step_id, action, outcome, reason, detail, at FROM workflow_steps WHERE lead_id = ? ORDER BY at, rowid LIMIT 2000",
            args![lead],
        )?,
    ])
}

/// Prior enrolments of a workflow by lead, for a dry run.
pub async fn enrolled_at(cx: &Cx, workflow: &str) -> Result<Vec<LastEnrolled>> {
    cx.db
        .all(
            "SELECT workflow_id, lead_id, MAX(started_at) AS at FROM workflow_enrolments WHERE workflow_id = ? AND state != 'not_enrolled' GROUP BY workflow_id, lead_id",
            args![workflow],
        )
        .await
}
