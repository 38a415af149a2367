//! `webhook_receipts`: every message a source already delivered, kept until no replay of it could
//! still verify. Intake's webhooks and consent's provider events both keep receipts; this module
//! is the table's repository (the gateway's housekeeping prunes it through [`prune_statement`]).

use serde::Deserialize;
use worker::D1PreparedStatement;

use crate::args;
use crate::db::{Arg, Db};
use crate::error::Result;

/// A delivery to remember.
pub struct Receipt<'a> {
    pub source: &'a str,
    pub message_id: &'a str,
    pub received_at: i64,
    pub expires_at: i64,
    /// A digest of the body, so an identical redelivery can be told from a forgery.
    pub body_digest: Option<&'a str>,
}

/// What is kept about a delivery: its body's digest and the answer it got.
#[derive(Debug, Deserialize)]
pub struct Stored {
    pub body_digest: Option<String>,
    pub response: Option<String>,
}

/// The receipt as a statement for the batch that stores what the message carried: a replay
/// fails its primary key, and with it the whole batch.
pub fn insert(db: &Db, r: &Receipt) -> Result<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO webhook_receipts (source_id, message_id, received_at, expires_at, body_digest) VALUES (?, ?, ?, ?, ?)",
        args![r.source, r.message_id, r.received_at, r.expires_at, r.body_digest],
    )
}

/// [`insert`], only if `guard` (an SQL condition and its arguments) holds when the batch runs:
/// the receipt is written exactly when the change it protects is.
pub fn insert_if(
    db: &Db,
    r: &Receipt,
    (guard, guard_args): (&str, Vec<Arg>),
) -> Result<D1PreparedStatement> {
    let mut values = args![
        r.source,
        r.message_id,
        r.received_at,
        r.expires_at,
        r.body_digest
    ];
    values.extend(guard_args);
    db.stmt(
        &format!(
            "INSERT INTO webhook_receipts (source_id, message_id, received_at, expires_at, body_digest) \
             SELECT ?, ?, ?, ?, ? WHERE {guard}"
        ),
        values,
    )
}

/// Records the delivery on its own; `false` when it was already recorded (a replay).
pub async fn insert_once(db: &Db, r: &Receipt<'_>) -> Result<bool> {
    let inserted = db
        .run(
            "INSERT INTO webhook_receipts (source_id, message_id, received_at, expires_at, body_digest) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            args![r.source, r.message_id, r.received_at, r.expires_at, r.body_digest],
        )
        .await?;
    Ok(inserted == 1)
}

/// Keeps the answer a delivery got, for an identical redelivery to get it again.
pub async fn record_response(
    db: &Db,
    source: &str,
    message_id: &str,
    answer: &serde_json::Value,
) -> Result<()> {
    db.run(
        "UPDATE webhook_receipts SET response = ? WHERE source_id = ? AND message_id = ?",
        args![answer, source, message_id],
    )
    .await?;
    Ok(())
}

/// What is kept about a delivery, if it was received.
pub async fn stored(db: &Db, source: &str, message_id: &str) -> Result<Option<Stored>> {
    db.first(
        "SELECT body_digest, response FROM webhook_receipts WHERE source_id = ? AND message_id = ?",
        args![source, message_id],
    )
    .await
}

/// Forgets receipts past their window.
pub fn prune_statement(db: &Db, now: i64) -> Result<D1PreparedStatement> {
    db.stmt(
        "DELETE FROM webhook_receipts WHERE expires_at < ?",
        args![now],
    )
}
