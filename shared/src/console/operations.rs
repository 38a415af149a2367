//! The Routing, SLA and Health pages: who can take leads right now and how loaded they are,
//! what waits in queues, how fast leads are touched by team and rep, what was escalated, and
//! whether the machinery itself (cron ticks, retry jobs, outgoing webhooks) is keeping up.
//! Each renders what the APIs answered; nothing is computed from storage here.

use serde_json::Value;

use super::chart;
use super::layout::time_tag;
use super::s;
use crate::html::escape;

fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v[key].as_array().map_or(&[], Vec::as_slice)
}

fn count(v: &Value) -> String {
    v.as_i64().map_or("–".into(), |n| n.to_string())
}

/// A rep's open load against their capacity: `3 / 5`, or `3` without a cap.
pub fn load(rep: &Value) -> String {
    let open = rep["load"]["open"].as_i64().unwrap_or(0);
    match rep["capacity"]["max_open"].as_i64() {
        Some(max) => format!("{open} / {max}"),
        None => open.to_string(),
    }
}

/// A rep's working hours in a line: `Europe/Berlin, Mon 09:00-17:30, …`, or `always` without.
pub fn working_hours(schedule: &Value) -> String {
    let Some(tz) = schedule["timezone"].as_str() else {
        return "always".into();
    };
    let days: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .filter_map(|d| {
            schedule["hours"][*d]
                .as_str()
                .filter(|h| !h.is_empty())
                .map(|h| format!("{}{} {h}", d[..1].to_uppercase(), &d[1..]))
        })
        .collect();
    format!("{tz}: {}", days.join(", "))
}

/// Whether a rep is at or over their open-lead cap.
pub fn at_capacity(rep: &Value) -> bool {
    match rep["capacity"]["max_open"].as_i64() {
        Some(max) => rep["load"]["open"].as_i64().unwrap_or(0) >= max,
        None => false,
    }
}

