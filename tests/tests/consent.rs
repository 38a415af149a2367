//! Consent: one source of truth for who may be contacted, with proof.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use revops_tests::{api, email, now_ms, unique, urlencode, Api, Resp};
use serde_json::{json, Value};

fn enc(email: &str) -> String {
    urlencode(email)
}

fn consent(api: &Api, email: &str, query: &str) -> Value {
    let res = api
        .get(&format!("/v1/consent/{}{query}", enc(email)))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

fn topic<'a>(view: &'a Value, id: &str) -> &'a Value {
    view["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == id)
        .unwrap()
}

fn record(api: &Api, body: Value) -> Value {
    let res = api
        .post("/v1/consent")
        .bearer(&api.admin_key)
        .json(&body)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

fn history(api: &Api, email: &str) -> Vec<Value> {
    let res = api
        .get(&format!("/v1/consent/{}/history", enc(email)))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["events"].as_array().unwrap().clone()
}

fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").unwrap().1;
    format!("/{}", after_scheme.split_once('/').unwrap().1)
}

#[test]
fn opt_in_and_out_through_the_api_with_proof() {
    let api = api();
    let addr = email("consent-co.com");
    let before = consent(&api, &addr, "");
    assert_eq!(
        topic(&before, "marketing_email")["may_send"],
        false,
        "consent topics need an opt-in"
    );
    assert_eq!(
        topic(&before, "sales_outreach")["may_send"],
        true,
        "legitimate interest until an objection"
    );

    let after = record(
        &api,
        json!({"email": addr, "action": "opt_in", "topics": ["marketing_email"],
               "proof": {"ip": "203.0.113.7", "user_agent": "CRM sync", "wording": "Yes, send me news", "wording_version": "v3"}}),
    );
    assert_eq!(topic(&after, "marketing_email")["state"], "opted_in");
    let cached = consent(&api, &addr, "?topic=marketing_email");
    assert_eq!(cached["source"], "kv", "written through to KV");
    assert_eq!(cached["topics"].as_array().unwrap().len(), 1);
    assert_eq!(topic(&cached, "marketing_email")["may_send"], true);
    assert_eq!(consent(&api, &addr, "?fresh=true")["source"], "d1");

    record(&api, json!({"email": addr, "action": "opt_out"}));
    let view = consent(&api, &addr, "");
    assert!(view["topics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["state"] == "opted_out"));
    let events = history(&api, &addr);
    let opt_in = events.iter().find(|e| e["kind"] == "opted_in").unwrap();
    assert_eq!(opt_in["ip"], "203.0.113.7");
    assert_eq!(opt_in["wording_version"], "v3");
    assert_eq!(opt_in["source"], "api");
    assert_eq!(
        events.iter().filter(|e| e["kind"] == "opted_out").count(),
        5,
        "one event per topic"
    );

    let bad = api
        .post("/v1/consent")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "action": "opt_in", "topics": ["fax"]}))
        .send();
    bad.assert_problem(422, "validation-failed");
    let reader = api.key_with(&["consent:read"]);
    api.post("/v1/consent")
        .bearer(&reader)
        .json(&json!({"email": addr, "action": "opt_out"}))
        .send()
        .assert_problem(403, "forbidden");
    api.get(&format!("/v1/consent/{}", enc(&addr)))
        .bearer(&reader)
        .send();
    api.get("/v1/consent/not-an-email")
        .bearer(&api.admin_key)
        .send()
        .assert_problem(422, "validation-failed");
}

#[test]
fn batch_checks_for_list_pulls() {
    let api = api();
    let (a, b) = (email("batch.io"), email("batch.io"));
    record(
        &api,
        json!({"email": a, "action": "opt_in", "topics": ["product_updates"]}),
    );
    let res = api
        .post("/v1/consent/check")
        .bearer(&api.admin_key)
        .json(&json!({"topic": "product_updates", "emails": [a, b, "junk"]}))
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let results = res.json()["results"].as_array().unwrap().clone();
    assert_eq!(results[0]["may_send"], true);
    assert_eq!(results[1]["may_send"], false);
    assert_eq!(results[2]["error"], "not a valid address");
    let res = api
        .post("/v1/consent/check")
        .bearer(&api.admin_key)
        .json(&json!({"topic": "nope", "emails": [a]}))
        .send();
    res.assert_problem(422, "validation-failed");
}

#[test]
fn double_opt_in_needs_the_confirmation_button() {
    let api = api();
    let addr = email("doi.io");
    let out = record(
        &api,
        json!({"email": addr, "action": "opt_in", "topics": ["newsletter"]}),
    );
    assert_eq!(topic(&out, "newsletter")["state"], "pending");
    assert_eq!(topic(&out, "newsletter")["may_send"], false);
    let link = path_of(out["confirm_url"].as_str().unwrap());
    assert!(link.starts_with("/c/c1."));

    let page = api.get(&link).send();
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("Confirm your subscription") && page.text().contains("Newsletter")
    );
    assert_eq!(
        topic(&consent(&api, &addr, "?fresh=true"), "newsletter")["state"],
        "pending",
        "opening the link confirms nothing"
    );

    let done = api.post(&link).form(&[]).send();
    assert_eq!(done.status, 200);
    assert_eq!(
        topic(&consent(&api, &addr, ""), "newsletter")["state"],
        "opted_in"
    );
    assert!(history(&api, &addr)
        .iter()
        .any(|e| e["kind"] == "confirmed" && e["source"] == "confirmation_link"));

    let mut forged = link.clone();
    forged.truncate(forged.len() - 3);
    forged.push_str("AAA");
    assert_eq!(api.get(&forged).send().status, 404);
    assert_eq!(api.post(&forged).form(&[]).send().status, 404);
}

