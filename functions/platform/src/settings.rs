//! Configuration that is one document per installation (consent topics, email providers …),
//! stored in the `settings` table and read through the CONFIG cache. Until an administrator
//! saves one, the domain's default applies.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cx::Cx;
use crate::error::Result;
use crate::{args, cache};

/// The consent topics (owned by the consent handler; workflows read them to ask whether an
/// email may be sent).
pub const CONSENT_TOPICS: &str = "consent.topics";

fn cache_key(key: &str) -> String {
    format!("settings:{key}")
}

pub async fn load<T: DeserializeOwned + Default>(cx: &Cx, key: &str) -> Result<T> {
    let value: Option<T> = cache::get_or_load(
        cx,
        &cache_key(key),
        "SELECT value AS config FROM settings WHERE key = ?",
        key,
    )
    .await?;
    Ok(value.unwrap_or_default())
}

pub async fn save<T: Serialize>(cx: &Cx, key: &str, value: &T) -> Result<()> {
    cx.db
        .run(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            args![key, serde_json::to_string(value)?, cx.now_ms, cx.actor()],
        )
        .await?;
    cache::put(cx, &cache_key(key), value).await
}
