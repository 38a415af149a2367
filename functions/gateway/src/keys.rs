//! API-key administration: create (the secret is shown once), list, revoke; and the lookup the
//! gateway uses to authenticate a request. Only digests are stored.

use revops::auth::{self, CreateKeyBody, KeyRequest, Principal, Scope};
use revops::ids;
use revops::problem::Problem;
use revops::time::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use platform::{args, http, Cx, Db, Error, Result};

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    name: String,
    display_prefix: String,
    scopes: String,
    created_at: i64,
    created_by: String,
    revoked_at: Option<i64>,
}

impl KeyRow {
    fn scopes(&self) -> Vec<Scope> {
        serde_json::from_str(&self.scopes).unwrap_or_default()
    }

    fn view(&self) -> Value {
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

pub async fn create(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: CreateKeyBody = http::json_body(&mut req, 16 * 1024).await?;
    let request =
        KeyRequest::try_from(body).map_err(|errors| Error::Problem(Problem::validation(errors)))?;
    let key = auth::generate_key(platform::cx::random_bytes());
    let id = cx.new_id(ids::prefix::API_KEY);
    cx.db
        .run(
            "INSERT INTO api_keys (id, name, digest, display_prefix, scopes, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            args![
                &id,
                &request.name,
                &key.digest,
                &key.display_prefix,
                serde_json::to_string(&request.scopes)?,
                cx.now_ms,
                cx.actor()
            ],
        )
        .await?;
    cx.log(
        revops::logging::Level::Info,
        "api_key.created",
        json!({ "key_id": id, "scopes": request.scopes, "by": cx.actor() }),
    );
    let response = http::json(
        201,
        &json!({
            "id": id,
            "name": request.name,
            "prefix": key.display_prefix,
            "scopes": request.scopes,
            "created_at": rfc3339(cx.now_ms),
            "created_by": cx.actor(),
            "revoked_at": null,
            "key": key.secret,
        }),
    )?;
    response.headers().set("cache-control", "no-store")?;
    Ok(response)
}

pub async fn list(cx: &Cx) -> Result<Response> {
    let rows: Vec<KeyRow> = cx
        .db
        .all(
            &format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC"),
            vec![],
        )
        .await?;
    let keys: Vec<Value> = rows.iter().map(KeyRow::view).collect();
    http::json(200, &json!({ "keys": keys }))
}

/// Revokes a key at once; revoking a revoked key answers the same record again.
pub async fn revoke(cx: &Cx) -> Result<Response> {
    let id = cx.param("key_id");
    cx.db
        .run(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            args![cx.now_ms, id],
        )
        .await?;
    let row: Option<KeyRow> = cx
        .db
        .first(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?"),
            args![id],
        )
        .await?;
    let row = row.ok_or_else(|| Error::Problem(Problem::not_found(format!("API key {id}"))))?;
    cx.log(
        revops::logging::Level::Info,
        "api_key.revoked",
        json!({ "key_id": id, "by": cx.actor() }),
    );
    http::json(200, &row.view())
}
