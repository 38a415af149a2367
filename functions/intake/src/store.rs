//! Intake's D1 storage: submissions, leads (with the atomic merge), activities.

use revops::ids::{self, prefix};
use revops::intake::lead::Lead;
use revops::intake::normalize::Normalised;
use revops::intake::search::LeadQuery;
use revops::workflows::events::{Cause, Event, EventType};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use platform::retry::{self, Attempt};
use platform::{args, events, jobs, Cx, Error, Result};

/// The retry job that carries a submission through the pipeline.
pub const PROCESS_JOB: &str = "intake.process_submission";

#[derive(Debug, Clone, Deserialize)]
pub struct SubmissionRow {
    pub id: String,
    pub kind: String,
    pub source_id: Option<String>,
    pub headers: String,
    pub lead_id: Option<String>,
    pub received_at: i64,
    pub normalised: Option<String>,
    pub status: String,
}

/// What the pipeline needs besides the normalised fields; stored in the job's payload.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub struct Extras {
    /// An activity the submission itself is (a form fill is a `form_submission`).
    pub activity: Option<String>,
    /// Consent the submission explicitly gives (applied by the consent handler, with the
    /// submission's IP and user agent as proof).
    pub consent: Option<Value>,
    /// The public origin the submission arrived at, for links the consent handler returns.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Sent by a key with `subjects:admin`: its explicit opt-in readmits an erased person.
    #[serde(default)]
    pub subjects_admin: bool,
    /// A fault injected for tests that lasts several attempts (see `pipeline::injected_fault`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// A step made to fail on purpose, for its first `attempts` attempts (tests only).
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub struct Fault {
    pub step: String,
    pub attempts: u32,
}

impl Extras {
    /// Whether the submission explicitly opts in (which alone re-admits an erased person).
    pub fn opts_in(&self) -> bool {
        self.consent.as_ref().is_some_and(|c| c["granted"] == true)
    }
}

/// A new submission to store.
pub struct NewSubmission<'a> {
    pub kind: &'a str,
    pub source_id: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a str,
    pub headers: &'a Value,
    pub normalised: &'a Normalised,
    pub extras: &'a Extras,
}

impl NewSubmission<'_> {
    /// The row [`insert_submission`] stores for it under `id`: the pipeline goes on from this
    /// instead of reading back what it just wrote.
    pub fn row(&self, id: &str) -> Result<SubmissionRow> {
        Ok(SubmissionRow {
            id: id.to_string(),
            kind: self.kind.to_string(),
            source_id: self.source_id.map(str::to_string),
            headers: self.headers.to_string(),
            lead_id: None,
            received_at: self.normalised.received_at,
            normalised: Some(serde_json::to_string(self.normalised)?),
            status: "received".into(),
        })
    }
}

/// What intake knows about an address before it stores a submission for it: whether the person
/// was erased, and their lead (with its version) if they have one. One round trip.
pub struct Prior {
    pub erased: bool,
    pub lead: Option<(Lead, i64)>,
}

pub async fn prior(cx: &Cx, email: &str) -> Result<Prior> {
    let mut rows = cx
        .db
        .read_batch(prior_statements(cx, email)?)
        .await?
        .into_iter();
    prior_from(&mut rows)
}

/// [`prior`]'s reads, to batch with another statement (a form's rate-limit window).
pub fn prior_statements(cx: &Cx, email: &str) -> Result<Vec<D1PreparedStatement>> {
    let key = cx
        .var("SUBJECT_HASH_KEY")
        .ok_or_else(|| Error::internal("SUBJECT_HASH_KEY is not set"))?;
    let subject = revops::consent::subject_key(key.as_bytes(), email);
    Ok(vec![
        cx.db.stmt(
            "SELECT 1 AS erased FROM erased_subjects WHERE subject = ?",
            args![subject],
        )?,
        lead_by_email_statement(cx, email)?,
    ])
}

/// [`Prior`] from the results of [`prior_statements`], in order.
pub fn prior_from(rows: &mut impl Iterator<Item = Vec<Value>>) -> Result<Prior> {
    let erased = !rows.next().unwrap_or_default().is_empty();
    let lead = platform::db::rows::<LeadRow>("leads", rows.next().unwrap_or_default())?
        .pop()
        .map(|r| Ok::<_, Error>((serde_json::from_str(&r.data)?, r.version)))
        .transpose()?;
    Ok(Prior { erased, lead })
}

