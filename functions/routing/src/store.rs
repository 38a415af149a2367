//! Routing's D1 access: what a decision reads (lead, score, account, roster, loads, the active
//! rules), the atomic round-robin cursor, and the one-batch assignment write.

use revops::intake::lead::Lead;
use revops::problem::Problem;
use revops::routing::decide::Account;
use revops::routing::roster::{Load, Rep, Team};
use revops::routing::{self, Config};
use revops::scoring::condition::{Facts, RoutingFacts};
use revops::time::{rfc3339, HOUR};
use revops::Map;
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

const LEAD: &str = "SELECT data FROM leads WHERE id = ?";

#[derive(Deserialize)]
struct LeadRow {
    data: String,
}

fn lead_from(id: &str, row: Option<LeadRow>) -> Result<Lead> {
    let row = row.ok_or_else(|| Error::Problem(Problem::not_found(format!("lead {id}"))))?;
    Ok(serde_json::from_str(&row.data)?)
}

pub async fn lead(cx: &Cx, id: &str) -> Result<Lead> {
    lead_from(id, cx.db.first(LEAD, args![id]).await?)
}

/// Everything a routing decision reads.
pub struct DecisionReads {
    pub lead: Lead,
    pub current: Option<AssignmentRow>,
    pub scores: RoutingFacts,
    pub account: Option<Account>,
    pub reps: Map<String, Rep>,
    pub teams: Map<String, Team>,
    /// The loads of every rep the decision may consider (and perhaps a few more).
    pub loads: Map<String, Load>,
    /// Each team's next round-robin position as read (a team never drawn from is at 0): the
    /// first decision claims its slot from this in the write instead of drawing it first.
    pub cursors: Map<String, u64>,
}

/// Reads what a decision for `lead_id` under `config` needs: in one round trip when the caller
/// passed the lead and its scores (scoring's MQL hand-off: both were just written), in two
/// otherwise (the lead first: the account and its owner's load follow from its domains).
pub async fn decision_reads(
    cx: &Cx,
    config: &Config,
    lead_id: &str,
    given: Option<(&Lead, &RoutingFacts)>,
) -> Result<DecisionReads> {
    let (direct, named_teams) = config.references();
    let mut reads = vec![
        current_statement(cx, lead_id)?,
        cx.db.stmt(REPS, args![])?,
        cx.db.stmt(TEAMS, args![])?,
        cx.db.stmt(CURSORS, args![])?,
    ];
    let lead_reads = |lead: &Lead| -> Result<(Vec<String>, Vec<worker::D1PreparedStatement>)> {
        let domains = routing::account_domains(lead.company_domain.as_deref(), &lead.email);
        let mut reads = Vec::from(loads_statements(
            cx,
            &direct,
            &named_teams,
            &domains,
            cx.now_ms,
        )?);
        reads.extend(account_statement(cx, &domains)?);
        Ok((domains, reads))
    };
    let given_domains = match given {
        Some((lead, _)) => {
            let (domains, more) = lead_reads(lead)?;
            reads.extend(more);
            Some(domains)
        }
        None => {
            reads.push(cx.db.stmt(SCORES, args![lead_id])?);
            reads.push(cx.db.stmt(LEAD, args![lead_id])?);
            None
        }
    };
    let mut results = cx.db.read_batch(reads).await?.into_iter();
    let current =
        platform::db::rows::<AssignmentRow>("assignments", results.next().unwrap_or_default())?
            .pop();
    let reps = reps_from(platform::db::rows(
        "reps",
        results.next().unwrap_or_default(),
    )?)?;
    let teams = teams_from(platform::db::rows(
        "teams",
        results.next().unwrap_or_default(),
    )?)?;
    let cursors = cursors_from(platform::db::rows(
        "rr_cursors",
        results.next().unwrap_or_default(),
    )?);
    let (lead, scores, domains, mut results) = match (given, given_domains) {
        (Some((lead, scores)), Some(domains)) => (lead.clone(), scores.clone(), domains, results),
        _ => {
            let scores = scores_from(
                platform::db::rows("lead_scores", results.next().unwrap_or_default())?.pop(),
            );
            let lead = lead_from(
                lead_id,
                platform::db::rows("leads", results.next().unwrap_or_default())?.pop(),
            )?;
            let (domains, more) = lead_reads(&lead)?;
            let results = cx.db.read_batch(more).await?.into_iter();
            (lead, scores, domains, results)
        }
    };
    let open = platform::db::rows::<OpenRow>("assignments", results.next().unwrap_or_default())?;
    let days = platform::db::rows::<DayRow>("assignments", results.next().unwrap_or_default())?;
    let account_rows = if domains.is_empty() {
        Vec::new()
    } else {
        platform::db::rows::<AccountRow>("accounts", results.next().unwrap_or_default())?
    };
    Ok(DecisionReads {
        loads: loads_from(open, days, &reps, cx.now_ms),
        account: account_from(&domains, account_rows),
        lead,
        current,
        scores,
        reps,
        teams,
        cursors,
    })
}

