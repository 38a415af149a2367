//! `Idempotency-Key`: a retried request gets the original response.
//!
//! The first request with a key records a fingerprint of itself and, when done, its response.
//! A retry with the same key and the same fingerprint gets that response again; the same key with
//! a different request is refused; a retry while the first is still running is told to wait.
//! Keys are scoped to the API key that sent them and kept for 24 hours.

use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
pub const RETENTION_MS: i64 = 24 * crate::time::HOUR;
/// A request that never finished (its worker died) stops blocking its key after this long.
pub const IN_PROGRESS_TIMEOUT_MS: i64 = 60 * crate::time::SECOND;

pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Identifies a request: method, path and body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    crate::auth::hex(&h.finalize())
}

/// What is stored under a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub fingerprint: String,
    pub created_at: i64,
    /// `None` while the first request is running.
    pub response: Option<(u16, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// First use (or the first request died): run it and record the result.
    Proceed,
    /// Answer with the stored response.
    Replay { status: u16, body: String },
    /// The key was used for a different request.
    Mismatch,
    /// The first request is still running.
    InProgress,
}

pub fn decide(stored: Option<&Stored>, fingerprint: &str, now_ms: i64) -> Decision {
    let Some(stored) = stored else {
        return Decision::Proceed;
    };
    if now_ms - stored.created_at > RETENTION_MS {
        return Decision::Proceed;
    }
    if stored.fingerprint != fingerprint {
        return Decision::Mismatch;
    }
    match &stored.response {
        Some((status, body)) => Decision::Replay {
            status: *status,
            body: body.clone(),
        },
        None if now_ms - stored.created_at > IN_PROGRESS_TIMEOUT_MS => Decision::Proceed,
        None => Decision::InProgress,
    }
}

/// Whether a response should be kept for retries: successes and client errors are final;
/// server errors are not, so the client may retry them for real.
pub fn keep_response(status: u16) -> bool {
    status < 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let fp = fingerprint("POST", "/v1/leads", b"{}");
        assert_eq!(decide(None, &fp, 0), Decision::Proceed);
        let running = Stored {
            fingerprint: fp.clone(),
            created_at: 0,
            response: None,
        };
        assert_eq!(decide(Some(&running), &fp, 1_000), Decision::InProgress);
        assert_eq!(decide(Some(&running), &fp, 61_000), Decision::Proceed);
        let done = Stored {
            response: Some((201, "{\"id\":1}".into())),
            ..running.clone()
        };
        assert_eq!(
            decide(Some(&done), &fp, 1_000),
            Decision::Replay {
                status: 201,
                body: "{\"id\":1}".into()
            }
        );
        let other = fingerprint("POST", "/v1/leads", b"{\"a\":1}");
        assert_ne!(fp, other);
        assert_eq!(decide(Some(&done), &other, 1_000), Decision::Mismatch);
        assert_eq!(
            decide(Some(&done), &other, RETENTION_MS + 1),
            Decision::Proceed
        );
    }

    #[test]
    fn keys_and_what_is_kept() {
        assert!(valid_key("order-123_abc"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"x".repeat(256)));
        assert!(keep_response(201) && keep_response(422));
        assert!(!keep_response(502));
    }
}
