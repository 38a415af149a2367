//! Touches that stop the clock, and a lead's SLA history (its clocks, ladder steps, touches and tasks).

use revops::problem::{FieldError, Problem, ProblemKind};
use revops::sla::{self, TOUCH_TYPES};
use revops::time::{parse_rfc3339, rfc3339, MINUTE};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::ladder;
use crate::store::{self, ClockRow};
use crate::tasks::{TaskRow, TASK_COLUMNS};
use platform::{args, http, Cx, Error, Result};

pub(crate) fn invalid(errors: Vec<FieldError>) -> Error {
    Error::Problem(Problem::validation(errors))
}

async fn lead_exists(cx: &Cx, id: &str) -> Result<()> {
    #[derive(Deserialize)]
    struct One {
        #[allow(dead_code)]
        id: String,
    }
    cx.db
        .first::<One>("SELECT id FROM leads WHERE id = ?", args![id])
        .await?
        .map(|_| ())
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("lead {id}"))))
}

#[derive(Deserialize)]
struct TouchRow {
    id: String,
    lead_id: String,
    r#type: String,
    occurred_at: i64,
    rep_id: Option<String>,
    external_id: String,
    note: Option<String>,
    recorded_at: i64,
}

fn touch_view(t: &TouchRow) -> Value {
    json!({
        "id": t.id, "lead_id": t.lead_id, "type": t.r#type, "occurred_at": rfc3339(t.occurred_at),
        "rep": t.rep_id, "external_id": t.external_id, "note": t.note, "recorded_at": rfc3339(t.recorded_at),
    })
}

/// `POST /v1/leads/{id}/touches`: the CRM records a call, email, meeting or status change. The
/// first qualifying touch stops the lead's running clock; a later one can meet its follow-up
/// deadline. Idempotent on `external_id` (by default the type, time and rep of the touch).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TouchBody {
    r#type: String,
    #[serde(default, deserialize_with = "revops::de::present")]
    occurred_at: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    rep: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    note: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    external_id: Option<String>,
}

pub async fn touch(cx: &Cx, mut req: Request) -> Result<Response> {
    let lead_id = cx.param("lead_id").to_string();
    let body: TouchBody = http::json_body(&mut req, 16 * 1024).await?;
    let mut errors = Vec::new();
    let kind = body.r#type.as_str();
    if !TOUCH_TYPES.contains(&kind) {
        errors.push(FieldError::new(
            "type",
            format!("one of {}", TOUCH_TYPES.join(", ")),
        ));
    }
    let occurred_at = match body.occurred_at.as_deref() {
        None => cx.now_ms,
        Some(v) => match parse_rfc3339(v) {
            Some(t) if t <= cx.now_ms + 5 * MINUTE => t,
            Some(_) => {
                errors.push(FieldError::new("occurred_at", "is in the future"));
                cx.now_ms
            }
            None => {
                errors.push(FieldError::new("occurred_at", "give an RFC 3339 time"));
                cx.now_ms
            }
        },
    };
    let rep = body.rep.clone();
    if rep
        .as_ref()
        .is_some_and(|r| r.trim().is_empty() || r.chars().count() > 100)
    {
        errors.push(FieldError::new(
            "rep",
            "give the rep's id (1 to 100 characters)",
        ));
    }
    let note = body.note.clone();
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        errors.push(FieldError::new("note", "at most 1000 characters"));
    }
    let external_id = match body.external_id.as_deref() {
        None => format!("{kind}:{occurred_at}:{}", rep.as_deref().unwrap_or("")),
        Some(s) if !s.trim().is_empty() && s.chars().count() <= 200 => s.trim().to_string(),
        Some(_) => {
            errors.push(FieldError::new(
                "external_id",
                "give the CRM's id for the touch (1 to 200 characters)",
            ));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    lead_exists(cx, &lead_id).await?;
    let id = cx.new_id(revops::ids::prefix::TOUCH);
    let inserted = cx
        .db
        .run(
            "INSERT INTO sla_touches (id, lead_id, type, occurred_at, rep_id, external_id, note, recorded_at, recorded_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lead_id, external_id) DO NOTHING",
            args![&id, &lead_id, kind, occurred_at, rep.clone(), &external_id, note, cx.now_ms, cx.actor()],
        )
        .await?;
    let stored: TouchRow = cx
        .db
        .first(
            "SELECT id, lead_id, type, occurred_at, rep_id, external_id, note, recorded_at FROM sla_touches WHERE lead_id = ? AND external_id = ?",
            args![&lead_id, &external_id],
        )
        .await?
        .ok_or_else(|| Error::internal("the touch vanished"))?;
    if inserted == 0 {
        if stored.r#type != kind || stored.occurred_at != occurred_at {
            return Err(Error::Problem(Problem::new(
                ProblemKind::Conflict,
                format!("external_id {external_id} was recorded for a different touch"),
            )));
        }
        return http::json(
            200,
            &json!({ "touch": touch_view(&stored), "duplicate": true, "clocks": [] }),
        );
    }
    let clocks = stop_clocks(cx, &stored).await?;
    http::json(
        201,
        &json!({ "touch": touch_view(&stored), "duplicate": false, "clocks": clocks }),
    )
}

