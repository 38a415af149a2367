//! The lead search page: the filters of `GET /v1/leads` as a form, the page of results as a
//! table, and a link to the next page. The form keeps what was searched for.

use serde::Deserialize;
use serde_json::Value;

use crate::html::escape;

/// One row of `GET /v1/leads`.
#[derive(Debug, Clone, Deserialize)]
pub struct Listing {
    pub id: String,
    pub email: String,
    pub company: Option<String>,
    pub company_domain: Option<String>,
    pub lead_source: Option<String>,
    pub created_at: String,
    pub stage: String,
    pub score: Option<f64>,
    pub owner: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Page {
    pub leads: Vec<Listing>,
    pub next_cursor: Option<String>,
}

/// The filters the form offers, in order: (parameter, label, input type).
pub const FILTERS: [(&str, &str, &str); 7] = [
    ("email", "Email contains", "text"),
    ("company", "Company contains", "text"),
    ("owner", "Owner (rep id)", "text"),
    ("stage", "Stage", "text"),
    ("source", "Lead source", "text"),
    ("created_from", "Created from", "text"),
    ("created_to", "Created before", "text"),
];

/// An owner as people read it: `rep alice`, `queue emea`, or `–`.
pub fn owner_text(owner: Option<&Value>) -> String {
    match owner {
        Some(o) if o["rep"].is_string() => format!("rep {}", o["rep"].as_str().unwrap_or("")),
        Some(o) if o["queue"].is_string() => format!("queue {}", o["queue"].as_str().unwrap_or("")),
        _ => "–".into(),
    }
}

/// The query string of the next page: the same filters, with `cursor` replaced.
pub fn next_query(filters: &[(String, String)], cursor: &str) -> String {
    let mut parts: Vec<String> = filters
        .iter()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    parts.push(format!("cursor={}", encode(cursor)));
    parts.join("&")
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay as they are).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The search form, with `errors` (field, reason) shown beside it.
pub fn form(filters: &[(String, String)], errors: &[(String, String)]) -> String {
    let value = |name: &str| {
        filters
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut out = String::new();
    if !errors.is_empty() {
        out.push_str("<ul class=\"error\" role=\"alert\">");
        for (field, reason) in errors {
            out.push_str(&format!("<li>{}: {}</li>", escape(field), escape(reason)));
        }
        out.push_str("</ul>");
    }
    out.push_str(
        "<form method=\"get\" action=\"/console/leads\" class=\"filters\" role=\"search\">",
    );
    for (name, label, kind) in FILTERS {
        let hint = if name.starts_with("created") {
            " placeholder=\"2026-11-01T00:00:00Z\""
        } else {
            ""
        };
        out.push_str(&format!(
            "<div><label for=\"f-{name}\">{label}</label><input id=\"f-{name}\" name=\"{name}\" type=\"{kind}\" value=\"{}\"{hint}></div>",
            escape(value(name))
        ));
    }
    out.push_str("<div><button type=\"submit\">Search</button></div></form>");
    out
}

/// The results table and the next-page link.
pub fn results(page: &Page, filters: &[(String, String)]) -> String {
    if page.leads.is_empty() {
        return "<p id=\"results\">No lead matches.</p>".into();
    }
    let mut out = String::from(
        "<table id=\"results\"><thead><tr><th scope=\"col\">Lead</th><th scope=\"col\">Company</th><th scope=\"col\">Source</th>\
         <th scope=\"col\">Stage</th><th scope=\"col\" class=\"num\">Score</th><th scope=\"col\">Owner</th><th scope=\"col\">Created</th></tr></thead><tbody>",
    );
    for l in &page.leads {
        let company = l
            .company
            .as_deref()
            .or(l.company_domain.as_deref())
            .unwrap_or("–");
        out.push_str(&format!(
            "<tr><td><a href=\"/console/leads/{id}\">{email}</a></td><td>{company}</td><td>{source}</td><td>{stage}</td>\
             <td class=\"num\">{score}</td><td>{owner}</td><td>{created}</td></tr>",
            id = escape(&l.id),
            email = escape(&l.email),
            company = escape(company),
            source = escape(l.lead_source.as_deref().unwrap_or("–")),
            stage = escape(&l.stage),
            score = l.score.map_or("–".into(), |s| format!("{s:.0}")),
            owner = escape(&owner_text(l.owner.as_ref())),
            created = super::layout::time_tag(&l.created_at),
        ));
    }
    out.push_str("</tbody></table>");
    if let Some(cursor) = &page.next_cursor {
        out.push_str(&format!(
            "<p><a rel=\"next\" href=\"/console/leads?{}\">Next page</a></p>",
            escape(&next_query(filters, cursor))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_form_keeps_what_was_searched_and_names_errors() {
        let html = form(
            &pairs(&[("email", "a\"b"), ("stage", "mql")]),
            &[("limit".into(), "too big".into())],
        );
        assert!(html.contains("name=\"email\" type=\"text\" value=\"a&quot;b\""));
        assert!(html.contains("name=\"stage\" type=\"text\" value=\"mql\""));
        assert!(html.contains("<li>limit: too big</li>"));
        assert!(html.contains("<label for=\"f-company\">"));
    }

    #[test]
    fn results_link_each_lead_and_the_next_page_with_the_same_filters() {
        let page: Page = serde_json::from_value(json!({
            "leads": [{"id": "lead_1", "email": "ada@example.com", "company": null, "company_domain": "example.com",
                "lead_source": "webinar", "created_at": "2026-11-30T10:00:00Z", "stage": "mql", "score": 72.4,
                "owner": {"rep": "alice"}}],
            "next_cursor": "1764496800000.lead_1"
        }))
        .unwrap();
        let html = results(&page, &pairs(&[("stage", "mql"), ("cursor", "old")]));
        assert!(html.contains("<a href=\"/console/leads/lead_1\">ada@example.com</a>"));
        assert!(html.contains("<td>example.com</td>"));
        assert!(html.contains("<td>rep alice</td>"));
        assert!(html.contains("<td class=\"num\">72</td>"));
        assert!(
            html.contains("<time datetime=\"2026-11-30T10:00:00Z\">30 Nov 2026 10:00 UTC</time>")
        );
        assert!(html.contains("href=\"/console/leads?stage=mql&amp;cursor=1764496800000.lead_1\""));
        assert!(!html.contains("cursor=old"));
    }

    #[test]
    fn query_components_are_percent_encoded() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(owner_text(Some(&json!({"queue": "emea"}))), "queue emea");
        assert_eq!(owner_text(None), "–");
    }
}