fn issue(api: &Api, addr: &str, topic: &str) -> (String, Value) {
    let res = api
        .post("/v1/consent/unsubscribe-tokens")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "topic": topic}))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    let body = res.json();
    (path_of(body["url"].as_str().unwrap()), body)
}

#[test]
fn one_click_unsubscribe_rfc_8058() {
    let api = api();
    let addr = email("unsub.io");
    record(
        &api,
        json!({"email": addr, "action": "opt_in", "topics": ["marketing_email", "product_updates"]}),
    );
    let (link, body) = issue(&api, &addr, "marketing_email");
    assert_eq!(
        body["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(
        body["headers"]["List-Unsubscribe"],
        format!("<{}>", body["url"].as_str().unwrap())
    );
    assert!(
        !body["url"]
            .as_str()
            .unwrap()
            .contains(&addr.replace('@', "%40"))
            && !body["url"].as_str().unwrap().contains(&addr),
        "the link does not carry the address"
    );

    let page = api.get(&link).send();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Unsubscribe from Marketing email"));
    assert!(!page.text().contains(&addr), "the page masks the address");

    // What a mail client sends: a POST with List-Unsubscribe=One-Click, no cookies, no auth.
    let res = api
        .post(&link)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let view = consent(&api, &addr, "");
    assert_eq!(topic(&view, "marketing_email")["state"], "opted_out");
    assert_eq!(
        topic(&view, "product_updates")["state"],
        "opted_in",
        "only the link's topic"
    );
    let event = history(&api, &addr)
        .into_iter()
        .find(|e| e["kind"] == "opted_out")
        .unwrap();
    assert_eq!(event["source"], "unsubscribe_link");

    // The same works as multipart, and repeating it is harmless.
    let again = api
        .post(&link)
        .multipart(&[("List-Unsubscribe", "One-Click")])
        .send();
    assert_eq!(again.status, 200);

    // Resubscribe from the preference page (explicit), then unsubscribe from everything.
    assert!(api.get(&link).send().text().contains("Subscribe again"));
    assert_eq!(
        api.post(&link)
            .form(&[("action", "resubscribe")])
            .send()
            .status,
        200
    );
    assert_eq!(
        topic(&consent(&api, &addr, ""), "marketing_email")["state"],
        "opted_in"
    );
    assert_eq!(
        api.post(&link)
            .form(&[("action", "unsubscribe_all")])
            .send()
            .status,
        200
    );
    assert!(consent(&api, &addr, "")["topics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["state"] == "opted_out"));
}

#[test]
fn unsubscribe_tokens_cannot_be_forged_altered_or_moved() {
    let api = api();
    let (alice, bob) = (email("tokens.io"), email("tokens.io"));
    for addr in [&alice, &bob] {
        record(
            &api,
            json!({"email": addr, "action": "opt_in", "topics": ["marketing_email", "newsletter", "product_updates"]}),
        );
        record(
            &api,
            json!({"email": addr, "action": "opt_in", "topics": ["newsletter"]}),
        );
    }
    let (alice_link, _) = issue(&api, &alice, "product_updates");
    let (bob_link, _) = issue(&api, &bob, "product_updates");
    let parts = |link: &str| {
        link.trim_start_matches("/u/")
            .split('.')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (a, b) = (parts(&alice_link), parts(&bob_link));

    // Bob's payload with Alice's signature: refused, and Bob is untouched.
    let moved = format!("/u/u1.{}.{}", b[1], a[2]);
    assert_eq!(
        api.post(&moved)
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .status,
        404
    );
    // Alice's token altered to another topic.
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&a[1]).unwrap())
        .unwrap()
        .replace("product_updates", "marketing_email");
    let altered = format!("/u/u1.{}.{}", URL_SAFE_NO_PAD.encode(payload), a[2]);
    assert_eq!(
        api.post(&altered)
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .status,
        404
    );
    // Forged from scratch.
    let forged = format!("/u/u1.{}.{}", a[1], URL_SAFE_NO_PAD.encode([7u8; 32]));
    assert_eq!(api.get(&forged).send().status, 404);
    assert_eq!(
        api.post("/u/garbage")
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .status,
        404
    );
    for addr in [&alice, &bob] {
        assert_eq!(
            topic(&consent(&api, addr, "?fresh=true"), "marketing_email")["state"],
            "opted_in"
        );
        assert_eq!(
            topic(&consent(&api, addr, "?fresh=true"), "product_updates")["state"],
            "opted_in"
        );
    }
    // The real link acts on exactly its person and topic.
    assert_eq!(
        api.post(&alice_link)
            .form(&[("List-Unsubscribe", "One-Click")])
            .send()
            .status,
        200
    );
    assert_eq!(
        topic(&consent(&api, &alice, ""), "product_updates")["state"],
        "opted_out"
    );
    assert_eq!(
        topic(&consent(&api, &bob, ""), "product_updates")["state"],
        "opted_in"
    );
    assert_eq!(
        topic(&consent(&api, &alice, ""), "marketing_email")["state"],
        "opted_in"
    );
}

// Email providers -------------------------------------------------------------------------------

const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const SENDGRID_SIG: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
const SENDGRID_TS: &str = "1600112502";
const SENDGRID_PAYLOAD: &str = "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
const MAILGUN_KEY: &str = "mailgun-test-signing-key-0123456789";
const POSTMARK_USER: &str = "postmark-hook";
const POSTMARK_PASS: &str = "postmark-test-password-0123456789";
const SES_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:ses-feedback";
const TEST_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-revops-test.pem";
const AWS_CERT_URL: &str = "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem";

fn sendgrid_signer() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap()
}

/// The same provider configuration for every test (tests share one runtime).
fn configure_providers(api: &Api, sendgrid_key: &str) -> Value {
    let aws_cert = include_str!("../../shared/src/consent/providers/testdata/sns_cert.pem");
    let test_cert = include_str!("../fixtures/sns-test-cert.pem");
    let aws_fixture: Vec<Value> = serde_json::from_str(include_str!(
        "../../shared/src/consent/providers/testdata/sns_fixtures.json"
    ))
    .unwrap();
    let mut arns: Vec<String> = aws_fixture
        .iter()
        .map(|f| f["TopicArn"].as_str().unwrap().to_string())
        .collect();
    arns.push(SES_TOPIC.into());
    let config = json!({
        "sendgrid": {"public_key": sendgrid_key},
        "postmark": {"username": POSTMARK_USER, "password": POSTMARK_PASS},
        "mailgun": {"signing_key": MAILGUN_KEY, "tolerance_seconds": 3600},
        "ses": {"topic_arns": arns, "certificates": {AWS_CERT_URL: aws_cert, TEST_CERT_URL: test_cert}},
    });
    let res = api
        .put("/v1/admin/consent/providers")
        .bearer(&api.admin_key)
        .json(&config)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let view = res.json();
    assert!(
        !view.to_string().contains(POSTMARK_PASS) && !view.to_string().contains(MAILGUN_KEY),
        "secrets are never shown"
    );
    view
}

fn our_sendgrid_key() -> String {
    use p256::pkcs8::EncodePublicKey;
    STANDARD.encode(
        sendgrid_signer()
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    )
}

fn post_provider(
    api: &Api,
    provider: &str,
    headers: &[(&str, String)],
    body: &str,
    content_type: &str,
) -> Resp {
    let mut r = api
        .post(&format!("/hooks/email/{provider}"))
        .header("content-type", content_type);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.body(body.as_bytes().to_vec()).send()
}

#[test]
fn sendgrid_published_vector_verifies_through_webcrypto() {
    // SendGrid's own example (a high-S ECDSA signature) verified by the runtime's WebCrypto.
    let api = api();
    // Provider configuration is global: tests that change it take turns.
    let _turn = revops_tests::serial();
    configure_providers(&api, SENDGRID_KEY);
    let headers = [
        (
            "x-twilio-email-event-webhook-signature",
            SENDGRID_SIG.to_string(),
        ),
        (
            "x-twilio-email-event-webhook-timestamp",
            SENDGRID_TS.to_string(),
        ),
    ];
    let res = post_provider(
        &api,
        "sendgrid",
        &headers,
        SENDGRID_PAYLOAD,
        "application/json",
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["applied"],
        0,
        "a dropped event is not consent feedback"
    );
    let tampered = SENDGRID_PAYLOAD.replace("hello@world.com", "hello@world.org");
    post_provider(&api, "sendgrid", &headers, &tampered, "application/json")
        .assert_problem(401, "invalid-signature");
}

fn sendgrid_sign(ts: &str, body: &str) -> String {
    use p256::ecdsa::signature::Signer;
    let mut msg = ts.as_bytes().to_vec();
    msg.extend_from_slice(body.as_bytes());
    let sig: p256::ecdsa::Signature = sendgrid_signer().sign(&msg);
    STANDARD.encode(sig.to_der().as_bytes())
}

#[test]
fn provider_feedback_suppresses_counts_and_ignores_as_it_should() {
    let api = api();
    // Provider configuration is global: tests that change it take turns.
    let _turn = revops_tests::serial();
    configure_providers(&api, &our_sendgrid_key());

    // SendGrid: a hard bounce suppresses; a block is recorded but is not an opt-out.
    let (bounced, blocked) = (email("sg.io"), email("sg.io"));
    for addr in [&bounced, &blocked] {
        record(
            &api,
            json!({"email": addr, "action": "opt_in", "topics": ["marketing_email"]}),
        );
    }
    let body = json!([
        {"email": bounced, "event": "bounce", "type": "bounce", "reason": "550 5.1.1 no such user", "sg_event_id": unique("sg"), "timestamp": now_ms() / 1000},
        {"email": blocked, "event": "bounce", "type": "blocked", "reason": "blocked by policy", "sg_event_id": unique("sg"), "timestamp": now_ms() / 1000}
    ])
    .to_string();
    let ts = (now_ms() / 1000).to_string();
    let headers = [
        (
            "x-twilio-email-event-webhook-signature",
            sendgrid_sign(&ts, &body),
        ),
        ("x-twilio-email-event-webhook-timestamp", ts.clone()),
    ];
    let res = post_provider(&api, "sendgrid", &headers, &body, "application/json");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["applied"], 2);
    assert_eq!(consent(&api, &bounced, "")["suppressed"], "hard_bounce");
    assert_eq!(
        topic(&consent(&api, &bounced, ""), "marketing_email")["may_send"],
        false
    );
    assert_eq!(consent(&api, &blocked, "")["suppressed"], Value::Null);
    assert!(history(&api, &blocked)
        .iter()
        .any(|e| e["kind"] == "provider_blocked"));
    let replay = post_provider(&api, "sendgrid", &headers, &body, "application/json");
    assert_eq!(replay.json()["duplicates"], 2, "each event applies once");

    // Postmark: Basic credentials; soft bounces count up to the limit; auto-replies are notes.
    let soft = email("pm.io");
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{POSTMARK_USER}:{POSTMARK_PASS}"))
    );
    for i in 0..3 {
        let b = json!({"RecordType": "Bounce", "ID": now_ms() + i, "Type": "SoftBounce", "Email": soft, "BouncedAt": "2026-11-01T10:00:00Z"}).to_string();
        let res = post_provider(
            &api,
            "postmark",
            &[("authorization", auth.clone())],
            &b,
            "application/json",
        );
        assert_eq!(res.status, 200, "{}", res.text());
        let expected = if i == 2 {
            json!("soft_bounce_limit")
        } else {
            Value::Null
        };
        assert_eq!(
            consent(&api, &soft, "?fresh=true")["suppressed"],
            expected,
            "after {} soft bounces",
            i + 1
        );
    }
    let ooo = email("pm.io");
    let b = json!({"RecordType": "Bounce", "ID": now_ms(), "Type": "AutoResponder", "Email": ooo})
        .to_string();
    post_provider(
        &api,
        "postmark",
        &[("authorization", auth.clone())],
        &b,
        "application/json",
    );
    assert_eq!(
        consent(&api, &ooo, "?fresh=true")["suppressed"],
        Value::Null,
        "an out-of-office is not an opt-out"
    );
    let wrong = format!("Basic {}", STANDARD.encode("postmark-hook:guess"));
    post_provider(
        &api,
        "postmark",
        &[("authorization", wrong)],
        &b,
        "application/json",
    )
    .assert_problem(401, "invalid-signature");

    // Mailgun: HMAC of timestamp + token; a token is accepted once; old timestamps are refused.
    let complainer = email("mg.io");
    let mailgun = |ts: i64, token: &str| {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(MAILGUN_KEY.as_bytes()).unwrap();
        mac.update(format!("{ts}{token}").as_bytes());
        let sig = revops::auth::hex(&mac.finalize().into_bytes());
        json!({"signature": {"timestamp": ts.to_string(), "token": token, "signature": sig},
               "event-data": {"event": "complained", "id": unique("mg"), "recipient": complainer, "timestamp": ts as f64}})
        .to_string()
    };
    let token = unique("mgtoken");
    let b = mailgun(now_ms() / 1000, &token);
    assert_eq!(
        post_provider(&api, "mailgun", &[], &b, "application/json").status,
        200
    );
    assert_eq!(consent(&api, &complainer, "")["suppressed"], "complaint");
    post_provider(&api, "mailgun", &[], &b, "application/json")
        .assert_problem(409, "replayed-message");
    let stale = mailgun(now_ms() / 1000 - 7200, &unique("mgtoken"));
    post_provider(&api, "mailgun", &[], &stale, "application/json")
        .assert_problem(401, "stale-timestamp");
}

