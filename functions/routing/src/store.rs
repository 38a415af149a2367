//! Routing's D1 access: what a decision reads (lead, score, account, roster, loads, the active
//! rules), the atomic round-robin cursor, and the one-batch assignment write.

use std::collections::HashMap;

use revops::intake::lead::Lead;
use revops::problem::Problem;
use revops::routing::decide::Account;
use revops::routing::roster::{Load, Rep, Team};
use revops::routing::{self, Config};
use revops::scoring::condition::{Facts, RoutingFacts};
use revops::time::{rfc3339, HOUR};
use serde::Deserialize;
use serde_json::{json, Value};

use platform::{args, Arg, Cx, Error, Result};

pub use platform::versions::ROUTING_CONFIGS as CONFIGS;

pub async fn active(cx: &Cx) -> Result<(i64, Config)> {
    let (version, doc) = CONFIGS.active(cx).await?;
    let config = Config::parse(&doc).map_err(|e| {
        Error::internal(format!("stored routing config {version} is invalid: {e:?}"))
    })?;
    Ok((version, config))
}

pub async fn lead(cx: &Cx, id: &str) -> Result<Lead> {
    #[derive(Deserialize)]
    struct Row {
        data: String,
    }
    let row: Row = cx
        .db
        .first("SELECT data FROM leads WHERE id = ?", args![id])
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("lead {id}"))))?;
    Ok(serde_json::from_str(&row.data)?)
}

/// What explains a lead that was never routed: its score row (scoring's, read-only here), the
/// retry-queue jobs on it, the active scoring model's MQL threshold and the routing version.
pub async fn unrouted(cx: &Cx, id: &str) -> Result<revops::routing::unrouted::Unrouted> {
    use revops::routing::unrouted::{Pending, Unrouted};
    #[derive(Deserialize)]
    struct Score {
        total: f64,
        stage: String,
        scored_at: i64,
        stage_changed_at: i64,
    }
    #[derive(Deserialize)]
    struct Job {
        kind: String,
        state: String,
        attempts: u32,
        run_after: i64,
        last_error: Option<String>,
    }
    let mut reads = cx
        .db
        .read_batch(vec![
            cx.db.stmt(
                "SELECT total, stage, scored_at, stage_changed_at FROM lead_scores WHERE lead_id = ?",
                args![id],
            )?,
            cx.db.stmt(
                "SELECT kind, state, attempts, run_after, last_error FROM jobs WHERE subject = ? ORDER BY created_at",
                args![id],
            )?,
        ])
        .await?
        .into_iter();
    let score = platform::db::rows::<Score>("lead_scores", reads.next().unwrap_or_default())?.pop();
    let jobs = platform::db::rows::<Job>("jobs", reads.next().unwrap_or_default())?;
    let (model_version, model) = platform::versions::SCORING_MODELS.active(cx).await?;
    let mql_at = revops::scoring::Model::from_json(&model)
        .ok()
        .and_then(|m| m.mql_threshold());
    let (routing_version, _) = CONFIGS.active(cx).await?;
    Ok(Unrouted {
        stage: score.as_ref().map(|s| s.stage.clone()),
        score: score.as_ref().map(|s| s.total),
        scored_at: score.as_ref().map(|s| s.scored_at),
        stage_changed_at: score.as_ref().map(|s| s.stage_changed_at),
        model_version,
        mql_at,
        pending: jobs
            .into_iter()
            .map(|j| Pending {
                kind: j.kind,
                state: j.state,
                attempts: j.attempts,
                next_attempt_at: j.run_after,
                last_error: j.last_error,
            })
            .collect(),
        routing_version,
        now: cx.now_ms,
    })
}

/// The lead's score and stage, as routing conditions see them.
pub async fn scores(cx: &Cx, id: &str) -> Result<RoutingFacts> {
    #[derive(Deserialize)]
    struct Row {
        fit: f64,
        engagement: f64,
        total: f64,
        stage: String,
    }
    let row: Option<Row> = cx
        .db
        .first(
            "SELECT fit, engagement, total, stage FROM lead_scores WHERE lead_id = ?",
            args![id],
        )
        .await?;
    Ok(row
        .map(|r| RoutingFacts {
            score: Some(r.total),
            fit_score: Some(r.fit),
            engagement_score: Some(r.engagement),
            stage: Some(r.stage),
            segment: None,
        })
        .unwrap_or_default())
}

