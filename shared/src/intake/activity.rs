//! Activities: what a lead did (page views, email clicks, webinars, trials, meetings …), the
//! behaviour engagement scoring counts.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::problem::FieldError;

/// The activity types the system knows; tools may also send `custom:<name>`.
pub const KNOWN_TYPES: &[&str] = &[
    "page_view",
    "pricing_page_view",
    "email_open",
    "email_click",
    "content_download",
    "webinar_registered",
    "webinar_attended",
    "event_attended",
    "trial_signup",
    "demo_request",
    "meeting_booked",
    "form_submission",
    "product_signup",
    "chat_started",
];

pub fn is_activity_type(t: &str) -> bool {
    KNOWN_TYPES.contains(&t)
        || t.strip_prefix("custom:").is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The body of `POST /v1/activities`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityBody {
    #[serde(default, deserialize_with = "crate::de::present")]
    pub lead_id: Option<String>,
    #[serde(default, deserialize_with = "crate::de::present")]
    pub email: Option<String>,
    #[serde(rename = "type")]
    #[serde(default, deserialize_with = "crate::de::present")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "crate::de::present")]
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    /// The sender's id for the activity: a repeat with the same id is recorded once.
    #[serde(default, deserialize_with = "crate::de::present")]
    pub external_id: Option<String>,
    /// Where the activity comes from (`marketo`, `segment` …).
    #[serde(default, deserialize_with = "crate::de::present")]
    pub source: Option<String>,
}

/// A validated activity, not yet tied to a lead id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub lead_id: Option<String>,
    pub email: Option<crate::intake::email::Email>,
    pub kind: String,
    pub occurred_at: i64,
    pub properties: BTreeMap<String, Value>,
    pub external_id: Option<String>,
    pub source: Option<String>,
}

/// Validates an activity received at `now`; it may be backdated but not from the future.
pub fn validate(body: ActivityBody, now_ms: i64) -> Result<NewActivity, Vec<FieldError>> {
    let mut errors = Vec::new();
    let email = match body.email.as_deref() {
        Some(raw) => match crate::intake::email::Email::parse(raw) {
            Ok(e) => Some(e),
            Err(reason) => {
                errors.push(FieldError::new("email", reason));
                None
            }
        },
        None => None,
    };
    if body.lead_id.is_none() && body.email.is_none() {
        errors.push(FieldError::new(
            "lead_id",
            "give the lead_id or the email of the lead",
        ));
    }
    if let Some(id) = &body.lead_id {
        if !crate::ids::is_id(crate::ids::prefix::LEAD, id) {
            errors.push(FieldError::new("lead_id", "is not a lead id (lead_…)"));
        }
    }
    let kind = body.kind.unwrap_or_default();
    if !is_activity_type(&kind) {
        errors.push(FieldError::new(
            "type",
            format!(
                "`{kind}` is not an activity type; use one of {} or custom:<name>",
                KNOWN_TYPES.join(", ")
            ),
        ));
    }
    let occurred_at = match body.occurred_at.as_deref() {
        None => now_ms,
        Some(text) => match crate::time::parse_rfc3339(text) {
            Some(t) if t <= now_ms + 5 * crate::time::MINUTE => t,
            Some(_) => {
                errors.push(FieldError::new("occurred_at", "is in the future"));
                now_ms
            }
            None => {
                errors.push(FieldError::new(
                    "occurred_at",
                    "is not an RFC 3339 date-time",
                ));
                now_ms
            }
        },
    };
    if body.properties.len() > 50
        || serde_json::to_string(&body.properties).map_or(0, |s| s.len()) > 8192
    {
        errors.push(FieldError::new(
            "properties",
            "at most 50 properties and 8 KB",
        ));
    }
    if body
        .external_id
        .as_ref()
        .is_some_and(|e| e.is_empty() || e.chars().count() > 200)
    {
        errors.push(FieldError::new(
            "external_id",
            "must be 1 to 200 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NewActivity {
        lead_id: body.lead_id,
        email,
        kind,
        occurred_at,
        properties: body.properties,
        external_id: body.external_id,
        source: body.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> ActivityBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn valid_activities() {
        let a = validate(body(json!({"email": "Jane@Acme.com", "type": "webinar_attended", "occurred_at": "2026-11-20T10:00:00Z"})), 1_800_000_000_000).unwrap();
        assert_eq!(a.email.unwrap().as_str(), "jane@acme.com");
        assert_eq!(
            a.occurred_at,
            crate::time::parse_rfc3339("2026-11-20T10:00:00Z").unwrap()
        );
        let a = validate(body(json!({"lead_id": "lead_0000000000000000000000000a", "type": "custom:podcast_listen"})), 5).unwrap();
        assert_eq!(a.occurred_at, 5);
    }

    #[test]
    fn invalid_activities_name_each_field() {
        let errors = validate(
            body(json!({"type": "teleport", "occurred_at": "2999-01-01T00:00:00Z"})),
            0,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["lead_id", "type", "occurred_at"]);
        assert!(!is_activity_type("custom:"));
        assert!(!is_activity_type("custom:Bad Name"));
    }
}
