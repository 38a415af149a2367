//! Scoring: versioned rules, fit and engagement, decay, MQL transitions that explain themselves.

use revops_tests::{api, email, now_ms, serial, unique, Api};
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

fn test_model(name: &str, enter_at: f64, exit_below: f64) -> Value {
    json!({
        "name": name,
        "fit": [
            {"id": "vp_title", "description": "VP or above", "when": {"field": "title", "contains": ["vp", "chief"]}, "points": 40},
            {"id": "scoring_test_domain", "when": {"field": "email_domain", "in": ["scoring-test.io"]}, "points": 5}
        ],
        "negative": [{"id": "student", "when": {"field": "title", "contains": "student"}, "points": -50}],
        "engagement": [
            {"id": "webinars", "description": "Webinars attended", "activity": "webinar_attended", "points": 30, "decay": {"half_life_days": 1}},
            {"id": "views", "activity": "page_view", "points": 1, "cap": {"max_points": 3, "per": "week"}}
        ],
        "stages": [{"name": "mql", "enter_at": enter_at, "exit_below": exit_below}],
        "rejection_reasons": [
            {"code": "no_budget", "label": "No budget", "recycle": "nurture"},
            {"code": "not_icp", "label": "Not ICP", "recycle": "disqualify"}
        ]
    })
}

fn publish(api: &Api, model: Value) -> i64 {
    api.publish("/v1/admin/scoring/models", "model", model)
}

fn new_lead(api: &Api, title: &str) -> String {
    api.new_lead(&json!({"email": email("scoring-test.io"), "title": title, "lead_source": "test"}))
}

fn activity(api: &Api, lead: &str, kind: &str, occurred_at: i64) -> Value {
    let at = chrono_rfc3339(occurred_at);
    let res = api
        .post("/v1/activities")
        .bearer(&api.admin_key)
        .json(
            &json!({"lead_id": lead, "type": kind, "occurred_at": at, "external_id": unique("a")}),
        )
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()
}

fn chrono_rfc3339(ms: i64) -> String {
    revops::time::rfc3339(ms)
}

