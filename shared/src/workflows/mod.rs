//! Automation workflows and lists: "if this happens, then do that", exactly once, versioned,
//! dry-run first, and every step explained.
//!
//! - [`doc`]: the workflow document (trigger, condition, steps, enrolment policy) and its checks;
//! - [`events`]: what happens to a lead, as the handlers announce it;
//! - [`run`]: whether an event enrols a lead, and what an enrolment's steps do until it waits
//!   or ends, with a reason for each; the dry run;
//! - [`lists`]: static and dynamic lists;
//! - [`activity`]: how each workflow has been doing over the last days.

pub mod activity;
pub mod doc;
pub mod events;
pub mod lists;
pub mod run;

/// The built-in workflow for bounces: today's hard-wired behaviour as a document anyone can
/// read and extend. The consent handler suppresses the address itself the moment the bounce
/// arrives (a legal duty that does not wait for the cron, nor stop when a workflow is paused);
/// this workflow flags the lead and puts it on the suppression list operators work from.
/// The built-in bounce workflow's id, and its "Email suppression" list's (both seeded by
/// migration 0015).
pub const BOUNCE_WORKFLOW: &str = "wf_000000000000000000000bnced";
pub const BOUNCE_LIST: &str = "list_000000000000000000000bnced";

pub fn bounce_workflow(list_id: &str) -> serde_json::Value {
    serde_json::json!({
        "name": "Email bounced",
        "trigger": { "event": "email.bounced" },
        "steps": [
            { "id": "flag", "action": "set_field", "field": "custom.email_deliverable", "value": false },
            { "id": "suppression_list", "action": "add_to_list", "list": list_id }
        ],
        "enrolment": { "once": false, "again_after_days": 0 }
    })
}

#[cfg(test)]
mod tests {
    use super::doc::*;
    use super::events::*;
    use super::run::*;
    use crate::consent::{Snapshot, TopicState, TopicsConfig};
    use crate::intake::lead::Lead;
    use serde_json::{json, Value};

    const FORM: &str = "form_0000000000000000000000000a";
    const LIST: &str = "list_0000000000000000000000000a";
    const OTHER: &str = "list_0000000000000000000000000b";
    const ENDPOINT: &str = "whe_0000000000000000000000000a";
    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_780_000_000_000;

