//! Intake: every lead that arrives is kept, cleaned, de-duplicated and handed on.

use revops::webhooks::{hmac_sha256_base64, standard};
use revops_tests::{api, email, now_ms, unique, Api};
use serde_json::{json, Value};

const ORIGIN: &str = "https://www.acme-test.com";

fn register_form(api: &Api, extra: Value) -> String {
    let mut config = json!({
        "name": unique("Demo request "),
        "allowed_origins": [ORIGIN],
        "success_url": "https://www.acme-test.com/thanks",
        "honeypot_field": "website_url",
        "lead_source": "Website demo form",
        "consent": {"topics": ["marketing_email"], "wording": "Send me product news.", "wording_version": "2026-11"},
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let res = api
        .post("/v1/admin/forms")
        .bearer(&api.admin_key)
        .json(&config)
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()["id"].as_str().unwrap().to_string()
}

fn register_source(api: &Api, vendor: &str, secret: &str, extra: Value) -> String {
    let mut config = json!({ "name": unique("source "), "vendor": vendor, "secrets": [secret] });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let res = api
        .post("/v1/admin/sources")
        .bearer(&api.admin_key)
        .json(&config)
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let body = res.json();
    assert!(
        !body.to_string().contains(secret),
        "secrets are never shown"
    );
    body["id"].as_str().unwrap().to_string()
}

fn get_lead(api: &Api, id: &str) -> Value {
    let res = api
        .get(&format!("/v1/leads/{id}"))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

fn post_lead(api: &Api, body: &Value) -> revops_tests::Resp {
    api.post("/v1/leads")
        .bearer(&api.admin_key)
        .json(body)
        .send()
}

#[test]
fn unauthenticated_lead_post_is_a_401_problem() {
    let api = api();
    post_lead_without_key(&api).assert_problem(401, "unauthorized");
}

fn post_lead_without_key(api: &Api) -> revops_tests::Resp {
    api.post("/v1/leads")
        .json(&json!({"email": email("acme.com")}))
        .send()
}

#[test]
fn api_leads_are_normalised_and_the_same_person_is_one_lead() {
    let api = api();
    let addr = email("Acme-Corp.com");
    let first = post_lead(
        &api,
        &json!({
            "email": format!("  {}  ", addr.to_uppercase()),
            "first_name": "JANE", "last_name": "o'brien",
            "company": "Acme   Corp", "title": "VP Sales",
            "country": "U.S.A.", "region": "california", "employees": "200+",
            "phone": "(415) 555-0100", "lead_source": "Partner referral",
            "utm_source": "linkedin", "utm_campaign": "q4",
            "budget": "50k", "custom": {"plan": "enterprise"}
        }),
    );
    assert_eq!(first.status, 201, "{}", first.text());
    let out = first.json();
    assert_eq!(out["created"], true);
    assert_eq!(out["status"], "processed");
    let id = out["id"].as_str().unwrap().to_string();

    let lead = get_lead(&api, &id);
    assert_eq!(lead["email"], addr.to_lowercase());
    assert_eq!(lead["first_name"], "Jane");
    assert_eq!(lead["last_name"], "O'Brien");
    assert_eq!(lead["company"], "Acme Corp");
    assert_eq!(lead["company_domain"], "acme-corp.com");
    assert_eq!(lead["country"], "US");
    assert_eq!(lead["region"], "CA");
    assert_eq!(lead["employees"], "201-500");
    assert_eq!(lead["phone"], "(415) 555-0100");
    assert_eq!(lead["phone_e164"], "+14155550100");
    assert_eq!(
        lead["custom"]["budget"], "50k",
        "unknown fields are kept as custom attributes"
    );
    assert_eq!(lead["custom"]["plan"], "enterprise");
    assert_eq!(lead["first_touch"]["utm_source"], "linkedin");

    // Same person, different casing: merged; newer non-empty values win, empty ones never erase.
    let second = post_lead(
        &api,
        &json!({"email": addr.to_lowercase(), "title": "CRO", "company": "", "utm_source": "google"}),
    );
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["id"], id.as_str());
    assert_eq!(second.json()["created"], false);
    let lead = get_lead(&api, &id);
    assert_eq!(lead["title"], "CRO");
    assert_eq!(lead["company"], "Acme Corp");
    assert_eq!(lead["first_touch"]["utm_source"], "linkedin");
    assert_eq!(lead["latest_touch"]["utm_source"], "google");
    assert_eq!(
        lead["history"].as_array().unwrap().len(),
        2,
        "every submission stays in the history"
    );
}

#[test]
fn data_quality_flags_are_recorded_not_silent_blanks() {
    let api = api();
    let res = post_lead(
        &api,
        &json!({"email": email("gmail.com"), "country": "Atlantis"}),
    );
    assert_eq!(res.status, 201);
    let lead = get_lead(&api, res.json()["id"].as_str().unwrap());
    let codes: Vec<&str> = lead["data_quality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    for code in [
        "missing_name",
        "missing_lead_source",
        "free_mail_domain",
        "unknown_country",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    assert_eq!(
        lead["company_domain"],
        Value::Null,
        "free-mail domains are not company domains"
    );
    assert_eq!(lead["custom"]["country_as_given"], "Atlantis");

    // A shared role inbox, and a lead source only known from the UTM tags, are shown too.
    let res = post_lead(
        &api,
        &json!({"email": format!("info@{}.example", revops_tests::unique("role")), "utm_source": "linkedin"}),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let lead = get_lead(&api, res.json()["id"].as_str().unwrap());
    let codes: Vec<&str> = lead["data_quality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"role_account"), "{codes:?}");
    assert!(codes.contains(&"lead_source_from_utm"), "{codes:?}");
    assert_eq!(lead["lead_source"], "linkedin");
}

#[test]
fn invalid_leads_get_field_level_problems() {
    let api = api();
    let res = post_lead(&api, &json!({"first_name": "No Email"}));
    let body = res.assert_problem(422, "validation-failed");
    assert_eq!(
        body["errors"][0],
        json!({"field": "email", "reason": "is missing"})
    );
    let res = post_lead(&api, &json!({"email": "not-an-address"}));
    assert_eq!(
        res.assert_problem(422, "validation-failed")["errors"][0]["reason"],
        "has no @"
    );
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("content-type", "application/json")
        .body(b"{\"email\": ".to_vec())
        .send();
    res.assert_problem(400, "malformed-json");
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("content-type", "text/csv")
        .body(b"email\na@b.co".to_vec())
        .send();
    res.assert_problem(415, "unsupported-media-type");
    let huge = json!({"email": email("acme.com"), "notes": "x".repeat(70 * 1024)});
    post_lead(&api, &huge).assert_problem(413, "payload-too-large");
    let res = post_lead(&api, &json!([1, 2]));
    res.assert_problem(422, "validation-failed");
}

#[test]
fn idempotency_keys_replay_the_original_response() {
    let api = api();
    let key = unique("idem-");
    let body = json!({"email": email("acme.com"), "first_name": "Ida"});
    let first = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("idempotency-key", &key)
        .json(&body)
        .send();
    assert_eq!(first.status, 201);
    let retry = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("idempotency-key", &key)
        .json(&body)
        .send();
    assert_eq!(retry.status, 201, "the retry gets the original status");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json(), first.json(), "and the original body");
    let lead = get_lead(&api, first.json()["id"].as_str().unwrap());
    assert_eq!(
        lead["history"].as_array().unwrap().len(),
        1,
        "the retry stored nothing"
    );
    let other = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("idempotency-key", &key)
        .json(&json!({"email": email("acme.com")}))
        .send();
    other.assert_problem(422, "idempotency-key-reused");
}

#[test]
fn concurrent_first_submissions_make_exactly_one_lead() {
    let api = api();
    let addr = email("race-test.io");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let api = api.clone();
            let addr = addr.clone();
            std::thread::spawn(move || {
                let res = post_lead(&api, &json!({"email": addr, "custom": {"thread": i}}));
                assert!(matches!(res.status, 200 | 201), "{}", res.text());
                res.json()
            })
        })
        .collect();
    let outcomes: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ids: std::collections::BTreeSet<&str> =
        outcomes.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one lead for one email: {outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| o["created"] == true).count(),
        1,
        "exactly one creation"
    );
    let lead = get_lead(&api, ids.iter().next().unwrap());
    assert_eq!(
        lead["history"].as_array().unwrap().len(),
        8,
        "all eight submissions merged"
    );
}

#[test]
fn a_failed_step_is_retried_by_cron_to_completion() {
    let api = api();
    let addr = email("retry-test.io");
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("x-revops-inject-fault", "merge")
        .json(&json!({"email": addr, "first_name": "Retry"}))
        .send();
    assert_eq!(res.status, 202, "stored but not merged: {}", res.text());
    let out = res.json();
    assert_eq!(out["status"], "pending");
    assert_eq!(out["id"], Value::Null);
    let submission = out["submission_id"].as_str().unwrap().to_string();

    let jobs = api
        .get("/v1/admin/jobs?state=pending")
        .bearer(&api.admin_key)
        .send()
        .json();
    let job = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["subject"] == submission.as_str())
        .expect("the failure is visible")
        .clone();
    assert_eq!(job["attempts"], 1);
    assert!(job["last_error"]
        .as_str()
        .unwrap()
        .contains("injected fault"));

    // Nothing is due yet; a tick two minutes later retries it.
    api.fire_cron_at(Some(now_ms() + 3 * 60_000));
    let jobs = api
        .get("/v1/admin/jobs")
        .bearer(&api.admin_key)
        .send()
        .json();
    assert!(
        !jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["subject"] == submission.as_str()),
        "the job completed"
    );
    let created = post_lead(&api, &json!({"email": addr}));
    assert_eq!(
        created.status,
        200,
        "the lead now exists: {}",
        created.text()
    );
    let lead = get_lead(&api, created.json()["id"].as_str().unwrap());
    assert_eq!(lead["first_name"], "Retry");
    let statuses: Vec<&str> = lead["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["processed", "processed"]);
}

