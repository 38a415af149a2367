//! A handler's own health: can it reach its D1 database (with the schema migrated) and each of
//! its KV namespaces, are its secrets set, does its cron tick run and succeed, and has any of its
//! retry-queue jobs given up? The gateway's `/health` gathers these from all five handlers.
//! D1 is read in one round trip (a read batch).

use revops::routes::Service;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Env, Response};

use crate::cx::{env_var, now_ms, Spec};
use crate::db::{rows, Db};
use crate::error::Result;
use crate::{args, tick};

#[derive(Deserialize)]
struct Migration {
    name: String,
    applied_at: Option<String>,
}

#[derive(Deserialize)]
struct JobCounts {
    dead: Option<i64>,
    pending: Option<i64>,
}

/// The D1 part: the schema, this handler's last tick and its jobs.
async fn d1_checks(env: &Env, spec: &Spec, now: i64) -> Result<(Value, Value, Value)> {
    let started = now_ms();
    let db = Db::from_env(env)?;
    let prefix = format!("{}.%", spec.service.name());
    let mut results = db
        .read_batch(vec![
            db.stmt(
                "SELECT name, (SELECT MIN(applied_at) FROM d1_migrations) AS applied_at FROM d1_migrations ORDER BY id DESC LIMIT 1",
                args![],
            )?,
            tick::record_statement(&db, spec.service)?,
            db.stmt(
                "SELECT SUM(state = 'dead') AS dead, SUM(state = 'pending') AS pending FROM jobs WHERE kind LIKE ?",
                args![prefix],
            )?,
        ])
        .await?
        .into_iter();
    let mut next = || results.next().unwrap_or_default();
    let migration = rows::<Migration>("d1_migrations", next())?.pop();
    let ticks = tick::records_of(next())?;
    let counts = rows::<JobCounts>("jobs", next())?.pop();
    let Some(migration) = migration else {
        let none = json!({ "ok": false, "error": "no migrations applied" });
        return Ok((none, Value::Null, Value::Null));
    };
    let since = migration
        .applied_at
        .as_deref()
        .and_then(revops::ops::parse_sqlite_time);
    let d1 = json!({ "ok": true, "schema": migration.name, "ms": now_ms() - started });
    let tick = revops::ops::tick_view(ticks.get(spec.service.name()), now, since);
    let jobs = counts.map_or_else(
        || revops::ops::jobs_view(0, 0),
        |c| revops::ops::jobs_view(c.dead.unwrap_or(0), c.pending.unwrap_or(0)),
    );
    Ok((d1, tick, jobs))
}

pub async fn check(env: &Env, spec: &Spec) -> Result<Response> {
    let now = now_ms();
    let (d1, tick, jobs) = match d1_checks(env, spec, now).await {
        Ok(checks) => checks,
        Err(e) => (
            json!({ "ok": false, "error": e.to_string() }),
            Value::Null,
            Value::Null,
        ),
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
    let ok = d1["ok"] == true
        && kv.values().all(|v| v["ok"] == true)
        && missing.is_empty()
        && tick["ok"] == true
        && jobs["ok"] == true;
    let body = json!({
        "service": spec.service.name(),
        "ok": ok,
        "d1": d1,
        "kv": Value::Object(kv),
        "secrets": secrets,
        "tick": tick,
        "jobs": jobs,
    });
    crate::http::json(if ok { 200 } else { 503 }, &body)
}

/// Every handler's own health report (`/internal/health`), asked concurrently as `from`'s
/// system principal (what they cost in D1 is added to `meter`); a handler that cannot be
/// reached is reported not ok with why. The gateway's `/health` and the console's Health page
/// both show these.
pub async fn gather(
    env: &Env,
    from: Service,
    request_id: &str,
    meter: &crate::db::Meter,
) -> Vec<Value> {
    let calls = Service::HANDLERS.map(|service| async move {
        match crate::services::call(
            env,
            from,
            request_id,
            service,
            revops::routes::Method::Get,
            "/internal/health",
            None,
        )
        .await
        {
            Ok(reply) => {
                meter.add_downstream(reply.d1);
                reply.body
            }
            Err(e) => json!({ "service": service.name(), "ok": false, "error": e.to_string() }),
        }
    });
    futures_util::future::join_all(calls).await
}