#[derive(Deserialize)]
struct CursorRow {
    team_id: String,
    position: i64,
}

fn cursors_from(rows: Vec<CursorRow>) -> Map<String, u64> {
    rows.into_iter()
        .map(|r| (r.team_id, r.position.max(0) as u64))
        .collect()
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

const SCORES: &str = "SELECT fit, engagement, total, stage FROM lead_scores WHERE lead_id = ?";

#[derive(Deserialize)]
struct ScoreRow {
    fit: f64,
    engagement: f64,
    total: f64,
    stage: String,
}

/// The lead's score and stage, as routing conditions see them.
fn scores_from(row: Option<ScoreRow>) -> RoutingFacts {
    row.map(|r| RoutingFacts {
        score: Some(r.total),
        fit_score: Some(r.fit),
        engagement_score: Some(r.engagement),
        stage: Some(r.stage),
        segment: None,
    })
    .unwrap_or_default()
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

#[derive(Deserialize)]
struct AccountRow {
    domain: String,
    id: String,
    name: String,
    owner_rep_id: Option<String>,
    customer: i64,
}

/// The accounts on these domains (`None` when there are none to look up).
fn account_statement(cx: &Cx, domains: &[String]) -> Result<Option<worker::D1PreparedStatement>> {
    if domains.is_empty() {
        return Ok(None);
    }
    // A lead has at most two domains (its company's and its email's).
    let marks = platform::db::marks(domains.len());
    cx.db
        .stmt(
            &format!(
                "SELECT d.domain AS domain, a.id AS id, a.name AS name, a.owner_rep_id AS owner_rep_id, a.customer AS customer \
                 FROM account_domains d JOIN accounts a ON a.id = d.account_id WHERE d.domain IN ({marks})"
            ),
            domains.iter().map(Arg::from).collect(),
        )
        .map(Some)
}

fn account_from(domains: &[String], rows: Vec<AccountRow>) -> Option<Account> {
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
    routing::matching_account(domains, &accounts).cloned()
}

/// The account the lead's company matches, most specific domain first.
pub async fn account(cx: &Cx, lead: &Lead) -> Result<Option<Account>> {
    let domains = routing::account_domains(lead.company_domain.as_deref(), &lead.email);
    let Some(stmt) = account_statement(cx, &domains)? else {
        return Ok(None);
    };
    let rows = cx.db.read_batch(vec![stmt]).await?;
    Ok(account_from(
        &domains,
        platform::db::rows("accounts", rows.into_iter().next().unwrap_or_default())?,
    ))
}

#[derive(Deserialize)]
struct DocRow {
    id: String,
    doc: String,
}

const REPS: &str = "SELECT id, doc FROM reps";
const TEAMS: &str = "SELECT id, doc FROM teams";
const CURSORS: &str = "SELECT team_id, position FROM rr_cursors";

pub async fn reps(cx: &Cx) -> Result<Map<String, Rep>> {
    reps_from(cx.db.all(REPS, args![]).await?)
}

fn reps_from(rows: Vec<DocRow>) -> Result<Map<String, Rep>> {
    rows.into_iter()
        .map(|r| {
            let doc: Value = serde_json::from_str(&r.doc)?;
            let rep = Rep::parse(&r.id, &doc)
                .map_err(|e| Error::internal(format!("stored rep {} is invalid: {e:?}", r.id)))?;
            Ok((r.id, rep))
        })
        .collect()
}

pub async fn teams(cx: &Cx) -> Result<Map<String, Team>> {
    teams_from(cx.db.all(TEAMS, args![]).await?)
}

fn teams_from(rows: Vec<DocRow>) -> Result<Map<String, Team>> {
    rows.into_iter()
        .map(|r| {
            let doc: Value = serde_json::from_str(&r.doc)?;
            let team = Team::parse(&r.id, &doc)
                .map_err(|e| Error::internal(format!("stored team {} is invalid: {e:?}", r.id)))?;
            Ok((r.id, team))
        })
        .collect()
}

/// The reps whose loads a decision reads, as a CTE over three JSON arrays: ?1 reps by id, ?2
/// teams whose members count, ?3 domains whose accounts' owners count. Lists travel as one JSON
/// parameter each (`json_each`), so no list meets D1's 100-parameter limit.
const CONSIDERED: &str = "WITH considered(rep_id) AS ( \
     SELECT value FROM json_each(?1) \
     UNION SELECT json_extract(m.value, '$.rep') FROM teams t, json_each(t.doc, '$.members') m \
       WHERE t.id IN (SELECT value FROM json_each(?2)) \
     UNION SELECT a.owner_rep_id FROM account_domains d JOIN accounts a ON a.id = d.account_id \
       WHERE d.domain IN (SELECT value FROM json_each(?3)) AND a.owner_rep_id IS NOT NULL) ";

#[derive(Deserialize)]
struct OpenRow {
    rep_id: String,
    n: u32,
}

#[derive(Deserialize)]
struct DayRow {
    rep_id: String,
    rep_day: Option<String>,
    n: u32,
}

/// Open leads and leads received in the last 50 hours of the considered reps, read through the
/// (rep_id, …) indexes: the cost follows these reps' loads, not the size of the history.
fn loads_statements(
    cx: &Cx,
    reps: &[String],
    teams: &[String],
    domains: &[String],
    now: i64,
) -> Result<[worker::D1PreparedStatement; 2]> {
    let list = |items: &[String]| Arg::Text(json!(items).to_string());
    Ok([
        cx.db.stmt(
            &format!("{CONSIDERED}SELECT rep_id, COUNT(*) AS n FROM assignments WHERE rep_id IN (SELECT rep_id FROM considered) AND current = 1 AND status = 'open' GROUP BY rep_id"),
            vec![list(reps), list(teams), list(domains)],
        )?,
        cx.db.stmt(
            &format!("{CONSIDERED}SELECT rep_id, rep_day, COUNT(*) AS n FROM assignments WHERE rep_id IN (SELECT rep_id FROM considered) AND assigned_at >= ?4 GROUP BY rep_id, rep_day"),
            vec![list(reps), list(teams), list(domains), Arg::Int(now - 50 * HOUR)],
        )?,
    ])
}

/// Each rep's load from [`loads_statements`]' rows: open leads, and leads received on the rep's
/// own local today.
fn loads_from(
    open: Vec<OpenRow>,
    days: Vec<DayRow>,
    reps: &Map<String, Rep>,
    now: i64,
) -> Map<String, Load> {
    let mut out: Map<String, Load> = Map::default();
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
    out
}

/// The given reps' loads (one round trip).
pub async fn loads(cx: &Cx, reps: &Map<String, Rep>, now: i64) -> Result<Map<String, Load>> {
    let ids: Vec<String> = reps.keys().cloned().collect();
    let reads = loads_statements(cx, &ids, &[], &[], now)?;
    let mut rows = cx.db.read_batch(reads.into()).await?.into_iter();
    let open = platform::db::rows("assignments", rows.next().unwrap_or_default())?;
    let days = platform::db::rows("assignments", rows.next().unwrap_or_default())?;
    Ok(loads_from(open, days, reps, now))
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

/// How many leads wait in a queue, and since when.
#[derive(Debug, Default, Deserialize)]
pub struct QueueCount {
    pub n: i64,
    pub oldest: Option<i64>,
}

/// Every queue with leads waiting: (name, how many, the oldest's assignment time), largest first.
pub async fn queue_summaries(cx: &Cx) -> Result<Vec<(String, i64, Option<i64>)>> {
    #[derive(Deserialize)]
    struct Row {
        queue: String,
        n: i64,
        oldest: Option<i64>,
    }
    let rows: Vec<Row> = cx
        .db
        .all(
            "SELECT queue, COUNT(*) AS n, MIN(assigned_at) AS oldest FROM assignments \
             WHERE current = 1 AND status = 'open' AND queue IS NOT NULL GROUP BY queue ORDER BY n DESC, queue",
            args![],
        )
        .await?;
    Ok(rows.into_iter().map(|r| (r.queue, r.n, r.oldest)).collect())
}

#[derive(Deserialize)]
struct MemberRow {
    id: String,
    lead_id: String,
    assigned_at: i64,
    via: String,
    rule_id: Option<String>,
    fallback_reason: Option<String>,
    email: Option<String>,
    company: Option<String>,
    country: Option<String>,
}

impl From<MemberRow> for revops::routing::queue::Member {
    fn from(r: MemberRow) -> Self {
        Self {
            assignment_id: r.id,
            lead_id: r.lead_id,
            assigned_at: r.assigned_at,
            via: r.via,
            rule: r.rule_id,
            fallback_reason: r.fallback_reason,
            email: r.email,
            company: r.company,
            country: r.country,
        }
    }
}

const MEMBER_SQL: &str = "SELECT a.id AS id, a.lead_id AS lead_id, a.assigned_at AS assigned_at, a.via AS via, a.rule_id AS rule_id, \
     a.fallback_reason AS fallback_reason, l.email AS email, json_extract(l.data, '$.company') AS company, json_extract(l.data, '$.country') AS country \
     FROM assignments a LEFT JOIN leads l ON l.id = a.lead_id \
     WHERE a.queue = ?1 AND a.current = 1 AND a.status = 'open' AND a.queue IS NOT NULL";

/// The leads waiting in a queue, oldest first (at most `limit`), and how many wait in all: one
/// round trip.
pub async fn queue_members(
    cx: &Cx,
    queue: &str,
    limit: i64,
) -> Result<(Vec<revops::routing::queue::Member>, QueueCount)> {
    let mut reads = cx
        .db
        .read_batch(vec![
            cx.db.stmt(
                &format!("{MEMBER_SQL} ORDER BY a.assigned_at LIMIT ?2"),
                args![queue, limit],
            )?,
            cx.db.stmt(
                "SELECT COUNT(*) AS n, MIN(assigned_at) AS oldest FROM assignments \
                 WHERE queue = ? AND current = 1 AND status = 'open' AND queue IS NOT NULL",
                args![queue],
            )?,
        ])
        .await?
        .into_iter();
    let members = platform::db::rows::<MemberRow>("queue", reads.next().unwrap_or_default())?;
    let count = platform::db::rows::<QueueCount>("queue", reads.next().unwrap_or_default())?
        .pop()
        .unwrap_or_default();
    Ok((members.into_iter().map(Into::into).collect(), count))
}

/// A lead waiting in a queue: that lead, or (`None`) the one waiting longest.
pub async fn queue_member(
    cx: &Cx,
    queue: &str,
    lead_id: Option<&str>,
) -> Result<Option<revops::routing::queue::Member>> {
    let row: Option<MemberRow> = match lead_id {
        Some(lead) => {
            cx.db
                .first(
                    &format!("{MEMBER_SQL} AND a.lead_id = ?2"),
                    args![queue, lead],
                )
                .await?
        }
        None => {
            cx.db
                .first(
                    &format!("{MEMBER_SQL} ORDER BY a.assigned_at LIMIT 1"),
                    args![queue],
                )
                .await?
        }
    };
    Ok(row.map(Into::into))
}

/// A lead routed automatically, as it is now, with its scores: what a dry-run replays.
#[derive(Debug, Deserialize)]
pub struct RoutedLead {
    pub data: String,
    pub fit: Option<f64>,
    pub engagement: Option<f64>,
    pub total: Option<f64>,
    pub stage: Option<String>,
}

/// The `limit` most recently routed leads whose current assignment a rule made (not a person).
pub async fn recently_routed(cx: &Cx, limit: usize) -> Result<Vec<RoutedLead>> {
    cx.db
        .all(
            "SELECT l.data AS data, s.fit AS fit, s.engagement AS engagement, s.total AS total, s.stage AS stage \
             FROM assignments a JOIN leads l ON l.id = a.lead_id LEFT JOIN lead_scores s ON s.lead_id = a.lead_id \
             WHERE a.current = 1 AND a.via != 'manual' ORDER BY a.assigned_at DESC LIMIT ?",
            args![limit],
        )
        .await
}

/// A rep's open assignment, for handing their leads on.
#[derive(Debug, Deserialize)]
pub struct RepAssignment {
    pub id: String,
    pub lead_id: String,
}

/// A rep's open assignments, oldest first, at most `limit`: all of them, or (`untouched_in`)
/// only those still waiting for a first touch in these teams.
pub async fn open_of(
    cx: &Cx,
    rep_id: &str,
    untouched_in: Option<&[String]>,
    limit: usize,
) -> Result<Vec<RepAssignment>> {
    match untouched_in {
        None => {
            cx.db
                .all(
                    "SELECT id, lead_id FROM assignments WHERE rep_id = ? AND current = 1 AND status = 'open' ORDER BY assigned_at LIMIT ?",
                    args![rep_id, limit],
                )
                .await
        }
        Some(teams) => {
            let mut values = args![rep_id];
            values.extend(teams.iter().map(Arg::from));
            values.push(Arg::from(limit));
            cx.db
                .all(
                    &format!(
                        "SELECT id, lead_id FROM assignments WHERE rep_id = ? AND current = 1 AND status = 'open' \
                         AND first_touch_at IS NULL AND team_id IN ({}) ORDER BY assigned_at LIMIT ?",
                        platform::db::marks(teams.len())
                    ),
                    values,
                )
                .await
        }
    }
}

/// Records an assignment's first touch (the first one stays).
pub async fn mark_touched(cx: &Cx, assignment_id: &str, at: i64) -> Result<()> {
    cx.db
        .run(
            "UPDATE assignments SET first_touch_at = COALESCE(first_touch_at, ?) WHERE id = ?",
            args![at, assignment_id],
        )
        .await?;
    Ok(())
}

/// MQLs scored before `scored_before` that have no open assignment (their hand-off failed), at
/// most `limit`: the sweep routes them.
pub async fn unrouted_mqls(cx: &Cx, scored_before: i64, limit: usize) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Lead {
        lead_id: String,
    }
    let rows: Vec<Lead> = cx
        .db
        .all(
            "SELECT s.lead_id AS lead_id FROM lead_scores s WHERE s.stage = 'mql' AND s.scored_at < ? \
             AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.lead_id = s.lead_id AND a.current = 1 AND a.status = 'open') LIMIT ?",
            args![scored_before, limit],
        )
        .await?;
    Ok(rows.into_iter().map(|r| r.lead_id).collect())
}

/// Assignments made in a period, counted by each way of grouping them, and the capacity races
/// lost meanwhile (a staged assignment, never promoted, is not counted).
pub struct AssignmentStats {
    /// (`by_via`, [(via, count)]) …, largest first.
    pub groups: Vec<(&'static str, Vec<(String, i64)>)>,
    pub races_lost: i64,
    /// Fallbacks per UTC day and reason, oldest day first.
    pub fallbacks_by_day: std::collections::BTreeMap<String, Vec<(String, i64)>>,
}

/// [`AssignmentStats`] for `[from, to)`, every count in one round trip.
pub async fn assignment_stats(cx: &Cx, from: i64, to: i64) -> Result<AssignmentStats> {
    const GROUPINGS: [(&str, &str); 7] = [
        ("by_via", "via"),
        ("by_reason", "reason"),
        ("by_rule", "rule_id"),
        ("by_team", "team_id"),
        ("by_rep", "rep_id"),
        ("by_queue", "queue"),
        ("fallbacks", "fallback_reason"),
    ];
    #[derive(Deserialize)]
    struct Group {
        key: Option<String>,
        n: i64,
    }
    #[derive(Deserialize)]
    struct Races {
        n: Option<i64>,
    }
    let mut reads = Vec::with_capacity(GROUPINGS.len() + 1);
    for (_, column) in GROUPINGS {
        reads.push(cx.db.stmt(
            &format!("SELECT {column} AS key, COUNT(*) AS n FROM assignments WHERE assigned_at >= ? AND assigned_at < ? AND current != 2 AND {column} IS NOT NULL GROUP BY {column} ORDER BY n DESC"),
            args![from, to],
        )?);
    }
    reads.push(cx.db.stmt(
        "SELECT SUM(races_lost) AS n FROM assignments WHERE assigned_at >= ? AND assigned_at < ? AND current != 2",
        args![from, to],
    )?);
    reads.push(cx.db.stmt(
        "SELECT strftime('%Y-%m-%d', assigned_at / 1000, 'unixepoch') AS day, fallback_reason AS reason, COUNT(*) AS n          FROM assignments WHERE assigned_at >= ? AND assigned_at < ? AND current != 2 AND fallback_reason IS NOT NULL          GROUP BY day, fallback_reason ORDER BY day",
        args![from, to],
    )?);
    let mut rows = cx.db.read_batch(reads).await?.into_iter();
    let mut groups = Vec::with_capacity(GROUPINGS.len());
    for (name, _) in GROUPINGS {
        let found = platform::db::rows::<Group>("assignments", rows.next().unwrap_or_default())?;
        groups.push((
            name,
            found
                .into_iter()
                .map(|g| (g.key.unwrap_or_default(), g.n))
                .collect(),
        ));
    }
    let races = platform::db::rows::<Races>("assignments", rows.next().unwrap_or_default())?;
    #[derive(Deserialize)]
    struct DayFallbacks {
        day: String,
        reason: String,
        n: i64,
    }
    let mut fallbacks_by_day: std::collections::BTreeMap<String, Vec<(String, i64)>> =
        std::collections::BTreeMap::new();
    for d in platform::db::rows::<DayFallbacks>("assignments", rows.next().unwrap_or_default())? {
        fallbacks_by_day
            .entry(d.day)
            .or_default()
            .push((d.reason, d.n));
    }
    Ok(AssignmentStats {
        groups,
        races_lost: races.first().and_then(|r| r.n).unwrap_or(0),
        fallbacks_by_day,
    })
}

/// Closes the lead's current assignment if it is open and was made by `at` (an outcome ended
/// it); returns how many rows changed (0 or 1).
pub async fn close_open(cx: &Cx, lead_id: &str, reason: &str, at: i64) -> Result<usize> {
    cx.db
        .run(
            "UPDATE assignments SET status = 'closed', ended_reason = ? \
             WHERE lead_id = ? AND current = 1 AND status = 'open' AND assigned_at <= ?",
            args![reason, lead_id, at],
        )
        .await
}

/// Where an assignment stands in its lead's history (`assignments.current`). A new assignment is
/// written `Staged`; in the same batch, once its guard held, the lead's `Current` one becomes
/// `Ended` and it becomes `Current` — so a lead never has two current assignments, and a refused
/// write leaves none staged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Ended = 0,
    Current = 1,
    Staged = 2,
}

impl<'de> Deserialize<'de> for Standing {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match i64::deserialize(d)? {
            0 => Ok(Standing::Ended),
            1 => Ok(Standing::Current),
            2 => Ok(Standing::Staged),
            other => Err(serde::de::Error::custom(format!(
                "assignments.current is 0, 1 or 2, not {other}"
            ))),
        }
    }
}

/// Whether the owner still has the lead as open work (`assignments.status`): an outcome that
/// ends it (rejected, converted) closes it, which frees the rep's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssignmentStatus {
    Open,
    Closed,
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
    pub current: Standing,
    pub status: AssignmentStatus,
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

    pub fn view(&self, reps: Option<&Map<String, Rep>>) -> Value {
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
            "current": self.current == Standing::Current,
            "status": self.status,
            "ended_at": self.ended_at.map(rfc3339),
            "ended_reason": self.ended_reason,
            "explanation": serde_json::from_str::<Value>(&self.explanation).unwrap_or(Value::Null),
        })
    }
}

