//! Postmark bounce, spam-complaint and subscription-change webhooks. Postmark signs nothing; its
//! documented protection is HTTP Basic credentials in the webhook URL, which we check in constant
//! time.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{address, header, Feedback, FeedbackKind, Headers, ProviderError};
use crate::auth::constant_time_eq;
use crate::problem::FieldError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The credentials put in the webhook URL (`https://user:password@…/hooks/email/postmark`).
    pub username: String,
    pub password: String,
}

impl Config {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.username.is_empty() || self.username.contains(':') {
            errors.push(FieldError::new(
                "postmark.username",
                "must be non-empty and contain no colon",
            ));
        }
        if self.password.chars().count() < 16 {
            errors.push(FieldError::new(
                "postmark.password",
                "use at least 16 random characters",
            ));
        }
        errors
    }
}

pub fn authenticate(config: &Config, headers: Headers) -> Result<(), ProviderError> {
    let unauthenticated =
        || ProviderError::Unauthenticated("Basic credentials are missing or wrong".into());
    let value = header(headers, "authorization").ok_or_else(unauthenticated)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthenticated());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| unauthenticated())?;
    let expected = format!("{}:{}", config.username, config.password);
    // Compare digests, so the comparison takes the same time whatever the lengths.
    let digest = |b: &[u8]| crate::auth::digest_key(&String::from_utf8_lossy(b));
    if constant_time_eq(
        digest(&decoded).as_bytes(),
        digest(expected.as_bytes()).as_bytes(),
    ) {
        Ok(())
    } else {
        Err(unauthenticated())
    }
}

fn at(v: &Value) -> i64 {
    v.as_str().and_then(crate::time::parse_rfc3339).unwrap_or(0)
}

pub fn parse(body: &[u8]) -> Result<Vec<Feedback>, ProviderError> {
    let e: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Payload(format!("not JSON: {e}")))?;
    let record = e["RecordType"].as_str().unwrap_or("");
    let (email, kind, when) = match record {
        "Bounce" => {
            let kind = match e["Type"].as_str().unwrap_or("") {
                "HardBounce" | "BadEmailAddress" => FeedbackKind::HardBounce,
                "SoftBounce" | "Transient" | "DnsError" => FeedbackKind::SoftBounce,
                "SpamComplaint" | "SpamNotification" => FeedbackKind::Complaint,
                "Unsubscribe" => FeedbackKind::Unsubscribe,
                "AutoResponder" | "AddressChange" | "ChallengeVerification" => {
                    FeedbackKind::AutoReply
                }
                "Blocked" | "DMARCPolicy" | "ManuallyDeactivated" => FeedbackKind::Blocked,
                _ => return Ok(Vec::new()),
            };
            (e["Email"].as_str(), kind, at(&e["BouncedAt"]))
        }
        "SpamComplaint" => (
            e["Email"].as_str(),
            FeedbackKind::Complaint,
            at(&e["BouncedAt"]),
        ),
        "SubscriptionChange" if e["SuppressSending"] == true => {
            let kind = match e["SuppressionReason"].as_str() {
                Some("HardBounce") => FeedbackKind::HardBounce,
                Some("SpamComplaint") => FeedbackKind::Complaint,
                _ => FeedbackKind::Unsubscribe,
            };
            (e["Recipient"].as_str(), kind, at(&e["ChangedAt"]))
        }
        _ => return Ok(Vec::new()),
    };
    let Some(email) = email.and_then(address) else {
        return Err(ProviderError::Payload(
            "the record names no valid address".into(),
        ));
    };
    let id = e["ID"]
        .as_i64()
        .map(|n| n.to_string())
        .or_else(|| e["MessageID"].as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(vec![Feedback {
        email,
        kind,
        event_id: format!("{record}:{id}"),
        at: when,
        detail: json!({ "record_type": record, "type": e["Type"], "details": e["Details"], "suppression_reason": e["SuppressionReason"] }),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            username: "postmark".into(),
            password: "a-long-random-password".into(),
        }
    }

    fn basic(user_pass: &str) -> Vec<(String, String)> {
        vec![(
            "authorization".into(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user_pass)
            ),
        )]
    }

    #[test]
    fn basic_credentials() {
        assert!(authenticate(&cfg(), &basic("postmark:a-long-random-password")).is_ok());
        assert!(authenticate(&cfg(), &basic("postmark:wrong")).is_err());
        assert!(authenticate(&cfg(), &[]).is_err());
        assert!(authenticate(&cfg(), &[("authorization".into(), "Bearer x".into())]).is_err());
    }

    // Postmark's sample bounce (as in django-anymail's tests).
    #[test]
    fn hard_bounce_sample() {
        let body = r#"{"RecordType":"Bounce","ID":901542550,"Type":"HardBounce","TypeCode":1,"ServerID":23,"Name":"Hard bounce","MessageID":"2706ee8a-737c-4285-b032-ccd317af53ed","Description":"The server was unable to deliver your message (ex: unknown user, mailbox not found).","Details":"smtp;550 5.1.1 The email account that you tried to reach does not exist.","Email":"bounce@example.com","From":"sender@example.com","BouncedAt":"2016-04-27T16:28:50.3963933-04:00","DumpAvailable":true,"Inactive":true,"CanActivate":true,"Subject":"Postmark event test","Content":"..."}"#;
        let f = parse(body.as_bytes()).unwrap();
        assert_eq!(f[0].email, "bounce@example.com");
        assert_eq!(f[0].kind, FeedbackKind::HardBounce);
        assert_eq!(f[0].event_id, "Bounce:901542550");
        assert_eq!(
            f[0].at,
            crate::time::parse_rfc3339("2016-04-27T20:28:50.396Z").unwrap()
        );
    }

    #[test]
    fn other_records() {
        let kind = |body: &str| parse(body.as_bytes()).unwrap().first().map(|f| f.kind);
        assert_eq!(
            kind(r#"{"RecordType":"Bounce","ID":1,"Type":"SoftBounce","Email":"a@x.com"}"#),
            Some(FeedbackKind::SoftBounce)
        );
        assert_eq!(
            kind(r#"{"RecordType":"Bounce","ID":2,"Type":"AutoResponder","Email":"a@x.com"}"#),
            Some(FeedbackKind::AutoReply)
        );
        assert_eq!(
            kind(r#"{"RecordType":"Bounce","ID":3,"Type":"Blocked","Email":"a@x.com"}"#),
            Some(FeedbackKind::Blocked)
        );
        assert_eq!(
            kind(
                r#"{"RecordType":"SpamComplaint","ID":4,"Type":"SpamComplaint","Email":"a@x.com"}"#
            ),
            Some(FeedbackKind::Complaint)
        );
        let sub = r#"{"RecordType":"SubscriptionChange","MessageID":"a4909a96","ServerID":23,"MessageStream":"outbound","ChangedAt":"2022-06-05T17:17:32Z","Recipient":"john@example.com","Origin":"Recipient","SuppressSending":true,"SuppressionReason":"ManualSuppression"}"#;
        assert_eq!(kind(sub), Some(FeedbackKind::Unsubscribe));
        assert_eq!(
            kind(&sub.replace("\"SuppressSending\":true", "\"SuppressSending\":false")),
            None,
            "reactivations do not opt anyone in"
        );
        assert_eq!(
            kind(r#"{"RecordType":"Delivery","Recipient":"a@x.com"}"#),
            None
        );
    }
}
