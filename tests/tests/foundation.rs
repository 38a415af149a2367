//! The foundation: one public entry, health of all six handlers, API keys with scopes,
//! problem+json errors with request ids, the OpenAPI description, the cron trigger.

use revops_tests::{api, now_ms, serial, unique};
use serde_json::{json, Value};

// Tests that need `/health` to be ok, or make it degraded on purpose, hold `serial()`.

#[test]
fn health_reports_each_handler_with_its_own_d1_and_kv_checks() {
    let _serial = serial();
    let api = api();
    let res = api.get("/health").send();
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.header("x-request-id").unwrap().starts_with("req_"));
    let body = res.json();
    assert_eq!(body["status"], "ok");
    for handler in [
        "intake",
        "scoring",
        "routing",
        "consent",
        "sla",
        "workflows",
    ] {
        let h = &body["handlers"][handler];
        assert_eq!(h["ok"], true, "{handler}: {h}");
        assert_eq!(h["d1"]["ok"], true, "{handler}");
        assert!(
            h["d1"]["schema"].as_str().unwrap().ends_with(".sql"),
            "{handler}"
        );
        let kv = h["kv"].as_object().unwrap();
        assert!(!kv.is_empty(), "{handler} checks its KV namespaces");
        assert!(kv.values().all(|c| c["ok"] == true), "{handler}: {kv:?}");
    }
}

#[test]
fn unauthenticated_admin_call_is_a_401_problem() {
    let api = api();
    let res = api
        .post("/v1/admin/keys")
        .json(&json!({"name": "x", "scopes": ["admin"]}))
        .send();
    let body = res.assert_problem(401, "unauthorized");
    assert_eq!(body["instance"], "/v1/admin/keys");
    assert!(res
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let wrong = api.get("/v1/admin/keys").bearer("rk_not_a_real_key").send();
    wrong.assert_problem(401, "unauthorized");
}

#[test]
fn a_client_cannot_spoof_the_internal_principal_header() {
    let api = api();
    let forged = json!({"id": "system:intake", "name": "x", "scopes": ["admin"]}).to_string();
    let res = api
        .get("/v1/admin/keys")
        .header("x-revops-principal", &forged)
        .send();
    res.assert_problem(401, "unauthorized");
    // Internal routes are never forwarded from outside, whatever the headers say.
    let res = api
        .get("/internal/health")
        .header("x-revops-principal", &forged)
        .send();
    res.assert_problem(404, "not-found");
}

#[test]
fn keys_are_scoped_listed_without_secrets_and_revoked_at_once() {
    let api = api();
    let name = unique("crm-sync-");
    let created = api
        .post("/v1/admin/keys")
        .bearer(&api.admin_key)
        .json(&json!({"name": name, "scopes": ["leads:read"]}))
        .send();
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let key = created.json();
    let secret = key["key"].as_str().unwrap().to_string();
    let id = key["id"].as_str().unwrap().to_string();
    assert!(secret.starts_with("rk_"));
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()));

    let list = api
        .get("/v1/admin/keys")
        .bearer(&api.admin_key)
        .send()
        .json();
    let listed = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["name"], name.as_str());
    assert!(listed.get("key").is_none(), "secrets are never listed");
    assert!(
        !list.to_string().contains(&secret),
        "the secret appears nowhere in the list"
    );

    // The key works for what its scopes allow and nothing more.
    let forbidden = api.get("/v1/admin/keys").bearer(&secret).send();
    let body = forbidden.assert_problem(403, "forbidden");
    assert!(body["detail"].as_str().unwrap().contains("admin"));

    let revoked = api
        .delete(&format!("/v1/admin/keys/{id}"))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert!(revoked.json()["revoked_at"].is_string());
    let again = api
        .delete(&format!("/v1/admin/keys/{id}"))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(
        again.json()["revoked_at"],
        revoked.json()["revoked_at"],
        "revoking twice changes nothing"
    );
    api.get("/v1/admin/keys")
        .bearer(&secret)
        .send()
        .assert_problem(401, "unauthorized");
    api.delete("/v1/admin/keys/key_00000000000000000000000000")
        .bearer(&api.admin_key)
        .send()
        .assert_problem(404, "not-found");
}

