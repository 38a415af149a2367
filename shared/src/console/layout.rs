//! The console's page shell: a skip link, one heading per page, the navigation, the signed-in
//! key and the sign-out form (which carries the session's CSRF token). Every value is escaped.

use crate::html::escape;

/// The console's sections, in the navigation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Leads,
    Routing,
    Sla,
    Workflows,
    Definitions,
    Health,
}

impl Section {
    const ALL: [Section; 7] = [
        Section::Overview,
        Section::Leads,
        Section::Routing,
        Section::Sla,
        Section::Workflows,
        Section::Definitions,
        Section::Health,
    ];

    fn href(self) -> &'static str {
        match self {
            Section::Overview => "/console",
            Section::Leads => "/console/leads",
            Section::Routing => "/console/routing",
            Section::Sla => "/console/sla",
            Section::Workflows => "/console/workflows",
            Section::Definitions => "/console/definitions",
            Section::Health => "/console/health",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Leads => "Leads",
            Section::Routing => "Routing",
            Section::Sla => "SLA",
            Section::Workflows => "Workflows",
            Section::Definitions => "Definitions",
            Section::Health => "Health",
        }
    }
}

/// A time as people read it, `1 Dec 2026 17:39 UTC`, from the RFC 3339 UTC text the APIs write;
/// anything else is shown as it is.
pub fn when(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = rfc3339.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        rfc3339
            .get(r)
            .filter(|t| t.bytes().all(|c| c.is_ascii_digit()))
    };
    let parsed = (|| {
        if b.len() < 17 || b[4] != b'-' || b[10] != b'T' || !rfc3339.ends_with('Z') {
            return None;
        }
        let month: usize = digits(5..7)?.parse().ok()?;
        let day: u32 = digits(8..10)?.parse().ok()?;
        Some(format!(
            "{day} {} {} {}:{} UTC",
            MONTHS.get(month.checked_sub(1)?)?,
            digits(0..4)?,
            digits(11..13)?,
            digits(14..16)?
        ))
    })();
    parsed.unwrap_or_else(|| rfc3339.to_string())
}

/// `<time>` with the machine-readable value and the readable one.
pub fn time_tag(rfc3339: &str) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        escape(rfc3339),
        escape(&when(rfc3339))
    )
}

/// Who is signed in, as the shell shows them.
pub struct Viewer<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
}

/// The Content-Security-Policy of every console page: nothing but the console's own stylesheet,
/// no script at all, forms only to the console itself, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · revops-edge console</title>\
         <link rel=\"stylesheet\" href=\"/console/console.css\"></head>",
        escape(title)
    )
}

/// A signed-in page: `body` is already-escaped HTML.
pub fn page(section: Section, title: &str, viewer: &Viewer<'_>, body: &str) -> String {
    let mut nav = String::new();
    for s in Section::ALL {
        let current = if s == section {
            " aria-current=\"page\""
        } else {
            ""
        };
        nav.push_str(&format!(
            "<li><a href=\"{}\"{current}>{}</a></li>",
            s.href(),
            s.name()
        ));
    }
    format!(
        "{}<body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><nav aria-label=\"Console\"><span class=\"brand\">revops-edge</span><ul>{nav}</ul></nav>\
         <form method=\"post\" action=\"/console/logout\" class=\"signout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <span>Signed in as {}</span> <button type=\"submit\">Sign out</button></form></header>\
         <main id=\"main\"><h1>{}</h1>\n{body}\n</main></body></html>\n",
        head(title),
        escape(viewer.csrf),
        escape(viewer.name),
        escape(title),
    )
}

/// A page outside a session (sign-in, errors before sign-in).
pub fn bare(title: &str, body: &str) -> String {
    format!(
        "{}<body><main id=\"main\" class=\"narrow\"><h1>{}</h1>\n{body}\n</main></body></html>\n",
        head(title),
        escape(title)
    )
}

/// The sign-in form, with an error to show (already escaped text) and where to go next.
pub fn login(error: Option<&str>, next: &str) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    bare(
        "Sign in",
        &format!(
            "{error}<form method=\"post\" action=\"/console/login\">\
             <label for=\"api_key\">API key (needs <code>reports:read</code>)</label>\
             <input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <button type=\"submit\">Sign in</button></form>\
             <p class=\"hint\">The session lasts 8 hours, or until you sign out or the key is revoked. \
             What the console shows and allows is what the key's scopes allow.</p>",
            escape(next)
        ),
    )
}

/// A readable error page for a browser.
pub fn error(status: u16, message: &str) -> String {
    bare(
        match status {
            400 | 422 => "That did not work",
            401 | 403 => "Not allowed",
            404 => "Not found",
            _ => "Something went wrong",
        },
        &format!(
            "<p>{}</p><p><a href=\"/console\">Back to the console</a></p>",
            escape(message)
        ),
    )
}

