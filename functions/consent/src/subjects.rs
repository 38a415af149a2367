//! Data-subject rights: erasure (GDPR art. 17) and export (arts. 15 and 20), both driven by the
//! table registry in `revops::consent::erasure`, which a unit test keeps complete.

use revops::consent::erasure::{Locator, TABLES};
use revops::consent::{Snapshot, SuppressionReason};
use revops::time::rfc3339;
use serde_json::{json, Map, Value};

use crate::api::parse_email;
use crate::store::{Keys, KV};
use platform::{args, http, Cx, Result};
use worker::Response;

/// The arguments a condition binds: D1 refuses a statement given more than it uses.
fn bindings(cond: &str, email: &str, subject: &str) -> Vec<platform::Arg> {
    if cond.contains("?2") {
        args![email, subject]
    } else {
        args![email]
    }
}

/// The SQL condition selecting a person's rows (`?1` is the email, `?2` the subject key).
fn condition(locators: &[Locator]) -> Option<String> {
    let parts: Vec<String> = locators
        .iter()
        .filter_map(|l| {
            Some(match l {
                Locator::Email(c) => format!("{c} = ?1"),
                Locator::Lead(c) => format!("{c} IN (SELECT id FROM leads WHERE email = ?1)"),
                Locator::Submission(c) => format!(
                    "{c} IN (SELECT id FROM submissions WHERE email = ?1 OR lead_id IN (SELECT id FROM leads WHERE email = ?1))"
                ),
                Locator::Mentions(c) => format!("(instr({c}, ?1) > 0 OR instr({c}, (SELECT id FROM leads WHERE email = ?1)) > 0)"),
                Locator::Subject(c) => format!("{c} = ?2"),
                Locator::None => return None,
            })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

/// `DELETE /v1/subjects/{email}`: removes the person from every table and KV key in one atomic
/// batch, keeps only the keyed hash (so they stay suppressed and are not re-imported), and says
/// what was deleted.
pub async fn erase(cx: &Cx) -> Result<Response> {
    let email = parse_email(cx.param("email"))?;
    let keys = Keys::load(cx)?;
    let subject = keys.subject(&email);
    let mut names = Vec::new();
    let mut batch = Vec::new();
    for table in TABLES {
        if let Some(cond) = condition(table.locators) {
            names.push(table.name);
            batch.push(cx.db.stmt(
                &format!("DELETE FROM {} WHERE {cond}", table.name),
                bindings(&cond, &email, &subject),
            )?);
        }
    }
    batch.push(cx.db.stmt(
        "INSERT OR IGNORE INTO erased_subjects (subject, erased_at, erased_by) VALUES (?, ?, ?)",
        args![&subject, cx.now_ms, cx.actor()],
    )?);
    let counts = cx.db.batch(batch).await?;
    let erased = Snapshot {
        suppressed: Some(SuppressionReason::Erased),
        updated_at: cx.now_ms,
        ..Snapshot::default()
    };
    cx.kv(KV)?
        .put(
            &format!("subject:{subject}"),
            serde_json::to_string(&erased)?,
        )?
        .execute()
        .await?;
    let deleted: Map<String, Value> = names
        .iter()
        .zip(&counts)
        .map(|(n, c)| (n.to_string(), json!(c)))
        .collect();
    cx.log(
        revops::logging::Level::Info,
        "subject.erased",
        json!({ "by": cx.actor(), "rows": counts.iter().sum::<usize>() }),
    );
    http::json(
        200,
        &json!({
            "email": email,
            "erased_at": rfc3339(cx.now_ms),
            "deleted": deleted,
            "kept": "a keyed hash (HMAC-SHA256) of the address, so it stays suppressed and is not re-imported",
        }),
    )
}

/// `GET /v1/subjects/{email}/export`: everything held on the person, table by table.
pub async fn export(cx: &Cx) -> Result<Response> {
    let email = parse_email(cx.param("email"))?;
    let keys = Keys::load(cx)?;
    let subject = keys.subject(&email);
    let mut data = Map::new();
    for table in TABLES {
        if let Some(cond) = condition(table.locators) {
            let rows: Vec<Value> = cx
                .db
                .all(
                    &format!("SELECT * FROM {} WHERE {cond}", table.name),
                    bindings(&cond, &email, &subject),
                )
                .await?;
            let rows: Vec<Value> = rows.into_iter().map(decode_json_columns).collect();
            data.insert(table.name.to_string(), Value::Array(rows));
        }
    }
    let cached = cx.kv(KV)?.get(&format!("subject:{subject}")).text().await?;
    http::json(
        200,
        &json!({
            "email": email,
            "exported_at": rfc3339(cx.now_ms),
            "tables": data,
            "kv": { "consent_snapshot": cached.and_then(|t| serde_json::from_str::<Value>(&t).ok()) },
        }),
    )
}

/// Text columns that hold JSON are returned as JSON, so the export reads as one document.
fn decode_json_columns(row: Value) -> Value {
    match row {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match &v {
                        Value::String(s) if s.starts_with('{') || s.starts_with('[') => {
                            serde_json::from_str(s).unwrap_or(v)
                        }
                        _ => v,
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}
