//! Telling the workflows handler what happened to a lead. An event is a job (`workflows.event`,
//! keyed by the event's id) written in the D1 batch that makes the change it announces, so it
//! exists exactly when the change does, costs no round trip of its own, and a change announced
//! twice is one event. The workflows handler's tick takes the events in order.

use revops::workflows::events::Event;
use worker::D1PreparedStatement;

use crate::cx::Cx;
use crate::db::Arg;
use crate::error::Result;
use crate::jobs;

/// The job kind events travel as.
pub const EVENT_JOB: &str = "workflows.event";

/// A statement announcing `event`.
pub fn emit(cx: &Cx, event: &Event) -> Result<D1PreparedStatement> {
    jobs::enqueue(
        &cx.db,
        &cx.new_id(revops::ids::prefix::JOB),
        EVENT_JOB,
        &event.id,
        &serde_json::to_value(event)?,
        cx.now_ms,
        cx.now_ms,
    )
}

/// [`emit`], only if `guard` (an SQL condition with its arguments) holds when the batch runs:
/// the event is written exactly when the change it announces was.
pub fn emit_if(cx: &Cx, event: &Event, guard: (&str, Vec<Arg>)) -> Result<D1PreparedStatement> {
    jobs::enqueue_if(
        &cx.db,
        &cx.new_id(revops::ids::prefix::JOB),
        EVENT_JOB,
        &event.id,
        &serde_json::to_value(event)?,
        cx.now_ms,
        cx.now_ms,
        guard,
    )
}

/// The job kind that tells the workflows handler the CRM's accounts changed (one job at most
/// waits: a change while it waits is already covered by it).
pub const ACCOUNTS_JOB: &str = "workflows.accounts";

/// A statement announcing that accounts changed, only if `guard` holds when the batch runs
/// (the owner of the accounts says what "changed" means). The workflows handler then judges
/// again, for every lead, the dynamic lists whose condition reads the existing-customer fact.
pub fn accounts_changed_if(cx: &Cx, guard: (&str, Vec<Arg>)) -> Result<D1PreparedStatement> {
    jobs::enqueue_latest_if(
        &cx.db,
        &cx.new_id(revops::ids::prefix::JOB),
        ACCOUNTS_JOB,
        "accounts",
        &serde_json::json!({ "changed_at": cx.now_ms }),
        cx.now_ms,
        cx.now_ms,
        guard,
    )
}