/// The statements that commit a submission and its claimed pipeline job (for one batch).
pub fn insert_submission(
    cx: &Cx,
    id: &str,
    s: &NewSubmission,
    fault: Option<&Fault>,
) -> Result<Vec<D1PreparedStatement>> {
    let mut payload = serde_json::to_value(s.extras)?;
    if let Some(f) = fault.filter(|f| f.attempts > 1) {
        payload["fault"] = serde_json::to_value(f)?;
    }
    Ok(vec![
        cx.db.stmt(
            "INSERT INTO submissions (id, kind, source_id, email, received_at, content_type, body, headers, normalised, status) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'received')",
            args![
                id,
                s.kind,
                s.source_id,
                s.normalised.email.as_str(),
                s.normalised.received_at,
                s.content_type,
                s.body,
                s.headers,
                serde_json::to_string(s.normalised)?,
            ],
        )?,
        jobs::enqueue_claimed(&cx.db, &cx.new_id(prefix::JOB), PROCESS_JOB, id, &payload, cx.now_ms)?,
    ])
}

pub async fn submission(cx: &Cx, id: &str) -> Result<Option<SubmissionRow>> {
    cx.db
        .first(
            "SELECT id, kind, source_id, headers, lead_id, received_at, normalised, status FROM submissions WHERE id = ?",
            args![id],
        )
        .await
}

/// Whether the person was erased (only the keyed hash of their address remains).
pub async fn is_erased(cx: &Cx, email: &str) -> Result<bool> {
    let key = cx
        .var("SUBJECT_HASH_KEY")
        .ok_or_else(|| Error::internal("SUBJECT_HASH_KEY is not set"))?;
    let subject = revops::consent::subject_key(key.as_bytes(), email);
    let row: Option<Value> = cx
        .db
        .first(
            "SELECT 1 AS erased FROM erased_subjects WHERE subject = ?",
            args![subject],
        )
        .await?;
    Ok(row.is_some())
}

pub async fn set_submission_status(
    cx: &Cx,
    id: &str,
    status: &str,
    note: Option<&str>,
) -> Result<()> {
    cx.db
        .batch(vec![submission_status_statement(cx, id, status, note)?])
        .await?;
    Ok(())
}

/// [`set_submission_status`] as a statement, for the batch that stores the step's last write.
pub fn submission_status_statement(
    cx: &Cx,
    id: &str,
    status: &str,
    note: Option<&str>,
) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "UPDATE submissions SET status = ?, note = ? WHERE id = ?",
        args![status, note, id],
    )
}

#[derive(Deserialize)]
struct LeadRow {
    data: String,
    version: i64,
}

const LEAD_BY_EMAIL: &str = "SELECT data, version FROM leads WHERE email = ?";

fn lead_by_email_statement(cx: &Cx, email: &str) -> Result<D1PreparedStatement> {
    cx.db.stmt(LEAD_BY_EMAIL, args![email])
}

pub async fn lead_by_email(cx: &Cx, email: &str) -> Result<Option<(Lead, i64)>> {
    let row: Option<LeadRow> = cx.db.first(LEAD_BY_EMAIL, args![email]).await?;
    row.map(|r| Ok((serde_json::from_str(&r.data)?, r.version)))
        .transpose()
}

pub async fn lead_by_id(cx: &Cx, id: &str) -> Result<Option<Lead>> {
    Ok(lead_by_id_versioned(cx, id).await?.map(|(lead, _)| lead))
}

/// The lead with its version (for a guarded write).
pub async fn lead_by_id_versioned(cx: &Cx, id: &str) -> Result<Option<(Lead, i64)>> {
    let row: Option<LeadRow> = cx
        .db
        .first("SELECT data, version FROM leads WHERE id = ?", args![id])
        .await?;
    row.map(|r| Ok((serde_json::from_str(&r.data)?, r.version)))
        .transpose()
}

