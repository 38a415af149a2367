//! Published configuration (forms, webhook sources, models, policies) is read on hot paths from
//! the `CONFIG` KV namespace and written through on every change; D1 stays the source of truth
//! and fills the cache on a miss. KV is eventually consistent: another location may serve the
//! previous value for up to about a minute after a change.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cx::Cx;
use crate::error::Result;

pub const CONFIG: &str = "CONFIG";

/// The configuration cached under `key`, or else what `sql` (selecting one JSON column named
/// `config`, with `id` bound) reads from D1, then cached.
pub async fn get_or_load<T: DeserializeOwned>(
    cx: &Cx,
    key: &str,
    sql: &str,
    id: &str,
) -> Result<Option<T>> {
    let text = match get_text(cx, key).await? {
        Some(text) => Some(text),
        None => load_text(cx, key, sql, id).await?,
    };
    text.map(|t| Ok(serde_json::from_str(&t)?)).transpose()
}

async fn get_text(cx: &Cx, key: &str) -> Result<Option<String>> {
    Ok(cx.kv(CONFIG)?.get(key).text().await?)
}

#[derive(serde::Deserialize)]
struct ConfigRow {
    config: String,
}

async fn load_text(cx: &Cx, key: &str, sql: &str, id: &str) -> Result<Option<String>> {
    let row: Option<ConfigRow> = cx.db.first(sql, crate::args![id]).await?;
    let text = row.map(|r| r.config);
    if let Some(t) = &text {
        put_text(cx, key, t).await?;
    }
    Ok(text)
}

/// Writes a value through to the cache (after it was stored in D1).
pub async fn put<T: Serialize>(cx: &Cx, key: &str, value: &T) -> Result<()> {
    put_text(cx, key, &serde_json::to_string(value)?).await
}

async fn put_text(cx: &Cx, key: &str, text: &str) -> Result<()> {
    cx.kv(CONFIG)?.put(key, text)?.execute().await?;
    Ok(())
}

pub async fn delete(cx: &Cx, key: &str) -> Result<()> {
    cx.kv(CONFIG)?.delete(key).await?;
    Ok(())
}
