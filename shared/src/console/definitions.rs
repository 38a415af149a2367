//! The Definitions page: where the MQL definition (the scoring model), the routing rules and
//! the SLA policy are owned, reviewed and changed. Every version with who, when and why; two
//! versions side by side; a draft dry-run against recent leads; publish and rollback, each
//! with a required reason — all through the same versioned APIs as everyone else.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::s;
use crate::html::escape;

/// The three versioned documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scoring,
    Routing,
    Sla,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Scoring, Kind::Routing, Kind::Sla];

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.slug() == s)
    }

    /// The path segment under `/console/definitions/`.
    /// The handler that owns this kind's versions.
    pub fn service(self) -> crate::routes::Service {
        match self {
            Kind::Scoring => crate::routes::Service::Scoring,
            Kind::Routing => crate::routes::Service::Routing,
            Kind::Sla => crate::routes::Service::Sla,
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Kind::Scoring => "scoring",
            Kind::Routing => "routing",
            Kind::Sla => "sla",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Scoring => "Scoring model (the MQL definition)",
            Kind::Routing => "Routing rules",
            Kind::Sla => "SLA policy",
        }
    }

    /// The API collection that lists and publishes versions.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Scoring => "/v1/admin/scoring/models",
            Kind::Routing => "/v1/admin/routing/configs",
            Kind::Sla => "/v1/admin/sla/policies",
        }
    }

    pub fn rollback_path(self) -> &'static str {
        match self {
            Kind::Scoring => "/v1/admin/scoring/rollback",
            Kind::Routing => "/v1/admin/routing/rollback",
            Kind::Sla => "/v1/admin/sla/rollback",
        }
    }

    /// The dry-run endpoint, where there is one (an SLA policy has none).
    pub fn dry_run_path(self) -> Option<&'static str> {
        match self {
            Kind::Scoring => Some("/v1/admin/scoring/dry-run"),
            Kind::Routing => Some("/v1/admin/routing/dry-run"),
            Kind::Sla => None,
        }
    }

    /// The name of the document in the API's bodies (`{"model": …, "reason": …}`).
    pub fn document_key(self) -> &'static str {
        match self {
            Kind::Scoring => "model",
            Kind::Routing => "config",
            Kind::Sla => "policy",
        }
    }
}

/// A document as people review it: JSON, pretty-printed with sorted keys (serde_json's map is
/// ordered), so two versions differ only where they really do.
pub fn pretty(document: &Value) -> String {
    serde_json::to_string_pretty(document).unwrap_or_default()
}

/// One row of a side-by-side diff: the left line, the right line, and how they differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub left: Option<String>,
    pub right: Option<String>,
    pub tag: &'static str,
}

/// The side-by-side rows of `old` against `new`: unchanged lines on both sides, a removed run
/// beside the added run that replaced it.
pub fn side_by_side(old: &str, new: &str) -> Vec<Row> {
    let diff = TextDiff::from_lines(old, new);
    let mut rows = Vec::new();
    let (mut removed, mut added): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let flush = |rows: &mut Vec<Row>, removed: &mut Vec<String>, added: &mut Vec<String>| {
        let n = removed.len().max(added.len());
        let (mut r, mut a) = (removed.drain(..), added.drain(..));
        for _ in 0..n {
            let (left, right) = (r.next(), a.next());
            let tag = match (&left, &right) {
                (Some(_), Some(_)) => "changed",
                (Some(_), None) => "removed",
                _ => "added",
            };
            rows.push(Row { left, right, tag });
        }
    };
    for change in diff.iter_all_changes() {
        let line = change.value().trim_end_matches('\n').to_string();
        match change.tag() {
            ChangeTag::Delete => removed.push(line),
            ChangeTag::Insert => added.push(line),
            ChangeTag::Equal => {
                flush(&mut rows, &mut removed, &mut added);
                rows.push(Row {
                    left: Some(line.clone()),
                    right: Some(line),
                    tag: "same",
                });
            }
        }
    }
    flush(&mut rows, &mut removed, &mut added);
    rows
}

