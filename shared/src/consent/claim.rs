//! The consent a submission claims (a form's checkbox, the `consent` object of `POST /v1/leads`):
//! read strictly before the submission is acknowledged, then applied against the configured
//! topics without ever losing the rest of the submission.
//!
//! A claim naming a topic that is not (or no longer) configured must not leave the submission
//! stuck: the configured topics are applied, the others are set aside and reported — the claim
//! itself stays in the stored submission as proof.

use serde::Deserialize;
use serde_json::Value;

use super::ledger::Change;
use super::{is_topic_id, TopicsConfig};
use crate::problem::FieldError;

/// Longest wording (the exact text people saw) a claim may carry.
pub const MAX_WORDING_CHARS: usize = 5000;
pub const MAX_WORDING_VERSION_CHARS: usize = 100;
pub const MAX_TOPICS: usize = 50;

/// A consent claim: granted (opt in to `topics`) or refused (opt out of `topics`, or of every
/// topic when none is named), with the wording shown.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub granted: bool,
    #[serde(default, deserialize_with = "crate::de::present")]
    topics: Option<Vec<String>>,
    #[serde(default)]
    pub wording: Option<String>,
    #[serde(default)]
    pub wording_version: Option<String>,
}

impl Claim {
    pub fn new(granted: bool, topics: Vec<String>) -> Claim {
        Claim {
            granted,
            topics: Some(topics),
            wording: None,
            wording_version: None,
        }
    }

    pub fn topics(&self) -> &[String] {
        self.topics.as_deref().unwrap_or(&[])
    }

    /// Reads a claim; errors name fields under `at` (`consent.granted`).
    pub fn parse(value: &Value, at: &str) -> Result<Claim, Vec<FieldError>> {
        if !value.is_object() {
            return Err(vec![FieldError::new(at, "must be an object")]);
        }
        let claim: Claim = crate::de::from_value(value.clone(), at).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let field = |f: &str| format!("{at}.{f}");
        let topics = claim.topics();
        if claim.granted && topics.is_empty() {
            errors.push(FieldError::new(
                field("topics"),
                "name the topics consented to",
            ));
        }
        if topics.len() > MAX_TOPICS {
            errors.push(FieldError::new(
                field("topics"),
                format!("at most {MAX_TOPICS} topics"),
            ));
        }
        for (i, t) in topics.iter().enumerate() {
            if !is_topic_id(t) {
                errors.push(FieldError::new(
                    format!("{at}.topics[{i}]"),
                    "a topic id is snake_case, 1 to 64 characters",
                ));
            }
        }
        if claim
            .wording
            .as_ref()
            .is_some_and(|w| w.chars().count() > MAX_WORDING_CHARS)
        {
            errors.push(FieldError::new(
                field("wording"),
                format!("at most {MAX_WORDING_CHARS} characters"),
            ));
        }
        if claim
            .wording_version
            .as_ref()
            .is_some_and(|w| w.chars().count() > MAX_WORDING_VERSION_CHARS)
        {
            errors.push(FieldError::new(
                field("wording_version"),
                format!("at most {MAX_WORDING_VERSION_CHARS} characters"),
            ));
        }
        if errors.is_empty() {
            Ok(claim)
        } else {
            Err(errors)
        }
    }
}

/// What a claim changes under the configured topics.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The change to record, if any configured topic is left.
    pub change: Option<Change>,
    /// Topics the claim names that are not configured: set aside, reported, never recorded.
    pub unknown: Vec<String>,
}

/// Splits a claim into the change for its configured topics and the topics set aside. An opt-in
/// is recorded unconfirmed (double opt-in topics become pending); a refusal naming only unknown
/// topics changes nothing — it never widens into an opt-out of every topic.
pub fn plan(claim: &Claim, config: &TopicsConfig) -> Plan {
    let mut known: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for t in claim.topics() {
        let list = if config.topic(t).is_some() {
            &mut known
        } else {
            &mut unknown
        };
        if !list.contains(t) {
            list.push(t.clone());
        }
    }
    let change = match (claim.granted, claim.topics().is_empty(), known.is_empty()) {
        (true, _, true) => None,
        (true, _, false) => Some(Change::OptIn {
            topics: known,
            confirmed: false,
        }),
        (false, true, _) => Some(Change::OptOut { topics: None }),
        (false, false, true) => None,
        (false, false, false) => Some(Change::OptOut {
            topics: Some(known),
        }),
    };
    Plan { change, unknown }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> TopicsConfig {
        TopicsConfig::default()
    }

    #[test]
    fn parse_names_each_offending_field() {
        let errors = Claim::parse(&json!({}), "consent").unwrap_err();
        assert_eq!(errors[0].field, "consent.granted");
        assert_eq!(errors[0].reason, "is missing");
        let errors = Claim::parse(&json!({"granted": true}), "consent").unwrap_err();
        assert_eq!(errors[0].field, "consent.topics");
        let errors = Claim::parse(
            &json!({"granted": true, "topics": ["Bad Topic"]}),
            "consent",
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "consent.topics[0]");
        assert!(Claim::parse(&json!({"granted": "yes"}), "consent").is_err());
        assert!(Claim::parse(&json!({"granted": true, "topics": null}), "consent").is_err());
        assert!(Claim::parse(
            &json!({"granted": true, "extra": 1, "topics": ["a"]}),
            "consent"
        )
        .is_err());
        assert!(Claim::parse(&json!([]), "consent").is_err());
        let long = "x".repeat(MAX_WORDING_CHARS + 1);
        let errors = Claim::parse(
            &json!({"granted": true, "topics": ["newsletter"], "wording": long}),
            "consent",
        )
        .unwrap_err();
        assert_eq!(errors[0].field, "consent.wording");
        let ok = Claim::parse(
            &json!({"granted": false, "wording": "Untick to stop", "wording_version": "v2"}),
            "consent",
        )
        .unwrap();
        assert!(!ok.granted && ok.topics().is_empty());
    }

    #[test]
    fn unknown_topics_are_set_aside_and_the_rest_applied() {
        let claim = Claim::new(
            true,
            vec!["newsletter".into(), "fax".into(), "newsletter".into()],
        );
        let p = plan(&claim, &config());
        assert_eq!(
            p.change,
            Some(Change::OptIn {
                topics: vec!["newsletter".into()],
                confirmed: false
            })
        );
        assert_eq!(p.unknown, vec!["fax".to_string()]);
    }

    #[test]
    fn a_claim_of_only_unknown_topics_changes_nothing() {
        let p = plan(&Claim::new(true, vec!["fax".into()]), &config());
        assert_eq!(p.change, None);
        // A refusal of unknown topics never becomes an opt-out of everything.
        let p = plan(&Claim::new(false, vec!["fax".into()]), &config());
        assert_eq!(p.change, None);
        assert_eq!(p.unknown, vec!["fax".to_string()]);
    }

    #[test]
    fn a_refusal_without_topics_opts_out_of_every_topic() {
        let p = plan(&Claim::new(false, vec![]), &config());
        assert_eq!(p.change, Some(Change::OptOut { topics: None }));
        let p = plan(
            &Claim::new(false, vec!["newsletter".into(), "fax".into()]),
            &config(),
        );
        assert_eq!(
            p.change,
            Some(Change::OptOut {
                topics: Some(vec!["newsletter".into()])
            })
        );
    }
}