#[test]
fn bad_input_gets_a_precise_problem() {
    let api = api();
    let admin = api.admin_key.clone();
    let res = api
        .post("/v1/admin/keys")
        .bearer(&admin)
        .header("content-type", "application/json")
        .body(b"{\"name\": ".to_vec())
        .send();
    res.assert_problem(400, "malformed-json");
    let res = api
        .post("/v1/admin/keys")
        .bearer(&admin)
        .header("content-type", "text/plain")
        .body(b"hello".to_vec())
        .send();
    res.assert_problem(415, "unsupported-media-type");
    let res = api
        .post("/v1/admin/keys")
        .bearer(&admin)
        .json(&json!({"name": "", "scopes": ["leads:delete"]}))
        .send();
    let body = res.assert_problem(422, "validation-failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "scopes"]);
    let res = api
        .post("/v1/admin/keys")
        .bearer(&admin)
        .json(&json!({"name": "x", "scopes": ["admin"], "extra": 1}))
        .send();
    res.assert_problem(422, "validation-failed");
}

#[test]
fn unknown_paths_and_methods_are_problems_with_request_ids() {
    let api = api();
    api.get("/no/such/thing")
        .send()
        .assert_problem(404, "not-found");
    let res = api.put("/v1/admin/keys").bearer(&api.admin_key).send();
    res.assert_problem(405, "method-not-allowed");
    assert_eq!(res.header("allow"), Some("POST, GET"));
    let _serial = serial();
    let a = api.get("/health").send();
    let b = api.get("/health").send();
    assert_ne!(
        a.header("x-request-id"),
        b.header("x-request-id"),
        "each request gets its own id"
    );
}

#[test]
fn openapi_and_problem_pages_are_served() {
    let api = api();
    let res = api.get("/openapi.json").send();
    assert_eq!(res.status, 200);
    let doc = res.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/health"].is_object());
    let page = api.get("/problems/validation-failed").send();
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().contains("Some fields are missing or invalid"));
    api.get("/problems/nope")
        .send()
        .assert_problem(404, "not-found");
}

