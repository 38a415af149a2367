//! The Workflows page: every workflow with how it has been doing over the last days, and every
//! list with its members; and each workflow's own page — what it does in words, whether it
//! runs (pause and resume with a reason, catching up only when asked), its latest failed steps,
//! its versions and history, and a draft dry-run over recorded events before it is published.
//! All of it is what `GET /v1/admin/workflows…` and `GET /v1/lists` answered.

use serde_json::Value;

use super::definitions::DryRunOffer;
use super::layout::time_tag;
use super::{items, s};
use crate::html::escape;

/// The console path of a workflow's page.
pub fn href(id: &str) -> String {
    format!("/console/workflows/{id}")
}

/// A starting point for a new workflow's draft: the shape, with a step anyone can read.
pub const NEW_DRAFT: &str = r#"{
  "name": "New workflow",
  "trigger": { "event": "lead.created" },
  "when": { "field": "country", "in": ["DE", "AT", "CH"] },
  "steps": [
    { "id": "tag", "action": "set_field", "field": "custom.region", "value": "DACH" }
  ],
  "enrolment": { "once": true }
}"#;

/// The dry-run a workflow's editor offers: a replay over the last `days` (1 to 90, as the
/// API takes them) of recorded events.
pub fn dry_run_offer(days: i64) -> DryRunOffer {
    DryRunOffer {
        fields: format!(
            "<label for=\"days\">Days of recorded events to replay (1 to 90)</label>\
             <input id=\"days\" name=\"days\" type=\"number\" min=\"1\" max=\"90\" step=\"1\" value=\"{}\" required>",
            days.clamp(1, 90)
        ),
        button: "Dry-run against recorded events",
    }
}

fn n(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

/// The workflows table: name (to its page), trigger, state, active version, and the last days'
/// enrolments, how they stand, and failed steps.
pub fn workflows_table(list: &Value) -> String {
    let workflows = items(Some(list), "workflows");
    if workflows.is_empty() {
        return "<p>No workflow yet: publish the first one below.</p>".into();
    }
    let days = workflows
        .first()
        .map_or(7, |w| w["activity"]["days"].as_i64().unwrap_or(7));
    // Nine columns do not fit a phone: the table scrolls inside its own region, not the page.
    let mut out = format!(
        "<div class=\"wide\" role=\"region\" aria-label=\"Workflows\" tabindex=\"0\"><table id=\"workflows\"><caption>Enrolments and steps over the last {days} days</caption><thead><tr>\
         <th scope=\"col\">Workflow</th><th scope=\"col\">Trigger</th><th scope=\"col\">State</th><th scope=\"col\" class=\"num\">Version</th>\
         <th scope=\"col\" class=\"num\">Enrolled</th><th scope=\"col\" class=\"num\">Waiting</th><th scope=\"col\" class=\"num\">Done</th>\
         <th scope=\"col\" class=\"num\">Not enrolled</th><th scope=\"col\" class=\"num\">Failed steps</th></tr></thead><tbody>"
    );
    for w in workflows {
        let a = &w["activity"];
        let failed = n(&a["steps"], "failed");
        out.push_str(&format!(
            "<tr data-workflow=\"{id}\"><th scope=\"row\"><a href=\"{href}\">{name}</a></th><td><code>{trigger}</code></td><td>{state}</td>\
             <td class=\"num\">{version}</td><td class=\"num\">{enrolled}</td><td class=\"num\">{waiting}</td><td class=\"num\">{done}</td>\
             <td class=\"num\">{refused}</td><td class=\"num{bad}\">{failed}</td></tr>",
            id = escape(s(w, "id")),
            href = escape(&href(s(w, "id"))),
            name = escape(s(w, "name")),
            trigger = escape(s(w, "trigger")),
            state = state_words(s(w, "state")),
            version = n(w, "version"),
            enrolled = n(a, "enrolled"),
            waiting = n(a, "waiting"),
            done = n(a, "done"),
            refused = n(a, "not_enrolled"),
            bad = if failed > 0 { " bad" } else { "" },
        ));
    }
    out.push_str("</tbody></table></div>");
    out
}

fn state_words(state: &str) -> &'static str {
    match state {
        "paused" => "<strong class=\"bad\">paused</strong>",
        _ => "running",
    }
}