fn sns_sign(mut msg: Value) -> String {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let key =
        rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("../fixtures/sns-test-key.pem")).unwrap();
    // The string SNS signs, written out independently of the implementation under test.
    let names = [
        "Message",
        "MessageId",
        "Subject",
        "Timestamp",
        "TopicArn",
        "Type",
    ];
    let mut text = String::new();
    for n in names {
        if let Some(v) = msg[n].as_str() {
            text.push_str(&format!("{n}\n{v}\n"));
        }
    }
    let sig = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key).sign(text.as_bytes());
    msg["SignatureVersion"] = json!("2");
    msg["Signature"] = json!(STANDARD.encode(sig.to_bytes()));
    msg["SigningCertURL"] = json!(TEST_CERT_URL);
    msg.to_string()
}

#[test]
fn ses_through_sns_with_amazons_and_our_signatures() {
    let api = api();
    // Provider configuration is global: tests that change it take turns.
    let _turn = revops_tests::serial();
    configure_providers(&api, &our_sendgrid_key());
    // Four real AWS-signed SNS messages (SHA-1 and SHA-256), verified by WebCrypto — and then
    // refused for their age (signed years ago: a verbatim replay of an old message verifies).
    let fixtures: Vec<Value> = serde_json::from_str(include_str!(
        "../../shared/src/consent/providers/testdata/sns_fixtures.json"
    ))
    .unwrap();
    for f in &fixtures {
        let res = post_provider(
            &api,
            "ses",
            &[],
            &f.to_string(),
            "text/plain; charset=UTF-8",
        );
        res.assert_problem(401, "stale-timestamp");
    }
    let mut altered = fixtures[1].clone();
    altered["Message"] = json!("Hello world?");
    post_provider(&api, "ses", &[], &altered.to_string(), "text/plain")
        .assert_problem(401, "invalid-signature");

    // An SES bounce for one of several recipients, signed with our test key.
    let (bounced, fine) = (email("ses.io"), email("ses.io"));
    let message = json!({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": bounced, "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
        "timestamp": "2026-11-20T10:00:00.000Z"}, "mail": {"destination": [bounced, fine]}});
    let sns = json!({"Type": "Notification", "MessageId": unique("sns-"), "TopicArn": SES_TOPIC, "Message": message.to_string(),
        "Timestamp": revops::time::rfc3339(now_ms())});
    let res = post_provider(
        &api,
        "ses",
        &[],
        &sns_sign(sns.clone()),
        "text/plain; charset=UTF-8",
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(consent(&api, &bounced, "")["suppressed"], "hard_bounce");
    assert_eq!(
        consent(&api, &fine, "?fresh=true")["suppressed"],
        Value::Null,
        "only the bounced recipient"
    );
    let event = history(&api, &bounced)
        .into_iter()
        .find(|e| e["kind"] == "suppressed")
        .unwrap();
    assert_eq!(event["source"], "provider:ses");
    assert_eq!(event["detail"]["bounce_type"], "Permanent");

    let mut other_topic = sns.clone();
    other_topic["TopicArn"] = json!("arn:aws:sns:us-east-1:999999999999:someone-else");
    post_provider(&api, "ses", &[], &sns_sign(other_topic), "text/plain")
        .assert_problem(401, "invalid-signature");
    let mut evil_cert: Value = serde_json::from_str(&sns_sign(sns.clone())).unwrap();
    evil_cert["SigningCertURL"] = json!("https://evil.example/cert.pem");
    post_provider(&api, "ses", &[], &evil_cert.to_string(), "text/plain")
        .assert_problem(401, "invalid-signature");
    // An Amazon certificate URL that is not pinned must be fetched; when that fails, it is a
    // failed dependency (502), never our 500.
    let mut unpinned: Value = serde_json::from_str(&sns_sign(sns.clone())).unwrap();
    unpinned["SigningCertURL"] = json!("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000.pem");
    post_provider(&api, "ses", &[], &unpinned.to_string(), "text/plain")
        .assert_problem(502, "dependency-failed");
    // Ours, but signed an hour and a half ago: refused for its age.
    let mut old = sns;
    old["MessageId"] = json!(unique("sns-"));
    old["Timestamp"] = json!(revops::time::rfc3339(now_ms() - 90 * 60_000));
    post_provider(&api, "ses", &[], &sns_sign(old), "text/plain")
        .assert_problem(401, "stale-timestamp");
    post_provider(&api, "fax", &[], "{}", "application/json").assert_problem(404, "not-found");
}

