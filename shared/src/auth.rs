//! API keys and what they may do.
//!
//! A key is `rk_` followed by 52 base32 characters (256 random bits). Only its SHA-256 digest is
//! stored; a lookup hashes the presented key and finds the row by digest. A high-entropy random
//! secret needs no slow password hash: nobody can brute-force 2^256. Each key carries scopes; the
//! gateway authenticates, then propagates the resulting [`Principal`] to the handler it calls.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an API key may do. `Admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Scope {
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "intake:write")]
    IntakeWrite,
    #[serde(rename = "leads:read")]
    LeadsRead,
    #[serde(rename = "leads:write")]
    LeadsWrite,
    #[serde(rename = "consent:read")]
    ConsentRead,
    #[serde(rename = "consent:write")]
    ConsentWrite,
    #[serde(rename = "config:write")]
    ConfigWrite,
    #[serde(rename = "roster:write")]
    RosterWrite,
    #[serde(rename = "reports:read")]
    ReportsRead,
    #[serde(rename = "subjects:admin")]
    SubjectsAdmin,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::Admin,
        Scope::IntakeWrite,
        Scope::LeadsRead,
        Scope::LeadsWrite,
        Scope::ConsentRead,
        Scope::ConsentWrite,
        Scope::ConfigWrite,
        Scope::RosterWrite,
        Scope::ReportsRead,
        Scope::SubjectsAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::IntakeWrite => "intake:write",
            Scope::LeadsRead => "leads:read",
            Scope::LeadsWrite => "leads:write",
            Scope::ConsentRead => "consent:read",
            Scope::ConsentWrite => "consent:write",
            Scope::ConfigWrite => "config:write",
            Scope::RosterWrite => "roster:write",
            Scope::ReportsRead => "reports:read",
            Scope::SubjectsAdmin => "subjects:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// Who is calling: an API key (or the bootstrap admin key, or another handler of ours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// `key_…` for stored keys, `bootstrap` for ADMIN_API_KEY, `system:<handler>` for our handlers.
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn bootstrap_admin() -> Principal {
        Principal {
            id: "bootstrap".into(),
            name: "ADMIN_API_KEY".into(),
            scopes: vec![Scope::Admin],
        }
    }

    /// One of our own handlers acting on its own behalf (a cron tick, a hand-off).
    pub fn system(handler: &str) -> Principal {
        Principal {
            id: format!("system:{handler}"),
            name: handler.into(),
            scopes: vec![Scope::Admin],
        }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes
            .iter()
            .any(|s| *s == scope || *s == Scope::Admin)
    }
}

/// A freshly generated key: the secret is shown once, the digest is stored.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub secret: String,
    pub digest: String,
    /// The first characters, stored and listed so people can tell keys apart.
    pub display_prefix: String,
}

pub const KEY_PREFIX: &str = "rk_";

pub fn generate_key(random: [u8; 32]) -> NewApiKey {
    let secret = format!("{KEY_PREFIX}{}", crate::ids::base32(&random));
    NewApiKey {
        digest: digest_key(&secret),
        display_prefix: secret.chars().take(KEY_PREFIX.len() + 6).collect(),
        secret,
    }
}

/// The stored form of a key: hex SHA-256 of the whole secret.
pub fn digest_key(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Extracts the token from `Authorization: Bearer <token>` (scheme case-insensitive).
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Equality that takes the same time wherever the inputs differ (for secrets).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// Whether the presented key is the bootstrap admin key. Compares digests so the comparison
/// is constant-time over equal-length inputs whatever the lengths of the originals.
pub fn is_bootstrap_key(presented: &str, configured: Option<&str>) -> bool {
    match configured.map(str::trim) {
        Some(configured) if configured.len() >= 16 => constant_time_eq(
            digest_key(presented).as_bytes(),
            digest_key(configured).as_bytes(),
        ),
        _ => false,
    }
}

/// Parses a scope list given by an admin, rejecting unknown names and empty lists.
pub fn parse_scopes(names: &[String]) -> Result<Vec<Scope>, String> {
    if names.is_empty() {
        return Err("at least one scope is required".into());
    }
    let mut scopes = Vec::with_capacity(names.len());
    for name in names {
        let scope = Scope::parse(name).ok_or_else(|| {
            let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown scope `{name}`; known scopes: {}", known.join(", "))
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort();
    Ok(scopes)
}

/// The body of `POST /v1/admin/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A validated request to create a key.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyRequest {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl TryFrom<CreateKeyBody> for KeyRequest {
    type Error = Vec<crate::problem::FieldError>;

    fn try_from(body: CreateKeyBody) -> Result<Self, Self::Error> {
        use crate::problem::FieldError;
        let mut errors = Vec::new();
        let name = body.name.unwrap_or_default().trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new(
                "name",
                "give the key a name of 1 to 100 characters",
            ));
        }
        let scopes = parse_scopes(&body.scopes).unwrap_or_else(|reason| {
            errors.push(FieldError::new("scopes", reason));
            Vec::new()
        });
        if errors.is_empty() {
            Ok(KeyRequest { name, scopes })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_requests_are_validated_per_field() {
        let ok = KeyRequest::try_from(CreateKeyBody {
            name: Some(" crm sync ".into()),
            scopes: vec!["leads:read".into()],
        })
        .unwrap();
        assert_eq!(ok.name, "crm sync");
        let errors = KeyRequest::try_from(CreateKeyBody {
            name: None,
            scopes: vec!["x".into()],
        })
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "scopes"]);
    }

    #[test]
    fn generated_keys_are_hashed_not_stored() {
        let key = generate_key([7; 32]);
        assert!(key.secret.starts_with("rk_"));
        assert_eq!(key.secret.len(), 3 + 52);
        assert_eq!(key.digest.len(), 64);
        assert!(!key.digest.contains(&key.secret[3..]));
        assert_eq!(digest_key(&key.secret), key.digest);
        assert_eq!(key.display_prefix, key.secret[..9]);
        assert_ne!(generate_key([8; 32]).digest, key.digest);
    }

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer   abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn admin_implies_every_scope() {
        let admin = Principal::bootstrap_admin();
        for s in Scope::ALL {
            assert!(admin.allows(s));
        }
        let reader = Principal {
            id: "key_x".into(),
            name: "r".into(),
            scopes: vec![Scope::LeadsRead],
        };
        assert!(reader.allows(Scope::LeadsRead));
        assert!(!reader.allows(Scope::IntakeWrite));
    }

    #[test]
    fn bootstrap_key_needs_a_configured_strong_key() {
        assert!(is_bootstrap_key(
            "a-long-enough-admin-key",
            Some("a-long-enough-admin-key")
        ));
        assert!(!is_bootstrap_key(
            "a-long-enough-admin-key",
            Some("another-long-admin-key")
        ));
        assert!(!is_bootstrap_key("short", Some("short")));
        assert!(!is_bootstrap_key("", None));
    }

    #[test]
    fn scopes_parse_strictly() {
        assert_eq!(
            parse_scopes(&["leads:read".into(), "admin".into(), "leads:read".into()]),
            Ok(vec![Scope::Admin, Scope::LeadsRead])
        );
        assert!(parse_scopes(&[]).is_err());
        let err = parse_scopes(&["leads:delete".into()]).unwrap_err();
        assert!(err.contains("leads:delete") && err.contains("intake:write"));
    }

    #[test]
    fn scope_serde_uses_wire_names() {
        assert_eq!(
            serde_json::to_string(&Scope::IntakeWrite).unwrap(),
            "\"intake:write\""
        );
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
