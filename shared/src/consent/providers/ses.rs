//! Amazon SES feedback through SNS. The SNS envelope is signed with RSA (SignatureVersion 1:
//! SHA-1, 2: SHA-256) by the certificate at `SigningCertURL`, which must be an `https` URL on
//! `sns.<region>.amazonaws.com` ending in `.pem`; only configured topic ARNs are accepted.
//! `SubscriptionConfirmation` is confirmed by fetching `SubscribeURL` (same host rule).
//! A `Notification`'s `Message` is the SES event (`notificationType` or `eventType`).

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    address, certificates_field_errors, Feedback, FeedbackKind, ProviderError, SignatureCheck,
};
use crate::consent::der;
use crate::problem::FieldError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The SNS topics SES publishes to; messages from any other topic are refused.
    pub topic_arns: Vec<String>,
    /// Signing certificates known in advance (URL → PEM). Others are fetched from the URL (after
    /// the host check) and cached.
    #[serde(default)]
    pub certificates: BTreeMap<String, String>,
    /// Messages older than this (by their signed `Timestamp`) are refused as replays. SNS keeps
    /// a message's Timestamp across its delivery retries, which a policy can spread over an
    /// hour, so the default is an hour.
    #[serde(default = "default_max_age")]
    pub max_age_seconds: u32,
}

fn default_max_age() -> u32 {
    3600
}

impl Config {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.topic_arns.is_empty() || self.topic_arns.iter().any(|a| !a.starts_with("arn:aws")) {
            errors.push(FieldError::new(
                "ses.topic_arns",
                "list the SNS topic ARNs (arn:aws:sns:…) SES publishes to",
            ));
        }
        for url in self.certificates.keys() {
            if !is_sns_url(url, true) {
                errors.push(FieldError::new(
                    "ses.certificates",
                    format!("{url} is not an SNS certificate URL"),
                ));
            }
        }
        errors.extend(certificates_field_errors(&self.certificates));
        if !(60..=86_400).contains(&self.max_age_seconds) {
            errors.push(FieldError::new(
                "ses.max_age_seconds",
                "between 60 and 86400 seconds",
            ));
        }
        errors
    }
}

