//! Scoring one lead against a realistic 50-rule model, and backtesting 100,000 leads. Baselines
//! in the same run: deserialising the lead from its stored JSON (what the handler does before
//! scoring), and deserialising 100,000 leads.

use criterion::{criterion_group, criterion_main, Criterion};
use revops::intake::employees::EmployeeBand;
use revops::intake::lead::Lead;
use revops::scoring::backtest::{self, Case, SalesOutcome};
use revops::scoring::condition::Facts;
use revops::scoring::engine::{score, Activity};
use revops::scoring::Model;
use serde_json::{json, Value};
use std::hint::black_box;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

/// 30 fit and negative rules, 20 engagement rules with caps and decay.
fn model() -> Model {
    let titles = [
        "chief",
        "vp",
        "director",
        "head of",
        "manager",
        "founder",
        "owner",
        "lead",
        "principal",
        "architect",
    ];
    let mut fit: Vec<Value> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": format!("title_{i}"), "when": {"field": "title", "contains": [t]}, "points": 5 + i}))
        .collect();
    for (i, c) in [
        ["US", "CA"],
        ["GB", "IE"],
        ["DE", "AT"],
        ["FR", "BE"],
        ["NL", "LU"],
        ["SE", "NO"],
        ["DK", "FI"],
        ["AU", "NZ"],
    ]
    .iter()
    .enumerate()
    {
        fit.push(
            json!({"id": format!("geo_{i}"), "when": {"field": "country", "in": c}, "points": 4}),
        );
    }
    for (i, b) in ["11-50", "51-200", "201-500", "501-1000", "1001-5000"]
        .iter()
        .enumerate()
    {
        fit.push(json!({"id": format!("size_{i}"), "when": {"all": [{"field": "employees", "at_least": b}, {"field": "company_domain", "present": true}]}, "points": 3}));
    }
    fit.push(json!({"id": "industry", "when": {"field": "industry", "in": ["software", "fintech", "healthcare"]}, "points": 8}));
    fit.push(json!({"id": "customer", "when": {"existing_customer": true}, "points": 10}));
    let negative = vec![
        json!({"id": "free_mail", "when": {"field": "email_domain", "free_mail": true}, "points": -10}),
        json!({"id": "student", "when": {"any": [{"field": "title", "contains": ["student", "intern"]}, {"field": "email_domain", "contains": ".edu"}]}, "points": -40}),
        json!({"id": "competitor", "when": {"field": "email_domain", "in": ["rival.com", "competitor.io"]}, "points": -100}),
        json!({"id": "unsubscribed", "when": {"consent": "opted_out", "topic": "marketing_email"}, "points": -20}),
        json!({"id": "bad_budget", "when": {"field": "custom.budget", "at_most": 1000}, "points": -5}),
    ];
    let kinds = [
        "page_view",
        "pricing_page_view",
        "email_open",
        "email_click",
        "content_download",
        "webinar_registered",
        "webinar_attended",
        "event_attended",
        "trial_signup",
        "demo_request",
    ];
    let mut engagement = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        engagement.push(json!({"id": format!("eng_{i}"), "activity": k, "points": 2 + i, "cap": {"max_points": 20, "per": "week"}, "decay": {"half_life_days": 30}}));
        engagement.push(json!({"id": format!("eng_{i}_recent"), "activity": k, "points": 1, "where": {"property": "campaign", "present": true}, "cap": {"max_count": 3, "per": "month"}, "decay": {"linear_days": 90}}));
    }
    Model::from_json(&json!({
        "name": "bench", "fit": fit, "negative": negative, "engagement": engagement,
        "stages": [{"name": "engaged", "enter_at": 30, "exit_below": 25}, {"name": "mql", "enter_at": 60, "exit_below": 50}]
    }))
    .unwrap()
}

fn lead(i: usize) -> Lead {
    Lead {
        id: format!("lead_{i}"),
        email: format!("person{i}@company{}.com", i % 997),
        title: Some(
            [
                "VP Sales",
                "Head of Marketing",
                "Analyst",
                "Director of IT",
                "Student",
            ][i % 5]
                .into(),
        ),
        country: Some(["US", "DE", "FR", "BR", "JP"][i % 5].into()),
        employees: Some(EmployeeBand::ALL[i % 8]),
        company_domain: Some(format!("company{}.com", i % 997)),
        industry: Some(["software", "retail", "fintech"][i % 3].into()),
        ..Lead::default()
    }
}

fn activities(i: usize, n: usize) -> Vec<Activity> {
    let kinds = [
        "page_view",
        "email_click",
        "webinar_attended",
        "pricing_page_view",
        "content_download",
    ];
    (0..n)
        .map(|j| Activity {
            kind: kinds[(i + j) % kinds.len()].into(),
            at: NOW - ((i * 7 + j * 13) % 120) as i64 * DAY,
            properties: if j % 2 == 0 {
                json!({"campaign": "q4"})
            } else {
                json!({})
            },
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let m = model();
    assert_eq!(
        m.spec.fit.len() + m.spec.negative.len() + m.spec.engagement.len(),
        50
    );
    let one = lead(1);
    let stored = serde_json::to_string(&one).unwrap();
    let acts = activities(1, 40);

    let mut g = c.benchmark_group("scoring");
    g.bench_function("baseline/deserialize_stored_lead", |b| {
        b.iter(|| black_box(serde_json::from_str::<Lead>(black_box(&stored)).unwrap()))
    });
    g.bench_function("score_one_lead_50_rules_40_activities", |b| {
        let facts = Facts {
            lead: Some(&one),
            ..Facts::default()
        };
        b.iter(|| black_box(score(&m, black_box(&facts), &acts, NOW, None)))
    });
    g.finish();

    let n = 100_000;
    let leads: Vec<Lead> = (0..n).map(lead).collect();
    let acts: Vec<Vec<Activity>> = (0..n).map(|i| activities(i, 5)).collect();
    let docs: Vec<String> = leads
        .iter()
        .take(n)
        .map(|l| serde_json::to_string(l).unwrap())
        .collect();
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10);
    g.bench_function("baseline/deserialize_100k_leads", |b| {
        b.iter(|| {
            for d in &docs {
                black_box(serde_json::from_str::<Lead>(d).unwrap());
            }
        })
    });
    g.bench_function("backtest_100k_leads", |b| {
        let cases: Vec<Case> = leads
            .iter()
            .zip(&acts)
            .enumerate()
            .map(|(i, (l, a))| Case {
                facts: Facts {
                    lead: Some(l),
                    ..Facts::default()
                },
                activities: a,
                outcome: [
                    None,
                    Some(SalesOutcome::Accepted),
                    Some(SalesOutcome::Rejected),
                    Some(SalesOutcome::Converted),
                ][i % 4],
                reason: (i % 4 == 2).then_some("no_budget"),
                at: NOW,
            })
            .collect();
        b.iter(|| black_box(backtest::run(&m, black_box(&cases))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