/// The console's stylesheet: readable on a laptop and a phone, WCAG AA contrast, visible focus.
pub const CSS: &str = r#":root{--fg:#1a1a1a;--muted:#555;--line:#d0d0d0;--accent:#0b57d0;--cur:#0b57d0;--prev:#9aa7b8;--bad:#b3261e;--ok:#146c2e;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:#fff;line-height:1.45}
body{margin:0}
a{color:var(--accent)}
:focus-visible{outline:3px solid #f29900;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:2}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.5rem;padding:.5rem 1rem;border-bottom:1px solid var(--line)}
nav{display:flex;align-items:center;gap:1rem}nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:0}
nav a[aria-current=page]{font-weight:700;text-decoration:none;border-bottom:3px solid var(--accent)}
.brand{font-weight:700}
.signout{display:flex;gap:.5rem;align-items:center;color:var(--muted);font-size:.9rem}
main{max-width:72rem;margin:0 auto;padding:1rem}main.narrow{max-width:28rem;margin-top:3rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem;border-bottom:1px solid var(--line)}
label{display:block;margin:.5rem 0 .2rem;font-weight:600}
input,select,button{font:inherit;padding:.35rem .5rem}input[type=password],input[type=text],input[type=date]{width:100%;box-sizing:border-box}
button{background:var(--accent);color:#fff;border:0;border-radius:4px;cursor:pointer;padding:.4rem 1rem}
.error{color:var(--bad);font-weight:600}.notice{background:#e7f5ea;border:1px solid var(--ok);padding:.5rem;border-radius:4px}
textarea{width:100%;box-sizing:border-box;font-family:ui-monospace,monospace;font-size:.85rem}
table.diff td{width:50%;padding:0 .3rem}table.diff pre{margin:0;background:none;padding:0}
table.diff tr.changed td{background:#fff4ce}table.diff tr.added td:last-child{background:#e7f5ea}table.diff tr.removed td:first-child{background:#fde7e9}
nav ul{flex-wrap:wrap}.hint,.muted{color:var(--muted);font-size:.9rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.75rem;margin:0;padding:0;list-style:none}
.tiles li{border:1px solid var(--line);border-radius:6px;padding:.6rem}
.tiles .n{font-size:1.6rem;font-weight:700;display:block}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.92rem}
.wide{overflow-x:auto;max-width:100%}.wide table{min-width:44rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
thead th{overflow-wrap:normal}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.chart svg{width:100%;max-width:40rem;height:auto;display:block}
.chart rect.cur{fill:var(--cur)}svg.spark{width:8rem;height:.8rem}.chart rect.prev{fill:var(--prev)}
.chart text{font-size:12px;fill:var(--fg)}
figure{margin:1rem 0}figcaption{font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem}
.filters{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.5rem;align-items:end}
ol.timeline{list-style:none;padding:0;border-left:3px solid var(--line);margin-left:.5rem}
ol.timeline li{padding:.3rem 0 .6rem 1rem;position:relative}
ol.timeline time{color:var(--muted);font-size:.85rem;display:block}
.tag{display:inline-block;border:1px solid var(--line);border-radius:3px;padding:0 .3rem;font-size:.8rem;margin-right:.3rem}
.bad{color:var(--bad)}.ok{color:var(--ok)}
details{margin:.3rem 0}pre{white-space:pre-wrap;word-break:break-word;background:#f5f5f5;padding:.5rem;font-size:.85rem}
@media (max-width:40rem){header{flex-direction:column;align-items:flex-start}table{font-size:.85rem}main,td,th[scope=row]{overflow-wrap:anywhere}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_one_heading_the_current_section_and_an_escaped_csrf_form() {
        let html = page(
            Section::Leads,
            "Leads",
            &Viewer {
                name: "<ops>",
                csrf: "abc\"def",
            },
            "<p>x</p>",
        );
        assert_eq!(html.matches("<h1>").count(), 1);
        assert!(html.contains("<a href=\"/console/leads\" aria-current=\"page\">Leads</a>"));
        assert!(html.contains("name=\"csrf\" value=\"abc&quot;def\""));
        assert!(html.contains("Signed in as &lt;ops&gt;"));
        assert!(html.contains("href=\"#main\""));
    }

    #[test]
    fn the_login_form_labels_its_field_and_keeps_next_escaped() {
        let html = login(Some("<bad>"), "/console/leads?a=1&b=2");
        assert!(html.contains("<label for=\"api_key\">"));
        assert!(html.contains("value=\"/console/leads?a=1&amp;b=2\""));
        assert!(html.contains("&lt;bad&gt;"));
    }

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(when("2026-12-01T17:39:07.213Z"), "1 Dec 2026 17:39 UTC");
        assert_eq!(when("2026-02-09T08:05:00Z"), "9 Feb 2026 08:05 UTC");
        assert_eq!(when("not a time"), "not a time");
        assert_eq!(when("2026-13-01T00:00:00Z"), "2026-13-01T00:00:00Z");
        assert!(time_tag("2026-12-01T17:39:07Z")
            .starts_with("<time datetime=\"2026-12-01T17:39:07Z\">1 Dec"));
    }

    #[test]
    fn the_policy_allows_no_script_and_no_framing() {
        assert!(!CSP.contains("script-src"));
        assert!(CSP.contains("default-src 'none'"));
        assert!(CSP.contains("frame-ancestors 'none'"));
    }
}
