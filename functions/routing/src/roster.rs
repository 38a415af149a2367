//! The roster API (reps, teams, deactivation that re-routes) and CRM accounts.

use revops::problem::{FieldError, Problem};
use revops::routing::roster::{reroute_untouched_teams, Handover, Rep, Status, Team};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::{self, Why};
use crate::store;
use platform::{args, http, Cx, Error, Result};

/// Open leads re-routed per request or tick for one deactivated rep (each is a few queries;
/// the rest continue on the next tick).
pub const REROUTE_BATCH: usize = 15;

fn invalid(errors: Vec<FieldError>) -> Error {
    Error::Problem(Problem::validation(errors))
}

/// Stores a rep; a handover marks their open leads to re-route (the broader one wins).
async fn save_rep(cx: &Cx, rep: &Rep, handover: Handover) -> Result<()> {
    cx.db
        .run(
            "INSERT INTO reps (id, doc, status, reroute_pending, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id) DO UPDATE SET doc = ?2, status = ?3, reroute_pending = MAX(reroute_pending, ?4), updated_at = ?5, updated_by = ?6",
            args![&rep.id, &rep.to_json(), rep.status.as_str(), handover.code(), cx.now_ms, cx.actor()],
        )
        .await?;
    Ok(())
}

async fn rep_view(cx: &Cx, rep: &Rep) -> Result<Value> {
    let reps = revops::Map::from_iter([(rep.id.clone(), rep.clone())]);
    let load = store::loads(cx, &reps, cx.now_ms)
        .await?
        .get(&rep.id)
        .copied()
        .unwrap_or_default();
    let teams = store::teams(cx).await?;
    let mut member_of: Vec<&String> = teams
        .values()
        .filter(|t| t.members.iter().any(|m| m.rep == rep.id))
        .map(|t| &t.id)
        .collect();
    member_of.sort();
    let mut view = rep.to_json();
    view["load"] = json!({ "open": load.open, "today": load.today });
    view["available_now"] = json!(
        rep.away(cx.now_ms).is_none() && rep.capacity(load).is_none() && rep.in_hours(cx.now_ms)
    );
    view["teams"] = json!(member_of);
    Ok(view)
}

async fn find_rep(cx: &Cx, id: &str) -> Result<Rep> {
    store::reps(cx)
        .await?
        .remove(id)
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("rep {id}"))))
}

/// `PUT /v1/roster/reps/{id}`: creates or replaces a rep.
pub async fn put_rep(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("rep_id").to_string();
    let body: Value = http::json_body(&mut req, 32 * 1024).await?;
    let rep = Rep::parse(&id, &body).map_err(invalid)?;
    let before = store::reps(cx).await?.remove(&id);
    let handover = Handover::for_change(before.as_ref(), &rep, cx.now_ms);
    save_rep(cx, &rep, handover).await?;
    let mut view = rep_view(cx, &rep).await?;
    if handover != Handover::None {
        view["rerouting"] = reroute_rep(cx, &id, handover).await?;
    }
    http::json(200, &view)
}

/// `PATCH /v1/roster/reps/{id}`: changes the given fields (out of office, capacity, hours, …).
pub async fn patch_rep(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("rep_id").to_string();
    let patch: Value = http::json_body(&mut req, 32 * 1024).await?;
    let Value::Object(fields) = patch else {
        return Err(invalid(vec![FieldError::new(
            "",
            "give an object of fields to change",
        )]));
    };
    let current = find_rep(cx, &id).await?;
    let mut doc = current.to_json();
    for (k, v) in fields {
        if k == "id" {
            continue;
        }
        doc[k] = v;
    }
    let rep = Rep::parse(&id, &doc).map_err(invalid)?;
    let handover = Handover::for_change(Some(&current), &rep, cx.now_ms);
    save_rep(cx, &rep, handover).await?;
    let mut view = rep_view(cx, &rep).await?;
    if handover != Handover::None {
        view["rerouting"] = reroute_rep(cx, &id, handover).await?;
    }
    http::json(200, &view)
}

