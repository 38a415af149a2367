//! The consent ledger in D1, written through to the CONSENT KV namespace.
//!
//! D1 is the truth: `consent_subjects` (suppression, soft bounces), `consent_states` (per topic)
//! and the append-only `consent_events`. A change commits all three in one batch, guarded by the
//! subject's version (optimistic concurrency). The snapshot is then written to KV under the
//! person's keyed hash (no address in the key or value); if that write fails, a job rewrites it
//! at the next cron tick.

use std::collections::BTreeMap;

use revops::consent::ledger::{self, Change, Event, Proof};
use revops::consent::{subject_key, Snapshot, SuppressionReason, TopicState, TopicsConfig};
use revops::ids::prefix;
use revops::problem::{Problem, ProblemKind};
use serde::Deserialize;
use serde_json::Value;

use platform::retry::{self, Attempt};
use platform::{args, jobs, problem, Cx, Error, Result};

pub const KV: &str = "CONSENT";
pub const SYNC_JOB: &str = "consent.sync_kv";
pub const TOPICS: &str = platform::settings::CONSENT_TOPICS;
pub const PROVIDERS: &str = "consent.providers";

/// The keys consent needs: the subject-hash key (never rotated: erasure tombstones depend on it)
/// and the token keys (current first, then an optional previous one during a rotation).
pub struct Keys {
    pub subject: Vec<u8>,
    pub tokens: Vec<Vec<u8>>,
}

impl Keys {
    pub fn load(cx: &Cx) -> Result<Keys> {
        let get = |name: &str| cx.var(name).map(String::into_bytes);
        let subject = get("SUBJECT_HASH_KEY")
            .ok_or_else(|| Error::internal("SUBJECT_HASH_KEY is not set"))?;
        let current = get("UNSUBSCRIBE_TOKEN_KEY")
            .ok_or_else(|| Error::internal("UNSUBSCRIBE_TOKEN_KEY is not set"))?;
        let mut tokens = vec![current];
        tokens.extend(get("UNSUBSCRIBE_TOKEN_KEY_PREVIOUS"));
        Ok(Keys { subject, tokens })
    }

    pub fn subject(&self, email: &str) -> String {
        subject_key(&self.subject, email)
    }

    pub fn token_keys(&self) -> Vec<&[u8]> {
        self.tokens.iter().map(Vec::as_slice).collect()
    }
}

/// A person as the ledger holds them.
pub struct Loaded {
    pub email: String,
    pub subject: String,
    pub snapshot: Snapshot,
    /// `None` when the ledger has no row for them yet.
    pub version: Option<i64>,
    /// Erased: only the keyed hash remains.
    pub erased: bool,
}

#[derive(Deserialize)]
struct SubjectRow {
    email: String,
    subject: String,
    suppressed: Option<String>,
    soft_bounces: u32,
    version: i64,
    updated_at: i64,
}

#[derive(Deserialize)]
struct StateRow {
    topic: String,
    state: String,
}

fn suppression(s: &str) -> Option<SuppressionReason> {
    serde_json::from_value(Value::String(s.to_string())).ok()
}

async fn assemble(
    cx: &Cx,
    email: String,
    subject: String,
    row: Option<SubjectRow>,
) -> Result<Loaded> {
    let states: Vec<StateRow> = cx
        .db
        .all(
            "SELECT topic, state FROM consent_states WHERE email = ?",
            args![&email],
        )
        .await?;
    let erased = row.is_none()
        && cx
            .db
            .first::<Value>(
                "SELECT 1 AS erased FROM erased_subjects WHERE subject = ?",
                args![&subject],
            )
            .await?
            .is_some();
    let mut snapshot = Snapshot {
        topics: states
            .into_iter()
            .filter_map(|s| TopicState::parse(&s.state).map(|st| (s.topic, st)))
            .collect::<BTreeMap<_, _>>(),
        ..Snapshot::default()
    };
    if let Some(r) = &row {
        snapshot.suppressed = r.suppressed.as_deref().and_then(suppression);
        snapshot.soft_bounces = r.soft_bounces;
        snapshot.updated_at = r.updated_at;
    }
    if erased {
        snapshot.suppressed = Some(SuppressionReason::Erased);
    }
    Ok(Loaded {
        email,
        subject,
        version: row.as_ref().map(|r| r.version),
        snapshot,
        erased,
    })
}

const SUBJECT_COLUMNS: &str = "email, subject, suppressed, soft_bounces, version, updated_at";

pub async fn load(cx: &Cx, keys: &Keys, email: &str) -> Result<Loaded> {
    let row: Option<SubjectRow> = cx
        .db
        .first(
            &format!("SELECT {SUBJECT_COLUMNS} FROM consent_subjects WHERE email = ?"),
            args![email],
        )
        .await?;
    assemble(cx, email.to_string(), keys.subject(email), row).await
}