    fn wf(doc: Value) -> Workflow {
        Workflow::parse(&doc).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn errors(doc: Value) -> Vec<(String, String)> {
        Workflow::parse(&doc)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.reason))
            .collect()
    }

    fn lead() -> LeadState {
        let l = Lead {
            id: "lead_1".into(),
            email: "ada@example.com".into(),
            first_name: Some("Ada".into()),
            company: Some("Analytical".into()),
            country: Some("GB".into()),
            created_at: T0,
            updated_at: T0,
            ..Lead::default()
        };
        LeadState {
            lead: l,
            routing: Default::default(),
            lists: Vec::new(),
            consent: Snapshot::default(),
            existing_customer: false,
            owner: Some(Owner {
                assignment_id: "asg_1".into(),
                rep_id: "rep_ann".into(),
                name: Some("Ann".into()),
                email: Some("ann@example.com".into()),
                manager: None,
            }),
        }
    }

    fn topics() -> TopicsConfig {
        serde_json::from_value::<TopicsConfig>(json!({"topics": [
            {"id": "events", "name": "Events", "channel": "email", "basis": "consent"},
            {"id": "product", "name": "Product", "channel": "email", "basis": "legitimate_interest"}
        ]}))
        .unwrap()
        .validate()
        .unwrap()
    }

    fn submitted(at: i64) -> Event {
        Event::new(
            EventType::FormSubmitted,
            &format!("sub_{at}"),
            "lead_1",
            at,
            json!({"form_id": FORM}),
        )
    }

    fn registration() -> Workflow {
        wf(json!({
            "name": "Event registration",
            "trigger": {"event": "form.submitted", "form": FORM},
            "steps": [
                {"id": "registrants", "action": "add_to_list", "list": LIST},
                {"id": "confirm", "action": "request_email", "template": "event-confirmation", "topic": "events"}
            ],
            "enrolment": {"once": true}
        }))
    }

    fn run_all(w: &Workflow, lead: &mut LeadState, now: i64) -> Pass {
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: w,
        };
        let t = topics();
        let endpoints = vec![ENDPOINT.to_string()];
        let scene = Scene {
            workflow: &p,
            enrolment_id: "wfe_1",
            topics: &t,
            endpoints: &endpoints,
            now,
        };
        advance(&scene, lead, 0)
    }

    #[test]
    fn a_workflow_document_is_parsed_with_its_steps() {
        let w = registration();
        assert_eq!(w.name, "Event registration");
        assert_eq!(w.trigger.form.as_deref(), Some(FORM));
        assert_eq!(w.enrolment, Enrolment::Once);
        assert_eq!(w.steps[0].action, Action::AddToList(LIST.into()));
    }

    #[test]
    fn mistakes_are_named_where_they_are() {
        let e = errors(
            json!({"name": "x", "trigger": {"event": "form.sent"}, "steps": [{"id": "a", "action": "stop"}]}),
        );
        assert_eq!(e[0].0, "workflow.trigger.event");
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [{"id": "a", "action": "add_to_list", "list": "nope"}]}),
        );
        assert_eq!(e[0].0, "workflow.steps[0].list");
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [{"id": "a", "action": "wait", "for": "3 days"}]}),
        );
        assert_eq!(e[0].0, "workflow.steps[0].for");
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [
            {"id": "a", "action": "stop"}, {"id": "a", "action": "stop"}]}),
        );
        assert_eq!(
            e[0],
            (
                "workflow.steps[1].id".into(),
                "`a` is the id of an earlier step".into()
            )
        );
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [{"id": "a", "action": "stop", "list": LIST}]}),
        );
        assert_eq!(e[0].0, "workflow.steps[0].list");
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [], "extra": 1}),
        );
        assert_eq!(e[0].0, "workflow.extra");
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [{"id": "a", "action": "stop"}], "enrolment": {"once": false}}),
        );
        assert_eq!(e[0].0, "workflow.enrolment.again_after_days");
    }

    #[test]
    fn a_branch_only_goes_forward_to_a_step_that_exists() {
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [
            {"id": "a", "action": "stop"},
            {"id": "b", "action": "branch", "when": {"field": "country", "in": ["DE"]}, "then": "a"}]}),
        );
        assert_eq!(e[0].0, "workflow.steps[1].then");
        assert!(e[0].1.contains("only goes forward"), "{e:?}");
        let e = errors(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [
            {"id": "b", "action": "branch", "when": {"field": "country", "in": ["DE"]}, "else": "zz"}]}),
        );
        assert_eq!(e[0].1, "no step has the id `zz`");
    }

    #[test]
    fn durations_read_units_and_signs() {
        assert_eq!(duration(&json!("14d"), false), Ok(14 * DAY));
        assert_eq!(duration(&json!("-3d"), true), Ok(-3 * DAY));
        assert_eq!(duration(&json!("90m"), false), Ok(90 * 60_000));
        assert_eq!(duration(&json!("2w"), false), Ok(14 * DAY));
        assert!(duration(&json!("-3d"), false).is_err());
        assert!(duration(&json!("0d"), false).is_err());
        assert!(duration(&json!("3y"), false).is_err());
        assert!(
            duration(&json!(" 3d"), false).is_err(),
            "exactly as the schema's pattern"
        );
        assert!(duration(&json!("03d"), false).is_err());
        assert!(duration(&json!("+3d"), false).is_err());
        assert!(duration(&json!("10000d"), false).is_err());
        assert!(duration(&json!(3), false).is_err());
    }

    #[test]
    fn triggers_match_their_own_events_only() {
        let w = registration();
        assert!(w.trigger.matches(&submitted(T0)));
        let other = Event::new(
            EventType::FormSubmitted,
            "sub_x",
            "lead_1",
            T0,
            json!({"form_id": "form_other"}),
        );
        assert!(!w.trigger.matches(&other));
        let created = Event::new(EventType::LeadCreated, "lead_1", "lead_1", T0, json!({}));
        assert!(!w.trigger.matches(&created));

        let trial = wf(
            json!({"name": "t", "trigger": {"event": "activity.recorded", "type": "trial_signup", "where": {"property": "plan", "in": ["Pro"]}},
            "steps": [{"id": "a", "action": "stop"}]}),
        );
        let act = |props: Value| {
            Event::new(
                EventType::ActivityRecorded,
                "act_1",
                "lead_1",
                T0,
                json!({"type": "trial_signup", "properties": props}),
            )
        };
        assert!(trial
            .trigger
            .matches(&act(json!({"plan": "pro", "seats": 3}))));
        assert!(!trial.trigger.matches(&act(json!({"plan": "free"}))));
        assert!(!trial.trigger.matches(&act(json!({}))));

        let crossed = wf(
            json!({"name": "s", "trigger": {"event": "score.changed", "crossed": 50}, "steps": [{"id": "a", "action": "stop"}]}),
        );
        let score = |from: f64, to: f64| {
            Event::new(
                EventType::ScoreChanged,
                "x",
                "lead_1",
                T0,
                json!({"from": from, "to": to}),
            )
        };
        assert!(crossed.trigger.matches(&score(40.0, 55.0)));
        assert!(
            !crossed.trigger.matches(&score(55.0, 60.0)),
            "already above: not a crossing"
        );
        assert!(
            !crossed.trigger.matches(&score(60.0, 40.0)),
            "downwards is not a crossing"
        );

        let stage = wf(
            json!({"name": "s", "trigger": {"event": "stage.changed", "to": "mql"}, "steps": [{"id": "a", "action": "stop"}]}),
        );
        let moved = |to: &str| {
            Event::new(
                EventType::StageChanged,
                "trn_1",
                "lead_1",
                T0,
                json!({"from": "new", "to": to}),
            )
        };
        assert!(stage.trigger.matches(&moved("mql")));
        assert!(!stage.trigger.matches(&moved("sql")));
    }

    #[test]
    fn a_lead_enrols_once_unless_re_enrolment_is_allowed_after_its_days() {
        let w = registration();
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: &w,
        };
        assert_eq!(enrol(&p, &submitted(T0), &lead(), None), Some(Enrol::Yes));
        let Some(Enrol::No(why)) = enrol(&p, &submitted(T0 + DAY), &lead(), Some(T0)) else {
            panic!()
        };
        assert!(why.contains("enrols a lead once"), "{why}");

        let again = wf(
            json!({"name": "x", "trigger": {"event": "form.submitted"}, "steps": [{"id": "a", "action": "stop"}],
            "enrolment": {"once": false, "again_after_days": 30}}),
        );
        let p = Published {
            id: "wf_b",
            version: 1,
            doc: &again,
        };
        let Some(Enrol::No(why)) = enrol(&p, &submitted(T0 + 29 * DAY), &lead(), Some(T0)) else {
            panic!()
        };
        assert!(why.contains("may enrol again from"), "{why}");
        assert_eq!(
            enrol(&p, &submitted(T0 + 30 * DAY), &lead(), Some(T0)),
            Some(Enrol::Yes)
        );
    }

    #[test]
    fn the_condition_decides_and_says_so() {
        let w = wf(
            json!({"name": "x", "trigger": {"event": "form.submitted"}, "when": {"field": "country", "in": ["DE"]},
            "steps": [{"id": "a", "action": "stop"}]}),
        );
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: &w,
        };
        assert!(
            matches!(enrol(&p, &submitted(T0), &lead(), None), Some(Enrol::No(r)) if r.contains("condition"))
        );
        let mut german = lead();
        german.lead.country = Some("DE".into());
        assert_eq!(enrol(&p, &submitted(T0), &german, None), Some(Enrol::Yes));
    }

    #[test]
    fn a_workflow_never_triggers_itself_and_chains_stop_at_the_depth_limit() {
        let w = registration();
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: &w,
        };
        let own = submitted(T0).caused_by(Cause {
            chain: vec!["wf_b".into(), "wf_a".into()],
        });
        let Some(Enrol::No(why)) = enrol(&p, &own, &lead(), None) else {
            panic!()
        };
        assert!(why.contains("wf_b → wf_a → wf_a"), "{why}");
        let deep = submitted(T0).caused_by(Cause {
            chain: vec!["wf_x".into(), "wf_y".into(), "wf_z".into()],
        });
        let Some(Enrol::No(why)) = enrol(&p, &deep, &lead(), None) else {
            panic!()
        };
        assert!(why.contains("chains stop at 3"), "{why}");
        let shallow = submitted(T0).caused_by(Cause {
            chain: vec!["wf_x".into()],
        });
        assert_eq!(enrol(&p, &shallow, &lead(), None), Some(Enrol::Yes));
    }

    #[test]
    fn an_email_is_requested_only_when_consent_allows() {
        let w = registration();
        let mut l = lead();
        let pass = run_all(&w, &mut l, T0);
        assert_eq!(pass.steps[0].outcome, Outcome::Taken);
        assert_eq!(
            pass.steps[0].effect,
            Some(super::run::Effect::ListAdd(LIST.into()))
        );
        assert_eq!(
            pass.steps[1].outcome,
            Outcome::Skipped,
            "no opt-in recorded for a consent topic"
        );
        assert!(
            pass.steps[1].reason.contains("no opt-in"),
            "{}",
            pass.steps[1].reason
        );
        let mut l = lead();
        l.consent
            .topics
            .insert("events".into(), TopicState::OptedIn);
        let pass = run_all(&w, &mut l, T0);
        assert!(matches!(
            pass.steps[1].effect,
            Some(super::run::Effect::Email { .. })
        ));
        l.consent.suppressed = Some(crate::consent::SuppressionReason::HardBounce);
        let pass = run_all(&w, &mut lead_with(l.consent.clone()), T0);
        assert_eq!(pass.steps[1].outcome, Outcome::Skipped);
        assert!(pass.steps[1].reason.contains("suppressed"));
        assert_eq!(
            pass.next,
            Next::Done {
                reason: "every step is done".into()
            }
        );
    }

    fn lead_with(consent: Snapshot) -> LeadState {
        LeadState { consent, ..lead() }
    }

    fn trial() -> Workflow {
        wf(json!({
            "name": "Free trial",
            "trigger": {"event": "activity.recorded", "type": "trial_signup"},
            "steps": [
                {"id": "trial_list", "action": "add_to_list", "list": LIST},
                {"id": "points", "action": "record_activity", "type": "custom:trial_started", "properties": {"plan": "{{lead.custom.plan}}"}},
                {"id": "ends", "action": "set_field", "field": "custom.trial_ends_at", "now_plus": "14d"},
                {"id": "account", "action": "webhook", "endpoint": ENDPOINT, "body": {"email": "{{lead.email}}", "trial_ends_at": "{{lead.custom.trial_ends_at}}", "note": "for {{lead.first_name}}"}},
                {"id": "tell", "action": "notify_owner", "message": "{{lead.email}} started a trial"},
                {"id": "nearly", "action": "wait", "until": "custom.trial_ends_at", "offset": "-3d"},
                {"id": "converted", "action": "branch", "when": {"field": "stage", "in": ["customer"]}, "then": "end"},
                {"id": "task", "action": "create_task", "for": "owner", "title": "Trial of {{lead.email}} ends in 3 days"},
                {"id": "end", "action": "stop"}
            ]
        }))
    }

    #[test]
    fn the_trial_workflow_waits_for_its_date_then_creates_the_owners_task() {
        let w = trial();
        let mut l = lead();
        l.lead.custom.insert("plan".into(), json!("pro"));
        let pass = run_all(&w, &mut l, T0);
        let ids: Vec<&str> = pass.steps.iter().map(|s| s.step_id.as_str()).collect();
        assert_eq!(
            ids,
            ["trial_list", "points", "ends", "account", "tell", "nearly"]
        );
        let ends = crate::time::rfc3339(T0 + 14 * DAY);
        let Some(super::run::Effect::Webhook { body, .. }) = &pass.steps[3].effect else {
            panic!()
        };
        assert_eq!(
            body,
            &json!({"email": "ada@example.com", "trial_ends_at": ends, "note": "for Ada"})
        );
        let Some(super::run::Effect::Lead(LeadChange::Activity { properties, .. })) =
            &pass.steps[1].effect
        else {
            panic!()
        };
        assert_eq!(properties, &json!({"plan": "pro"}));
        assert_eq!(
            pass.next,
            Next::Wait {
                at: 6,
                due_at: T0 + 11 * DAY
            }
        );

        // Eleven days on, not converted: the task, for the owner.
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: &w,
        };
        let t = topics();
        let endpoints = vec![ENDPOINT.to_string()];
        let scene = Scene {
            workflow: &p,
            enrolment_id: "wfe_1",
            topics: &t,
            endpoints: &endpoints,
            now: T0 + 11 * DAY,
        };
        let later = advance(&scene, &mut l, 6);
        assert_eq!(
            later.steps[0].reason,
            "the condition does not hold: going on with the next step"
        );
        let Some(super::run::Effect::Task {
            assignee, title, ..
        }) = &later.steps[1].effect
        else {
            panic!()
        };
        assert_eq!(assignee.as_deref(), Some("rep_ann"));
        assert_eq!(title, "Trial of ada@example.com ends in 3 days");

        // Converted: the branch skips the task, and says so.
        l.routing.stage = Some("customer".into());
        let converted = advance(&scene, &mut l, 6);
        assert_eq!(converted.steps[1].step_id, "task");
        assert_eq!(converted.steps[1].outcome, Outcome::Skipped);
        assert_eq!(converted.steps[1].reason, "branch converted went on at end");
        assert_eq!(
            converted.next,
            Next::Done {
                reason: "stopped at step end".into()
            }
        );
    }

    #[test]
    fn a_failed_step_does_not_stop_the_next_and_the_end_names_it() {
        let w = wf(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [
            {"id": "call", "action": "webhook", "endpoint": ENDPOINT, "body": {}},
            {"id": "tag", "action": "set_field", "field": "custom.tagged", "value": true}]}),
        );
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: &w,
        };
        let t = topics();
        let scene = |endpoints: &'static [String]| Scene {
            workflow: &p,
            enrolment_id: "wfe_1",
            topics: &t,
            endpoints,
            now: T0,
        };
        let pass = advance(&scene(&[]), &mut lead(), 0);
        let outcomes: Vec<Outcome> = pass.steps.iter().map(|s| s.outcome).collect();
        assert_eq!(outcomes, [Outcome::Failed, Outcome::Taken]);
        assert!(
            matches!(&pass.next, Next::Done { reason } if reason == "every step is done, though step call failed"),
            "{:?}",
            pass.next
        );
        static REGISTERED: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec![ENDPOINT.to_string()]);
        let pass = advance(&scene(REGISTERED.as_slice()), &mut lead(), 0);
        assert!(matches!(&pass.next, Next::Done { reason } if reason == "every step is done"));
    }

    #[test]
    fn steps_without_what_they_need_are_skipped_or_failed_with_the_reason() {
        let w = trial();
        let mut l = lead();
        l.owner = None;
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: &w,
        };
        let t = topics();
        let scene = Scene {
            workflow: &p,
            enrolment_id: "wfe_1",
            topics: &t,
            endpoints: &[],
            now: T0,
        };
        let pass = advance(&scene, &mut l, 0);
        assert_eq!(pass.steps[3].outcome, Outcome::Failed);
        assert!(pass.steps[3].reason.contains("not registered"));
        assert_eq!(pass.steps[4].outcome, Outcome::Skipped);
        assert_eq!(pass.steps[4].reason, "the lead has no owner to notify");

        let waits = wf(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [
            {"id": "w", "action": "wait", "until": "custom.renewal"}, {"id": "s", "action": "stop"}]}),
        );
        let p = Published {
            id: "wf_a",
            version: 1,
            doc: &waits,
        };
        let scene = Scene {
            workflow: &p,
            enrolment_id: "wfe_1",
            topics: &t,
            endpoints: &[],
            now: T0,
        };
        let pass = advance(&scene, &mut lead(), 0);
        assert_eq!(pass.steps[0].outcome, Outcome::Failed);
        assert!(
            matches!(pass.next, Next::Done { reason } if reason.contains("does not hold a date"))
        );
        let mut past = lead();
        past.lead
            .custom
            .insert("renewal".into(), json!("2020-01-01"));
        let pass = advance(&scene, &mut past, 0);
        assert_eq!(
            pass.steps[0].outcome,
            Outcome::Skipped,
            "a date already passed does not wait"
        );
    }

    #[test]
    fn list_steps_see_what_earlier_steps_did() {
        let w = wf(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [
            {"id": "a", "action": "add_to_list", "list": LIST},
            {"id": "b", "action": "branch", "when": {"list": LIST}, "then": "d"},
            {"id": "c", "action": "add_to_list", "list": OTHER},
            {"id": "d", "action": "add_to_list", "list": LIST},
            {"id": "e", "action": "remove_from_list", "list": OTHER}]}),
        );
        let mut l = lead();
        let pass = run_all(&w, &mut l, T0);
        let outcomes: Vec<(&str, Outcome)> = pass
            .steps
            .iter()
            .map(|s| (s.step_id.as_str(), s.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("a", Outcome::Taken),
                ("b", Outcome::Taken),
                ("c", Outcome::Skipped),
                ("d", Outcome::Skipped),
                ("e", Outcome::Skipped)
            ]
        );
        assert_eq!(l.lists, [LIST]);
    }

    #[test]
    fn templates_keep_types_for_whole_placeholders_and_render_text_otherwise() {
        let scope = json!({"lead": {"email": "a@b.c", "custom": {"seats": 5}}, "owner": null});
        assert_eq!(
            render(
                &json!({"n": "{{ lead.custom.seats }}", "t": "seats: {{lead.custom.seats}}", "o": "{{owner.name}}", "x": [1, "{{lead.email}}"]}),
                &scope
            ),
            json!({"n": 5, "t": "seats: 5", "o": null, "x": [1, "a@b.c"]})
        );
        assert_eq!(render_text("hi {{lead.nope}}!{{", &scope), "hi !{{");
    }

    #[test]
    fn a_dry_run_replays_events_without_side_effects_and_counts_what_it_would_request() {
        let w = registration();
        let p = Published {
            id: "wf_a",
            version: 2,
            doc: &w,
        };
        let mut opted = lead();
        opted
            .consent
            .topics
            .insert("events".into(), TopicState::OptedIn);
        let mut other = lead();
        other.lead.id = "lead_2".into();
        let second = Event {
            lead_id: "lead_2".into(),
            ..submitted(T0 + 1)
        };
        let events = vec![
            (submitted(T0), opted.clone()),
            (submitted(T0 + DAY), opted),
            (second, other),
        ];
        let runs = dry_run(&p, &events, &Default::default(), &topics(), &[]);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].decision, Enrol::Yes);
        assert!(
            matches!(&runs[1].decision, Enrol::No(r) if r.contains("once")),
            "the same lead's second event"
        );
        let totals = rehearsal_totals(&runs);
        assert_eq!(totals["enrolments"], 2);
        assert_eq!(totals["emails"], 1, "lead_2 has not opted in");
        assert_eq!(totals["not_enrolled"], 1);
    }

    #[test]
    fn dynamic_lists_reconcile_and_exports_are_safe_csv() {
        use super::lists::*;
        let def = ListDef::parse(
            &json!({"name": "UK", "kind": "dynamic", "when": {"field": "country", "in": ["GB"]}}),
        )
        .unwrap();
        let Kind::Dynamic(c) = &def.kind else {
            panic!()
        };
        assert_eq!(reconcile(c, &lead(), false), Some(Change::Join));
        assert_eq!(reconcile(c, &lead(), true), None);
        let mut de = lead();
        de.lead.country = Some("DE".into());
        assert_eq!(reconcile(c, &de, true), Some(Change::Leave));
        assert!(ListDef::parse(&json!({"name": "x", "kind": "dynamic"})).is_err());
        assert!(ListDef::parse(&json!({"name": "x", "kind": "static", "when": {}})).is_err());
        assert!(
            ListDef::parse(&json!({"name": "x", "kind": "dynamic", "when": {"list": LIST}}))
                .is_err()
        );
        assert_eq!(
            csv_row(&["a@b.c", "=SUM(A1)", "x,y", "say \"hi\""]),
            "a@b.c,'=SUM(A1),\"x,y\",\"say \"\"hi\"\"\"\r\n"
        );
    }

    #[test]
    fn the_bounce_workflow_is_a_valid_document_and_the_one_the_migration_seeds() {
        let w = wf(super::bounce_workflow(super::BOUNCE_LIST));
        assert_eq!(w.trigger.event, EventType::EmailBounced);
        assert_eq!(w.enrolment, Enrolment::AgainAfter(0));
        assert!(crate::ids::is_id(
            crate::ids::prefix::WORKFLOW,
            super::BOUNCE_WORKFLOW
        ));
        assert!(crate::ids::is_id(
            crate::ids::prefix::LIST,
            super::BOUNCE_LIST
        ));
        let sql = include_str!("../../../migrations/0015_workflows.sql");
        let seeded = sql
            .split('\'')
            .find(|s| s.starts_with("{\"name\":\"Email bounced\""))
            .expect("the migration seeds the bounce workflow");
        let seeded: Value = serde_json::from_str(seeded).unwrap();
        assert_eq!(seeded, super::bounce_workflow(super::BOUNCE_LIST));
    }

    #[test]
    fn list_conditions_are_refused_outside_workflows() {
        let c = json!({"list": LIST});
        assert!(crate::scoring::condition::Condition::parse(&c, "when").is_err());
        assert!(condition(&c, "when").is_ok());
    }

    #[test]
    fn a_wait_in_business_hours_skips_the_closed_time() {
        // Monday 2026-11-30 16:00 UTC; open 09:00-17:00 on weekdays.
        let monday_4pm = crate::time::parse_rfc3339("2026-11-30T16:00:00Z").unwrap();
        let w = wf(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [
            {"id": "w", "action": "wait", "for": "2h", "business_hours": {"timezone": "UTC",
                "hours": {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}}},
            {"id": "s", "action": "stop"}]}),
        );
        let pass = run_all(&w, &mut lead(), monday_4pm);
        let tuesday_10am = crate::time::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
        assert_eq!(
            pass.next,
            Next::Wait {
                at: 1,
                due_at: tuesday_10am
            },
            "one hour on Monday, one on Tuesday"
        );
        let plain = wf(
            json!({"name": "x", "trigger": {"event": "lead.created"}, "steps": [{"id": "w", "action": "wait", "for": "2h"}]}),
        );
        assert_eq!(
            run_all(&plain, &mut lead(), monday_4pm).next,
            Next::Wait {
                at: 1,
                due_at: monday_4pm + 2 * 3_600_000
            }
        );
    }
}
