//! Handoff SLAs: first-touch deadlines in business time, and the escalation ladder that acts on
//! a missed one.
//!
//! A policy is versioned configuration:
//!
//! ```json
//! {
//!   "name": "Inbound SLA",
//!   "business_hours": {"timezone": "America/New_York", "hours": {"mon": "09:00-17:00", "fri": "09:00-17:00"}, "holidays": ["2026-12-25"]},
//!   "use_rep_hours": true,
//!   "qualifying_touches": ["call", "email", "meeting"],
//!   "tiers": [
//!     {"name": "hot", "when": {"field": "score", "at_least": 80}, "first_touch_minutes": 60, "follow_up_minutes": 1440},
//!     {"name": "standard", "first_touch_minutes": 1440}
//!   ],
//!   "ladder": [
//!     {"id": "warn", "action": "warn", "before_deadline_minutes": 15},
//!     {"id": "escalate", "action": "escalate", "after_deadline_minutes": 0, "via": ["task", "webhook"]},
//!     {"id": "reassign", "action": "reassign", "after_deadline_minutes": 60}
//!   ]
//! }
//! ```
//! Minutes are business minutes: in the owner's working hours and time zone when
//! `use_rep_hours` is set and the rep has them, otherwise in `business_hours`. The first tier
//! whose condition matches applies; the last tier has no condition, so every lead gets one. A
//! clock starts when a lead is assigned to a rep; the first qualifying touch stops it. Each
//! ladder step is due at a fixed instant computed when the clock starts; the cron runs each step
//! once, in order.

//!
//! The policy and its parser are in `policy`, a clock's deadlines and what stops it in `clock`,
//! the figures in `metrics`; everything is re-exported here.

mod clock;
mod metrics;
mod policy;