/// Applies a new touch to the lead's clocks: stops running ones it qualifies for, and meets
/// follow-up deadlines.
async fn stop_clocks(cx: &Cx, t: &TouchRow) -> Result<Vec<Value>> {
    let clocks: Vec<ClockRow> = store::clocks_of(cx, &t.lead_id).await?;
    let mut out = Vec::new();
    let mut reps = None;
    for c in clocks.iter().filter(|c| t.occurred_at >= c.started_at) {
        let policy = store::policy(cx, c.policy_version).await?;
        if !policy.qualifies(&t.r#type) {
            continue;
        }
        if c.state == "running" {
            let tier = policy.tiers.iter().find(|x| x.name == c.tier);
            let follow_up_minutes = tier.and_then(|x| x.follow_up_minutes);
            if follow_up_minutes.is_some() && reps.is_none() {
                reps = Some(store::reps(cx).await?);
            }
            let hours = reps
                .as_ref()
                .zip(c.rep_id.as_ref())
                .and_then(|(r, id)| r.get(id))
                .and_then(|r| r.working_hours.as_ref());
            let schedule = policy.schedule(hours);
            let Some(stopped) = revops::sla::touch_stops(
                &policy,
                &t.r#type,
                t.occurred_at,
                c.started_at,
                c.deadline_at,
                follow_up_minutes.map(|m| (schedule, m)),
            ) else {
                continue;
            };
            let (state, follow_up_due) = (stopped.state, stopped.follow_up_due_at);
            // The clock stops, and routing is told of the first touch in the same batch.
            let stop = cx.db.stmt(
                "UPDATE sla_clocks SET state = ?, touched_at = ?, touch_id = ?, next_due_at = NULL, follow_up_due_at = ? WHERE assignment_id = ? AND state = 'running'",
                args![state, t.occurred_at, &t.id, follow_up_due, &c.assignment_id],
            )?;
            let tell_routing = platform::jobs::enqueue_if(
                &cx.db,
                &cx.new_id(revops::ids::prefix::JOB),
                ladder::TOUCHED_JOB,
                &c.assignment_id,
                &json!({ "at": t.occurred_at }),
                cx.now_ms,
                cx.now_ms,
                (
                    "EXISTS (SELECT 1 FROM sla_clocks WHERE assignment_id = ? AND touch_id = ?)",
                    args![&c.assignment_id, &t.id],
                ),
            )?;
            let changed = cx.db.batch(vec![stop, tell_routing]).await?;
            if changed.first() == Some(&1) {
                out.push(json!({ "assignment_id": c.assignment_id, "state": state, "deadline_at": rfc3339(c.deadline_at) }));
                if ladder::mark_touched(cx, &c.assignment_id, t.occurred_at)
                    .await
                    .is_ok()
                {
                    platform::jobs::complete(&cx.db, ladder::TOUCHED_JOB, &c.assignment_id).await?;
                }
            }
        } else if c.touched_at.is_some_and(|first| t.occurred_at > first)
            && c.follow_up_due_at.is_some()
            && c.followed_up_at.is_none()
        {
            let changed = cx
                .db
                .run(
                    "UPDATE sla_clocks SET followed_up_at = ? WHERE assignment_id = ? AND followed_up_at IS NULL",
                    args![t.occurred_at, &c.assignment_id],
                )
                .await?;
            if changed == 1 {
                let met = c.follow_up_due_at.is_some_and(|due| t.occurred_at <= due);
                out.push(json!({ "assignment_id": c.assignment_id, "follow_up": if met { "met" } else { "late" } }));
            }
        }
    }
    Ok(out)
}

