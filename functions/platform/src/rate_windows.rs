//! `rate_windows`: how many requests each key (a form and a hashed address) made in its current
//! window. The window arithmetic is the domain's (`FormConfig::rate_limit`); this module is the
//! table's repository (the gateway's housekeeping prunes it through [`prune_statement`]).

use serde::Deserialize;
use serde_json::Value;
use worker::D1PreparedStatement;

use crate::args;
use crate::db::Db;
use crate::error::Result;

/// Takes one request in `key`'s window starting at `window_start` (a new window starts at 1),
/// answering the window's count so far; one statement, for a read batch.
pub fn take_statement(db: &Db, key: &str, window_start: i64) -> Result<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO rate_windows (key, window_start, count) VALUES (?1, ?2, 1) \
         ON CONFLICT (key) DO UPDATE SET count = CASE WHEN window_start = ?2 THEN count + 1 ELSE 1 END, window_start = ?2 \
         RETURNING count",
        args![key, window_start],
    )
}

/// The count [`take_statement`] answered (1 if it answered nothing).
pub fn taken(rows: Vec<Value>) -> Result<i64> {
    #[derive(Deserialize)]
    struct Count {
        count: i64,
    }
    Ok(crate::db::rows::<Count>("rate_windows", rows)?
        .pop()
        .map_or(1, |c| c.count))
}

/// Forgets windows that ended more than a day ago.
pub fn prune_statement(db: &Db, now: i64) -> Result<D1PreparedStatement> {
    db.stmt(
        "DELETE FROM rate_windows WHERE window_start < ?",
        args![now - revops::time::DAY],
    )
}
