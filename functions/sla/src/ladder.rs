//! The cron's work: start clocks for new assignments, then run the ladder steps that are due.
//!
//! Exactly once: a step is taken by inserting its `sla_events` row (unique per assignment and
//! step) only while the clock still stands at that step; the clock's advance, the manager's task
//! and the outgoing webhook are written in the same D1 batch, each guarded by that row. Two
//! overlapping ticks, or a tick that dies and is followed by another, cannot take a step twice.
//! Reassignment calls routing after its step is recorded, through the retry queue, and routing
//! acts only while the breached assignment is still current — so a retried reassignment never
//! moves the lead twice.

use std::collections::HashMap;

use revops::routes::{Method, Service};
use revops::scoring::condition::Facts;
use revops::sla::{self, Action, DueStep, Move, Via};
use revops::time::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use crate::store::{self, ClockRow, CLOCK_COLUMNS};
use platform::{args, jobs, outbox, Cx, Error, Result};

/// Reassignments waiting for (or retrying) their call to routing.
pub const REASSIGN_JOB: &str = "sla.reassign";
/// First touches routing must learn of (a rep who becomes unavailable keeps touched leads).
pub const TOUCHED_JOB: &str = "sla.mark_touched";
/// New assignments one tick starts clocks for.
const START_BATCH: usize = 200;
/// Due clocks one tick takes.
pub const DUE_BATCH: usize = 1000;
/// Due clocks written per D1 batch.
const CHUNK: usize = 50;
/// Reassignments one tick hands to routing at once (the rest go through the retry queue).
const REASSIGN_NOW: usize = 20;

#[derive(Deserialize)]
struct NewAssignment {
    seq: i64,
    id: String,
    lead_id: String,
    rep_id: Option<String>,
    queue: Option<String>,
    team_id: Option<String>,
    assigned_at: i64,
    current: i64,
    clocked: i64,
}

#[derive(Deserialize)]
struct Touch {
    id: String,
    lead_id: String,
    r#type: String,
    occurred_at: i64,
}