/// `GET /v1/leads/{id}/sla`: each clock with its deadline, ladder and standing; the steps taken;
/// the touches; the tasks.
pub async fn lead(cx: &Cx) -> Result<Response> {
    let id = cx.param("lead_id").to_string();
    lead_exists(cx, &id).await?;
    let clocks = store::clocks_of(cx, &id).await?;
    #[derive(Deserialize)]
    struct Event {
        assignment_id: String,
        step: String,
        action: String,
        at: i64,
        detail: String,
    }
    let events: Vec<Event> = cx
        .db
        .all("SELECT assignment_id, step, action, at, detail FROM sla_events WHERE lead_id = ? ORDER BY at", args![&id])
        .await?;
    let touches: Vec<TouchRow> = cx
        .db
        .all(
            "SELECT id, lead_id, type, occurred_at, rep_id, external_id, note, recorded_at FROM sla_touches WHERE lead_id = ? ORDER BY occurred_at",
            args![&id],
        )
        .await?;
    let tasks: Vec<TaskRow> = cx
        .db
        .all(
            &format!("SELECT {TASK_COLUMNS} FROM sla_tasks WHERE lead_id = ? ORDER BY created_at"),
            args![&id],
        )
        .await?;
    let now = cx.now_ms;
    let views: Vec<Value> = clocks
        .iter()
        .map(|c| {
            let steps: Vec<Value> = c
                .steps()
                .iter()
                .map(|s| {
                    let taken = events.iter().find(|e| e.assignment_id == c.assignment_id && e.step == s.id);
                    json!({ "id": s.id, "action": s.action, "via": s.via, "due_at": rfc3339(s.due_at), "taken_at": taken.map(|e| rfc3339(e.at)) })
                })
                .collect();
            let standing = match sla::standing(c.deadline_at, c.touched_at, c.ended_at, now) {
                sla::Standing::Met => "met",
                sla::Standing::Breached => "breached",
                sla::Standing::Pending => "pending",
                sla::Standing::Ended => "ended",
            };
            json!({
                "assignment_id": c.assignment_id, "rep": c.rep_id, "queue": c.queue, "owner": c.owner(), "team": c.team_id, "tier": c.tier,
                "policy_version": c.policy_version, "timezone": c.timezone,
                "started_at": rfc3339(c.started_at), "deadline_at": rfc3339(c.deadline_at),
                "state": c.state, "standing": standing,
                "touched_at": c.touched_at.map(rfc3339),
                "touch_id": c.touch_id,
                "next_step_due_at": c.next_due_at.map(rfc3339),
                "minutes_to_first_touch": c.touched_at.map(|t| (t - c.started_at) / MINUTE),
                "follow_up_due_at": c.follow_up_due_at.map(rfc3339), "followed_up_at": c.followed_up_at.map(rfc3339),
                "steps": steps,
            })
        })
        .collect();
    http::json(
        200,
        &json!({
            "lead_id": id,
            "clocks": views,
            "events": events.iter().map(|e| json!({ "assignment_id": e.assignment_id, "step": e.step, "action": e.action, "at": rfc3339(e.at), "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null) })).collect::<Vec<_>>(),
            "touches": touches.iter().map(touch_view).collect::<Vec<_>>(),
            "tasks": tasks.iter().map(TaskRow::view).collect::<Vec<_>>(),
        }),
    )
}
