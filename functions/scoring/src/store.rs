//! Scoring's D1 access: the active model (cached in KV), what a lead's score is computed from
//! (lead, activities, consent), and storing scores and stage transitions atomically.

use std::collections::{BTreeMap, BTreeSet};

use revops::intake::lead::Lead;
use revops::routing::decide::Account;
use revops::scoring::condition::Facts;
use revops::scoring::engine::{self, Activity, Score};
use revops::scoring::Model;
use revops::workflows::events::Cause;
use serde::Deserialize;
use serde_json::Value;

use platform::db::{marks, IN_LIST};
use platform::{args, events, Arg, Cx, Error, Result};

use revops::scoring::engine::ACTIVITY_HORIZON;

pub use platform::versions::SCORING_MODELS as MODELS;

/// The active model and its version.
pub async fn active(cx: &Cx) -> Result<(i64, Model)> {
    let (version, doc) = MODELS.active(cx).await?;
    let model = Model::from_json(&doc)
        .map_err(|e| Error::internal(format!("stored model {version} is invalid: {e:?}")))?;
    Ok((version, model))
}

/// A CRM account row matching a lead's domain, for `routing::existing_customer`.
#[derive(Deserialize)]
struct AccountRow {
    domain: String,
    id: String,
    name: String,
    customer: i64,
}

/// A lead's current score row.
#[derive(Debug, Clone, Deserialize)]
pub struct ScoreRow {
    pub lead_id: String,
    pub fit: f64,
    pub engagement: f64,
    pub total: f64,
    pub stage: String,
    pub model_version: i64,
    pub explanation: String,
    pub engagement_since: Option<i64>,
    pub scored_at: i64,
    pub version: i64,
    pub next_review_at: Option<i64>,
}

/// Everything a lead's score is computed from.
pub struct LeadData {
    pub lead: Lead,
    pub activities: Vec<Activity>,
    pub opted_out: Vec<String>,
    pub suppressed: bool,
    pub existing_customer: bool,
    pub current: Option<ScoreRow>,
}

impl LeadData {
    pub fn facts(&self) -> Facts<'_> {
        Facts {
            lead: Some(&self.lead),
            opted_out: self.opted_out.clone(),
            suppressed: self.suppressed,
            existing_customer: self.existing_customer,
            routing: None,
            lists: &[],
        }
    }

    pub fn stage(&self) -> &str {
        self.current
            .as_ref()
            .map_or(revops::scoring::NEW, |c| c.stage.as_str())
    }

    pub fn score<'m>(&self, model: &'m Model, now: i64) -> Score<'m> {
        let since = self.current.as_ref().and_then(|c| c.engagement_since);
        engine::score(model, &self.facts(), &self.activities, now, since)
    }
}

/// Loads the leads with these ids (missing ids are skipped), with their activities, consent and
/// current scores: two round trips per [`IN_LIST`] leads (the leads, then everything else in one batch).
pub async fn load(cx: &Cx, ids: &[String], now: i64) -> Result<Vec<LeadData>> {
    #[derive(Deserialize)]
    struct LeadRow {
        data: String,
    }
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_LIST) {
        let leads: Vec<LeadRow> = cx
            .db
            .all(
                &format!(
                    "SELECT data FROM leads WHERE id IN ({})",
                    marks(chunk.len())
                ),
                chunk.iter().map(Arg::from).collect(),
            )
            .await?;
        let leads: Vec<Lead> = leads
            .into_iter()
            .filter_map(|r| serde_json::from_str(&r.data).ok())
            .collect();
        out.extend(load_for(cx, leads, now).await?);
    }
    Ok(out)
}

