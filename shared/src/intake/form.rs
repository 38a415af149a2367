//! HTML forms posted from any site: the form's registration, the checks a post must pass
//! (origin, honeypot, rate limit), and how the answer is given (a redirect for browsers, JSON
//! for `fetch()` callers). Bodies are read by [`super::body`].

use serde::{Deserialize, Serialize};

use super::fields::{validate_field_map, FieldMap};
use crate::problem::{FieldError, ProblemKind};

/// The consent a form asks for, and the wording the person saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormConsent {
    /// The topics a ticked checkbox opts into (`marketing_email`, `newsletter`, …).
    pub topics: Vec<String>,
    /// The text next to the checkbox, kept as proof of what was agreed to.
    pub wording: String,
    /// A version label for the wording, so later changes stay distinguishable.
    pub wording_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Submissions accepted per address and form within one window.
    pub max: u32,
    pub window_seconds: u32,
}

impl RateLimit {
    /// The start of the fixed window `now` falls in (windows are aligned to the epoch, so every
    /// request in one window counts against the same row).
    pub fn window_start(&self, now: i64) -> i64 {
        let window_ms = i64::from(self.window_seconds) * 1000;
        now - now.rem_euclid(window_ms)
    }

    /// Whether the `count`-th post in the window starting at `window_start` is let through;
    /// `Err` with the whole seconds to wait until the next window otherwise (`Retry-After`).
    pub fn admit(&self, count: i64, window_start: i64, now: i64) -> Result<(), i64> {
        if count > i64::from(self.max) {
            let window_ms = i64::from(self.window_seconds) * 1000;
            Err((window_start + window_ms - now + 999) / 1000)
        } else {
            Ok(())
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            max: 5,
            window_seconds: 600,
        }
    }
}

/// A registered form, as an admin configures it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormConfig {
    pub name: String,
    /// Origins (`https://www.example.com`) whose pages may post to the form.
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub field_map: FieldMap,
    /// Where browsers go after a successful post (303). Without it they see a thank-you page.
    #[serde(default)]
    pub success_url: Option<String>,
    /// Where browsers go when a post is refused, with `error` and `message` query parameters.
    /// Without it they see a page explaining what to fix.
    #[serde(default)]
    pub error_url: Option<String>,
    #[serde(default)]
    pub lead_source: Option<String>,
    /// ISO country (`GB`) of phone numbers written without `+` when the post names no country;
    /// without it such numbers keep their digits and a data-quality flag.
    #[serde(default)]
    pub default_country: Option<String>,
    #[serde(default)]
    pub consent: Option<FormConsent>,
    /// A field hidden from people (CSS) that bots fill in. Posts that fill it are refused.
    #[serde(default)]
    pub honeypot_field: Option<String>,
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Refuse posts that carry neither `Origin` nor `Referer` (browsers always send one).
    #[serde(default = "yes")]
    pub require_origin: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// `scheme://host[:port]`, lower-cased, or `None` if `text` is not an http(s) origin. The host is
/// what browsers put in `Origin`: ASCII letters, digits, dots and hyphens (internationalised names
/// in their xn-- form, IPv4 addresses); the port, if any, 0 to 65535.
pub fn parse_origin(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))?;
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65_535)
    });
    (host_ok && port_ok).then_some(t)
}

