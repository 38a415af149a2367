//! Routing: every MQL gets the right owner, exactly under concurrency, with an explanation and a
//! signed webhook received by a real local server.

use std::collections::{HashMap, HashSet};

use revops_tests::receiver::Receiver;
use revops_tests::{api, email, now_ms, serial, unique, Api};
use serde_json::{json, Value};

fn put_rep(api: &Api, id: &str, doc: Value) {
    let res = api
        .put(&format!("/v1/roster/reps/{id}"))
        .bearer(&api.admin_key)
        .json(&doc)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
}

fn put_team(api: &Api, id: &str, doc: Value) {
    let res = api
        .put(&format!("/v1/roster/teams/{id}"))
        .bearer(&api.admin_key)
        .json(&doc)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
}

fn publish(api: &Api, config: Value) -> i64 {
    api.publish("/v1/admin/routing/configs", "config", config)
}

fn new_lead(api: &Api, body: Value) -> String {
    api.new_lead(&body)
}

fn route(api: &Api, lead: &str, force: bool) -> Value {
    let res = api
        .post(&format!("/v1/leads/{lead}/route"))
        .bearer(&api.admin_key)
        .json(&json!({"force": force}))
        .send();
    assert!(matches!(res.status, 200 | 201), "{}", res.text());
    res.json()
}

fn routing(api: &Api, lead: &str) -> Value {
    let res = api
        .get(&format!("/v1/leads/{lead}/routing"))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// A team of three reps weighted 3/2/1 and a config sending `custom.batch = <batch>` to it.
fn weighted_team(api: &Api, batch: &str) -> (Vec<String>, String) {
    let reps: Vec<String> = (0..3).map(|i| unique(&format!("rep{i}"))).collect();
    for r in &reps {
        put_rep(api, r, json!({"name": format!("Rep {r}")}));
    }
    let team = unique("team");
    put_team(
        api,
        &team,
        json!({"name": "Weighted", "mode": "weighted_round_robin", "working_hours": "ignore",
               "members": [{"rep": reps[0], "weight": 3}, {"rep": reps[1], "weight": 2}, {"rep": reps[2], "weight": 1}]}),
    );
    let fallback = unique("ops");
    put_rep(api, &fallback, json!({"name": "Ops fallback"}));
    publish(
        api,
        json!({"name": format!("weighted {batch}"), "account_owner_first": false,
               "rules": [{"id": "batch", "when": {"field": "custom.batch", "equals": batch}, "assign": {"team": team}}],
               "fallback": {"rep": fallback}}),
    );
    (reps, team)
}

#[test]
fn concurrent_routings_never_share_a_slot_and_follow_the_weights() {
    let _guard = serial();
    let api = api();
    let batch = unique("b");
    let (reps, team) = weighted_team(&api, &batch);
    let leads: Vec<String> = (0..60)
        .map(|_| new_lead(&api, json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}})))
        .collect();
    // Route all 60 at once from 12 threads.
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = leads
            .chunks(5)
            .map(|chunk| {
                let api = api.clone();
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|l| route(&api, l, false))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut slots = HashSet::new();
    for r in &results {
        assert_eq!(r["routed"], true, "{r}");
        let a = &r["assignment"];
        assert_eq!(a["team"], json!(team));
        *counts
            .entry(a["owner"]["rep"].as_str().unwrap().to_string())
            .or_default() += 1;
        let step = a["explanation"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["rule"] == "batch")
            .unwrap()
            .clone();
        assert!(
            slots.insert(step["team"]["slot"].as_i64().unwrap()),
            "slot taken twice: {step}"
        );
    }
    assert_eq!(slots.len(), 60);
    assert_eq!(
        (counts[&reps[0]], counts[&reps[1]], counts[&reps[2]]),
        (30, 20, 10),
        "{counts:?}"
    );
    // Routing an owned lead again changes nothing; force re-routes it.
    let again = route(&api, &leads[0], false);
    assert_eq!(again["routed"], false);
    let forced = route(&api, &leads[0], true);
    assert_eq!(forced["routed"], true);
    let history = routing(&api, &leads[0]);
    assert_eq!(history["history"].as_array().unwrap().len(), 2);
    assert_eq!(history["history"][1]["ended_reason"], "rerouted");
}