/// Writes `lead` if nobody wrote it since it was read at `version` (then it changes one row).
pub fn update_lead_statement(cx: &Cx, lead: &Lead, version: i64) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "UPDATE leads SET data = ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ?",
        args![serde_json::to_string(lead)?, lead.updated_at, &lead.id, version],
    )
}

/// The activity a submission itself is (a form fill), inserted only if the lead write it is
/// batched with committed (the lead's `last_submission` is this submission). Repeats are ignored.
fn insert_submission_activity(
    cx: &Cx,
    lead_id: &str,
    kind: &str,
    sub: &SubmissionRow,
) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "INSERT OR IGNORE INTO activities (id, lead_id, type, occurred_at, properties, source, external_id, created_at) \
         SELECT ?, ?, ?, ?, '{}', ?, ?, ? WHERE EXISTS (SELECT 1 FROM leads WHERE id = ? AND last_submission = ?)",
        args![cx.new_id(prefix::ACTIVITY), lead_id, kind, sub.received_at, &sub.kind, &sub.id, cx.now_ms, lead_id, &sub.id],
    )
}

/// Merges a stored submission into the lead for its email, creating the lead if there is none,
/// and returns the lead as written. The lead write and the submission's `merged` mark commit
/// together or not at all; a concurrent writer of the same lead makes the version check fail and
/// this retries on the fresh lead, so two simultaneous first submissions for one email still
/// make exactly one lead.
pub async fn merge_submission(
    cx: &Cx,
    sub: &SubmissionRow,
    n: &Normalised,
    extras: &Extras,
) -> Result<(Lead, bool)> {
    let what = format!("the lead for submission {}", sub.id);
    retry::optimistic(retry::contended(what), async |_| {
        let current = lead_by_email(cx, &n.email).await?;
        let merge = merge_statements(cx, sub, n, extras, current)?;
        let changes = cx.db.batch(merge.statements).await?;
        Ok(if changes.first() == Some(&1) {
            Attempt::Done((merge.lead, merge.created))
        } else {
            Attempt::Again
        })
    })
    .await
}

/// One attempt at merging a submission into `current` (the lead for its email as last read,
/// with its version): the lead as it will be, and the statements, whose first (the lead write)
/// changes one row only if nobody wrote the lead since it was read.
pub struct Merge {
    pub lead: Lead,
    pub created: bool,
    pub statements: Vec<D1PreparedStatement>,
}

pub fn merge_statements(
    cx: &Cx,
    sub: &SubmissionRow,
    n: &Normalised,
    extras: &Extras,
    current: Option<(Lead, i64)>,
) -> Result<Merge> {
    let mut before = None;
    let (lead, created, write) = match current {
        None => {
            let lead = Lead::new(ids::new_id(prefix::LEAD, platform::cx::random_bytes()), n);
            let stmt = cx.db.stmt(
                "INSERT INTO leads (id, email, company_domain, lead_source, data, version, last_submission, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (email) DO NOTHING",
                args![
                    &lead.id,
                    &lead.email,
                    lead.company_domain.as_deref(),
                    lead.lead_source.as_deref(),
                    serde_json::to_string(&lead)?,
                    &sub.id,
                    lead.created_at,
                    lead.updated_at,
                ],
            )?;
            (lead, true, stmt)
        }
        Some((mut lead, version)) => {
            before = Some(lead.clone());
            lead.merge(n);
            let stmt = cx.db.stmt(
                "UPDATE leads SET data = ?, company_domain = ?, lead_source = ?, updated_at = ?, version = version + 1, last_submission = ? \
                 WHERE id = ? AND version = ?",
                args![
                    serde_json::to_string(&lead)?,
                    lead.company_domain.as_deref(),
                    lead.lead_source.as_deref(),
                    lead.updated_at,
                    &sub.id,
                    &lead.id,
                    version,
                ],
            )?;
            (lead, false, stmt)
        }
    };
    let mut statements = vec![
        write,
        cx.db.stmt(
            "UPDATE submissions SET status = 'merged', lead_id = ? WHERE id = ? \
             AND EXISTS (SELECT 1 FROM leads WHERE id = ? AND last_submission = ?)",
            args![&lead.id, &sub.id, &lead.id, &sub.id],
        )?,
    ];
    if let Some(kind) = &extras.activity {
        statements.push(insert_submission_activity(cx, &lead.id, kind, sub)?);
    }
    statements.extend(merge_events(cx, sub, &lead, created, before.as_ref())?);
    Ok(Merge {
        lead,
        created,
        statements,
    })
}