fn score(api: &Api, lead: &str) -> Value {
    let res = api
        .get(&format!("/v1/leads/{lead}/score"))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

fn outcome(api: &Api, lead: &str, body: Value) -> revops_tests::Resp {
    api.post(&format!("/v1/leads/{lead}/outcome"))
        .bearer(&api.admin_key)
        .json(&body)
        .send()
}

/// Fires the cron trigger at `at` until the rescoring a publish started is done.
fn finish_rescoring(api: &Api, at: i64) {
    for _ in 0..60 {
        assert_eq!(api.fire_cron_at(Some(at)).status, 200);
        let status = api
            .get("/v1/admin/scoring/rescoring")
            .bearer(&api.admin_key)
            .send()
            .json();
        if status["state"] == "done" {
            return;
        }
    }
    panic!("rescoring did not finish");
}

#[test]
fn models_are_validated_rule_by_rule() {
    let api = api();
    let mut bad = test_model("bad", 60.0, 50.0);
    bad["fit"][0]["when"]["field"] = json!("titel");
    bad["engagement"][1]["activity"] = json!("teleport");
    let res = api
        .post("/v1/admin/scoring/models")
        .bearer(&api.admin_key)
        .json(&json!({"model": bad, "reason": "x"}))
        .send();
    let body = res.assert_problem(422, "validation-failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["model.fit[0].when.field", "model.engagement[1].activity"]
    );
    let res = api
        .post("/v1/admin/scoring/models")
        .bearer(&api.admin_key)
        .json(&json!({"model": test_model("m", 60.0, 50.0), "reason": " "}))
        .send();
    res.assert_problem(422, "validation-failed");
    let builtin = api
        .get("/v1/admin/scoring/models/0")
        .bearer(&api.admin_key)
        .send();
    assert_eq!(builtin.status, 200);
    assert_eq!(builtin.json()["model"]["stages"][1]["name"], "mql");
}

#[test]
fn mql_transitions_explain_themselves_and_sales_outcomes_recycle() {
    let api = api();
    let _turn = serial();
    let version = publish(&api, test_model(&unique("test model "), 60.0, 50.0));

    let lead = new_lead(&api, "VP Marketing");
    let s = score(&api, &lead);
    assert_eq!(
        (
            s["fit"].as_f64(),
            s["engagement"].as_f64(),
            s["stage"].as_str()
        ),
        (Some(45.0), Some(0.0), Some("new"))
    );
    assert_eq!(s["model_version"], version);

    let after = activity(&api, &lead, "webinar_attended", now_ms() - 60_000);
    assert_eq!(after["stage"], "mql", "{after}");
    let s = score(&api, &lead);
    assert_eq!(s["stage"], "mql");
    assert!(s["total"].as_f64().unwrap() >= 74.9);
    let rules: Vec<&str> = s["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["vp_title", "scoring_test_domain", "webinars"]);
    let webinar = &s["rules"][2];
    assert_eq!(webinar["kind"], "engagement");
    assert_eq!(webinar["counted"], 1);
    let t = s["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            t["from_stage"].as_str(),
            t["to_stage"].as_str(),
            t["model_version"].as_i64()
        ),
        (Some("new"), Some("mql"), Some(version))
    );

    // Caps: ten page views in a week count for three points.
    for _ in 0..10 {
        activity(&api, &lead, "page_view", now_ms() - 120_000);
    }
    let views = score(&api, &lead)["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "views")
        .unwrap()
        .clone();
    assert_eq!(
        (
            views["matched"].as_i64(),
            views["counted"].as_i64(),
            views["points"].as_f64()
        ),
        (Some(10), Some(3), Some(3.0))
    );

    // Rejections need a configured reason; no_budget recycles to nurture and resets engagement.
    let res = outcome(&api, &lead, json!({"outcome": "rejected"}));
    assert!(
        res.assert_problem(422, "validation-failed")["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no_budget")
    );
    outcome(
        &api,
        &lead,
        json!({"outcome": "rejected", "reason": "free text"}),
    )
    .assert_problem(422, "validation-failed");
    let res = outcome(
        &api,
        &lead,
        json!({"outcome": "rejected", "reason": "no_budget", "note": "next fiscal year"}),
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        (
            res.json()["stage"].as_str(),
            res.json()["recycled"].as_str()
        ),
        (Some("nurture"), Some("nurture"))
    );
    let s = score(&api, &lead);
    assert_eq!(s["engagement"], 0.0, "earlier engagement no longer counts");
    assert_eq!(
        s["transitions"].as_array().unwrap().last().unwrap()["reason"],
        "rejected:no_budget"
    );
    outcome(&api, &lead, json!({"outcome": "accepted"})).assert_problem(409, "conflict");

    // New interest brings it back; sales accepts it this time; a second lead is disqualified.
    let again = activity(&api, &lead, "webinar_attended", now_ms());
    assert_eq!(again["stage"], "mql");
    assert_eq!(
        outcome(&api, &lead, json!({"outcome": "accepted"})).json()["stage"],
        "accepted"
    );
    activity(&api, &lead, "page_view", now_ms());
    assert_eq!(
        score(&api, &lead)["stage"],
        "accepted",
        "scores never move a lead sales accepted"
    );
    let other = new_lead(&api, "Chief Revenue Officer");
    activity(&api, &other, "webinar_attended", now_ms() - 1000);
    let res = outcome(
        &api,
        &other,
        json!({"outcome": "rejected", "reason": "not_icp"}),
    );
    assert_eq!(res.json()["stage"], "disqualified");
    activity(&api, &other, "webinar_attended", now_ms());
    assert_eq!(score(&api, &other)["stage"], "disqualified");
}

#[test]
fn publish_dry_run_rollback_and_rescoring_with_hysteresis() {
    let api = api();
    let _turn = serial();
    let v1 = publish(&api, test_model(&unique("v1 "), 60.0, 50.0));
    let lead = new_lead(&api, "VP Sales");
    activity(&api, &lead, "webinar_attended", now_ms() - 60_000);
    assert_eq!(score(&api, &lead)["stage"], "mql");

    // A dry run of a stricter model says how many leads would move, and changes nothing.
    let res = api
        .post("/v1/admin/scoring/dry-run")
        .bearer(&api.admin_key)
        .json(&json!({"model": test_model("strict", 200.0, 150.0)}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let dry = res.json();
    assert!(dry["would_change_stage"].as_u64().unwrap() >= 1, "{dry}");
    assert!(
        dry["transitions"]["mql -> nurture"].as_u64().unwrap() >= 1,
        "{dry}"
    );
    assert_eq!(score(&api, &lead)["stage"], "mql");

    let v2 = publish(&api, test_model(&unique("v2 "), 62.0, 50.0));
    let list = api
        .get("/v1/admin/scoring/models")
        .bearer(&api.admin_key)
        .send()
        .json();
    assert_eq!(list["active_version"], v2);
    let listed = list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == v1)
        .unwrap()
        .clone();
    assert_eq!(
        (listed["published_by"].as_str(), listed["reason"].as_str()),
        (Some("bootstrap"), Some("integration test"))
    );

    let res = api
        .post("/v1/admin/scoring/rollback")
        .bearer(&api.admin_key)
        .json(&json!({"version": v1, "reason": "v2 too strict"}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let activations = api
        .get("/v1/admin/scoring/models")
        .bearer(&api.admin_key)
        .send()
        .json()["activations"]
        .clone();
    assert_eq!(
        (
            activations[0]["kind"].as_str(),
            activations[0]["version"].as_i64()
        ),
        (Some("rollback"), Some(v1))
    );

    // Rescoring in bounded batches, as of a day and a half later: the webinar is down to 10.6
    // points; 45 + 10.6 is below enter_at (60) but not below exit_below (50), so the lead stays
    // an MQL: decay noise does not bounce it out.
    finish_rescoring(&api, now_ms() + DAY * 3 / 2);
    let s = score(&api, &lead);
    assert_eq!(s["model_version"], v1);
    assert_eq!(s["stage"], "mql", "{s}");
    // Five days later the webinar is worth under a point: 45.9 is below exit_below.
    publish(&api, test_model(&unique("v3 "), 60.0, 50.0));
    finish_rescoring(&api, now_ms() + 5 * DAY);
    let s = score(&api, &lead);
    assert_eq!(s["stage"], "nurture", "{s}");
    let last = s["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from_stage"].as_str(), last["reason"].as_str()),
        (Some("mql"), Some("rescore"))
    );
    api.post("/v1/admin/scoring/rollback")
        .bearer(&api.admin_key)
        .json(&json!({"version": 999999, "reason": "x"}))
        .send()
        .assert_problem(404, "not-found");
}

#[test]
fn backtest_reports_rates_reasons_and_lift() {
    let api = api();
    let _turn = serial();
    publish(&api, test_model(&unique("bt "), 60.0, 50.0));
    let (a, b) = (new_lead(&api, "VP Ops"), new_lead(&api, "VP Finance"));
    for lead in [&a, &b] {
        activity(&api, lead, "webinar_attended", now_ms() - 60_000);
    }
    outcome(&api, &a, json!({"outcome": "accepted"}));
    outcome(
        &api,
        &b,
        json!({"outcome": "rejected", "reason": "no_budget"}),
    );
    let res = api
        .post("/v1/admin/scoring/backtest")
        .bearer(&api.admin_key)
        .json(&json!({}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let r = res.json();
    assert!(r["mql_with_outcome"].as_u64().unwrap() >= 2, "{r}");
    assert!(r["rejection_reasons"]["no_budget"].as_u64().unwrap() >= 1);
    assert!(r["acceptance_rate"].as_f64().unwrap() > 0.0);
    let vp = r["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "vp_title")
        .unwrap()
        .clone();
    assert!(
        vp["fired"].as_u64().unwrap() >= 2 && vp["lift"].is_number(),
        "{vp}"
    );
    let candidate = api
        .post("/v1/admin/scoring/backtest")
        .bearer(&api.admin_key)
        .json(&json!({"model": test_model("high bar", 500.0, 400.0)}))
        .send()
        .json();
    assert_eq!(candidate["model_version"], Value::Null);
    assert_eq!(
        candidate["mql_with_outcome"], 0,
        "nobody would be an MQL at 500"
    );
}

#[test]
fn previews_score_without_storing() {
    let api = api();
    let addr = email("preview-only.io");
    let lead =
        json!({"email": addr, "title": "VP Product", "employees": "200+", "country": "U.S.A."});
    let acts =
        json!([{"type": "webinar_attended", "occurred_at": chrono_rfc3339(now_ms() - 60_000)}]);
    let res = api
        .post("/v1/score")
        .bearer(&api.admin_key)
        .json(
            &json!({"lead": lead, "activities": acts, "model": test_model("preview", 60.0, 50.0)}),
        )
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let preview = res.json();
    assert_eq!(
        preview["model_version"],
        Value::Null,
        "a candidate model has no version"
    );
    let rules: Vec<&str> = preview["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["vp_title", "webinars"]);
    assert_eq!(preview["stage"], "mql");
    let with_active = api
        .post("/v1/score")
        .bearer(&api.admin_key)
        .json(&json!({"lead": lead}))
        .send()
        .json();
    assert!(with_active["model_version"].is_i64(), "{with_active}");
    let lookup = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr}))
        .send();
    assert_eq!(lookup.status, 201, "the preview created no lead");
    let bad = api
        .post("/v1/score")
        .bearer(&api.admin_key)
        .json(&json!({"lead": {"email": "nope"}}))
        .send();
    assert_eq!(
        bad.assert_problem(422, "validation-failed")["errors"][0]["field"],
        "lead.email"
    );
}

#[test]
fn decay_alone_moves_a_cooling_mql_out_at_the_time_it_predicted() {
    let _lock = serial();
    let api = api();
    publish(&api, test_model("decay test", 60.0, 50.0));
    let lead = new_lead(&api, "VP Marketing");
    let t0 = now_ms();
    finish_rescoring(&api, t0);
    activity(&api, &lead, "webinar_attended", t0);
    // 40 + 5 fit and a 30-point webinar that halves every day: an MQL at 75 …
    let s = score(&api, &lead);
    assert_eq!(
        (s["stage"].clone(), s["total"].clone()),
        (json!("mql"), json!(75.0)),
        "{s}"
    );
    // … until the webinar is worth less than 5 points, a little over 2.5 days on.
    let due = revops::time::parse_rfc3339(
        s["stage_changes_by_decay_at"]
            .as_str()
            .expect("a review is due"),
    )
    .unwrap();
    let days = (due - t0) as f64 / DAY as f64;
    assert!((2.4..2.7).contains(&days), "{days}");
    // An hour before, the cron leaves it alone; once due, it re-scores just that lead.
    assert_eq!(api.fire_cron_at(Some(due - 3_600_000)).status, 200);
    assert_eq!(score(&api, &lead)["stage"], "mql");
    assert_eq!(api.fire_cron_at(Some(due + 60_000)).status, 200);
    let s = score(&api, &lead);
    assert_eq!(s["stage"], "nurture", "{s}");
    let last = s["transitions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["from_stage"].clone(),
            last["to_stage"].clone(),
            last["reason"].clone()
        ),
        (json!("mql"), json!("nurture"), json!("decay")),
        "{s}"
    );
    assert!(s["total"].as_f64().unwrap() < 50.0);
    assert_eq!(
        s["stage_changes_by_decay_at"],
        Value::Null,
        "nothing further can change: {s}"
    );
}
