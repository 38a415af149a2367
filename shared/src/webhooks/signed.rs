//! Any other sender — Jotform, Zapier, Make, n8n, a homegrown app — that signs a JSON body with
//! an HMAC: the source's configuration says where the signature is (`header`), how it is written
//! (`hex` or `base64`, after an optional `prefix` such as `sha256=`) and what is signed (the body,
//! or a timestamp header, a separator and the body — then the timestamp must be inside the
//! source's window). A configured `id_header` names messages for replay detection.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{
    b64, check_window, decode_hex, hmac_matches, signature_digest, Inbound, Verified, VerifyError,
};
use crate::problem::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Hex,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Signs {
    /// HMAC over the raw body.
    #[default]
    Body,
    /// HMAC over `{timestamp}{separator}{body}`.
    TimestampAndBody,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TimestampUnit {
    #[default]
    Seconds,
    Milliseconds,
}

/// How a `signed_json` source signs its requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheme {
    /// The header carrying the signature (`X-Signature`).
    pub header: String,
    pub encoding: Encoding,
    /// Text before the signature in the header (`sha256=`).
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub signs: Signs,
    /// The header carrying the signed timestamp (with `signs: timestamp_and_body`).
    #[serde(default)]
    pub timestamp_header: Option<String>,
    #[serde(default)]
    pub timestamp_unit: TimestampUnit,
    /// Between the timestamp and the body in the signed content (default `.`).
    #[serde(default)]
    pub separator: Option<String>,
    /// A header naming each message, for replay detection (otherwise the signature's digest).
    #[serde(default)]
    pub id_header: Option<String>,
}

fn header_name_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 100
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b))
}

impl Scheme {
    /// Checks the configuration; errors name `signature.<field>`.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let at = |f: &str| format!("signature.{f}");
        if !header_name_ok(&self.header) {
            errors.push(FieldError::new(
                at("header"),
                "give the name of the header carrying the signature",
            ));
        }
        match (self.signs, &self.timestamp_header) {
            (Signs::TimestampAndBody, None) => errors.push(FieldError::new(
                at("timestamp_header"),
                "name the header carrying the signed timestamp",
            )),
            (Signs::TimestampAndBody, Some(h)) | (Signs::Body, Some(h)) if !header_name_ok(h) => {
                errors.push(FieldError::new(
                    at("timestamp_header"),
                    "give a header name",
                ))
            }
            (Signs::Body, Some(_)) => errors.push(FieldError::new(
                at("timestamp_header"),
                "a timestamp header is only read when `signs` is timestamp_and_body",
            )),
            _ => {}
        }
        if let Some(h) = &self.id_header {
            if !header_name_ok(h) {
                errors.push(FieldError::new(at("id_header"), "give a header name"));
            }
        }
        if self.prefix.as_ref().is_some_and(|p| p.chars().count() > 50) {
            errors.push(FieldError::new(at("prefix"), "at most 50 characters"));
        }
        if self
            .separator
            .as_ref()
            .is_some_and(|p| p.chars().count() > 10)
        {
            errors.push(FieldError::new(at("separator"), "at most 10 characters"));
        }
        errors
    }

    /// Whether a timestamp is signed (and checked against the window).
    pub fn signs_timestamp(&self) -> bool {
        self.signs == Signs::TimestampAndBody
    }
}