fn current_sql() -> String {
    format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE lead_id = ? AND current = 1")
}

fn current_statement(cx: &Cx, lead_id: &str) -> Result<worker::D1PreparedStatement> {
    cx.db.stmt(&current_sql(), args![lead_id])
}

pub async fn current(cx: &Cx, lead_id: &str) -> Result<Option<AssignmentRow>> {
    cx.db.first(&current_sql(), args![lead_id]).await
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
    /// Why, as JSON text (stored as it is).
    pub explanation: String,
    /// The assignment it replaces (`None`: the lead must have no owner yet).
    pub replaces: Option<String>,
    /// Hold the rep's capacity limits in the write (off only for a person's manual move).
    pub guard_capacity: bool,
    /// Capacity races this routing lost before this assignment (counted in the stats).
    pub races_lost: usize,
    pub ended_reason: &'a str,
    /// The round-robin slot this assignment claims in its own write (`None`: it drew its slot
    /// beforehand, or needed none).
    pub slot: Option<SlotClaim>,
}

/// A round-robin slot taken from the position read with the decision's other reads: the write
/// advances the team's position only if it is still `seen`, and stores the assignment only if
/// that advance was its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotClaim {
    pub team: String,
    pub seen: u64,
}

/// How [`write`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The assignment is the lead's current one.
    Stored,
    /// The guard refused: someone else routed the lead, or the rep filled up meanwhile.
    Refused,
    /// Another routing took the claimed round-robin slot first; nothing was stored.
    SlotTaken,
}