// Intake honours consent ------------------------------------------------------------------------

fn register_form(api: &Api) -> String {
    let res = api
        .post("/v1/admin/forms")
        .bearer(&api.admin_key)
        .json(&json!({
            "name": unique("Newsletter form "),
            "allowed_origins": ["https://www.acme-test.com"],
            "consent": {"topics": ["marketing_email"], "wording": "Email me about products.", "wording_version": "2026-11-a"},
        }))
        .send();
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()["id"].as_str().unwrap().to_string()
}

fn post_form(api: &Api, form: &str, fields: &[(&str, &str)]) -> Value {
    let res = api
        .post(&format!("/f/{form}"))
        .header("origin", "https://www.acme-test.com")
        .header("accept", "application/json")
        .header("user-agent", "Mozilla/5.0 (revops test)")
        .form(fields)
        .send();
    assert!(matches!(res.status, 200 | 201), "{}", res.text());
    res.json()
}

#[test]
fn intake_applies_explicit_consent_and_never_overrides_an_unsubscribe() {
    let api = api();
    let form = register_form(&api);
    let addr = email("intake-consent.io");
    let out = post_form(&api, &form, &[("email", &addr), ("consent", "on")]);
    assert_eq!(out["consent"]["recorded"][0]["kind"], "opted_in");
    let view = consent(&api, &addr, "");
    assert_eq!(topic(&view, "marketing_email")["state"], "opted_in");
    let proof = history(&api, &addr)
        .into_iter()
        .find(|e| e["kind"] == "opted_in")
        .unwrap();
    assert_eq!(proof["source"], "form");
    assert_eq!(proof["source_id"], form.as_str());
    assert_eq!(proof["wording_version"], "2026-11-a");
    assert_eq!(proof["wording"], "Email me about products.");
    assert_eq!(proof["user_agent"], "Mozilla/5.0 (revops test)");

    // Unsubscribed: a later form fill without the box ticked changes nothing...
    record(
        &api,
        json!({"email": addr, "action": "opt_out", "topics": ["marketing_email"]}),
    );
    post_form(&api, &form, &[("email", &addr), ("First Name", "Ann")]);
    assert_eq!(
        topic(&consent(&api, &addr, "?fresh=true"), "marketing_email")["state"],
        "opted_out"
    );
    // ...and an explicit new opt-in is recorded with its proof.
    post_form(&api, &form, &[("email", &addr), ("consent", "yes")]);
    assert_eq!(
        topic(&consent(&api, &addr, "?fresh=true"), "marketing_email")["state"],
        "opted_in"
    );
    assert_eq!(
        history(&api, &addr)
            .iter()
            .filter(|e| e["kind"] == "opted_in")
            .count(),
        2
    );
}