/// The origin of a URL (`https://acme.com/demo?x` → `https://acme.com`).
pub fn origin_of_url(url: &str) -> Option<String> {
    let t = url.trim();
    let scheme_end = t.find("://")? + 3;
    let end = t[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(t.len(), |i| scheme_end + i);
    parse_origin(&t[..end])
}

fn is_http_url(url: &str) -> bool {
    let u = url.trim().to_ascii_lowercase();
    (u.starts_with("https://") || u.starts_with("http://")) && origin_of_url(url).is_some()
}

impl FormConfig {
    /// The consent a post claims: the form's topics, with the wording shown as proof, when the
    /// form asks for consent and the visitor ticked the box; nothing otherwise (an unticked box
    /// changes no consent).
    pub fn consent_claim(&self, ticked: Option<bool>) -> Option<serde_json::Value> {
        match (&self.consent, ticked) {
            (Some(c), Some(true)) => Some(serde_json::json!({
                "granted": true,
                "topics": c.topics,
                "wording": c.wording,
                "wording_version": c.wording_version,
            })),
            _ => None,
        }
    }

    /// Checks the configuration, naming every offending field.
    pub fn validate(mut self) -> Result<FormConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 100 {
            errors.push(FieldError::new(
                "name",
                "give the form a name of 1 to 100 characters",
            ));
        }
        if let Err(e) = super::country::check_default_country(&mut self.default_country) {
            errors.push(e);
        }
        if self.allowed_origins.is_empty() {
            errors.push(FieldError::new(
                "allowed_origins",
                "list at least one origin, like https://www.example.com",
            ));
        }
        let mut origins = Vec::new();
        for (i, o) in self.allowed_origins.iter().enumerate() {
            match parse_origin(o) {
                Some(o) => origins.push(o),
                None => errors.push(FieldError::new(
                    format!("allowed_origins[{i}]"),
                    format!("`{o}` is not an origin (scheme://host[:port], no path)"),
                )),
            }
        }
        self.allowed_origins = origins;
        for (field, url) in [
            ("success_url", &self.success_url),
            ("error_url", &self.error_url),
        ] {
            if let Some(url) = url {
                if !is_http_url(url) {
                    errors.push(FieldError::new(field, "must be an absolute http(s) URL"));
                }
            }
        }
        if let Err(problems) = validate_field_map(&self.field_map) {
            errors.extend(
                problems
                    .into_iter()
                    .map(|p| FieldError::new("field_map", p)),
            );
        }
        if let Some(consent) = &self.consent {
            if consent.topics.is_empty()
                || !consent
                    .topics
                    .iter()
                    .all(|t| crate::consent::is_topic_id(t))
            {
                errors.push(FieldError::new(
                    "consent.topics",
                    "list one or more topics in snake_case",
                ));
            }
            if consent.wording.trim().is_empty() {
                errors.push(FieldError::new(
                    "consent.wording",
                    "give the exact wording people see",
                ));
            }
            if consent.wording_version.trim().is_empty() {
                errors.push(FieldError::new(
                    "consent.wording_version",
                    "label the wording's version",
                ));
            }
        }
        if let Some(hp) = &self.honeypot_field {
            if hp.trim().is_empty() {
                errors.push(FieldError::new("honeypot_field", "must not be empty"));
            }
        }
        let rl = self.rate_limit;
        if !(1..=1000).contains(&rl.max) {
            errors.push(FieldError::new(
                "rate_limit.max",
                "must be between 1 and 1000",
            ));
        }
        if !(10..=86_400).contains(&rl.window_seconds) {
            errors.push(FieldError::new(
                "rate_limit.window_seconds",
                "must be between 10 and 86400",
            ));
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    /// The admin API's validation: submitted JSON to the JSON to store.
    pub fn validate_json(
        body: serde_json::Value,
        _stored: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, Vec<FieldError>> {
        let config: FormConfig = crate::de::from_value(body, "").map_err(|e| vec![e])?;
        Ok(serde_json::to_value(config.validate()?).unwrap_or_default())
    }

    /// What the admin API shows for a stored form.
    pub fn view_json(id: &str, stored: &serde_json::Value) -> serde_json::Value {
        let mut v = stored.clone();
        v["id"] = serde_json::Value::String(id.to_string());
        v["post_url"] = serde_json::Value::String(format!("/f/{id}"));
        v
    }

    /// The origin a post came from, if it is allowed; otherwise why not.
    pub fn check_origin(
        &self,
        origin: Option<&str>,
        referer: Option<&str>,
    ) -> Result<Option<String>, Refusal> {
        // `Origin: null` (sandboxed iframes, `data:` pages, some redirects) is an opaque origin:
        // it satisfies no allowed origin, and a Referer beside it proves nothing.
        if origin.is_some_and(|o| o.trim() == "null") {
            return Err(Refusal::OriginNotAllowed("null".into()));
        }
        let seen = origin
            .and_then(parse_origin)
            .or_else(|| referer.and_then(origin_of_url));
        match seen {
            Some(o) if self.allowed_origins.contains(&o) => Ok(Some(o)),
            Some(o) => Err(Refusal::OriginNotAllowed(o)),
            None if self.require_origin => Err(Refusal::MissingOrigin),
            None => Ok(None),
        }
    }

    /// Whether the honeypot field was filled in.
    pub fn honeypot_tripped(&self, fields: &[(String, serde_json::Value)]) -> bool {
        let Some(hp) = &self.honeypot_field else {
            return false;
        };
        fields
            .iter()
            .any(|(k, v)| k == hp && !super::normalize::value_text(v).is_empty())
    }
}

/// Why a form post was refused. Every refusal is counted per form and reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    Disabled,
    OriginNotAllowed(String),
    MissingOrigin,
    Honeypot,
    RateLimited { retry_after_seconds: i64 },
    Invalid(Vec<FieldError>),
    TooLarge(usize),
    UnsupportedMediaType(String),
    Malformed(String),
}

impl Refusal {
    /// The counter and query-parameter name of the reason.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Disabled => "form_disabled",
            Refusal::OriginNotAllowed(_) => "origin_not_allowed",
            Refusal::MissingOrigin => "missing_origin",
            Refusal::Honeypot => "honeypot",
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::Invalid(_) => "invalid",
            Refusal::TooLarge(_) => "too_large",
            Refusal::UnsupportedMediaType(_) => "unsupported_media_type",
            Refusal::Malformed(_) => "malformed",
        }
    }

    pub fn kind(&self) -> ProblemKind {
        match self {
            Refusal::Disabled => ProblemKind::Gone,
            Refusal::OriginNotAllowed(_) | Refusal::MissingOrigin => ProblemKind::OriginNotAllowed,
            Refusal::Honeypot => ProblemKind::SpamSuspected,
            Refusal::RateLimited { .. } => ProblemKind::RateLimited,
            Refusal::Invalid(_) => ProblemKind::Validation,
            Refusal::TooLarge(_) => ProblemKind::PayloadTooLarge,
            Refusal::UnsupportedMediaType(_) => ProblemKind::UnsupportedMediaType,
            Refusal::Malformed(_) => ProblemKind::BadRequest,
        }
    }

    /// What to tell the person, in words they can act on.
    pub fn message(&self) -> String {
        match self {
            Refusal::Disabled => "This form no longer accepts submissions.".into(),
            Refusal::OriginNotAllowed(o) => format!("This form does not accept submissions from {o}."),
            Refusal::MissingOrigin => "This form only accepts submissions sent by a web browser from its own site.".into(),
            Refusal::Honeypot => "Your submission looked automated, so we could not accept it. If you are a person, please reload the page and send it again, or contact us directly.".into(),
            Refusal::RateLimited { retry_after_seconds } => format!(
                "We received several submissions from you in a short time. Please try again in {} minute(s).",
                (retry_after_seconds + 59) / 60
            ),
            Refusal::Invalid(errors) => {
                let parts: Vec<String> = errors.iter().map(|e| format!("{} {}", e.field, e.reason)).collect();
                format!("Please check the form: {}.", parts.join("; "))
            }
            Refusal::TooLarge(max) => format!("The submission is too large (at most {max} bytes)."),
            Refusal::UnsupportedMediaType(t) => format!("The form was sent as `{t}`, which this endpoint does not read."),
            Refusal::Malformed(why) => format!("The submission could not be read: {why}."),
        }
    }

    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Refusal::Invalid(errors) => errors.clone(),
            _ => Vec::new(),
        }
    }
}

