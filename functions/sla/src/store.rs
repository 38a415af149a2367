//! SLA's D1 access: the active policy, clocks, and what a clock needs to start (the lead, its
//! score, the owner's working hours, touches already recorded).

use std::collections::HashMap;

use revops::intake::lead::Lead;
use revops::routing::roster::Rep;
use revops::scoring::condition::RoutingFacts;
use revops::sla::{DueStep, Policy};
use serde::Deserialize;
use serde_json::Value;

use platform::{args, Cx, Error, Result};

pub use platform::versions::SLA_POLICIES as POLICIES;

pub async fn active(cx: &Cx) -> Result<(i64, Policy)> {
    let (version, doc) = POLICIES.active(cx).await?;
    let policy = Policy::parse(&doc)
        .map_err(|e| Error::internal(format!("stored SLA policy {version} is invalid: {e:?}")))?;
    Ok((version, policy))
}

/// A policy by version (a clock keeps the version it started under).
pub async fn policy(cx: &Cx, version: i64) -> Result<Policy> {
    let doc = POLICIES
        .document(cx, version)
        .await?
        .ok_or_else(|| Error::internal(format!("SLA policy {version} is missing")))?;
    Policy::parse(&doc)
        .map_err(|e| Error::internal(format!("stored SLA policy {version} is invalid: {e:?}")))
}

/// Leads by id, with their scores as routing conditions see them.
pub async fn leads(cx: &Cx, ids: &[String]) -> Result<HashMap<String, (Lead, RoutingFacts)>> {
    #[derive(Deserialize)]
    struct Row {
        data: String,
        fit: Option<f64>,
        engagement: Option<f64>,
        total: Option<f64>,
        stage: Option<String>,
    }
    let rows: Vec<Row> = cx
        .db
        .all_in(
            "SELECT l.data AS data, s.fit AS fit, s.engagement AS engagement, s.total AS total, s.stage AS stage \
             FROM leads l LEFT JOIN lead_scores s ON s.lead_id = l.id WHERE l.id IN ({in})",
            &[],
            ids,
        )
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let lead: Lead = serde_json::from_str(&r.data)?;
        let facts = RoutingFacts {
            score: r.total,
            fit_score: r.fit,
            engagement_score: r.engagement,
            stage: r.stage,
            segment: None,
        };
        out.insert(lead.id.clone(), (lead, facts));
    }
    Ok(out)
}

/// The roster (routing's table): owners' working hours and managers.
pub async fn reps(cx: &Cx) -> Result<HashMap<String, Rep>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        doc: String,
    }
    let rows: Vec<Row> = cx.db.all("SELECT id, doc FROM reps", args![]).await?;
    rows.into_iter()
        .map(|r| {
            let doc: Value = serde_json::from_str(&r.doc)?;
            let rep = Rep::parse(&r.id, &doc)
                .map_err(|e| Error::internal(format!("stored rep {} is invalid: {e:?}", r.id)))?;
            Ok((r.id, rep))
        })
        .collect()
}

/// The teams (routing's table), for their leads: escalations for members without a manager.
pub async fn team_leads(cx: &Cx) -> Result<HashMap<String, Option<String>>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        doc: String,
    }
    let rows: Vec<Row> = cx.db.all("SELECT id, doc FROM teams", args![]).await?;
    rows.into_iter()
        .map(|r| {
            let doc: Value = serde_json::from_str(&r.doc)?;
            let team = revops::routing::roster::Team::parse(&r.id, &doc)
                .map_err(|e| Error::internal(format!("stored team {} is invalid: {e:?}", r.id)))?;
            Ok((r.id, team.lead))
        })
        .collect()
}

/// A clock as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct ClockRow {
    pub assignment_id: String,
    pub lead_id: String,
    pub rep_id: Option<String>,
    pub queue: Option<String>,
    pub team_id: Option<String>,
    pub tier: String,
    pub policy_version: i64,
    pub timezone: String,
    pub started_at: i64,
    pub deadline_at: i64,
    pub steps: String,
    pub next_step: i64,
    pub next_due_at: Option<i64>,
    pub state: String,
    pub touched_at: Option<i64>,
    pub touch_id: Option<String>,
    pub ended_at: Option<i64>,
    pub follow_up_due_at: Option<i64>,
    pub followed_up_at: Option<i64>,
}

pub const CLOCK_COLUMNS: &str = "assignment_id, lead_id, rep_id, queue, team_id, tier, policy_version, timezone, started_at, deadline_at, steps, next_step, next_due_at, state, touched_at, touch_id, ended_at, follow_up_due_at, followed_up_at";

impl ClockRow {
    pub fn steps(&self) -> Vec<DueStep> {
        serde_json::from_str(&self.steps).unwrap_or_default()
    }

    /// Who holds the lead: `{"rep": id}` or `{"queue": name}`.
    pub fn owner(&self) -> Value {
        match (&self.rep_id, &self.queue) {
            (Some(r), _) => serde_json::json!({ "rep": r }),
            (None, Some(q)) => serde_json::json!({ "queue": q }),
            _ => Value::Null,
        }
    }
}

pub async fn clocks_of(cx: &Cx, lead_id: &str) -> Result<Vec<ClockRow>> {
    cx.db
        .all(
            &format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE lead_id = ? ORDER BY started_at DESC LIMIT 100"),
            args![lead_id],
        )
        .await
}

/// A clock that breached, with the ladder steps taken for it.
#[derive(Debug, Clone, Deserialize)]
pub struct BreachRow {
    pub assignment_id: String,
    pub lead_id: String,
    pub rep_id: Option<String>,
    pub queue: Option<String>,
    pub team_id: Option<String>,
    pub tier: String,
    pub started_at: i64,
    pub deadline_at: i64,
    pub touched_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// JSON `[{step, action, at}]`, oldest first.
    pub taken: String,
}

/// Clocks started in `[from, to)` that may have breached by `now` — the caller keeps those
/// `revops::sla::standing` says did — newest deadline first, with their steps taken.
pub async fn breach_candidates(
    cx: &Cx,
    from: i64,
    to: i64,
    now: i64,
    limit: usize,
) -> Result<Vec<BreachRow>> {
    cx.db
        .all(
            "SELECT c.assignment_id, c.lead_id, c.rep_id, c.queue, c.team_id, c.tier, c.started_at, c.deadline_at, \
             c.touched_at, c.ended_at, \
             (SELECT json_group_array(json_object('step', e.step, 'action', e.action, 'at', e.at)) \
              FROM (SELECT step, action, at FROM sla_events WHERE assignment_id = c.assignment_id ORDER BY at) e) AS taken \
             FROM sla_clocks c WHERE c.started_at >= ? AND c.started_at < ? AND c.deadline_at <= ? \
             AND (c.touched_at IS NULL OR c.touched_at > c.deadline_at) \
             ORDER BY c.deadline_at DESC LIMIT ?",
            args![from, to, now, limit],
        )
        .await
}

/// A touch as the SLA page lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct TouchRow {
    pub id: String,
    pub lead_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: i64,
    pub rep_id: Option<String>,
    pub note: Option<String>,
}

/// Touches that happened in `[from, to)`, newest first.
pub async fn touches_between(cx: &Cx, from: i64, to: i64, limit: usize) -> Result<Vec<TouchRow>> {
    cx.db
        .all(
            "SELECT id, lead_id, type, occurred_at, rep_id, note FROM sla_touches \
             WHERE occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at DESC LIMIT ?",
            args![from, to, limit],
        )
        .await
}