#[test]
fn a_lead_s_consent_claim_is_checked_before_it_is_acknowledged_and_never_left_pending() {
    let api = api();
    // A claim the consent step could never apply is refused up front, nothing stored.
    let addr = email("claim-shape.io");
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "consent": {}}))
        .send();
    res.assert_problem(422, "validation-failed");
    assert_eq!(res.json()["errors"][0]["field"], "consent.granted");
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "consent": {"granted": true}}))
        .send();
    res.assert_problem(422, "validation-failed");
    assert_eq!(res.json()["errors"][0]["field"], "consent.topics");
    let rows: String = revops_tests::storage::d1_tables()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert!(!rows.contains(&addr), "a refused submission stores nothing");

    // A topic that is not configured is set aside and reported; the rest is applied and the
    // submission completes instead of waiting forever on the consent step.
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "consent": {"granted": true, "topics": ["fax_blasts", "product_updates"]}}))
        .send();
    assert!(res.status == 201 || res.status == 200, "{}", res.text());
    let out = res.json();
    assert_ne!(out["status"], "pending", "{out}");
    assert_eq!(
        out["consent"]["unknown_topics"],
        json!(["fax_blasts"]),
        "{out}"
    );
    assert_eq!(
        topic(&consent(&api, &addr, "?fresh=true"), "product_updates")["state"],
        "opted_in"
    );
    // Only unknown topics: nothing changes, and a refusal never widens to every topic.
    let res = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "consent": {"granted": false, "topics": ["fax_blasts"]}}))
        .send();
    assert_ne!(res.json()["status"], "pending", "{}", res.text());
    assert_eq!(
        topic(&consent(&api, &addr, "?fresh=true"), "product_updates")["state"],
        "opted_in"
    );
}