#[test]
fn under_contention_no_rep_ever_exceeds_their_capacity() {
    let _guard = serial();
    let api = api();
    let batch = unique("cap");
    let caps = [
        (unique("open3"), json!({"max_open": 3})),
        (unique("open2"), json!({"max_open": 2})),
        (unique("day2"), json!({"max_per_day": 2})),
    ];
    for (id, capacity) in &caps {
        put_rep(&api, id, json!({"name": id, "capacity": capacity}));
    }
    let team = unique("capteam");
    put_team(
        &api,
        &team,
        json!({"name": "Capped", "mode": "round_robin", "working_hours": "ignore",
               "members": caps.iter().map(|(id, _)| json!({"rep": id})).collect::<Vec<_>>()}),
    );
    let queue = unique("overflow");
    publish(
        &api,
        json!({"name": format!("capped {batch}"), "account_owner_first": false,
               "rules": [{"id": "capped", "when": {"field": "custom.batch", "equals": batch}, "assign": {"team": team}}],
               "fallback": {"queue": queue}}),
    );
    let leads: Vec<String> = (0..30)
        .map(|_| new_lead(&api, json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}})))
        .collect();
    // Thirty routings at once, from ten threads, for seven places.
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = leads
            .chunks(3)
            .map(|chunk| {
                let api = api.clone();
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|l| route(&api, l, false))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut per_rep: HashMap<String, usize> = HashMap::new();
    let mut queued = 0;
    for r in &results {
        assert_eq!(r["routed"], true, "{r}");
        let a = &r["assignment"];
        match (a["owner"]["rep"].as_str(), a["owner"]["queue"].as_str()) {
            (Some(rep), _) => *per_rep.entry(rep.to_string()).or_default() += 1,
            (None, Some(q)) => {
                assert_eq!(q, queue);
                assert_eq!(a["fallback_reason"], "no_one_available", "{a}");
                // Every rep was skipped for a capacity reason, each one explained.
                let candidates = a["explanation"]["steps"][0]["team"]["candidates"]
                    .as_array()
                    .unwrap();
                assert_eq!(candidates.len(), 3, "{a}");
                for c in candidates {
                    assert!(
                        matches!(
                            c["reason"].as_str(),
                            Some("capacity_open" | "capacity_daily" | "capacity_race_lost")
                        ),
                        "{c}"
                    );
                }
                queued += 1;
            }
            _ => panic!("no owner: {r}"),
        }
    }
    // Every place was filled, none twice, and everyone else waits in the fallback queue.
    assert_eq!(per_rep.get(&caps[0].0), Some(&3), "{per_rep:?}");
    assert_eq!(per_rep.get(&caps[1].0), Some(&2), "{per_rep:?}");
    assert_eq!(per_rep.get(&caps[2].0), Some(&2), "{per_rep:?}");
    assert_eq!(queued, 23);
    for (id, capacity) in &caps {
        let rep = api
            .get(&format!("/v1/roster/reps/{id}"))
            .bearer(&api.admin_key)
            .send()
            .json();
        if let Some(max) = capacity["max_open"].as_u64() {
            assert_eq!(rep["load"]["open"].as_u64(), Some(max), "{rep}");
        }
        if let Some(max) = capacity["max_per_day"].as_u64() {
            assert_eq!(rep["load"]["today"].as_u64(), Some(max), "{rep}");
        }
        assert_eq!(rep["available_now"], false, "{rep}");
    }
    // Lost races are counted.
    let stats = api
        .get("/v1/admin/routing/stats")
        .bearer(&api.admin_key)
        .send();
    assert_eq!(stats.status, 200, "{}", stats.text());
    assert!(stats.json()["capacity_races_lost"].as_i64().is_some());

    // Nor the account owner, nor the fallback rep: a full owner is skipped, a full fallback rep's
    // lead waits in the unrouted queue.
    let owner = unique("owner1");
    let fallback = unique("fb1");
    put_rep(
        &api,
        &owner,
        json!({"name": "Owner", "capacity": {"max_open": 1}}),
    );
    put_rep(
        &api,
        &fallback,
        json!({"name": "Fallback", "capacity": {"max_open": 1}}),
    );
    let domain = format!("{}.example", unique("acct"));
    let res = api
        .post("/v1/accounts/bulk")
        .bearer(&api.admin_key)
        .json(&json!({"accounts": [{"id": unique("crm"), "name": "Acct", "owner": owner, "domains": [domain]}]}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    publish(
        &api,
        json!({"name": "owners first", "account_owner_first": true, "rules": [], "fallback": {"rep": fallback}}),
    );
    let owners: Vec<Value> = (0..3)
        .map(|_| {
            let lead = new_lead(
                &api,
                json!({"email": email(&domain), "lead_source": "test"}),
            );
            route(&api, &lead, false)["assignment"].clone()
        })
        .collect();
    assert_eq!(owners[0]["owner"], json!({"rep": owner}), "{}", owners[0]);
    assert_eq!(
        owners[1]["owner"],
        json!({"rep": fallback}),
        "{}",
        owners[1]
    );
    assert_eq!(
        owners[1]["explanation"]["steps"][0]["reason"],
        "capacity_open"
    );
    assert_eq!(
        owners[2]["owner"],
        json!({"queue": "unrouted"}),
        "{}",
        owners[2]
    );
    let note = owners[2]["explanation"]["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["note"]
        .clone();
    assert!(note.as_str().unwrap().contains("capacity_open"), "{note}");
    for rep in [&owner, &fallback] {
        let view = api
            .get(&format!("/v1/roster/reps/{rep}"))
            .bearer(&api.admin_key)
            .send()
            .json();
        assert_eq!(view["load"]["open"], 1, "{view}");
    }
}

#[test]
fn a_lead_that_was_never_routed_is_explained() {
    let _guard = serial();
    let api = api();
    let lead = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test"}),
    );
    let r = routing(&api, &lead);
    assert_eq!(r["history"], json!([]), "{r}");
    assert_eq!(r["owner"], Value::Null);
    let why = &r["why_not_routed"];
    assert_eq!(why["routed"], false, "{r}");
    let first = &why["reasons"][0];
    assert_eq!(first["code"], "not_an_mql", "{why}");
    let detail = first["detail"].as_str().unwrap();
    assert!(
        detail.contains("score") && detail.contains("becomes an MQL, at"),
        "{detail}"
    );
    // A routed lead has no such explanation.
    let routed = route(&api, &lead, false);
    assert_eq!(routed["routed"], true, "{routed}");
    assert_eq!(routing(&api, &lead)["why_not_routed"], Value::Null);
}

#[test]
fn an_mql_is_routed_in_the_intake_request_explained_and_announced() {
    let _guard = serial();
    let api = api();
    let receiver = Receiver::start();
    let res = api
        .post("/v1/admin/webhooks")
        .bearer(&api.admin_key)
        .json(&json!({"url": receiver.url, "events": ["assignment.created"], "description": "test receiver"}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let endpoint = res.json();
    let secret = endpoint["secret"].as_str().unwrap().to_string();

    // Scoring: a VP at the test domain is an MQL at once.
    let domain = format!("{}.example", unique("acct").to_lowercase());
    let res = api
        .post("/v1/admin/scoring/models")
        .bearer(&api.admin_key)
        .json(&json!({"reason": "routing test", "model": {
            "name": "routing test", "fit": [{"id": "vp", "when": {"field": "title", "contains": "vp"}, "points": 80}],
            "stages": [{"name": "mql", "enter_at": 50, "exit_below": 40}]}}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());

    // The account owner, a team for Germany, and a fallback.
    let owner = unique("owner");
    put_rep(
        &api,
        &owner,
        json!({"name": "Account Owner", "email": "owner@ours.example"}),
    );
    let (reps, team) = {
        let reps: Vec<String> = (0..2).map(|i| unique(&format!("de{i}"))).collect();
        for r in &reps {
            put_rep(&api, r, json!({"name": "DE rep"}));
        }
        let team = unique("de");
        put_team(
            &api,
            &team,
            json!({"name": "DACH", "mode": "round_robin", "members": [{"rep": reps[0]}, {"rep": reps[1]}]}),
        );
        (reps, team)
    };
    let res = api
        .post("/v1/accounts/bulk")
        .bearer(&api.admin_key)
        .json(&json!({"accounts": [{"id": unique("crm"), "name": "Acme", "owner": owner, "domains": [domain]}]}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let fallback = unique("ops");
    put_rep(&api, &fallback, json!({"name": "Ops"}));
    // A config naming a team that does not exist is refused, pointing at the rule.
    let res = api
        .post("/v1/admin/routing/configs")
        .bearer(&api.admin_key)
        .json(&json!({"reason": "x", "config": {"name": "bad", "rules": [{"id": "r", "assign": {"team": "no-such-team"}}], "fallback": {"rep": fallback}}}))
        .send();
    let problem = res.assert_problem(422, "validation-failed");
    assert_eq!(problem["errors"][0]["field"], "config.rules[0].assign.team");
    publish(
        &api,
        json!({"name": "regions", "rules": [
            {"id": "dach", "when": {"all": [{"field": "country", "in": ["DE", "AT", "CH"]}, {"field": "score", "at_least": 50}]}, "assign": {"team": team}}
        ], "fallback": {"rep": fallback}}),
    );

    // Known account: the lead goes to its owner in the same request that created it.
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": format!("{}@{domain}", unique("p")), "title": "VP Sales", "country": "Germany", "lead_source": "test"}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let body = res.json();
    assert_eq!(body["stage"], "mql", "{body}");
    assert_eq!(body["owner"], json!({"rep": owner}), "{body}");
    let account_lead = body["id"].as_str().unwrap().to_string();
    let explained = routing(&api, &account_lead);
    assert_eq!(explained["current"]["via"], "account_owner");
    assert_eq!(explained["current"]["reason"], "mql");
    assert_eq!(
        explained["current"]["explanation"]["steps"][0]["account"]["domain"],
        json!(domain)
    );

    // No account, German, an MQL: the DACH rule and its team.
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": email("gmail.com"), "title": "VP Marketing", "country": "DE", "lead_source": "test"}))
        .send();
    let body = res.json();
    let team_lead = body["id"].as_str().unwrap().to_string();
    assert!(
        reps.iter().any(|r| body["owner"] == json!({"rep": r})),
        "{body}"
    );
    let explained = routing(&api, &team_lead);
    let current = &explained["current"];
    assert_eq!(
        (current["rule"].clone(), current["team"].clone()),
        (json!("dach"), json!(team))
    );
    let steps = current["explanation"]["steps"].as_array().unwrap();
    assert_eq!(steps[0], json!({"step": "account", "matched": false}));
    // The chosen rep in full; the other, who could have taken it, listed as eligible.
    let candidates = steps[1]["team"]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0]["result"], "chosen");
    assert_eq!(steps[1]["team"]["eligible"].as_array().unwrap().len(), 1);

    // Not German: no rule matches, the fallback takes it, and that is counted.
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": email("gmail.com"), "title": "VP Ops", "country": "FR", "lead_source": "test"}))
        .send();
    let body = res.json();
    assert_eq!(body["owner"], json!({"rep": fallback}), "{body}");
    let fallback_lead = body["id"].as_str().unwrap().to_string();
    assert_eq!(
        routing(&api, &fallback_lead)["current"]["fallback_reason"],
        "no_rule_matched"
    );
    let stats = api
        .get("/v1/admin/routing/stats")
        .bearer(&api.admin_key)
        .send()
        .json();
    assert!(
        stats["fallbacks"]["no_rule_matched"].as_i64().unwrap() >= 1,
        "{stats}"
    );
    assert!(stats["by_rep"][&fallback].as_i64().unwrap() >= 1);

    // Each assignment reached the real local server, signed by the Standard Webhooks scheme.
    for lead in [&account_lead, &team_lead, &fallback_lead] {
        let got = receiver
            .wait_for(20, |r| {
                serde_json::from_slice::<Value>(&r.body)
                    .is_ok_and(|b| b["data"]["lead"]["id"] == json!(lead))
            })
            .unwrap_or_else(|| panic!("no webhook for {lead}: {:?}", receiver.received().len()));
        let headers: Vec<(String, String)> = got.headers.clone().into_iter().collect();
        let ts = got.headers["webhook-timestamp"].parse::<i64>().unwrap();
        let msg = revops::webhooks::Inbound {
            method: "POST",
            url: &receiver.url,
            headers: &headers,
            body: &got.body,
        };
        revops::webhooks::standard::verify(&[secret.as_str()], &msg, ts * 1000, 300_000)
            .unwrap_or_else(|e| panic!("bad signature: {e:?}"));
        let payload: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(payload["type"], "assignment.created");
    }

    // A manual reassignment is recorded the same way and announced too.
    let res = api
        .post(&format!("/v1/leads/{fallback_lead}/assignment"))
        .bearer(&api.admin_key)
        .json(&json!({"rep": reps[0], "reason": "speaks French"}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let explained = routing(&api, &fallback_lead);
    assert_eq!(explained["current"]["via"], "manual");
    assert_eq!(
        explained["current"]["explanation"]["manual"]["reason"],
        "speaks French"
    );
    assert_eq!(
        explained["history"][1]["ended_reason"],
        "reassigned_manually"
    );

    // A receiver that fails: the delivery stays pending with the error, visible, and the cron
    // tick delivers it once the receiver is back.
    receiver.answer(500);
    let res = api
        .post(&format!("/v1/leads/{fallback_lead}/assignment"))
        .bearer(&api.admin_key)
        .json(&json!({"queue": "french", "reason": "queue it"}))
        .send();
    assert_eq!(res.status, 201);
    let assignment = res.json()["id"].as_str().unwrap().to_string();
    receiver
        .wait_for(20, |r| {
            String::from_utf8_lossy(&r.body).contains(&assignment)
        })
        .expect("the first attempt reached the receiver");
    let endpoint_id = endpoint["id"].as_str().unwrap();
    // (Claimed-but-unanswered also shows one attempt: wait for the recorded failure.)
    let pending = wait_delivery(&api, endpoint_id, &fallback_lead, |d| {
        d["attempts"] == 1 && d["status"] == "pending" && !d["last_status"].is_null()
    });
    assert_eq!(pending["last_status"], 500);
    assert!(pending["next_attempt_at"].is_string());
    receiver.answer(200);
    let res = api.fire_cron_at(Some(now_ms() + 5 * 60_000));
    assert_eq!(res.status, 200, "{}", res.text());
    let done = wait_delivery(&api, endpoint_id, &fallback_lead, |d| {
        d["status"] == "delivered" && d["attempts"] == 2
    });
    assert_eq!(done["last_error"], Value::Null);

    api.delete(&format!("/v1/admin/webhooks/{endpoint_id}"))
        .bearer(&api.admin_key)
        .send();
}

/// Waits for the newest delivery about `lead` to satisfy `pred`.
fn wait_delivery(api: &Api, endpoint: &str, lead: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let res = api
            .get(&format!(
                "/v1/admin/webhooks/deliveries?endpoint_id={endpoint}&limit=50"
            ))
            .bearer(&api.admin_key)
            .send();
        assert_eq!(res.status, 200, "{}", res.text());
        let list = res.json()["deliveries"].as_array().unwrap().clone();
        if let Some(d) = list.iter().find(|d| d["lead_id"] == json!(lead)) {
            if pred(d) {
                return d.clone();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("delivery for {lead} never reached the expected state");
}

#[test]
fn deactivating_a_rep_reroutes_their_open_leads_through_the_rules() {
    let _guard = serial();
    let api = api();
    let batch = unique("d");
    let reps: Vec<String> = (0..2).map(|i| unique(&format!("x{i}"))).collect();
    for r in &reps {
        put_rep(&api, r, json!({"name": "X", "capacity": {"max_open": 50}}));
    }
    let team = unique("xt");
    put_team(
        &api,
        &team,
        json!({"name": "X", "mode": "round_robin", "members": [{"rep": reps[0]}, {"rep": reps[1]}]}),
    );
    let fallback = unique("ops");
    put_rep(&api, &fallback, json!({"name": "Ops"}));
    publish(
        &api,
        json!({"name": "deactivation", "rules": [{"id": "x", "when": {"field": "custom.batch", "equals": batch}, "assign": {"team": team}}], "fallback": {"rep": fallback}}),
    );
    let leads: Vec<String> = (0..6)
        .map(|_| new_lead(&api, json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}})))
        .collect();
    let owners: Vec<String> = leads
        .iter()
        .map(|l| {
            route(&api, l, false)["owner"]["rep"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let leaving = &reps[0];
    let theirs: Vec<&String> = leads
        .iter()
        .zip(&owners)
        .filter(|(_, o)| *o == leaving)
        .map(|(l, _)| l)
        .collect();
    assert_eq!(theirs.len(), 3, "round robin alternates: {owners:?}");

    let res = api
        .post(&format!("/v1/roster/reps/{leaving}/deactivate"))
        .bearer(&api.admin_key)
        .json(&json!({"status": "left"}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert_eq!(body["status"], "left");
    assert_eq!(
        body["rerouting"]["rerouted"].as_array().unwrap().len(),
        3,
        "{body}"
    );
    assert_eq!(body["load"]["open"], 0);
    for lead in theirs {
        let explained = routing(&api, lead);
        assert_eq!(explained["owner"], json!({"rep": reps[1]}));
        assert_eq!(explained["current"]["reason"], "reroute");
        assert_eq!(explained["history"][1]["ended_reason"], "rep_deactivated");
        let candidates = &explained["current"]["explanation"]["steps"][1]["team"]["candidates"];
        let skipped = candidates
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["rep"] == json!(leaving))
            .unwrap();
        assert_eq!(skipped["result"], "skipped");
    }
    // The other rep's leads stayed put.
    let rep = api
        .get(&format!("/v1/roster/reps/{}", reps[1]))
        .bearer(&api.admin_key)
        .send()
        .json();
    assert_eq!(rep["load"]["open"], 6);
}

#[test]
fn a_rep_who_becomes_unavailable_hands_on_the_leads_they_have_not_touched() {
    let _guard = serial();
    let api = api();
    let batch = unique("u");
    let (going, staying) = (unique("going"), unique("staying"));
    put_rep(&api, &going, json!({"name": "Going away"}));
    put_rep(&api, &staying, json!({"name": "Staying"}));
    let team = unique("handover");
    put_team(
        &api,
        &team,
        json!({"name": "Hands on", "mode": "least_loaded", "working_hours": "ignore", "when_unavailable": "reroute_untouched",
               "members": [{"rep": going}, {"rep": staying}]}),
    );
    let fallback = unique("fbu");
    put_rep(&api, &fallback, json!({"name": "Fallback"}));
    publish(
        &api,
        json!({"name": format!("handover {batch}"), "account_owner_first": false,
               "rules": [{"id": "h", "when": {"field": "custom.batch", "equals": batch}, "assign": {"team": team}}],
               "fallback": {"rep": fallback}}),
    );
    // Least loaded with a tie: the first member. Staying is made busier so Going gets both.
    let busy = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}),
    );
    let res = api
        .post(&format!("/v1/leads/{busy}/assignment"))
        .bearer(&api.admin_key)
        .json(&json!({"rep": staying, "reason": "make staying busier"}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let touched = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}),
    );
    let untouched = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}),
    );
    assert_eq!(route(&api, &touched, false)["owner"], json!({"rep": going}));
    let second = route(&api, &untouched, false);
    assert_eq!(second["owner"], json!({"rep": going}), "{second}");
    // The clocks start; the rep calls one of the two leads.
    assert_eq!(api.fire_cron_at(None).status, 200);
    let res = api
        .post(&format!("/v1/leads/{touched}/touches"))
        .bearer(&api.admin_key)
        .json(&json!({"type": "call", "rep": going}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    // Out of office from now: the untouched lead is routed again, the touched one stays.
    let res = api
        .patch(&format!("/v1/roster/reps/{going}"))
        .bearer(&api.admin_key)
        .json(&json!({"out_of_office_until": "2099-01-01T00:00:00Z"}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let rerouting = res.json()["rerouting"].clone();
    assert_eq!(rerouting["handover"], "untouched", "{rerouting}");
    let moved: Vec<&str> = rerouting["rerouted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["lead_id"].as_str().unwrap())
        .collect();
    assert_eq!(moved, vec![untouched.as_str()], "{rerouting}");
    let r = routing(&api, &untouched);
    assert_eq!(r["owner"], json!({"rep": staying}), "{r}");
    assert_eq!(r["current"]["reason"], "unavailable");
    assert_eq!(r["history"][1]["ended_reason"], "owner_unavailable");
    let candidates = r["current"]["explanation"]["steps"][0]["team"]["candidates"]
        .as_array()
        .unwrap();
    let skipped = candidates
        .iter()
        .find(|c| c["rep"] == json!(going))
        .unwrap();
    assert!(
        matches!(
            skipped["reason"].as_str(),
            Some("current_owner" | "out_of_office")
        ),
        "{skipped}"
    );
    assert_eq!(routing(&api, &touched)["owner"], json!({"rep": going}));
}

#[test]
fn queues_list_their_leads_and_a_claim_is_recorded_within_capacity() {
    let _guard = serial();
    let api = api();
    let batch = unique("q");
    let queue = unique("queue");
    publish(
        &api,
        json!({"name": format!("queue {batch}"), "account_owner_first": false,
               "rules": [{"id": "q", "when": {"field": "custom.batch", "equals": batch}, "assign": {"queue": queue}}],
               "fallback": {"queue": "unrouted"}}),
    );
    let leads: Vec<String> = (0..3)
        .map(|_| {
            let lead = new_lead(&api, json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}));
            assert_eq!(route(&api, &lead, false)["owner"], json!({"queue": queue}));
            lead
        })
        .collect();
    let all = api.get("/v1/queues").bearer(&api.admin_key).send();
    assert_eq!(all.status, 200, "{}", all.text());
    let mine = all.json()["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == json!(queue))
        .cloned()
        .unwrap();
    assert_eq!(mine["waiting"], 3);
    let listed = api
        .get(&format!("/v1/queues/{queue}?limit=2"))
        .bearer(&api.admin_key)
        .send()
        .json();
    assert_eq!(listed["waiting"], 3);
    let ids: Vec<&str> = listed["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lead_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![leads[0].as_str(), leads[1].as_str()],
        "oldest first, limited"
    );
    api.get(&format!("/v1/queues/{queue}?limit=1.5"))
        .bearer(&api.admin_key)
        .send()
        .assert_problem(422, "validation-failed");

    // A rep with room for one claims the oldest; the claim is explained and the queue shrinks.
    let rep = unique("claimer");
    put_rep(
        &api,
        &rep,
        json!({"name": "Claimer", "capacity": {"max_open": 1}}),
    );
    let claim = |body: Value| {
        api.post(&format!("/v1/queues/{queue}/claim"))
            .bearer(&api.admin_key)
            .json(&body)
            .send()
    };
    let res = claim(json!({"rep": rep}));
    assert_eq!(res.status, 201, "{}", res.text());
    let a = res.json();
    assert_eq!(
        (a["lead_id"].clone(), a["via"].clone(), a["owner"].clone()),
        (json!(leads[0]), json!("claim"), json!({"rep": rep}))
    );
    assert_eq!(a["explanation"]["claim"]["queue"], json!(queue));
    let history = routing(&api, &leads[0])["history"].clone();
    assert_eq!(history[1]["owner"], json!({"queue": queue}));
    assert_eq!(history[1]["ended_reason"], "claimed");
    // Full now: a second claim is refused, and nothing moves.
    let refused = claim(json!({"rep": rep}));
    let p = refused.assert_problem(409, "conflict");
    assert!(
        p["detail"].as_str().unwrap().contains("capacity_open"),
        "{p}"
    );
    assert_eq!(
        api.get(&format!("/v1/queues/{queue}"))
            .bearer(&api.admin_key)
            .send()
            .json()["waiting"],
        2
    );
    claim(json!({"rep": unique("ghost")})).assert_problem(422, "validation-failed");
    claim(json!({"rep": rep, "lead_id": leads[0]})).assert_problem(404, "not-found");
    claim(json!({"rep": rep, "surprise": 1})).assert_problem(422, "validation-failed");
}

#[test]
fn capacity_out_of_office_and_hours_send_leads_to_the_fallback_with_reasons() {
    let _guard = serial();
    let api = api();
    let batch = unique("c");
    let full = unique("full");
    let away = unique("away");
    let night = unique("night");
    put_rep(
        &api,
        &full,
        json!({"name": "Full", "capacity": {"max_open": 1}}),
    );
    put_rep(
        &api,
        &away,
        json!({"name": "Away", "out_of_office_until": "2099-01-01T00:00:00Z"}),
    );
    // Working hours that are never now: one hour every day, twelve hours away from now.
    let far = (now_ms() / 3_600_000 + 12) % 24;
    let window = format!("{far:02}:00-{far:02}:59");
    let week: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| (d.to_string(), json!(window)))
        .collect();
    put_rep(
        &api,
        &night,
        json!({"name": "Night", "working_hours": {"timezone": "UTC", "hours": week}}),
    );
    let team = unique("cap");
    put_team(
        &api,
        &team,
        json!({"name": "Cap", "mode": "least_loaded", "working_hours": "strict",
        "members": [{"rep": full}, {"rep": away}, {"rep": night}]}),
    );
    let queue = unique("q");
    publish(
        &api,
        json!({"name": "capacity", "account_owner_first": false,
               "rules": [{"id": "cap", "when": {"field": "custom.batch", "equals": batch}, "assign": {"team": team}}],
               "fallback": {"queue": queue}}),
    );
    let first = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}),
    );
    let second = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}),
    );
    let a = route(&api, &first, false);
    assert_eq!(a["owner"], json!({"rep": full}), "{a}");
    let b = route(&api, &second, false);
    assert_eq!(b["owner"], json!({"queue": queue}), "{b}");
    assert_eq!(b["assignment"]["fallback_reason"], "no_one_available");
    let candidates = b["assignment"]["explanation"]["steps"][0]["team"]["candidates"]
        .as_array()
        .unwrap()
        .clone();
    let reasons: HashMap<String, String> = candidates
        .iter()
        .map(|c| {
            (
                c["rep"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(reasons[&full], "capacity_open");
    assert_eq!(reasons[&away], "out_of_office");
    assert_eq!(reasons[&night], "outside_hours");
    // Out of office ends: PATCH the rep, and the next lead can go to them.
    let res = api
        .patch(&format!("/v1/roster/reps/{away}"))
        .bearer(&api.admin_key)
        .json(&json!({"out_of_office_until": null}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["available_now"], true);
    let third = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}),
    );
    assert_eq!(route(&api, &third, false)["owner"], json!({"rep": away}));

    // Working hours in a real zone: the handler (zone rules from the runtime's Intl data) and
    // the domain crate on the host (the IANA database) agree on whether the rep is working.
    for zone in [
        "Asia/Kathmandu",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "Europe/Berlin",
    ] {
        let hours = json!({"timezone": zone, "hours": {"mon": "00:00-12:00", "tue": "00:00-12:00", "wed": "00:00-12:00",
            "thu": "00:00-12:00", "fri": "00:00-12:00", "sat": "00:00-12:00", "sun": "00:00-12:00"}});
        let id = unique("tz");
        put_rep(&api, &id, json!({"name": "TZ", "working_hours": hours}));
        let expected = revops::hours::Schedule::parse(&hours)
            .unwrap()
            .is_open(now_ms());
        let rep = api
            .get(&format!("/v1/roster/reps/{id}"))
            .bearer(&api.admin_key)
            .send()
            .json();
        assert_eq!(rep["available_now"], expected, "{zone}: {rep}");
        assert_eq!(rep["working_hours"]["timezone"], zone);
    }

    // Bad roster documents are refused field by field.
    let res = api
        .put(&format!("/v1/roster/reps/{}", unique("bad")))
        .bearer(&api.admin_key)
        .json(&json!({"name": "B", "capacity": {"max_open": 0}, "working_hours": {"timezone": "Mars/Base", "hours": {"mon": "17:00-09:00"}}}))
        .send();
    let problem = res.assert_problem(422, "validation-failed");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"capacity.max_open")
            && fields.contains(&"working_hours.timezone")
            && fields.contains(&"working_hours.hours.mon"),
        "{fields:?}"
    );
    let res = api
        .put(&format!("/v1/roster/teams/{}", unique("t")))
        .bearer(&api.admin_key)
        .json(&json!({"name": "T", "members": [{"rep": "nobody-here"}]}))
        .send();
    assert_eq!(
        res.assert_problem(422, "validation-failed")["errors"][0]["field"],
        "members[0].rep"
    );
    // Unknown leads and unauthenticated calls.
    api.post("/v1/leads/lead_nope/route")
        .bearer(&api.admin_key)
        .json(&json!({}))
        .send()
        .assert_problem(404, "not-found");
    api.get(&format!("/v1/leads/{first}/routing"))
        .send()
        .assert_problem(401, "unauthorized");
}

