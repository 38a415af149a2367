//! The lists tables (`lists`, `list_members`, `list_changes`): typed rows and named queries.
//! Nothing else writes them. A membership change and its history line are written together.

use revops::time::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use platform::{args, Arg, Cx, Result};

#[derive(Debug, Clone, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub condition: Option<String>,
    pub backfill: Option<String>,
    pub created_at: i64,
    pub created_by: String,
    #[serde(default)]
    pub members: Option<i64>,
}

const LIST_COLUMNS: &str = "id, name, kind, condition, backfill, created_at, created_by";

impl ListRow {
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "when": self.condition.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()),
            "members": self.members,
            "filling": self.backfill.is_some(),
            "created_at": rfc3339(self.created_at),
            "created_by": self.created_by,
        })
    }
}

pub async fn create(
    cx: &Cx,
    id: &str,
    name: &str,
    kind: &str,
    condition: Option<&Value>,
) -> Result<()> {
    cx.db
        .run(
            &format!("INSERT INTO lists ({LIST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            args![
                id,
                name,
                kind,
                condition.map(Value::to_string),
                (kind == "dynamic").then_some(""),
                cx.now_ms,
                cx.actor()
            ],
        )
        .await?;
    Ok(())
}

/// Every list with its member count.
pub async fn all(cx: &Cx) -> Result<Vec<ListRow>> {
    cx.db
        .all(
            &format!("SELECT {LIST_COLUMNS}, (SELECT COUNT(*) FROM list_members m WHERE m.list_id = lists.id) AS members FROM lists ORDER BY created_at, id"),
            args![],
        )
        .await
}

pub async fn get(cx: &Cx, id: &str) -> Result<Option<ListRow>> {
    cx.db
        .first(
            &format!("SELECT {LIST_COLUMNS}, (SELECT COUNT(*) FROM list_members m WHERE m.list_id = lists.id) AS members FROM lists WHERE id = ?"),
            args![id],
        )
        .await
}

/// The lists whose ids are given (to check a workflow's steps name real static lists).
pub async fn kinds(cx: &Cx, ids: &[String]) -> Result<Vec<ListRow>> {
    cx.db
        .all_in(
            &format!("SELECT {LIST_COLUMNS} FROM lists WHERE id IN ({{in}})"),
            &[],
            ids,
        )
        .await
}

/// The dynamic lists (to keep their members current as leads change).
pub fn dynamic_statement(cx: &Cx) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        &format!("SELECT {LIST_COLUMNS} FROM lists WHERE kind = 'dynamic'"),
        args![],
    )
}

/// Adds a lead, with its history line, if it is not a member yet; both only if `guard` holds.
pub fn join_statements(
    cx: &Cx,
    list: &str,
    lead: &str,
    cause: &str,
    guard: (&str, Vec<Arg>),
) -> Result<Vec<D1PreparedStatement>> {
    let (condition, more) = guard;
    let mut values = args![list, lead, cx.now_ms, cause];
    values.extend(more.clone());
    let mut history = args![list, lead, cx.now_ms, cause, list, lead, cx.now_ms, cause];
    history.extend(more);
    // The history line goes in only if this statement's own membership row did.
    Ok(vec![
        cx.db.stmt(
            &format!("INSERT OR IGNORE INTO list_members (list_id, lead_id, joined_at, cause) SELECT ?, ?, ?, ? WHERE {condition}"),
            values,
        )?,
        cx.db.stmt(
            &format!(
                "INSERT INTO list_changes (list_id, lead_id, change, at, cause) SELECT ?, ?, 'joined', ?, ? \
                 WHERE EXISTS (SELECT 1 FROM list_members WHERE list_id = ? AND lead_id = ? AND joined_at = ? AND cause = ?) AND {condition}"
            ),
            history,
        )?,
    ])
}

/// Removes a lead, with its history line, if it is a member; both only if `guard` holds.
pub fn leave_statements(
    cx: &Cx,
    list: &str,
    lead: &str,
    cause: &str,
    guard: (&str, Vec<Arg>),
) -> Result<Vec<D1PreparedStatement>> {
    let (condition, more) = guard;
    let mut history = args![list, lead, cx.now_ms, cause, list, lead];
    history.extend(more.clone());
    let mut delete = args![list, lead];
    delete.extend(more);
    Ok(vec![
        cx.db.stmt(
            &format!(
                "INSERT INTO list_changes (list_id, lead_id, change, at, cause) SELECT ?, ?, 'left', ?, ? \
                 WHERE EXISTS (SELECT 1 FROM list_members WHERE list_id = ? AND lead_id = ?) AND {condition}"
            ),
            history,
        )?,
        cx.db.stmt(
            &format!("DELETE FROM list_members WHERE list_id = ? AND lead_id = ? AND {condition}"),
            delete,
        )?,
    ])
}