/// Whether `url` is https on an SNS host (and, for certificates, a `.pem` path).
pub fn is_sns_url(url: &str, pem: bool) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_ok = host
        .strip_prefix("sns.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
        })
        .is_some_and(|region| {
            region.len() >= 3
                && region
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    host_ok && (!pem || path.split('?').next().is_some_and(|p| p.ends_with(".pem")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

/// A parsed, not yet verified, SNS message.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub kind: MessageType,
    pub message_id: String,
    /// The signed `Timestamp` (epoch ms).
    pub timestamp_ms: Option<i64>,
    pub topic_arn: String,
    pub message: String,
    pub signing_cert_url: String,
    pub subscribe_url: Option<String>,
    sha1: bool,
    signature: Vec<u8>,
    string_to_sign: String,
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

/// Parses and checks an SNS message's envelope (type, topic, certificate URL).
pub fn envelope(config: &Config, body: &[u8]) -> Result<Envelope, ProviderError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Payload(format!("not an SNS message: {e}")))?;
    let bad = |why: &str| ProviderError::Unauthenticated(why.to_string());
    let kind = match field(&v, "Type") {
        Some("Notification") => MessageType::Notification,
        Some("SubscriptionConfirmation") => MessageType::SubscriptionConfirmation,
        Some("UnsubscribeConfirmation") => MessageType::UnsubscribeConfirmation,
        _ => return Err(ProviderError::Payload("unknown SNS message Type".into())),
    };
    let topic_arn = field(&v, "TopicArn")
        .ok_or_else(|| bad("TopicArn is missing"))?
        .to_string();
    if !config.topic_arns.contains(&topic_arn) {
        return Err(bad("the topic is not one configured for SES"));
    }
    let cert_url = field(&v, "SigningCertURL")
        .or_else(|| field(&v, "SigningCertUrl"))
        .ok_or_else(|| bad("SigningCertURL is missing"))?;
    if !is_sns_url(cert_url, true) {
        return Err(bad("SigningCertURL is not an Amazon SNS certificate URL"));
    }
    let sha1 = match field(&v, "SignatureVersion") {
        Some("1") => true,
        Some("2") => false,
        _ => return Err(bad("unsupported SignatureVersion")),
    };
    let signature = base64::engine::general_purpose::STANDARD
        .decode(field(&v, "Signature").unwrap_or(""))
        .map_err(|_| bad("Signature is not base64"))?;
    // The string to sign: each present field of the type's list, as "Name\nvalue\n".
    let names: &[&str] = match kind {
        MessageType::Notification => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        _ => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
    };
    let mut string_to_sign = String::new();
    for name in names {
        if let Some(value) = field(&v, name) {
            string_to_sign.push_str(name);
            string_to_sign.push('\n');
            string_to_sign.push_str(value);
            string_to_sign.push('\n');
        }
    }
    let subscribe_url = field(&v, "SubscribeURL")
        .or_else(|| field(&v, "SubscribeUrl"))
        .map(str::to_string);
    if let Some(url) = &subscribe_url {
        if !is_sns_url(url, false) {
            return Err(bad("SubscribeURL is not an Amazon SNS URL"));
        }
    }
    Ok(Envelope {
        kind,
        message_id: field(&v, "MessageId").unwrap_or("").to_string(),
        timestamp_ms: field(&v, "Timestamp").and_then(crate::time::parse_rfc3339),
        topic_arn,
        message: field(&v, "Message").unwrap_or("").to_string(),
        signing_cert_url: cert_url.to_string(),
        subscribe_url,
        sha1,
        signature,
        string_to_sign,
    })
}

impl Envelope {
    /// Refuses a message whose signed Timestamp is older than the configured age (or missing, or
    /// more than five minutes in the future): an old message replayed verbatim still verifies.
    pub fn fresh(&self, config: &Config, now_ms: i64) -> Result<(), ProviderError> {
        let ts = self.timestamp_ms.ok_or(ProviderError::Stale)?;
        let age = now_ms - ts;
        if age > i64::from(config.max_age_seconds) * 1000 || age < -5 * 60_000 {
            return Err(ProviderError::Stale);
        }
        Ok(())
    }

    /// The signature to verify, with the key from the signing certificate (PEM).
    pub fn check(&self, certificate_pem: &str) -> Result<SignatureCheck, ProviderError> {
        let spki = der::pem_to_der(certificate_pem)
            .and_then(|d| der::spki_from_certificate(&d))
            .ok_or_else(|| {
                ProviderError::Unauthenticated("the signing certificate cannot be read".into())
            })?;
        Ok(SignatureCheck::RsaPkcs1 {
            sha1: self.sha1,
            spki,
            signature: self.signature.clone(),
            message: self.string_to_sign.as_bytes().to_vec(),
        })
    }

    /// The SES feedback in a notification (one entry per affected recipient).
    pub fn feedback(&self) -> Vec<Feedback> {
        let Ok(m) = serde_json::from_str::<Value>(&self.message) else {
            // e.g. "Successfully validated SNS topic for Amazon SES event publishing."
            return Vec::new();
        };
        let kind_name = m["notificationType"]
            .as_str()
            .or(m["eventType"].as_str())
            .unwrap_or("");
        let (kind, recipients, when) = match kind_name {
            "Bounce" => {
                let b = &m["bounce"];
                let kind = match b["bounceType"].as_str() {
                    Some("Permanent") => FeedbackKind::HardBounce,
                    _ => FeedbackKind::SoftBounce,
                };
                (kind, &b["bouncedRecipients"], &b["timestamp"])
            }
            "Complaint" => {
                let c = &m["complaint"];
                if c["complaintFeedbackType"] == "not-spam" {
                    return Vec::new();
                }
                (
                    FeedbackKind::Complaint,
                    &c["complainedRecipients"],
                    &c["timestamp"],
                )
            }
            _ => return Vec::new(),
        };
        let at = when
            .as_str()
            .and_then(crate::time::parse_rfc3339)
            .unwrap_or(0);
        recipients
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let email = r["emailAddress"].as_str().and_then(address)?;
                // SES's feedbackId names the bounce or complaint; one notification may name
                // several recipients, each its own event.
                let feedback_id = m["bounce"]["feedbackId"]
                    .as_str()
                    .or(m["complaint"]["feedbackId"].as_str())
                    .unwrap_or(&self.message_id);
                Some(Feedback {
                    event_id: format!("{feedback_id}:{email}"),
                    email,
                    kind,
                    at,
                    detail: json!({
                        "type": kind_name,
                        "bounce_type": m["bounce"]["bounceType"],
                        "bounce_subtype": m["bounce"]["bounceSubType"],
                        "diagnostic": r["diagnosticCode"],
                        "feedback_type": m["complaint"]["complaintFeedbackType"],
                    }),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePublicKey;

    /// Verifies a prepared check the way WebCrypto does (RSASSA-PKCS1-v1_5, SHA-1 or SHA-256).
    pub(crate) fn host_verify(check: &SignatureCheck) -> bool {
        let SignatureCheck::RsaPkcs1 {
            sha1,
            spki,
            signature,
            message,
        } = check
        else {
            return false;
        };
        let key = rsa::RsaPublicKey::from_public_key_der(spki).unwrap();
        let sig = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap();
        use rsa::signature::Verifier;
        if *sha1 {
            rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(key)
                .verify(message, &sig)
                .is_ok()
        } else {
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                .verify(message, &sig)
                .is_ok()
        }
    }

    // Four real AWS-signed notifications and their certificate, from AWS's own validator tests
    // (aws-php-sns-message-validator, tests/FunctionalValidationsTest.php).
    const FIXTURES: &str = include_str!("testdata/sns_fixtures.json");
    const CERT: &str = include_str!("testdata/sns_cert.pem");

    fn fixtures() -> Vec<Value> {
        serde_json::from_str(FIXTURES).unwrap()
    }

    fn config_for(v: &Value) -> Config {
        Config {
            topic_arns: vec![v["TopicArn"].as_str().unwrap().into()],
            certificates: BTreeMap::new(),
            max_age_seconds: 3600,
        }
    }

    #[test]
    fn aws_signed_notifications_verify_with_sha1_and_sha256() {
        for f in fixtures() {
            let env = envelope(&config_for(&f), f.to_string().as_bytes()).unwrap();
            assert_eq!(env.kind, MessageType::Notification);
            assert!(host_verify(&env.check(CERT).unwrap()), "{}", f["MessageId"]);
        }
    }

    #[test]
    fn old_messages_are_refused_as_replays() {
        let f = fixtures()[0].clone();
        let config = config_for(&f);
        let env = envelope(&config, f.to_string().as_bytes()).unwrap();
        let ts = env.timestamp_ms.expect("SNS signs a Timestamp");
        assert_eq!(env.fresh(&config, ts + 3_600_000), Ok(()));
        assert_eq!(
            env.fresh(&config, ts + 3_600_001),
            Err(ProviderError::Stale)
        );
        assert_eq!(
            env.fresh(&config, ts - 10 * 60_000),
            Err(ProviderError::Stale)
        );
    }

    #[test]
    fn altered_messages_fail() {
        let mut f = fixtures()[0].clone();
        f["Message"] = json!("Hello world!");
        let env = envelope(&config_for(&f), f.to_string().as_bytes()).unwrap();
        assert!(!host_verify(&env.check(CERT).unwrap()));
        let mut f = fixtures()[2].clone();
        f.as_object_mut().unwrap().remove("Subject");
        let env = envelope(&config_for(&f), f.to_string().as_bytes()).unwrap();
        assert!(
            !host_verify(&env.check(CERT).unwrap()),
            "Subject is part of the signed string when present"
        );
    }

    #[test]
    fn envelopes_are_checked_before_any_fetch() {
        let f = fixtures()[0].clone();
        let other_topic = Config {
            topic_arns: vec!["arn:aws:sns:us-east-1:1:other".into()],
            certificates: BTreeMap::new(),
            max_age_seconds: 3600,
        };
        assert!(envelope(&other_topic, f.to_string().as_bytes()).is_err());
        for url in [
            "http://sns.us-east-2.amazonaws.com/x.pem",
            "https://sns.us-east-2.amazonaws.com.evil.com/x.pem",
            "https://evil.com/sns.us-east-2.amazonaws.com/x.pem",
            "https://sns.us-east-2.amazonaws.com/x.txt",
        ] {
            let mut g = f.clone();
            g["SigningCertURL"] = json!(url);
            assert!(
                envelope(&config_for(&g), g.to_string().as_bytes()).is_err(),
                "{url}"
            );
        }
        assert!(is_sns_url(
            "https://sns.cn-north-1.amazonaws.com.cn/c.pem",
            true
        ));
        let mut g = f.clone();
        g["SignatureVersion"] = json!("3");
        assert!(envelope(&config_for(&g), g.to_string().as_bytes()).is_err());
    }

    #[test]
    fn subscription_confirmations_sign_their_own_fields() {
        let msg = json!({"Type": "SubscriptionConfirmation", "MessageId": "m1", "Token": "tok", "TopicArn": "arn:aws:sns:us-east-1:1:ses",
            "Message": "You have chosen to subscribe", "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
            "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "2", "Signature": "", "SigningCertURL": "https://sns.us-east-1.amazonaws.com/c.pem"});
        let cfg = Config {
            topic_arns: vec!["arn:aws:sns:us-east-1:1:ses".into()],
            certificates: BTreeMap::new(),
            max_age_seconds: 3600,
        };
        let env = envelope(&cfg, msg.to_string().as_bytes()).unwrap();
        assert_eq!(
            env.string_to_sign,
            "Message\nYou have chosen to subscribe\nMessageId\nm1\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok\nTimestamp\n2026-01-01T00:00:00.000Z\nToken\ntok\nTopicArn\narn:aws:sns:us-east-1:1:ses\nType\nSubscriptionConfirmation\n"
        );
        let mut evil = msg.clone();
        evil["SubscribeURL"] = json!("https://evil.example/confirm");
        assert!(envelope(&cfg, evil.to_string().as_bytes()).is_err());
    }

    // The SES bounce notification example from AWS's documentation.
    #[test]
    fn ses_bounces_and_complaints() {
        let bounce = json!({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "jane@example.com", "status": "5.1.1", "action": "failed", "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User unknown"}],
            "timestamp": "2016-01-27T14:59:44.101Z", "feedbackId": "00000138111222aa-44455566-cccc-cccc-cccc-ddddaaaa068a-000000"},
            "mail": {"timestamp": "2016-01-27T14:59:38.237Z", "source": "john@example.com", "destination": ["jane@example.com", "mary@example.com", "richard@example.com"]}});
        let env = Envelope {
            kind: MessageType::Notification,
            message_id: "m".into(),
            timestamp_ms: None,
            topic_arn: String::new(),
            message: bounce.to_string(),
            signing_cert_url: String::new(),
            subscribe_url: None,
            sha1: false,
            signature: vec![],
            string_to_sign: String::new(),
        };
        let f = env.feedback();
        assert_eq!(
            f.len(),
            1,
            "only the bounced recipient, not every destination"
        );
        assert_eq!(
            f[0].event_id,
            "00000138111222aa-44455566-cccc-cccc-cccc-ddddaaaa068a-000000:jane@example.com",
            "the bounce's feedbackId and the recipient name the event"
        );
        assert_eq!(
            (f[0].email.as_str(), f[0].kind),
            ("jane@example.com", FeedbackKind::HardBounce)
        );
        let transient = bounce.to_string().replace("\"Permanent\"", "\"Transient\"");
        assert_eq!(
            Envelope {
                message: transient,
                ..env.clone()
            }
            .feedback()[0]
                .kind,
            FeedbackKind::SoftBounce
        );
        let complaint = json!({"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "a@b.co"}], "timestamp": "2026-01-01T00:00:00Z", "complaintFeedbackType": "abuse"}});
        assert_eq!(
            Envelope {
                message: complaint.to_string(),
                ..env.clone()
            }
            .feedback()[0]
                .kind,
            FeedbackKind::Complaint
        );
        let not_spam = complaint.to_string().replace("abuse", "not-spam");
        assert!(Envelope {
            message: not_spam,
            ..env.clone()
        }
        .feedback()
        .is_empty());
        assert!(Envelope {
            message: "Successfully validated SNS topic for Amazon SES event publishing.".into(),
            ..env
        }
        .feedback()
        .is_empty());
    }
}