/// What the scores of these leads (at most [`IN_LIST`], as their owner intake passed them or [`load`]
/// read them) are computed from: activities, current scores, consent and matching accounts, in
/// one round trip.
pub async fn load_for(cx: &Cx, leads: Vec<Lead>, now: i64) -> Result<Vec<LeadData>> {
    #[derive(Deserialize)]
    struct ActivityRow {
        lead_id: String,
        #[serde(rename = "type")]
        kind: String,
        occurred_at: i64,
        properties: String,
    }
    #[derive(Deserialize)]
    struct ConsentRow {
        email: String,
        suppressed: Option<String>,
        topic: Option<String>,
    }
    if leads.is_empty() {
        return Ok(Vec::new());
    }
    let in_ids = marks(leads.len());
    let arg_ids: Vec<Arg> = leads.iter().map(|l| Arg::from(l.id.as_str())).collect();
    let mut acts_args = arg_ids.clone();
    acts_args.push(Arg::Int(now - ACTIVITY_HORIZON));
    let emails: Vec<Arg> = leads.iter().map(|l| Arg::from(l.email.as_str())).collect();
    let domains: BTreeSet<String> = leads
        .iter()
        .flat_map(|l| revops::routing::account_domains(l.company_domain.as_deref(), &l.email))
        .collect();
    let domains: Vec<String> = domains.into_iter().collect();
    let mut reads = vec![
        cx.db.stmt(
            &format!("SELECT lead_id, type, occurred_at, properties FROM activities WHERE lead_id IN ({in_ids}) AND occurred_at >= ?"),
            acts_args,
        )?,
        cx.db.stmt(
            &format!("SELECT {SCORE_COLUMNS} FROM lead_scores WHERE lead_id IN ({in_ids})"),
            arg_ids,
        )?,
        cx.db.stmt(
            &format!(
                "SELECT s.email AS email, s.suppressed AS suppressed, st.topic AS topic FROM consent_subjects s \
                 LEFT JOIN consent_states st ON st.email = s.email AND st.state = 'opted_out' WHERE s.email IN ({})",
                marks(emails.len())
            ),
            emails,
        )?,
    ];
    for chunk in domains.chunks(IN_LIST) {
        reads.push(cx.db.stmt(
            &format!(
                "SELECT d.domain AS domain, a.id AS id, a.name AS name, a.customer AS customer FROM account_domains d \
                 JOIN accounts a ON a.id = d.account_id WHERE d.domain IN ({})",
                marks(chunk.len())
            ),
            chunk.iter().map(Arg::from).collect(),
        )?);
    }
    let mut results = cx.db.read_batch(reads).await?.into_iter();
    let mut next = || results.next().unwrap_or_default();
    let activities = platform::db::rows::<ActivityRow>("activities", next())?;
    let scores = platform::db::rows::<ScoreRow>("lead_scores", next())?;
    let consent = platform::db::rows::<ConsentRow>("consent_subjects", next())?;
    let mut accounts = Vec::new();
    for _ in domains.chunks(IN_LIST) {
        accounts.extend(
            platform::db::rows::<AccountRow>("accounts", next())?
                .into_iter()
                .map(|r| Account {
                    id: r.id,
                    name: r.name,
                    owner: None,
                    domain: r.domain,
                    customer: r.customer == 1,
                }),
        );
    }
    let mut by_lead: BTreeMap<String, Vec<Activity>> = BTreeMap::new();
    for a in activities {
        by_lead.entry(a.lead_id).or_default().push(Activity {
            kind: a.kind,
            at: a.occurred_at,
            properties: serde_json::from_str(&a.properties).unwrap_or(Value::Null),
        });
    }
    let mut scores: BTreeMap<String, ScoreRow> =
        scores.into_iter().map(|s| (s.lead_id.clone(), s)).collect();
    let mut out = Vec::with_capacity(leads.len());
    for lead in leads {
        let rows: Vec<&ConsentRow> = consent.iter().filter(|c| c.email == lead.email).collect();
        let domains = revops::routing::account_domains(lead.company_domain.as_deref(), &lead.email);
        let customer = revops::routing::existing_customer(
            &lead,
            revops::routing::matching_account(&domains, &accounts),
        );
        out.push(LeadData {
            activities: by_lead.remove(&lead.id).unwrap_or_default(),
            opted_out: rows.iter().filter_map(|c| c.topic.clone()).collect(),
            suppressed: rows.iter().any(|c| c.suppressed.is_some()),
            existing_customer: customer,
            current: scores.remove(&lead.id),
            lead,
        });
    }
    Ok(out)
}

pub const SCORE_COLUMNS: &str =
    "lead_id, fit, engagement, total, stage, model_version, explanation, engagement_since, scored_at, version, next_review_at";

/// What changed when a score was stored.
pub struct Saved {
    pub from: String,
    pub to: String,
    /// The change token: statements guarded by it commit only if the score row did.
    pub change: String,
}

/// What a score is stored with: the model it came from and the instant it was computed for.
pub struct Scored<'a> {
    pub version: i64,
    pub model: &'a Model,
    pub score: &'a Score<'a>,
    pub stage: &'a str,
    /// Why the stage may have changed: `score`, `rescore`, `decay`, an outcome.
    pub reason: &'a str,
    pub engagement_since: Option<i64>,
    pub at: i64,
    /// What caused the re-score when a workflow's step did (its events carry it, so a workflow
    /// never triggers itself through a score it raised).
    pub cause: &'a Cause,
}

