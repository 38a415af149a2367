//! Signed links: one-click unsubscribe (RFC 8058), double opt-in confirmation, and the
//! confirmation that brings an erased person back.
//!
//! A token is `<kind>.<payload>.<mac>`, both parts base64url without padding. The payload names
//! the person by their subject key (a keyed hash, so the address itself is not in the link) and
//! the topic(s); the MAC is HMAC-SHA256 over the kind and payload under `UNSUBSCRIBE_TOKEN_KEY`.
//! Changing any byte — another person, another topic — breaks the MAC, so a token acts on exactly
//! the address and topic it was issued for. Unsubscribe links do not expire (they sit in old
//! emails); confirmation links do. A previous key may be kept for verification during rotation.
//!
//! An erased person has no subject row to name, so their readmission link carries the address
//! itself — encrypted and authenticated (ChaCha20-Poly1305 under a key derived from the token
//! key), never in the clear: `r1.<nonce + ciphertext>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::Sha256;

/// A topic id, or every topic.
pub const ALL_TOPICS: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    BadSignature,
    Expired,
    WrongKind,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenError::Malformed => "the link is incomplete or damaged",
            TokenError::BadSignature => "the link was not issued by us or was altered",
            TokenError::Expired => "the link has expired",
            TokenError::WrongKind => "the link is not meant for this page",
        })
    }
}

fn mac(key: &[u8], kind: &str, payload: &[u8]) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"revops-token:");
    mac.update(kind.as_bytes());
    mac.update(b":");
    mac.update(payload);
    mac
}