#[test]
fn publish_dry_run_and_rollback_of_routing_rules() {
    let _guard = serial();
    let api = api();
    let batch = unique("v");
    let (_, team) = weighted_team(&api, &batch);
    let lead = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test", "custom": {"batch": batch}}),
    );
    route(&api, &lead, false);
    let before = api
        .get("/v1/admin/routing/configs")
        .bearer(&api.admin_key)
        .send()
        .json();
    let active = before["active_version"].as_i64().unwrap();
    // A candidate sending the batch to a queue instead: the dry-run sees the lead move.
    let candidate = json!({"name": "queue it", "account_owner_first": false,
        "rules": [{"id": "batch", "when": {"field": "custom.batch", "equals": batch}, "assign": {"queue": "review"}}],
        "fallback": {"queue": "unrouted"}});
    let res = api
        .post("/v1/admin/routing/dry-run")
        .bearer(&api.admin_key)
        .json(&json!({"config": candidate}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let dry = res.json();
    assert!(dry["would_change"].as_i64().unwrap() >= 1, "{dry}");
    assert!(
        dry["sample"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["lead_id"] == json!(lead)
                && c["from"] == json!(format!("team:{team}"))
                && c["to"] == "queue:review"),
        "{dry}"
    );
    let v = publish(&api, candidate);
    assert_eq!(v, active + 1);
    let forced = route(&api, &lead, true);
    assert_eq!(forced["owner"], json!({"queue": "review"}));
    assert_eq!(forced["assignment"]["config_version"], v);
    let res = api
        .post("/v1/admin/routing/rollback")
        .bearer(&api.admin_key)
        .json(&json!({"version": active, "reason": "back"}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let back = route(&api, &lead, true);
    assert_eq!(back["assignment"]["team"], json!(team));
    assert_eq!(back["assignment"]["config_version"], active);
    let listed = api
        .get("/v1/admin/routing/configs")
        .bearer(&api.admin_key)
        .send()
        .json();
    assert_eq!(listed["active_version"], active);
    assert_eq!(listed["activations"][0]["kind"], "rollback");
}

#[test]
fn crm_accounts_marked_as_customers_make_their_leads_existing_customers() {
    let _guard = serial();
    let api = api();
    let domain = format!("{}.example", unique("cust").to_lowercase());
    let account = unique("crm");
    let res = api
        .post("/v1/accounts/bulk")
        .bearer(&api.admin_key)
        .json(&json!({"accounts": [{"id": account, "name": "Customer Co", "owner": null, "customer": true, "domains": [domain]}]}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let got = api
        .get(&format!("/v1/accounts/{account}"))
        .bearer(&api.admin_key)
        .send()
        .json();
    assert_eq!(
        (got["customer"].clone(), got["owner"].clone()),
        (json!(true), Value::Null)
    );
    // Scoring sees it ...
    let res = api
        .post("/v1/admin/scoring/models")
        .bearer(&api.admin_key)
        .json(
            &json!({"reason": "customer test", "model": {"name": "customer test",
            "fit": [{"id": "existing_customer", "when": {"existing_customer": true}, "points": 7}],
            "stages": [{"name": "mql", "enter_at": 50, "exit_below": 40}]}}),
        )
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    // ... and so does routing: customers go to account management.
    let queue = unique("am");
    publish(
        &api,
        json!({"name": "customers", "rules": [{"id": "customers", "when": {"existing_customer": true}, "assign": {"queue": queue}}],
               "fallback": {"queue": "unrouted"}}),
    );
    let lead = new_lead(
        &api,
        json!({"email": format!("{}@{domain}", unique("p")), "lead_source": "test"}),
    );
    let score = api
        .get(&format!("/v1/leads/{lead}/score"))
        .bearer(&api.admin_key)
        .send()
        .json();
    assert!(
        score["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "existing_customer"),
        "{score}"
    );
    let routed = route(&api, &lead, false);
    assert_eq!(routed["owner"], json!({"queue": queue}), "{routed}");
    // The account has no owner, which the explanation says before the rule took it.
    let steps = &routed["assignment"]["explanation"]["steps"];
    assert_eq!(steps[0]["reason"], "account_has_no_owner");
    // A lead elsewhere is not a customer.
    let other = new_lead(
        &api,
        json!({"email": email("routing-test.io"), "lead_source": "test"}),
    );
    assert_eq!(
        route(&api, &other, false)["owner"],
        json!({"queue": "unrouted"})
    );
    // A subsidiary with its own, non-customer account: the lead belongs to it, so neither
    // scoring nor routing counts it as a customer (one rule, one answer).
    let sub_account = unique("crm-sub");
    let res = api
        .post("/v1/accounts/bulk")
        .bearer(&api.admin_key)
        .json(&json!({"accounts": [{"id": sub_account, "name": "Customer Co EU", "owner": null, "customer": false, "domains": [format!("eu.{domain}")]}]}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let eu = new_lead(
        &api,
        json!({"email": format!("{}@eu.{domain}", unique("p")), "lead_source": "test"}),
    );
    let score = api
        .get(&format!("/v1/leads/{eu}/score"))
        .bearer(&api.admin_key)
        .send()
        .json();
    assert!(
        !score["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "existing_customer"),
        "{score}"
    );
    assert_eq!(
        route(&api, &eu, false)["owner"],
        json!({"queue": "unrouted"})
    );
}
