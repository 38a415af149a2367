//! The Standard Webhooks scheme (https://www.standardwebhooks.com), both directions.
//!
//! Signed content: `{webhook-id}.{webhook-timestamp}.{body}`, HMAC-SHA256 with the secret's bytes
//! (`whsec_` + base64), base64-encoded; `webhook-signature` is a space-separated list of
//! `v1,<signature>` entries (several during a key rotation). The timestamp is in seconds.
//! Svix, which the scheme grew from, sends the same headers as `svix-id`, `svix-timestamp` and
//! `svix-signature`; either family is accepted (`svix-*` first, as Svix's own libraries read).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};

use super::{b64, check_window, hmac_matches, hmac_sha256_base64, Inbound, Verified, VerifyError};

/// The key bytes of a `whsec_…` secret (padding optional, as the reference libraries accept).
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let raw = secret.trim();
    let raw = raw.strip_prefix("whsec_").unwrap_or(raw);
    if raw.is_empty() {
        return None;
    }
    let lenient = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    lenient.decode(raw).ok().filter(|k| !k.is_empty())
}

pub fn verify(
    secrets: &[&str],
    msg: &Inbound,
    now_ms: i64,
    tolerance_ms: i64,
) -> Result<Verified, VerifyError> {
    let header = |svix: &str, standard: &'static str| {
        msg.header(svix)
            .or_else(|| msg.header(standard))
            .ok_or(VerifyError::MissingHeader(standard))
    };
    let id = header("svix-id", "webhook-id")?;
    let ts = header("svix-timestamp", "webhook-timestamp")?;
    let signatures = header("svix-signature", "webhook-signature")?;
    let ts_secs: i64 = ts
        .trim()
        .parse()
        .map_err(|_| VerifyError::MalformedHeader("webhook-timestamp"))?;
    let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| secret_key(s)).collect();
    if keys.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let matched = signatures.split(' ').any(|entry| {
        let Some(("v1", sig)) = entry.split_once(',') else {
            return false;
        };
        let Ok(mac) = b64().decode(sig) else {
            return false;
        };
        keys.iter().any(|key| {
            hmac_matches(
                key,
                &[id.as_bytes(), b".", ts.trim().as_bytes(), b".", msg.body],
                &mac,
            )
        })
    });
    if !matched {
        return Err(VerifyError::BadSignature);
    }
    // Checked after the signature, so a forged request learns nothing about our clock.
    check_window(ts_secs * 1000, now_ms, tolerance_ms)?;
    Ok(Verified {
        message_id: id.to_string(),
        timestamp_ms: Some(ts_secs * 1000),
    })
}

/// The `webhook-signature` value for an outgoing message.
pub fn sign(key: &[u8], msg_id: &str, ts_secs: i64, body: &[u8]) -> String {
    let ts = ts_secs.to_string();
    format!(
        "v1,{}",
        hmac_sha256_base64(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body])
    )
}

