//! Routing rules as a versioned operational parameter (publish, dry-run, rollback) and the
//! routing figures.

use std::collections::BTreeMap;

use revops::intake::lead::Lead;
use revops::problem::FieldError;
use revops::routing::decide::{self, Decision, Inputs, NeedSlot, Owner};
use revops::routing::roster::Load;
use revops::routing::{Config, Target};
use revops::scoring::condition::RoutingFacts;
use revops::time::{rfc3339, DAY};
use revops::Map;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::store::{self, CONFIGS};
use platform::versions::nothing_more;
use platform::{http, Cx, Error, Result};

/// How many recent routings a dry-run replays.
const DRY_RUN_LEADS: usize = 300;

/// Every rep and team a configuration names must be on the roster.
async fn check_references(cx: &Cx, doc: &Value) -> Result<Config> {
    let config = CONFIGS
        .check(doc)
        .and_then(|d| Config::parse(&d).map_err(|e| CONFIGS.invalid(e)))?;
    let reps = store::reps(cx).await?;
    let teams = store::teams(cx).await?;
    let mut errors = Vec::new();
    for (i, rule) in config.rules.iter().enumerate() {
        match &rule.assign {
            Target::Rep(id) if !reps.contains_key(id) => errors.push(FieldError::new(
                format!("rules[{i}].assign.rep"),
                format!("`{id}` is not on the roster"),
            )),
            Target::Team(id) if !teams.contains_key(id) => errors.push(FieldError::new(
                format!("rules[{i}].assign.team"),
                format!("team `{id}` does not exist"),
            )),
            _ => {}
        }
    }
    if let Target::Rep(id) = &config.fallback {
        if !reps.contains_key(id) {
            errors.push(FieldError::new(
                "fallback.rep",
                format!("`{id}` is not on the roster"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(CONFIGS.invalid(errors))
    }
}

/// `POST /v1/admin/routing/configs`: publishes a new version once every rep and team it names
/// is on the roster (the other version routes are `Versioned::serve`).
pub async fn publish(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: Value = http::json_body(&mut req, 512 * 1024).await?;
    CONFIGS.only_keys(&body, &["config", "reason"])?;
    check_references(cx, body.get("config").unwrap_or(&Value::Null)).await?;
    http::json(201, &CONFIGS.publish_body(cx, &body, nothing_more).await?)
}

/// Where a decision sends a lead, at the level a configuration controls: a rep, a queue or a
/// team (inside a team the rep depends on the moment's availability and cursor).
fn target_of(d: &Decision) -> String {
    match (&d.team, &d.owner) {
        (Some(t), _) => format!("team:{t}"),
        (None, Owner::Rep(r)) => format!("rep:{r}"),
        (None, Owner::Queue(q)) => format!("queue:{q}"),
    }
}

/// `POST /v1/admin/routing/dry-run` `{"config": {...}}`: replays the most recent routed leads
/// through the candidate and the active configuration with today's roster, and reports how many
/// would go elsewhere, where to, and a sample of the changes.
pub async fn dry_run(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: Value = http::json_body(&mut req, 512 * 1024).await?;
    CONFIGS.only_keys(&body, &["config"])?;
    let candidate = check_references(cx, body.get("config").unwrap_or(&Value::Null)).await?;
    let (version, active) = store::active(cx).await?;
    let rows = store::recently_routed(cx, DRY_RUN_LEADS).await?;
    let reps = store::reps(cx).await?;
    let teams = store::teams(cx).await?;
    let loads: Map<String, Load> = store::loads(cx, &reps, cx.now_ms).await?;
    let slots: Map<String, u64> = teams.keys().map(|t| (t.clone(), 0)).collect();
    let mut by_target: BTreeMap<String, u64> = BTreeMap::new();
    let mut changes = Vec::new();
    let mut changed = 0;
    for row in &rows {
        let lead: Lead = serde_json::from_str(&row.data)?;
        let scores = RoutingFacts {
            score: row.total,
            fit_score: row.fit,
            engagement_score: row.engagement,
            stage: row.stage.clone(),
            segment: None,
        };
        let account = store::account(cx, &lead).await?;
        let facts = store::facts(&lead, &scores, account.as_ref());
        let run = |config: &Config, version: i64| {
            decide::decide(&Inputs {
                config,
                version,
                facts: &facts,
                account: account.as_ref(),
                reps: &reps,
                teams: &teams,
                loads: &loads,
                now: cx.now_ms,
                slots: &slots,
                exclude: None,
                lost_race: &[],
            })
            // Only where the lead would go, and why, is compared; not the explanation.
            .map(|d| (target_of(&d), d.rule, d.via))
            .map_err(|NeedSlot(t)| Error::internal(format!("no slot for {t}")))
        };
        let (from, _, _) = run(&active, version)?;
        let (to, next_rule, next_via) = run(&candidate, -1)?;
        *by_target.entry(to.clone()).or_default() += 1;
        if from != to {
            changed += 1;
            if changes.len() < 25 {
                changes.push(json!({ "lead_id": lead.id, "from": from, "to": to, "rule": next_rule, "via": next_via.as_str() }));
            }
        }
    }
    http::json(
        200,
        &json!({
            "active_version": version,
            "evaluated": rows.len(),
            "would_change": changed,
            "by_target": by_target,
            "sample": changes,
        }),
    )
}

/// `GET /v1/admin/routing/stats?from=&to=`: assignments in the range by path, rule, team, rep
/// and queue, and every fallback with its reason.
pub async fn stats(cx: &Cx, req: &Request) -> Result<Response> {
    let (from, to) = revops::time::window(
        http::query_time(req, "from")?,
        http::query_time(req, "to")?,
        cx.now_ms,
        30 * DAY,
    )
    .map_err(|e| Error::Problem(revops::problem::Problem::validation(vec![e])))?;
    let stats = store::assignment_stats(cx, from, to).await?;
    let mut out = json!({ "from": rfc3339(from), "to": rfc3339(to) });
    for (name, groups) in &stats.groups {
        let map: serde_json::Map<String, Value> = groups
            .iter()
            .map(|(key, n)| (key.clone(), json!(n)))
            .collect();
        out[*name] = Value::Object(map);
    }
    let total: i64 = out["by_via"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_i64).sum())
        .unwrap_or(0);
    out["assignments"] = json!(total);
    out["capacity_races_lost"] = json!(stats.races_lost);
    out["fallbacks_by_day"] = stats
        .fallbacks_by_day
        .iter()
        .map(|(day, reasons)| {
            let by: serde_json::Map<String, Value> =
                reasons.iter().map(|(r, n)| (r.clone(), json!(n))).collect();
            (day.clone(), Value::Object(by))
        })
        .collect::<serde_json::Map<String, Value>>()
        .into();
    http::json(200, &out)
}