/// The person an unsubscribe or confirmation link names, if the ledger (still) knows them.
pub async fn load_by_subject(cx: &Cx, subject: &str) -> Result<Option<Loaded>> {
    let row: Option<SubjectRow> = cx
        .db
        .first(
            &format!("SELECT {SUBJECT_COLUMNS} FROM consent_subjects WHERE subject = ?"),
            args![subject],
        )
        .await?;
    match row {
        Some(row) => Ok(Some(
            assemble(cx, row.email.clone(), row.subject.clone(), Some(row)).await?,
        )),
        None => Ok(None),
    }
}

/// Makes sure the ledger has a row for the person (to issue them links), without recording a
/// change. Erased people get no row back.
pub async fn ensure_subject(cx: &Cx, keys: &Keys, email: &str) -> Result<Loaded> {
    let loaded = load(cx, keys, email).await?;
    if loaded.version.is_none() && !loaded.erased {
        cx.db
            .run(
                "INSERT INTO consent_subjects (email, subject, version, last_change, updated_at) VALUES (?, ?, 1, 'created', ?) ON CONFLICT (email) DO NOTHING",
                args![email, &loaded.subject, cx.now_ms],
            )
            .await?;
    }
    Ok(loaded)
}

pub struct Applied {
    pub loaded: Loaded,
    pub events: Vec<Event>,
}

/// An event to apply at most once (a provider's event id): its receipt commits with the change,
/// and a second delivery fails the receipt's primary key and changes nothing.
pub struct Once<'a> {
    pub source: &'a str,
    pub id: &'a str,
    pub expires_at: i64,
}

/// Applies a change with its proof and records it; retries on a concurrent writer. With `once`,
/// a repeated event is refused as [`ProblemKind::Replayed`].
pub async fn apply(
    cx: &Cx,
    keys: &Keys,
    config: &TopicsConfig,
    email: &str,
    change: &Change,
    proof: &Proof,
    once: Option<&Once<'_>>,
) -> Result<Applied> {
    retry::optimistic(retry::contended("the consent ledger"), async |_| {
        let mut loaded = load(cx, keys, email).await?;
        let (next, events) =
            ledger::apply(&loaded.snapshot, change, config, proof.at).map_err(|e| {
                Error::Problem(revops::problem::Problem::validation(vec![
                    revops::problem::FieldError::new("topics", e.to_string()),
                ]))
            })?;
        // An erased person is stored again only when they opt in anew (which lifts the erasure).
        if loaded.erased && next.suppressed == Some(SuppressionReason::Erased) {
            // Nothing is stored for them, not even the event's receipt.
            return Ok(Attempt::Done(Applied {
                loaded,
                events: Vec::new(),
            }));
        }
        let change_id = cx.new_id(prefix::CONSENT_EVENT);
        let suppressed = next.suppressed.map(|s| s.as_str());
        let mut batch = vec![match loaded.version {
            None => cx.db.stmt(
                "INSERT INTO consent_subjects (email, subject, suppressed, soft_bounces, version, last_change, updated_at) \
                 VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (email) DO NOTHING",
                args![email, &loaded.subject, suppressed, next.soft_bounces, &change_id, next.updated_at],
            )?,
            Some(version) => cx.db.stmt(
                "UPDATE consent_subjects SET suppressed = ?, soft_bounces = ?, version = version + 1, last_change = ?, updated_at = ? \
                 WHERE email = ? AND version = ?",
                args![suppressed, next.soft_bounces, &change_id, next.updated_at, email, version],
            )?,
        }];
        let guard = "EXISTS (SELECT 1 FROM consent_subjects WHERE email = ? AND last_change = ?)";
        for (topic, state) in &next.topics {
            if loaded.snapshot.topics.get(topic) != Some(state) {
                batch.push(cx.db.stmt(
                    &format!(
                        "INSERT INTO consent_states (email, topic, state, updated_at) SELECT ?, ?, ?, ? WHERE {guard} \
                         ON CONFLICT (email, topic) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at"
                    ),
                    args![email, topic, state.as_str(), proof.at, email, &change_id],
                )?);
            }
        }
        for e in &events {
            batch.push(cx.db.stmt(
                &format!(
                    "INSERT INTO consent_events (id, email, topic, kind, from_state, to_state, at, source, source_id, ip, user_agent, wording, wording_version, detail) \
                     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE {guard}"
                ),
                args![
                    cx.new_id(prefix::CONSENT_EVENT),
                    email,
                    e.topic.as_deref(),
                    &e.kind,
                    e.from.as_deref(),
                    e.to.as_deref(),
                    proof.at,
                    &proof.source,
                    proof.source_id.as_deref(),
                    proof.ip.as_deref(),
                    proof.user_agent.as_deref(),
                    proof.wording.as_deref(),
                    proof.wording_version.as_deref(),
                    proof.detail.as_ref().map(|d| d.to_string()),
                    email,
                    &change_id,
                ],
            )?);
        }
        // Workflows hear of it (bounces, complaints, suppressions, topic changes) when the
        // person is a lead, and only if this change commits.
        for event in revops::workflows::events::from_consent(change, &events, &change_id, email, proof.at) {
            batch.push(platform::events::emit_if(
                cx,
                &event,
                (
                    &format!("{guard} AND EXISTS (SELECT 1 FROM leads WHERE email = ?)"),
                    args![email, &change_id, email],
                ),
            )?);
        }
        if loaded.erased {
            batch.push(cx.db.stmt(
                &format!("DELETE FROM erased_subjects WHERE subject = ? AND {guard}"),
                args![&loaded.subject, email, &change_id],
            )?);
        }
        if let Some(once) = once {
            batch.push(platform::receipts::insert_if(
                &cx.db,
                &platform::receipts::Receipt {
                    source: once.source,
                    message_id: once.id,
                    received_at: cx.now_ms,
                    expires_at: once.expires_at,
                    body_digest: None,
                },
                (guard, args![email, &change_id]),
            )?);
        }
        batch.push(jobs::enqueue_claimed(
            &cx.db,
            &cx.new_id(prefix::JOB),
            SYNC_JOB,
            &loaded.subject,
            &Value::Null,
            cx.now_ms,
        )?);
        let changes = match cx.db.batch(batch).await {
            Err(e) if once.is_some() && e.is_constraint_violation() => {
                return Err(problem(
                    ProblemKind::Replayed,
                    "this event was already applied",
                ));
            }
            other => other?,
        };
        if changes.first() == Some(&1) {
            loaded.snapshot = next;
            loaded.version = Some(loaded.version.unwrap_or(0) + 1);
            loaded.erased = false;
            write_through(cx, &loaded.subject, &loaded.snapshot).await;
            return Ok(Attempt::Done(Applied { loaded, events }));
        }
        Ok(Attempt::Again)
    })
    .await
}

