//! The console's sign-in rules: the session cookie, how long a session lasts, where a sign-in
//! may send the browser next, and the two checks every state-changing form passes (its request
//! comes from the console's own origin, and it carries the session's CSRF token).

/// The session cookie's name (scoped to `/console`).
pub const COOKIE: &str = "revops_console";
/// A session lasts 8 hours from sign-in (a working day), unless ended sooner.
pub const SESSION_TTL_MS: i64 = 8 * 3_600_000;
/// Where the console starts.
pub const HOME: &str = "/console";

/// Whether `host` (with or without a port) is this machine, where the console runs over plain
/// HTTP during development and a `Secure` cookie would never be sent back.
pub fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

/// The `Set-Cookie` value that starts a session: HttpOnly (no script reads it), SameSite=Strict
/// (no other site's page sends it), Secure except on localhost, and expiring with the session.
pub fn cookie(token: &str, local: bool) -> String {
    format!(
        "{COOKIE}={token}; Path={HOME}; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL_MS / 1000,
        if local { "" } else { "; Secure" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(local: bool) -> String {
    format!(
        "{COOKIE}=; Path={HOME}; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if local { "" } else { "; Secure" }
    )
}

/// The session token in a `Cookie` header, if one is there and well formed (64 hex digits).
pub fn token_from_cookie(header: Option<&str>) -> Option<&str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Where to go after signing in: a path of the console's own, never another site (`//evil`,
/// `/\evil`, an absolute URL) — anything else is the console's start page.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == HOME || n.starts_with("/console/") || n.starts_with("/console?"))
                && !n.contains('\\')
                && !n.contains("//")
                && !n.starts_with("/console/login")
                && n.chars().all(|c| !c.is_control()) =>
        {
            n.to_string()
        }
        _ => HOME.to_string(),
    }
}

/// Whether a state-changing request comes from the console's own pages: its `Origin` is the
/// console's origin. A browser sends `Origin` with every form POST; a request without one (or
/// with `null`, from a sandboxed or privacy-stripped context) is refused rather than trusted.
pub fn same_origin(origin: Option<&str>, own: &str) -> bool {
    origin.is_some_and(|o| o.eq_ignore_ascii_case(own))
}

/// Compares a submitted CSRF token to the session's in time independent of where they differ.
pub fn csrf_matches(submitted: &str, expected: &str) -> bool {
    if submitted.len() != expected.len() || expected.is_empty() {
        return false;
    }
    submitted
        .bytes()
        .zip(expected.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Lowercase hex of `bytes` (session tokens and CSRF tokens are 32 random bytes).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_off_localhost() {
        let remote = cookie(TOKEN, false);
        assert!(remote.starts_with(&format!("{COOKIE}={TOKEN}; Path=/console;")));
        for part in ["HttpOnly", "SameSite=Strict", "Max-Age=28800", "Secure"] {
            assert!(remote.contains(part), "{part} in {remote}");
        }
        assert!(!cookie(TOKEN, true).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn local_hosts_are_recognised_with_and_without_ports() {
        for h in [
            "localhost",
            "127.0.0.1:8787",
            "[::1]:8787",
            "localhost:3000",
        ] {
            assert!(is_local_host(h), "{h}");
        }
        for h in [
            "example.com",
            "127.0.0.2",
            "localhost.evil.com",
            "revops.workers.dev:443",
        ] {
            assert!(!is_local_host(h), "{h}");
        }
    }

    #[test]
    fn the_token_is_read_only_from_our_cookie_and_only_when_well_formed() {
        let header = format!("theme=dark; {COOKIE}={TOKEN}; other=1");
        assert_eq!(token_from_cookie(Some(&header)), Some(TOKEN));
        assert_eq!(token_from_cookie(Some("revops_console=short")), None);
        assert_eq!(token_from_cookie(Some(&format!("x{COOKIE}={TOKEN}"))), None);
        assert_eq!(token_from_cookie(None), None);
    }

    #[test]
    fn a_sign_in_only_sends_the_browser_to_console_pages() {
        assert_eq!(
            safe_next(Some("/console/leads?stage=mql")),
            "/console/leads?stage=mql"
        );
        assert_eq!(safe_next(Some("/console")), "/console");
        for bad in [
            "https://evil.example/console",
            "//evil.example",
            "/console//evil",
            "/console/\\evil",
            "/consolex",
            "/console/login",
            "/v1/leads",
            "/console/\nSet-Cookie",
        ] {
            assert_eq!(safe_next(Some(bad)), HOME, "{bad:?}");
        }
        assert_eq!(safe_next(None), HOME);
    }

    #[test]
    fn only_our_own_origin_may_post() {
        let own = "http://127.0.0.1:8787";
        assert!(same_origin(Some("http://127.0.0.1:8787"), own));
        assert!(!same_origin(Some("http://evil.example"), own));
        assert!(!same_origin(Some("null"), own));
        assert!(!same_origin(None, own));
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(csrf_matches(TOKEN, TOKEN));
        assert!(!csrf_matches(&TOKEN[1..], TOKEN));
        assert!(!csrf_matches(&TOKEN.replace('0', "1"), TOKEN));
        assert!(!csrf_matches("", ""));
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
