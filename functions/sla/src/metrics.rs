//! `GET /v1/sla/metrics`: compliance, time to first touch and sales' verdicts for a period.

use std::collections::{BTreeMap, HashMap};

use revops::sla::Tally;
use revops::time::{rfc3339, DAY};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::invalid;
use platform::{args, http, Cx, Result};

/// `GET /v1/sla/metrics?from=&to=`: for assignments made in the range, overall and by team and
/// rep — leads assigned, touched within SLA, breached, median and p90 minutes to first touch,
/// and sales' MQL acceptance and rejection with the reasons.
pub async fn metrics(cx: &Cx, req: &Request) -> Result<Response> {
    let (from, to) = revops::time::window(
        http::query_time(req, "from")?,
        http::query_time(req, "to")?,
        cx.now_ms,
        30 * DAY,
    )
    .map_err(|e| invalid(vec![e]))?;
    #[derive(Deserialize)]
    struct Row {
        lead_id: String,
        rep_id: Option<String>,
        queue: Option<String>,
        team_id: Option<String>,
        started_at: i64,
        deadline_at: i64,
        touched_at: Option<i64>,
        ended_at: Option<i64>,
        follow_up_due_at: Option<i64>,
        followed_up_at: Option<i64>,
    }
    const LIMIT: usize = 100_000;
    let rows: Vec<Row> = cx
        .db
        .all(
            "SELECT lead_id, rep_id, queue, team_id, started_at, deadline_at, touched_at, ended_at, follow_up_due_at, followed_up_at FROM sla_clocks \
             WHERE started_at >= ? AND started_at < ? ORDER BY started_at LIMIT ?",
            args![from, to, LIMIT],
        )
        .await?;
    #[derive(Deserialize)]
    struct SalesOutcomeRow {
        lead_id: String,
        outcome: String,
        reason: Option<String>,
    }
    let outcomes: Vec<SalesOutcomeRow> = cx
        .db
        .all(
            "SELECT o.lead_id AS lead_id, o.outcome AS outcome, o.reason AS reason FROM lead_outcomes o \
             WHERE o.lead_id IN (SELECT lead_id FROM sla_clocks WHERE started_at >= ? AND started_at < ?) ORDER BY o.at",
            args![from, to],
        )
        .await?;
    let now = cx.now_ms;
    let mut all = Tally::default();
    let mut teams: BTreeMap<String, Tally> = BTreeMap::new();
    let mut reps: BTreeMap<String, Tally> = BTreeMap::new();
    let mut queues: BTreeMap<String, Tally> = BTreeMap::new();
    // The rep a lead's outcome is credited to: the latest rep clock in the range.
    let mut owner: HashMap<&str, (&str, Option<&str>)> = HashMap::new();
    for r in &rows {
        let mut groups: Vec<&mut Tally> = vec![&mut all];
        if let Some(rep) = &r.rep_id {
            groups.push(reps.entry(rep.clone()).or_default());
            owner.insert(&r.lead_id, (rep, r.team_id.as_deref()));
        }
        if let Some(q) = &r.queue {
            groups.push(queues.entry(q.clone()).or_default());
        }
        if let Some(t) = &r.team_id {
            groups.push(teams.entry(t.clone()).or_default());
        }
        for g in groups {
            g.add_clock(r.started_at, r.deadline_at, r.touched_at, r.ended_at, now);
            g.add_follow_up(r.follow_up_due_at, r.followed_up_at, now);
        }
    }
    // The latest outcome per lead counts.
    let mut last: HashMap<&str, &SalesOutcomeRow> = HashMap::new();
    for o in &outcomes {
        last.insert(&o.lead_id, o);
    }
    for (lead, o) in last {
        all.add_outcome(&o.outcome, o.reason.as_deref());
        if let Some((rep, team)) = owner.get(lead) {
            reps.entry(rep.to_string())
                .or_default()
                .add_outcome(&o.outcome, o.reason.as_deref());
            if let Some(t) = team {
                teams
                    .entry(t.to_string())
                    .or_default()
                    .add_outcome(&o.outcome, o.reason.as_deref());
            }
        }
    }
    let group = |m: &BTreeMap<String, Tally>| -> serde_json::Map<String, Value> {
        m.iter().map(|(k, t)| (k.clone(), t.to_json())).collect()
    };
    http::json(
        200,
        &json!({
            "from": rfc3339(from), "to": rfc3339(to),
            "truncated": rows.len() == LIMIT,
            "overall": all.to_json(),
            "by_team": group(&teams),
            "by_rep": group(&reps),
            "by_queue": group(&queues),
        }),
    )
}

/// The range and page size of a list: `from`/`to` (default the last 30 days) and `limit`
/// (1–500, default 100).
fn list_window(cx: &Cx, req: &Request) -> Result<(i64, i64, usize)> {
    let (from, to) = revops::time::window(
        http::query_time(req, "from")?,
        http::query_time(req, "to")?,
        cx.now_ms,
        30 * DAY,
    )
    .map_err(|e| invalid(vec![e]))?;
    let limit = http::query_int(req, "limit", 1, 500)?.unwrap_or(100) as usize;
    Ok((from, to, limit))
}

/// `GET /v1/sla/breaches?from=&to=&limit=`: first-touch deadlines missed by clocks started in
/// the range, newest deadline first, each with the ladder steps taken for it.
pub async fn breaches(cx: &Cx, req: &Request) -> Result<Response> {
    let (from, to, limit) = list_window(cx, req)?;
    let now = cx.now_ms;
    let rows = crate::store::breach_candidates(cx, from, to, now, limit).await?;
    let breaches: Vec<Value> = rows
        .iter()
        .filter(|r| {
            revops::sla::standing(r.deadline_at, r.touched_at, r.ended_at, now)
                == revops::sla::Standing::Breached
        })
        .map(|r| {
            let taken: Vec<Value> = serde_json::from_str::<Vec<Value>>(&r.taken)
                .unwrap_or_default()
                .into_iter()
                .map(|mut s| {
                    if let Some(at) = s["at"].as_i64() {
                        s["at"] = rfc3339(at).into();
                    }
                    s
                })
                .collect();
            json!({
                "assignment_id": r.assignment_id,
                "lead_id": r.lead_id,
                "rep": r.rep_id,
                "queue": r.queue,
                "team": r.team_id,
                "tier": r.tier,
                "started_at": rfc3339(r.started_at),
                "deadline_at": rfc3339(r.deadline_at),
                "touched_at": r.touched_at.map(rfc3339),
                "minutes_late": (r.touched_at.unwrap_or(now) - r.deadline_at).max(0) / 60_000,
                "steps_taken": taken,
            })
        })
        .collect();
    http::json(
        200,
        &json!({ "from": rfc3339(from), "to": rfc3339(to), "breaches": breaches }),
    )
}

/// `GET /v1/sla/touches?from=&to=&limit=`: the touches that happened in the range, newest first.
pub async fn touches(cx: &Cx, req: &Request) -> Result<Response> {
    let (from, to, limit) = list_window(cx, req)?;
    let rows = crate::store::touches_between(cx, from, to, limit).await?;
    let touches: Vec<Value> = rows
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "lead_id": t.lead_id, "type": t.kind,
                "occurred_at": rfc3339(t.occurred_at), "rep": t.rep_id, "note": t.note,
            })
        })
        .collect();
    http::json(
        200,
        &json!({ "from": rfc3339(from), "to": rfc3339(to), "touches": touches }),
    )
}
