//! Email providers' feedback webhooks: bounces, complaints, unsubscribes.
//!
//! Each provider module authenticates a request by that provider's scheme (SendGrid: ECDSA P-256
//! signature; Mailgun: HMAC; Amazon SES through SNS: an RSA signature with Amazon's certificate;
//! Postmark signs nothing, so HTTP Basic credentials configured on the webhook) and reads its
//! payload into [`Feedback`]. Hard bounces and complaints suppress; soft bounces count toward the
//! configured limit; unsubscribes opt out; auto-replies and provider-side blocks are recorded but
//! are not opt-outs. Public-key signatures are prepared here as a [`SignatureCheck`] and verified
//! by the handler with the runtime's WebCrypto.

pub mod mailgun;
pub mod postmark;
pub mod sendgrid;
pub mod ses;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ledger::Change;
use super::SuppressionReason;
use crate::problem::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Sendgrid,
    Postmark,
    Mailgun,
    Ses,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Sendgrid,
        Provider::Postmark,
        Provider::Mailgun,
        Provider::Ses,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Provider::Sendgrid => "sendgrid",
            Provider::Postmark => "postmark",
            Provider::Mailgun => "mailgun",
            Provider::Ses => "ses",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// What a provider tells us about one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    HardBounce,
    SoftBounce,
    Complaint,
    Unsubscribe,
    /// An out-of-office or similar automatic reply: not an opt-out.
    AutoReply,
    /// The provider or the receiving server refused this message (policy, reputation, content):
    /// a delivery problem, not the person's choice.
    Blocked,
}

impl FeedbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::HardBounce => "hard_bounce",
            FeedbackKind::SoftBounce => "soft_bounce",
            FeedbackKind::Complaint => "complaint",
            FeedbackKind::Unsubscribe => "unsubscribe",
            FeedbackKind::AutoReply => "auto_reply",
            FeedbackKind::Blocked => "blocked",
        }
    }

    /// The ledger change this feedback makes.
    pub fn change(self) -> Change {
        match self {
            FeedbackKind::HardBounce => Change::Suppress(SuppressionReason::HardBounce),
            FeedbackKind::Complaint => Change::Suppress(SuppressionReason::Complaint),
            FeedbackKind::SoftBounce => Change::SoftBounce,
            FeedbackKind::Unsubscribe => Change::OptOut { topics: None },
            FeedbackKind::AutoReply | FeedbackKind::Blocked => {
                Change::Note(format!("provider_{}", self.as_str()))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feedback {
    pub email: String,
    pub kind: FeedbackKind,
    /// The provider's id for the event, for replay detection.
    pub event_id: String,
    pub at: i64,
    pub detail: Value,
}

/// A public-key signature for the runtime's WebCrypto to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// ECDSA P-256 with SHA-256; `signature` is `r || s` (64 bytes).
    EcdsaP256Sha256 {
        spki: Vec<u8>,
        signature: Vec<u8>,
        message: Vec<u8>,
    },
    /// RSASSA-PKCS1-v1_5; `sha1` selects SHA-1 (SNS SignatureVersion 1) over SHA-256.
    RsaPkcs1 {
        sha1: bool,
        spki: Vec<u8>,
        signature: Vec<u8>,
        message: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    NotConfigured,
    Unauthenticated(String),
    Stale,
    Payload(String),
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::NotConfigured => write!(f, "this provider is not configured"),
            ProviderError::Unauthenticated(why) => write!(f, "{why}"),
            ProviderError::Stale => {
                write!(f, "the signed timestamp is outside the tolerance window")
            }
            ProviderError::Payload(why) => write!(f, "{why}"),
        }
    }
}

/// How each provider's webhooks are authenticated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    #[serde(default)]
    pub sendgrid: Option<sendgrid::Config>,
    #[serde(default)]
    pub postmark: Option<postmark::Config>,
    #[serde(default)]
    pub mailgun: Option<mailgun::Config>,
    #[serde(default)]
    pub ses: Option<ses::Config>,
}

impl ProvidersConfig {
    pub fn validate(self) -> Result<ProvidersConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(c) = &self.sendgrid {
            errors.extend(c.validate());
        }
        if let Some(c) = &self.postmark {
            errors.extend(c.validate());
        }
        if let Some(c) = &self.mailgun {
            errors.extend(c.validate());
        }
        if let Some(c) = &self.ses {
            errors.extend(c.validate());
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    /// The configuration as the API shows it: which providers are on, never their secrets.
    pub fn view(&self) -> Value {
        serde_json::json!({
            "sendgrid": self.sendgrid.as_ref().map(|_| serde_json::json!({"configured": true})),
            "postmark": self.postmark.as_ref().map(|c| serde_json::json!({"configured": true, "username": c.username})),
            "mailgun": self.mailgun.as_ref().map(|c| serde_json::json!({"configured": true, "tolerance_seconds": c.tolerance_seconds})),
            "ses": self.ses.as_ref().map(|c| serde_json::json!({
                "configured": true,
                "topic_arns": c.topic_arns,
                "pinned_certificates": c.certificates.keys().collect::<Vec<_>>(),
            })),
        })
    }
}

/// Lower-cased addresses, skipping values that are not addresses.
pub(crate) fn address(raw: &str) -> Option<String> {
    crate::intake::email::Email::parse(raw)
        .ok()
        .map(|e| e.as_str().to_string())
}

pub(crate) type Headers<'a> = &'a [(String, String)];

pub(crate) fn header<'a>(headers: Headers<'a>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(crate) fn certificates_field_errors(certs: &BTreeMap<String, String>) -> Vec<FieldError> {
    certs
        .iter()
        .filter(|(_, pem)| {
            super::der::pem_to_der(pem)
                .and_then(|d| super::der::spki_from_certificate(&d))
                .is_none()
        })
        .map(|(url, _)| {
            FieldError::new(
                "ses.certificates",
                format!("the certificate for {url} is not a PEM X.509 certificate"),
            )
        })
        .collect()
}