/// Starts a clock for every assignment to a rep — and to a queue the policy gives a deadline —
/// committed since the last tick read (in commit order, so an assignment committed late is never
/// skipped). Touches already recorded count. A new assignment ends the lead's earlier running
/// clocks: a queue's clock is met (or late) when a rep takes the lead from it.
pub async fn start_new(cx: &Cx, now: i64) -> Result<usize> {
    #[derive(Deserialize)]
    struct Cursor {
        seq: i64,
    }
    let mark = cx
        .db
        .first::<Cursor>("SELECT seq FROM sla_cursor WHERE id = 1", args![])
        .await?
        .map(|c| c.seq)
        .unwrap_or(0);
    let scanned: Vec<NewAssignment> = cx
        .db
        .all(
            "SELECT a.seq AS seq, a.id AS id, a.lead_id AS lead_id, a.rep_id AS rep_id, a.queue AS queue, a.team_id AS team_id, a.assigned_at AS assigned_at, \
             a.current AS current, EXISTS (SELECT 1 FROM sla_clocks c WHERE c.assignment_id = a.id) AS clocked \
             FROM assignments a WHERE a.seq > ? ORDER BY a.seq LIMIT ?",
            args![mark, START_BATCH],
        )
        .await?;
    let Some(last) = scanned.last().map(|a| a.seq) else {
        return Ok(0);
    };
    let advance = cx.db.stmt(
        "UPDATE sla_cursor SET seq = MAX(seq, ?) WHERE id = 1",
        args![last],
    )?;
    // Every new assignment supersedes the lead's earlier running clocks.
    let mut stmts = supersede(cx, &scanned).await?;
    // Only current assignments get a clock (one already moved on needs none): to a rep, or to
    // a queue the policy gives a deadline.
    let candidates: Vec<&NewAssignment> = scanned
        .iter()
        .filter(|a| a.current == 1 && a.clocked == 0 && (a.rep_id.is_some() || a.queue.is_some()))
        .collect();
    if candidates.is_empty() {
        stmts.push(advance);
        cx.db.batch(stmts).await?;
        return Ok(0);
    }
    let (version, policy) = store::active(cx).await?;
    let fresh: Vec<&NewAssignment> = candidates
        .into_iter()
        .filter(|a| sla::gets_clock(&policy, a.rep_id.as_deref(), a.queue.as_deref()))
        .collect();
    let reps = store::reps(cx).await?;
    let mut started = 0;
    let ids: Vec<String> = fresh.iter().map(|a| a.lead_id.clone()).collect();
    let leads = store::leads(cx, &ids).await?;
    let earliest = fresh.iter().map(|a| a.assigned_at).min().unwrap_or(now);
    let mut touches: Vec<Touch> = cx
        .db
        .all_in(
            "SELECT id, lead_id, type, occurred_at FROM sla_touches WHERE occurred_at >= ? AND lead_id IN ({in}) ORDER BY occurred_at",
            &[platform::Arg::Int(earliest)],
            &ids,
        )
        .await?;
    // Pieces of the list are read separately: their touches merge into one order.
    touches.sort_by_key(|t| t.occurred_at);
    for a in fresh.iter().copied() {
        let facts_of = leads.get(&a.lead_id);
        let facts = Facts {
            lead: facts_of.map(|(l, _)| l),
            routing: facts_of.map(|(_, f)| f),
            ..Default::default()
        };
        // A rep's clock counts in the tier's minutes (and the rep's hours); a queue's in its own.
        let (schedule, follow_up_minutes, clock) = match (&a.rep_id, &a.queue) {
            (Some(rep_id), _) => {
                let tier = policy.tier(&facts);
                let schedule =
                    policy.schedule(reps.get(rep_id).and_then(|r| r.working_hours.as_ref()));
                (
                    schedule,
                    tier.follow_up_minutes,
                    sla::start(&policy, tier, schedule, a.assigned_at),
                )
            }
            (None, queue) => {
                let tier = queue
                    .as_deref()
                    .and_then(|q| policy.queue_tier(q))
                    .expect("filtered above");
                (
                    &policy.business_hours,
                    None,
                    sla::start_queue(&policy, tier, a.assigned_at),
                )
            }
        };
        let Some(clock) = clock else {
            cx.log(
                revops::logging::Level::Warn,
                "sla.no_business_hours",
                json!({ "assignment_id": a.id }),
            );
            continue;
        };
        // A qualifying touch recorded before the clock started still stops it.
        let stopped = touches
            .iter()
            .filter(|t| t.lead_id == a.lead_id)
            .find_map(|t| {
                sla::touch_stops(
                    &policy,
                    &t.r#type,
                    t.occurred_at,
                    a.assigned_at,
                    clock.deadline_at,
                    follow_up_minutes.map(|m| (schedule, m)),
                )
                .map(|stopped| (t, stopped))
            });
        let (state, next_due, touched_at, touch_id, follow_up_due) = match stopped {
            Some((t, s)) => (
                s.state,
                None,
                Some(s.touched_at),
                Some(t.id.clone()),
                s.follow_up_due_at,
            ),
            None => ("running", sla::next_due(&clock.steps, 0), None, None, None),
        };
        stmts.push(cx.db.stmt(
            "INSERT OR IGNORE INTO sla_clocks (assignment_id, lead_id, rep_id, queue, team_id, tier, policy_version, timezone, started_at, deadline_at, steps, next_step, next_due_at, state, touched_at, touch_id, follow_up_due_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            args![
                &a.id, &a.lead_id, a.rep_id.clone(), a.queue.clone(), a.team_id.clone(), &clock.tier, version, schedule.tz.name(),
                a.assigned_at, clock.deadline_at, serde_json::to_string(&clock.steps)?, next_due, state, touched_at, touch_id, follow_up_due
            ],
        )?);
        if let Some((t, _)) = stopped {
            // The owner touched the lead before its clock started: routing learns it too.
            stmts.push(touched_job(cx, &a.id, t.occurred_at, now)?);
        }
        started += 1;
    }
    stmts.push(advance);
    for chunk in chunked(stmts, 100) {
        cx.db.batch(chunk).await?;
    }
    Ok(started)
}