#[test]
fn a_suppressed_address_stays_suppressed_through_form_fills() {
    let api = api();
    // Provider configuration is global: tests that change it take turns.
    let _turn = revops_tests::serial();
    configure_providers(&api, &our_sendgrid_key());
    let form = register_form(&api);
    let addr = email("suppressed.io");
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{POSTMARK_USER}:{POSTMARK_PASS}"))
    );
    let b = json!({"RecordType": "SpamComplaint", "ID": now_ms(), "Type": "SpamComplaint", "Email": addr}).to_string();
    assert_eq!(
        post_provider(
            &api,
            "postmark",
            &[("authorization", auth)],
            &b,
            "application/json"
        )
        .status,
        200
    );
    post_form(&api, &form, &[("email", &addr)]);
    assert_eq!(
        consent(&api, &addr, "?fresh=true")["suppressed"],
        "complaint"
    );
    post_form(&api, &form, &[("email", &addr), ("consent", "on")]);
    assert_eq!(
        consent(&api, &addr, "?fresh=true")["suppressed"],
        Value::Null,
        "an explicit new opt-in lifts it"
    );
}

// Erasure and export ----------------------------------------------------------------------------

#[test]
fn erasure_leaves_no_trace_and_keeps_the_person_suppressed() {
    let api = api();
    let form = register_form(&api);
    let addr = email("erase-me.io");
    let created = post_form(
        &api,
        &form,
        &[
            ("email", &addr),
            ("First Name", "Erin"),
            ("consent", "on"),
            ("Notes", &format!("reach me at {addr}")),
        ],
    );
    let lead_id = created["id"].as_str().unwrap().to_string();
    let act = api
        .post("/v1/activities")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "type": "webinar_attended", "properties": {"contact": addr}}))
        .send();
    assert_eq!(act.status, 201, "{}", act.text());
    let idem = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .header("idempotency-key", &unique("erase-"))
        .json(&json!({"email": addr}))
        .send();
    assert_eq!(idem.status, 200);
    issue(&api, &addr, "*");

    let export = api
        .get(&format!("/v1/subjects/{}/export", enc(&addr)))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(export.status, 200, "{}", export.text());
    let export = export.json();
    assert_eq!(export["tables"]["leads"][0]["id"], lead_id.as_str());
    assert_eq!(export["tables"]["submissions"].as_array().unwrap().len(), 2);
    assert!(!export["tables"]["activities"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(!export["tables"]["consent_events"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        export["kv"]["consent_snapshot"]["topics"]["marketing_email"],
        "opted_in"
    );

    let res = api
        .delete(&format!("/v1/subjects/{}", enc(&addr)))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let report = res.json();
    for (table, at_least) in [
        ("leads", 1),
        ("submissions", 2),
        ("activities", 2),
        ("consent_events", 1),
        ("consent_states", 1),
        ("consent_subjects", 1),
        ("idempotency_keys", 1),
    ] {
        assert!(
            report["deleted"][table].as_u64().unwrap() >= at_least,
            "{table}: {report}"
        );
    }

    // Scan every D1 table and every KV key and value for any trace of the address or lead id.
    for (table, rows) in revops_tests::storage::d1_tables() {
        assert!(
            !rows.contains(&addr),
            "{table} still holds the address: {rows}"
        );
        assert!(!rows.contains(&lead_id), "{table} still holds the lead id");
    }
    for (worker, binding) in [("consent", "CONSENT"), ("consent", "CONFIG")] {
        for key in revops_tests::storage::kv_keys(worker, binding) {
            assert!(
                !key.contains(&addr) && !key.contains(&lead_id),
                "KV {binding} key {key}"
            );
        }
    }
    for value in revops_tests::storage::kv_values() {
        assert!(
            !value.contains(&addr),
            "a KV value still holds the address: {value}"
        );
    }

    // They stay suppressed, and a re-import is not stored.
    assert_eq!(consent(&api, &addr, "")["suppressed"], "erased");
    let again = api
        .post("/v1/leads")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "first_name": "Erin"}))
        .send();
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["status"], "discarded");
    assert_eq!(consent(&api, &addr, "?fresh=true")["suppressed"], "erased");
    let rows: String = revops_tests::storage::d1_tables()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert!(!rows.contains(&addr), "the re-import stored nothing");

    // An activity about them is refused for good (not a 500 to retry forever), storing nothing.
    let act = api
        .post("/v1/activities")
        .bearer(&api.admin_key)
        .json(&json!({"email": addr, "type": "webinar_attended"}))
        .send();
    act.assert_problem(410, "gone");
    // A tool with intake:write claiming their consent does not bring them back.
    let tool = api.key_with(&["intake:write"]);
    let claimed = api
        .post("/v1/leads")
        .bearer(&tool)
        .json(&json!({"email": addr, "consent": {"granted": true, "topics": ["marketing_email"]}}))
        .send();
    assert_eq!(claimed.status, 200, "{}", claimed.text());
    assert_eq!(claimed.json()["status"], "confirmation_required");
    // Nor does their own form fill: that only gets them a link to confirm it.
    let back = post_form(&api, &form, &[("email", &addr), ("consent", "on")]);
    assert_eq!(back["status"], "confirmation_required", "{back}");
    assert_eq!(consent(&api, &addr, "?fresh=true")["suppressed"], "erased");
    let rows: String = revops_tests::storage::d1_tables()
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert!(
        !rows.contains(&addr),
        "an unconfirmed opt-in stored nothing"
    );
    let link = back["consent"]["confirm_url"].as_str().unwrap().to_string();
    assert!(
        !link.contains(&addr),
        "the link does not carry the address in the clear"
    );
    // Confirming it — a provable, fresh opt-in — brings them back.
    let path = &link[link.find("/c/").unwrap()..];
    let page = api.get(path).send();
    assert_eq!(page.status, 200, "{}", page.text());
    let confirmed = api
        .post(path)
        .header("user-agent", "Mozilla/5.0 (revops test)")
        .send();
    assert_eq!(confirmed.status, 200, "{}", confirmed.text());
    let view = consent(&api, &addr, "?fresh=true");
    assert_eq!(view["suppressed"], Value::Null);
    assert_eq!(topic(&view, "marketing_email")["state"], "opted_in");
    let proof = history(&api, &addr);
    assert!(
        proof.iter().any(|e| e["source"] == "readmission_link"),
        "{proof:?}"
    );
    let again = post_form(&api, &form, &[("email", &addr)]);
    assert_eq!(again["status"], "processed");

    // Someone holding subjects:admin may record a person's new opt-in on their behalf.
    let other = email("erase-me.io");
    post_form(&api, &form, &[("email", &other)]);
    let res = api
        .delete(&format!("/v1/subjects/{}", enc(&other)))
        .bearer(&api.admin_key)
        .send();
    assert_eq!(res.status, 200, "{}", res.text());
    let dpo = api.key_with(&["subjects:admin", "intake:write"]);
    let readmitted = api
        .post("/v1/leads")
        .bearer(&dpo)
        .json(&json!({"email": other, "consent": {"granted": true, "topics": ["marketing_email"]}}))
        .send();
    assert!(
        matches!(readmitted.status, 200 | 201),
        "{}",
        readmitted.text()
    );
    assert_eq!(readmitted.json()["status"], "processed");
    assert_eq!(
        consent(&api, &other, "?fresh=true")["suppressed"],
        Value::Null
    );
}