impl NewAssignment<'_> {
    /// The row [`write`] stores when its guard lets it through, as the lead's current
    /// assignment: the answer is built from it instead of reading it back.
    pub fn row(&self, cx: &Cx) -> AssignmentRow {
        AssignmentRow {
            id: self.id.clone(),
            lead_id: self.lead_id.to_string(),
            rep_id: self.rep.map(|r| r.id.clone()),
            queue: self.queue.clone(),
            team_id: self.team.clone(),
            rule_id: self.rule.clone(),
            via: self.via.to_string(),
            reason: self.reason.to_string(),
            fallback_reason: self.fallback_reason.map(str::to_string),
            config_version: self.config_version,
            explanation: self.explanation.clone(),
            assigned_at: cx.now_ms,
            assigned_by: cx.actor(),
            current: Standing::Current,
            status: AssignmentStatus::Open,
            ended_at: None,
            ended_reason: None,
        }
    }
}

/// Writes an assignment in one atomic batch: the new row (only if the lead's ownership is still
/// what the decision saw, and the rep still has room), the end of the previous one, and the
/// outgoing webhook messages. `Ok(false)`: the guard refused (someone else routed the lead, or
/// the rep filled up meanwhile).
pub async fn write(cx: &Cx, a: &NewAssignment<'_>, webhook: &Value) -> Result<Written> {
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
           AND (?17 IS NULL OR (SELECT COUNT(*) FROM assignments WHERE rep_id = ?3 AND rep_day = ?12) < ?17) \
           AND (?19 IS NULL OR EXISTS (SELECT 1 FROM rr_cursors WHERE team_id = ?19 AND claimed_by = ?1))",
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
            a.explanation.as_str(),
            rep_day,
            cx.now_ms,
            cx.actor(),
            a.replaces.clone(),
            max_open,
            max_day,
            a.races_lost,
            a.slot.as_ref().map(|c| c.team.clone()),
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
    // Workflows hear of it too (an `assignment.created` trigger).
    let event = revops::workflows::events::Event::new(
        revops::workflows::events::EventType::AssignmentCreated,
        &a.id,
        a.lead_id,
        cx.now_ms,
        serde_json::json!({ "assignment_id": a.id, "rep_id": a.rep.map(|r| r.id.clone()), "queue": a.queue, "team_id": a.team, "via": a.via }),
    );
    let announce = platform::events::emit_if(
        cx,
        &event,
        (
            "EXISTS (SELECT 1 FROM assignments WHERE id = ? AND current = 1)",
            args![&a.id],
        ),
    )?;
    let mut batch = Vec::with_capacity(6);
    if let Some(claim) = &a.slot {
        // Compare-and-set: a team never drawn from is at 0 and gets its row here; a concurrent
        // insert of that row, or any advance since the read, leaves this a no-op.
        batch.push(cx.db.stmt(
            "INSERT INTO rr_cursors (team_id, position, claimed_by) VALUES (?1, 1, ?3) \
             ON CONFLICT (team_id) DO UPDATE SET position = position + 1, claimed_by = ?3 \
             WHERE position = ?2 AND ?2 > 0",
            args![&claim.team, claim.seen as i64, &a.id],
        )?);
    }
    let claimed = a.slot.is_some();
    batch.extend([insert, end, promote, notify, announce]);
    let changes = cx.db.batch(batch).await?;
    let (claim, stored) = if claimed {
        (changes.first().copied(), changes.get(1).copied())
    } else {
        (Some(1), changes.first().copied())
    };
    Ok(match (claim, stored) {
        (_, Some(1)) => Written::Stored,
        (Some(0), _) => Written::SlotTaken,
        _ => Written::Refused,
    })
}