/// A job telling routing that the assignment had its first touch at `at`.
pub fn touched_job(cx: &Cx, assignment: &str, at: i64, now: i64) -> Result<D1PreparedStatement> {
    jobs::enqueue(
        &cx.db,
        &cx.new_id(revops::ids::prefix::JOB),
        TOUCHED_JOB,
        assignment,
        &json!({ "at": at }),
        now,
        now,
    )
}

/// Tells routing an assignment had its first touch (idempotent on routing's side).
pub async fn mark_touched(cx: &Cx, assignment: &str, at: i64) -> Result<()> {
    let reply = cx
        .call(
            Service::Routing,
            Method::Post,
            &format!("/internal/assignments/{assignment}/touched"),
            Some(&json!({ "at": at })),
        )
        .await?;
    if !reply.ok() {
        return Err(Error::internal(format!(
            "routing answered {}: {}",
            reply.status, reply.body
        )));
    }
    Ok(())
}

/// The cron's retry of [`mark_touched`].
pub async fn retry_touched(cx: &Cx, job: jobs::Job) -> Result<()> {
    let payload: Value = serde_json::from_str(&job.payload).unwrap_or_default();
    let at = payload["at"]
        .as_i64()
        .ok_or_else(|| Error::internal(format!("touched job {} has no time", job.id)))?;
    mark_touched(cx, &job.subject, at).await
}

/// Ends the running clocks that these new assignments supersede (`sla::superseded` says how).
async fn supersede(cx: &Cx, scanned: &[NewAssignment]) -> Result<Vec<D1PreparedStatement>> {
    #[derive(Deserialize)]
    struct Running {
        assignment_id: String,
        lead_id: String,
        queue: Option<String>,
        started_at: i64,
        deadline_at: i64,
    }
    let mut leads: Vec<&str> = scanned.iter().map(|a| a.lead_id.as_str()).collect();
    leads.sort_unstable();
    leads.dedup();
    let running: Vec<Running> = cx
        .db
        .all_in(
            "SELECT assignment_id, lead_id, queue, started_at, deadline_at FROM sla_clocks WHERE state = 'running' AND lead_id IN ({in})",
            &[],
            &leads,
        )
        .await?;
    let mut stmts = Vec::new();
    for a in scanned {
        for c in running.iter().filter(|c| {
            c.lead_id == a.lead_id && c.assignment_id != a.id && c.started_at <= a.assigned_at
        }) {
            let (state, touched_at) = sla::superseded(
                c.queue.is_some(),
                c.deadline_at,
                a.rep_id.is_some(),
                a.assigned_at,
            );
            stmts.push(cx.db.stmt(
                "UPDATE sla_clocks SET state = ?, touched_at = COALESCE(?, touched_at), ended_at = ?, next_due_at = NULL \
                 WHERE assignment_id = ? AND state = 'running'",
                args![state, touched_at, a.assigned_at, &c.assignment_id],
            )?);
        }
    }
    Ok(stmts)
}

fn chunked(stmts: Vec<D1PreparedStatement>, n: usize) -> Vec<Vec<D1PreparedStatement>> {
    let mut out: Vec<Vec<D1PreparedStatement>> = Vec::new();
    for s in stmts {
        match out.last_mut() {
            Some(last) if last.len() < n => last.push(s),
            _ => out.push(vec![s]),
        }
    }
    out
}

#[derive(Deserialize)]
struct Due {
    #[serde(flatten)]
    clock: ClockRow,
    current: Option<i64>,
    open: Option<i64>,
}

/// A lead whose reassign step this tick took: (assignment, lead, owner).
struct Reassign {
    assignment: String,
    lead: String,
    rep: String,
}

/// What one tick did.
#[derive(Default)]
pub struct LadderPass {
    pub steps: Vec<Value>,
    pub ended: usize,
    pub reassigned: usize,
}

