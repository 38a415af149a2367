//! Outgoing webhooks: the events an endpoint can subscribe to, and what a registered endpoint
//! must be. (Delivery, signing and retries are the platform's outbox; the signature is
//! [`super::standard`].)

use crate::problem::FieldError;

/// The event types an endpoint can subscribe to.
pub const EVENTS: &[&str] = &[
    "assignment.created",
    "sla.warning",
    "sla.escalated",
    "sla.reassigned",
    "email.requested",
    "workflow.notification",
];

pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// An endpoint URL: https, or http to this machine (for local receivers). ASCII only: an
/// international name is written in its xn-- form, other characters %-escaped.
pub fn url_ok(url: &str) -> bool {
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    url.len() <= MAX_URL_CHARS
        && url.bytes().all(|b| b.is_ascii_graphic())
        && (url
            .strip_prefix("https://")
            .is_some_and(|r| r.len() > 3 && !r.starts_with('/'))
            || local)
}

/// An endpoint as registered: its URL, the events it receives (all of them when none are
/// named) and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
}

impl Endpoint {
    /// Validates a registration; errors name the field.
    pub fn validate(
        url: &str,
        events: Option<Vec<String>>,
        description: Option<String>,
    ) -> Result<Endpoint, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url = url.trim().to_string();
        if !url_ok(&url) {
            errors.push(FieldError::new(
                "url",
                "give an https URL, in ASCII (http only to localhost, 127.0.0.1 or [::1])",
            ));
        }
        let events: Vec<String> =
            events.unwrap_or_else(|| EVENTS.iter().map(|e| e.to_string()).collect());
        if events.is_empty() || events.iter().any(|e| !EVENTS.contains(&e.as_str())) {
            errors.push(FieldError::new(
                "events",
                format!("give a list drawn from {}", EVENTS.join(", ")),
            ));
        }
        let description = description.unwrap_or_default().trim().to_string();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            errors.push(FieldError::new(
                "description",
                format!("at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if errors.is_empty() {
            Ok(Endpoint {
                url,
                events,
                description,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_this_machine_in_ascii() {
        for ok in [
            "https://hooks.example.com/revops",
            "http://127.0.0.1:9000/x",
            "http://localhost",
            "http://[::1]:8080/",
        ] {
            assert!(url_ok(ok), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/",
            "http://localhost.evil.com/",
            "https:///path",
            "https://exämple.com/",
            "https://a.com/ space",
            "ftp://a.com/",
        ] {
            assert!(!url_ok(bad), "{bad}");
        }
        assert!(!url_ok(&format!(
            "https://a.com/{}",
            "x".repeat(MAX_URL_CHARS)
        )));
    }

    #[test]
    fn a_registration_names_known_events_or_gets_them_all() {
        let all = Endpoint::validate(" https://a.com/h ", None, None).unwrap();
        assert_eq!(all.url, "https://a.com/h");
        assert_eq!(all.events.len(), EVENTS.len());
        let errors = Endpoint::validate(
            "http://a.com",
            Some(vec!["lead.created".into()]),
            Some("d".repeat(MAX_DESCRIPTION_CHARS + 1)),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "events", "description"]);
        assert!(Endpoint::validate("https://a.com/h", Some(vec![]), None).is_err());
    }
}