#[test]
fn topics_and_providers_configuration() {
    let api = api();
    let topics = api
        .get("/v1/admin/consent/topics")
        .bearer(&api.admin_key)
        .send();
    assert_eq!(topics.status, 200);
    let current = topics.json();
    assert_eq!(current["topics"][0]["id"], "marketing_email");
    let mut bad = current.clone();
    bad["topics"][1]["id"] = json!("Not Snake");
    api.put("/v1/admin/consent/topics")
        .bearer(&api.admin_key)
        .json(&bad)
        .send()
        .assert_problem(422, "validation-failed");
    let same = api
        .put("/v1/admin/consent/topics")
        .bearer(&api.admin_key)
        .json(&current)
        .send();
    assert_eq!(same.status, 200);
    let res = api
        .put("/v1/admin/consent/providers")
        .bearer(&api.admin_key)
        .json(&json!({"postmark": {"username": "x", "password": "short"}}))
        .send();
    res.assert_problem(422, "validation-failed");
    assert_eq!(
        api.get("/v1/admin/consent/providers")
            .bearer(&api.admin_key)
            .send()
            .status,
        200
    );
}

/// A documented fixture from `shared/fixtures`: its first line names the source.
fn fixture(path: &str) -> Vec<u8> {
    let text = std::fs::read(format!(
        "{}/../shared/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let start = text.iter().position(|&b| b == b'\n').unwrap() + 1;
    text[start..].to_vec()
}

#[test]
fn one_click_posts_unsubscribe_whatever_their_framing_and_a_get_never_does() {
    let api = api();
    for (content_type, body) in [
        ("application/x-www-form-urlencoded", fixture("rfc8058/urlencoded.txt")),
        ("application/x-www-form-urlencoded", fixture("rfc8058/gmail.txt")),
        // The RFC's own printed multipart example, whose boundary does not match its delimiters.
        ("multipart/form-data; boundary=---FormBoundaryjWmhtjORrn", fixture("rfc8058/multipart-as-printed.txt")),
        ("multipart/form-data; boundary=b", b"preamble\n--b\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\n\nOne-Click\n--b--\n".to_vec()),
    ] {
        let addr = email("unsub.io");
        record(&api, json!({"email": addr, "action": "opt_in", "topics": ["marketing_email"]}));
        let (link, _) = issue(&api, &addr, "marketing_email");
        // Looking at the link (a GET, as link scanners do) changes nothing.
        assert_eq!(api.get(&link).send().status, 200);
        assert_eq!(topic(&consent(&api, &addr, "?fresh=true"), "marketing_email")["state"], "opted_in");
        let res = api.post(&link).header("content-type", content_type).body(body).send();
        assert_eq!(res.status, 200, "{content_type}: {}", res.text());
        assert_eq!(
            topic(&consent(&api, &addr, "?fresh=true"), "marketing_email")["state"],
            "opted_out",
            "{content_type}"
        );
    }
}

#[test]
fn sendgrids_documented_event_array_applies_every_distinct_event() {
    let api = api();
    // Provider configuration is global: tests that change it take turns.
    let _turn = revops_tests::serial();
    configure_providers(&api, &our_sendgrid_key());
    // SendGrid's own example array: eleven events sharing one sg_event_id placeholder. Its
    // bounce, spam report and both unsubscribes are distinct events; a second address's copy of
    // the same array is distinct too.
    let documented = String::from_utf8(fixture("sendgrid/event-webhook-example.json.txt")).unwrap();
    let post = |body: &str| {
        let ts = (now_ms() / 1000).to_string();
        let headers = [
            (
                "x-twilio-email-event-webhook-signature",
                sendgrid_sign(&ts, body),
            ),
            ("x-twilio-email-event-webhook-timestamp", ts),
        ];
        post_provider(&api, "sendgrid", &headers, body, "application/json")
    };
    let (first, second) = (email("sg-doc.io"), email("sg-doc.io"));
    for addr in [&first, &second] {
        let body = documented.replace("example@test.com", addr);
        let res = post(&body);
        assert_eq!(res.status, 200, "{}", res.text());
        let out = res.json();
        assert_eq!(
            (out["applied"].clone(), out["duplicates"].clone()),
            (json!(4), json!(0)),
            "{addr}: {out}"
        );
        let kinds: Vec<String> = history(&api, addr)
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect();
        assert!(
            kinds.iter().filter(|k| *k == "suppressed").count() >= 2,
            "bounce and spam report: {kinds:?}"
        );
        assert!(
            kinds.iter().any(|k| k == "opted_out"),
            "the unsubscribes: {kinds:?}"
        );
        assert_eq!(
            consent(&api, addr, "?fresh=true")["suppressed"],
            "complaint"
        );
    }
    // A redelivery of the same array is applied once.
    let again = post(&documented.replace("example@test.com", &first));
    assert_eq!(again.json()["duplicates"], 4);
}
