//! The repository of `console_sessions` (this worker owns the table): start, find the live
//! session for a cookie's token, end. Only the token's digest is stored.

use revops::auth::{self, Principal, Scope};
use serde::Deserialize;

use platform::{args, Cx, Result};

/// A live session, as a page needs it.
#[derive(Debug, Clone)]
pub struct Session {
    pub digest: String,
    pub principal: Principal,
    pub csrf: String,
}

#[derive(Deserialize)]
struct Row {
    digest: String,
    key_id: String,
    key_digest: Option<String>,
    name: String,
    scopes: String,
    csrf: String,
    /// The key's revocation time, read with the session (NULL: not revoked).
    key_revoked_at: Option<i64>,
    /// Whether the stored key still exists (`bootstrap` has no row).
    key_found: i64,
}

/// How long an ended or expired session is kept (for the record) before a sign-in forgets it.
const KEEP_ENDED_MS: i64 = 7 * 86_400_000;

/// Starts a session for `principal`; `token` goes in the cookie, `csrf` in the pages' forms.
/// The same batch forgets sessions that ended or expired over a week ago, so the table stays
/// the size of its live sessions without a cron of its own.
pub async fn start(
    cx: &Cx,
    token: &str,
    csrf: &str,
    principal: &Principal,
    bootstrap_digest: Option<&str>,
) -> Result<()> {
    let forget_before = cx.now_ms - KEEP_ENDED_MS;
    cx.db
        .batch(vec![
            cx.db.stmt(
                "DELETE FROM console_sessions WHERE expires_at < ? OR ended_at < ?",
                args![forget_before, forget_before],
            )?,
            cx.db.stmt(
                "INSERT INTO console_sessions (digest, key_id, key_digest, name, scopes, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                args![
                    auth::digest_key(token),
                    &principal.id,
                    bootstrap_digest,
                    &principal.name,
                    serde_json::to_string(&principal.scopes)?,
                    csrf,
                    cx.now_ms,
                    cx.now_ms + revops::console::session::SESSION_TTL_MS
                ],
            )?,
        ])
        .await?;
    Ok(())
}

/// The session a token opens, if it is live: not ended, not expired, and its key not revoked
/// (for the bootstrap key: `ADMIN_API_KEY` still the key it was started with). One read; the
/// key's state comes from `api_keys` (the gateway's table, read here, never written).
pub async fn live(cx: &Cx, token: &str, admin_key: Option<&str>) -> Result<Option<Session>> {
    let row: Option<Row> = cx
        .db
        .first(
            "SELECT s.digest, s.key_id, s.key_digest, s.name, s.scopes, s.csrf, \
             k.revoked_at AS key_revoked_at, COUNT(k.id) AS key_found \
             FROM console_sessions s LEFT JOIN api_keys k ON k.id = s.key_id \
             WHERE s.digest = ? AND s.ended_at IS NULL AND s.expires_at > ? GROUP BY s.digest",
            args![auth::digest_key(token), cx.now_ms],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let key_live = match &row.key_digest {
        // The bootstrap key: live while ADMIN_API_KEY is still the key that signed in.
        Some(digest) => admin_key.is_some_and(|k| &auth::digest_key(k) == digest),
        None => row.key_found == 1 && row.key_revoked_at.is_none(),
    };
    if !key_live {
        return Ok(None);
    }
    let scopes: Vec<Scope> = serde_json::from_str(&row.scopes).unwrap_or_default();
    Ok(Some(Session {
        digest: row.digest,
        principal: Principal {
            id: row.key_id,
            name: row.name,
            scopes,
        },
        csrf: row.csrf,
    }))
}

/// Ends a session (signing out); ending an ended one changes nothing.
pub async fn end(cx: &Cx, digest: &str) -> Result<()> {
    cx.db
        .run(
            "UPDATE console_sessions SET ended_at = ? WHERE digest = ? AND ended_at IS NULL",
            args![cx.now_ms, digest],
        )
        .await?;
    Ok(())
}