/// The Routing page: reps with load against capacity and availability now, teams, queues with
/// their oldest leads, and fallbacks by reason beside the previous period.
pub fn routing(
    reps: &Value,
    teams: &Value,
    queues: &[Value],
    stats: &Value,
    previous: &Value,
) -> String {
    let mut out = String::from("<h2>Reps now</h2>");
    let reps = list(reps, "reps");
    if reps.is_empty() {
        out.push_str("<p>No rep is on the roster yet.</p>");
    } else {
        out.push_str("<table id=\"reps\"><thead><tr><th scope=\"col\">Rep</th><th scope=\"col\">Teams</th><th scope=\"col\">Status</th>\
            <th scope=\"col\">Working hours</th><th scope=\"col\">Available now</th><th scope=\"col\" class=\"num\">Open / cap</th><th scope=\"col\" class=\"num\">Today / cap</th></tr></thead><tbody>");
        for r in reps {
            let teams: Vec<&str> = list(r, "teams").iter().filter_map(Value::as_str).collect();
            let today = match r["capacity"]["max_per_day"].as_i64() {
                Some(max) => format!("{} / {max}", r["load"]["today"].as_i64().unwrap_or(0)),
                None => r["load"]["today"].as_i64().unwrap_or(0).to_string(),
            };
            let status = match r["out_of_office_until"].as_str() {
                Some(until) => {
                    format!("{} (out until {})", escape(s(r, "status")), time_tag(until))
                }
                None => escape(s(r, "status")),
            };
            out.push_str(&format!(
                "<tr data-rep=\"{id}\"><th scope=\"row\">{name} <span class=\"muted\">{id}</span></th><td>{}</td><td>{status}</td><td>{hours}</td><td class=\"{}\">{}</td><td class=\"num{}\">{}</td><td class=\"num\">{today}</td></tr>",
                escape(&teams.join(", ")),
                if r["available_now"] == true { "ok" } else { "bad" },
                if r["available_now"] == true { "yes" } else { "no" },
                if at_capacity(r) { " bad" } else { "" },
                escape(&load(r)),
                id = escape(s(r, "id")),
                name = escape(s(r, "name")),
                hours = escape(&working_hours(&r["working_hours"])),
            ));
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("<h2>Teams</h2>");
    let teams = list(teams, "teams");
    if teams.is_empty() {
        out.push_str("<p>No team yet.</p>");
    } else {
        out.push_str("<table><thead><tr><th scope=\"col\">Team</th><th scope=\"col\">Mode</th><th scope=\"col\">Working hours</th><th scope=\"col\">Members (weight)</th></tr></thead><tbody>");
        for t in teams {
            let members: Vec<String> = list(t, "members")
                .iter()
                .map(|m| format!("{} ({})", s(m, "rep"), m["weight"].as_i64().unwrap_or(1)))
                .collect();
            out.push_str(&format!(
                "<tr><th scope=\"row\">{} <span class=\"muted\">{}</span></th><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(s(t, "name")),
                escape(s(t, "id")),
                escape(s(t, "mode")),
                escape(s(t, "working_hours")),
                escape(&members.join(", "))
            ));
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("<h2>Queues</h2>");
    if queues.is_empty() {
        out.push_str("<p>No lead is waiting in a queue.</p>");
    }
    for q in queues {
        out.push_str(&format!(
            "<h3>{} — {} waiting</h3><table><thead><tr><th scope=\"col\">Lead</th><th scope=\"col\">Company</th><th scope=\"col\">Queued</th><th scope=\"col\" class=\"num\">Waiting (min)</th><th scope=\"col\">Why here</th></tr></thead><tbody>",
            escape(s(q, "id")),
            count(&q["waiting"])
        ));
        for m in list(q, "leads") {
            out.push_str(&format!(
                "<tr><td><a href=\"/console/leads/{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(s(m, "lead_id")),
                escape(m["email"].as_str().unwrap_or(s(m, "lead_id"))),
                escape(m["company"].as_str().unwrap_or("–")),
                time_tag(s(m, "queued_at")),
                count(&m["waiting_minutes"]),
                escape(m["fallback_reason"].as_str().or(m["rule"].as_str()).unwrap_or(s(m, "via")))
            ));
        }
        out.push_str("</tbody></table>");
    }
    let fallbacks = |v: &Value| -> std::collections::BTreeMap<String, f64> {
        v["fallbacks"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, n)| (k.clone(), n.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let pairs = chart::pairs(&fallbacks(stats), &fallbacks(previous), |n| *n);
    out.push_str(&chart::bars(
        "fallbacks",
        "Fallbacks by reason, this period beside the previous one",
        &pairs,
    ));
    out.push_str(&fallbacks_by_day(&stats["fallbacks_by_day"]));
    out
}

/// Fallbacks per day and reason, as a table with a bar of each day's total (a day with none
/// is left out).
pub fn fallbacks_by_day(by_day: &Value) -> String {
    let Some(days) = by_day.as_object().filter(|d| !d.is_empty()) else {
        return "<p id=\"fallbacks-by-day\">No fallback in this period.</p>".into();
    };
    let mut reasons: Vec<&String> = days
        .values()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys())
        .collect();
    reasons.sort();
    reasons.dedup();
    let totals: Vec<i64> = days
        .values()
        .map(|m| {
            m.as_object()
                .map_or(0, |m| m.values().filter_map(Value::as_i64).sum())
        })
        .collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut out = String::from("<figure class=\"chart\" id=\"fallbacks-by-day\"><figcaption>Fallbacks by day</figcaption><table><thead><tr><th scope=\"col\">Day</th>");
    for r in &reasons {
        out.push_str(&format!(
            "<th scope=\"col\" class=\"num\">{}</th>",
            escape(r)
        ));
    }
    out.push_str("<th scope=\"col\" class=\"num\">Total</th><th scope=\"col\"><span class=\"muted\">bar</span></th></tr></thead><tbody>");
    for ((day, m), total) in days.iter().zip(&totals) {
        out.push_str(&format!("<tr><th scope=\"row\">{}</th>", escape(day)));
        for r in &reasons {
            out.push_str(&format!(
                "<td class=\"num\">{}</td>",
                m[r.as_str()].as_i64().unwrap_or(0)
            ));
        }
        let width = (*total as f64 / max * 100.0).round();
        out.push_str(&format!(
            "<td class=\"num\">{total}</td><td><svg viewBox=\"0 0 100 10\" role=\"img\" aria-label=\"{total} fallbacks\" class=\"spark\"><rect x=\"0\" y=\"1\" width=\"{width}\" height=\"8\" class=\"cur\"/></svg></td></tr>"
        ));
    }
    out.push_str("</tbody></table></figure>");
    out
}

fn sla_row(name: &str, f: &Value) -> String {
    let rate = f["within_sla_rate"]
        .as_f64()
        .map_or("–".into(), |r| format!("{:.0}%", r * 100.0));
    let minutes = |k: &str| f[k].as_f64().map_or("–".into(), |m| format!("{m:.0}"));
    format!(
        "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{rate}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        escape(name),
        count(&f["assigned"]),
        count(&f["touched_within_sla"]),
        if f["breached"].as_i64().unwrap_or(0) > 0 { " bad" } else { "" },
        count(&f["breached"]),
        count(&f["pending"]),
        minutes("median_minutes_to_first_touch"),
        minutes("p90_minutes_to_first_touch"),
    )
}

/// The breaches (`GET /v1/sla/breaches`), each with the ladder steps taken for it, and the
/// recent touches (`GET /v1/sla/touches`).
pub fn breaches_and_touches(breaches: &Value, touches: &Value) -> String {
    let mut out = String::from("<h2>Breaches, and the steps taken</h2>");
    let list_b = list(breaches, "breaches");
    if list_b.is_empty() {
        out.push_str("<p class=\"ok\" id=\"breaches\">No first-touch deadline was missed.</p>");
    } else {
        out.push_str("<table id=\"breaches\"><thead><tr><th scope=\"col\">Lead</th><th scope=\"col\">Owner</th><th scope=\"col\">Tier</th><th scope=\"col\">Deadline</th><th scope=\"col\" class=\"num\">Minutes late</th><th scope=\"col\">Steps taken</th></tr></thead><tbody>");
        for b in list_b {
            let owner = b["rep"]
                .as_str()
                .map(|r| format!("rep {r}"))
                .or_else(|| b["queue"].as_str().map(|q| format!("queue {q}")))
                .unwrap_or_else(|| "–".into());
            let steps: Vec<String> = list(b, "steps_taken")
                .iter()
                .map(|st| format!("{} ({})", s(st, "action"), super::layout::when(s(st, "at"))))
                .collect();
            out.push_str(&format!(
                "<tr><td><a href=\"/console/leads/{lead}\">{lead}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num bad\">{}</td><td>{}</td></tr>",
                escape(&owner),
                escape(s(b, "tier")),
                time_tag(s(b, "deadline_at")),
                count(&b["minutes_late"]),
                escape(&if steps.is_empty() { "none yet".to_string() } else { steps.join("; ") }),
                lead = escape(s(b, "lead_id")),
            ));
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("<h2>Recent touches</h2>");
    let list_t = list(touches, "touches");
    if list_t.is_empty() {
        out.push_str("<p id=\"touches\">No touch recorded.</p>");
        return out;
    }
    out.push_str("<table id=\"touches\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Lead</th><th scope=\"col\">How</th><th scope=\"col\">By</th></tr></thead><tbody>");
    for t in list_t {
        out.push_str(&format!(
            "<tr><td>{}</td><td><a href=\"/console/leads/{lead}\">{lead}</a></td><td>{}</td><td>{}</td></tr>",
            time_tag(s(t, "occurred_at")),
            escape(s(t, "type")),
            escape(t["rep"].as_str().unwrap_or("–")),
            lead = escape(s(t, "lead_id")),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// The SLA page: compliance overall, by team and by rep; and the open escalation tasks.
pub fn sla(metrics: &Value, tasks: &Value) -> String {
    let mut out = String::from("<h2>Compliance</h2><table id=\"sla\"><thead><tr><th scope=\"col\"></th><th scope=\"col\" class=\"num\">Assigned</th><th scope=\"col\" class=\"num\">Met</th>\
        <th scope=\"col\" class=\"num\">Breached</th><th scope=\"col\" class=\"num\">Pending</th><th scope=\"col\" class=\"num\">Within SLA</th>\
        <th scope=\"col\" class=\"num\">Median min</th><th scope=\"col\" class=\"num\">p90 min</th></tr></thead><tbody>");
    out.push_str(&sla_row("Everyone", &metrics["overall"]));
    for (title, key) in [
        ("Team", "by_team"),
        ("Rep", "by_rep"),
        ("Queue", "by_queue"),
    ] {
        if let Some(map) = metrics[key].as_object() {
            for (name, f) in map {
                out.push_str(&sla_row(&format!("{title} {name}"), f));
            }
        }
    }
    out.push_str("</tbody></table>");
    out.push_str("<h2>Open escalation tasks</h2>");
    let tasks = list(tasks, "tasks");
    if tasks.is_empty() {
        out.push_str("<p>No open task.</p>");
        return out;
    }
    out.push_str("<table id=\"tasks\"><thead><tr><th scope=\"col\">Task</th><th scope=\"col\">For</th><th scope=\"col\">Lead</th><th scope=\"col\">Since</th><th scope=\"col\">Because</th></tr></thead><tbody>");
    for t in tasks {
        out.push_str(&format!(
            "<tr><td>{title}</td><td>{who}</td><td><a href=\"/console/leads/{lead}\">{lead}</a></td><td>{since}</td><td>{why}</td></tr>",
            title = escape(s(t, "title")),
            who = escape(s(t, "assignee")),
            lead = escape(s(t, "lead_id")),
            since = time_tag(s(t, "created_at")),
            why = escape(&t["assigned_because"].as_str().map_or_else(|| t["assigned_because"].to_string(), str::to_string)),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// The retry jobs that need a look: dead (gave up), or pending after a failed attempt.
pub fn failing_jobs(jobs: &[Value]) -> Vec<Value> {
    jobs.iter()
        .filter(|j| j["state"] == "dead" || j["last_error"].is_string())
        .cloned()
        .collect()
}

/// The outgoing webhooks that need a look: failed for good, or pending after a failed try.
pub fn failing_deliveries(deliveries: &[Value]) -> Vec<Value> {
    deliveries
        .iter()
        .filter(|d| {
            d["status"] == "failed"
                || (d["status"] == "pending"
                    && (d["last_error"].is_string() || d["last_status"].is_number()))
        })
        .cloned()
        .collect()
}

/// What came in per form and per webhook source (`GET /v1/admin/intake/stats`): when each last
/// received anything, what was accepted, and what was refused and why — a source failing its
/// signature check stands out.
pub fn arrivals(stats: &Value) -> String {
    let mut out = format!("<h2>What came in since {}</h2>", escape(s(stats, "since")));
    for (key, title, what) in [
        ("sources", "Webhook sources", "source"),
        ("forms", "Forms", "form"),
    ] {
        out.push_str(&format!("<h3>{title}</h3>"));
        let Some(map) = stats[key].as_object().filter(|m| !m.is_empty()) else {
            out.push_str(&format!("<p>No {what} received anything.</p>"));
            continue;
        };
        out.push_str(&format!(
            "<table id=\"{key}\"><thead><tr><th scope=\"col\">{}</th><th scope=\"col\">Last received</th><th scope=\"col\">Last accepted</th><th scope=\"col\" class=\"num\">Accepted</th><th scope=\"col\">Refused</th></tr></thead><tbody>",
            if what == "form" { "Form" } else { "Source" }
        ));
        for (id, f) in map {
            let refused: Vec<String> = f["refused"]
                .as_object()
                .map(|r| r.iter().map(|(code, n)| format!("{code}: {n}")).collect())
                .unwrap_or_default();
            let signature = crate::intake::stats::SIGNATURE_FAILURES
                .iter()
                .any(|code| f["refused"][*code].as_u64().unwrap_or(0) > 0);
            out.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
                escape(id),
                f["last_at"].as_str().map_or("–".into(), time_tag),
                f["last_accepted_at"].as_str().map_or("–".into(), time_tag),
                count(&f["accepted"]),
                if signature { "bad" } else { "" },
                escape(&if refused.is_empty() { "–".to_string() } else { refused.join(", ") }),
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

/// Each handler's own health report (`/internal/health`, as the gateway's `/health` gathers
/// them): whether it reaches its D1 and KV, has its secrets, and its tick and jobs are well.
pub fn handlers(reports: &[Value]) -> String {
    let mut out = String::from(
        "<h2>Handlers</h2><table id=\"handlers\"><thead><tr><th scope=\"col\">Handler</th><th scope=\"col\">State</th>\
         <th scope=\"col\">D1</th><th scope=\"col\">KV</th><th scope=\"col\">Secrets</th></tr></thead><tbody>",
    );
    let mark = |v: &Value| {
        if v["ok"] == true {
            "ok".to_string()
        } else {
            v["error"].as_str().unwrap_or("failing").to_string()
        }
    };
    for r in reports {
        let kv: Vec<String> = r["kv"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(name, v)| format!("{name}: {}", mark(v)))
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<&str> = r["secrets"]["missing"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(s(r, "service")),
            if r["ok"] == true { "ok" } else { "bad" },
            if r["ok"] == true { "ok" } else { "degraded" },
            escape(&if r["d1"].is_null() { mark(r) } else { mark(&r["d1"]) }),
            escape(&if kv.is_empty() { "–".to_string() } else { kv.join(", ") }),
            escape(&if missing.is_empty() { "all set".to_string() } else { format!("missing {}", missing.join(", ")) }),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// The Health page: each handler's last cron tick, the retry jobs failing or dead, and the
/// outgoing webhooks that are failing (`jobs` and `deliveries` already filtered by
/// [`failing_jobs`] and [`failing_deliveries`]).
pub fn health(ticks: &Value, jobs: &[Value], deliveries: &[Value]) -> String {
    let mut out = format!(
        "<h2>Cron ticks</h2><p id=\"ticks-ok\" class=\"{}\">{}</p><table><thead><tr><th scope=\"col\">Handler</th><th scope=\"col\">Last tick</th><th scope=\"col\">State</th><th scope=\"col\">Last error</th></tr></thead><tbody>",
        if ticks["ok"] == true { "ok" } else { "bad" },
        if ticks["ok"] == true { "Every handler's tick is running." } else { "A handler's tick is failing or late." },
    );
    for t in list(ticks, "ticks") {
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(s(t, "service")),
            t["last_run_at"]
                .as_str()
                .or(t["last_ok_at"].as_str())
                .map_or("never".into(), time_tag),
            if t["ok"] == true { "ok" } else { "bad" },
            if t["ok"] == true {
                "ok"
            } else {
                "failing or late"
            },
            escape(t["last_error"].as_str().unwrap_or("")),
        ));
    }
    out.push_str("</tbody></table><h2>Retry jobs failing or dead</h2>");
    if jobs.is_empty() {
        out.push_str("<p id=\"jobs\" class=\"ok\">None.</p>");
    } else {
        out.push_str("<table id=\"jobs\"><thead><tr><th scope=\"col\">Job</th><th scope=\"col\">Subject</th><th scope=\"col\" class=\"num\">Attempts</th><th scope=\"col\">State</th><th scope=\"col\">Last error</th></tr></thead><tbody>");
        for j in jobs {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(s(j, "kind")),
                escape(s(j, "subject")),
                count(&j["attempts"]),
                escape(s(j, "state")),
                escape(j["last_error"].as_str().unwrap_or("")),
            ));
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("<h2>Outgoing webhooks failing</h2>");
    if deliveries.is_empty() {
        out.push_str("<p id=\"deliveries\" class=\"ok\">None.</p>");
    } else {
        out.push_str("<table id=\"deliveries\"><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Endpoint</th><th scope=\"col\" class=\"num\">Attempts</th><th scope=\"col\">State</th><th scope=\"col\">Last answer</th></tr></thead><tbody>");
        for d in deliveries {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(s(d, "event")),
                escape(s(d, "endpoint_id")),
                count(&d["attempts"]),
                escape(s(d, "status")),
                escape(
                    &match (d["last_status"].as_i64(), d["last_error"].as_str()) {
                        (Some(code), Some(e)) => format!("HTTP {code}: {e}"),
                        (Some(code), None) => format!("HTTP {code}"),
                        (None, Some(e)) => e.to_string(),
                        (None, None) => String::new(),
                    }
                ),
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reps_show_load_against_capacity_and_availability() {
        let reps = json!({"reps": [
            {"id": "al", "name": "Al", "status": "active", "teams": ["emea"], "available_now": true,
             "capacity": {"max_open": 3}, "load": {"open": 3, "today": 1}},
            {"id": "bo", "name": "Bo", "status": "active", "teams": [], "available_now": false,
             "out_of_office_until": "2026-12-03T09:00:00Z", "capacity": {}, "load": {"open": 1, "today": 0}}]});
        let html = routing(&reps, &json!({"teams": []}), &[], &json!({}), &json!({}));
        assert!(html.contains("<td class=\"num bad\">3 / 3</td>"), "{html}");
        assert!(html.contains(
            "out until <time datetime=\"2026-12-03T09:00:00Z\">3 Dec 2026 09:00 UTC</time>"
        ));
        assert!(html.contains("<td class=\"bad\">no</td>"));
        assert_eq!(load(&reps["reps"][1]), "1");
        assert!(html.contains("<td>always</td>"));
        assert_eq!(
            working_hours(
                &json!({"timezone": "Asia/Tokyo", "hours": {"mon": "09:00-18:00", "sat": ""}})
            ),
            "Asia/Tokyo: Mon 09:00-18:00"
        );
    }

    #[test]
    fn queues_list_their_leads_oldest_first_as_routing_answered() {
        let q = json!({"id": "emea", "waiting": 1, "leads": [{"lead_id": "lead_1", "email": "a@b.co", "queued_at": "2026-12-01T08:00:00Z", "waiting_minutes": 90, "via": "fallback", "fallback_reason": "no_one_available"}]});
        let html = routing(
            &json!({"reps": []}),
            &json!({"teams": []}),
            &[q],
            &json!({"fallbacks": {"no_one_available": 2}}),
            &json!({}),
        );
        assert!(html.contains("<h3>emea — 1 waiting</h3>"));
        assert!(html.contains("<td class=\"num\">90</td><td>no_one_available</td>"));
        assert!(html.contains("<td>2</td><td>0</td><td>new</td>"));
        let by_day = fallbacks_by_day(
            &json!({"2026-11-30": {"no_one_available": 2}, "2026-12-01": {"no_rule_matched": 1, "no_one_available": 1}}),
        );
        assert!(by_day.contains("<th scope=\"row\">2026-11-30</th><td class=\"num\">2</td><td class=\"num\">0</td><td class=\"num\">2</td>"), "{by_day}");
        assert!(by_day.contains("width=\"100\""));
        assert!(fallbacks_by_day(&json!({})).contains("No fallback in this period."));
    }

    #[test]
    fn sla_rows_flag_breaches_and_tasks_link_their_leads() {
        let metrics = json!({"overall": {"assigned": 4, "touched_within_sla": 2, "breached": 1, "pending": 1, "within_sla_rate": 0.5, "median_minutes_to_first_touch": 12.0},
            "by_team": {"emea": {"assigned": 4, "breached": 0}}, "by_rep": {}, "by_queue": {}});
        let tasks = json!({"tasks": [{"title": "Call back", "assignee": "mgr", "lead_id": "lead_1", "created_at": "2026-12-01T08:00:00Z", "assigned_because": "escalate"}]});
        let html = sla(&metrics, &tasks);
        assert!(html.contains("<td class=\"num bad\">1</td>"));
        assert!(html.contains("<td class=\"num\">50%</td>"));
        assert!(html.contains("Team emea"));
        assert!(html.contains("<a href=\"/console/leads/lead_1\">lead_1</a>"));
    }

    #[test]
    fn arrivals_show_last_received_and_flag_signature_failures() {
        let stats = json!({"since": "2026-11-25", "forms": {}, "sources": {"src_a": {"accepted": 4, "refused": {"invalid_signature": 2},
            "last_at": "2026-12-01T10:00:00Z", "last_accepted_at": "2026-11-30T10:00:00Z"}}});
        let html = arrivals(&stats);
        assert!(html.contains("<td class=\"bad\">invalid_signature: 2</td>"));
        assert!(
            html.contains("<time datetime=\"2026-12-01T10:00:00Z\">1 Dec 2026 10:00 UTC</time>")
        );
        assert!(html.contains("No form received anything."));
    }

    #[test]
    fn breaches_list_their_steps_and_touches_their_leads() {
        let breaches = json!({"breaches": [{"lead_id": "lead_1", "rep": "al", "tier": "hot", "deadline_at": "2026-12-01T09:30:00Z",
            "minutes_late": 45, "steps_taken": [{"step": "escalate", "action": "escalate", "at": "2026-12-01T09:30:00Z"}]}]});
        let touches = json!({"touches": [{"lead_id": "lead_2", "type": "call", "rep": "bo", "occurred_at": "2026-12-01T10:00:00Z"}]});
        let html = breaches_and_touches(&breaches, &touches);
        assert!(
            html.contains("<td class=\"num bad\">45</td><td>escalate (1 Dec 2026 09:30 UTC)</td>"),
            "{html}"
        );
        assert!(html.contains("<td>rep al</td>"));
        assert!(html
            .contains("<a href=\"/console/leads/lead_2\">lead_2</a></td><td>call</td><td>bo</td>"));
        let none = breaches_and_touches(&json!({"breaches": []}), &json!({"touches": []}));
        assert!(none.contains("No first-touch deadline was missed."));
    }

    #[test]
    fn handlers_show_their_own_probes() {
        let html = handlers(&[
            json!({"service": "intake", "ok": true, "d1": {"ok": true}, "kv": {"CONFIG": {"ok": true}}, "secrets": {"ok": true, "missing": []}}),
            json!({"service": "consent", "ok": false, "d1": {"ok": true}, "kv": {}, "secrets": {"ok": false, "missing": ["UNSUBSCRIBE_TOKEN_KEY"]}}),
            json!({"service": "sla", "ok": false, "error": "calling sla: unreachable"}),
        ]);
        assert!(html.contains("<th scope=\"row\">intake</th><td class=\"ok\">ok</td><td>ok</td><td>CONFIG: ok</td><td>all set</td>"), "{html}");
        assert!(html.contains("missing UNSUBSCRIBE_TOKEN_KEY"));
        assert!(html.contains("<td>calling sla: unreachable</td>"));
    }

    #[test]
    fn health_says_plainly_when_all_is_well_or_not() {
        let ok = health(
            &json!({"ok": true, "ticks": [{"service": "intake", "ok": true, "last_run_at": "2026-12-01T08:00:00Z"}]}),
            &[],
            &[],
        );
        assert!(ok.contains("Every handler's tick is running."));
        assert!(ok.contains("<p id=\"jobs\" class=\"ok\">None.</p>"));
        let bad = health(
            &json!({"ok": false, "ticks": []}),
            &failing_jobs(&[
                json!({"kind": "scoring.score_lead", "subject": "lead_1", "attempts": 14, "state": "dead", "last_error": "boom"}),
                json!({"kind": "x", "state": "pending", "attempts": 1, "last_error": null}),
            ]),
            &[],
        );
        assert!(bad.contains("failing or late"));
        assert!(bad.contains("<td>scoring.score_lead</td><td>lead_1</td><td class=\"num\">14</td><td>dead</td><td>boom</td>"));
        assert!(
            !bad.contains("<td>x</td>"),
            "a job that has not failed is not listed"
        );
        let d = failing_deliveries(&[
            json!({"status": "pending", "attempts": 2, "last_status": 500}),
            json!({"status": "pending", "attempts": 0}),
            json!({"status": "delivered", "attempts": 1, "last_status": 200}),
            json!({"status": "failed", "attempts": 12, "last_error": "timeout"}),
        ]);
        assert_eq!(d.len(), 2);
        assert!(health(&json!({"ok": true}), &[], &d).contains("<td>HTTP 500</td>"));
    }
}
