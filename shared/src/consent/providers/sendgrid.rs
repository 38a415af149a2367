//! SendGrid Event Webhook (signed): ECDSA P-256 over `timestamp || body`, the key as base64 DER
//! SubjectPublicKeyInfo from SendGrid's settings, the signature base64 DER in
//! `X-Twilio-Email-Event-Webhook-Signature`, the timestamp (seconds) in
//! `X-Twilio-Email-Event-Webhook-Timestamp`. SendGrid retries for days with the same signature,
//! so freshness is not enforced; replays are caught per event by `sg_event_id`.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{address, header, Feedback, FeedbackKind, Headers, ProviderError, SignatureCheck};
use crate::consent::der;
use crate::problem::FieldError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The verification key SendGrid shows when signed webhooks are enabled (base64 DER SPKI).
    pub public_key: String,
}

impl Config {
    pub fn validate(&self) -> Vec<FieldError> {
        match spki(&self.public_key) {
            Some(_) => Vec::new(),
            None => vec![FieldError::new(
                "sendgrid.public_key",
                "must be SendGrid's base64 verification key (MFkw…)",
            )],
        }
    }
}

fn spki(key: &str) -> Option<Vec<u8>> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .ok()?;
    let (tlv, rest) = der::read(&der)?;
    (tlv.tag == 0x30 && rest.is_empty()).then_some(der)
}

pub const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// The signature to verify for a request.
pub fn prepare(
    config: &Config,
    headers: Headers,
    body: &[u8],
) -> Result<SignatureCheck, ProviderError> {
    let sig = header(headers, SIGNATURE)
        .ok_or_else(|| ProviderError::Unauthenticated("the signature header is missing".into()))?;
    let ts = header(headers, TIMESTAMP)
        .ok_or_else(|| ProviderError::Unauthenticated("the timestamp header is missing".into()))?;
    let der_sig = base64::engine::general_purpose::STANDARD
        .decode(sig.trim())
        .map_err(|_| ProviderError::Unauthenticated("the signature is not base64".into()))?;
    let signature = der::ecdsa_der_to_raw(&der_sig, 32).ok_or_else(|| {
        ProviderError::Unauthenticated("the signature is not a DER ECDSA signature".into())
    })?;
    let spki = spki(&config.public_key).ok_or(ProviderError::NotConfigured)?;
    let mut message = ts.trim().as_bytes().to_vec();
    message.extend_from_slice(body);
    Ok(SignatureCheck::EcdsaP256Sha256 {
        spki,
        signature,
        message,
    })
}

