//! "Where did this lead go?" — a lead's whole story on one page, from what the handlers' APIs
//! answer about it: its submissions and data-quality flags, its score with every rule's points,
//! stage changes with reasons, every routing decision with the candidate trail, the SLA clock
//! and ladder steps, touches and tasks, and its consent per topic. For a lead that went nowhere
//! it says why, in the routing handler's own words.

use serde_json::Value;

use super::{items, s};
use crate::html::escape;

/// What the APIs answered for one lead (`None`: the API had nothing, e.g. never scored).
pub struct Story<'a> {
    /// `GET /v1/leads/{id}` (with `history`).
    pub lead: &'a Value,
    /// `GET /v1/leads/{id}/score`.
    pub score: Option<&'a Value>,
    /// `GET /v1/leads/{id}/routing`.
    pub routing: Option<&'a Value>,
    /// `GET /v1/leads/{id}/sla`.
    pub sla: Option<&'a Value>,
    /// `GET /v1/consent/{email}`.
    pub consent: Option<&'a Value>,
    /// `GET /v1/consent/{email}/history`: the proof of each consent event.
    pub consent_history: Option<&'a Value>,
    /// `GET /v1/leads/{id}/workflows`: enrolments with their steps, lists and list history.
    pub workflows: Option<&'a Value>,
}

/// One moment of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Moment {
    /// RFC 3339 UTC, as the APIs write it (so text order is time order).
    pub at: String,
    pub kind: &'static str,
    pub text: String,
    /// A console page with the details (a submission's raw payload).
    pub href: Option<String>,
}

fn owner(o: &Value) -> String {
    if let Some(rep) = o["rep"].as_str() {
        format!("rep {rep}")
    } else if let Some(q) = o["queue"].as_str() {
        format!("queue {q}")
    } else {
        "nobody".into()
    }
}

/// Everything that happened to the lead, oldest first.
pub fn timeline(story: &Story<'_>) -> Vec<Moment> {
    let mut moments = Vec::new();
    for e in items(story.workflows, "enrolments") {
        let name = e["workflow"].as_str().unwrap_or(s(e, "workflow_id"));
        let text = match s(e, "state") {
            "not_enrolled" => format!("Not enrolled in workflow {name}: {}", s(e, "reason")),
            _ => format!(
                "Enrolled in workflow {name} (version {})",
                e["version"].as_i64().unwrap_or(0)
            ),
        };
        moments.push(Moment {
            at: s(e, "started_at").to_string(),
            kind: "workflow",
            text,
            href: None,
        });
    }
    for c in items(story.workflows, "list_history") {
        moments.push(Moment {
            at: s(c, "at").to_string(),
            kind: "list",
            text: format!(
                "{} list {} ({})",
                if s(c, "change") == "joined" {
                    "Joined"
                } else {
                    "Left"
                },
                c["name"].as_str().unwrap_or(s(c, "list_id")),
                s(c, "cause")
            ),
            href: None,
        });
    }
    for h in items(Some(story.lead), "history") {
        let flags = h["flags"].as_array().map_or(0, Vec::len);
        moments.push(Moment {
            href: Some(format!(
                "/console/leads/{}/submissions/{}",
                s(story.lead, "id"),
                s(h, "submission_id")
            )),
            at: s(h, "received_at").into(),
            kind: "submission",
            text: format!(
                "Submission {} ({}{}): {}{}",
                s(h, "submission_id"),
                s(h, "kind"),
                h["source_id"]
                    .as_str()
                    .map(|id| format!(" {id}"))
                    .unwrap_or_default(),
                s(h, "status"),
                if flags > 0 {
                    format!(", {flags} data-quality flag(s)")
                } else {
                    String::new()
                }
            ),
        });
    }
    for t in items(story.score, "transitions") {
        moments.push(Moment {
            href: None,
            at: s(t, "at").into(),
            kind: "stage",
            text: format!(
                "Stage {} → {} ({}{})",
                s(t, "from_stage"),
                s(t, "to_stage"),
                s(t, "reason"),
                t["total"]
                    .as_f64()
                    .map(|n| format!(", score {n:.0}"))
                    .unwrap_or_default()
            ),
        });
    }
    for a in items(story.routing, "history") {
        let mut text = format!(
            "Assigned to {} via {}{}{} ({})",
            owner(&a["owner"]),
            s(a, "via"),
            a["rule"]
                .as_str()
                .map(|r| format!(", rule {r}"))
                .unwrap_or_default(),
            a["team"]
                .as_str()
                .map(|t| format!(", team {t}"))
                .unwrap_or_default(),
            s(a, "reason"),
        );
        if let Some(f) = a["fallback_reason"].as_str() {
            text.push_str(&format!(" — fallback: {f}"));
        }
        moments.push(Moment {
            href: None,
            at: s(a, "assigned_at").into(),
            kind: "routing",
            text,
        });
        if let Some(ended) = a["ended_at"].as_str() {
            moments.push(Moment {
                href: None,
                at: ended.into(),
                kind: "routing",
                text: format!(
                    "Assignment to {} ended ({})",
                    owner(&a["owner"]),
                    s(a, "status")
                ),
            });
        }
    }
    for e in items(story.sla, "events") {
        moments.push(Moment {
            href: None,
            at: s(e, "at").into(),
            kind: "sla",
            text: format!("SLA step {} taken: {}", s(e, "step"), s(e, "action")),
        });
    }
    for t in items(story.sla, "touches") {
        moments.push(Moment {
            href: None,
            at: s(t, "occurred_at").into(),
            kind: "touch",
            text: format!(
                "Touch: {}{}",
                s(t, "type"),
                t["rep"]
                    .as_str()
                    .map(|r| format!(" by {r}"))
                    .unwrap_or_default()
            ),
        });
    }
    for t in items(story.sla, "tasks") {
        moments.push(Moment {
            href: None,
            at: s(t, "created_at").into(),
            kind: "task",
            text: format!(
                "Task for {}: {} ({})",
                s(t, "assignee"),
                s(t, "title"),
                s(t, "status")
            ),
        });
    }
    for c in items(story.consent_history, "events") {
        moments.push(Moment {
            href: None,
            at: s(c, "at").into(),
            kind: "consent",
            text: format!(
                "Consent {}{}: {} → {} ({})",
                s(c, "kind"),
                c["topic"]
                    .as_str()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default(),
                c["from_state"].as_str().unwrap_or("–"),
                c["to_state"].as_str().unwrap_or("–"),
                s(c, "source")
            ),
        });
    }
    moments.retain(|m| !m.at.is_empty());
    moments.sort_by(|a, b| a.at.cmp(&b.at));
    moments
}

