//! The repository of intake's per-day counters: `form_counters` (each form post's outcome) and
//! `source_counters` (each webhook delivery's), with when each outcome last happened — the
//! figures behind `GET /v1/admin/intake/stats` and the console's Health page.

use revops::intake::stats::{self, Row};
use serde_json::{json, Value};
use worker::{D1PreparedStatement, Request, Response};

use platform::{args, http, Cx, Result};

/// What is counted: a form, or a webhook source.
#[derive(Debug, Clone, Copy)]
pub enum Counted {
    Form,
    Source,
}

impl Counted {
    fn sql(self) -> &'static str {
        match self {
            Counted::Form => "INSERT INTO form_counters (form_id, day, outcome, count, last_at) VALUES (?1, ?2, ?3, 1, ?4) \
                 ON CONFLICT (form_id, day, outcome) DO UPDATE SET count = count + 1, last_at = ?4",
            Counted::Source => "INSERT INTO source_counters (source_id, day, outcome, count, last_at) VALUES (?1, ?2, ?3, 1, ?4) \
                 ON CONFLICT (source_id, day, outcome) DO UPDATE SET count = count + 1, last_at = ?4",
        }
    }
}

fn day(ms: i64) -> String {
    revops::time::rfc3339(ms)[..10].to_string()
}

/// One outcome counted now, as a statement (an accepted post or delivery is counted in the
/// batch that stores it).
pub fn statement(cx: &Cx, what: Counted, id: &str, outcome: &str) -> Result<D1PreparedStatement> {
    cx.db
        .stmt(what.sql(), args![id, day(cx.now_ms), outcome, cx.now_ms])
}

/// One outcome counted now, on its own (a refusal, which stores nothing else).
pub async fn count(cx: &Cx, what: Counted, id: &str, outcome: &str) -> Result<()> {
    cx.db.batch(vec![statement(cx, what, id, outcome)?]).await?;
    Ok(())
}

/// `GET /v1/admin/intake/stats?days=`: per form and per source, the last `days` (1–90, default
/// 7) of accepted and refused arrivals, and when each last received anything. One round trip.
pub async fn stats(cx: &Cx, req: &Request) -> Result<Response> {
    let days = http::query_int(req, "days", 1, 90)?.unwrap_or(7);
    let since = day(cx.now_ms - (days - 1) * revops::time::DAY);
    let mut results = cx
        .db
        .read_batch(vec![
            cx.db.stmt(
                "SELECT form_id AS id, outcome, SUM(count) AS count, MAX(last_at) AS last_at FROM form_counters \
                 WHERE day >= ? GROUP BY form_id, outcome",
                args![&since],
            )?,
            cx.db.stmt(
                "SELECT source_id AS id, outcome, SUM(count) AS count, MAX(last_at) AS last_at FROM source_counters \
                 WHERE day >= ? GROUP BY source_id, outcome",
                args![&since],
            )?,
        ])
        .await?
        .into_iter();
    let forms: Vec<Row> = platform::db::rows("form_counters", results.next().unwrap_or_default())?;
    let sources: Vec<Row> =
        platform::db::rows("source_counters", results.next().unwrap_or_default())?;
    let view = |by: std::collections::BTreeMap<String, stats::Figures>| -> Value {
        by.into_iter()
            .map(|(id, f)| {
                let v = json!({
                    "accepted": f.accepted,
                    "refused": f.refused,
                    "last_at": f.last_at.map(revops::time::rfc3339),
                    "last_accepted_at": f.last_accepted_at.map(revops::time::rfc3339),
                });
                (id, v)
            })
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    http::json(
        200,
        &json!({
            "since": since,
            "forms": view(stats::fold(&forms)),
            "sources": view(stats::fold(&sources)),
        }),
    )
}