/// Writes a snapshot to KV; on failure the pending sync job retries it at the next tick.
pub async fn write_through(cx: &Cx, subject: &str, snapshot: &Snapshot) {
    let written = async {
        let text = serde_json::to_string(snapshot)?;
        cx.kv(KV)?
            .put(&format!("subject:{subject}"), text)?
            .execute()
            .await?;
        jobs::complete(&cx.db, SYNC_JOB, subject).await
    }
    .await;
    if let Err(e) = written {
        cx.log(
            revops::logging::Level::Warn,
            "consent.kv_write_failed",
            serde_json::json!({ "error": e.to_string() }),
        );
    }
}

/// The cron tick's repair of a KV snapshot from D1.
pub async fn resync(cx: &Cx, subject: &str) -> Result<()> {
    let snapshot = match load_by_subject(cx, subject).await? {
        Some(loaded) => loaded.snapshot,
        None => Snapshot {
            suppressed: Some(SuppressionReason::Erased),
            ..Snapshot::default()
        },
    };
    cx.kv(KV)?
        .put(
            &format!("subject:{subject}"),
            serde_json::to_string(&snapshot)?,
        )?
        .execute()
        .await?;
    Ok(())
}

/// Snapshots from KV for many people at once (bulk reads of up to 100 keys); `None` for a miss.
pub async fn cached(cx: &Cx, subjects: &[String]) -> Result<Vec<Option<Snapshot>>> {
    let kv = cx.kv(KV)?;
    let mut out = Vec::with_capacity(subjects.len());
    for chunk in subjects.chunks(100) {
        let keys: Vec<String> = chunk.iter().map(|s| format!("subject:{s}")).collect();
        let found = kv.get_bulk(&keys).text().await?;
        for key in &keys {
            out.push(
                found
                    .get(key)
                    .cloned()
                    .flatten()
                    .and_then(|t| serde_json::from_str(&t).ok()),
            );
        }
    }
    Ok(out)
}

/// The person's history, oldest first.
pub async fn history(cx: &Cx, email: &str) -> Result<Vec<Value>> {
    #[derive(Deserialize, serde::Serialize)]
    struct Row {
        id: String,
        topic: Option<String>,
        kind: String,
        from_state: Option<String>,
        to_state: Option<String>,
        at: i64,
        source: String,
        source_id: Option<String>,
        ip: Option<String>,
        user_agent: Option<String>,
        wording: Option<String>,
        wording_version: Option<String>,
        detail: Option<String>,
    }
    let rows: Vec<Row> = cx
        .db
        .all(
            "SELECT id, topic, kind, from_state, to_state, at, source, source_id, ip, user_agent, wording, wording_version, detail \
             FROM consent_events WHERE email = ? ORDER BY at, id",
            args![email],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut v = serde_json::to_value(&r).unwrap_or_default();
            v["at"] = Value::String(revops::time::rfc3339(r.at));
            v["detail"] = r
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(Value::Null);
            v
        })
        .collect())
}

pub fn invalid_email(reason: &str) -> Error {
    Error::Problem(Problem::validation(vec![revops::problem::FieldError::new(
        "email", reason,
    )]))
}