pub fn verify(
    scheme: &Scheme,
    secrets: &[&str],
    msg: &Inbound,
    now_ms: i64,
    tolerance_ms: i64,
) -> Result<Verified, VerifyError> {
    let header = msg
        .header(&scheme.header)
        .ok_or(VerifyError::MissingHeader(
            "the configured signature header",
        ))?;
    let raw = header.trim();
    let raw = match &scheme.prefix {
        Some(p) => raw
            .strip_prefix(p.as_str())
            .ok_or(VerifyError::MalformedHeader(
                "the configured signature header",
            ))?,
        None => raw,
    };
    let mac = match scheme.encoding {
        Encoding::Hex => decode_hex(raw),
        Encoding::Base64 => b64().decode(raw.trim()).ok(),
    }
    .ok_or(VerifyError::MalformedHeader(
        "the configured signature header",
    ))?;
    let (timestamp, parts): (Option<i64>, Vec<&[u8]>) = match scheme.signs {
        Signs::Body => (None, vec![msg.body]),
        Signs::TimestampAndBody => {
            let ts = msg
                .header(scheme.timestamp_header.as_deref().unwrap_or(""))
                .ok_or(VerifyError::MissingHeader(
                    "the configured timestamp header",
                ))?
                .trim();
            let n: i64 = ts
                .parse()
                .map_err(|_| VerifyError::MalformedHeader("the configured timestamp header"))?;
            let ms = match scheme.timestamp_unit {
                TimestampUnit::Seconds => n.saturating_mul(1000),
                TimestampUnit::Milliseconds => n,
            };
            let sep = scheme.separator.as_deref().unwrap_or(".");
            (Some(ms), vec![ts.as_bytes(), sep.as_bytes(), msg.body])
        }
    };
    if !secrets
        .iter()
        .any(|s| hmac_matches(s.as_bytes(), &parts, &mac))
    {
        return Err(VerifyError::BadSignature);
    }
    if let Some(ms) = timestamp {
        check_window(ms, now_ms, tolerance_ms)?;
    }
    let id = scheme
        .id_header
        .as_deref()
        .and_then(|h| msg.header(h))
        .map(|v| format!("id:{}", v.trim()));
    Ok(Verified {
        message_id: id.unwrap_or_else(|| signature_digest(header)),
        timestamp_ms: timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(json: serde_json::Value) -> Scheme {
        serde_json::from_value(json).unwrap()
    }

    fn check(
        s: &Scheme,
        headers: &[(&str, &str)],
        body: &str,
        now: i64,
    ) -> Result<Verified, VerifyError> {
        let h: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        verify(
            s,
            &["s3cret"],
            &Inbound {
                method: "POST",
                url: "",
                headers: &h,
                body: body.as_bytes(),
            },
            now,
            300_000,
        )
    }

    #[test]
    fn hex_with_a_prefix_over_the_body() {
        let s = scheme(
            serde_json::json!({"header": "X-Hub-Signature-256", "encoding": "hex", "prefix": "sha256=", "id_header": "X-Request-Id"}),
        );
        assert!(s.validate().is_empty());
        let body = r#"{"email":"jo@acme.com"}"#;
        let mac = super::super::hmac_sha256(b"s3cret", &[body.as_bytes()]);
        let sig = format!(
            "sha256={}",
            crate::auth::hex(&hmac::Mac::finalize(mac).into_bytes())
        );
        let v = check(
            &s,
            &[("x-hub-signature-256", &sig), ("x-request-id", "r-1")],
            body,
            0,
        )
        .unwrap();
        assert_eq!(v.message_id, "id:r-1");
        assert_eq!(
            check(&s, &[("x-hub-signature-256", &sig)], "{}", 0),
            Err(VerifyError::BadSignature)
        );
        assert!(matches!(
            check(&s, &[("x-hub-signature-256", &sig[7..])], body, 0),
            Err(VerifyError::MalformedHeader(_))
        ));
    }

    #[test]
    fn base64_over_timestamp_and_body_inside_the_window() {
        let s = scheme(
            serde_json::json!({"header": "X-Signature", "encoding": "base64", "signs": "timestamp_and_body", "timestamp_header": "X-Timestamp", "separator": ":"}),
        );
        let body = r#"{"email":"jo@acme.com"}"#;
        let sig =
            super::super::hmac_sha256_base64(b"s3cret", &[b"1700000000", b":", body.as_bytes()]);
        let now = 1_700_000_100_000;
        let v = check(
            &s,
            &[("x-signature", &sig), ("x-timestamp", "1700000000")],
            body,
            now,
        )
        .unwrap();
        assert_eq!(v.timestamp_ms, Some(1_700_000_000_000));
        assert!(v.message_id.starts_with("sig:"));
        assert!(matches!(
            check(
                &s,
                &[("x-signature", &sig), ("x-timestamp", "1700000000")],
                body,
                now + 600_000
            ),
            Err(VerifyError::Stale { .. })
        ));
        // The timestamp is part of what is signed.
        assert_eq!(
            check(
                &s,
                &[("x-signature", &sig), ("x-timestamp", "1700000001")],
                body,
                now
            ),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn configurations_are_checked() {
        let s = scheme(
            serde_json::json!({"header": "Bad Header", "encoding": "hex", "signs": "timestamp_and_body"}),
        );
        let fields: Vec<String> = s.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["signature.header", "signature.timestamp_header"]);
    }
}