/// What routing conditions see: the lead, its scores, and whether it is an existing customer
/// (its own `customer` attribute, or a matching CRM account marked as a customer).
pub fn facts<'a>(lead: &'a Lead, scores: &'a RoutingFacts, account: Option<&Account>) -> Facts<'a> {
    Facts {
        lead: Some(lead),
        routing: Some(scores),
        existing_customer: routing::existing_customer(lead, account),
        ..Default::default()
    }
}

/// The account the lead's company matches, most specific domain first.
pub async fn account(cx: &Cx, lead: &Lead) -> Result<Option<Account>> {
    let domains = routing::account_domains(lead.company_domain.as_deref(), &lead.email);
    if domains.is_empty() {
        return Ok(None);
    }
    #[derive(Deserialize)]
    struct Row {
        domain: String,
        id: String,
        name: String,
        owner_rep_id: Option<String>,
        customer: i64,
    }
    let marks = vec!["?"; domains.len()].join(", ");
    let rows: Vec<Row> = cx
        .db
        .all(
            &format!(
                "SELECT d.domain AS domain, a.id AS id, a.name AS name, a.owner_rep_id AS owner_rep_id, a.customer AS customer \
                 FROM account_domains d JOIN accounts a ON a.id = d.account_id WHERE d.domain IN ({marks})"
            ),
            domains.iter().map(Arg::from).collect(),
        )
        .await?;
    let accounts: Vec<Account> = rows
        .into_iter()
        .map(|r| Account {
            id: r.id,
            name: r.name,
            owner: r.owner_rep_id,
            domain: r.domain,
            customer: r.customer == 1,
        })
        .collect();
    Ok(routing::matching_account(&domains, &accounts).cloned())
}

#[derive(Deserialize)]
struct DocRow {
    id: String,
    doc: String,
}

pub async fn reps(cx: &Cx) -> Result<HashMap<String, Rep>> {
    let rows: Vec<DocRow> = cx.db.all("SELECT id, doc FROM reps", args![]).await?;
    rows.into_iter()
        .map(|r| {
            let doc: Value = serde_json::from_str(&r.doc)?;
            let rep = Rep::parse(&r.id, &doc)
                .map_err(|e| Error::internal(format!("stored rep {} is invalid: {e:?}", r.id)))?;
            Ok((r.id, rep))
        })
        .collect()
}

pub async fn teams(cx: &Cx) -> Result<HashMap<String, Team>> {
    let rows: Vec<DocRow> = cx.db.all("SELECT id, doc FROM teams", args![]).await?;
    rows.into_iter()
        .map(|r| {
            let doc: Value = serde_json::from_str(&r.doc)?;
            let team = Team::parse(&r.id, &doc)
                .map_err(|e| Error::internal(format!("stored team {} is invalid: {e:?}", r.id)))?;
            Ok((r.id, team))
        })
        .collect()
}