/// The diff as a table, with `a` and `b` naming the versions.
pub fn diff_table(a: i64, b: i64, rows: &[Row]) -> String {
    let changed = rows.iter().filter(|r| r.tag != "same").count();
    let mut out = format!(
        "<h2 id=\"diff\">Version {a} beside version {b}</h2><p>{changed} line{} differ.</p>\
         <table class=\"diff\"><thead><tr><th scope=\"col\">Version {a}</th><th scope=\"col\">Version {b}</th></tr></thead><tbody>",
        if changed == 1 { "" } else { "s" }
    );
    for r in rows {
        out.push_str(&format!(
            "<tr class=\"{}\"><td><pre>{}</pre></td><td><pre>{}</pre></td></tr>",
            r.tag,
            escape(r.left.as_deref().unwrap_or("")),
            escape(r.right.as_deref().unwrap_or(""))
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// A value as text: a string as it is, anything else as JSON.
fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The versions table: who published each, when and why, which is active, and a rollback form
/// (with its required reason, posted to `{base}/rollback`) for every inactive one. `base` is
/// the page's path: a definition's, or a workflow's.
pub fn versions_table(base: &str, list: &Value, csrf: &str) -> String {
    let versions = list["versions"].as_array().map_or(&[][..], Vec::as_slice);
    if versions.is_empty() {
        return "<p>Nothing published yet: the built-in definition applies.</p>".into();
    }
    let mut out = String::from(
        "<table id=\"versions\"><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Name</th><th scope=\"col\">Published</th>\
         <th scope=\"col\">By</th><th scope=\"col\">Why</th><th scope=\"col\">State</th></tr></thead><tbody>",
    );
    for v in versions {
        let version = v["version"].as_i64().unwrap_or(0);
        let state = if v["active"] == true {
            "<strong>active</strong>".to_string()
        } else {
            format!(
                "<form method=\"post\" action=\"{}/rollback\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"version\" value=\"{version}\">\
                 <label for=\"rb-{version}\">Reason to return to {version}</label>\
                 <input id=\"rb-{version}\" name=\"reason\" type=\"text\" required maxlength=\"1000\">\
                 <button type=\"submit\">Roll back to {version}</button></form>",
                escape(base),
                escape(csrf)
            )
        };
        out.push_str(&format!(
            "<tr data-version=\"{version}\"><td>{version}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td></tr>",
            escape(s(v, "name")),
            super::layout::time_tag(s(v, "published_at")),
            escape(s(v, "published_by")),
            escape(s(v, "reason")),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// The form choosing two versions to compare.
pub fn compare_form(kind: Kind, versions: &[i64], a: Option<i64>, b: Option<i64>) -> String {
    if versions.len() < 2 {
        return String::new();
    }
    let options = |chosen: Option<i64>| {
        versions
            .iter()
            .map(|v| {
                format!(
                    "<option value=\"{v}\"{}>{v}</option>",
                    if Some(*v) == chosen { " selected" } else { "" }
                )
            })
            .collect::<String>()
    };
    format!(
        "<form method=\"get\" action=\"/console/definitions/{}#diff\" class=\"filters\">\
         <div><label for=\"cmp-a\">Compare version</label><select id=\"cmp-a\" name=\"a\">{}</select></div>\
         <div><label for=\"cmp-b\">with version</label><select id=\"cmp-b\" name=\"b\">{}</select></div>\
         <div><button type=\"submit\">Compare</button></div></form>",
        kind.slug(),
        options(a.or(versions.get(1).copied())),
        options(b.or(versions.first().copied())),
    )
}

/// How a page's editor offers a dry-run: the fields it needs (HTML, inside the form) and the
/// button's words. The button posts to `{base}/dry-run`.
pub struct DryRunOffer {
    pub fields: String,
    pub button: &'static str,
}

/// The dry-run a definition's editor offers, where its kind has one.
pub fn dry_run_offer(kind: Kind) -> Option<DryRunOffer> {
    kind.dry_run_path().map(|_| DryRunOffer {
        fields: String::new(),
        button: "Dry-run against recent leads",
    })
}

/// The draft editor (under the caller's heading): the document as JSON, a dry-run (where the
/// page has one) and a publish (to `publish`) with its required reason. `errors` are the API's
/// own words about the draft.
pub fn editor(
    base: &str,
    publish: &str,
    dry_run: Option<DryRunOffer>,
    draft: &str,
    csrf: &str,
    errors: &[String],
) -> String {
    let mut out = String::new();
    if !errors.is_empty() {
        out.push_str("<ul class=\"error\" role=\"alert\">");
        for e in errors {
            out.push_str(&format!("<li>{}</li>", escape(e)));
        }
        out.push_str("</ul>");
    }
    let (fields, dry_run) = match dry_run {
        Some(offer) => (
            offer.fields,
            format!(
                "<button type=\"submit\" formaction=\"{}/dry-run\">{}</button> ",
                escape(base),
                escape(offer.button)
            ),
        ),
        None => (String::new(), String::new()),
    };
    out.push_str(&format!(
        "<form method=\"post\" action=\"{publish}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"document\">Draft (JSON)</label>\
         <textarea id=\"document\" name=\"document\" rows=\"18\" spellcheck=\"false\">{draft}</textarea>\
         {fields}\
         <label for=\"reason\">Why (required to publish; kept with the version)</label>\
         <input id=\"reason\" name=\"reason\" type=\"text\" maxlength=\"1000\">\
         <p>{dry_run}<button type=\"submit\">Publish</button></p></form>",
        publish = escape(publish),
        csrf = escape(csrf),
        draft = escape(draft),
    ));
    out
}

/// What a dry-run found, in words and a table.
pub fn dry_run_result(kind: Kind, result: &Value) -> String {
    let mut out = String::from("<section id=\"dry-run\"><h2>Dry-run</h2>");
    let counts: Vec<(&str, &Value)> = match kind {
        Kind::Scoring => {
            out.push_str(&format!(
                "<p>Of {} recent leads, <strong id=\"dry-run-changes\">{}</strong> would change stage; the mean score would move by {:.1}.</p>",
                result["evaluated"], result["would_change_stage"],
                result["mean_score_change"].as_f64().unwrap_or(0.0)
            ));
            result["transitions"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
                .unwrap_or_default()
        }
        Kind::Routing => {
            out.push_str(&format!(
                "<p>Of {} recent leads, <strong id=\"dry-run-changes\">{}</strong> would go elsewhere.</p>",
                result["evaluated"], result["would_change"]
            ));
            result["by_target"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
                .unwrap_or_default()
        }
        Kind::Sla => Vec::new(),
    };
    if !counts.is_empty() {
        out.push_str("<table><thead><tr><th scope=\"col\">Change</th><th scope=\"col\" class=\"num\">Leads</th></tr></thead><tbody>");
        for (what, n) in counts {
            out.push_str(&format!(
                "<tr><th scope=\"row\">{}</th><td class=\"num\">{n}</td></tr>",
                escape(what)
            ));
        }
        out.push_str("</tbody></table>");
    }
    if let Some(sample) = result["sample"].as_array().filter(|s| !s.is_empty()) {
        out.push_str("<details><summary>Sample of leads that would change</summary><ul>");
        for lead in sample.iter().take(20) {
            out.push_str(&format!(
                "<li><a href=\"/console/leads/{0}\">{0}</a>: {1} → {2}{3}</li>",
                escape(s(lead, "lead_id")),
                escape(&text(&lead["from"])),
                escape(&text(&lead["to"])),
                lead["rule"]
                    .as_str()
                    .map(|r| format!(" (rule {})", escape(r)))
                    .unwrap_or_default()
            ));
        }
        out.push_str("</ul></details>");
    }
    out.push_str("<p class=\"muted\">Nothing was changed. Publish to make it live.</p></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_through_their_slugs() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.slug()), Some(k));
        }
        assert_eq!(Kind::parse("forms"), None);
        assert!(Kind::Sla.dry_run_path().is_none());
    }

    #[test]
    fn a_diff_pairs_a_changed_line_and_keeps_the_rest_beside_itself() {
        let old = pretty(&json!({"name": "a", "stages": [{"enter_at": 60}]}));
        let new = pretty(&json!({"name": "a", "stages": [{"enter_at": 50}], "zz": 1}));
        let rows = side_by_side(&old, &new);
        let changed: Vec<&Row> = rows.iter().filter(|r| r.tag != "same").collect();
        assert!(changed.iter().any(|r| r.tag == "changed"
            && r.left.as_deref().unwrap().contains("60")
            && r.right.as_deref().unwrap().contains("50")));
        assert!(changed
            .iter()
            .any(|r| r.right.as_deref().is_some_and(|l| l.contains("\"zz\""))));
        assert!(rows
            .iter()
            .any(|r| r.tag == "same" && r.left.as_deref() == Some("  \"name\": \"a\",")));
        assert!(side_by_side(&old, &old).iter().all(|r| r.tag == "same"));
        assert!(diff_table(1, 2, &rows).contains("<tr class=\"changed\">"));
    }

    #[test]
    fn versions_show_who_when_why_and_offer_rollback_with_a_reason() {
        let list = json!({"versions": [
            {"version": 2, "name": "v2", "published_at": "2026-11-30T10:00:00Z", "published_by": "key_1", "reason": "lower the bar", "active": true},
            {"version": 1, "name": "v1", "published_at": "2026-11-01T10:00:00Z", "published_by": "key_1", "reason": "<first>", "active": false}]});
        let html = versions_table("/console/definitions/scoring", &list, "tok");
        assert!(html.contains("<strong>active</strong>"));
        assert!(html.contains("action=\"/console/definitions/scoring/rollback\""));
        assert!(html.contains("name=\"reason\" type=\"text\" required"));
        assert!(html.contains("&lt;first&gt;"));
        assert_eq!(html.matches("Roll back to").count(), 1);
    }

    #[test]
    fn the_editor_offers_a_dry_run_only_where_there_is_one() {
        let page = |kind: Kind, draft: &str, errors: &[String]| {
            let base = format!("/console/definitions/{}", kind.slug());
            editor(
                &base,
                &format!("{base}/publish"),
                dry_run_offer(kind),
                draft,
                "t",
                errors,
            )
        };
        let routing = page(Kind::Routing, "{}", &[]);
        assert!(routing.contains("formaction=\"/console/definitions/routing/dry-run\""));
        assert!(routing.contains("action=\"/console/definitions/routing/publish\""));
        assert!(!page(Kind::Sla, "{}", &[]).contains("dry-run"));
        assert!(page(Kind::Sla, "<x>", &["bad".into()]).contains("&lt;x&gt;</textarea>"));
        let offer = DryRunOffer {
            fields: "<input id=\"days\" name=\"days\">".into(),
            button: "Replay",
        };
        let custom = editor(
            "/console/workflows/wf_1",
            "/console/workflows/wf_1/publish",
            Some(offer),
            "{}",
            "t",
            &[],
        );
        assert!(custom.contains("<input id=\"days\" name=\"days\">"));
        assert!(custom.contains("formaction=\"/console/workflows/wf_1/dry-run\">Replay</button>"));
    }

    #[test]
    fn a_dry_run_says_what_would_change_and_that_nothing_did() {
        let html = dry_run_result(
            Kind::Routing,
            &json!({"evaluated": 40, "would_change": 3, "by_target": {"rep:bob": 3}, "sample": [{"lead_id": "lead_1", "from": "rep:al", "to": "rep:bob", "rule": "us"}]}),
        );
        assert!(html.contains("<strong id=\"dry-run-changes\">3</strong>"));
        assert!(html.contains("<th scope=\"row\">rep:bob</th><td class=\"num\">3</td>"));
        assert!(html.contains("Nothing was changed"));
        assert!(html.contains("lead_1</a>: rep:al → rep:bob (rule us)"));
    }
}