pub use clock::*;
pub use metrics::*;
pub use policy::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hours::Schedule;
    use crate::scoring::condition::Facts;
    use crate::time::{parse_rfc3339, MINUTE};
    use serde_json::json;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn policy() -> Policy {
        Policy::parse(&json!({
            "name": "test",
            "business_hours": {"timezone": "America/New_York", "hours": {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}, "holidays": ["2026-11-26"]},
            "tiers": [
                {"name": "hot", "when": {"field": "score", "at_least": 80}, "first_touch_minutes": 60, "follow_up_minutes": 480},
                {"name": "standard", "first_touch_minutes": 1440}
            ],
            "ladder": [
                {"id": "warn", "action": "warn", "before_deadline_minutes": 15},
                {"id": "escalate", "action": "escalate", "after_deadline_minutes": 0},
                {"id": "reassign", "action": "reassign", "after_deadline_minutes": 60}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_due_clock_ends_with_its_assignment_takes_its_next_step_or_idles() {
        let step = |id: &str, action: Action, due_at: i64| DueStep {
            id: id.into(),
            action,
            via: Vec::new(),
            due_at,
        };
        let steps = vec![
            step("warn", Action::Warn, 10),
            step("escalate", Action::Escalate, 20),
            step("reassign", Action::Reassign, 30),
        ];
        assert_eq!(next_move(false, &steps, 0, 15), Move::End);
        assert_eq!(
            next_move(true, &steps, 0, 15),
            Move::Take {
                step: &steps[0],
                next_due: Some(20),
                state: "running",
                ended_at: None
            }
        );
        assert_eq!(
            next_move(true, &steps, 1, 25),
            Move::Take {
                step: &steps[1],
                next_due: Some(30),
                state: "running",
                ended_at: None
            }
        );
        // A reassignment ends the clock at once, whatever follows it.
        assert_eq!(
            next_move(true, &steps, 2, 31),
            Move::Take {
                step: &steps[2],
                next_due: None,
                state: "reassigned",
                ended_at: Some(31)
            }
        );
        assert_eq!(next_move(true, &steps, 3, 40), Move::Idle);
    }

    #[test]
    fn reps_always_get_a_clock_and_queues_only_when_the_policy_names_them() {
        let p = policy();
        assert!(gets_clock(&p, Some("rep_a"), None));
        assert!(!gets_clock(&p, None, Some("unrouted")));
        assert!(!gets_clock(&p, None, None));
        let mut doc = json!({
            "name": "q", "business_hours": {"timezone": "UTC", "hours": {"mon": "09:00-17:00"}},
            "tiers": [{"name": "standard", "first_touch_minutes": 60}],
            "queues": [{"queue": "unrouted", "first_touch_minutes": 30}]
        });
        let q = Policy::parse(&doc).unwrap();
        assert!(gets_clock(&q, None, Some("unrouted")));
        assert!(!gets_clock(&q, None, Some("nurture")));
        doc["queues"][0]["queue"] = json!("*");
        assert!(gets_clock(
            &Policy::parse(&doc).unwrap(),
            None,
            Some("nurture")
        ));
    }

    #[test]
    fn a_counted_touch_after_the_start_stops_the_clock_met_or_late_with_its_follow_up() {
        let p = policy();
        // Monday 2026-11-23, 10:00 in New York; deadline an hour later.
        let (start, deadline) = (at("2026-11-23T15:00:00Z"), at("2026-11-23T16:00:00Z"));
        let follow_up = Some((&p.business_hours, 480));
        let met = touch_stops(
            &p,
            "call",
            at("2026-11-23T15:30:00Z"),
            start,
            deadline,
            follow_up,
        )
        .unwrap();
        assert_eq!(met.state, "met");
        // 480 business minutes after 10:30 on a 09:00-17:00 day: 6h30 today, 1h30 tomorrow.
        assert_eq!(met.follow_up_due_at, Some(at("2026-11-24T15:30:00Z")));
        let late = touch_stops(
            &p,
            "email",
            at("2026-11-23T16:00:01Z"),
            start,
            deadline,
            None,
        )
        .unwrap();
        assert_eq!((late.state, late.follow_up_due_at), ("late", None));
        // Not a counted kind of touch; or a touch before this clock started (an earlier owner's).
        assert_eq!(touch_stops(&p, "sms", start, start, deadline, None), None);
        assert_eq!(
            touch_stops(&p, "call", start - 1, start, deadline, None),
            None
        );
    }

    #[test]
    fn queues_get_deadlines_and_ladders_without_reassignment() {
        let mut doc = serde_json::to_value(json!({
            "name": "q", "business_hours": {"timezone": "UTC", "hours": {"mon": "09:00-17:00"}},
            "tiers": [{"name": "standard", "first_touch_minutes": 60}],
            "escalation_owner": "rep_head_of_sales",
            "queues": [
                {"queue": "unrouted", "first_touch_minutes": 30, "ladder": [{"id": "escalate", "action": "escalate", "after_deadline_minutes": 0}]},
                {"queue": "*", "first_touch_minutes": 240}
            ]
        }))
        .unwrap();
        let p = Policy::parse(&doc).unwrap();
        assert_eq!(p.escalation_owner.as_deref(), Some("rep_head_of_sales"));
        assert_eq!(p.queue_tier("unrouted").unwrap().first_touch_minutes, 30);
        assert_eq!(p.queue_tier("nurture").unwrap().queue, "*");
        // Monday 09:00 UTC: 30 business minutes.
        let c = start_queue(
            &p,
            p.queue_tier("unrouted").unwrap(),
            at("2026-11-23T09:00:00Z"),
        )
        .unwrap();
        assert_eq!(c.tier, "queue:unrouted");
        assert_eq!(c.deadline_at, at("2026-11-23T09:30:00Z"));
        assert_eq!(c.steps[0].action, Action::Escalate);
        // A queue lead is moved on by a rep claiming it, not reassigned by the ladder.
        doc["queues"][0]["ladder"] =
            json!([{"id": "move", "action": "reassign", "after_deadline_minutes": 10}]);
        doc["queues"][1]["queue"] = json!("unrouted");
        let errors = Policy::parse(&doc).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["queues[0].ladder[0].action", "queues[1].queue"],
            "{errors:?}"
        );
        // No queues: a queue lead gets no clock.
        assert!(policy().queue_tier("unrouted").is_none());
    }

    #[test]
    fn a_claim_meets_or_misses_the_queue_deadline_and_other_clocks_just_end() {
        assert_eq!(superseded(true, 100, true, 100), ("met", Some(100)));
        assert_eq!(superseded(true, 100, true, 101), ("late", Some(101)));
        assert_eq!(superseded(true, 100, false, 50), ("ended", None));
        assert_eq!(superseded(false, 100, true, 50), ("ended", None));
    }

    #[test]
    fn an_escalation_task_always_has_an_assignee() {
        assert_eq!(
            escalation_assignee(Some("mgr"), Some("lead"), Some("owner")),
            ("mgr".to_string(), "manager")
        );
        assert_eq!(
            escalation_assignee(None, Some("lead"), Some("owner")),
            ("lead".to_string(), "team_lead")
        );
        assert_eq!(
            escalation_assignee(Some(" "), None, Some("owner")),
            ("owner".to_string(), "escalation_owner")
        );
        assert_eq!(
            escalation_assignee(None, None, None),
            (DEFAULT_ESCALATION_OWNER.to_string(), "default")
        );
    }

    #[test]
    fn builtin_parses() {
        let p = Policy::parse(&serde_json::from_str(BUILTIN).unwrap()).unwrap();
        assert_eq!(p.tiers.len(), 1);
        assert_eq!(p.ladder[1].via, vec![Via::Task, Via::Webhook]);
    }

    #[test]
    fn tiers_by_score_with_a_default() {
        let p = policy();
        let hot = crate::scoring::condition::RoutingFacts {
            score: Some(85.0),
            ..Default::default()
        };
        let cold = crate::scoring::condition::RoutingFacts {
            score: Some(20.0),
            ..Default::default()
        };
        assert_eq!(
            p.tier(&Facts {
                routing: Some(&hot),
                ..Default::default()
            })
            .name,
            "hot"
        );
        assert_eq!(
            p.tier(&Facts {
                routing: Some(&cold),
                ..Default::default()
            })
            .name,
            "standard"
        );
        assert_eq!(p.tier(&Facts::default()).name, "standard");
        assert!(p.qualifies("call") && !p.qualifies("status_change"));
    }

    #[test]
    fn the_ladder_is_placed_in_business_time() {
        let p = policy();
        let hot = &p.tiers[0];
        // Assigned Friday 16:30 New York (21:30Z): one business hour runs to Monday 09:30.
        let c = start(&p, hot, &p.business_hours, at("2026-11-20T21:30:00Z")).unwrap();
        assert_eq!(c.deadline_at, at("2026-11-23T14:30:00Z"));
        let due: Vec<(String, i64)> = c.steps.iter().map(|s| (s.id.clone(), s.due_at)).collect();
        assert_eq!(
            due,
            vec![
                // 45 business minutes in: 16:30–17:00 Friday, then 09:00–09:15 Monday.
                ("warn".into(), at("2026-11-23T14:15:00Z")),
                ("escalate".into(), at("2026-11-23T14:30:00Z")),
                ("reassign".into(), at("2026-11-23T15:30:00Z")),
            ]
        );
        assert_eq!(next_due(&c.steps, 1), Some(at("2026-11-23T14:30:00Z")));
        assert_eq!(next_due(&c.steps, 3), None);
        // Thanksgiving (Thursday 26th) is a holiday: 24 business hours from Wednesday 09:00
        // run Wednesday, Friday and Monday.
        let c = start(
            &p,
            &p.tiers[1],
            &p.business_hours,
            at("2026-11-25T14:00:00Z"),
        )
        .unwrap();
        assert_eq!(c.deadline_at, at("2026-11-30T22:00:00Z"));
        // A warning longer before the deadline than the tier allows is due at the start.
        let p2 = Policy::parse(&json!({"name": "x", "business_hours": {"timezone": "UTC", "hours": {"mon": "00:00-24:00"}},
            "tiers": [{"name": "t", "first_touch_minutes": 10}], "ladder": [{"id": "w", "action": "warn", "before_deadline_minutes": 30}]})).unwrap();
        let monday = at("2026-11-23T12:00:00Z");
        assert_eq!(
            start(&p2, &p2.tiers[0], &p2.business_hours, monday)
                .unwrap()
                .steps[0]
                .due_at,
            monday
        );
    }

    #[test]
    fn the_owners_hours_count_when_the_policy_says_so() {
        let p = policy();
        let tokyo = Schedule::parse(&json!({"timezone": "Asia/Tokyo", "hours": {"mon": "09:00-18:00", "tue": "09:00-18:00"}})).unwrap();
        assert_eq!(p.schedule(Some(&tokyo)).tz.name(), "Asia/Tokyo");
        assert_eq!(p.schedule(None).tz.name(), "America/New_York");
        let c = start(
            &p,
            &p.tiers[0],
            p.schedule(Some(&tokyo)),
            at("2026-11-23T08:30:00Z"),
        )
        .unwrap();
        // Monday 17:30 Tokyo: 30 minutes today, 30 on Tuesday from 09:00.
        assert_eq!(c.deadline_at, at("2026-11-24T00:30:00Z"));
        let mut no_rep = policy();
        no_rep.use_rep_hours = false;
        assert_eq!(no_rep.schedule(Some(&tokyo)).tz.name(), "America/New_York");
    }

    #[test]
    fn policies_are_validated_with_paths() {
        let errors = Policy::parse(&json!({
            "name": "",
            "business_hours": {"timezone": "Nowhere/Else", "hours": {"mon": "09:00-17:00"}},
            "qualifying_touches": ["carrier_pigeon"],
            "tiers": [
                {"name": "hot", "first_touch_minutes": 0},
                {"name": "rest", "when": {"field": "score", "at_least": 1}, "first_touch_minutes": 60}
            ],
            "ladder": [
                {"id": "r", "action": "reassign", "after_deadline_minutes": 10},
                {"id": "w", "action": "warn", "before_deadline_minutes": 5},
                {"id": "x", "action": "shout", "after_deadline_minutes": 1, "before_deadline_minutes": 1}
            ]
        }))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "name",
            "business_hours.timezone",
            "qualifying_touches",
            "tiers[0].when",
            "tiers[0].first_touch_minutes",
            "tiers[1].when",
            "ladder[1]",
            "ladder[2].action",
            "ladder[2]",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn standing_and_percentiles() {
        let d = 100 * MINUTE;
        assert_eq!(standing(d, Some(d), None, 0), Standing::Met);
        assert_eq!(standing(d, Some(d + 1), None, 0), Standing::Breached);
        assert_eq!(standing(d, None, None, d), Standing::Breached);
        assert_eq!(standing(d, None, None, d - 1), Standing::Pending);
        assert_eq!(standing(d, None, Some(d - 5), d + 10), Standing::Ended);
        assert_eq!(standing(d, None, Some(d + 5), d + 10), Standing::Breached);
        assert_eq!(standing(d, None, Some(d + 5), 0), Standing::Breached);
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 90.0), Some(9));
        assert_eq!(percentile(&[7], 90.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn tallies_add_up() {
        let mut t = Tally::default();
        let d = 60 * MINUTE;
        t.add_clock(0, d, Some(10 * MINUTE), None, 2 * d); // met in 10 min
        t.add_clock(0, d, Some(90 * MINUTE), None, 2 * d); // late
        t.add_clock(0, d, None, None, 2 * d); // breached, untouched
        t.add_clock(0, 3 * d, None, None, 2 * d); // pending
        t.add_clock(0, d, None, Some(5 * MINUTE), 2 * d); // moved away in time
        t.add_follow_up(Some(100), Some(90), 200);
        t.add_follow_up(Some(100), Some(110), 200);
        t.add_follow_up(Some(100), None, 200);
        t.add_follow_up(Some(300), None, 200);
        t.add_follow_up(None, None, 200);
        t.add_outcome("accepted", None);
        t.add_outcome("rejected", Some("no_budget"));
        t.add_outcome("rejected", Some("no_budget"));
        t.add_outcome("converted", None);
        let v = t.to_json();
        assert_eq!(v["assigned"], 5);
        assert_eq!(
            (
                v["touched_within_sla"].clone(),
                v["breached"].clone(),
                v["pending"].clone(),
                v["ended_before_deadline"].clone()
            ),
            (json!(1), json!(2), json!(1), json!(1))
        );
        assert_eq!(v["median_minutes_to_first_touch"], 10.0);
        assert_eq!(v["p90_minutes_to_first_touch"], 90.0);
        assert_eq!(v["within_sla_rate"], 0.333);
        assert_eq!(v["mql_outcomes"]["acceptance_rate"], 0.333);
        assert_eq!(v["mql_outcomes"]["rejection_reasons"]["no_budget"], 2);
        assert_eq!(
            v["follow_ups"],
            json!({"met": 1, "missed": 2, "pending": 1})
        );
    }
}