/// Whether the caller asked for JSON (a `fetch()` call) rather than a page (a plain form post).
pub fn wants_json(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        let a = a.to_ascii_lowercase();
        a.contains("application/json") || a.contains("+json")
    })
}

/// `url` with query parameters added.
pub fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = url
        .split_once('#')
        .map_or((url, None), |(b, f)| (b, Some(f)));
    let mut out = base.to_string();
    for (i, (k, v)) in params.iter().enumerate() {
        let sep = if i == 0 && !base.contains('?') {
            '?'
        } else {
            '&'
        };
        out.push(sep);
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_window_admits_max_posts_then_says_when_the_next_window_opens() {
        let rl = RateLimit {
            max: 2,
            window_seconds: 600,
        };
        let now = 1_800_000_123_456;
        let start = rl.window_start(now);
        assert_eq!(start % 600_000, 0);
        assert!(start <= now && now < start + 600_000);
        assert_eq!(rl.admit(2, start, now), Ok(()));
        let wait = rl.admit(3, start, now).unwrap_err();
        assert_eq!(wait, (start + 600_000 - now + 999) / 1000);
        assert!((1..=600).contains(&wait));
        // The last millisecond of a window still waits a whole second.
        assert_eq!(rl.admit(3, start, start + 599_999), Err(1));
    }

    #[test]
    fn only_a_ticked_box_on_a_form_that_asks_claims_consent() {
        let mut form = config();
        form.consent = Some(FormConsent {
            topics: vec!["newsletter".into()],
            wording: "Send me news".into(),
            wording_version: "v1".into(),
        });
        let claim = form.consent_claim(Some(true)).unwrap();
        assert_eq!(claim["granted"], true);
        assert_eq!(claim["topics"], serde_json::json!(["newsletter"]));
        assert_eq!(claim["wording_version"], "v1");
        assert_eq!(form.consent_claim(Some(false)), None);
        assert_eq!(form.consent_claim(None), None);
        form.consent = None;
        assert_eq!(form.consent_claim(Some(true)), None);
    }

    fn config() -> FormConfig {
        FormConfig {
            name: "Demo request".into(),
            allowed_origins: vec!["https://www.acme.com/".into()],
            field_map: FieldMap::new(),
            success_url: Some("https://www.acme.com/thanks".into()),
            error_url: None,
            lead_source: None,
            default_country: None,
            consent: None,
            honeypot_field: Some("website_url".into()),
            rate_limit: RateLimit::default(),
            require_origin: true,
            enabled: true,
        }
    }

    #[test]
    fn configs_validate_and_normalise_origins() {
        let c = config().validate().unwrap();
        assert_eq!(c.allowed_origins, ["https://www.acme.com"]);
        let mut bad = config();
        bad.allowed_origins = vec!["www.acme.com".into(), "https://acme.com/path".into()];
        bad.success_url = Some("/thanks".into());
        bad.rate_limit.max = 0;
        bad.field_map.insert("x".into(), "nonsense".into());
        let errors = bad.validate().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "allowed_origins[0]",
                "allowed_origins[1]",
                "success_url",
                "field_map",
                "rate_limit.max"
            ]
        );
    }

    #[test]
    fn origins_are_what_browsers_send() {
        for ok in [
            "https://www.acme.com",
            "HTTPS://WWW.Acme.com/",
            "http://localhost:8787",
            "https://xn--bcher-kva.example",
            "http://127.0.0.1:8790",
            "https://a:65535",
        ] {
            assert!(parse_origin(ok).is_some(), "{ok}");
        }
        for bad in [
            "https://",
            "https://acme.com/path",
            "https://acme.com:26*",
            "https://acme.com:65536",
            "https://acme.com:",
            "https://bücher.example",
            "https://a b.com",
            "https://user@acme.com",
            "http://[::1]:8080",
            "ftp://acme.com",
        ] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn origins_are_checked_from_origin_or_referer() {
        let c = config().validate().unwrap();
        assert_eq!(
            c.check_origin(Some("https://www.acme.com"), None),
            Ok(Some("https://www.acme.com".into()))
        );
        assert_eq!(
            c.check_origin(None, Some("https://www.acme.com/demo?x=1")),
            Ok(Some("https://www.acme.com".into()))
        );
        assert_eq!(
            c.check_origin(Some("https://evil.com"), None),
            Err(Refusal::OriginNotAllowed("https://evil.com".into()))
        );
        assert_eq!(
            c.check_origin(Some("https://www.acme.com.evil.com"), None),
            Err(Refusal::OriginNotAllowed(
                "https://www.acme.com.evil.com".into()
            ))
        );
        // An opaque origin never satisfies the list, not even with an allowed Referer beside it.
        assert_eq!(
            c.check_origin(Some("null"), None),
            Err(Refusal::OriginNotAllowed("null".into()))
        );
        assert_eq!(
            c.check_origin(Some("null"), Some("https://www.acme.com/contact")),
            Err(Refusal::OriginNotAllowed("null".into()))
        );
        assert_eq!(c.check_origin(None, None), Err(Refusal::MissingOrigin));
        let mut lax = config();
        lax.require_origin = false;
        assert_eq!(lax.check_origin(None, None), Ok(None));
    }

    #[test]
    fn honeypot_only_when_filled() {
        let c = config();
        let filled = vec![("website_url".to_string(), serde_json::json!("http://spam"))];
        let empty = vec![("website_url".to_string(), serde_json::json!(""))];
        assert!(c.honeypot_tripped(&filled));
        assert!(!c.honeypot_tripped(&empty));
    }

    #[test]
    fn json_callers_and_redirect_urls() {
        assert!(wants_json(Some("application/json")));
        assert!(wants_json(Some("application/problem+json, */*")));
        assert!(!wants_json(Some(
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!wants_json(None));
        assert_eq!(
            with_query(
                "https://a.com/oops?x=1#f",
                &[("error", "invalid"), ("message", "email is missing")]
            ),
            "https://a.com/oops?x=1&error=invalid&message=email%20is%20missing#f"
        );
        assert_eq!(
            with_query("https://a.com/t", &[("a", "1")]),
            "https://a.com/t?a=1"
        );
    }

    #[test]
    fn refusals_have_messages_for_people() {
        assert!(Refusal::RateLimited {
            retry_after_seconds: 61
        }
        .message()
        .contains("2 minute"));
        let invalid = Refusal::Invalid(vec![FieldError::new("email", "is missing")]);
        assert_eq!(
            invalid.message(),
            "Please check the form: email is missing."
        );
        assert_eq!(invalid.kind().status(), 422);
    }
}
