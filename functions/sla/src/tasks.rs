//! Escalation tasks: listed and marked done.

use revops::problem::Problem;
use revops::time::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use platform::{args, http, Cx, Error, Result};

#[derive(Deserialize)]
pub(crate) struct TaskRow {
    id: String,
    lead_id: String,
    assignment_id: String,
    assignee: Option<String>,
    assigned_because: Option<String>,
    title: String,
    status: String,
    created_at: i64,
    done_at: Option<i64>,
}

pub(crate) const TASK_COLUMNS: &str =
    "id, lead_id, assignment_id, assignee, assigned_because, title, status, created_at, done_at";

impl TaskRow {
    pub(crate) fn view(&self) -> Value {
        json!({
            "id": self.id, "lead_id": self.lead_id, "assignment_id": self.assignment_id,
            "assignee": self.assignee, "assigned_because": self.assigned_because, "title": self.title, "status": self.status,
            "created_at": rfc3339(self.created_at), "done_at": self.done_at.map(rfc3339),
        })
    }
}

/// `GET /v1/sla/tasks?assignee=&status=open|done&limit=`.
pub async fn list(cx: &Cx, req: &Request) -> Result<Response> {
    let status = http::query_enum(req, "status", &["open", "done"])?;
    let assignee = http::query_param(req, "assignee");
    let limit = http::query_int(req, "limit", 1, 500)?.unwrap_or(100);
    let rows: Vec<TaskRow> = cx
        .db
        .all(
            &format!("SELECT {TASK_COLUMNS} FROM sla_tasks WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR assignee = ?2) ORDER BY created_at DESC LIMIT ?3"),
            args![status, assignee, limit],
        )
        .await?;
    http::json(
        200,
        &json!({ "tasks": rows.iter().map(TaskRow::view).collect::<Vec<_>>() }),
    )
}

/// `POST /v1/sla/tasks/{id}/done`.
pub async fn done(cx: &Cx) -> Result<Response> {
    let id = cx.param("task_id");
    cx.db
        .run(
            "UPDATE sla_tasks SET status = 'done', done_at = ? WHERE id = ? AND status = 'open'",
            args![cx.now_ms, id],
        )
        .await?;
    let row: TaskRow = cx
        .db
        .first(
            &format!("SELECT {TASK_COLUMNS} FROM sla_tasks WHERE id = ?"),
            args![id],
        )
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("task {id}"))))?;
    http::json(200, &row.view())
}

/// A task another handler asks for (`POST /internal/tasks`: a workflow's step), stored by the
/// owner of tasks. Idempotent by its id: the caller retries until it is confirmed.
pub async fn create_internal(cx: &Cx, mut req: Request) -> Result<Response> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        id: String,
        lead_id: String,
        assignment_id: String,
        assignee: Option<String>,
        assigned_because: String,
        title: String,
    }
    let b: Body = http::json_body(&mut req, 16 * 1024).await?;
    cx.db
        .run(
            "INSERT OR IGNORE INTO sla_tasks (id, lead_id, assignment_id, assignee, assigned_because, title, status, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)",
            args![&b.id, &b.lead_id, &b.assignment_id, b.assignee.as_deref(), &b.assigned_because, &b.title, cx.now_ms],
        )
        .await?;
    let row: Option<TaskRow> = cx
        .db
        .first(&format!("SELECT {TASK_COLUMNS} FROM sla_tasks WHERE id = ? OR (assignment_id = ? AND title = ?)"), args![&b.id, &b.assignment_id, &b.title])
        .await?;
    http::json(200, &row.map(|r| r.view()).unwrap_or(Value::Null))
}
