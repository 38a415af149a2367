//! Mailgun webhooks: `{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}`, the
//! signature being hex HMAC-SHA256 of `timestamp + token` under the webhook signing key. The
//! timestamp must be recent; each token is accepted once.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{address, Feedback, FeedbackKind, ProviderError};
use crate::problem::FieldError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP webhook signing key from Mailgun's dashboard.
    pub signing_key: String,
    /// How old a signed timestamp may be (Mailgun retries for hours).
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u32,
}

fn default_tolerance() -> u32 {
    12 * 3600
}

impl Config {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.signing_key.trim().chars().count() < 16 {
            errors.push(FieldError::new(
                "mailgun.signing_key",
                "must be Mailgun's webhook signing key",
            ));
        }
        if !(60..=86_400).contains(&self.tolerance_seconds) {
            errors.push(FieldError::new(
                "mailgun.tolerance_seconds",
                "must be between 60 and 86400",
            ));
        }
        errors
    }
}

/// Verifies the signature in the body; returns the token (the replay id).
pub fn verify(config: &Config, body: &Value, now_ms: i64) -> Result<String, ProviderError> {
    let sig = &body["signature"];
    let (Some(ts), Some(token), Some(signature)) = (
        sig["timestamp"].as_str(),
        sig["token"].as_str(),
        sig["signature"].as_str(),
    ) else {
        return Err(ProviderError::Unauthenticated(
            "the signature object is missing or incomplete".into(),
        ));
    };
    let mac = crate::webhooks::decode_hex(signature)
        .ok_or_else(|| ProviderError::Unauthenticated("the signature is not hex".into()))?;
    if !crate::webhooks::hmac_matches(
        config.signing_key.trim().as_bytes(),
        &[ts.as_bytes(), token.as_bytes()],
        &mac,
    ) {
        return Err(ProviderError::Unauthenticated(
            "the signature does not match".into(),
        ));
    }
    let ts: i64 = ts
        .parse()
        .map_err(|_| ProviderError::Unauthenticated("the timestamp is not a number".into()))?;
    if (now_ms / 1000 - ts).abs() > i64::from(config.tolerance_seconds) {
        return Err(ProviderError::Stale);
    }
    Ok(token.to_string())
}

pub fn parse(body: &Value) -> Result<Vec<Feedback>, ProviderError> {
    let e = &body["event-data"];
    let Some(email) = e["recipient"].as_str().and_then(address) else {
        return Err(ProviderError::Payload(
            "event-data names no valid recipient".into(),
        ));
    };
    let kind = match (e["event"].as_str().unwrap_or(""), e["severity"].as_str()) {
        ("failed", Some("permanent")) => FeedbackKind::HardBounce,
        ("failed", _) => FeedbackKind::SoftBounce,
        ("complained", _) => FeedbackKind::Complaint,
        ("unsubscribed", _) => FeedbackKind::Unsubscribe,
        _ => return Ok(Vec::new()),
    };
    let at = e["timestamp"]
        .as_f64()
        .map(|t| (t * 1000.0) as i64)
        .unwrap_or(0);
    Ok(vec![Feedback {
        email,
        kind,
        // Mailgun's event id is unique only within a day: with its timestamp it names one event.
        event_id: format!(
            "{}|{}|{at}",
            e["id"].as_str().unwrap_or(""),
            e["event"].as_str().unwrap_or("")
        ),
        at,
        detail: json!({ "event": e["event"], "severity": e["severity"], "reason": e["reason"], "code": e["delivery-status"]["code"] }),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published in mailgun-php's tests (WebhookTest::testVerifyWebhookGood / Bad).
    const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";

    fn body(token: &str, signature: &str) -> Value {
        json!({"signature": {"timestamp": "1403645220", "token": token, "signature": signature}, "event-data": {}})
    }

    #[test]
    fn published_vector() {
        let cfg = Config {
            signing_key: KEY.into(),
            tolerance_seconds: 3600,
        };
        let good = body(
            "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6",
            "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33",
        );
        assert_eq!(
            verify(&cfg, &good, 1_403_645_220_000).unwrap(),
            "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6"
        );
        let bad = body(
            "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr",
            "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33",
        );
        assert!(matches!(
            verify(&cfg, &bad, 1_403_645_220_000),
            Err(ProviderError::Unauthenticated(_))
        ));
        assert_eq!(
            verify(&cfg, &good, (1403645220 + 3601) * 1000),
            Err(ProviderError::Stale)
        );
        assert!(verify(&cfg, &json!({}), 0).is_err());
    }

    // Payloads as in django-anymail's sanitized Mailgun fixtures.
    #[test]
    fn events() {
        let permanent = json!({"event-data": {"event": "failed", "severity": "permanent", "reason": "bounce", "recipient": "invalid@example.com", "timestamp": 1534110422.389832, "delivery-status": {"code": 550}}});
        let f = parse(&permanent).unwrap();
        assert_eq!(
            (f[0].kind, f[0].at),
            (FeedbackKind::HardBounce, 1534110422389)
        );
        let temporary = json!({"event-data": {"event": "failed", "severity": "temporary", "reason": "generic", "recipient": "a@nomx.example.com", "timestamp": 1.0}});
        assert_eq!(parse(&temporary).unwrap()[0].kind, FeedbackKind::SoftBounce);
        let complained = json!({"event-data": {"event": "complained", "id": "ncV2XwymRUKbPek_MIM-Gw", "timestamp": 1377214260.049634, "recipient": "recipient@example.com"}});
        // Mailgun's id is unique within a day: its event and timestamp complete the key.
        assert_eq!(
            parse(&complained).unwrap()[0].event_id,
            "ncV2XwymRUKbPek_MIM-Gw|complained|1377214260049"
        );
        let unsub = json!({"event-data": {"event": "unsubscribed", "id": "W3X4JOhFT-OZidZGKKr9iA", "timestamp": 1377213791.421473, "recipient": "recipient@example.com"}});
        assert_eq!(parse(&unsub).unwrap()[0].kind, FeedbackKind::Unsubscribe);
        assert!(
            parse(&json!({"event-data": {"event": "delivered", "recipient": "a@b.co"}}))
                .unwrap()
                .is_empty()
        );
    }
}