/// Statements storing a lead's new score — with the instant decay will next change its stage,
/// for the cron — and, if its stage changed, the transition; guarded by the row's version so a
/// concurrent writer makes them no-ops (the caller retries).
pub fn save_statements(
    cx: &Cx,
    data: &LeadData,
    s: &Scored,
) -> Result<(Vec<worker::D1PreparedStatement>, Saved)> {
    let (version, score, stage, reason, engagement_since) =
        (s.version, s.score, s.stage, s.reason, s.engagement_since);
    let next_review = engine::next_stage_change(s.model, stage, score, s.at);
    let change = cx.new_id(revops::ids::prefix::TRANSITION);
    let explanation = serde_json::to_string(&score.hits)?;
    let from = data.stage().to_string();
    let changed_at = if from == stage {
        data.current.as_ref().map_or(cx.now_ms, |c| c.scored_at)
    } else {
        cx.now_ms
    };
    let mut stmts = vec![match &data.current {
        None => cx.db.stmt(
            "INSERT INTO lead_scores (lead_id, fit, engagement, total, stage, model_version, explanation, engagement_since, scored_at, stage_changed_at, version, last_change, next_review_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (lead_id) DO NOTHING",
            platform::args![&data.lead.id, score.fit, score.engagement, score.total, stage, version, &explanation, engagement_since, cx.now_ms, cx.now_ms, &change, next_review],
        )?,
        Some(row) => cx.db.stmt(
            "UPDATE lead_scores SET fit = ?, engagement = ?, total = ?, stage = ?, model_version = ?, explanation = ?, engagement_since = ?, \
             scored_at = ?, stage_changed_at = CASE WHEN stage = ? THEN stage_changed_at ELSE ? END, version = version + 1, last_change = ?, next_review_at = ? \
             WHERE lead_id = ? AND version = ?",
            platform::args![score.fit, score.engagement, score.total, stage, version, &explanation, engagement_since, cx.now_ms, stage, changed_at, &change, next_review, &data.lead.id, row.version],
        )?,
    }];
    if from != stage {
        stmts.push(cx.db.stmt(
            "INSERT INTO stage_transitions (id, lead_id, from_stage, to_stage, total, model_version, reason, at, by) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM lead_scores WHERE lead_id = ? AND last_change = ?)",
            args![&change, &data.lead.id, &from, stage, score.total, version, reason, cx.now_ms, cx.actor(), &data.lead.id, &change],
        )?);
    }
    // Workflows hear of the stage and score changes, only if the score row is written.
    let guard = || {
        (
            "EXISTS (SELECT 1 FROM lead_scores WHERE lead_id = ? AND last_change = ?)",
            args![&data.lead.id, &change],
        )
    };
    let before = data.current.as_ref().map_or(0.0, |c| c.total);
    let announced = revops::workflows::events::from_score(
        &change,
        &data.lead.id,
        cx.now_ms,
        (&from, stage),
        (before, score.total),
        reason,
        s.cause,
    );
    for event in &announced {
        stmts.push(events::emit_if(cx, event, guard())?);
    }
    Ok((
        stmts,
        Saved {
            from,
            to: stage.to_string(),
            change,
        },
    ))
}

/// The dimensions a funnel row is grouped by, for the lead aliased `l`: its source, first-touch
/// UTM, and the form of its first submission when that was a form. (`leads` and `submissions`
/// are intake's: read here, never written.)
const FUNNEL_DIMS: &str = "l.lead_source AS source, \
     json_extract(l.data, '$.first_touch.utm_source') AS utm_source, \
     json_extract(l.data, '$.first_touch.utm_medium') AS utm_medium, \
     json_extract(l.data, '$.first_touch.utm_campaign') AS utm_campaign, \
     (SELECT CASE WHEN s.kind = 'form' THEN s.source_id END FROM submissions s \
      WHERE s.lead_id = l.id ORDER BY s.received_at, s.id LIMIT 1) AS form";
const FUNNEL_GROUP: &str = "source, utm_source, utm_medium, utm_campaign, form";

/// The funnel's grouped counts for `[from, to)` (see `revops::scoring::funnel` for what each
/// measure counts), as one statement.
fn funnel_statement(cx: &Cx, from: i64, to: i64) -> Result<worker::D1PreparedStatement> {
    let sql = format!(
        "SELECT 'new' AS measure, NULL AS reason, {FUNNEL_DIMS}, COUNT(*) AS n FROM leads l \
         WHERE l.created_at >= ?1 AND l.created_at < ?2 GROUP BY {FUNNEL_GROUP} \
         UNION ALL \
         SELECT 'mql', NULL, {FUNNEL_DIMS}, COUNT(DISTINCT t.lead_id) FROM stage_transitions t \
         JOIN leads l ON l.id = t.lead_id \
         WHERE t.to_stage = ?3 AND t.from_stage <> ?3 AND t.at >= ?1 AND t.at < ?2 GROUP BY {FUNNEL_GROUP} \
         UNION ALL \
         SELECT o.outcome, CASE WHEN o.outcome = 'rejected' THEN o.reason END AS why, {FUNNEL_DIMS}, COUNT(*) \
         FROM lead_outcomes o JOIN leads l ON l.id = o.lead_id \
         WHERE o.at >= ?1 AND o.at < ?2 GROUP BY o.outcome, why, {FUNNEL_GROUP}"
    );
    cx.db.stmt(&sql, args![from, to, revops::scoring::MQL])
}

/// The funnel rows of each period, in one round trip.
pub async fn funnel_rows(
    cx: &Cx,
    periods: &[(i64, i64)],
) -> Result<Vec<Vec<revops::scoring::funnel::Row>>> {
    let statements = periods
        .iter()
        .map(|(from, to)| funnel_statement(cx, *from, *to))
        .collect::<Result<Vec<_>>>()?;
    cx.db
        .read_batch(statements)
        .await?
        .into_iter()
        .map(|rows| platform::db::rows("funnel", rows))
        .collect()
}