#[derive(Debug, Deserialize)]
pub struct MemberRow {
    pub lead_id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub joined_at: i64,
    pub cause: String,
    #[serde(default)]
    pub suppressed: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

impl MemberRow {
    pub fn view(&self) -> Value {
        json!({
            "lead_id": self.lead_id, "email": self.email, "first_name": self.first_name, "last_name": self.last_name,
            "company": self.company, "joined_at": rfc3339(self.joined_at), "cause": self.cause,
        })
    }
}

/// A page of members after `after` (a lead id), in lead id order, with what an export needs:
/// the lead's name and, for `topic`, its consent state and suppression.
pub async fn members(
    cx: &Cx,
    list: &str,
    after: &str,
    limit: usize,
    topic: Option<&str>,
) -> Result<Vec<MemberRow>> {
    members_on(&cx.db, list, after, limit, topic).await
}

/// [`members`] on a database handle of its own (an export streams after the handler returns).
pub async fn members_on(
    db: &platform::Db,
    list: &str,
    after: &str,
    limit: usize,
    topic: Option<&str>,
) -> Result<Vec<MemberRow>> {
    db.all(
        "SELECT m.lead_id AS lead_id, l.email AS email, json_extract(l.data, '$.first_name') AS first_name, \
         json_extract(l.data, '$.last_name') AS last_name, json_extract(l.data, '$.company') AS company, m.joined_at AS joined_at, m.cause AS cause, \
         s.suppressed AS suppressed, st.state AS state \
         FROM list_members m LEFT JOIN leads l ON l.id = m.lead_id \
         LEFT JOIN consent_subjects s ON ?4 IS NOT NULL AND s.email = l.email \
         LEFT JOIN consent_states st ON ?4 IS NOT NULL AND st.email = l.email AND st.topic = ?4 \
         WHERE m.list_id = ?1 AND m.lead_id > ?2 ORDER BY m.lead_id LIMIT ?3",
        args![list, after, limit, topic],
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct ChangeRow {
    pub list_id: String,
    pub name: Option<String>,
    pub change: String,
    pub at: i64,
    pub cause: String,
}

/// A lead's membership history (newest first), for the lead's page.
pub fn lead_changes_statement(cx: &Cx, lead: &str) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "SELECT c.list_id AS list_id, l.name AS name, c.change AS change, c.at AS at, c.cause AS cause FROM list_changes c \
         LEFT JOIN lists l ON l.id = c.list_id WHERE c.lead_id = ? ORDER BY c.id DESC LIMIT 200",
        args![lead],
    )
}

/// Leads after `after` (id order), for filling a new dynamic list.
pub async fn leads_after(cx: &Cx, after: &str, limit: usize) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    Ok(cx
        .db
        .all::<Id>(
            "SELECT id FROM leads WHERE id > ? ORDER BY id LIMIT ?",
            args![after, limit],
        )
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// Where a dynamic list's filling stands (`None`: done).
pub fn backfill_statement(
    cx: &Cx,
    list: &str,
    cursor: Option<&str>,
) -> Result<D1PreparedStatement> {
    cx.db.stmt(
        "UPDATE lists SET backfill = ? WHERE id = ?",
        args![cursor, list],
    )
}

/// The lead ids of the given emails (lower-cased as intake stores them).
pub async fn leads_by_email(cx: &Cx, emails: &[String]) -> Result<Vec<(String, String)>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        email: String,
    }
    Ok(cx
        .db
        .all_in::<Row, _>(
            "SELECT id, email FROM leads WHERE email IN ({in})",
            &[],
            emails,
        )
        .await?
        .into_iter()
        .map(|r| (r.email, r.id))
        .collect())
}

/// Which of `ids` are leads.
pub async fn existing_leads(cx: &Cx, ids: &[String]) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
    }
    Ok(cx
        .db
        .all_in::<Row, _>("SELECT id FROM leads WHERE id IN ({in})", &[], ids)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}