#[test]
fn activities_are_recorded_once_per_external_id() {
    let api = api();
    let addr = email("acme.com");
    let res = api
        .post("/v1/activities")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "type": "webinar_attended", "external_id": "wb-1", "properties": {"webinar": "Q4 launch"}}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let lead_id = res.json()["lead_id"].as_str().unwrap().to_string();
    assert_eq!(
        get_lead(&api, &lead_id)["email"],
        addr,
        "an unknown email becomes a lead"
    );
    let again = api
        .post("/v1/activities")
        .bearer(&api.admin_key)
        .json(&json!({"lead_id": lead_id, "type": "webinar_attended", "external_id": "wb-1"}))
        .send();
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(again.json()["id"], res.json()["id"]);
    let bad = api
        .post("/v1/activities")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "type": "teleported"}))
        .send();
    assert_eq!(
        bad.assert_problem(422, "validation-failed")["errors"][0]["field"],
        "type"
    );
    let missing = api
        .post("/v1/activities")
        .bearer(&api.admin_key)
        .json(&json!({"lead_id": "lead_00000000000000000000000000", "type": "page_view"}))
        .send();
    missing.assert_problem(404, "not-found");
}

#[test]
fn browser_form_posts_redirect_and_fetch_callers_get_json() {
    let api = api();
    let form = register_form(&api, json!({}));
    let addr = email("acme-test.com");
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .form(&[
            ("Email Address", &addr),
            ("First Name", "ada"),
            ("Company Size", "51-200"),
            ("consent", "on"),
            ("website_url", ""),
        ])
        .send();
    assert_eq!(res.status, 303, "{}", res.text());
    assert_eq!(
        res.header("location"),
        Some("https://www.acme-test.com/thanks")
    );

    // multipart/form-data, as <form enctype="multipart/form-data"> sends it, merges into the same lead.
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .multipart(&[("email", &addr), ("Job Title", "Head of Ops")])
        .send();
    assert_eq!(res.status, 303);

    // fetch() with Accept: application/json gets JSON and CORS for the registered origin.
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .form(&[("email", &addr), ("Country", "Deutschland")])
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    let lead = get_lead(&api, res.json()["id"].as_str().unwrap());
    assert_eq!(lead["first_name"], "Ada");
    assert_eq!(lead["title"], "Head of Ops");
    assert_eq!(lead["country"], "DE");
    assert_eq!(lead["employees"], "51-200");
    assert_eq!(lead["lead_source"], "Website demo form");
    assert_eq!(lead["history"].as_array().unwrap().len(), 3);

    let pre = api
        .request("OPTIONS", &format!("/f/{form}"))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .send();
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(pre.header("access-control-allow-methods"), Some("POST"));
    let evil = api
        .request("OPTIONS", &format!("/f/{form}"))
        .header("origin", "https://evil.example")
        .send();
    evil.assert_problem(403, "origin-not-allowed");
    assert_eq!(evil.header("access-control-allow-origin"), None);
}