/// What the merge tells workflows (each event written only if the merge's lead write is, like
/// the submission's mark): the lead's creation, the form submitted, and each field it changed.
fn merge_events(
    cx: &Cx,
    sub: &SubmissionRow,
    lead: &Lead,
    created: bool,
    before: Option<&Lead>,
) -> Result<Vec<D1PreparedStatement>> {
    let guard = || {
        (
            "EXISTS (SELECT 1 FROM leads WHERE id = ? AND last_submission = ?)",
            args![&lead.id, &sub.id],
        )
    };
    let at = sub.received_at;
    let mut events = Vec::new();
    if created {
        events.push(Event::new(
            EventType::LeadCreated,
            &lead.id,
            &lead.id,
            at,
            json!({ "submission_id": sub.id }),
        ));
    }
    events.push(Event::new(
        EventType::FormSubmitted,
        &sub.id,
        &lead.id,
        at,
        json!({ "form_id": sub.source_id, "submission_id": sub.id, "kind": sub.kind }),
    ));
    if let Some(before) = before {
        for (field, from, to) in revops::intake::lead::changed_fields(before, lead) {
            events.push(Event::new(
                EventType::FieldChanged,
                &format!("{}:{field}", sub.id),
                &lead.id,
                at,
                json!({ "field": field, "from": from, "to": to, "submission_id": sub.id }),
            ));
        }
    }
    events
        .iter()
        .map(|e| events::emit_if(cx, e, guard()))
        .collect()
}

/// The submissions that made up a lead, newest first.
pub async fn history(cx: &Cx, lead_id: &str) -> Result<Vec<Value>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        kind: String,
        source_id: Option<String>,
        received_at: i64,
        status: String,
        flags: Option<String>,
    }
    let rows: Vec<Row> = cx
        .db
        .all(
            "SELECT id, kind, source_id, received_at, status, json_extract(normalised, '$.flags') AS flags FROM submissions WHERE lead_id = ? ORDER BY received_at DESC LIMIT 100",
            args![lead_id],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            json!({
                "submission_id": r.id,
                "kind": r.kind,
                "source_id": r.source_id,
                "received_at": revops::time::rfc3339(r.received_at),
                "status": r.status,
                // What normalising this submission found (data quality, text that did not decode).
                "flags": r.flags.as_deref().and_then(|f| serde_json::from_str::<Value>(f).ok()).unwrap_or(json!([])),
            })
        })
        .collect())
}

/// Records an activity for a lead; a repeat of the same external id is recorded once.
/// Returns the activity id and whether it was new.
pub async fn insert_activity(
    cx: &Cx,
    lead_id: &str,
    a: &revops::intake::activity::NewActivity,
    cause: &Cause,
) -> Result<(String, bool)> {
    let id = cx.new_id(prefix::ACTIVITY);
    // The activity, and the event telling workflows of it only if the activity went in.
    let event = Event::new(
        EventType::ActivityRecorded,
        &id,
        lead_id,
        a.occurred_at,
        json!({ "type": a.kind, "properties": a.properties, "source": a.source }),
    )
    .caused_by(cause.clone());
    let changes = cx
        .db
        .batch(vec![
            cx.db.stmt(
                "INSERT OR IGNORE INTO activities (id, lead_id, type, occurred_at, properties, source, external_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                args![
                    &id,
                    lead_id,
                    &a.kind,
                    a.occurred_at,
                    serde_json::to_string(&a.properties)?,
                    a.source.as_deref(),
                    a.external_id.as_deref(),
                    cx.now_ms,
                ],
            )?,
            events::emit_if(cx, &event, ("EXISTS (SELECT 1 FROM activities WHERE id = ?)", args![&id]))?,
        ])
        .await?;
    if changes.first() == Some(&1) {
        return Ok((id, true));
    }
    #[derive(Deserialize)]
    struct Existing {
        id: String,
    }
    let existing: Option<Existing> = cx
        .db
        .first(
            "SELECT id FROM activities WHERE lead_id = ? AND external_id = ?",
            args![lead_id, a.external_id.as_deref()],
        )
        .await?;
    Ok((existing.map(|e| e.id).unwrap_or(id), false))
}

