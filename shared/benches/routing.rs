//! One routing decision against a 50-rule configuration and a 200-rep roster: segments, 49 rules
//! that do not match (country lists, size bands, scores, custom attributes), then a weighted
//! round-robin team of 200 reps with capacity, out-of-office and working hours in their own
//! time zones, its explanation serialised as the handler stores it. Baseline in the same run:
//! deserialising the lead from its stored JSON, which the handler does before every decision.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use revops::intake::lead::Lead;
use revops::routing::decide::{decide, Inputs};
use revops::routing::roster::{Load, Rep, Team};
use revops::routing::Config;
use revops::scoring::condition::{Facts, RoutingFacts};
use revops::Map;
use serde_json::{json, Value};

const NOW: i64 = 1_800_000_000_000;

fn config() -> Config {
    let mut rules: Vec<Value> = Vec::new();
    let countries = [
        "US", "CA", "GB", "IE", "FR", "ES", "IT", "NL", "BE", "SE", "NO", "DK", "FI", "PL",
    ];
    for i in 0..49 {
        let when = match i % 4 {
            0 => {
                json!({"all": [{"field": "country", "in": [countries[i % countries.len()], "MX"]}, {"field": "employees", "at_least": "1001-5000"}]})
            }
            1 => {
                json!({"any": [{"field": "score", "at_least": 500 + i}, {"field": "segment", "in": ["strategic"]}]})
            }
            2 => {
                json!({"all": [{"field": "custom.product", "equals": format!("p{i}")}, {"field": "industry", "in": ["banking", "insurance"]}]})
            }
            _ => {
                json!({"all": [{"field": "lead_source", "in": ["partner"]}, {"not": {"field": "company_domain", "present": false}}]})
            }
        };
        rules.push(
            json!({"id": format!("r{i}"), "when": when, "assign": {"queue": format!("q{i}")}}),
        );
    }
    rules.push(json!({"id": "dach", "when": {"all": [{"field": "country", "in": ["DE", "AT", "CH"]}, {"field": "score", "at_least": 50}]}, "assign": {"team": "big"}}));
    Config::parse(&json!({
        "name": "bench", "account_owner_first": true,
        "segments": [
            {"name": "strategic", "when": {"field": "employees", "at_least": "10001+"}},
            {"name": "enterprise", "when": {"field": "employees", "at_least": "1001-5000"}},
            {"name": "mid", "when": {"field": "employees", "at_least": "201-500"}}
        ],
        "rules": rules, "fallback": {"queue": "unrouted"}
    }))
    .unwrap()
}

fn roster() -> (Map<String, Rep>, Map<String, Team>, Map<String, Load>) {
    let zones = [
        "Europe/Berlin",
        "Europe/Vienna",
        "Europe/Zurich",
        "Europe/London",
    ];
    let mut reps = Map::default();
    let mut loads = Map::default();
    let mut members = Vec::new();
    for i in 0..200 {
        let id = format!("rep{i:03}");
        let mut doc = json!({"name": id, "capacity": {"max_open": 40, "max_per_day": 10},
            "working_hours": {"timezone": zones[i % zones.len()], "hours": {"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-17:00"}, "holidays": ["2027-01-01", "2027-12-24"]}});
        if i % 10 == 3 {
            doc["out_of_office_until"] = json!("2030-01-01T00:00:00Z");
        }
        reps.insert(id.clone(), Rep::parse(&id, &doc).unwrap());
        loads.insert(
            id.clone(),
            Load {
                open: (i % 45) as u32,
                today: (i % 7) as u32,
            },
        );
        members.push(json!({"rep": id, "weight": 1 + i % 5}));
    }
    let team = Team::parse("big", &json!({"name": "Big", "mode": "weighted_round_robin", "working_hours": "prefer", "members": members})).unwrap();
    (reps, Map::from_iter([("big".to_string(), team)]), loads)
}

fn lead_json() -> String {
    json!({
        "id": "lead_1", "email": "jo@acme-gmbh.de", "first_name": "Jo", "last_name": "Meyer",
        "company": "Acme GmbH", "company_domain": "acme-gmbh.de", "title": "VP Operations",
        "country": "DE", "employees": "1001-5000", "industry": "manufacturing", "lead_source": "webinar",
        "custom": {"product": "core", "seats": 120}, "created_at": NOW, "updated_at": NOW
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let config = config();
    let (reps, teams, loads) = roster();
    let stored = lead_json();
    let lead: Lead = serde_json::from_str(&stored).unwrap();
    let scores = RoutingFacts {
        score: Some(72.0),
        fit_score: Some(50.0),
        engagement_score: Some(22.0),
        stage: Some("mql".into()),
        segment: None,
    };
    let slots = Map::from_iter([("big".to_string(), 12_345u64)]);
    let run = |lead: &Lead| {
        let facts = Facts {
            lead: Some(lead),
            routing: Some(&scores),
            ..Default::default()
        };
        decide(&Inputs {
            config: &config,
            version: 3,
            facts: &facts,
            account: None,
            reps: &reps,
            teams: &teams,
            loads: &loads,
            now: NOW,
            slots: &slots,
            exclude: None,
            lost_race: &[],
        })
        .unwrap()
    };
    let d = run(&lead);
    assert_eq!(d.rule.as_deref(), Some("dach"));
    let text = d.explanation.to_json();
    assert_eq!(text, serde_json::to_string(&d.explanation).unwrap());
    eprintln!(
        "the explanation stored with this decision: {} bytes, {} candidates in full, {} eligible by id",
        text.len(),
        d.explanation.steps.iter().filter_map(|s| s.team.as_ref()).map(|t| t.candidates.len()).sum::<usize>(),
        d.explanation.steps.iter().filter_map(|s| s.team.as_ref()).map(|t| t.eligible.len()).sum::<usize>(),
    );
    let mut group = c.benchmark_group("routing");
    group.bench_function("baseline: deserialise the stored lead", |b| {
        b.iter(|| black_box(serde_json::from_str::<Lead>(black_box(&stored)).unwrap()))
    });
    // The decision as the handler stores it: its explanation serialised to JSON text.
    group.bench_function("one decision: 50 rules, 200 reps", |b| {
        b.iter(|| {
            let d = run(black_box(&lead));
            black_box(d.explanation.to_json())
        })
    });
    // The same decision without writing its explanation out: how much of the above is the
    // choice itself and how much the text stored with it.
    group.bench_function("one decision, explanation not written", |b| {
        b.iter(|| black_box(run(black_box(&lead)).explanation.steps.len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
