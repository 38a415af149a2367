//! A handler's own health: can it reach its D1 database (with the schema migrated) and each of
//! its KV namespaces? The gateway's `/health` gathers these from all five handlers.

use serde_json::{json, Map, Value};
use worker::{Env, Response};

use crate::cx::{env_var, now_ms, Spec};
use crate::db::Db;
use crate::error::Result;

#[derive(serde::Deserialize)]
struct Migration {
    name: String,
}

pub async fn check(env: &Env, spec: &Spec) -> Result<Response> {
    let started = now_ms();
    let d1 = match Db::from_env(env) {
        Ok(db) => match db
            .first::<Migration>(
                "SELECT name FROM d1_migrations ORDER BY id DESC LIMIT 1",
                vec![],
            )
            .await
        {
            Ok(Some(m)) => json!({ "ok": true, "schema": m.name, "ms": now_ms() - started }),
            Ok(None) => json!({ "ok": false, "error": "no migrations applied" }),
            Err(e) => json!({ "ok": false, "error": e.to_string() }),
        },
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    };
    let mut kv = Map::new();
    for binding in spec.kv {
        let started = now_ms();
        let status = match env.kv(binding) {
            Ok(store) => match store.get("health:probe").text().await {
                Ok(_) => json!({ "ok": true, "ms": now_ms() - started }),
                Err(e) => json!({ "ok": false, "error": format!("{e:?}") }),
            },
            Err(e) => json!({ "ok": false, "error": e.to_string() }),
        };
        kv.insert((*binding).to_string(), status);
    }
    let missing: Vec<&str> = spec
        .secrets
        .iter()
        .copied()
        .filter(|s| env_var(env, s).is_none())
        .collect();
    let secrets = json!({ "ok": missing.is_empty(), "missing": missing });
    let ok = d1["ok"] == true && kv.values().all(|v| v["ok"] == true) && missing.is_empty();
    let body = json!({
        "service": spec.service.name(),
        "ok": ok,
        "d1": d1,
        "kv": Value::Object(kv),
        "secrets": secrets,
    });
    crate::http::json(if ok { 200 } else { 503 }, &body)
}