#[test]
fn form_refusals_are_explained_and_counted() {
    let api = api();
    let form = register_form(
        &api,
        json!({"error_url": "https://www.acme-test.com/oops", "rate_limit": {"max": 3, "window_seconds": 600}}),
    );
    let post = |fields: &[(&str, &str)], origin: Option<&str>| {
        let mut r = api.post(&format!("/f/{form}"));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.form(fields).send()
    };
    // A disallowed origin: browsers go to the error page with the reason.
    let res = post(&[("email", &email("x.com"))], Some("https://evil.example"));
    assert_eq!(res.status, 303);
    let location = res.header("location").unwrap();
    assert!(
        location.starts_with("https://www.acme-test.com/oops?error=origin_not_allowed&message="),
        "{location}"
    );
    // No origin at all (not a browser).
    let res = post(&[("email", &email("x.com"))], None);
    assert!(res
        .header("location")
        .unwrap()
        .contains("error=missing_origin"));
    // The honeypot: refused with an explanation a person can act on, not silently dropped.
    let res = post(
        &[
            ("email", &email("x.com")),
            ("website_url", "http://spam.example"),
        ],
        Some(ORIGIN),
    );
    assert!(res.header("location").unwrap().contains("error=honeypot"));
    // Invalid email: the field is named.
    let res = post(&[("email", "nope")], Some(ORIGIN));
    let location = res.header("location").unwrap().to_string();
    assert!(
        location.contains("error=invalid") && location.contains("fields=email"),
        "{location}"
    );
    // Three posts pass the limiter (the invalid one took a slot), the next is refused.
    assert_eq!(
        post(&[("email", &email("x.com"))], Some(ORIGIN)).status,
        303
    );
    assert_eq!(
        post(&[("email", &email("x.com"))], Some(ORIGIN)).header("location"),
        Some("https://www.acme-test.com/thanks")
    );
    let limited = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .form(&[("email", &email("x.com"))])
        .send();
    limited.assert_problem(429, "rate-limited");
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u32>()
            .unwrap()
            > 0
    );

    let stats = api
        .get(&format!("/v1/admin/forms/{form}/stats"))
        .bearer(&api.admin_key)
        .send()
        .json();
    let totals = &stats["totals"];
    assert_eq!(totals["accepted"], 2);
    for (reason, n) in [
        ("origin_not_allowed", 1),
        ("missing_origin", 1),
        ("honeypot", 1),
        ("invalid", 1),
        ("rate_limited", 1),
    ] {
        assert_eq!(totals["refused"][reason], n, "{reason}: {stats}");
    }
}