/// What a request costs in D1 is counted, not guessed: every worker's request line carries its
/// own `d1_round_trips` and `d1_statements`, and the gateway's line the totals of the whole chain
/// (its own API-key lookup plus every handler the request passed through).
#[test]
fn every_request_line_counts_its_d1_round_trips_and_the_gateway_the_chain() {
    let api = api();
    let key = api.key_with(&["intake:write"]);
    let res = api
        .post("/v1/leads")
        .bearer(&key)
        .json(&json!({"email": revops_tests::email("d1-meter.io"), "title": "VP Operations"}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(
        res.header("x-revops-d1-round-trips").is_none()
            && res.header("x-revops-d1-statements").is_none(),
        "the handlers' figures are for the gateway's log, not for clients"
    );
    let request_id = res.header("x-request-id").unwrap().to_string();
    let lines = revops_tests::runtime_log::request_lines(&request_id);
    let number = |line: &Value, field: &str| {
        line[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} missing from {line}"))
    };
    let gateway = lines.iter().find(|l| l["worker"] == "gateway").unwrap();
    // The key is looked up by its digest: one round trip of the gateway's own.
    assert_eq!(number(gateway, "d1_round_trips"), 1, "{gateway}");
    let intake = lines
        .iter()
        .find(|l| l["worker"] == "intake" && l["route"] == "/v1/leads")
        .unwrap_or_else(|| panic!("no intake line among {lines:?}"));
    assert!(number(intake, "d1_round_trips") > 0, "{intake}");
    for field in ["d1_round_trips", "d1_statements"] {
        let own: u64 = lines.iter().map(|l| number(l, field)).sum();
        assert_eq!(
            number(gateway, &format!("chain_{field}")),
            own,
            "the gateway's chain total is the sum of every worker's own {field}: {lines:?}"
        );
        for line in &lines {
            let chain = line[format!("chain_{field}")]
                .as_u64()
                .unwrap_or(number(line, field));
            assert!(chain >= number(line, field), "{line}");
        }
    }
    assert!(
        number(gateway, "chain_d1_statements") >= number(gateway, "chain_d1_round_trips"),
        "{gateway}"
    );
}

fn ticks(api: &revops_tests::Api) -> Value {
    let res = api.get("/v1/admin/ticks").bearer(&api.admin_key).send();
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

fn tick_of(ticks: &Value, handler: &str) -> Value {
    ticks["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["service"] == handler)
        .unwrap_or_else(|| panic!("no tick record for {handler}: {ticks}"))
        .clone()
}

#[test]
fn the_cron_trigger_runs_every_handler_and_a_failing_tick_degrades_health() {
    let _serial = serial();
    let api = api();
    let before = now_ms();
    let res = api.fire_cron_at(None);
    assert_eq!(res.status, 200, "{}", res.text());
    // Every handler recorded its tick: when, how long, what it did, and that it succeeded.
    let all = ticks(&api);
    assert_eq!(all["ok"], true, "{all}");
    for handler in [
        "intake",
        "scoring",
        "routing",
        "consent",
        "sla",
        "workflows",
    ] {
        let t = tick_of(&all, handler);
        assert_eq!(t["state"], "ok", "{t}");
        assert_eq!(t["outcome"], "ok", "{t}");
        let finished = revops::time::parse_rfc3339(t["finished_at"].as_str().unwrap()).unwrap();
        assert!(finished >= before - 1000, "{handler} ticked just now: {t}");
        assert!(t["duration_ms"].as_i64().unwrap() >= 0);
        assert!(t["items"].as_i64().unwrap() >= 0);
    }

    // One handler's tick fails: the failure is recorded and the system is degraded.
    let res = api.fire_schedule("inject-fault:scoring", None);
    assert_eq!(res.status, 200, "{}", res.text());
    let health = api.get("/health").send();
    assert_eq!(health.status, 503, "{}", health.text());
    let body = health.json();
    assert_eq!(body["status"], "degraded");
    let scoring = &body["handlers"]["scoring"];
    assert_eq!(scoring["ok"], false, "{scoring}");
    assert_eq!(scoring["tick"]["state"], "failed", "{scoring}");
    assert!(
        scoring["tick"]["why"]
            .as_str()
            .unwrap()
            .contains("injected fault"),
        "{scoring}"
    );
    for other in ["intake", "routing", "consent", "sla", "workflows"] {
        assert_eq!(
            body["handlers"][other]["tick"]["ok"], true,
            "{other}: {body}"
        );
    }
    let all = ticks(&api);
    assert_eq!(all["ok"], false);
    let t = tick_of(&all, "scoring");
    assert_eq!(t["outcome"], "failed", "{t}");
    assert_eq!(t["consecutive_failures"], 1, "{t}");
    assert!(t["error"].as_str().unwrap().contains("injected fault"));

    // The next tick succeeds: healthy again, with the failure streak reset.
    assert_eq!(api.fire_cron_at(None).status, 200);
    let health = api.get("/health").send();
    assert_eq!(health.status, 200, "{}", health.text());
    let t = tick_of(&ticks(&api), "scoring");
    assert_eq!(t["state"], "ok");
    assert_eq!(t["consecutive_failures"], 0);
    assert!(t["last_ok_at"].is_string());

    // Reading the ticks needs a key with reports:read.
    let crm = api.key_with(&["leads:read"]);
    api.get("/v1/admin/ticks")
        .bearer(&crm)
        .send()
        .assert_problem(403, "forbidden");
}

#[test]
fn a_job_that_gives_up_is_dead_degrades_health_and_can_be_retried() {
    let _serial = serial();
    let api = api();
    // The hand-off fails on its first 14 attempts: the request's own and 13 cron retries.
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("x-revops-inject-fault", "handoff x14")
        .json(&json!({"email": revops_tests::email("dead-jobs.example"), "lead_source": "test"}))
        .send();
    assert!(matches!(res.status, 200 | 201), "{}", res.text());
    let lead = res.json();
    assert_eq!(lead["status"], "pending", "{lead}");
    assert_eq!(lead["pending_step"], "handoff", "{lead}");
    let submission = lead["submission_id"].as_str().unwrap().to_string();
    let job_of = |status: &str| -> Option<Value> {
        let res = api
            .get(&format!("/v1/admin/jobs?handler=intake&status={status}"))
            .bearer(&api.admin_key)
            .send();
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["subject"] == submission.as_str())
            .cloned()
    };
    // Each retry waits longer (1, 2, 4 … minutes, at most 6 hours): fire the cron 7 hours apart.
    let mut at = now_ms();
    for _ in 0..13 {
        at += 7 * revops::time::HOUR;
        assert_eq!(api.fire_cron_at(Some(at)).status, 200);
    }
    let dead = job_of("dead").expect("the job gave up after 14 attempts");
    assert_eq!(dead["attempts"], 14, "{dead}");
    assert!(job_of("pending").is_none());
    let health = api.get("/health").send();
    assert_eq!(health.status, 503, "{}", health.text());
    let intake = &health.json()["handlers"]["intake"];
    assert_eq!(intake["jobs"]["ok"], false, "{intake}");
    assert!(intake["jobs"]["dead"].as_i64().unwrap() >= 1);
    assert!(intake["jobs"]["why"]
        .as_str()
        .unwrap()
        .contains("status=dead"));

    // Retried by hand, it runs at the next tick and succeeds: nothing was lost.
    let id = dead["id"].as_str().unwrap();
    let res = api
        .post(&format!("/v1/admin/jobs/{id}/retry"))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["state"], "pending");
    assert_eq!(api.fire_cron_at(Some(at + revops::time::HOUR)).status, 200);
    assert!(job_of("dead").is_none() && job_of("pending").is_none());
    let score = api
        .get(&format!("/v1/leads/{}/score", lead["id"].as_str().unwrap()))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(score.status, 200, "{}", score.text());
    assert_eq!(api.get("/health").send().status, 200);
}
