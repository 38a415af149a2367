//! The cron trigger's share of work in each handler, and the record of each handler's last tick.
//!
//! The gateway's scheduled handler calls every handler's `/internal/tick` with the schedule that
//! fired and the scheduled time, which the handler uses as `now` (so a test can fire the trigger
//! "in an hour"). [`serve`] wraps a handler's periodic work: it records the tick's start and its
//! end (duration, items done, outcome, error) in `handler_ticks` — this module is that table's
//! repository — so `/health` can report a handler whose tick fails or does not run
//! (`revops::ops::tick_state`), and `GET /v1/admin/ticks` can list them.

use std::collections::HashMap;
use std::future::Future;

use revops::ops::{TickOutcome, TickRecord};
use revops::routes::Service;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{D1PreparedStatement, Request, Response};

use crate::cx::{now_ms, Cx};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::{args, http};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    pub cron: String,
    /// Milliseconds since the epoch at which the trigger was scheduled.
    pub scheduled_ms: i64,
}

/// What a handler's tick did: how many items of work (for the record) and its report.
pub struct Done {
    pub items: i64,
    pub report: Value,
}

/// The schedule a test fires to make one handler's tick fail (`inject-fault:scoring`), honoured
/// only when the worker runs with `ALLOW_FAULT_INJECTION=true` (the integration tests' runtime).
fn injected_fault(cx: &Cx, tick: &Tick) -> bool {
    cx.var("ALLOW_FAULT_INJECTION").as_deref() == Some("true")
        && tick
            .cron
            .strip_prefix("inject-fault:")
            .is_some_and(|s| s == cx.service.name() || s == "all")
}

/// `POST /internal/tick`: runs `work` at the tick's time and records how it went. A failed tick
/// answers 500 (the gateway logs it) after its failure is recorded.
pub async fn serve<F, Fut>(cx: &Cx, mut req: Request, work: F) -> Result<Response>
where
    F: FnOnce(i64) -> Fut,
    Fut: Future<Output = Result<Done>>,
{
    let tick: Tick = http::json_body(&mut req, 4096).await?;
    let now = tick.scheduled_ms.max(cx.now_ms);
    let started = cx.now_ms;
    record_start(&cx.db, cx.service, started, tick.scheduled_ms).await?;
    let result = if injected_fault(cx, &tick) {
        Err(Error::internal(
            "injected fault: this tick was made to fail",
        ))
    } else {
        work(now).await
    };
    let finished = now_ms();
    match result {
        Ok(done) => {
            record_end(
                &cx.db,
                cx.service,
                finished,
                finished - started,
                done.items,
                None,
            )
            .await?;
            http::json(
                200,
                &json!({ "service": cx.service.name(), "items": done.items, "ms": finished - started, "report": done.report }),
            )
        }
        Err(e) => {
            let msg = e.to_string();
            record_end(
                &cx.db,
                cx.service,
                finished,
                finished - started,
                0,
                Some(&msg),
            )
            .await?;
            Err(e)
        }
    }
}

async fn record_start(db: &Db, service: Service, at: i64, scheduled: i64) -> Result<()> {
    db.run(
        "INSERT INTO handler_ticks (service, started_at, scheduled_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (service) DO UPDATE SET started_at = ?2, scheduled_at = ?3",
        args![service.name(), at, scheduled],
    )
    .await?;
    Ok(())
}

fn end_statement(
    db: &Db,
    service: Service,
    at: i64,
    ms: i64,
    items: i64,
    error: Option<&str>,
) -> Result<D1PreparedStatement> {
    let outcome = if error.is_some() {
        TickOutcome::Failed
    } else {
        TickOutcome::Ok
    };
    let error: Option<String> = error.map(|e| e.chars().take(1000).collect());
    db.stmt(
        "INSERT INTO handler_ticks (service, started_at, finished_at, duration_ms, items, outcome, error, last_ok_at, failures) \
         VALUES (?1, ?2 - ?3, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?6 IS NULL THEN ?2 END, CASE WHEN ?6 IS NULL THEN 0 ELSE 1 END) \
         ON CONFLICT (service) DO UPDATE SET finished_at = ?2, duration_ms = ?3, items = ?4, outcome = ?5, error = ?6, \
           last_ok_at = CASE WHEN ?6 IS NULL THEN ?2 ELSE last_ok_at END, \
           failures = CASE WHEN ?6 IS NULL THEN 0 ELSE failures + 1 END",
        args![service.name(), at, ms, items, outcome.as_str(), error],
    )
}

