//! Signed webhooks: verifying what vendors send us, signing what we send.
//!
//! Each vendor scheme is one module that verifies a request's signature over its exact raw bytes
//! (constant-time comparison, a timestamp tolerance window where the scheme signs a timestamp)
//! and names the message for replay detection. [`adapters`] turns each vendor's payload into
//! submission fields. A new vendor is one scheme module, one adapter and one [`Vendor`] variant.

pub mod adapters;
pub mod hubspot;
pub mod outgoing;
pub mod signed;
pub mod standard;
pub mod tally;
pub mod typeform;
pub mod webflow;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The vendors whose webhooks intake accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// The Standard Webhooks scheme (also Svix and the many senders built on it).
    StandardWebhooks,
    Typeform,
    /// HubSpot signature v3 (workflow webhooks and app webhooks).
    Hubspot,
    /// Webflow form submissions (webhooks created through the API carry signatures).
    Webflow,
    /// Tally form responses (`Tally-Signature`).
    Tally,
    /// Any sender signing JSON with an HMAC the source's `signature` describes.
    SignedJson,
}

impl Vendor {
    pub const ALL: [Vendor; 6] = [
        Vendor::StandardWebhooks,
        Vendor::Typeform,
        Vendor::Hubspot,
        Vendor::Webflow,
        Vendor::Tally,
        Vendor::SignedJson,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Vendor::StandardWebhooks => "standard_webhooks",
            Vendor::Typeform => "typeform",
            Vendor::Hubspot => "hubspot",
            Vendor::Webflow => "webflow",
            Vendor::Tally => "tally",
            Vendor::SignedJson => "signed_json",
        }
    }

    pub fn parse(name: &str) -> Option<Vendor> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Whether the scheme signs a timestamp (and so can refuse stale messages); a `signed_json`
    /// source says so in its scheme.
    pub fn signs_timestamp(self, scheme: Option<&signed::Scheme>) -> bool {
        match self {
            Vendor::Typeform | Vendor::Tally => false,
            Vendor::SignedJson => scheme.is_some_and(signed::Scheme::signs_timestamp),
            _ => true,
        }
    }

    /// Whether the vendor's webhooks are form submissions (recorded as a form activity).
    pub fn sends_forms(self) -> bool {
        matches!(self, Vendor::Typeform | Vendor::Webflow | Vendor::Tally)
    }
}

/// A received request, as the verifier needs it.
pub struct Inbound<'a> {
    pub method: &'a str,
    /// The full public URL the vendor called (HubSpot v3 signs it).
    pub url: &'a str,
    /// Headers with lower-case names.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Inbound<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A verified message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Identifies the message for replay detection: the vendor's message id where it sends one,
    /// otherwise a digest of the signature (which covers the timestamp and the body).
    pub message_id: String,
    /// The signed timestamp, if the scheme has one (epoch ms).
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    MissingHeader(&'static str),
    MalformedHeader(&'static str),
    NoSecret,
    BadSignature,
    Stale { age_seconds: i64 },
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::MissingHeader(h) => write!(f, "the {h} header is missing"),
            VerifyError::MalformedHeader(h) => write!(f, "the {h} header is malformed"),
            VerifyError::NoSecret => write!(f, "the source has no usable secret configured"),
            VerifyError::BadSignature => write!(f, "no signature matches the body"),
            VerifyError::Stale { age_seconds } if *age_seconds >= 0 => {
                write!(f, "the signed timestamp is {age_seconds} s old")
            }
            VerifyError::Stale { age_seconds } => {
                write!(
                    f,
                    "the signed timestamp is {} s in the future",
                    -age_seconds
                )
            }
        }
    }
}

/// Verifies `msg` for `vendor` with any of `secrets` (several during a key rotation); a
/// `signed_json` source passes its `scheme`.
pub fn verify(
    vendor: Vendor,
    scheme: Option<&signed::Scheme>,
    secrets: &[String],
    msg: &Inbound,
    now_ms: i64,
    tolerance_ms: i64,
) -> Result<Verified, VerifyError> {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    match vendor {
        Vendor::StandardWebhooks => standard::verify(&secrets, msg, now_ms, tolerance_ms),
        Vendor::Typeform => typeform::verify(&secrets, msg),
        Vendor::Hubspot => hubspot::verify(&secrets, msg, now_ms, tolerance_ms),
        Vendor::Webflow => webflow::verify(&secrets, msg, now_ms, tolerance_ms),
        Vendor::Tally => tally::verify(&secrets, msg),
        Vendor::SignedJson => match scheme {
            Some(s) => signed::verify(s, &secrets, msg, now_ms, tolerance_ms),
            None => Err(VerifyError::NoSecret),
        },
    }
}

/// How long a message's receipt is kept: senders retry for days, re-signing each retry with a
/// fresh timestamp (Svix for about five days), so a week for every scheme; 30 days where no
/// timestamp is signed (nothing else stops a replay); and never shorter than twice the window.
pub fn receipt_retention(signs_timestamp: bool, tolerance_ms: i64) -> i64 {
    let days = if signs_timestamp { 7 } else { 30 };
    (days * crate::time::DAY).max(2 * tolerance_ms)
}

/// Refuses timestamps outside `now ± tolerance`.
pub(crate) fn check_window(ts_ms: i64, now_ms: i64, tolerance_ms: i64) -> Result<(), VerifyError> {
    let age = now_ms - ts_ms;
    if age.abs() > tolerance_ms {
        return Err(VerifyError::Stale {
            age_seconds: age / 1000,
        });
    }
    Ok(())
}

pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A replay id for schemes without message ids: the digest of the signature header.
pub(crate) fn signature_digest(signature: &str) -> String {
    format!(
        "sig:{}",
        crate::auth::hex(&Sha256::digest(signature.trim().as_bytes()))
    )
}

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Base64 (standard alphabet, padded) of HMAC-SHA256.
pub fn hmac_sha256_base64(key: &[u8], parts: &[&[u8]]) -> String {
    use hmac::Mac;
    b64().encode(hmac_sha256(key, parts).finalize().into_bytes())
}

/// Whether `expected_mac` (raw bytes) is the HMAC of `parts`, compared in constant time.
pub(crate) fn hmac_matches(key: &[u8], parts: &[&[u8]], expected_mac: &[u8]) -> bool {
    use hmac::Mac;
    hmac_sha256(key, parts).verify_slice(expected_mac).is_ok()
}

/// Hex to bytes; only pairs of hex digits (`u8::from_str_radix` alone would accept `+5`).
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if !s.len().is_multiple_of(2) || !s.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}
