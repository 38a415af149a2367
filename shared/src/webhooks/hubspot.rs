//! HubSpot request signature v3: `X-HubSpot-Signature-v3` is base64 HMAC-SHA256, keyed with the
//! app's client secret, of `method + uri + body + timestamp`, where `uri` is the full URL HubSpot
//! called with a fixed set of percent-encodings decoded, and `X-HubSpot-Request-Timestamp` is in
//! milliseconds (HubSpot asks receivers to refuse anything older than five minutes).

use base64::Engine;

use super::{b64, check_window, hmac_matches, signature_digest, Inbound, Verified, VerifyError};

/// The percent-encodings HubSpot decodes in the URI before signing; all others stay encoded.
const DECODED: [(&str, char); 12] = [
    ("%3A", ':'),
    ("%2F", '/'),
    ("%3F", '?'),
    ("%40", '@'),
    ("%21", '!'),
    ("%24", '$'),
    ("%27", '\''),
    ("%28", '('),
    ("%29", ')'),
    ("%2A", '*'),
    ("%2C", ','),
    ("%3B", ';'),
];

pub fn signed_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let candidate = rest.get(pos..pos + 3).unwrap_or("");
        match DECODED
            .iter()
            .find(|(enc, _)| enc.eq_ignore_ascii_case(candidate))
        {
            Some((_, c)) => {
                out.push(*c);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn verify(
    secrets: &[&str],
    msg: &Inbound,
    now_ms: i64,
    tolerance_ms: i64,
) -> Result<Verified, VerifyError> {
    let sig = msg
        .header("x-hubspot-signature-v3")
        .ok_or(VerifyError::MissingHeader("X-HubSpot-Signature-v3"))?;
    let ts = msg
        .header("x-hubspot-request-timestamp")
        .ok_or(VerifyError::MissingHeader("X-HubSpot-Request-Timestamp"))?;
    let ts_ms: i64 = ts
        .trim()
        .parse()
        .map_err(|_| VerifyError::MalformedHeader("X-HubSpot-Request-Timestamp"))?;
    let mac = b64()
        .decode(sig.trim())
        .map_err(|_| VerifyError::MalformedHeader("X-HubSpot-Signature-v3"))?;
    let uri = signed_uri(msg.url);
    let method = msg.method.to_ascii_uppercase();
    let ok = secrets.iter().any(|s| {
        hmac_matches(
            s.as_bytes(),
            &[
                method.as_bytes(),
                uri.as_bytes(),
                msg.body,
                ts.trim().as_bytes(),
            ],
            &mac,
        )
    });
    if !ok {
        return Err(VerifyError::BadSignature);
    }
    check_window(ts_ms, now_ms, tolerance_ms)?;
    Ok(Verified {
        message_id: signature_digest(sig),
        timestamp_ms: Some(ts_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const TS: &str = "1693657560000";

    fn check(uri: &str, body: &str, sig: &str, now: i64) -> Result<Verified, VerifyError> {
        let h = vec![
            ("x-hubspot-signature-v3".to_string(), sig.to_string()),
            ("x-hubspot-request-timestamp".to_string(), TS.to_string()),
        ];
        verify(
            &[SECRET],
            &Inbound {
                method: "POST",
                url: uri,
                headers: &h,
                body: body.as_bytes(),
            },
            now,
            300_000,
        )
    }

    // Published in HubSpot's Python SDK tests (tests/spec/utils/test_signature.py).
    #[test]
    fn published_v3_vector() {
        let v = check(
            "https://www.example.com/webhook_uri",
            "{'example_field':'example_value'}",
            "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=",
            1693657560000,
        )
        .unwrap();
        assert!(v.message_id.starts_with("sig:"));
        assert_eq!(v.timestamp_ms, Some(1693657560000));
    }

    // Computed from the documented decoding rule (HubSpot publishes no vector for it).
    #[test]
    fn uri_decoding_rule() {
        let received = "https://www.example.com/webhook_uri?email=user%40example.com&t=a%3Ab";
        assert_eq!(
            signed_uri(received),
            "https://www.example.com/webhook_uri?email=user@example.com&t=a:b"
        );
        assert_eq!(signed_uri("/a%20b%2Fc%zz%"), "/a%20b/c%zz%");
        assert!(check(
            received,
            r#"{"example_field":"example_value"}"#,
            "DskL1K6N0OsAEsPKoAzDDXi+PS9tinHxdDwno07oMfs=",
            1693657560000
        )
        .is_ok());
    }

    #[test]
    fn refuses_other_urls_bodies_and_old_requests() {
        let sig = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=";
        let body = "{'example_field':'example_value'}";
        assert_eq!(
            check(
                "https://evil.example.com/webhook_uri",
                body,
                sig,
                1693657560000
            ),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(
                "https://www.example.com/webhook_uri",
                "{}",
                sig,
                1693657560000
            ),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(
                "https://www.example.com/webhook_uri",
                body,
                sig,
                1693657560000 + 301_000
            ),
            Err(VerifyError::Stale { age_seconds: 301 })
        );
    }
}