/// Takes the ladder steps that are due at `now`.
pub async fn run_due(cx: &Cx, now: i64) -> Result<LadderPass> {
    let due: Vec<Due> = cx
        .db
        .all(
            &format!(
                "SELECT {}, a.current AS current, a.status = 'open' AS open FROM sla_clocks c LEFT JOIN assignments a ON a.id = c.assignment_id \
                 WHERE c.next_due_at IS NOT NULL AND c.next_due_at <= ? ORDER BY c.next_due_at LIMIT ?",
                CLOCK_COLUMNS.split(", ").map(|c| format!("c.{c} AS {c}")).collect::<Vec<_>>().join(", ")
            ),
            args![now, DUE_BATCH],
        )
        .await?;
    let mut out = LadderPass::default();
    if due.is_empty() {
        return Ok(out);
    }
    let reps = store::reps(cx).await?;
    let team_leads = store::team_leads(cx).await?;
    let mut policies: HashMap<i64, Option<String>> = HashMap::new();
    let ids: Vec<String> = due.iter().map(|d| d.clock.lead_id.clone()).collect();
    let leads = store::leads(cx, &ids).await?;
    let mut reassign: Vec<Reassign> = Vec::new();
    for chunk in due.chunks(CHUNK) {
        let mut stmts = Vec::new();
        // (index of the event insert in `stmts`, what it was)
        let mut taken: Vec<(usize, Value, Option<Reassign>)> = Vec::new();
        for d in chunk {
            let c = &d.clock;
            let steps = c.steps();
            let open = d.current == Some(1) && d.open == Some(1);
            let (step, next, state, ended) = match sla::next_move(
                open,
                &steps,
                c.next_step as usize,
                now,
            ) {
                Move::End => {
                    stmts.push(cx.db.stmt(
                            "UPDATE sla_clocks SET state = 'ended', ended_at = ?, next_due_at = NULL WHERE assignment_id = ? AND state = 'running'",
                            args![now, &c.assignment_id],
                        )?);
                    out.ended += 1;
                    continue;
                }
                Move::Idle => {
                    stmts.push(cx.db.stmt(
                        "UPDATE sla_clocks SET next_due_at = NULL WHERE assignment_id = ?",
                        args![&c.assignment_id],
                    )?);
                    continue;
                }
                Move::Take {
                    step,
                    next_due,
                    state,
                    ended_at,
                } => (step, next_due, state, ended_at),
            };
            // An escalation task always has an assignee: the owner's manager, the team's lead,
            // the policy's escalation owner, or RevOps.
            if let std::collections::hash_map::Entry::Vacant(e) = policies.entry(c.policy_version) {
                e.insert(store::policy(cx, c.policy_version).await?.escalation_owner);
            }
            let escalation_owner = policies.get(&c.policy_version).and_then(|o| o.as_deref());
            let rep = c.rep_id.as_ref().and_then(|id| reps.get(id));
            let lead = leads.get(&c.lead_id).map(|(l, _)| l);
            let team_lead = c
                .team_id
                .as_ref()
                .and_then(|t| team_leads.get(t))
                .and_then(|l| l.as_deref());
            let step_taken = Taking {
                clock: c,
                step,
                next,
                state,
                ended,
                rep,
                lead,
                team_lead,
                escalation_owner,
            };
            let (mut more, view, re) = step_statements(cx, &step_taken, now)?;
            taken.push((stmts.len(), view, re));
            stmts.append(&mut more);
        }
        let changes = cx.db.batch(stmts).await?;
        for (i, view, re) in taken {
            if changes.get(i) == Some(&1) {
                out.steps.push(view);
                if let Some(r) = re {
                    reassign.push(r);
                }
            }
        }
    }
    for (
        i,
        Reassign {
            assignment,
            lead,
            rep,
        },
    ) in reassign.into_iter().enumerate()
    {
        if i < REASSIGN_NOW {
            match reassign_now(cx, &assignment, &lead, &rep, now).await {
                Ok(()) => {
                    jobs::complete(&cx.db, REASSIGN_JOB, &assignment).await?;
                    out.reassigned += 1;
                }
                Err(e) => {
                    jobs::fail(&cx.db, REASSIGN_JOB, &assignment, &e.to_string(), now).await?;
                }
            }
        }
    }
    Ok(out)
}