/// The lists table: name, kind (a dynamic list's condition), members, and who made it when.
pub fn lists_table(list: &Value) -> String {
    let lists = items(Some(list), "lists");
    if lists.is_empty() {
        return "<p>No list yet.</p>".into();
    }
    let mut out = String::from(
        "<table id=\"lists\"><thead><tr><th scope=\"col\">List</th><th scope=\"col\">Kind</th><th scope=\"col\" class=\"num\">Members</th>\
         <th scope=\"col\">Created</th></tr></thead><tbody>",
    );
    for l in lists {
        let kind = match s(l, "kind") {
            "dynamic" => format!(
                "dynamic: <code>{}</code>{}",
                escape(&l["when"].to_string()),
                if l["filling"] == true {
                    " <span class=\"muted\">(still filling from existing leads)</span>"
                } else {
                    ""
                }
            ),
            _ => "static".to_string(),
        };
        let created = match s(l, "created_by") {
            "system" => "built in".to_string(),
            by => format!("{} by {}", time_tag(s(l, "created_at")), escape(by)),
        };
        out.push_str(&format!(
            "<tr data-list=\"{id}\"><th scope=\"row\">{name} <span class=\"muted\">{id}</span></th><td>{kind}</td><td class=\"num\">{members}</td><td>{created}</td></tr>",
            id = escape(s(l, "id")),
            name = escape(s(l, "name")),
            members = n(l, "members"),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// What a workflow does, in words: its trigger, its condition and each step.
pub fn described(doc: &Value) -> String {
    let mut out = String::from("<section id=\"what-it-does\"><h2>What it does</h2>");
    let trigger = &doc["trigger"];
    let mut detail: Vec<String> = Vec::new();
    if let Some(fields) = trigger.as_object() {
        for (k, v) in fields.iter().filter(|(k, _)| k.as_str() != "event") {
            detail.push(format!("{k} {}", compact(v)));
        }
    }
    out.push_str(&format!(
        "<p>When <code>{}</code> happens{}",
        escape(s(trigger, "event")),
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", escape(&detail.join(", ")))
        }
    ));
    if !doc["when"].is_null() {
        out.push_str(&format!(
            ", to a lead for whom <code>{}</code> holds",
            escape(&compact(&doc["when"]))
        ));
    }
    let enrolment = &doc["enrolment"];
    let once = match (
        enrolment["once"].as_bool(),
        enrolment["again_after_days"].as_i64(),
    ) {
        (Some(false), Some(0)) => "each time it happens".to_string(),
        (Some(false), Some(d)) => format!("again after {d} days at the soonest"),
        _ => "once per lead".to_string(),
    };
    out.push_str(&format!(" — {once}:</p><ol id=\"steps\">"));
    for st in items(Some(doc), "steps") {
        let rest: Vec<String> = st
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "action"))
            .map(|(k, v)| format!("{k}: {}", compact(v)))
            .collect();
        out.push_str(&format!(
            "<li><code>{}</code> <strong>{}</strong>{}</li>",
            escape(s(st, "id")),
            escape(&s(st, "action").replace('_', " ")),
            if rest.is_empty() {
                String::new()
            } else {
                format!(" — {}", escape(&rest.join("; ")))
            }
        ));
    }
    out.push_str("</ol></section>");
    out
}

/// A value as a reader takes it in: a string as itself, anything else as compact JSON.
fn compact(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The workflow's figures: whether it runs, the last days' enrolments and steps, what waits now.
pub fn summary(wf: &Value) -> String {
    let a = &wf["activity"];
    let steps = &a["steps"];
    let state = if s(wf, "state") == "paused" {
        format!(
            "<strong class=\"bad\">Paused</strong> since {}: nothing runs, waiting steps are held and new events do not enrol anyone.",
            time_tag(s(wf, "paused_at"))
        )
    } else {
        "Running.".to_string()
    };
    format!(
        "<p id=\"workflow-state\" data-state=\"{}\">{state} Active version <strong>{}</strong>; <strong id=\"in-progress\">{}</strong> enrolments wait on a step now.</p>\
         <table id=\"activity\"><caption>The last {} days</caption><tbody>\
         <tr><th scope=\"row\">Enrolled</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">… still waiting</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">… done</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">… ended by a failed step</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">Not enrolled (each lead's page says why)</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">Steps taken</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">Steps skipped</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">Steps failed</th><td class=\"num\">{}</td></tr></tbody></table>",
        escape(s(wf, "state")),
        n(wf, "version"),
        n(wf, "in_progress"),
        n(a, "days"),
        n(a, "enrolled"),
        n(a, "waiting"),
        n(a, "done"),
        n(a, "failed"),
        n(a, "not_enrolled"),
        n(steps, "taken"),
        n(steps, "skipped"),
        n(steps, "failed"),
    )
}

/// Pause (with a reason) a running workflow, or resume a paused one (with a reason, and a
/// catch-up of the events it missed only when asked).
pub fn state_form(wf: &Value, csrf: &str) -> String {
    let base = href(s(wf, "id"));
    let csrf = escape(csrf);
    if s(wf, "state") == "paused" {
        format!(
            "<form method=\"post\" action=\"{base}/resume\" id=\"resume\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"resume-reason\">Why resume it</label>\
             <input id=\"resume-reason\" name=\"reason\" type=\"text\" required maxlength=\"1000\">\
             <p><input id=\"catch-up\" name=\"catch_up\" type=\"checkbox\" value=\"true\"> \
             <label for=\"catch-up\" class=\"inline\">Also enrol the leads whose events came while it was paused</label></p>\
             <p><button type=\"submit\">Resume</button></p></form>",
            base = escape(&base)
        )
    } else {
        format!(
            "<form method=\"post\" action=\"{base}/pause\" id=\"pause\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"pause-reason\">Why pause it</label>\
             <input id=\"pause-reason\" name=\"reason\" type=\"text\" required maxlength=\"1000\">\
             <p><button type=\"submit\">Pause</button></p></form>",
            base = escape(&base)
        )
    }
}

/// The latest failed steps, each with its lead (to its story) and its reason.
pub fn failures(wf: &Value) -> String {
    let failed = items(Some(wf), "recent_failures");
    let mut out = String::from("<h2>Latest failed steps</h2>");
    if failed.is_empty() {
        out.push_str("<p>No step has failed.</p>");
        return out;
    }
    out.push_str("<table id=\"failures\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Lead</th><th scope=\"col\">Step</th><th scope=\"col\">Why</th></tr></thead><tbody>");
    for f in failed {
        out.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"/console/leads/{lead}\">{lead}</a></td><td><code>{}</code> {}</td><td class=\"bad\">{}</td></tr>",
            time_tag(s(f, "at")),
            escape(s(f, "step")),
            escape(s(f, "action")),
            escape(s(f, "reason")),
            lead = escape(s(f, "lead_id")),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// Every publish, rollback, pause and resume: who, when, why.
pub fn history(wf: &Value) -> String {
    let changes = items(Some(wf), "history");
    let mut out = String::from("<h2>History</h2><table id=\"history\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\" class=\"num\">Version</th><th scope=\"col\">By</th><th scope=\"col\">Why</th></tr></thead><tbody>");
    for c in changes {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            time_tag(s(c, "at")),
            escape(s(c, "action")),
            n(c, "version"),
            escape(s(c, "by")),
            escape(s(c, "reason")),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// What a dry run found: how many events it replayed, who would enrol, what they would
/// request; a sample of leads with each step's outcome — and that nothing happened.
pub fn dry_run_result(result: &Value) -> String {
    let t = &result["totals"];
    let mut out = format!(
        "<section id=\"dry-run\"><h2>Dry-run</h2><p>Replaying <strong>{}</strong> recorded events of the last {} days{}: \
         <strong id=\"dry-run-enrolments\">{}</strong> enrolments of {} leads; {} events would not enrol anyone.</p>\
         <table><thead><tr><th scope=\"col\">It would request</th><th scope=\"col\" class=\"num\">How many</th></tr></thead><tbody>\
         <tr><th scope=\"row\">Webhooks (and owner notifications)</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">Emails</th><td class=\"num\">{}</td></tr>\
         <tr><th scope=\"row\">Tasks</th><td class=\"num\">{}</td></tr></tbody></table>",
        n(result, "events_replayed"),
        n(result, "days"),
        if result["truncated"] == true {
            " (the most a dry run replays; there were more)"
        } else {
            ""
        },
        n(t, "enrolments"),
        n(t, "leads"),
        n(t, "not_enrolled"),
        n(t, "webhooks"),
        n(t, "emails"),
        n(t, "tasks"),
    );
    let leads = items(Some(result), "leads");
    if !leads.is_empty() {
        out.push_str("<details><summary>Lead by lead</summary><ul>");
        for l in leads.iter().take(50) {
            let what = if l["enrols"] == true {
                let steps: Vec<String> = items(Some(l), "steps")
                    .iter()
                    .map(|st| format!("{} {}", s(st, "id"), s(st, "outcome")))
                    .collect();
                format!("would enrol: {}", steps.join(", "))
            } else {
                format!("would not enrol: {}", s(l, "reason"))
            };
            out.push_str(&format!(
                "<li><a href=\"/console/leads/{lead}\">{lead}</a>: {}</li>",
                escape(&what),
                lead = escape(s(l, "lead_id")),
            ));
        }
        out.push_str("</ul></details>");
    }
    out.push_str(&format!(
        "<p class=\"muted\">{} Publish to make it live.</p></section>",
        escape(s(result, "note"))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_workflows_table_links_each_and_flags_failures_and_pauses() {
        let list = json!({"workflows": [
            {"id": "wf_a", "name": "Trial <nurture>", "trigger": "activity.recorded", "state": "paused", "version": 3,
             "activity": {"days": 7, "enrolled": 12, "waiting": 4, "done": 7, "failed": 1, "not_enrolled": 2, "steps": {"taken": 30, "skipped": 1, "failed": 1}}},
            {"id": "wf_b", "name": "Bounces", "trigger": "email.bounced", "state": "active", "version": 1,
             "activity": {"days": 7, "enrolled": 0, "waiting": 0, "done": 0, "failed": 0, "not_enrolled": 0, "steps": {"taken": 0, "skipped": 0, "failed": 0}}}]});
        let html = workflows_table(&list);
        assert!(html.contains("<a href=\"/console/workflows/wf_a\">Trial &lt;nurture&gt;</a>"));
        assert!(html.contains("the last 7 days"));
        assert!(html.contains("<td class=\"num bad\">1</td>"));
        assert!(html.contains("<strong class=\"bad\">paused</strong>"));
        assert_eq!(html.matches("<tr data-workflow=").count(), 2);
        assert!(workflows_table(&json!({"workflows": []})).contains("No workflow yet"));
    }

    #[test]
    fn lists_show_their_kind_condition_and_members() {
        let html = lists_table(&json!({"lists": [
            {"id": "list_1", "name": "Registrants", "kind": "static", "members": 41, "created_at": "2026-11-30T10:00:00Z", "created_by": "key_1"},
            {"id": "list_2", "name": "Hot", "kind": "dynamic", "when": {"score": {"gte": 60}}, "members": 3, "filling": true, "created_at": "2026-11-30T10:00:00Z", "created_by": "key_1"}]}));
        assert!(html.contains("<td class=\"num\">41</td>"));
        assert!(html.contains("dynamic: <code>{&quot;score&quot;:{&quot;gte&quot;:60}}</code>"));
        assert!(html.contains("still filling"));
        assert!(html.contains("<time datetime=\"2026-11-30T10:00:00Z\">"));
        let seeded = lists_table(
            &json!({"lists": [{"id": "list_0", "name": "Email suppression", "kind": "static", "members": 0, "created_at": "1970-01-01T00:00:00Z", "created_by": "system"}]}),
        );
        assert!(seeded.contains("<td>built in</td>") && !seeded.contains("1970"));
    }

    #[test]
    fn a_workflow_is_described_in_words_step_by_step() {
        let doc = json!({"name": "Event", "trigger": {"event": "form.submitted", "form": "form_1"},
            "when": {"field": "country", "equals": "DE"},
            "steps": [{"id": "list", "action": "add_to_list", "list": "list_1"}, {"id": "mail", "action": "request_email", "template": "confirm", "topic": "events"}],
            "enrolment": {"once": false, "again_after_days": 30}});
        let html = described(&doc);
        assert!(html.contains("When <code>form.submitted</code> happens (form form_1)"));
        assert!(html.contains("&quot;equals&quot;:&quot;DE&quot;"));
        assert!(html.contains("again after 30 days at the soonest"));
        assert!(
            html.contains("<li><code>list</code> <strong>add to list</strong> — list: list_1</li>")
        );
        assert!(html.contains("template: confirm; topic: events"));
        assert!(
            described(&json!({"trigger": {"event": "lead.created"}, "steps": []}))
                .contains("once per lead")
        );
    }

    #[test]
    fn pause_and_resume_each_need_a_reason_and_catch_up_is_asked_for() {
        let running = state_form(&json!({"id": "wf_a", "state": "active"}), "tok");
        assert!(running.contains("action=\"/console/workflows/wf_a/pause\""));
        assert!(running.contains("name=\"reason\" type=\"text\" required"));
        let paused = state_form(&json!({"id": "wf_a", "state": "paused"}), "tok");
        assert!(paused.contains("action=\"/console/workflows/wf_a/resume\""));
        assert!(paused.contains("name=\"catch_up\" type=\"checkbox\" value=\"true\">"));
        assert!(!paused.contains("checked"));
        let s = summary(
            &json!({"id": "wf_a", "state": "paused", "paused_at": "2026-11-30T10:00:00Z", "version": 2, "in_progress": 5,
            "activity": {"days": 7, "enrolled": 3, "waiting": 1, "done": 2, "failed": 0, "not_enrolled": 4, "steps": {"taken": 9, "skipped": 0, "failed": 0}}}),
        );
        assert!(s.contains("<strong id=\"in-progress\">5</strong>"));
        assert!(s.contains("Paused"));
        assert!(s.contains("<th scope=\"row\">Not enrolled (each lead's page says why)</th><td class=\"num\">4</td>"));
    }

    #[test]
    fn failures_link_each_lead_and_say_why() {
        let html = failures(
            &json!({"recent_failures": [{"lead_id": "lead_1", "step": "call", "action": "webhook", "reason": "webhook endpoint whe_1 is not registered", "at": "2026-11-30T10:00:00Z"}]}),
        );
        assert!(html.contains("<a href=\"/console/leads/lead_1\">lead_1</a>"));
        assert!(html.contains("is not registered"));
        assert!(failures(&json!({"recent_failures": []})).contains("No step has failed"));
    }

    #[test]
    fn a_dry_run_counts_what_it_would_request_and_that_nothing_happened() {
        let html = dry_run_result(
            &json!({"days": 30, "events_replayed": 12, "truncated": false,
            "totals": {"enrolments": 5, "leads": 5, "not_enrolled": 7, "webhooks": 5, "emails": 2, "tasks": 0},
            "leads": [{"lead_id": "lead_1", "enrols": true, "steps": [{"id": "list", "outcome": "taken"}]},
                      {"lead_id": "lead_2", "enrols": false, "reason": "the condition does not hold"}],
            "note": "Each lead is judged as it is now; nothing was stored, sent or changed."}),
        );
        assert!(html.contains("<strong id=\"dry-run-enrolments\">5</strong>"));
        assert!(html.contains("lead_1</a>: would enrol: list taken"));
        assert!(html.contains("would not enrol: the condition does not hold"));
        assert!(html.contains("nothing was stored, sent or changed"));
        assert!(dry_run_offer(500).fields.contains("value=\"90\""));
    }
}