async fn record_end(
    db: &Db,
    service: Service,
    at: i64,
    ms: i64,
    items: i64,
    error: Option<&str>,
) -> Result<()> {
    db.batch(vec![end_statement(db, service, at, ms, items, error)?])
        .await?;
    Ok(())
}

/// The gateway's record of a tick call the handler did not answer with success — it may have
/// crashed before recording anything. Keeps the handler's own failure record when it made one
/// during this call (`called_at` on).
pub async fn record_unanswered(
    db: &Db,
    service: Service,
    called_at: i64,
    error: &str,
) -> Result<()> {
    let now = now_ms();
    let recorded: Option<Row> = db
        .first(
            &format!("SELECT {COLUMNS} FROM handler_ticks WHERE service = ?"),
            args![service.name()],
        )
        .await?;
    let handler_recorded = recorded.is_some_and(|r| {
        r.outcome.as_deref() == Some("failed") && r.finished_at.is_some_and(|f| f >= called_at)
    });
    if !handler_recorded {
        record_end(
            db,
            service,
            now,
            now - called_at,
            0,
            Some(&format!("the handler did not answer the tick: {error}")),
        )
        .await?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct Row {
    service: String,
    started_at: Option<i64>,
    scheduled_at: Option<i64>,
    finished_at: Option<i64>,
    duration_ms: Option<i64>,
    items: Option<i64>,
    outcome: Option<String>,
    error: Option<String>,
    last_ok_at: Option<i64>,
    failures: i64,
}

const COLUMNS: &str = "service, started_at, scheduled_at, finished_at, duration_ms, items, outcome, error, last_ok_at, failures";

impl From<Row> for TickRecord {
    fn from(r: Row) -> TickRecord {
        TickRecord {
            started_at: r.started_at,
            scheduled_at: r.scheduled_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
            items: r.items,
            outcome: r.outcome.as_deref().and_then(TickOutcome::parse),
            error: r.error,
            last_ok_at: r.last_ok_at,
            failures: r.failures,
        }
    }
}

/// A statement reading one handler's record, for a read batch ([`records_of`] decodes it).
pub fn record_statement(db: &Db, service: Service) -> Result<D1PreparedStatement> {
    db.stmt(
        &format!("SELECT {COLUMNS} FROM handler_ticks WHERE service = ?"),
        args![service.name()],
    )
}

/// Decodes the rows of [`record_statement`] or [`all_statement`], by service name.
pub fn records_of(rows: Vec<Value>) -> Result<HashMap<String, TickRecord>> {
    Ok(crate::db::rows::<Row>("handler_ticks", rows)?
        .into_iter()
        .map(|r| (r.service.clone(), TickRecord::from(r)))
        .collect())
}

/// A statement reading every handler's record.
pub fn all_statement(db: &Db) -> Result<D1PreparedStatement> {
    db.stmt(&format!("SELECT {COLUMNS} FROM handler_ticks"), args![])
}

/// Every handler's tick as `GET /v1/admin/ticks` and the console's Health page show it: its
/// last run, and whether it is ok (a handler that never ticked is judged against the time the
/// database was set up), with `ok` for all of them. One round trip.
pub async fn overview(db: &Db, now: i64) -> Result<Value> {
    #[derive(Deserialize)]
    struct Since {
        applied_at: Option<String>,
    }
    let mut results = db
        .read_batch(vec![
            all_statement(db)?,
            db.stmt(
                "SELECT MIN(applied_at) AS applied_at FROM d1_migrations",
                args![],
            )?,
        ])
        .await?
        .into_iter();
    let records = records_of(results.next().unwrap_or_default())?;
    let since = crate::db::rows::<Since>("d1_migrations", results.next().unwrap_or_default())?
        .pop()
        .and_then(|s| s.applied_at)
        .as_deref()
        .and_then(revops::ops::parse_sqlite_time);
    let ticks: Vec<Value> = Service::HANDLERS
        .iter()
        .map(|s| {
            let mut v = revops::ops::tick_view(records.get(s.name()), now, since);
            v["service"] = json!(s.name());
            v
        })
        .collect();
    let ok = ticks.iter().all(|t| t["ok"] == true);
    Ok(json!({ "ok": ok, "ticks": ticks }))
}