/// A ladder step being taken on a clock, with what its effects name.
#[derive(Clone, Copy)]
struct Taking<'a> {
    clock: &'a ClockRow,
    step: &'a DueStep,
    /// When the clock is due next, its state and when it ended, after this step.
    next: Option<i64>,
    state: &'static str,
    ended: Option<i64>,
    rep: Option<&'a revops::routing::roster::Rep>,
    lead: Option<&'a revops::intake::lead::Lead>,
    team_lead: Option<&'a str>,
    escalation_owner: Option<&'a str>,
}

/// The statements that take one step, exactly once: its event (the first statement, written
/// only while the clock still waits for this step), the clock's advance and the step's effects,
/// each guarded on that event. Also the step as the tick reports it, and the reassignment to
/// carry out if the step is one.
fn step_statements(
    cx: &Cx,
    t: &Taking,
    now: i64,
) -> Result<(Vec<D1PreparedStatement>, Value, Option<Reassign>)> {
    let Taking {
        clock: c,
        step,
        next,
        state,
        ended,
        rep,
        lead,
        team_lead,
        escalation_owner,
    } = *t;
    let event_id = cx.new_id(revops::ids::prefix::SLA_STEP);
    let mut stmts = Vec::new();
    let (assignee, assigned_because) = sla::escalation_assignee(
        rep.and_then(|r| r.manager.as_deref()),
        team_lead,
        escalation_owner,
    );
    let owner = match (&c.rep_id, &c.queue) {
        (Some(id), _) => {
            json!({ "rep": id, "name": rep.map(|r| r.name.clone()), "email": rep.and_then(|r| r.email.clone()) })
        }
        (None, queue) => json!({ "queue": queue }),
    };
    let data = json!({
        "lead": lead.map(|l| json!({ "id": l.id, "email": l.email, "first_name": l.first_name, "last_name": l.last_name, "company": l.company })),
        "assignment_id": c.assignment_id,
        "owner": owner,
        "manager": rep.and_then(|r| r.manager.clone()),
        "escalate_to": { "assignee": assignee, "because": assigned_because },
        "tier": c.tier,
        "step": step.id,
        "action": step.action,
        "deadline_at": rfc3339(c.deadline_at),
        "assigned_at": rfc3339(c.started_at),
        "explain_url": format!("/v1/leads/{}/sla", c.lead_id),
    });
    let detail = json!({ "due_at": rfc3339(step.due_at), "deadline_at": rfc3339(c.deadline_at), "owner": c.owner(), "via": step.via, "manager": data["manager"], "escalate_to": data["escalate_to"] });
    let guard = "EXISTS (SELECT 1 FROM sla_events WHERE id = ?)";
    let view = json!({ "lead_id": c.lead_id, "assignment_id": c.assignment_id, "step": step.id, "action": step.action });
    let reassign = (step.action == Action::Reassign).then(|| Reassign {
        assignment: c.assignment_id.clone(),
        lead: c.lead_id.clone(),
        rep: c.rep_id.clone().unwrap_or_default(),
    });
    stmts.push(cx.db.stmt(
        "INSERT OR IGNORE INTO sla_events (id, assignment_id, lead_id, step, action, at, detail) \
         SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM sla_clocks WHERE assignment_id = ? AND next_step = ? AND state = 'running')",
        args![&event_id, &c.assignment_id, &c.lead_id, &step.id, action_name(step.action), now, &detail, &c.assignment_id, c.next_step],
    )?);
    stmts.push(cx.db.stmt(
        &format!("UPDATE sla_clocks SET next_step = next_step + 1, next_due_at = ?, state = ?, ended_at = COALESCE(?, ended_at) WHERE assignment_id = ? AND next_step = ? AND {guard}"),
        args![next, state, ended, &c.assignment_id, c.next_step, &event_id],
    )?);
    // Workflows hear of the step (an `sla.step` trigger), only if it is taken.
    let event = revops::workflows::events::Event::new(
        revops::workflows::events::EventType::SlaStep,
        &event_id,
        &c.lead_id,
        now,
        json!({ "step": step.id, "action": action_name(step.action), "assignment_id": c.assignment_id }),
    );
    stmts.push(platform::events::emit_if(
        cx,
        &event,
        (guard, args![&event_id]),
    )?);
    stmts.extend(effects(
        cx,
        step,
        c,
        &event_id,
        &data,
        guard,
        (&assignee, assigned_because),
        now,
    )?);
    Ok((stmts, view, reassign))
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Warn => "warn",
        Action::Escalate => "escalate",
        Action::Reassign => "reassign",
    }
}

