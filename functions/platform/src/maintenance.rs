//! Housekeeping the cron trigger runs once per tick, in the gateway: forgetting what no longer
//! protects anything — replay receipts past their window, finished rate-limit windows, and
//! idempotency keys past their retention.

use serde_json::{json, Value};

use crate::args;
use crate::db::Db;
use crate::error::Result;

pub async fn prune(db: &Db, now: i64) -> Result<Value> {
    let counts = db
        .batch(vec![
            crate::receipts::prune_statement(db, now)?,
            crate::rate_windows::prune_statement(db, now)?,
            db.stmt(
                "DELETE FROM idempotency_keys WHERE created_at < ?",
                args![now - revops::idempotency::RETENTION_MS],
            )?,
        ])
        .await?;
    Ok(
        json!({ "webhook_receipts": counts[0], "rate_windows": counts[1], "idempotency_keys": counts[2] }),
    )
}