/// The given reps' open leads and leads received today (their local day), read through the
/// (rep_id, …) indexes: the cost follows these reps' loads, not the size of the history.
pub async fn loads(
    cx: &Cx,
    reps: &HashMap<String, Rep>,
    now: i64,
) -> Result<HashMap<String, Load>> {
    #[derive(Deserialize)]
    struct Open {
        rep_id: String,
        n: u32,
    }
    #[derive(Deserialize)]
    struct Day {
        rep_id: String,
        rep_day: Option<String>,
        n: u32,
    }
    let ids: Vec<&String> = reps.keys().collect();
    let mut open: Vec<Open> = Vec::new();
    let mut days: Vec<Day> = Vec::new();
    for chunk in ids.chunks(90) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let list: Vec<Arg> = chunk.iter().map(|id| Arg::from(*id)).collect();
        open.extend(
            cx.db
                .all::<Open>(
                    &format!("SELECT rep_id, COUNT(*) AS n FROM assignments WHERE rep_id IN ({marks}) AND current = 1 AND status = 'open' GROUP BY rep_id"),
                    list.clone(),
                )
                .await?,
        );
        let mut with_since = list;
        with_since.push(Arg::Int(now - 50 * HOUR));
        days.extend(
            cx.db
                .all::<Day>(
                    &format!("SELECT rep_id, rep_day, COUNT(*) AS n FROM assignments WHERE rep_id IN ({marks}) AND assigned_at >= ? GROUP BY rep_id, rep_day"),
                    with_since,
                )
                .await?,
        );
    }
    let mut out: HashMap<String, Load> = HashMap::new();
    for o in open {
        out.entry(o.rep_id).or_default().open = o.n;
    }
    for d in days {
        if let Some(rep) = reps.get(&d.rep_id) {
            if d.rep_day.as_deref() == Some(rep.local_day(now).as_str()) {
                out.entry(d.rep_id).or_default().today = d.n;
            }
        }
    }
    Ok(out)
}

/// Draws the team's next round-robin position (0-based): one atomic UPSERT … RETURNING, so
/// concurrent routings never share a position.
pub async fn draw_slot(cx: &Cx, team: &str) -> Result<u64> {
    #[derive(Deserialize)]
    struct Row {
        position: i64,
    }
    let row: Row = cx
        .db
        .first(
            "INSERT INTO rr_cursors (team_id, position) VALUES (?, 1) \
             ON CONFLICT (team_id) DO UPDATE SET position = position + 1 RETURNING position",
            args![team],
        )
        .await?
        .ok_or_else(|| Error::internal("the cursor returned nothing"))?;
    Ok((row.position - 1).max(0) as u64)
}

/// An assignment as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct AssignmentRow {
    pub id: String,
    pub lead_id: String,
    pub rep_id: Option<String>,
    pub queue: Option<String>,
    pub team_id: Option<String>,
    pub rule_id: Option<String>,
    pub via: String,
    pub reason: String,
    pub fallback_reason: Option<String>,
    pub config_version: i64,
    pub explanation: String,
    pub assigned_at: i64,
    pub assigned_by: String,
    pub current: i64,
    pub status: String,
    pub ended_at: Option<i64>,
    pub ended_reason: Option<String>,
}

pub const ASSIGNMENT_COLUMNS: &str = "id, lead_id, rep_id, queue, team_id, rule_id, via, reason, fallback_reason, config_version, explanation, assigned_at, assigned_by, current, status, ended_at, ended_reason";

impl AssignmentRow {
    pub fn owner(&self) -> Value {
        match (&self.rep_id, &self.queue) {
            (Some(rep), _) => json!({ "rep": rep }),
            (None, Some(q)) => json!({ "queue": q }),
            _ => Value::Null,
        }
    }

    pub fn view(&self, reps: Option<&HashMap<String, Rep>>) -> Value {
        let rep = self
            .rep_id
            .as_ref()
            .and_then(|id| reps.and_then(|r| r.get(id)))
            .map(|r| json!({ "id": r.id, "name": r.name, "email": r.email }));
        json!({
            "id": self.id,
            "lead_id": self.lead_id,
            "owner": self.owner(),
            "rep": rep,
            "team": self.team_id,
            "rule": self.rule_id,
            "via": self.via,
            "reason": self.reason,
            "fallback_reason": self.fallback_reason,
            "config_version": self.config_version,
            "assigned_at": rfc3339(self.assigned_at),
            "assigned_by": self.assigned_by,
            "current": self.current == 1,
            "status": self.status,
            "ended_at": self.ended_at.map(rfc3339),
            "ended_reason": self.ended_reason,
            "explanation": serde_json::from_str::<Value>(&self.explanation).unwrap_or(Value::Null),
        })
    }
}

pub async fn current(cx: &Cx, lead_id: &str) -> Result<Option<AssignmentRow>> {
    cx.db
        .first(
            &format!(
                "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE lead_id = ? AND current = 1"
            ),
            args![lead_id],
        )
        .await
}