/// A new `whsec_` secret from 32 random bytes.
pub fn new_secret(random: [u8; 32]) -> String {
    format!("whsec_{}", b64().encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(id: &str, ts: &str, sig: &str) -> Vec<(String, String)> {
        vec![
            ("webhook-id".into(), id.into()),
            ("webhook-timestamp".into(), ts.into()),
            ("webhook-signature".into(), sig.into()),
        ]
    }

    fn check(
        secret: &str,
        id: &str,
        ts: i64,
        body: &str,
        sig: &str,
        now_s: i64,
    ) -> Result<Verified, VerifyError> {
        let h = headers(id, &ts.to_string(), sig);
        let msg = Inbound {
            method: "POST",
            url: "https://x",
            headers: &h,
            body: body.as_bytes(),
        };
        verify(&[secret], &msg, now_s * 1000, 300_000)
    }

    // Vector A: the Python, JS, Go, PHP, Ruby and C# reference libraries' sign test.
    const A_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const A_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const A_TS: i64 = 1614265330;
    const A_BODY: &str = r#"{"test": 2432232314}"#;
    const A_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn published_vector_a_signs_and_verifies() {
        let key = secret_key(A_SECRET).unwrap();
        assert_eq!(sign(&key, A_ID, A_TS, A_BODY.as_bytes()), A_SIG);
        let v = check(A_SECRET, A_ID, A_TS, A_BODY, A_SIG, A_TS).unwrap();
        assert_eq!(v.message_id, A_ID);
        assert_eq!(v.timestamp_ms, Some(A_TS * 1000));
    }

    #[test]
    fn svix_header_names_carry_the_same_scheme() {
        // Vector A as Svix sends it (svix/svix-webhooks python/tests/test_webhooks.py).
        let h = vec![
            ("svix-id".to_string(), A_ID.to_string()),
            ("svix-timestamp".to_string(), A_TS.to_string()),
            ("svix-signature".to_string(), A_SIG.to_string()),
        ];
        let msg = Inbound {
            method: "POST",
            url: "https://x",
            headers: &h,
            body: A_BODY.as_bytes(),
        };
        let v = verify(&[A_SECRET], &msg, A_TS * 1000, 300_000).unwrap();
        assert_eq!(v.message_id, A_ID);
        // A near miss is refused under either name.
        let mut bad = h.clone();
        bad[2].1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=".into();
        let msg = Inbound {
            headers: &bad,
            ..msg
        };
        assert_eq!(
            verify(&[A_SECRET], &msg, A_TS * 1000, 300_000),
            Err(VerifyError::BadSignature)
        );
    }

    // Vector B: the Rust reference library's test.
    #[test]
    fn published_vector_b() {
        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let body = r#"{"email":"test@example.com","username":"test_user"}"#;
        let sig = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        assert!(check(
            secret,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            body,
            sig,
            1649367553
        )
        .is_ok());
        for wrong in [
            "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=",
            "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
            "v1,",
            "v1,tZ1I4/hD",
        ] {
            assert_eq!(
                check(
                    secret,
                    "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                    1649367553,
                    body,
                    wrong,
                    1649367553
                ),
                Err(VerifyError::BadSignature),
                "{wrong}"
            );
        }
    }

    #[test]
    fn tampering_fails() {
        let changed_last_char = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";
        assert_eq!(
            check(A_SECRET, A_ID, A_TS, A_BODY, changed_last_char, A_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(A_SECRET, A_ID, A_TS, r#"{"test": 2432232315}"#, A_SIG, A_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(A_SECRET, "msg_other", A_TS, A_BODY, A_SIG, A_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check(A_SECRET, A_ID, A_TS + 1, A_BODY, A_SIG, A_TS),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            check("whsec_b3RoZXIgc2VjcmV0", A_ID, A_TS, A_BODY, A_SIG, A_TS),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn several_signatures_and_rotated_secrets() {
        let decoys =
            format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,abc {A_SIG} v2,xyz");
        assert!(check(A_SECRET, A_ID, A_TS, A_BODY, &decoys, A_TS).is_ok());
        let h = headers(A_ID, &A_TS.to_string(), A_SIG);
        let msg = Inbound {
            method: "POST",
            url: "",
            headers: &h,
            body: A_BODY.as_bytes(),
        };
        assert!(verify(
            &["whsec_b3RoZXIgc2VjcmV0", A_SECRET],
            &msg,
            A_TS * 1000,
            300_000
        )
        .is_ok());
    }

    #[test]
    fn timestamps_outside_five_minutes_are_stale_either_way() {
        assert!(check(A_SECRET, A_ID, A_TS, A_BODY, A_SIG, A_TS + 300).is_ok());
        assert_eq!(
            check(A_SECRET, A_ID, A_TS, A_BODY, A_SIG, A_TS + 301),
            Err(VerifyError::Stale { age_seconds: 301 })
        );
        assert_eq!(
            check(A_SECRET, A_ID, A_TS, A_BODY, A_SIG, A_TS - 301),
            Err(VerifyError::Stale { age_seconds: -301 })
        );
    }

    #[test]
    fn missing_and_malformed_headers() {
        let h = vec![("webhook-id".to_string(), A_ID.to_string())];
        let msg = Inbound {
            method: "POST",
            url: "",
            headers: &h,
            body: b"",
        };
        assert_eq!(
            verify(&[A_SECRET], &msg, 0, 300_000),
            Err(VerifyError::MissingHeader("webhook-timestamp"))
        );
        let h = headers(A_ID, "yesterday", A_SIG);
        let msg = Inbound {
            method: "POST",
            url: "",
            headers: &h,
            body: A_BODY.as_bytes(),
        };
        assert_eq!(
            verify(&[A_SECRET], &msg, 0, 300_000),
            Err(VerifyError::MalformedHeader("webhook-timestamp"))
        );
        assert_eq!(secret_key("whsec_"), None);
        assert!(
            secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").is_some(),
            "unpadded secrets decode"
        );
    }
}
