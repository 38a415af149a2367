//! What workflows know about leads, read from their owners' tables (reads may cross owners;
//! writes never do): the lead (intake), its score and stage (scoring), its consent (consent),
//! its current owner and its company's account (routing), and its lists (ours). For any number
//! of leads, as statements for one read batch, so a tick pays one round trip for all of them.

use std::collections::BTreeMap;

use revops::consent::{Snapshot, SuppressionReason, TopicState};
use revops::intake::lead::Lead;
use revops::routing::decide::Account;
use revops::scoring::condition::RoutingFacts;
use revops::workflows::run::{LeadState, Owner};
use serde::Deserialize;
use serde_json::Value;
use worker::D1PreparedStatement;

use platform::{db, Cx, Result};

const READS: [&str; 6] = [
    "SELECT id, data FROM leads WHERE id IN ({in})",
    "SELECT lead_id, total, fit, engagement, stage FROM lead_scores WHERE lead_id IN ({in})",
    "SELECT l.id AS lead_id, s.suppressed AS suppressed, st.topic AS topic, st.state AS state FROM leads l \
     LEFT JOIN consent_subjects s ON s.email = l.email LEFT JOIN consent_states st ON st.email = l.email WHERE l.id IN ({in})",
    "SELECT list_id, lead_id FROM list_members WHERE lead_id IN ({in})",
    "SELECT a.lead_id AS lead_id, a.id AS assignment_id, a.rep_id AS rep_id, json_extract(r.doc, '$.name') AS name, \
     json_extract(r.doc, '$.email') AS email, json_extract(r.doc, '$.manager') AS manager FROM assignments a \
     LEFT JOIN reps r ON r.id = a.rep_id WHERE a.current = 1 AND a.rep_id IS NOT NULL AND a.lead_id IN ({in})",
    "SELECT l.id AS lead_id, d.domain AS domain, a.id AS id, a.name AS name, a.customer AS customer FROM leads l \
     JOIN account_domains d ON d.domain = l.company_domain OR d.domain = substr(l.email, instr(l.email, '@') + 1) \
     JOIN accounts a ON a.id = d.account_id WHERE l.id IN ({in})",
];

/// The reads for `leads`: append them to a read batch and hand its results, in order, to
/// [`parse`].
pub fn statements(cx: &Cx, leads: &[String]) -> Result<Vec<D1PreparedStatement>> {
    let mut out = Vec::new();
    for sql in READS {
        out.extend(cx.db.in_statements(sql, &[], leads)?);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct LeadRow {
    data: String,
}
#[derive(Deserialize)]
struct ScoreRow {
    lead_id: String,
    total: f64,
    fit: f64,
    engagement: f64,
    stage: String,
}
#[derive(Deserialize)]
struct ConsentRow {
    lead_id: String,
    suppressed: Option<String>,
    topic: Option<String>,
    state: Option<String>,
}
#[derive(Deserialize)]
struct MemberRow {
    list_id: String,
    lead_id: String,
}
#[derive(Deserialize)]
struct OwnerRow {
    lead_id: String,
    assignment_id: String,
    rep_id: String,
    name: Option<String>,
    email: Option<String>,
    manager: Option<String>,
}
#[derive(Deserialize)]
struct AccountRow {
    lead_id: String,
    domain: String,
    id: String,
    name: String,
    customer: i64,
}

/// The leads' states from the results of [`statements`] (taken from `results` in order). A lead
/// that no longer exists (erased) is absent.
pub fn parse(
    results: &mut impl Iterator<Item = Vec<Value>>,
    leads: &[String],
) -> Result<BTreeMap<String, LeadState>> {
    let pieces = leads.len().div_ceil(db::IN_LIST);
    let mut take = || -> Vec<Value> {
        (0..pieces)
            .flat_map(|_| results.next().unwrap_or_default())
            .collect()
    };
    let lead_rows = db::rows::<LeadRow>("leads", take())?;
    let scores = db::rows::<ScoreRow>("lead_scores", take())?;
    let consent = db::rows::<ConsentRow>("consent", take())?;
    let members = db::rows::<MemberRow>("list_members", take())?;
    let owners = db::rows::<OwnerRow>("assignments", take())?;
    let accounts = db::rows::<AccountRow>("accounts", take())?;
    let mut out = BTreeMap::new();
    for row in lead_rows {
        let lead: Lead = serde_json::from_str(&row.data)?;
        out.insert(
            lead.id.clone(),
            LeadState {
                routing: RoutingFacts {
                    stage: Some(revops::scoring::NEW.to_string()),
                    ..RoutingFacts::default()
                },
                lead,
                lists: Vec::new(),
                consent: Snapshot::default(),
                existing_customer: false,
                owner: None,
            },
        );
    }
    for s in scores {
        if let Some(l) = out.get_mut(&s.lead_id) {
            l.routing = RoutingFacts {
                score: Some(s.total),
                fit_score: Some(s.fit),
                engagement_score: Some(s.engagement),
                stage: Some(s.stage),
                segment: None,
            };
        }
    }
    for c in consent {
        let Some(l) = out.get_mut(&c.lead_id) else {
            continue;
        };
        if let Some(reason) = c.suppressed {
            l.consent.suppressed =
                serde_json::from_value::<SuppressionReason>(Value::String(reason)).ok();
        }
        if let (Some(topic), Some(state)) =
            (c.topic, c.state.as_deref().and_then(TopicState::parse))
        {
            l.consent.topics.insert(topic, state);
        }
    }
    for m in members {
        if let Some(l) = out.get_mut(&m.lead_id) {
            l.lists.push(m.list_id);
        }
    }
    for o in owners {
        if let Some(l) = out.get_mut(&o.lead_id) {
            l.owner = Some(Owner {
                assignment_id: o.assignment_id,
                rep_id: o.rep_id,
                name: o.name,
                email: o.email,
                manager: o.manager,
            });
        }
    }
    let mut by_lead: BTreeMap<String, Vec<Account>> = BTreeMap::new();
    for a in accounts {
        by_lead.entry(a.lead_id).or_default().push(Account {
            id: a.id,
            name: a.name,
            owner: None,
            domain: a.domain,
            customer: a.customer == 1,
        });
    }
    for l in out.values_mut() {
        let accounts = by_lead.remove(&l.lead.id).unwrap_or_default();
        let domains =
            revops::routing::account_domains(l.lead.company_domain.as_deref(), &l.lead.email);
        l.existing_customer = revops::routing::existing_customer(
            &l.lead,
            revops::routing::matching_account(&domains, &accounts),
        );
    }
    Ok(out)
}

/// The states of `leads`, read in one round trip.
pub async fn load(cx: &Cx, leads: &[String]) -> Result<BTreeMap<String, LeadState>> {
    if leads.is_empty() {
        return Ok(BTreeMap::new());
    }
    let results = cx.db.read_batch(statements(cx, leads)?).await?;
    parse(&mut results.into_iter(), leads)
}
