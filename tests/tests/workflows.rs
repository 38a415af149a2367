//! Workflows and lists: "if this happens, then do that", exactly once, versioned, dry-run first,
//! every step explained — and the marketing-ops article's own three examples, end to end.
//!
//! Every test here takes the serial lock: they fire the cron (which serves every workflow's due
//! steps) at times of their own choosing, some days ahead.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use revops::webhooks::standard;
use revops_tests::receiver::{Received, Receiver};
use revops_tests::{api, email, now_ms, serial, unique, Api};
use serde_json::{json, Value};

const ORIGIN: &str = "https://www.events-test.example";
const DAY: i64 = 86_400_000;

fn ok(api: &Api, method: &str, path: &str, body: Value, status: u16) -> Value {
    let res = api
        .request(method, path)
        .bearer(&api.admin_key)
        .json(&body)
        .send();
    assert_eq!(res.status, status, "{method} {path}: {}", res.text());
    res.json()
}

fn get(api: &Api, path: &str) -> Value {
    let res = api.get(path).bearer(&api.admin_key).send();
    assert_eq!(res.status, 200, "GET {path}: {}", res.text());
    res.json()
}

fn cron(api: &Api, at: i64) {
    let res = api.fire_cron_at(Some(at));
    assert_eq!(res.status, 200, "{}", res.text());
}