/// The statements a step writes besides its event and the clock's advance, each guarded by the
/// event row (present only if this tick took the step).
#[allow(clippy::too_many_arguments)]
fn effects(
    cx: &Cx,
    step: &DueStep,
    c: &ClockRow,
    event_id: &str,
    data: &Value,
    guard: &str,
    (assignee, assigned_because): (&str, &str),
    now: i64,
) -> Result<Vec<D1PreparedStatement>> {
    let mut out = Vec::new();
    let event = match step.action {
        Action::Warn => "sla.warning",
        Action::Escalate => "sla.escalated",
        Action::Reassign => "sla.reassigned",
    };
    if step.action == Action::Escalate && step.via.contains(&Via::Task) {
        let title = match (&c.rep_id, &c.queue) {
            (Some(rep), _) => format!("First-touch SLA missed ({}): follow up with {rep}", step.id),
            (None, queue) => format!(
                "First-touch SLA missed ({}): the lead is waiting in queue {}",
                step.id,
                queue.as_deref().unwrap_or("?")
            ),
        };
        out.push(cx.db.stmt(
            &format!(
                "INSERT OR IGNORE INTO sla_tasks (id, lead_id, assignment_id, assignee, assigned_because, title, status, created_at) \
                 SELECT ?, ?, ?, ?, ?, ?, 'open', ? WHERE {guard}"
            ),
            args![cx.new_id(revops::ids::prefix::TASK), &c.lead_id, &c.assignment_id, assignee, assigned_because, title, now, event_id],
        )?);
    }
    if step.via.contains(&Via::Webhook) || step.action == Action::Reassign {
        out.push(outbox::enqueue(
            cx,
            event,
            &c.lead_id,
            event_id,
            data,
            Some((guard, args![event_id])),
        )?);
    }
    if step.action == Action::Reassign {
        out.push(jobs::enqueue_claimed(
            &cx.db,
            &cx.new_id(revops::ids::prefix::JOB),
            REASSIGN_JOB,
            &c.assignment_id,
            &json!({ "lead_id": c.lead_id, "rep_id": c.rep_id }),
            now,
        )?);
    }
    Ok(out)
}

/// Hands a breached lead to routing, away from its owner, while the breached assignment is
/// still current. Records the outcome on the step's event.
pub async fn reassign_now(
    cx: &Cx,
    assignment: &str,
    lead: &str,
    rep: &str,
    now: i64,
) -> Result<()> {
    // `at`: the decision is made as of the tick.
    let body = json!({ "reason": "sla", "force": true, "exclude": rep, "only_if_current": assignment, "at": now });
    let reply = cx
        .call(
            Service::Routing,
            Method::Post,
            &format!("/internal/leads/{lead}/route"),
            Some(&body),
        )
        .await?;
    if !reply.ok() {
        return Err(Error::internal(format!(
            "routing answered {}: {}",
            reply.status, reply.body
        )));
    }
    cx.db
        .run(
            "UPDATE sla_events SET detail = json_set(detail, '$.new_owner', json(?), '$.routed', json(?)) WHERE assignment_id = ? AND action = 'reassign'",
            args![&reply.body["owner"], &reply.body["routed"], assignment],
        )
        .await?;
    Ok(())
}

/// The retry of a reassignment whose call to routing failed.
pub async fn retry_reassign(cx: &Cx, job: jobs::Job, now: i64) -> Result<()> {
    let payload: HashMap<String, String> = serde_json::from_str(&job.payload).unwrap_or_default();
    let (Some(lead), Some(rep)) = (payload.get("lead_id"), payload.get("rep_id")) else {
        return Err(Error::internal(format!(
            "reassign job {} has no lead",
            job.id
        )));
    };
    reassign_now(cx, &job.subject, lead, rep, now).await
}
