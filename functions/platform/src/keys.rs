//! The repository of `api_keys` (owned by the gateway, which administers keys): every statement
//! on the table, and the one way a presented secret becomes a principal — used by the gateway
//! for `Authorization: Bearer` and by the console when someone signs in with a key.

use revops::auth::{self, Principal, Scope};
use revops::time::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::Env;

use crate::{args, cx, Db, Result};

/// One stored key (its digest never leaves this module).
#[derive(Debug, Clone, Deserialize)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub display_prefix: String,
    scopes: String,
    pub created_at: i64,
    pub created_by: String,
    pub revoked_at: Option<i64>,
}

impl KeyRow {
    pub fn scopes(&self) -> Vec<Scope> {
        serde_json::from_str(&self.scopes).unwrap_or_default()
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "prefix": self.display_prefix,
            "scopes": self.scopes(),
            "created_at": rfc3339(self.created_at),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.map(rfc3339),
        })
    }
}

const COLUMNS: &str = "id, name, display_prefix, scopes, created_at, created_by, revoked_at";

/// What a presented secret is: the bootstrap admin key (`ADMIN_API_KEY`), a stored unrevoked
/// key found by its digest, or nothing.
pub async fn authenticate(env: &Env, db: &Db, secret: &str) -> Result<Option<Principal>> {
    if auth::is_bootstrap_key(secret, cx::env_var(env, "ADMIN_API_KEY").as_deref()) {
        return Ok(Some(Principal::bootstrap_admin()));
    }
    find_active(db, &auth::digest_key(secret)).await
}

/// The principal of an unrevoked key with this digest, if any.
pub async fn find_active(db: &Db, digest: &str) -> Result<Option<Principal>> {
    let row: Option<KeyRow> = db
        .first(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE digest = ? AND revoked_at IS NULL"),
            args![digest],
        )
        .await?;
    Ok(row.map(|row| Principal {
        scopes: row.scopes(),
        id: row.id,
        name: row.name,
    }))
}

/// A new key as stored: only its digest and display prefix.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub digest: &'a str,
    pub display_prefix: &'a str,
    pub scopes: &'a [Scope],
    pub created_at: i64,
    pub created_by: &'a str,
}

pub async fn insert(db: &Db, key: &NewKey<'_>) -> Result<()> {
    db.run(
        "INSERT INTO api_keys (id, name, digest, display_prefix, scopes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        args![
            key.id,
            key.name,
            key.digest,
            key.display_prefix,
            serde_json::to_string(key.scopes)?,
            key.created_at,
            key.created_by
        ],
    )
    .await?;
    Ok(())
}

/// Every key, newest first.
pub async fn list(db: &Db) -> Result<Vec<KeyRow>> {
    db.all(
        &format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC"),
        vec![],
    )
    .await
}

/// Revokes a key (a revoked key keeps its first revocation time) and answers it as it is now.
pub async fn revoke(db: &Db, id: &str, now: i64) -> Result<Option<KeyRow>> {
    db.run(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        args![now, id],
    )
    .await?;
    db.first(
        &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?"),
        args![id],
    )
    .await
}

/// A cheap read that proves the table answers (`/health`).
pub async fn probe(db: &Db) -> Result<()> {
    db.first::<Value>("SELECT COUNT(*) AS keys FROM api_keys", vec![])
        .await
        .map(|_| ())
}
