//! API-key administration: create (the secret is shown once), list, revoke. Only digests are
//! stored; the statements are in `platform::keys`, the table's repository.

use revops::auth::{self, CreateKeyBody, KeyRequest};
use revops::ids;
use revops::problem::Problem;
use revops::time::rfc3339;
use serde_json::{json, Value};
use worker::{Request, Response};

use platform::keys::{self, KeyRow, NewKey};
use platform::{http, Cx, Error, Result};

pub async fn create(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: CreateKeyBody = http::json_body(&mut req, 16 * 1024).await?;
    let request =
        KeyRequest::try_from(body).map_err(|errors| Error::Problem(Problem::validation(errors)))?;
    let key = auth::generate_key(platform::cx::random_bytes());
    let id = cx.new_id(ids::prefix::API_KEY);
    let actor = cx.actor();
    keys::insert(
        &cx.db,
        &NewKey {
            id: &id,
            name: &request.name,
            digest: &key.digest,
            display_prefix: &key.display_prefix,
            scopes: &request.scopes,
            created_at: cx.now_ms,
            created_by: &actor,
        },
    )
    .await?;
    cx.log(
        revops::logging::Level::Info,
        "api_key.created",
        json!({ "key_id": id, "scopes": request.scopes, "by": actor }),
    );
    let response = http::json(
        201,
        &json!({
            "id": id,
            "name": request.name,
            "prefix": key.display_prefix,
            "scopes": request.scopes,
            "created_at": rfc3339(cx.now_ms),
            "created_by": actor,
            "revoked_at": null,
            "key": key.secret,
        }),
    )?;
    response.headers().set("cache-control", "no-store")?;
    Ok(response)
}

pub async fn list(cx: &Cx) -> Result<Response> {
    let keys: Vec<Value> = keys::list(&cx.db).await?.iter().map(KeyRow::view).collect();
    http::json(200, &json!({ "keys": keys }))
}

/// Revokes a key at once; revoking a revoked key answers the same record again.
pub async fn revoke(cx: &Cx) -> Result<Response> {
    let id = cx.param("key_id");
    let row = keys::revoke(&cx.db, id, cx.now_ms)
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("API key {id}"))))?;
    cx.log(
        revops::logging::Level::Info,
        "api_key.revoked",
        json!({ "key_id": id, "by": cx.actor() }),
    );
    http::json(200, &row.view())
}