/// `GET /v1/roster/reps/{id}`: the rep with their load and teams.
pub async fn get_rep(cx: &Cx) -> Result<Response> {
    let rep = find_rep(cx, cx.param("rep_id")).await?;
    http::json(200, &rep_view(cx, &rep).await?)
}

/// `GET /v1/roster/reps`.
pub async fn list_reps(cx: &Cx) -> Result<Response> {
    let reps = store::reps(cx).await?;
    let loads = store::loads(cx, &reps, cx.now_ms).await?;
    let mut list: Vec<&Rep> = reps.values().collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let views: Vec<Value> = list
        .iter()
        .map(|r| {
            let load = loads.get(&r.id).copied().unwrap_or_default();
            let mut v = r.to_json();
            v["load"] = json!({ "open": load.open, "today": load.today });
            v
        })
        .collect();
    http::json(200, &json!({ "reps": views }))
}

/// `POST /v1/roster/reps/{id}/deactivate` `{"status": "left"|"inactive"}`: the rep takes no
/// new leads and their open leads are re-routed through the rules (in bounded batches; the
/// cron tick continues a long list).
pub async fn deactivate(cx: &Cx, mut req: Request) -> Result<Response> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default, deserialize_with = "revops::de::present")]
        status: Option<Status>,
    }
    let id = cx.param("rep_id").to_string();
    let body: Body = http::optional_json_body(&mut req, 4096).await?;
    let status = match body.status.unwrap_or(Status::Left) {
        Status::Active => return Err(invalid(vec![FieldError::new("status", "left or inactive")])),
        s => s,
    };
    let mut rep = find_rep(cx, &id).await?;
    rep.status = status;
    save_rep(cx, &rep, Handover::AllOpen).await?;
    let rerouting = reroute_rep(cx, &id, Handover::AllOpen).await?;
    let mut view = rep_view(cx, &rep).await?;
    view["rerouting"] = rerouting;
    http::json(200, &view)
}

/// Re-routes up to [`REROUTE_BATCH`] of the open leads a rep hands on — every one when they
/// left or were deactivated; those still waiting for a first touch, in teams that say so, when
/// they became unavailable — and clears the rep's pending mark when none are left.
pub async fn reroute_rep(cx: &Cx, rep_id: &str, handover: Handover) -> Result<Value> {
    let open = match handover {
        Handover::None => Vec::new(),
        Handover::AllOpen => store::open_of(cx, rep_id, None, REROUTE_BATCH + 1).await?,
        Handover::Untouched => {
            let teams = reroute_untouched_teams(store::teams(cx).await?.values());
            if teams.is_empty() {
                Vec::new()
            } else {
                store::open_of(cx, rep_id, Some(&teams), REROUTE_BATCH + 1).await?
            }
        }
    };
    let (reason, ended_reason) = match handover {
        Handover::Untouched => ("unavailable", "owner_unavailable"),
        _ => ("reroute", "rep_deactivated"),
    };
    let mut moved = Vec::new();
    let mut failed = 0;
    for row in open.iter().take(REROUTE_BATCH) {
        let why = Why {
            reason,
            force: true,
            exclude: Some(rep_id),
            ended_reason,
            only_if_current: None,
            given: None,
        };
        match api::route_lead(cx, &row.lead_id, why).await {
            Ok((view, _)) => moved.push(json!({ "lead_id": row.lead_id, "from_assignment": row.id, "owner": view["owner"] })),
            Err(e) => {
                failed += 1;
                cx.log(revops::logging::Level::Warn, "routing.reroute_failed", json!({ "lead_id": row.lead_id, "error": e.to_string() }));
            }
        }
    }
    let more = open.len() > REROUTE_BATCH || failed > 0;
    if !more {
        cx.db
            .run(
                "UPDATE reps SET reroute_pending = 0 WHERE id = ?",
                args![rep_id],
            )
            .await?;
    }
    Ok(
        json!({ "handover": match handover { Handover::Untouched => "untouched", _ => "all_open" }, "rerouted": moved, "more_pending": more }),
    )
}