#[test]
fn forms_without_redirect_urls_answer_with_readable_pages() {
    let api = api();
    let form = register_form(&api, json!({"success_url": null}));
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .form(&[("email", "broken@")])
        .send();
    assert_eq!(res.status, 422);
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
    let page = res.text();
    assert!(
        page.contains("We could not accept your submission")
            && page.contains("has nothing after the @"),
        "{page}"
    );
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .form(&[("email", &email("ok.com"))])
        .send();
    assert_eq!(res.status, 200);
    assert!(res.text().contains("Thank you"));
    let unknown = api
        .post("/f/form_00000000000000000000000000")
        .header("origin", ORIGIN)
        .form(&[("email", "a@b.co")])
        .send();
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("This form does not exist"));
    let unknown_json = api
        .post("/f/form_00000000000000000000000000")
        .header("accept", "application/json")
        .form(&[("email", "a@b.co")])
        .send();
    unknown_json.assert_problem(404, "not-found");
    let wrong_type = api
        .post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .header("content-type", "text/plain")
        .body(b"email=a@b.co".to_vec())
        .send();
    wrong_type.assert_problem(415, "unsupported-media-type");
}

fn post_hook(
    api: &Api,
    source: &str,
    headers: &[(&str, String)],
    body: &str,
) -> revops_tests::Resp {
    let mut r = api
        .post(&format!("/hooks/{source}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.body(body.as_bytes().to_vec()).send()
}

#[test]
fn standard_webhooks_are_verified_and_replays_refused() {
    let api = api();
    let secret = standard::new_secret([9; 32]);
    let source = register_source(
        &api,
        "standard_webhooks",
        &secret,
        json!({"field_map": {"mail": "email"}, "lead_source": "Partner API"}),
    );
    let key = standard::secret_key(&secret).unwrap();
    let addr = email("partner-co.com");
    let body =
        json!({"type": "contact.created", "data": {"mail": addr, "firstName": "Sam", "id": "p-1"}})
            .to_string();
    let ts = now_ms() / 1000;
    let msg_id = unique("msg_");
    let sig = standard::sign(&key, &msg_id, ts, body.as_bytes());
    let headers = [
        ("webhook-id", msg_id.clone()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sig.clone()),
    ];
    let res = post_hook(&api, &source, &headers, &body);
    assert_eq!(res.status, 200, "{}", res.text());
    let lead_id = res.json()["accepted"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lead = get_lead(&api, &lead_id);
    assert_eq!(lead["email"], addr);
    assert_eq!(lead["first_name"], "Sam");
    assert_eq!(lead["lead_source"], "Partner API");
    assert_eq!(lead["custom"]["standard_webhooks_id"], "p-1");

    // The sender did not hear us and delivers again — the same id and bytes, re-signed with a
    // fresh timestamp as Standard Webhooks senders do: acknowledged with the original outcome,
    // nothing stored twice.
    let first = res.json();
    let again = [
        ("webhook-id", msg_id.clone()),
        ("webhook-timestamp", (ts + 1).to_string()),
        (
            "webhook-signature",
            standard::sign(&key, &msg_id, ts + 1, body.as_bytes()),
        ),
    ];
    let res = post_hook(&api, &source, &again, &body);
    assert_eq!(res.status, 200, "{}", res.text());
    let dup = res.json();
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["accepted"], first["accepted"]);
    assert_eq!(
        get_lead(&api, &lead_id)["history"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The same id with other bytes is refused.
    let other = body.replace("Sam", "Samuel");
    let other_headers = [
        ("webhook-id", msg_id.clone()),
        ("webhook-timestamp", ts.to_string()),
        (
            "webhook-signature",
            standard::sign(&key, &msg_id, ts, other.as_bytes()),
        ),
    ];
    post_hook(&api, &source, &other_headers, &other).assert_problem(409, "replayed-message");
    let tampered = body.replace("Sam", "Eve");
    post_hook(&api, &source, &headers, &tampered).assert_problem(401, "invalid-signature");
    let old_ts = ts - 3600;
    let stale_id = unique("msg_");
    let stale = [
        ("webhook-id", stale_id.clone()),
        ("webhook-timestamp", old_ts.to_string()),
        (
            "webhook-signature",
            standard::sign(&key, &stale_id, old_ts, body.as_bytes()),
        ),
    ];
    post_hook(&api, &source, &stale, &body).assert_problem(401, "stale-timestamp");
    post_hook(&api, &source, &[], &body).assert_problem(401, "invalid-signature");
    post_hook(&api, "src_00000000000000000000000000", &headers, &body)
        .assert_problem(404, "not-found");
}

#[test]
fn key_rotation_accepts_either_secret() {
    let api = api();
    let old = standard::new_secret([1; 32]);
    let new = standard::new_secret([2; 32]);
    let source = register_source(&api, "standard_webhooks", &old, json!({}));
    let res = api
        .put(&format!("/v1/admin/sources/{source}"))
        .bearer(&api.admin_key)
        .json(&json!({"name": "rotating", "vendor": "standard_webhooks", "secrets": [new, old]}))
        .send();
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json()["secret_fingerprints"].as_array().unwrap().len(),
        2
    );
    for secret in [&old, &new] {
        let body = json!({"data": {"email": email("rot.io")}}).to_string();
        let ts = now_ms() / 1000;
        let id = unique("msg_");
        let sig = standard::sign(
            &standard::secret_key(secret).unwrap(),
            &id,
            ts,
            body.as_bytes(),
        );
        let res = post_hook(
            &api,
            &source,
            &[
                ("webhook-id", id),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ],
            &body,
        );
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

#[test]
fn typeform_hubspot_and_webflow_webhooks() {
    let api = api();
    // Typeform: sha256=base64(HMAC(body)); answers named by their ref.
    let tf = register_source(
        &api,
        "typeform",
        "tf-secret",
        json!({"field_map": {"work_email": "email"}}),
    );
    let addr = email("typeform-co.com");
    let body = json!({
        "event_id": unique("evt"), "event_type": "form_response",
        "form_response": {"token": "tok", "answers": [
            {"type": "email", "email": addr, "field": {"id": "a", "ref": "work_email"}},
            {"type": "text", "text": "Grace", "field": {"id": "b", "ref": "first_name"}}
        ], "hidden": {"utm_source": "newsletter"}}
    })
    .to_string();
    let sig = format!(
        "sha256={}",
        hmac_sha256_base64(b"tf-secret", &[body.as_bytes()])
    );
    let res = post_hook(&api, &tf, &[("typeform-signature", sig.clone())], &body);
    assert_eq!(res.status, 200, "{}", res.text());
    let lead = get_lead(&api, res.json()["accepted"][0]["id"].as_str().unwrap());
    assert_eq!(
        (
            lead["email"].as_str().unwrap(),
            lead["first_name"].as_str().unwrap()
        ),
        (addr.as_str(), "Grace")
    );
    assert_eq!(lead["latest_touch"]["utm_source"], "newsletter");
    // Typeform signs no timestamp: a redelivery of the same event is known by its event_id —
    // acknowledged when the bytes are the same, refused when they differ.
    let dup = post_hook(&api, &tf, &[("typeform-signature", sig)], &body);
    assert_eq!(dup.status, 200, "{}", dup.text());
    assert_eq!(dup.json()["duplicate"], true);
    let altered = body.replace("Grace", "Gracie");
    let altered_sig = format!(
        "sha256={}",
        hmac_sha256_base64(b"tf-secret", &[altered.as_bytes()])
    );
    post_hook(&api, &tf, &[("typeform-signature", altered_sig)], &altered)
        .assert_problem(409, "replayed-message");

    // HubSpot v3: base64(HMAC(method + url + body + timestamp)), timestamp in ms.
    let hs = register_source(&api, "hubspot", "hs-client-secret", json!({}));
    let addr = email("hubspot-co.com");
    let body = json!({"objectId": 42, "properties": {"email": {"value": addr}, "firstname": {"value": "Lin"}}}).to_string();
    let ts = now_ms().to_string();
    let url = format!("{}/hooks/{hs}", api.base);
    let sig = hmac_sha256_base64(
        b"hs-client-secret",
        &[b"POST", url.as_bytes(), body.as_bytes(), ts.as_bytes()],
    );
    let res = post_hook(
        &api,
        &hs,
        &[
            ("x-hubspot-signature-v3", sig.clone()),
            ("x-hubspot-request-timestamp", ts.clone()),
        ],
        &body,
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        get_lead(&api, res.json()["accepted"][0]["id"].as_str().unwrap())["first_name"],
        "Lin"
    );
    let wrong = hmac_sha256_base64(
        b"another-secret",
        &[b"POST", url.as_bytes(), body.as_bytes(), ts.as_bytes()],
    );
    post_hook(
        &api,
        &hs,
        &[
            ("x-hubspot-signature-v3", wrong),
            ("x-hubspot-request-timestamp", ts),
        ],
        &body,
    )
    .assert_problem(401, "invalid-signature");

    // Webflow: hex(HMAC(timestamp + ":" + body)).
    let wf = register_source(&api, "webflow", "wf-secret", json!({}));
    let addr = email("webflow-co.com");
    let body = json!({"triggerType": "form_submission", "payload": {"name": "Contact", "id": unique("wfsub"), "data": {"Email": addr, "Name": "Kim Lee", "Phone Number": 4155550100u64}}}).to_string();
    let ts = now_ms().to_string();
    let mac =
        revops::webhooks::hmac_sha256_base64(b"wf-secret", &[ts.as_bytes(), b":", body.as_bytes()]);
    let hex = revops::auth::hex(&base64_decode(&mac));
    let res = post_hook(
        &api,
        &wf,
        &[("x-webflow-signature", hex), ("x-webflow-timestamp", ts)],
        &body,
    );
    assert_eq!(res.status, 200, "{}", res.text());
    let lead = get_lead(&api, res.json()["accepted"][0]["id"].as_str().unwrap());
    assert_eq!(
        (lead["first_name"].as_str(), lead["last_name"].as_str()),
        (Some("Kim"), Some("Lee"))
    );
    assert_eq!(lead["custom"]["webflow_form"], "Contact");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn webhook_payloads_without_a_person_are_refused() {
    let api = api();
    let source = register_source(&api, "typeform", "s3cr3t", json!({}));
    let body = json!({"event_id": unique("e"), "form_response": {"answers": []}}).to_string();
    let sig = format!(
        "sha256={}",
        hmac_sha256_base64(b"s3cr3t", &[body.as_bytes()])
    );
    post_hook(&api, &source, &[("typeform-signature", sig)], &body)
        .assert_problem(422, "validation-failed");
    let not_json = "<xml/>";
    let sig = format!(
        "sha256={}",
        hmac_sha256_base64(b"s3cr3t", &[not_json.as_bytes()])
    );
    post_hook(&api, &source, &[("typeform-signature", sig)], not_json)
        .assert_problem(422, "validation-failed");
}

#[test]
fn form_and_source_configuration_is_validated() {
    let api = api();
    let res = api
        .post("/v1/admin/forms")
        .bearer(&api.admin_key)
        .json(&json!({"name": "", "allowed_origins": ["acme.com"], "field_map": {"x": "not_a_field"}}))
        .send();
    let body = res.assert_problem(422, "validation-failed");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "allowed_origins[0]", "field_map"]);
    let res = api
        .post("/v1/admin/sources")
        .bearer(&api.admin_key)
        .json(&json!({"name": "x", "vendor": "mailchimp", "secrets": ["s"]}))
        .send();
    res.assert_problem(422, "validation-failed");
    let res = api
        .post("/v1/admin/sources")
        .bearer(&api.admin_key)
        .json(&json!({"name": "x", "vendor": "standard_webhooks", "secrets": ["not base64!"]}))
        .send();
    res.assert_problem(422, "validation-failed");
    let listed = api.get("/v1/admin/forms").bearer(&api.admin_key).send();
    assert_eq!(listed.status, 200);
    let reader = api.key_with(&["leads:read"]);
    api.get("/v1/admin/forms")
        .bearer(&reader)
        .send()
        .assert_problem(403, "forbidden");
}

fn json_post(api: &Api, form: &str, content_type: &str, body: &[u8]) -> revops_tests::Resp {
    api.post(&format!("/f/{form}"))
        .header("origin", ORIGIN)
        .header("accept", "application/json")
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
}

#[test]
fn browser_posts_arrive_as_sent_whatever_their_charset_and_field_names() {
    let api = api();
    let form = register_form(
        &api,
        json!({"default_country": "gb", "rate_limit": {"max": 100, "window_seconds": 60}}),
    );
    let urlencoded = "application/x-www-form-urlencoded";
    // A windows-1252 page says so with _charset_: "Zoë" and "€5" decode as the page meant.
    let addr = email("acme-test.com");
    let body = format!(
        "_charset_=windows-1252&email={}&First+Name=Zo%EB&budget=%805",
        revops_tests::urlencode(&addr)
    );
    let res = json_post(&api, &form, urlencoded, body.as_bytes());
    assert_eq!(res.status, 201, "{}", res.text());
    let lead = get_lead(&api, res.json()["id"].as_str().unwrap());
    assert_eq!(lead["first_name"], "Zoë");
    assert_eq!(lead["custom"]["budget"], "€5");
    // ISO-8859-1 declared in the Content-Type.
    let addr2 = email("acme-test.com");
    let body = format!(
        "email={}&Last+Name=M%FCller",
        revops_tests::urlencode(&addr2)
    );
    let res = json_post(
        &api,
        &form,
        "application/x-www-form-urlencoded; charset=ISO-8859-1",
        body.as_bytes(),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(
        get_lead(&api, res.json()["id"].as_str().unwrap())["last_name"],
        "Müller"
    );
    // Bytes that are not UTF-8 where UTF-8 is meant: kept, and flagged on the submission.
    let addr3 = email("acme-test.com");
    let body = format!("email={}&Notes=caf%E9", revops_tests::urlencode(&addr3));
    let res = json_post(&api, &form, urlencoded, body.as_bytes());
    assert_eq!(res.status, 201, "{}", res.text());
    let lead = get_lead(&api, res.json()["id"].as_str().unwrap());
    let flags = lead["history"][0]["flags"].as_array().unwrap();
    let flag = flags
        .iter()
        .find(|f| f["code"] == "undecodable_text")
        .unwrap_or_else(|| panic!("{lead}"));
    assert!(flag["detail"].as_str().unwrap().contains("Notes"), "{flag}");
    // An encoding nobody knows gets a readable refusal.
    let res = json_post(
        &api,
        &form,
        urlencoded,
        format!(
            "_charset_=klingon&email={}",
            revops_tests::urlencode(&addr3)
        )
        .as_bytes(),
    );
    res.assert_problem(400, "bad-request");

    // Unknown names are kept as sent: none of these merge, and name[] stays apart from name.
    let addr4 = email("acme-test.com");
    let body = format!(
        "email={}&a%22b=1&a'b=2&a%5Cb=3&a%0D%0Ab=4&tags%5B%5D=x&tags=y&odd=%+5",
        revops_tests::urlencode(&addr4)
    );
    let res = json_post(&api, &form, urlencoded, body.as_bytes());
    assert_eq!(res.status, 201, "{}", res.text());
    let custom = get_lead(&api, res.json()["id"].as_str().unwrap())["custom"].clone();
    for (k, v) in [
        ("a\"b", "1"),
        ("a'b", "2"),
        ("a\\b", "3"),
        ("a\r\nb", "4"),
        ("tags[]", "x"),
        ("tags", "y"),
        ("odd", "% 5"),
    ] {
        assert_eq!(custom[k], v, "{k} in {custom}");
    }

    // A phone number without + becomes E.164 through the form's default country.
    let addr5 = email("acme-test.com");
    let res = json_post(
        &api,
        &form,
        urlencoded,
        format!(
            "email={}&phone=020+7946+0958",
            revops_tests::urlencode(&addr5)
        )
        .as_bytes(),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let lead = get_lead(&api, res.json()["id"].as_str().unwrap());
    assert_eq!(
        (lead["phone"].clone(), lead["phone_e164"].clone()),
        (json!("020 7946 0958"), json!("+442079460958"))
    );

    // Multipart with a quoted name holding a semicolon, and bare-LF line ends.
    let addr6 = email("acme-test.com");
    let body = format!("--b\nContent-Disposition: form-data; name=\"email\"\n\n{addr6}\n--b\nContent-Disposition: form-data; name=\"a;b\"\n\nsemi\n--b--\n");
    let res = json_post(
        &api,
        &form,
        "multipart/form-data; boundary=b",
        body.as_bytes(),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(
        get_lead(&api, res.json()["id"].as_str().unwrap())["custom"]["a;b"],
        "semi"
    );

    // Origin: null (a sandboxed iframe, a data: page) is never an allowed origin.
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", "null")
        .header("referer", &format!("{ORIGIN}/contact"))
        .header("accept", "application/json")
        .form(&[("email", &email("acme-test.com"))])
        .send();
    res.assert_problem(403, "origin-not-allowed");
}

/// A documented vendor payload from `shared/fixtures` (its first line names the source).
fn fixture(path: &str) -> String {
    let text = std::fs::read_to_string(format!(
        "{}/../shared/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    text.split_once('\n').unwrap().1.to_string()
}

fn hmac_b64(secret: &str, parts: &[&[u8]]) -> String {
    hmac_sha256_base64(secret.as_bytes(), parts)
}

#[test]
fn vendors_documented_payloads_are_received_as_they_meant() {
    let api = api();
    // Typeform's example payload: answers carry only field ids; the definition names them.
    let secret = unique("tf-secret");
    let source = register_source(
        &api,
        "typeform",
        &secret,
        json!({"field_map": {"readable_ref_short_text": "first_name", "Which of these cities is your favorite?": "city"}}),
    );
    let body = fixture("typeform/example-payload.json.txt");
    let sig = format!("sha256={}", hmac_b64(&secret, &[body.as_bytes()]));
    let res = post_hook(&api, &source, &[("typeform-signature", sig)], &body);
    assert_eq!(res.status, 200, "{}", res.text());
    let lead = get_lead(&api, res.json()["accepted"][0]["id"].as_str().unwrap());
    assert_eq!(lead["email"], "laura@example.com");
    assert_eq!(lead["first_name"], "Laura");
    assert_eq!(lead["city"], "London");
    assert_eq!(lead["custom"]["readable_ref_date"], "2005-10-15");
    assert_eq!(lead["custom"]["user_id"], "abc123456");

    // Tally's example event: option ids resolve to their text, checkboxes count once, hidden
    // fields carry the UTMs.
    let secret = unique("tally-secret");
    let source = register_source(&api, "tally", &secret, json!({}));
    let body = fixture("tally/example-event.json.txt");
    let sig = hmac_b64(&secret, &[body.as_bytes()]);
    let res = post_hook(&api, &source, &[("tally-signature", sig.clone())], &body);
    assert_eq!(res.status, 200, "{}", res.text());
    let lead = get_lead(&api, res.json()["accepted"][0]["id"].as_str().unwrap());
    assert_eq!(lead["email"], "alice@example.com");
    assert_eq!(lead["custom"]["Checkboxes"], json!(["Swimming", "Skiing"]));
    assert_eq!(lead["latest_touch"]["utm_campaign"], "newsletter");
    post_hook(
        &api,
        &source,
        &[("tally-signature", hmac_b64("wrong", &[body.as_bytes()]))],
        &body,
    )
    .assert_problem(401, "invalid-signature");

    // Svix's header names, Standard Webhooks' scheme.
    let secret = standard::new_secret([7; 32]);
    let source = register_source(&api, "standard_webhooks", &secret, json!({}));
    let key = standard::secret_key(&secret).unwrap();
    let addr = email("svix-sender.io");
    let body = json!({"type": "user.created", "data": {"email": addr}}).to_string();
    let ts = now_ms() / 1000;
    let id = unique("msg_");
    let headers = [
        ("svix-id", id.clone()),
        ("svix-timestamp", ts.to_string()),
        (
            "svix-signature",
            standard::sign(&key, &id, ts, body.as_bytes()),
        ),
    ];
    let res = post_hook(&api, &source, &headers, &body);
    assert_eq!(res.status, 200, "{}", res.text());

    // Any other sender: an HMAC scheme described by the source.
    let secret = unique("app-secret");
    let source = register_source(
        &api,
        "signed_json",
        &secret,
        json!({"signature": {
        "header": "X-App-Signature", "encoding": "base64", "signs": "timestamp_and_body",
        "timestamp_header": "X-App-Timestamp", "separator": ":", "id_header": "X-App-Delivery"}}),
    );
    let addr = email("homegrown.io");
    let body = json!({"data": {"email": addr, "plan": "pro"}}).to_string();
    let ts = (now_ms() / 1000).to_string();
    let sig = hmac_b64(&secret, &[ts.as_bytes(), b":", body.as_bytes()]);
    let headers = [
        ("x-app-signature", sig),
        ("x-app-timestamp", ts.clone()),
        ("x-app-delivery", unique("d")),
    ];
    let res = post_hook(&api, &source, &headers, &body);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        get_lead(&api, res.json()["accepted"][0]["id"].as_str().unwrap())["custom"]["plan"],
        "pro"
    );
    let old = (now_ms() / 1000 - 3600).to_string();
    let stale = [
        (
            "x-app-signature",
            hmac_b64(&secret, &[old.as_bytes(), b":", body.as_bytes()]),
        ),
        ("x-app-timestamp", old),
        ("x-app-delivery", unique("d")),
    ];
    post_hook(&api, &source, &stale, &body).assert_problem(401, "stale-timestamp");
    // Its scheme is validated.
    let res = api
        .post("/v1/admin/sources")
        .bearer(&api.admin_key)
        .json(&json!({"name": "bad", "vendor": "signed_json", "secrets": ["x"], "signature": {"header": "X-Sig", "encoding": "hex", "signs": "timestamp_and_body"}}))
        .send();
    let p = res.assert_problem(422, "validation-failed");
    assert_eq!(p["errors"][0]["field"], "signature.timestamp_header", "{p}");
}

/// `GET /v1/leads` finds leads by any part of a long address or company (D1 refuses LIKE
/// patterns over 50 bytes, so this must not be one), treats `%` and `_` as themselves, combines
/// filters, and pages newest first without repeating a lead.
#[test]
fn leads_are_found_by_long_addresses_and_paged_newest_first() {
    let api = api();
    let company = unique("Search%Co_");
    let domain = format!("{}.example", unique("a-rather-long-company-domain-name"));
    let mut ids = Vec::new();
    for i in 0..3 {
        let res = post_lead(
            &api,
            &json!({"email": format!("person-{i}-{}@{domain}", unique("x")), "company": company, "lead_source": "search-test"}),
        );
        assert_eq!(res.status, 201, "{}", res.text());
        ids.push(res.json()["id"].as_str().unwrap().to_string());
        // Distinct creation times, so "newest first" has one answer.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let first = get_lead(&api, &ids[0]);
    let full = first["email"].as_str().unwrap();
    assert!(full.len() > 60, "{full}");
    let find = |query: &str| {
        let res = api
            .get(&format!("/v1/leads?{query}"))
            .bearer(&api.admin_key)
            .send();
        assert_eq!(res.status, 200, "{query}: {}", res.text());
        res.json()
    };
    let enc = |s: &str| revops::console::leads::encode(s);
    let by_email = find(&format!("email={}", enc(&full.to_uppercase())));
    assert_eq!(by_email["leads"].as_array().unwrap().len(), 1, "{by_email}");
    assert_eq!(by_email["leads"][0]["id"], ids[0].as_str());
    // `%` and `_` are literal: the company's own name finds its three leads, a wildcard nothing.
    let by_company = find(&format!(
        "company={}&source=search-test",
        enc(&company.to_lowercase())
    ));
    assert_eq!(
        by_company["leads"].as_array().unwrap().len(),
        3,
        "{by_company}"
    );
    assert_eq!(
        find("company=%25%25%25%25zz")["leads"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Two at a time, newest first, then the last one; no lead twice.
    let page1 = find(&format!("company={}&limit=2", enc(&company)));
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("more to come")
        .to_string();
    let page2 = find(&format!(
        "company={}&limit=2&cursor={}",
        enc(&company),
        enc(&cursor)
    ));
    assert!(page2["next_cursor"].is_null());
    let seen: Vec<&str> = page1["leads"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["leads"].as_array().unwrap())
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(seen, newest_first);
    let bad = api.get("/v1/leads?limit=0").bearer(&api.admin_key).send();
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["errors"][0]["field"], "limit");
}

/// Intake counts what each webhook source delivered — accepted, and refused because the
/// signature did not verify or was stale — with when it last received anything, so an operator
/// sees a sender that cannot sign (`GET /v1/admin/intake/stats`, and the console's Health page).
#[test]
fn each_source_counts_accepted_and_badly_signed_deliveries() {
    let api = api();
    let secret = standard::new_secret([7; 32]);
    let source = register_source(
        &api,
        "standard_webhooks",
        &secret,
        json!({"field_map": {"mail": "email"}}),
    );
    let key = standard::secret_key(&secret).unwrap();
    let body =
        json!({"type": "contact.created", "data": {"mail": email("signed-co.com")}}).to_string();
    let send = |msg_id: &str, ts: i64, sig: String| {
        post_hook(
            &api,
            &source,
            &[
                ("webhook-id", msg_id.to_string()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig),
            ],
            &body,
        )
    };
    let now = now_ms() / 1000;
    // Signed for another message id: the signature does not verify.
    let forged = standard::sign(&key, "other-id", now, body.as_bytes());
    assert_eq!(send(&unique("msg_"), now, forged).status, 401);
    let msg_id = unique("msg_");
    let good = standard::sign(&key, &msg_id, now, body.as_bytes());
    let res = send(&msg_id, now, good);
    assert_eq!(res.status, 200, "{}", res.text());
    // Correctly signed an hour ago: too old to trust.
    let (old, stale_id) = (now - 3600, unique("msg_"));
    let stale = standard::sign(&key, &stale_id, old, body.as_bytes());
    assert_eq!(send(&stale_id, old, stale).status, 401);
    let stats = api
        .get("/v1/admin/intake/stats?days=1")
        .bearer(&api.admin_key)
        .send();
    assert_eq!(stats.status, 200, "{}", stats.text());
    let figures = &stats.json()["sources"][&source];
    assert_eq!(figures["accepted"], 1, "{figures}");
    assert_eq!(figures["refused"]["invalid_signature"], 1, "{figures}");
    assert_eq!(figures["refused"]["stale_timestamp"], 1, "{figures}");
    assert!(figures["last_at"].is_string() && figures["last_accepted_at"].is_string());
    let bad = api
        .get("/v1/admin/intake/stats?days=0")
        .bearer(&api.admin_key)
        .send();
    assert_eq!(bad.status, 422);
}
