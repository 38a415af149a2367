//! Intake's per-submission work: parse a form post, normalise and validate it, verify a signed
//! webhook. Baselines in the same run: parsing the same payload as JSON, and SHA-256 of the
//! webhook body — report the domain's cost as multiples of these.

use criterion::{criterion_group, criterion_main, Criterion};
use revops::intake::fields::FieldMap;
use revops::intake::normalize::{normalise, parse_urlencoded, Submission};
use revops::webhooks::{self, standard, Inbound, Vendor};
use serde_json::Value;
use sha2::Digest;
use std::hint::black_box;

const FORM: &str =
    "Email+Address=%20Jane.Doe%40ACME-Corp.com%20&First+Name=JANE&Last+Name=o%27brien\
&Company=Acme+%20Corp&Job+Title=VP+Sales&Country=U.S.A.&State=california&Company+Size=200%2B\
&Phone=%28415%29+555-0100&utm_source=linkedin&utm_medium=paid&utm_campaign=q4-launch\
&page_url=https%3A%2F%2Fwww.acme.com%2Fdemo%3Futm_content%3Dhero&consent=on&Budget=50k\
&How+did+you+hear=Podcast&website_url=";

fn bench(c: &mut Criterion) {
    let map = FieldMap::new();
    let webhook_body: String = serde_json::json!({
        "type": "contact.created",
        "data": {"email": "jane@acme.com", "firstName": "Jane", "notes": "x".repeat(1800)}
    })
    .to_string();
    let secret = standard::new_secret([7; 32]);
    let key = standard::secret_key(&secret).unwrap();
    let ts = 1_800_000_000;
    let headers = vec![
        ("webhook-id".to_string(), "msg_2bench".to_string()),
        ("webhook-timestamp".to_string(), ts.to_string()),
        (
            "webhook-signature".to_string(),
            standard::sign(&key, "msg_2bench", ts, webhook_body.as_bytes()),
        ),
    ];
    let json_form: String = serde_json::to_string(&parse_urlencoded(FORM)).unwrap();

    let mut g = c.benchmark_group("intake");
    g.bench_function("baseline/json_parse_same_fields", |b| {
        b.iter(|| black_box(serde_json::from_str::<Value>(black_box(&json_form)).unwrap()))
    });
    g.bench_function("baseline/sha256_webhook_body", |b| {
        b.iter(|| black_box(sha2::Sha256::digest(black_box(webhook_body.as_bytes()))))
    });
    g.bench_function("form_parse_normalise_validate", |b| {
        b.iter(|| {
            let fields: Vec<(String, Value)> = parse_urlencoded(black_box(FORM))
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            black_box(
                normalise(&Submission {
                    fields: &fields,
                    field_map: &map,
                    default_lead_source: None,
                    default_country: None,
                    received_at: 1,
                })
                .unwrap(),
            )
        })
    });
    g.bench_function("webhook_verify_standard", |b| {
        let msg = Inbound {
            method: "POST",
            url: "https://x/hooks/src",
            headers: &headers,
            body: webhook_body.as_bytes(),
        };
        b.iter(|| {
            black_box(
                webhooks::verify(
                    Vendor::StandardWebhooks,
                    None,
                    std::slice::from_ref(&secret),
                    black_box(&msg),
                    ts * 1000,
                    300_000,
                )
                .unwrap(),
            )
        })
    });
    g.bench_function("one_submission_end_to_end", |b| {
        let msg = Inbound {
            method: "POST",
            url: "https://x/hooks/src",
            headers: &headers,
            body: webhook_body.as_bytes(),
        };
        b.iter(|| {
            black_box(
                webhooks::verify(
                    Vendor::StandardWebhooks,
                    None,
                    std::slice::from_ref(&secret),
                    &msg,
                    ts * 1000,
                    300_000,
                )
                .unwrap(),
            );
            let records = webhooks::adapters::extract(
                Vendor::StandardWebhooks,
                webhook_body.as_bytes(),
                &map,
            )
            .unwrap();
            black_box(
                normalise(&Submission {
                    fields: &records[0].fields,
                    field_map: &map,
                    default_lead_source: None,
                    default_country: None,
                    received_at: 1,
                })
                .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