/// The feedback in an event batch; events that say nothing about consent are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<Feedback>, ProviderError> {
    let events: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Payload(format!("not a JSON array of events: {e}")))?;
    let mut out = Vec::new();
    for e in events {
        let Some(email) = e["email"].as_str().and_then(address) else {
            continue;
        };
        let kind = match (e["event"].as_str().unwrap_or(""), e["type"].as_str()) {
            ("bounce", Some("blocked")) => FeedbackKind::Blocked,
            ("bounce", _) => FeedbackKind::HardBounce,
            ("spamreport", _) => FeedbackKind::Complaint,
            ("unsubscribe" | "group_unsubscribe", _) => FeedbackKind::Unsubscribe,
            // `dropped`, `deferred`, deliveries, opens and clicks say nothing new about consent.
            _ => continue,
        };
        // SendGrid documents sg_event_id as unique per event, yet its own documented example
        // array carries one value on eleven different events: the key joins it with what the
        // event is, for whom and when, so distinct events are never dropped as duplicates (a
        // redelivery of one event repeats all four).
        let event_id = format!(
            "{}|{}|{email}|{}",
            e["sg_event_id"].as_str().unwrap_or(""),
            e["event"].as_str().unwrap_or(""),
            e["timestamp"]
        );
        out.push(Feedback {
            email,
            kind,
            event_id,
            at: e["timestamp"].as_i64().unwrap_or(0) * 1000,
            detail: json!({ "event": e["event"], "type": e["type"], "reason": e["reason"], "status": e["status"], "asm_group_id": e["asm_group_id"] }),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;

    // Published in SendGrid's Python, Node and Go SDK tests (eventwebhook).
    const KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    const SIG: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
    const TS: &str = "1600112502";
    const PAYLOAD: &str = "[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
    // The Node SDK's two-event vector; its second event is a bounce of type "blocked".
    const KEY2: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==";
    const SIG2: &str = "MEYCIQC/I4o6vCgqRYrTljjoVWB/GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5";
    const TS2: &str = "1619651159";
    const PAYLOAD2: &str = "[{\"email\":\"invalid@gmail.com\",\"event\":\"processed\",\"send_at\":0,\"sg_event_id\":\"cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA\",\"sg_message_id\":\"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0\",\"smtp-id\":\"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>\",\"timestamp\":1619651146},\r\n{\"email\":\"invalid@gmail.com\",\"event\":\"bounce\",\"ip\":\"167.89.101.76\",\"reason\":\"552 5.2.2 The email account that you tried to reach is over quota and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm c17si1130468pgv.34 - gsmtp\",\"sg_event_id\":\"Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w\",\"sg_message_id\":\"qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0\",\"smtp-id\":\"<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>\",\"status\":\"5.2.2\",\"timestamp\":1619651147,\"tls\":1,\"type\":\"blocked\"}]\r\n";

    /// Verifies a prepared check the way WebCrypto does: raw r||s, SHA-256, P-256, SPKI key.
    pub(crate) fn host_verify(check: &SignatureCheck) -> bool {
        let SignatureCheck::EcdsaP256Sha256 {
            spki,
            signature,
            message,
        } = check
        else {
            return false;
        };
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(signature).unwrap();
        key.verify(message, &sig).is_ok()
    }

    fn check(key: &str, sig: &str, ts: &str, body: &str) -> SignatureCheck {
        let h = vec![
            (SIGNATURE.to_string(), sig.to_string()),
            (TIMESTAMP.to_string(), ts.to_string()),
        ];
        prepare(
            &Config {
                public_key: key.into(),
            },
            &h,
            body.as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn published_vectors_verify_including_high_s_signatures() {
        assert!(host_verify(&check(KEY, SIG, TS, PAYLOAD)));
        assert!(host_verify(&check(KEY2, SIG2, TS2, PAYLOAD2)));
    }

    #[test]
    fn the_sdks_negative_cases_fail() {
        let wrong_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
        assert!(!host_verify(&check(wrong_key, SIG, TS, PAYLOAD)));
        assert!(!host_verify(&check(KEY, SIG, TS, "payload")));
        let wrong_sig = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
        assert!(!host_verify(&check(KEY, wrong_sig, TS, PAYLOAD)));
        assert!(!host_verify(&check(KEY, SIG, "timestamp", PAYLOAD)));
        let h: Vec<(String, String)> = vec![];
        assert!(matches!(
            prepare(
                &Config {
                    public_key: KEY.into()
                },
                &h,
                b""
            ),
            Err(ProviderError::Unauthenticated(_))
        ));
    }

    #[test]
    fn events_map_to_feedback() {
        assert!(
            parse(PAYLOAD.as_bytes()).unwrap().is_empty(),
            "dropped says nothing new"
        );
        let f = parse(PAYLOAD2.as_bytes()).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].kind,
            FeedbackKind::Blocked,
            "a block is not an opt-out"
        );
        let batch = r#"[{"email":"A@x.com","event":"bounce","type":"bounce","sg_event_id":"1","timestamp":10},
            {"email":"b@x.com","event":"spamreport","sg_event_id":"2","timestamp":11},
            {"email":"c@x.com","event":"group_unsubscribe","asm_group_id":7,"sg_event_id":"3","timestamp":12},
            {"email":"d@x.com","event":"open","sg_event_id":"4","timestamp":13}]"#;
        let kinds: Vec<(String, FeedbackKind)> = parse(batch.as_bytes())
            .unwrap()
            .into_iter()
            .map(|f| (f.email, f.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("a@x.com".into(), FeedbackKind::HardBounce),
                ("b@x.com".into(), FeedbackKind::Complaint),
                ("c@x.com".into(), FeedbackKind::Unsubscribe),
            ]
        );
        assert!(parse(b"{}").is_err());
    }

    #[test]
    fn keys_are_validated() {
        assert!(Config {
            public_key: KEY.into()
        }
        .validate()
        .is_empty());
        assert!(!Config {
            public_key: "not a key".into()
        }
        .validate()
        .is_empty());
    }
}