fn sign(key: &[u8], kind: &str, payload: &str) -> String {
    use hmac::Mac;
    let tag = mac(key, kind, payload.as_bytes()).finalize().into_bytes();
    format!(
        "{kind}.{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

fn open(keys: &[&[u8]], kind: &str, token: &str) -> Result<String, TokenError> {
    use hmac::Mac;
    let mut parts = token.trim().split('.');
    let (Some(k), Some(payload), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if k != kind {
        return Err(TokenError::WrongKind);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    if !keys
        .iter()
        .any(|key| mac(key, kind, &payload).verify_slice(&tag).is_ok())
    {
        return Err(TokenError::BadSignature);
    }
    String::from_utf8(payload).map_err(|_| TokenError::Malformed)
}

/// An unsubscribe token for one person (subject key) and one topic, or [`ALL_TOPICS`].
pub fn unsubscribe(key: &[u8], subject: &str, topic: &str) -> String {
    sign(key, "u1", &format!("{subject}|{topic}"))
}

/// The (subject, topic) an unsubscribe token was issued for.
pub fn open_unsubscribe(keys: &[&[u8]], token: &str) -> Result<(String, String), TokenError> {
    let payload = open(keys, "u1", token)?;
    let (subject, topic) = payload.split_once('|').ok_or(TokenError::Malformed)?;
    Ok((subject.to_string(), topic.to_string()))
}

/// A double opt-in confirmation token, valid until `expires_at` (epoch ms).
pub fn confirmation(key: &[u8], subject: &str, topics: &[String], expires_at: i64) -> String {
    sign(
        key,
        "c1",
        &format!("{subject}|{}|{expires_at}", topics.join(",")),
    )
}

/// The (subject, topics) a confirmation token confirms, if it has not expired at `now`.
pub fn open_confirmation(
    keys: &[&[u8]],
    token: &str,
    now: i64,
) -> Result<(String, Vec<String>), TokenError> {
    let payload = open(keys, "c1", token)?;
    let mut parts = payload.splitn(3, '|');
    let (Some(subject), Some(topics), Some(expires)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let expires: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    if now > expires {
        return Err(TokenError::Expired);
    }
    Ok((
        subject.to_string(),
        topics
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    ))
}

fn readmission_key(key: &[u8]) -> chacha20poly1305::Key {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"revops-readmission-key");
    let out = mac.finalize().into_bytes();
    *chacha20poly1305::Key::from_slice(&out)
}

/// A link confirming an erased person's new opt-in to `topics` (valid until `expires_at`);
/// `nonce` is 12 random bytes drawn by the caller.
pub fn readmission(
    key: &[u8],
    email: &str,
    topics: &[String],
    expires_at: i64,
    nonce: [u8; 12],
) -> String {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&readmission_key(key));
    let plain = format!("{expires_at}|{}|{email}", topics.join(","));
    let sealed = cipher
        .encrypt(
            chacha20poly1305::Nonce::from_slice(&nonce),
            plain.as_bytes(),
        )
        .expect("encryption of a short message does not fail");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    format!("r1.{}", URL_SAFE_NO_PAD.encode(out))
}

/// The (email, topics) a readmission link confirms, if it is genuine and unexpired at `now`.
pub fn open_readmission(
    keys: &[&[u8]],
    token: &str,
    now: i64,
) -> Result<(String, Vec<String>), TokenError> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let body = match token.trim().split_once('.') {
        Some(("r1", body)) => body,
        Some(_) => return Err(TokenError::WrongKind),
        None => return Err(TokenError::Malformed),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| TokenError::Malformed)?;
    if bytes.len() < 12 + 16 {
        return Err(TokenError::Malformed);
    }
    let (nonce, sealed) = bytes.split_at(12);
    let plain = keys
        .iter()
        .find_map(|key| {
            chacha20poly1305::ChaCha20Poly1305::new(&readmission_key(key))
                .decrypt(chacha20poly1305::Nonce::from_slice(nonce), sealed)
                .ok()
        })
        .ok_or(TokenError::BadSignature)?;
    let plain = String::from_utf8(plain).map_err(|_| TokenError::Malformed)?;
    let mut parts = plain.splitn(3, '|');
    let (Some(expires), Some(topics), Some(email)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let expires: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
    if now > expires {
        return Err(TokenError::Expired);
    }
    Ok((
        email.to_string(),
        topics
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"unsubscribe-token-key-for-tests";
    const JANE: &str = "9f2c1a7e4b8d3c6f0a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778";
    const JOHN: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn round_trip() {
        let t = unsubscribe(KEY, JANE, "newsletter");
        assert!(t.starts_with("u1."));
        assert!(!t.contains('='), "URL-safe, no padding");
        assert_eq!(
            open_unsubscribe(&[KEY], &t),
            Ok((JANE.into(), "newsletter".into()))
        );
    }

    #[test]
    fn forged_tokens_fail() {
        let forged = format!(
            "u1.{}.{}",
            URL_SAFE_NO_PAD.encode(format!("{JANE}|newsletter")),
            URL_SAFE_NO_PAD.encode([0u8; 32])
        );
        assert_eq!(
            open_unsubscribe(&[KEY], &forged),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            open_unsubscribe(&[KEY], &unsubscribe(b"another-key", JANE, "newsletter")),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn altered_tokens_fail_for_other_addresses_and_topics() {
        let t = unsubscribe(KEY, JANE, "newsletter");
        let mac = t.rsplit('.').next().unwrap();
        let other_person = format!(
            "u1.{}.{mac}",
            URL_SAFE_NO_PAD.encode(format!("{JOHN}|newsletter"))
        );
        assert_eq!(
            open_unsubscribe(&[KEY], &other_person),
            Err(TokenError::BadSignature)
        );
        let other_topic = format!("u1.{}.{mac}", URL_SAFE_NO_PAD.encode(format!("{JANE}|*")));
        assert_eq!(
            open_unsubscribe(&[KEY], &other_topic),
            Err(TokenError::BadSignature)
        );
        let mut flipped = t.clone().into_bytes();
        let i = 10;
        flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
        assert!(open_unsubscribe(&[KEY], &String::from_utf8(flipped).unwrap()).is_err());
        assert_eq!(
            open_unsubscribe(&[KEY], "u1.only-two"),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            open_unsubscribe(&[KEY], "garbage"),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn kinds_do_not_mix() {
        let c = confirmation(KEY, JANE, &["newsletter".into()], 1_000);
        assert_eq!(open_unsubscribe(&[KEY], &c), Err(TokenError::WrongKind));
        let swapped = c.replacen("c1.", "u1.", 1);
        assert_eq!(
            open_unsubscribe(&[KEY], &swapped),
            Err(TokenError::BadSignature),
            "the kind is signed too"
        );
    }

    #[test]
    fn confirmations_expire_and_keys_rotate() {
        let c = confirmation(
            KEY,
            JANE,
            &["newsletter".into(), "product_updates".into()],
            1_000,
        );
        assert_eq!(
            open_confirmation(&[KEY], &c, 999),
            Ok((
                JANE.into(),
                vec!["newsletter".into(), "product_updates".into()]
            ))
        );
        assert_eq!(
            open_confirmation(&[KEY], &c, 1_001),
            Err(TokenError::Expired)
        );
        let old = unsubscribe(b"old-key", JANE, "newsletter");
        assert!(
            open_unsubscribe(&[KEY, b"old-key"], &old).is_ok(),
            "the previous key still verifies"
        );
    }

    #[test]
    fn a_readmission_link_hides_the_address_and_cannot_be_altered() {
        let topics = vec!["marketing_email".to_string()];
        let t = readmission(b"k1", "erin|o'brien@example.com", &topics, 1_000, [7; 12]);
        assert!(t.starts_with("r1."));
        assert!(
            !t.contains("example"),
            "the address is not readable in the link"
        );
        let opened = open_readmission(&[b"k0", b"k1"], &t, 999).unwrap();
        assert_eq!(opened, ("erin|o'brien@example.com".to_string(), topics));
        assert_eq!(
            open_readmission(&[b"k1"], &t, 1_001),
            Err(TokenError::Expired)
        );
        assert_eq!(
            open_readmission(&[b"other"], &t, 0),
            Err(TokenError::BadSignature)
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&t[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("r1.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            open_readmission(&[b"k1"], &altered, 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            open_readmission(&[b"k1"], "c1.x.y", 0),
            Err(TokenError::WrongKind)
        );
    }
}