pub async fn history(cx: &Cx, lead_id: &str) -> Result<Vec<AssignmentRow>> {
    cx.db
        .all(
            &format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE lead_id = ? AND current != 2 ORDER BY assigned_at DESC, current DESC LIMIT 200"),
            args![lead_id],
        )
        .await
}

/// What a new assignment writes.
pub struct NewAssignment<'a> {
    pub id: String,
    pub lead_id: &'a str,
    pub rep: Option<&'a Rep>,
    pub queue: Option<String>,
    pub team: Option<String>,
    pub rule: Option<String>,
    pub via: &'a str,
    pub reason: &'a str,
    pub fallback_reason: Option<&'a str>,
    pub config_version: i64,
    pub explanation: Value,
    /// The assignment it replaces (`None`: the lead must have no owner yet).
    pub replaces: Option<String>,
    /// Hold the rep's capacity limits in the write (off only for a person's manual move).
    pub guard_capacity: bool,
    /// Capacity races this routing lost before this assignment (counted in the stats).
    pub races_lost: usize,
    pub ended_reason: &'a str,
}

/// Writes an assignment in one atomic batch: the new row (only if the lead's ownership is still
/// what the decision saw, and the rep still has room), the end of the previous one, and the
/// outgoing webhook messages. `Ok(false)`: the guard refused (someone else routed the lead, or
/// the rep filled up meanwhile).
pub async fn write(cx: &Cx, a: &NewAssignment<'_>, webhook: &Value) -> Result<bool> {
    let rep_id = a.rep.map(|r| r.id.clone());
    let rep_day = a.rep.map(|r| r.local_day(cx.now_ms));
    let (max_open, max_day) = match (a.guard_capacity, a.rep) {
        (true, Some(r)) => (r.max_open, r.max_per_day),
        _ => (None, None),
    };
    let insert = cx.db.stmt(
        "INSERT INTO assignments (id, lead_id, rep_id, queue, team_id, rule_id, via, reason, fallback_reason, config_version, explanation, rep_day, assigned_at, assigned_by, current, status, races_lost) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 2, 'open', ?18 \
         WHERE ((?15 IS NULL AND NOT EXISTS (SELECT 1 FROM assignments WHERE lead_id = ?2 AND current = 1)) \
             OR (?15 IS NOT NULL AND EXISTS (SELECT 1 FROM assignments WHERE id = ?15 AND lead_id = ?2 AND current = 1))) \
           AND (?16 IS NULL OR (SELECT COUNT(*) FROM assignments WHERE rep_id = ?3 AND current = 1 AND status = 'open') < ?16) \
           AND (?17 IS NULL OR (SELECT COUNT(*) FROM assignments WHERE rep_id = ?3 AND rep_day = ?12) < ?17)",
        args![
            &a.id,
            a.lead_id,
            rep_id,
            a.queue.clone(),
            a.team.clone(),
            a.rule.clone(),
            a.via,
            a.reason,
            a.fallback_reason,
            a.config_version,
            &a.explanation,
            rep_day,
            cx.now_ms,
            cx.actor(),
            a.replaces.clone(),
            max_open,
            max_day,
            a.races_lost,
        ],
    )?;
    let end = cx.db.stmt(
        "UPDATE assignments SET current = 0, ended_at = ?, ended_reason = COALESCE(ended_reason, ?) \
         WHERE lead_id = ? AND current = 1 AND EXISTS (SELECT 1 FROM assignments WHERE id = ? AND current = 2)",
        args![cx.now_ms, a.ended_reason, a.lead_id, &a.id],
    )?;
    let promote = cx.db.stmt(
        "UPDATE assignments SET current = 1 WHERE id = ? AND current = 2",
        args![&a.id],
    )?;
    let notify = platform::outbox::enqueue(
        cx,
        "assignment.created",
        a.lead_id,
        &a.id,
        webhook,
        Some((
            "EXISTS (SELECT 1 FROM assignments WHERE id = ? AND current = 1)",
            args![&a.id],
        )),
    )?;
    let changes = cx.db.batch(vec![insert, end, promote, notify]).await?;
    Ok(changes.first() == Some(&1))
}