fn static_list(api: &Api, name: &str) -> String {
    ok(
        api,
        "POST",
        "/v1/lists",
        json!({"name": name, "kind": "static"}),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Publishes a workflow and returns its id.
fn publish(api: &Api, workflow: Value) -> String {
    let body = ok(
        api,
        "POST",
        "/v1/admin/workflows",
        json!({"workflow": workflow, "reason": "integration test"}),
        201,
    );
    assert_eq!(body["version"], 1);
    body["id"].as_str().unwrap().to_string()
}

/// A webhook endpoint at `receiver` for `events`: (id, signing secret).
fn endpoint(api: &Api, receiver: &Receiver, events: &[&str]) -> (String, String) {
    let body = ok(
        api,
        "POST",
        "/v1/admin/webhooks",
        json!({"url": receiver.url, "events": events, "description": unique("workflows test ")}),
        201,
    );
    (
        body["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

/// The message is signed with the endpoint's secret (Standard Webhooks).
fn assert_signed(r: &Received, secret: &str) {
    let key = standard::secret_key(secret).unwrap();
    let id = &r.headers["webhook-id"];
    let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
    let expected = standard::sign(&key, id, ts, &r.body);
    assert!(
        r.headers["webhook-signature"]
            .split(' ')
            .any(|s| s == expected),
        "signature {} is not {expected}",
        r.headers["webhook-signature"]
    );
}

fn body_of(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

fn enrolments(api: &Api, lead: &str) -> Vec<Value> {
    get(api, &format!("/v1/leads/{lead}/workflows"))["enrolments"]
        .as_array()
        .unwrap()
        .clone()
}

/// The lead's enrolments in `workflow` (newest first).
fn enrolments_in(api: &Api, lead: &str, workflow: &str) -> Vec<Value> {
    enrolments(api, lead)
        .into_iter()
        .filter(|e| e["workflow_id"] == workflow)
        .collect()
}

fn steps(e: &Value) -> Vec<(String, String)> {
    e["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn members(api: &Api, list: &str) -> Vec<String> {
    get(api, &format!("/v1/lists/{list}/members?limit=500"))["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["lead_id"].as_str().unwrap().to_string())
        .collect()
}

fn lead_id_of(api: &Api, email: &str) -> String {
    let res = get(
        api,
        &format!("/v1/leads?email={}", revops_tests::urlencode(email)),
    );
    res["leads"][0]["id"].as_str().unwrap().to_string()
}

/// Example 1 of the article: an event registration form creates or merges the lead, adds it to
/// the event's registrants list, requests the confirmation email — only where consent allows —
/// and keeps how the person got to the site.
#[test]
fn an_event_registration_lists_the_registrant_and_requests_the_confirmation_only_with_consent() {
    let _turn = serial();
    let api = api();
    let esp = Receiver::start();
    let (_, secret) = endpoint(&api, &esp, &["email.requested"]);
    let registrants = static_list(&api, "Webinar registrants");
    let form = ok(
        &api,
        "POST",
        "/v1/admin/forms",
        json!({"name": unique("Webinar "), "allowed_origins": [ORIGIN],
               "consent": {"topics": ["marketing_email"], "wording": "Email me about this event.", "wording_version": "1"}}),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let workflow = publish(
        &api,
        json!({
            "name": "Event registration",
            "trigger": {"event": "form.submitted", "form": form},
            "steps": [
                {"id": "registrants", "action": "add_to_list", "list": registrants},
                {"id": "confirmation", "action": "request_email", "template": "webinar-confirmation", "topic": "marketing_email"}
            ],
            "enrolment": {"once": true}
        }),
    );
    let (yes, no) = (email("events-test.example"), email("events-test.example"));
    for (addr, consent) in [(&yes, "on"), (&no, "")] {
        let res = api
            .post(&format!("/f/{form}"))
            .header("origin", ORIGIN)
            .header("accept", "application/json")
            .form(&[
                ("email", addr),
                ("first_name", "Ada"),
                ("consent", consent),
                ("referrer", "https://www.linkedin.com/feed/"),
                (
                    "landing_page",
                    "https://www.events-test.example/webinar?utm_source=linkedin&utm_medium=social&utm_campaign=dec-webinar",
                ),
            ])
            .send();
        assert_eq!(res.status, 201, "{}", res.text());
    }
    cron(&api, now_ms());
    let (yes_lead, no_lead) = (lead_id_of(&api, &yes), lead_id_of(&api, &no));

    // Both are registrants; only the one who opted in is sent the confirmation.
    let listed = members(&api, &registrants);
    assert!(
        listed.contains(&yes_lead) && listed.contains(&no_lead),
        "{listed:?}"
    );
    let sent = esp
        .wait_for(10, |r| body_of(r)["data"]["to"] == yes.to_lowercase())
        .expect("the confirmation was requested");
    assert_signed(&sent, &secret);
    let msg = body_of(&sent);
    assert_eq!(msg["type"], "email.requested");
    assert_eq!(msg["data"]["template"], "webinar-confirmation");
    assert_eq!(msg["data"]["topic"], "marketing_email");
    assert_eq!(msg["data"]["workflow"]["id"], workflow);
    // How they got to the site travels with the lead (first touch: UTM, referrer, landing page).
    let touch = &msg["data"]["lead"]["first_touch"];
    assert_eq!(touch["utm_source"], "linkedin");
    assert_eq!(touch["utm_campaign"], "dec-webinar");
    assert_eq!(touch["referrer"], "https://www.linkedin.com/feed/");
    assert!(touch["landing_page"]
        .as_str()
        .unwrap()
        .starts_with("https://www.events-test.example/webinar"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !esp.received()
            .iter()
            .any(|r| body_of(r)["data"]["to"] == no.to_lowercase()),
        "no email without consent"
    );

    // The request carries the one-click unsubscribe link (RFC 8058) and the headers the ESP
    // puts on the email; a mail provider's one-click POST to it opts the person out.
    let unsubscribe = &msg["data"]["unsubscribe"];
    assert_eq!(
        unsubscribe["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let link = unsubscribe["url"]
        .as_str()
        .expect("an unsubscribe link")
        .to_string();
    assert_eq!(
        unsubscribe["headers"]["List-Unsubscribe"],
        format!("<{link}>")
    );
    let path = link
        .strip_prefix(&api.base)
        .expect("under the public origin")
        .to_string();

    // Why: each step with its reason, on the lead.
    let e = &enrolments_in(&api, &no_lead, &workflow)[0];
    assert_eq!(e["state"], "done");
    assert_eq!(
        steps(e),
        [
            ("registrants".into(), "taken".into()),
            ("confirmation".into(), "skipped".into())
        ]
    );
    assert!(
        e["steps"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("no opt-in is recorded"),
        "{e}"
    );

    // A second registration merges into the same lead and does not enrol it again.
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .form(&[("email", &yes), ("company", "Analytical Engines")])
        .send();
    assert_eq!(res.status, 200, "merged: {}", res.text());
    cron(&api, now_ms());
    let all = enrolments_in(&api, &yes_lead, &workflow);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all.iter().filter(|e| e["state"] == "done").count(), 1);
    let refused = all.iter().find(|e| e["state"] == "not_enrolled").unwrap();
    assert!(refused["reason"]
        .as_str()
        .unwrap()
        .contains("enrols a lead once"));

    // The export for the topic holds only those who may be contacted on it; CSV, email first.
    let csv = api
        .get(&format!(
            "/v1/lists/{registrants}/export?format=csv&topic=marketing_email"
        ))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("email,lead_id,first_name,last_name,company,joined_at")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].starts_with(&format!("{},{yes_lead},Ada", yes.to_lowercase())));
    let res = api
        .post(&path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"List-Unsubscribe=One-Click".to_vec())
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let after = api
        .get(&format!(
            "/v1/lists/{registrants}/export?format=csv&topic=marketing_email"
        ))
        .bearer(&api.admin_key)
        .send()
        .text();
    assert_eq!(
        after.lines().count(),
        1,
        "only the header once they unsubscribed: {after}"
    );
    let all_json = api
        .get(&format!("/v1/lists/{registrants}/export?format=json"))
        .bearer(&api.admin_key)
        .send()
        .json();
    assert_eq!(all_json.as_array().unwrap().len(), 2);
}

fn trial_workflow(list: &str, product_api: &str, batch: &str) -> Value {
    json!({
        "name": "Free trial",
        "trigger": {"event": "activity.recorded", "type": "trial_signup"},
        "when": {"field": "custom.batch", "equals": batch},
        "steps": [
            {"id": "trial_list", "action": "add_to_list", "list": list},
            {"id": "points", "action": "record_activity", "type": "custom:trial_started", "properties": {"plan": "{{lead.custom.plan}}"}},
            {"id": "ends", "action": "set_field", "field": "custom.trial_ends_at", "now_plus": "14d"},
            {"id": "account", "action": "webhook", "endpoint": product_api,
             "body": {"email": "{{lead.email}}", "plan": "{{lead.custom.plan}}", "trial_ends_at": "{{lead.custom.trial_ends_at}}"}},
            {"id": "tell_owner", "action": "notify_owner", "message": "{{lead.email}} started a {{lead.custom.plan}} trial"},
            {"id": "nearly_over", "action": "wait", "until": "custom.trial_ends_at", "offset": "-3d"},
            {"id": "converted", "action": "branch", "when": {"field": "stage", "in": ["converted"]}, "then": "end"},
            {"id": "follow_up", "action": "create_task", "for": "owner", "title": "Trial of {{lead.email}} ends in 3 days"},
            {"id": "end", "action": "stop"}
        ]
    })
}

/// Example 2: a free-trial signup joins the trial list, raises the score (an activity the model
/// counts), gets `trial_ends_at` = signup + 14 days, creates the account through the product's
/// API (a signed webhook with a templated body, retried until it answers 2xx), notifies the
/// owner, and three days before the trial ends, if not converted, gets a task for the owner.
#[test]
fn a_free_trial_signup_runs_the_whole_trial_workflow_and_its_task_comes_three_days_before_the_end()
{
    let _turn = serial();
    let api = api();
    api.publish(
        "/v1/admin/scoring/models",
        "model",
        json!({"name": "trials count",
            "engagement": [{"id": "trial", "activity": "custom:trial_started", "points": 40}],
            "stages": [{"name": "mql", "enter_at": 200, "exit_below": 150}]}),
    );
    let product = Receiver::start();
    let (product_api, product_secret) = endpoint(&api, &product, &["assignment.created"]);
    let slack = Receiver::start();
    endpoint(&api, &slack, &["workflow.notification"]);
    let trials = static_list(&api, "Trials");
    let batch = unique("trial");
    let workflow = publish(&api, trial_workflow(&trials, &product_api, &batch));
    let rep = unique("owner");
    ok(
        &api,
        "PUT",
        &format!("/v1/roster/reps/{rep}"),
        json!({"name": "Ann Owner", "email": "ann@ours.example"}),
        200,
    );

    let signup = |converted: bool| {
        let lead = api.new_lead(&json!({"email": email("trial-co.example"), "lead_source": "trial", "custom": {"batch": batch, "plan": "pro"}}));
        ok(
            &api,
            "POST",
            &format!("/v1/leads/{lead}/assignment"),
            json!({"rep": rep, "reason": "owner of the trial"}),
            201,
        );
        if converted {
            convert(&api, &lead);
        }
        let before = get(&api, &format!("/v1/leads/{lead}/score"))["total"]
            .as_f64()
            .unwrap();
        record(&api, &lead, "trial_signup");
        (lead, before)
    };
    // The product's API is down at first: the account call is retried until it answers 2xx.
    product.answer(503);
    let (lead, score_before) = signup(false);
    let (converted, _) = signup(true);
    let start = now_ms();
    cron(&api, start);

    let e = &enrolments_in(&api, &lead, &workflow)[0];
    assert_eq!(e["state"], "waiting", "{e}");
    assert_eq!(
        steps(e),
        [
            "trial_list",
            "points",
            "ends",
            "account",
            "tell_owner",
            "nearly_over"
        ]
        .map(|s| (s.to_string(), "taken".to_string()))
    );
    assert!(members(&api, &trials).contains(&lead));
    // The lead holds trial_ends_at = signup + 14 days; the score rose by the model's points.
    let ends = get(&api, &format!("/v1/leads/{lead}"))["custom"]["trial_ends_at"]
        .as_str()
        .expect("trial_ends_at is set")
        .to_string();
    let ends_ms = revops::time::parse_rfc3339(&ends).unwrap();
    assert!((ends_ms - (start + 14 * DAY)).abs() < 60_000, "{ends}");
    let score_after = get(&api, &format!("/v1/leads/{lead}/score"))["total"]
        .as_f64()
        .unwrap();
    assert_eq!(
        score_after - score_before,
        40.0,
        "the trial_started activity counts"
    );
    assert_eq!(
        revops::time::parse_rfc3339(e["next_due_at"].as_str().unwrap()).unwrap(),
        ends_ms - 3 * DAY
    );

    let first = product
        .wait_for(10, |r| body_of(r)["email"].is_string())
        .expect("the account call was attempted");
    let account = body_of(&first);
    assert_eq!(account["plan"], "pro");
    assert_eq!(account["trial_ends_at"], ends);
    assert_signed(&first, &product_secret);
    product.answer(200);
    cron(&api, now_ms() + 10 * 60_000);
    let calls: Vec<Received> = product
        .received()
        .into_iter()
        .filter(|r| body_of(r)["email"] == account["email"])
        .collect();
    assert!(calls.len() >= 2, "retried after the 503");
    assert!(
        calls
            .iter()
            .all(|c| c.headers["webhook-id"] == first.headers["webhook-id"]),
        "one message, redelivered"
    );
    let note = slack
        .wait_for(10, |r| body_of(r)["data"]["lead"]["id"] == lead)
        .expect("the owner was notified");
    let note = body_of(&note);
    assert_eq!(note["type"], "workflow.notification");
    assert_eq!(note["data"]["owner"]["rep_id"], rep);
    assert_eq!(
        note["data"]["message"],
        format!("{} started a pro trial", account["email"].as_str().unwrap())
    );

    // Eleven days on (three before the end): the task, for the owner; none for the converted lead.
    cron(&api, ends_ms - 3 * DAY + 60_000);
    let e = &enrolments_in(&api, &lead, &workflow)[0];
    assert_eq!(e["state"], "done", "{e}");
    assert_eq!(
        steps(e)[6..],
        [
            ("converted".into(), "taken".into()),
            ("follow_up".into(), "taken".into()),
            ("end".into(), "taken".into())
        ]
    );
    let tasks = get(&api, &format!("/v1/sla/tasks?assignee={rep}"))["tasks"].clone();
    let titles: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(
            &format!(
                "Trial of {} ends in 3 days",
                account["email"].as_str().unwrap()
            )
            .as_str()
        ),
        "{titles:?}"
    );
    let c = &enrolments_in(&api, &converted, &workflow)[0];
    assert_eq!(c["state"], "done");
    let skipped = c["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "follow_up")
        .unwrap();
    assert_eq!(skipped["outcome"], "skipped");
    assert_eq!(skipped["reason"], "branch converted went on at end");
    assert_eq!(titles.len(), 1, "no task for the converted lead");
}

/// Example 3: a bounce — Postmark's documented bounce webhook — flags the lead as unable to
/// receive email and lists it on the suppression list, through the built-in bounce workflow
/// (readable like any other), while the consent ledger suppresses the address at once.
#[test]
fn a_bounce_flags_the_lead_and_lists_it_through_the_built_in_bounce_workflow() {
    let _turn = serial();
    let api = api();
    let (user, pass) = ("postmark-hook", "postmark-test-password-0123456789");
    ok(
        &api,
        "PUT",
        "/v1/admin/consent/providers",
        json!({"postmark": {"username": user, "password": pass}}),
        200,
    );
    let addr = email("bounces-test.example").to_lowercase();
    let lead = api.new_lead(&json!({"email": addr}));
    let fixture = include_str!("../fixtures/postmark-bounce-webhook.txt");
    let mut payload: Value = serde_json::from_str(fixture.lines().nth(1).unwrap()).unwrap();
    payload["Email"] = json!(addr);
    payload["ID"] = json!(now_ms());
    let res = api
        .post("/hooks/email/postmark")
        .header(
            "authorization",
            &format!("Basic {}", STANDARD.encode(format!("{user}:{pass}"))),
        )
        .json(&payload)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    cron(&api, now_ms());

    let builtin = revops::workflows::BOUNCE_WORKFLOW;
    let listed = get(&api, "/v1/admin/workflows")["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["id"] == builtin && w["name"] == "Email bounced");
    assert!(listed, "the bounce workflow is one anyone can read");
    let e = &enrolments_in(&api, &lead, builtin)[0];
    assert_eq!(e["state"], "done", "{e}");
    assert_eq!(
        steps(e),
        [
            ("flag".into(), "taken".into()),
            ("suppression_list".into(), "taken".into())
        ]
    );
    assert_eq!(
        get(&api, &format!("/v1/leads/{lead}"))["custom"]["email_deliverable"],
        false
    );
    assert!(members(&api, revops::workflows::BOUNCE_LIST).contains(&lead));
    assert_eq!(
        get(&api, &format!("/v1/consent/{addr}"))["suppressed"],
        "hard_bounce"
    );
    // A suppressed address is never sent an email, whatever a workflow asks.
    let list = static_list(&api, "after bounce");
    let w = publish(
        &api,
        json!({"name": "mail them", "trigger": {"event": "activity.recorded", "type": format!("custom:{}", unique("poke").to_lowercase())},
        "steps": [{"id": "mail", "action": "request_email", "template": "x", "topic": "marketing_email"}, {"id": "l", "action": "add_to_list", "list": list}]}),
    );
    let kind = get(&api, &format!("/v1/admin/workflows/{w}"))["workflow"]["trigger"]["type"]
        .as_str()
        .unwrap()
        .to_string();
    record(&api, &lead, &kind);
    cron(&api, now_ms());
    let e = &enrolments_in(&api, &lead, &w)[0];
    assert_eq!(e["steps"][0]["outcome"], "skipped");
    assert!(
        e["steps"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("suppressed"),
        "{e}"
    );
}

/// Exactly once: overlapping ticks, and an activity delivered twice, take each step once and
/// send one message.
#[test]
fn every_step_runs_exactly_once_when_ticks_overlap_or_the_trigger_is_delivered_twice() {
    let _turn = serial();
    let api = api();
    let hook = Receiver::start();
    let (endpoint_id, _) = endpoint(&api, &hook, &["assignment.created"]);
    let list = static_list(&api, "once");
    let kind = format!("custom:{}", unique("ping").to_lowercase());
    let workflow = publish(
        &api,
        json!({"name": "once", "trigger": {"event": "activity.recorded", "type": kind},
        "steps": [
            {"id": "join", "action": "add_to_list", "list": list},
            {"id": "call", "action": "webhook", "endpoint": endpoint_id, "body": {"lead": "{{lead.id}}"}},
            {"id": "later", "action": "wait", "for": "1h"},
            {"id": "again", "action": "webhook", "endpoint": endpoint_id, "body": {"lead": "{{lead.id}}", "second": true}}
        ]}),
    );
    let leads: Vec<String> = (0..5)
        .map(|_| api.new_lead(&json!({"email": email("once-test.example")})))
        .collect();
    let external = unique("ext");
    for lead in &leads {
        // The same activity (same external id) delivered twice is one activity, one event.
        for _ in 0..2 {
            let res = api
                .post("/v1/activities")
                .bearer(&api.admin_key)
                .json(&json!({"lead_id": lead, "type": kind, "external_id": external}))
                .send();
            assert!(res.status == 201 || res.status == 200, "{}", res.text());
        }
    }
    let at = now_ms();
    let fire = |t: i64| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let api = api.clone();
                std::thread::spawn(move || api.fire_cron_at(Some(t)).status)
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 200);
        }
    };
    fire(at);
    fire(at + 2 * 3_600_000);
    std::thread::sleep(std::time::Duration::from_secs(2));
    cron(&api, at + 2 * 3_600_000 + 60_000);
    for lead in &leads {
        let all = enrolments_in(&api, lead, &workflow);
        assert_eq!(all.len(), 1, "one enrolment: {all:?}");
        assert_eq!(all[0]["state"], "done");
        assert_eq!(steps(&all[0]).len(), 4, "each step once: {}", all[0]);
        let got: Vec<Value> = hook
            .received()
            .iter()
            .map(body_of)
            .filter(|b| b["lead"] == **lead)
            .collect();
        assert_eq!(got.len(), 2, "one message per webhook step: {got:?}");
    }
    assert_eq!(members(&api, &list).len(), 5);
}

/// An enrolment finishes on the version it started on; publishing a new version never replays
/// steps already taken, and new enrolments use the new version.
#[test]
fn an_enrolment_finishes_on_its_version_and_a_new_version_replays_nothing() {
    let _turn = serial();
    let api = api();
    let (a, b, c) = (
        static_list(&api, "v1 first"),
        static_list(&api, "v1 second"),
        static_list(&api, "v2 only"),
    );
    let kind = format!("custom:{}", unique("versioned").to_lowercase());
    let v1 = json!({"name": "versioned", "trigger": {"event": "activity.recorded", "type": kind}, "steps": [
        {"id": "first", "action": "add_to_list", "list": a},
        {"id": "pause", "action": "wait", "for": "1d"},
        {"id": "second", "action": "add_to_list", "list": b}]});
    let workflow = publish(&api, v1);
    let early = api.new_lead(&json!({"email": email("versions-test.example")}));
    record(&api, &early, &kind);
    let at = now_ms();
    cron(&api, at);
    let v2 = json!({"name": "versioned", "trigger": {"event": "activity.recorded", "type": kind}, "steps": [
        {"id": "first", "action": "add_to_list", "list": c},
        {"id": "pause", "action": "wait", "for": "1d"},
        {"id": "second", "action": "add_to_list", "list": c}]});
    let published = ok(
        &api,
        "POST",
        "/v1/admin/workflows",
        json!({"id": workflow, "workflow": v2, "reason": "v2"}),
        200,
    );
    assert_eq!(published["version"], 2);
    let late = api.new_lead(&json!({"email": email("versions-test.example")}));
    record(&api, &late, &kind);
    cron(&api, at + DAY + 60_000);
    cron(&api, at + DAY + 120_000);
    let e = &enrolments_in(&api, &early, &workflow)[0];
    assert_eq!(
        (e["version"].as_i64(), e["state"].as_str()),
        (Some(1), Some("done"))
    );
    assert!(members(&api, &a).contains(&early) && members(&api, &b).contains(&early));
    assert!(
        !members(&api, &c).contains(&early),
        "v2's steps never ran for an enrolment on v1"
    );
    let l = &enrolments_in(&api, &late, &workflow)[0];
    assert_eq!(l["version"], 2);
    assert!(members(&api, &c).contains(&late) && !members(&api, &a).contains(&late));
    // Both versions stay readable, and a rollback makes v1 active again.
    let wf = get(&api, &format!("/v1/admin/workflows/{workflow}"));
    assert_eq!(wf["versions"].as_array().unwrap().len(), 2);
    assert_eq!(
        get(&api, &format!("/v1/admin/workflows/{workflow}/versions/1"))["workflow"]["steps"][0]
            ["list"],
        a
    );
    ok(
        &api,
        "POST",
        &format!("/v1/admin/workflows/{workflow}/rollback"),
        json!({"version": 1, "reason": "v2 was wrong"}),
        200,
    );
    let wf = get(&api, &format!("/v1/admin/workflows/{workflow}"));
    assert_eq!(wf["version"], 1);
    let actions: Vec<&str> = wf["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["rollback", "publish", "publish"]);
}

/// A workflow's own figures: what it started on over the last days and how those stand, its
/// steps by outcome, what waits now and its latest failed steps with their reasons — the same
/// in the list and on the workflow.
#[test]
fn a_workflow_counts_what_it_did_and_names_its_failed_steps() {
    let _turn = serial();
    let api = api();
    let list = static_list(&api, "activity: joined");
    let kind = format!("custom:{}", unique("counted").to_lowercase());
    // An endpoint id nobody registered: the step fails, and says why.
    let unregistered = "whe_00000000000000000000000000";
    let workflow = publish(
        &api,
        json!({"name": "counted", "trigger": {"event": "activity.recorded", "type": kind},
        "when": {"field": "custom.fails", "equals": "yes"},
        "steps": [{"id": "join", "action": "add_to_list", "list": list},
                  {"id": "call", "action": "webhook", "endpoint": unregistered, "body": {"email": "{{lead.email}}"}}]}),
    );
    let leads: Vec<String> = (0..2)
        .map(|_| {
            api.new_lead(
                &json!({"email": email("activity-test.example"), "custom": {"fails": "yes"}}),
            )
        })
        .collect();
    let turned_away = api.new_lead(&json!({"email": email("activity-test.example")}));
    for lead in leads.iter().chain([&turned_away]) {
        record(&api, lead, &kind);
    }
    cron(&api, now_ms());
    let wf = get(&api, &format!("/v1/admin/workflows/{workflow}"));
    let a = &wf["activity"];
    assert_eq!(a["days"], 7);
    // A failed step is recorded and the enrolment goes on with the next one: both finish.
    assert_eq!(
        (
            &a["enrolled"],
            &a["done"],
            &a["failed"],
            &a["waiting"],
            &a["not_enrolled"]
        ),
        (&json!(2), &json!(2), &json!(0), &json!(0), &json!(1)),
        "{wf}"
    );
    assert_eq!(a["steps"], json!({"taken": 2, "skipped": 0, "failed": 2}));
    assert_eq!(wf["in_progress"], 0);
    let failures = wf["recent_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 2);
    for f in failures {
        assert!(leads.contains(&f["lead_id"].as_str().unwrap().to_string()));
        assert_eq!(
            (f["step"].as_str(), f["action"].as_str()),
            (Some("call"), Some("webhook"))
        );
        assert!(
            f["reason"].as_str().unwrap().contains("is not registered"),
            "{f}"
        );
    }
    for lead in &leads {
        assert_eq!(
            enrolments_in(&api, lead, &workflow)[0]["reason"],
            "every step is done, though step call failed"
        );
    }
    assert_eq!(wf["versions"][0]["active"], true);
    assert_eq!(wf["versions"][0]["name"], "counted");
    let all = get(&api, "/v1/admin/workflows");
    let listed = all["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == workflow.as_str())
        .unwrap();
    assert_eq!(listed["activity"], wf["activity"]);
}

/// A paused workflow runs nothing — its waiting steps are held, new events do not enrol — and
/// catches up on nothing unless asked.
#[test]
fn a_paused_workflow_runs_nothing_and_catches_up_only_when_asked() {
    let _turn = serial();
    let api = api();
    let (joined, after) = (
        static_list(&api, "paused: joined"),
        static_list(&api, "paused: after wait"),
    );
    let kind = format!("custom:{}", unique("pausable").to_lowercase());
    let workflow = publish(
        &api,
        json!({"name": "pausable", "trigger": {"event": "activity.recorded", "type": kind},
        "enrolment": {"once": false, "again_after_days": 0},
        "steps": [{"id": "join", "action": "add_to_list", "list": joined}, {"id": "w", "action": "wait", "for": "10m"},
                  {"id": "after", "action": "add_to_list", "list": after}]}),
    );
    let waiting = api.new_lead(&json!({"email": email("pause-test.example")}));
    record(&api, &waiting, &kind);
    let at = now_ms();
    cron(&api, at);
    ok(
        &api,
        "POST",
        &format!("/v1/admin/workflows/{workflow}/pause"),
        json!({"reason": "checking the copy"}),
        200,
    );
    ok(
        &api,
        "POST",
        &format!("/v1/admin/workflows/{workflow}/pause"),
        json!({"reason": "twice"}),
        409,
    );
    let during = api.new_lead(&json!({"email": email("pause-test.example")}));
    record(&api, &during, &kind);
    // Taken (and refused) now; then twenty minutes on, when the held wait would have ended.
    cron(&api, now_ms());
    cron(&api, at + 20 * 60_000);
    assert!(
        !members(&api, &after).contains(&waiting),
        "held while paused"
    );
    let refused = &enrolments_in(&api, &during, &workflow)[0];
    assert_eq!(refused["state"], "not_enrolled");
    assert_eq!(refused["reason"], "the workflow was paused");

    let resumed = ok(
        &api,
        "POST",
        &format!("/v1/admin/workflows/{workflow}/resume"),
        json!({"reason": "copy fixed"}),
        200,
    );
    assert_eq!(resumed["caught_up"]["events"], 0);
    cron(&api, now_ms() + 20 * 60_000);
    assert!(
        members(&api, &after).contains(&waiting),
        "the held step ran after resuming"
    );
    assert!(
        !members(&api, &joined).contains(&during),
        "no catch-up unless asked"
    );

    // Paused again, with an event during the pause: resuming with catch_up enrols it.
    ok(
        &api,
        "POST",
        &format!("/v1/admin/workflows/{workflow}/pause"),
        json!({"reason": "again"}),
        200,
    );
    let missed = api.new_lead(&json!({"email": email("pause-test.example")}));
    record(&api, &missed, &kind);
    cron(&api, now_ms());
    let resumed = ok(
        &api,
        "POST",
        &format!("/v1/admin/workflows/{workflow}/resume"),
        json!({"reason": "catch up", "catch_up": true}),
        200,
    );
    assert_eq!(resumed["caught_up"]["enrolled"], 1, "{resumed}");
    cron(&api, now_ms());
    assert!(members(&api, &joined).contains(&missed));
}

/// A workflow started by a fresh custom activity type whose first step puts the lead on a fresh
/// static list, then `more` steps: (list, activity type, workflow).
fn list_on_activity(api: &Api, name: &str, more: Value) -> (String, String, String) {
    let list = static_list(api, name);
    let kind = format!("custom:{}", unique("act").to_lowercase());
    let mut steps = vec![json!({"id": "join", "action": "add_to_list", "list": list})];
    steps.extend(more.as_array().cloned().unwrap_or_default());
    let workflow = publish(
        api,
        json!({"name": name, "trigger": {"event": "activity.recorded", "type": kind}, "steps": steps}),
    );
    (list, kind, workflow)
}

/// Records that the lead became a customer (its stage: converted).
fn convert(api: &Api, lead: &str) {
    ok(
        api,
        "POST",
        &format!("/v1/leads/{lead}/outcome"),
        json!({"outcome": "converted"}),
        200,
    );
}

/// Sends more about an existing lead through the API: merged into it (200).
fn merge(api: &Api, lead: Value) {
    ok(api, "POST", "/v1/leads", lead, 200);
}

/// Records an activity of `kind` on the lead through the API (a new one: 201).
fn record(api: &Api, lead: &str, kind: &str) {
    ok(
        api,
        "POST",
        "/v1/activities",
        json!({"lead_id": lead, "type": kind}),
        201,
    );
}

/// Records an activity through the API, then fires the cron a few times: enough for any chain
/// of workflow-caused changes to play out (or to show it would not stop).
fn record_and_settle(api: &Api, lead: &str, kind: &str) {
    record(api, lead, kind);
    for i in 0..4 {
        cron(api, now_ms() + i * 1000);
    }
}

/// The enrolment refused because the workflow's own step caused its event.
fn refused_as_self_triggered(all: &[Value]) -> &Value {
    let refused = all
        .iter()
        .find(|e| e["state"] == "not_enrolled")
        .expect("an enrolment was refused");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("never triggers itself"),
        "{refused}"
    );
    refused
}

/// A workflow cannot trigger itself: its own step's activity is recorded, and the enrolment it
/// would cause is refused, with the chain as the reason.
#[test]
fn a_workflow_never_triggers_itself_and_says_so() {
    let _turn = serial();
    let api = api();
    let kind = format!("custom:{}", unique("echo").to_lowercase());
    let workflow = publish(
        &api,
        json!({"name": "echo", "trigger": {"event": "activity.recorded", "type": kind},
        "enrolment": {"once": false, "again_after_days": 0},
        "steps": [{"id": "echo", "action": "record_activity", "type": kind}]}),
    );
    let lead = api.new_lead(&json!({"email": email("loop-test.example")}));
    record_and_settle(&api, &lead, &kind);
    let all = enrolments_in(&api, &lead, &workflow);
    assert_eq!(all.len(), 2, "{all:?}");
    let refused = refused_as_self_triggered(&all);
    assert_eq!(refused["caused_by"], json!([workflow]));
}

/// The dry run replays recorded events through a candidate: who would enrol, what each would
/// do, what it would request — and changes nothing.
#[test]
fn a_dry_run_replays_recorded_events_and_changes_nothing() {
    let _turn = serial();
    let api = api();
    let kind = format!("custom:{}", unique("rehearse").to_lowercase());
    let leads: Vec<String> = (0..3).map(|i| api.new_lead(&json!({"email": email("dry-test.example"), "country": if i == 0 { "DE" } else { "US" }}))).collect();
    for lead in &leads {
        record(&api, lead, &kind);
    }
    cron(&api, now_ms());
    let list = static_list(&api, "would join");
    let hook = Receiver::start();
    let (endpoint_id, _) = endpoint(&api, &hook, &["assignment.created"]);
    let candidate = json!({"name": "rehearsal", "trigger": {"event": "activity.recorded", "type": kind},
        "when": {"field": "country", "in": ["US"]},
        "steps": [{"id": "join", "action": "add_to_list", "list": list},
                  {"id": "call", "action": "webhook", "endpoint": endpoint_id, "body": {"x": 1}},
                  {"id": "mail", "action": "request_email", "template": "t", "topic": "marketing_email"}]});
    let report = ok(
        &api,
        "POST",
        "/v1/admin/workflows/dry-run",
        json!({"workflow": candidate, "days": 7}),
        200,
    );
    assert_eq!(report["totals"]["events_matched"], 3, "{report}");
    assert_eq!(report["totals"]["enrolments"], 2);
    assert_eq!(report["totals"]["not_enrolled"], 1);
    assert_eq!(report["totals"]["webhooks"], 2);
    assert_eq!(report["totals"]["emails"], 0, "nobody opted in");
    let de = report["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lead_id"] == leads[0])
        .unwrap();
    assert!(de["reason"].as_str().unwrap().contains("condition"));
    assert!(members(&api, &list).is_empty(), "nothing was stored");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(hook.received().is_empty(), "nothing was sent");
    assert!(enrolments(&api, &leads[1]).is_empty());
}

/// Lists: static members by API (with history), dynamic lists that follow their condition as
/// leads change and are filled from existing leads, paging.
/// Ticks until a dynamic list is no longer being filled (a page of leads per tick).
fn settle_list(api: &Api, list: &str) {
    for _ in 0..150 {
        if get(api, &format!("/v1/lists/{list}"))["filling"] == false {
            return;
        }
        cron(api, now_ms());
    }
    panic!("list {list} was still filling after 150 ticks");
}

/// A dynamic list on the existing-customer fact follows the CRM's accounts: when an account
/// becomes a customer its leads join, when it stops they leave — and an upsert that changes
/// neither an account's customer flag nor its domains judges no list again.
#[test]
fn a_customer_list_follows_the_crm_accounts() {
    let _turn = serial();
    let api = api();
    let domain = format!("{}.example", unique("crm").to_lowercase());
    let lead = api.new_lead(&json!({"email": format!("buyer@{domain}")}));
    let list = ok(
        &api,
        "POST",
        "/v1/lists",
        json!({"name": "customers", "kind": "dynamic",
               "when": {"all": [{"existing_customer": true}, {"field": "email_domain", "equals": domain}]}}),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    settle_list(&api, &list);
    let account = unique("crm-account");
    let upsert = |customer: bool| {
        ok(
            &api,
            "POST",
            "/v1/accounts/bulk",
            json!({"accounts": [{"id": account, "name": "Buyer Inc", "domains": [domain], "customer": customer}]}),
            200,
        );
        cron(&api, now_ms());
        get(&api, &format!("/v1/lists/{list}"))["filling"] == true
    };
    assert!(upsert(false), "a new account with domains is judged");
    settle_list(&api, &list);
    assert!(!members(&api, &list).contains(&lead));
    assert!(upsert(true), "the account became a customer");
    settle_list(&api, &list);
    assert_eq!(members(&api, &list), vec![lead.clone()]);
    assert!(!upsert(true), "nothing that decides the list changed");
    assert!(upsert(false), "the account is a customer no more");
    settle_list(&api, &list);
    assert!(members(&api, &list).is_empty());
    let history: Vec<(String, String)> = get(&api, &format!("/v1/leads/{lead}/workflows"))
        ["list_history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["list_id"] == list.as_str())
        .map(|c| {
            (
                c["change"].as_str().unwrap().to_string(),
                c["cause"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(
        history,
        [
            ("left".to_string(), "condition".to_string()),
            ("joined".to_string(), "condition".to_string())
        ]
    );
}

#[test]
fn lists_keep_their_members_and_say_when_and_why_each_joined_or_left() {
    let _turn = serial();
    let api = api();
    let tag = unique("dyn");
    let existing =
        api.new_lead(&json!({"email": email("lists-test.example"), "custom": {"segment": tag}}));
    let dynamic = ok(
        &api,
        "POST",
        "/v1/lists",
        json!({"name": "segment", "kind": "dynamic", "when": {"field": "custom.segment", "equals": tag}}),
        201,
    );
    let dynamic = dynamic["id"].as_str().unwrap().to_string();
    assert_eq!(get(&api, &format!("/v1/lists/{dynamic}"))["filling"], true);
    // The cron fills it from the leads already there (a page per tick).
    for _ in 0..20 {
        cron(&api, now_ms());
        if get(&api, &format!("/v1/lists/{dynamic}"))["filling"] == false {
            break;
        }
    }
    assert_eq!(members(&api, &dynamic), std::slice::from_ref(&existing));
    // A lead that comes to meet the condition joins; one that stops meeting it leaves.
    let addr = email("lists-test.example");
    let newcomer = api.new_lead(&json!({"email": addr, "custom": {"segment": tag}}));
    cron(&api, now_ms());
    assert!(members(&api, &dynamic).contains(&newcomer));
    merge(&api, json!({"email": addr, "custom": {"segment": "other"}}));
    cron(&api, now_ms());
    assert!(!members(&api, &dynamic).contains(&newcomer));
    let history = get(&api, &format!("/v1/leads/{newcomer}/workflows"))["list_history"].clone();
    let changes: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["list_id"] == dynamic)
        .map(|h| (h["change"].as_str().unwrap(), h["cause"].as_str().unwrap()))
        .collect();
    assert_eq!(changes, [("left", "condition"), ("joined", "condition")]);
    // A dynamic list's members are its condition's: the API refuses to add to it.
    ok(
        &api,
        "POST",
        &format!("/v1/lists/{dynamic}/members"),
        json!({"lead_ids": [existing]}),
        409,
    );

    // Static: add by id and email, remove, page.
    let list = static_list(&api, "imported");
    let leads: Vec<String> = (0..5)
        .map(|_| api.new_lead(&json!({"email": email("lists-test.example")})))
        .collect();
    let unknown = email("nobody-test.example");
    let added = ok(
        &api,
        "POST",
        &format!("/v1/lists/{list}/members"),
        json!({"lead_ids": leads[..4], "emails": [unknown]}),
        200,
    );
    assert_eq!(
        (added["added"].as_i64(), added["unknown"].clone()),
        (Some(4), json!([unknown.to_lowercase()]))
    );
    let again = ok(
        &api,
        "POST",
        &format!("/v1/lists/{list}/members"),
        json!({"lead_ids": [leads[0]]}),
        200,
    );
    assert_eq!(again["already_members"], 1);
    let removed = ok(
        &api,
        "DELETE",
        &format!("/v1/lists/{list}/members"),
        json!({"lead_ids": [leads[1], leads[4]]}),
        200,
    );
    assert_eq!(
        (removed["removed"].as_i64(), removed["not_members"].as_i64()),
        (Some(1), Some(1))
    );
    let page = get(&api, &format!("/v1/lists/{list}/members?limit=2"));
    assert_eq!(page["members"].as_array().unwrap().len(), 2);
    let next = page["next_after"].as_str().unwrap();
    let rest = get(
        &api,
        &format!("/v1/lists/{list}/members?limit=2&after={next}"),
    );
    assert_eq!(rest["members"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_after"], Value::Null);
    let mut all: Vec<String> = page["members"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["members"].as_array().unwrap())
        .map(|m| m["lead_id"].as_str().unwrap().to_string())
        .collect();
    all.sort();
    let mut want = vec![leads[0].clone(), leads[2].clone(), leads[3].clone()];
    want.sort();
    assert_eq!(all, want);
    let history = get(&api, &format!("/v1/leads/{}/workflows", leads[1]))["list_history"].clone();
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["change"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["left", "joined"]);
}

/// Bad documents are refused with the place of each mistake; a step may only name a static
/// list that exists.
#[test]
fn bad_workflows_are_refused_naming_each_mistake() {
    let _turn = serial();
    let api = api();
    let res = api.post("/v1/admin/workflows").bearer(&api.admin_key)
        .json(&json!({"reason": "x", "workflow": {"name": "bad", "trigger": {"event": "form.sent"},
            "steps": [{"id": "a", "action": "wait", "for": "3 days"}, {"id": "a", "action": "stop"}]}})).send();
    let body = res.assert_problem(422, "validation-failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["workflow.steps[0].for", "workflow.trigger.event"],
        "{body}"
    );
    let dynamic = ok(
        &api,
        "POST",
        "/v1/lists",
        json!({"name": "d", "kind": "dynamic", "when": {"field": "country", "in": ["FR"]}}),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let missing = format!("list_{}", "0".repeat(26));
    let res = api.post("/v1/admin/workflows").bearer(&api.admin_key)
        .json(&json!({"reason": "x", "workflow": {"name": "lists", "trigger": {"event": "lead.created"},
            "steps": [{"id": "a", "action": "add_to_list", "list": dynamic}, {"id": "b", "action": "add_to_list", "list": missing}]}})).send();
    let body = res.assert_problem(422, "validation-failed");
    let reasons: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("is a dynamic list") && reasons[1].contains("no list has the id"),
        "{reasons:?}"
    );
}

/// Erasure takes a person's enrolments, steps and list memberships with them; the export of a
/// person shows them first.
#[test]
fn erasure_and_export_cover_enrolments_steps_and_list_memberships() {
    let _turn = serial();
    let api = api();
    let (list, kind, workflow) = list_on_activity(&api, "to be erased from", json!([]));
    let addr = email("erase-test.example").to_lowercase();
    let lead = api.new_lead(&json!({"email": addr}));
    record(&api, &lead, &kind);
    cron(&api, now_ms());
    assert_eq!(enrolments_in(&api, &lead, &workflow).len(), 1);
    let export = get(&api, &format!("/v1/subjects/{addr}/export"));
    let text = export.to_string();
    for table in [
        "workflow_enrolments",
        "workflow_steps",
        "list_members",
        "list_changes",
    ] {
        assert!(text.contains(table), "the export has {table}: {text}");
    }
    let res = api
        .delete(&format!("/v1/subjects/{addr}"))
        .bearer(&api.admin_key)
        .send();
    assert!(res.status == 200 || res.status == 202, "{}", res.text());
    assert!(members(&api, &list).is_empty());
    let res = api
        .get(&format!("/v1/leads/{lead}/workflows"))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 404);
}

/// The chain survives a hop through scoring: a workflow on score changes whose step records an
/// activity the model counts raises the score again, and that score change — caused by the
/// workflow — does not enrol it again (without the chain it would loop for ever).
#[test]
fn a_workflow_never_triggers_itself_through_the_score_it_raises() {
    let _turn = serial();
    let api = api();
    let points = format!("custom:{}", unique("loop").to_lowercase());
    api.publish(
        "/v1/admin/scoring/models",
        "model",
        json!({"name": "loop points",
            "engagement": [{"id": "loop", "activity": points, "points": 5}],
            "stages": [{"name": "mql", "enter_at": 200, "exit_below": 150}]}),
    );
    let batch = unique("loopbatch");
    let workflow = publish(
        &api,
        json!({"name": "points on points", "trigger": {"event": "score.changed"},
        "when": {"field": "custom.batch", "equals": batch},
        "enrolment": {"once": false, "again_after_days": 0},
        "steps": [{"id": "more", "action": "record_activity", "type": points}]}),
    );
    let lead =
        api.new_lead(&json!({"email": email("loop-test.example"), "custom": {"batch": batch}}));
    record_and_settle(&api, &lead, &points);
    let all = enrolments_in(&api, &lead, &workflow);
    assert_eq!(
        all.iter().filter(|e| e["state"] == "done").count(),
        1,
        "{all:?}"
    );
    refused_as_self_triggered(&all);
    assert_eq!(
        get(&api, &format!("/v1/leads/{lead}/score"))["total"],
        10.0,
        "the API's activity and the step's, once each"
    );
}

/// Each kind of trigger starts its workflow: a lead created, a field changed, a stage changed,
/// a consent topic changed, an assignment, an SLA ladder step, and a date the lead holds
/// (three days before it) — each workflow putting the lead on its own list.
#[test]
fn each_trigger_starts_its_workflow() {
    let _turn = serial();
    let api = api();
    let batch = unique("triggers");
    let only_ours = json!({"field": "custom.batch", "equals": batch});
    let all_day = revops_tests::all_day_utc();
    api.publish(
        "/v1/admin/sla/policies",
        "policy",
        json!({"name": "an hour", "business_hours": all_day, "use_rep_hours": false,
        "tiers": [{"name": "standard", "first_touch_minutes": 60}],
        "ladder": [{"id": "warn", "action": "warn", "before_deadline_minutes": 15}]}),
    );
    let triggers = [
        ("created", json!({"event": "lead.created"})),
        (
            "field",
            json!({"event": "field.changed", "field": "custom.tier"}),
        ),
        (
            "stage",
            json!({"event": "stage.changed", "to": "converted"}),
        ),
        (
            "consent",
            json!({"event": "consent.changed", "topic": "marketing_email", "state": "opted_in"}),
        ),
        ("assigned", json!({"event": "assignment.created"})),
        ("sla", json!({"event": "sla.step", "step": "warn"})),
        (
            "renewal",
            json!({"event": "date.reached", "field": "custom.renews_on", "offset": "-3d"}),
        ),
    ];
    let mut lists = std::collections::BTreeMap::new();
    for (name, trigger) in &triggers {
        let list = static_list(&api, &format!("trigger {name}"));
        publish(
            &api,
            json!({"name": format!("on {name}"), "trigger": trigger, "when": only_ours,
            "steps": [{"id": "mark", "action": "add_to_list", "list": list}]}),
        );
        lists.insert(*name, list);
    }
    let on = |name: &str, lead: &str| members(&api, &lists[name]).contains(&lead.to_string());
    let renews = now_ms() + 10 * DAY;
    let addr = email("triggers-test.example");
    let lead = api.new_lead(&json!({"email": addr, "custom": {"batch": batch, "renews_on": revops::time::rfc3339(renews)}}));
    let rep = unique("trig");
    ok(
        &api,
        "PUT",
        &format!("/v1/roster/reps/{rep}"),
        json!({"name": "Trigger Rep"}),
        200,
    );
    merge(&api, json!({"email": addr, "custom": {"tier": "gold"}}));
    ok(
        &api,
        "POST",
        "/v1/consent",
        json!({"email": addr, "action": "opt_in", "topics": ["marketing_email"]}),
        200,
    );
    // A second lead keeps its assignment open for the SLA clock (the first one converts).
    let open =
        api.new_lead(&json!({"email": email("triggers-test.example"), "custom": {"batch": batch}}));
    let assigned_at = now_ms();
    for l in [&lead, &open] {
        ok(
            &api,
            "POST",
            &format!("/v1/leads/{l}/assignment"),
            json!({"rep": rep, "reason": "triggers test"}),
            201,
        );
    }
    convert(&api, &lead);
    cron(&api, assigned_at);
    cron(&api, assigned_at + 1000);
    for name in ["created", "field", "stage", "consent", "assigned"] {
        assert!(
            on(name, &lead),
            "{name} started its workflow: {:?}",
            enrolments(&api, &lead)
        );
    }
    assert!(on("assigned", &open));
    assert!(!on("sla", &open) && !on("renewal", &lead), "not yet");
    // 50 minutes on, the SLA warns (15 minutes before the hour); the next tick hears of it.
    cron(&api, assigned_at + 50 * 60_000);
    cron(&api, assigned_at + 50 * 60_000 + 1000);
    assert!(on("sla", &open), "{:?}", enrolments(&api, &open));
    // Three days before the renewal date.
    cron(&api, renews - 3 * DAY - 60_000);
    cron(&api, renews - 3 * DAY - 59_000);
    assert!(!on("renewal", &lead), "not before its time");
    cron(&api, renews - 3 * DAY + 1000);
    cron(&api, renews - 3 * DAY + 2000);
    assert!(on("renewal", &lead), "{:?}", enrolments(&api, &lead));
}

/// A workflow whose last step is a wait finishes when the wait ends, and leaves the index of due
/// steps (nothing stays due for ever, in front of the steps due after it).
#[test]
fn a_workflow_ending_in_a_wait_finishes_when_the_wait_ends() {
    let _turn = serial();
    let api = api();
    let (_, kind, workflow) = list_on_activity(
        &api,
        "cool-down",
        json!([{"id": "cool", "action": "wait", "for": "1h"}]),
    );
    let lead = api.new_lead(&json!({"email": email("cooldown-test.example")}));
    record(&api, &lead, &kind);
    let at = now_ms();
    cron(&api, at);
    let e = &enrolments_in(&api, &lead, &workflow)[0];
    assert_eq!(e["state"], "waiting");
    assert!(e["next_due_at"].is_string());
    cron(&api, at + 2 * 3_600_000);
    let e = &enrolments_in(&api, &lead, &workflow)[0];
    assert_eq!(e["state"], "done", "{e}");
    assert_eq!(e["reason"], "every step is done");
    assert_eq!(e["next_due_at"], Value::Null);
}