/// One lead as a search lists it: who, where from, and — read from their owners' tables — its
/// stage and score (scoring's) and its current owner (routing's).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct LeadListing {
    pub id: String,
    pub email: String,
    pub company: Option<String>,
    pub company_domain: Option<String>,
    pub lead_source: Option<String>,
    pub created_at: i64,
    pub stage: Option<String>,
    pub score: Option<f64>,
    pub owner_rep: Option<String>,
    pub owner_queue: Option<String>,
}

/// The leads matching `q`, newest first, one more than a page (to tell whether there is more).
pub async fn search_leads(cx: &Cx, q: &LeadQuery) -> Result<Vec<LeadListing>> {
    let mut sql = String::from(
        "SELECT l.id, l.email, json_extract(l.data, '$.company') AS company, l.company_domain, \
         l.lead_source, l.created_at, s.stage, s.total AS score, a.rep_id AS owner_rep, a.queue AS owner_queue \
         FROM leads l LEFT JOIN lead_scores s ON s.lead_id = l.id \
         LEFT JOIN assignments a ON a.lead_id = l.id AND a.current = 1 WHERE 1 = 1",
    );
    let mut args: Vec<platform::db::Arg> = Vec::new();
    let mut and = |clause: &str, values: Vec<platform::db::Arg>| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        args.extend(values);
    };
    // `instr`, not LIKE: D1 refuses LIKE patterns over 50 bytes (a whole email address can be
    // longer), and a substring needs no wildcard escaping. Emails are stored lowercased.
    if let Some(email) = &q.email {
        and("instr(l.email, ?) > 0", args![email]);
    }
    if let Some(company) = &q.company {
        let needle = company.to_lowercase();
        and(
            "(instr(lower(json_extract(l.data, '$.company')), ?) > 0 OR instr(l.company_domain, ?) > 0)",
            args![&needle, &needle],
        );
    }
    if let Some(owner) = &q.owner {
        and("a.rep_id = ?", args![owner]);
    }
    if let Some(stage) = &q.stage {
        // A lead never scored is at the first stage.
        and(
            "COALESCE(s.stage, ?) = ?",
            args![revops::scoring::NEW, stage],
        );
    }
    if let Some(source) = &q.source {
        and("l.lead_source = ?", args![source]);
    }
    if let Some(from) = q.created_from {
        and("l.created_at >= ?", args![from]);
    }
    if let Some(to) = q.created_to {
        and("l.created_at < ?", args![to]);
    }
    if let Some(after) = &q.after {
        and(
            "(l.created_at < ? OR (l.created_at = ? AND l.id < ?))",
            args![after.created_at, after.created_at, &after.id],
        );
    }
    sql.push_str(" ORDER BY l.created_at DESC, l.id DESC LIMIT ?");
    args.push((q.limit + 1).into());
    cx.db.all(&sql, args).await
}

/// One of a lead's submissions as received: the body as it came (a form's parsed fields as
/// JSON), the headers kept with it, and what normalising it made of it.
pub async fn submission_of_lead(cx: &Cx, lead_id: &str, id: &str) -> Result<Option<Value>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        kind: String,
        source_id: Option<String>,
        received_at: i64,
        status: String,
        content_type: Option<String>,
        body: String,
        headers: String,
        normalised: Option<String>,
        note: Option<String>,
    }
    let row: Option<Row> = cx
        .db
        .first(
            "SELECT id, kind, source_id, received_at, status, content_type, body, headers, normalised, note \
             FROM submissions WHERE id = ? AND lead_id = ?",
            args![id, lead_id],
        )
        .await?;
    let json_of = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    Ok(row.map(|r| {
        json!({
            "submission_id": r.id,
            "lead_id": lead_id,
            "kind": r.kind,
            "source_id": r.source_id,
            "received_at": revops::time::rfc3339(r.received_at),
            "status": r.status,
            "content_type": r.content_type,
            "body": r.body,
            "headers": json_of(&r.headers),
            "normalised": r.normalised.as_deref().map_or(Value::Null, json_of),
            "note": r.note,
        })
    }))
}