/// Where the lead is now, in one sentence — or why it went nowhere.
pub fn whereabouts(story: &Story<'_>) -> String {
    let routing = story.routing;
    if let Some(current) = routing.map(|r| &r["current"]).filter(|c| c.is_object()) {
        return format!(
            "With {} since {}, via {}{}.",
            owner(&current["owner"]),
            super::layout::when(s(current, "assigned_at")),
            s(current, "via"),
            current["rule"]
                .as_str()
                .map(|r| format!(" (rule {r})"))
                .unwrap_or_default()
        );
    }
    let reasons = routing
        .and_then(|r| r["why_not_routed"]["reasons"].as_array())
        .map(|rs| {
            rs.iter()
                .map(|r| format!("{} — {}", s(r, "code"), s(r, "detail")))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|t| !t.is_empty());
    match reasons {
        Some(r) => format!("Not routed: {r}."),
        None => "Not with anyone now.".into(),
    }
}

fn field_rows(lead: &Value) -> String {
    let mut out = String::new();
    for (key, label) in [
        ("email", "Email"),
        ("first_name", "First name"),
        ("last_name", "Last name"),
        ("company", "Company"),
        ("company_domain", "Company domain"),
        ("title", "Title"),
        ("country", "Country"),
        ("lead_source", "Lead source"),
        ("created_at", "Created"),
    ] {
        if let Some(v) = lead[key].as_str() {
            out.push_str(&format!(
                "<tr><th scope=\"row\">{label}</th><td>{}</td></tr>",
                escape(v)
            ));
        }
    }
    if let Some(t) = lead["first_touch"].as_object() {
        let parts: Vec<String> = t
            .iter()
            .filter(|(k, _)| k.as_str() != "at")
            .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
            .collect();
        out.push_str(&format!(
            "<tr><th scope=\"row\">First touch</th><td>{}</td></tr>",
            escape(&parts.join(", "))
        ));
    }
    out
}

fn score_section(score: Option<&Value>) -> String {
    let Some(sc) = score else {
        return "<h2>Score</h2><p>Never scored.</p>".into();
    };
    let mut out = format!(
        "<h2>Score</h2><p>Total <strong id=\"score-total\">{:.0}</strong> (fit {:.0}, engagement {:.0}), stage <strong>{}</strong>, model version {}.</p>",
        sc["total"].as_f64().unwrap_or(0.0),
        sc["fit"].as_f64().unwrap_or(0.0),
        sc["engagement"].as_f64().unwrap_or(0.0),
        escape(s(sc, "stage")),
        sc["model_version"]
    );
    let rules = items(Some(sc), "rules");
    if !rules.is_empty() {
        out.push_str("<table><thead><tr><th scope=\"col\">Rule</th><th scope=\"col\">Kind</th><th scope=\"col\" class=\"num\">Points</th><th scope=\"col\">Detail</th></tr></thead><tbody>");
        for r in rules {
            let detail = match (r["matched"].as_u64(), r["points_before_decay"].as_f64()) {
                (Some(m), Some(before)) => format!(
                    "{m} matched, {} counted; {before:.1} before decay",
                    r["counted"].as_u64().unwrap_or(m)
                ),
                (Some(m), None) => format!("{m} matched"),
                _ => r["description"].as_str().unwrap_or("").to_string(),
            };
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.1}</td><td>{}</td></tr>",
                escape(s(r, "rule")),
                escape(s(r, "kind")),
                r["points"].as_f64().unwrap_or(0.0),
                escape(&detail)
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

fn routing_section(routing: Option<&Value>) -> String {
    let mut out = String::from("<h2>Routing decisions</h2>");
    let history = items(routing, "history");
    if history.is_empty() {
        out.push_str("<p>No routing decision yet.</p>");
    }
    for a in history {
        out.push_str(&format!(
            "<details><summary>{} — to {} via {}{}</summary><ol>",
            escape(&super::layout::when(s(a, "assigned_at"))),
            escape(&owner(&a["owner"])),
            escape(s(a, "via")),
            if a["current"] == true {
                " (current)"
            } else {
                ""
            }
        ));
        for step in items(Some(&a["explanation"]), "steps") {
            let mut line = format!(
                "{}{}: {}",
                s(step, "step"),
                step["rule"]
                    .as_str()
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default(),
                match (step["matched"].as_bool(), step["result"].as_str()) {
                    (_, Some(result)) => result.to_string(),
                    (Some(true), None) => "matched".into(),
                    (Some(false), None) => "did not match".into(),
                    _ => String::new(),
                }
            );
            if let Some(reason) = step["reason"].as_str() {
                line.push_str(&format!(" — {reason}"));
            }
            out.push_str(&format!("<li>{}", escape(&line)));
            let candidates = items(Some(&step["team"]), "candidates");
            if !candidates.is_empty() {
                out.push_str("<ul>");
                for c in candidates {
                    out.push_str(&format!(
                        "<li>{} {}: {}</li>",
                        escape(s(c, "rep")),
                        escape(s(c, "result")),
                        escape(c["reason"].as_str().unwrap_or(""))
                    ));
                }
                out.push_str("</ul>");
            }
            out.push_str("</li>");
        }
        out.push_str("</ol></details>");
    }
    out
}

fn sla_section(sla: Option<&Value>) -> String {
    let clocks = items(sla, "clocks");
    let mut out = String::from("<h2>SLA</h2>");
    if clocks.is_empty() {
        out.push_str("<p>No SLA clock.</p>");
        return out;
    }
    out.push_str("<table><thead><tr><th scope=\"col\">Owner</th><th scope=\"col\">Tier</th><th scope=\"col\">Started</th><th scope=\"col\">Deadline</th><th scope=\"col\">Standing</th><th scope=\"col\">Ladder</th></tr></thead><tbody>");
    for c in clocks {
        let steps: Vec<String> = items(Some(c), "steps")
            .iter()
            .map(|st| match st["taken_at"].as_str() {
                Some(at) => format!("{} taken {at}", s(st, "action")),
                None => format!("{} due {}", s(st, "action"), s(st, "due_at")),
            })
            .collect();
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            escape(&owner(&c["owner"])),
            escape(s(c, "tier")),
            escape(s(c, "started_at")),
            escape(s(c, "deadline_at")),
            if s(c, "standing") == "breached" { "bad" } else { "" },
            escape(s(c, "standing")),
            escape(&steps.join("; "))
        ));
    }
    out.push_str("</tbody></table>");
    out
}

fn consent_section(consent: Option<&Value>, history: Option<&Value>) -> String {
    let mut out = String::from("<h2>Consent</h2>");
    let Some(c) = consent else {
        out.push_str("<p>Not available to this key (it needs <code>consent:read</code>).</p>");
        return out;
    };
    if let Some(why) = c["suppressed"].as_str() {
        out.push_str(&format!(
            "<p class=\"bad\">Suppressed: {}.</p>",
            escape(why)
        ));
    }
    out.push_str("<table><thead><tr><th scope=\"col\">Topic</th><th scope=\"col\">State</th><th scope=\"col\">May send</th><th scope=\"col\">Why</th></tr></thead><tbody>");
    for t in items(Some(c), "topics") {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(s(t, "name")),
            escape(s(t, "state")),
            if t["may_send"] == true { "yes" } else { "no" },
            escape(s(t, "reason"))
        ));
    }
    out.push_str("</tbody></table>");
    let events = items(history, "events");
    if !events.is_empty() {
        out.push_str("<h3>Proof</h3><table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Source</th><th scope=\"col\">From</th><th scope=\"col\">Wording</th></tr></thead><tbody>");
        for e in events {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(s(e, "at")),
                escape(s(e, "kind")),
                escape(e["topic"].as_str().unwrap_or("")),
                escape(s(e, "source")),
                escape(
                    &[e["ip"].as_str(), e["user_agent"].as_str()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · ")
                ),
                escape(e["wording"].as_str().unwrap_or(""))
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

/// A submission's page: what arrived, as it arrived (`GET /v1/leads/{id}/submissions/{sid}`),
/// the headers kept with it, and what normalisation made of it with its data-quality flags.
pub fn submission(sub: &Value) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let body = s(sub, "body");
    // A JSON body is shown indented; anything else exactly as it came.
    let shown =
        serde_json::from_str::<Value>(body).map_or_else(|_| body.to_string(), |v| pretty(&v));
    let mut out = format!(
        "<p><a href=\"/console/leads/{lead}\">Back to the lead</a></p>\
         <table><tbody><tr><th scope=\"row\">Received</th><td>{}</td></tr><tr><th scope=\"row\">Kind</th><td>{}</td></tr>\
         <tr><th scope=\"row\">From</th><td>{}</td></tr><tr><th scope=\"row\">Content type</th><td>{}</td></tr>\
         <tr><th scope=\"row\">Status</th><td>{}</td></tr></tbody></table>\
         <h2>Payload as received</h2><pre id=\"raw\">{}</pre>",
        super::layout::time_tag(s(sub, "received_at")),
        escape(s(sub, "kind")),
        escape(sub["source_id"].as_str().unwrap_or("–")),
        escape(sub["content_type"].as_str().unwrap_or("–")),
        escape(s(sub, "status")),
        escape(&shown),
        lead = escape(s(sub, "lead_id")),
    );
    let flags = sub["normalised"]["flags"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    out.push_str("<h2>Data quality</h2>");
    if flags.is_empty() {
        out.push_str("<p>No flag.</p>");
    } else {
        out.push_str("<ul>");
        for f in flags {
            out.push_str(&format!(
                "<li><span class=\"tag\">{}</span>{}</li>",
                escape(s(f, "code")),
                escape(s(f, "detail"))
            ));
        }
        out.push_str("</ul>");
    }
    out.push_str(&format!(
        "<h2>What normalisation made of it</h2><pre id=\"normalised\">{}</pre><h2>Headers kept</h2><pre>{}</pre>",
        escape(&pretty(&sub["normalised"])),
        escape(&pretty(&sub["headers"]))
    ));
    out
}

/// The manual reassignment form (for a key with `leads:write`): a rep from the roster or a
/// queue, and the reason, which is recorded and explained like any assignment.
pub fn reassign_form(lead_id: &str, reps: &Value, csrf: &str) -> String {
    let mut options = String::from("<option value=\"\">Choose a rep…</option>");
    for r in reps["reps"].as_array().map_or(&[][..], Vec::as_slice) {
        if r["status"] == "active" {
            options.push_str(&format!(
                "<option value=\"{}\">{} ({})</option>",
                escape(s(r, "id")),
                escape(s(r, "name")),
                escape(s(r, "id"))
            ));
        }
    }
    format!(
        "<h2>Reassign</h2><form method=\"post\" action=\"/console/leads/{}/assignment\" class=\"filters\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <div><label for=\"re-rep\">To rep</label><select id=\"re-rep\" name=\"rep\">{options}</select></div>\
         <div><label for=\"re-queue\">or to queue</label><input id=\"re-queue\" name=\"queue\" type=\"text\"></div>\
         <div><label for=\"re-reason\">Why (recorded)</label><input id=\"re-reason\" name=\"reason\" type=\"text\" required maxlength=\"500\"></div>\
         <div><button type=\"submit\">Reassign</button></div></form>",
        escape(lead_id),
        escape(csrf),
    )
}

/// The story page's body.
pub fn render(story: &Story<'_>) -> String {
    let lead = story.lead;
    let mut out = format!(
        "<p class=\"whereabouts\" id=\"whereabouts\"><strong>{}</strong></p>",
        escape(&whereabouts(story))
    );
    out.push_str(&format!(
        "<h2>Lead</h2><table><tbody>{}</tbody></table>",
        field_rows(lead)
    ));
    let flags = items(Some(lead), "data_quality");
    if !flags.is_empty() {
        out.push_str("<h2>Data quality</h2><ul>");
        for f in flags {
            out.push_str(&format!(
                "<li><span class=\"tag\">{}</span>{}</li>",
                escape(s(f, "code")),
                escape(s(f, "detail"))
            ));
        }
        out.push_str("</ul>");
    }
    out.push_str("<h2>Timeline</h2><ol class=\"timeline\" id=\"timeline\">");
    for m in timeline(story) {
        out.push_str(&format!(
            "<li data-kind=\"{}\">{}{}</li>",
            m.kind,
            super::layout::time_tag(&m.at),
            match &m.href {
                Some(href) => format!(
                    "{} <a href=\"{}\">raw payload</a>",
                    escape(&m.text),
                    escape(href)
                ),
                None => escape(&m.text),
            }
        ));
    }
    out.push_str("</ol>");
    out.push_str(&score_section(story.score));
    out.push_str(&routing_section(story.routing));
    out.push_str(&sla_section(story.sla));
    out.push_str(&workflows_section(story.workflows));
    out.push_str(&consent_section(story.consent, story.consent_history));
    out
}

/// The lead's workflows: each enrolment (or why it was not enrolled) with every step taken,
/// skipped or failed and its reason, and its lists with when and why it joined them.
fn workflows_section(w: Option<&Value>) -> String {
    let mut out = String::from("<h2>Workflows</h2>");
    let Some(w) = w else {
        out.push_str("<p>Not available.</p>");
        return out;
    };
    let enrolments = items(Some(w), "enrolments");
    if enrolments.is_empty() {
        out.push_str("<p>No workflow has enrolled this lead.</p>");
    }
    for e in enrolments {
        let name = e["workflow"].as_str().unwrap_or(s(e, "workflow_id"));
        let standing = match (s(e, "state"), e["next_due_at"].as_str()) {
            ("waiting", Some(due)) => format!("waiting until {due}"),
            ("not_enrolled", _) => format!("not enrolled: {}", s(e, "reason")),
            (state, _) => match e["reason"].as_str() {
                Some(why) => format!("{state}: {why}"),
                None => state.to_string(),
            },
        };
        let chain = items(Some(e), "caused_by");
        let caused = if chain.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = chain.iter().filter_map(Value::as_str).collect();
            format!(" Caused by the steps of {}.", escape(&names.join(" → ")))
        };
        out.push_str(&format!(
            "<h3 class=\"enrolment\" data-state=\"{}\">{} <span class=\"muted\">v{}</span></h3><p>{} Started {}.{}</p>",
            escape(s(e, "state")),
            escape(name),
            e["version"].as_i64().unwrap_or(0),
            escape(&standing),
            escape(s(e, "started_at")),
            caused
        ));
        let steps = items(Some(e), "steps");
        if steps.is_empty() {
            continue;
        }
        out.push_str("<table><thead><tr><th scope=\"col\">Step</th><th scope=\"col\">Action</th><th scope=\"col\">Outcome</th><th scope=\"col\">Why</th><th scope=\"col\">When</th></tr></thead><tbody>");
        for st in steps {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(s(st, "id")),
                escape(s(st, "action")),
                if s(st, "outcome") == "failed" {
                    "bad"
                } else {
                    ""
                },
                escape(s(st, "outcome")),
                escape(s(st, "reason")),
                escape(s(st, "at"))
            ));
        }
        out.push_str("</tbody></table>");
    }
    let lists = items(Some(w), "lists");
    if !lists.is_empty() {
        out.push_str("<h3>Lists</h3><table><thead><tr><th scope=\"col\">List</th><th scope=\"col\">Joined</th><th scope=\"col\">Why</th></tr></thead><tbody>");
        for l in lists {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(s(l, "name")),
                escape(s(l, "joined_at")),
                escape(s(l, "cause"))
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

    fn lead() -> Value {
        json!({"id": "lead_1", "email": "ada@example.com", "company": "<Acme>", "created_at": "2026-11-30T09:00:00Z",
            "data_quality": [{"code": "free_email", "detail": "a free mail domain"}],
            "history": [{"submission_id": "sub_1", "kind": "form", "source_id": "form_a", "received_at": "2026-11-30T09:00:00Z", "status": "processed", "flags": []}]})
    }

    #[test]
    fn the_timeline_orders_everything_that_happened_oldest_first() {
        let lead = lead();
        let score = json!({"transitions": [{"from_stage": "new", "to_stage": "mql", "reason": "score", "total": 72.0, "at": "2026-11-30T09:00:01Z"}]});
        let routing = json!({"history": [{"owner": {"rep": "alice"}, "via": "rule", "rule": "emea", "team": "emea-sdr", "reason": "mql", "assigned_at": "2026-11-30T09:00:02Z", "ended_at": null}]});
        let sla = json!({"events": [{"step": "warn", "action": "warn", "at": "2026-11-30T10:00:00Z"}],
            "touches": [{"type": "call", "rep": "alice", "occurred_at": "2026-11-30T09:30:00Z"}], "tasks": [], "clocks": []});
        let story = Story {
            lead: &lead,
            score: Some(&score),
            routing: Some(&routing),
            sla: Some(&sla),
            consent: None,
            consent_history: None,
            workflows: None,
        };
        let kinds: Vec<&str> = timeline(&story).iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["submission", "stage", "routing", "touch", "sla"]);
        assert!(timeline(&story)[2]
            .text
            .contains("rep alice via rule, rule emea, team emea-sdr"));
    }

    #[test]
    fn the_reassign_form_offers_active_reps_and_requires_a_reason() {
        let reps = json!({"reps": [{"id": "al", "name": "Al", "status": "active"}, {"id": "ex", "name": "Ex", "status": "left"}]});
        let html = reassign_form("lead_1", &reps, "tok");
        assert!(html.contains("action=\"/console/leads/lead_1/assignment\""));
        assert!(html.contains("<option value=\"al\">Al (al)</option>"));
        assert!(!html.contains("value=\"ex\""));
        assert!(html.contains("name=\"reason\" type=\"text\" required"));
    }

    #[test]
    fn a_submission_shows_its_payload_as_received_and_its_flags() {
        let sub = json!({"lead_id": "lead_1", "kind": "form", "source_id": "form_a", "received_at": "2026-12-01T09:00:00Z",
            "status": "processed", "content_type": "application/x-www-form-urlencoded", "body": "{\"email\":\"<a@b.co>\"}",
            "headers": {"origin": "https://www.example.com"}, "normalised": {"flags": [{"code": "free_email", "detail": "free"}]}});
        let html = submission(&sub);
        assert!(
            html.contains("&quot;email&quot;: &quot;&lt;a@b.co&gt;&quot;"),
            "{html}"
        );
        assert!(html.contains("<span class=\"tag\">free_email</span>"));
        assert!(html.contains("href=\"/console/leads/lead_1\""));
        let lead = lead();
        let story = Story {
            lead: &lead,
            score: None,
            routing: None,
            sla: None,
            consent: None,
            consent_history: None,
            workflows: None,
        };
        assert!(render(&story)
            .contains("<a href=\"/console/leads/lead_1/submissions/sub_1\">raw payload</a>"));
    }

    #[test]
    fn a_lead_that_went_nowhere_says_why() {
        let lead = lead();
        let routing = json!({"current": null, "history": [], "why_not_routed": {"routed": false,
            "reasons": [{"code": "not_an_mql", "detail": "score 20 is below the MQL threshold 60"}]}});
        let story = Story {
            lead: &lead,
            score: None,
            routing: Some(&routing),
            sla: None,
            consent: None,
            consent_history: None,
            workflows: None,
        };
        assert_eq!(
            whereabouts(&story),
            "Not routed: not_an_mql — score 20 is below the MQL threshold 60."
        );
        let html = render(&story);
        assert!(html.contains("Never scored."));
        assert!(html.contains("&lt;Acme&gt;"));
        assert!(html.contains("<span class=\"tag\">free_email</span>"));
        assert!(html.contains("needs <code>consent:read</code>"));
    }

    #[test]
    fn the_routing_trail_lists_every_step_and_candidate() {
        let lead = lead();
        let routing = json!({"current": {"owner": {"rep": "bob"}, "via": "rule", "rule": "us", "assigned_at": "2026-11-30T09:00:02Z"},
            "history": [{"owner": {"rep": "bob"}, "via": "rule", "current": true, "assigned_at": "2026-11-30T09:00:02Z",
              "explanation": {"steps": [
                {"step": "rule", "rule": "emea", "matched": false},
                {"step": "rule", "rule": "us", "matched": true, "result": "assigned", "team": {"candidates": [
                    {"rep": "alice", "result": "skipped", "reason": "at capacity"}, {"rep": "bob", "result": "chosen"}]}}]}}]});
        let story = Story {
            lead: &lead,
            score: None,
            routing: Some(&routing),
            sla: None,
            consent: None,
            consent_history: None,
            workflows: None,
        };
        assert_eq!(
            whereabouts(&story),
            "With rep bob since 30 Nov 2026 09:00 UTC, via rule (rule us)."
        );
        let html = render(&story);
        assert!(html.contains("<li>rule emea: did not match"));
        assert!(html.contains("<li>alice skipped: at capacity</li>"));
        assert!(html.contains("(current)"));
    }

    #[test]
    fn the_workflows_section_says_why_each_step_ran_or_did_not() {
        let lead = lead();
        let workflows = json!({"enrolments": [
            {"workflow_id": "wf_a", "workflow": "Free <trial>", "version": 2, "state": "waiting", "next_due_at": "2026-12-12T09:00:00Z",
             "started_at": "2026-11-30T09:00:03Z", "caused_by": [], "steps": [
                {"id": "points", "action": "record_activity", "outcome": "taken", "reason": "activity trial_started recorded", "at": "2026-11-30T09:00:03Z"},
                {"id": "account", "action": "webhook", "outcome": "failed", "reason": "webhook endpoint whe_x is not registered", "at": "2026-11-30T09:00:03Z"}]},
            {"workflow_id": "wf_b", "workflow": "Echo", "version": 1, "state": "not_enrolled", "reason": "a workflow never triggers itself",
             "started_at": "2026-11-30T09:00:04Z", "caused_by": ["wf_b"], "steps": []}],
            "lists": [{"id": "list_a", "name": "Trials", "joined_at": "2026-11-30T09:00:03Z", "cause": "workflow:wf_a:wfe_1"}],
            "list_history": [{"list_id": "list_a", "name": "Trials", "change": "joined", "at": "2026-11-30T09:00:03Z", "cause": "workflow:wf_a:wfe_1"}]});
        let story = Story {
            lead: &lead,
            score: None,
            routing: None,
            sla: None,
            consent: None,
            consent_history: None,
            workflows: Some(&workflows),
        };
        let html = render(&story);
        assert!(html.contains("Free &lt;trial&gt; <span class=\"muted\">v2</span>"));
        assert!(html.contains("waiting until 2026-12-12T09:00:00Z"));
        assert!(html.contains(
            "<td class=\"bad\">failed</td><td>webhook endpoint whe_x is not registered</td>"
        ));
        assert!(html.contains("not enrolled: a workflow never triggers itself"));
        assert!(html.contains("Caused by the steps of wf_b."));
        assert!(html
            .contains("<td>Trials</td><td>2026-11-30T09:00:03Z</td><td>workflow:wf_a:wfe_1</td>"));
        let kinds: Vec<&str> = timeline(&story).iter().map(|m| m.kind).collect();
        assert_eq!(kinds, ["submission", "workflow", "list", "workflow"]);
    }
}