/// `PUT /v1/roster/teams/{id}`: every member must be on the roster.
pub async fn put_team(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("team_id").to_string();
    let body: Value = http::json_body(&mut req, 64 * 1024).await?;
    let team = Team::parse(&id, &body).map_err(invalid)?;
    let reps = store::reps(cx).await?;
    let mut missing: Vec<FieldError> = team
        .members
        .iter()
        .enumerate()
        .filter(|(_, m)| !reps.contains_key(&m.rep))
        .map(|(i, m)| {
            FieldError::new(
                format!("members[{i}].rep"),
                format!("`{}` is not on the roster", m.rep),
            )
        })
        .collect();
    if let Some(lead) = team.lead.as_ref().filter(|l| !reps.contains_key(*l)) {
        missing.push(FieldError::new(
            "lead",
            format!("`{lead}` is not on the roster"),
        ));
    }
    if !missing.is_empty() {
        return Err(invalid(missing));
    }
    cx.db
        .run(
            "INSERT INTO teams (id, doc, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO UPDATE SET doc = ?2, updated_at = ?3, updated_by = ?4",
            args![&id, &team.to_json(), cx.now_ms, cx.actor()],
        )
        .await?;
    http::json(200, &team.to_json())
}

/// `GET /v1/roster/teams`.
pub async fn list_teams(cx: &Cx) -> Result<Response> {
    let teams = store::teams(cx).await?;
    let mut list: Vec<Value> = teams.values().map(Team::to_json).collect();
    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    http::json(200, &json!({ "teams": list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountIn {
    id: String,
    name: String,
    /// The owner's rep id, or null for none.
    #[serde(default)]
    owner: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    customer: Option<bool>,
    domains: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsIn {
    accounts: Vec<AccountIn>,
}

/// Whether any incoming account (a JSON array of `{id, customer, domains}`) differs from what is
/// stored in its customer flag or its set of domains — a new account counts as a non-customer
/// without domains. Read before the batch's upserts.
const ACCOUNTS_CHANGE: &str = "EXISTS (SELECT 1 FROM json_each(?) a WHERE \
     COALESCE((SELECT customer FROM accounts WHERE id = json_extract(a.value, '$.id')), 0) != json_extract(a.value, '$.customer') \
     OR (SELECT COUNT(*) FROM account_domains WHERE account_id = json_extract(a.value, '$.id')) != json_array_length(a.value, '$.domains') \
     OR (SELECT COUNT(*) FROM account_domains WHERE account_id = json_extract(a.value, '$.id') \
         AND domain IN (SELECT value FROM json_each(a.value, '$.domains'))) != json_array_length(a.value, '$.domains'))";

/// `POST /v1/accounts/bulk` `{"accounts": [{"id", "name", "owner", "domains": [...]}]}`: upserts
/// up to 1,000 accounts from the CRM in one atomic batch; an account's domains are replaced.
pub async fn upsert_accounts(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: AccountsIn = http::json_body(&mut req, 2 * 1024 * 1024).await?;
    let items = body.accounts;
    if items.is_empty() || items.len() > 1000 {
        return Err(invalid(vec![FieldError::new(
            "accounts",
            "give 1 to 1,000 accounts",
        )]));
    }
    let mut errors = Vec::new();
    let mut stmts = Vec::new();
    // What each account will be, to tell (before the upserts, in the same batch) whether any
    // account's customer flag or domains change: that changes leads' existing-customer fact.
    let mut incoming: Vec<Value> = Vec::new();
    let mut seen_domains: Vec<String> = Vec::new();
    let reps = store::reps(cx).await?;
    let mut unknown_owners: Vec<String> = Vec::new();
    for (i, a) in items.iter().enumerate() {
        let at = |f: &str| format!("accounts[{i}].{f}");
        let id = a.id.trim();
        let name = a.name.trim();
        if id.is_empty() || id.chars().count() > 100 {
            errors.push(FieldError::new(
                at("id"),
                "give the CRM's account id (1 to 100 characters)",
            ));
        }
        if name.is_empty() || name.chars().count() > 300 {
            errors.push(FieldError::new(
                at("name"),
                "give the account name (1 to 300 characters)",
            ));
        }
        let owner = match a.owner.as_deref().map(str::trim) {
            None => None,
            Some(o) if !o.is_empty() && o.chars().count() <= 100 => Some(o.to_string()),
            Some(_) => {
                errors.push(FieldError::new(
                    at("owner"),
                    "give the owner's rep id or null",
                ));
                None
            }
        };
        let customer = a.customer.unwrap_or(false);
        if let Some(o) = &owner {
            if !reps.contains_key(o) && !unknown_owners.contains(o) {
                unknown_owners.push(o.clone());
            }
        }
        let mut domains = Vec::new();
        if a.domains.is_empty() || a.domains.len() > 100 {
            errors.push(FieldError::new(at("domains"), "give 1 to 100 domains"));
        }
        for (j, d) in a.domains.iter().enumerate() {
            let d = revops::text::lowercase(d.trim().trim_start_matches("www."));
            if revops::routing::domain_ok(&d) {
                if seen_domains.contains(&d) {
                    errors.push(FieldError::new(
                        format!("accounts[{i}].domains[{j}]"),
                        format!("{d} is listed for two accounts"),
                    ));
                }
                seen_domains.push(d.clone());
                domains.push(d);
            } else {
                errors.push(FieldError::new(
                    format!("accounts[{i}].domains[{j}]"),
                    "give a domain such as acme.com",
                ));
            }
        }
        if !errors.is_empty() {
            continue;
        }
        incoming.push(json!({ "id": id, "customer": i64::from(customer), "domains": &domains }));
        stmts.push(cx.db.stmt(
            "INSERT INTO accounts (id, name, owner_rep_id, customer, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (id) DO UPDATE SET name = ?2, owner_rep_id = ?3, customer = ?4, updated_at = ?5",
            args![id, name, owner, customer, cx.now_ms],
        )?);
        stmts.push(cx.db.stmt(
            "DELETE FROM account_domains WHERE account_id = ?",
            args![id],
        )?);
        for d in domains {
            stmts.push(cx.db.stmt(
                "INSERT INTO account_domains (domain, account_id) VALUES (?1, ?2) ON CONFLICT (domain) DO UPDATE SET account_id = ?2",
                args![d, id],
            )?);
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    stmts.insert(
        0,
        platform::events::accounts_changed_if(
            cx,
            (ACCOUNTS_CHANGE, args![serde_json::to_string(&incoming)?]),
        )?,
    );
    cx.db.batch(stmts).await?;
    http::json(
        200,
        &json!({ "upserted": items.len(), "unknown_owners": unknown_owners }),
    )
}

/// `GET /v1/accounts/{id}`.
pub async fn get_account(cx: &Cx) -> Result<Response> {
    let id = cx.param("account_id");
    #[derive(Deserialize)]
    struct Row {
        id: String,
        name: String,
        owner_rep_id: Option<String>,
        customer: i64,
        updated_at: i64,
    }
    let row: Row = cx
        .db
        .first(
            "SELECT id, name, owner_rep_id, customer, updated_at FROM accounts WHERE id = ?",
            args![id],
        )
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("account {id}"))))?;
    #[derive(Deserialize)]
    struct D {
        domain: String,
    }
    let domains: Vec<D> = cx
        .db
        .all(
            "SELECT domain FROM account_domains WHERE account_id = ? ORDER BY domain",
            args![id],
        )
        .await?;
    http::json(
        200,
        &json!({
            "id": row.id, "name": row.name, "owner": row.owner_rep_id, "customer": row.customer == 1,
            "domains": domains.into_iter().map(|d| d.domain).collect::<Vec<_>>(),
            "updated_at": revops::time::rfc3339(row.updated_at),
        }),
    )
}
