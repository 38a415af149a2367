//! Prefixed identifiers (`lead_…`, `key_…`, `req_…`) made from random bytes the caller supplies.
//!
//! An id is its prefix, an underscore and 26 characters of Crockford base32 (128 bits). The prefix
//! tells a reader what an id names at a glance; randomness comes from the handler, so tests can
//! pass fixed bytes.

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Encodes bytes as lower-case Crockford base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(CROCKFORD[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(CROCKFORD[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A new identifier: `prefix` + `_` + base32 of the 16 random bytes.
pub fn new_id(prefix: &str, random: [u8; 16]) -> String {
    format!("{prefix}_{}", base32(&random))
}

/// Whether `id` has the given prefix and a well-formed body (used to reject junk path params early).
pub fn is_id(prefix: &str, id: &str) -> bool {
    match id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
    {
        Some(body) => body.len() == 26 && body.bytes().all(|c| CROCKFORD.contains(&c)),
        None => false,
    }
}

/// Well-known prefixes, one per kind of thing.
pub mod prefix {
    pub const REQUEST: &str = "req";
    pub const API_KEY: &str = "key";
    pub const LEAD: &str = "lead";
    pub const SUBMISSION: &str = "sub";
    pub const ACTIVITY: &str = "act";
    pub const FORM: &str = "form";
    pub const SOURCE: &str = "src";
    pub const JOB: &str = "job";
    pub const CONSENT_EVENT: &str = "cev";
    pub const ASSIGNMENT: &str = "asg";
    pub const REP: &str = "rep";
    pub const TEAM: &str = "team";
    pub const ACCOUNT: &str = "acct";
    pub const WEBHOOK_ENDPOINT: &str = "whe";
    /// An outgoing webhook message, minted in SQL (one per subscribed endpoint) and sent as
    /// `webhook-id`: `msg_` as Standard Webhooks' own examples name messages.
    pub const DELIVERY: &str = "msg";
    pub const TOUCH: &str = "tch";
    pub const SLA_STEP: &str = "sle";
    pub const TASK: &str = "tsk";
    pub const REJECTION: &str = "rej";
    pub const TRANSITION: &str = "trn";
    pub const WORKFLOW: &str = "wf";
    pub const ENROLMENT: &str = "wfe";
    /// A workflow step taken (or skipped, or failed) in one enrolment.
    pub const WORKFLOW_STEP: &str = "wfs";
    pub const LIST: &str = "list";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_prefix() {
        use prefix::*;
        let all = [
            REQUEST,
            API_KEY,
            LEAD,
            WORKFLOW,
            ENROLMENT,
            WORKFLOW_STEP,
            LIST,
            SUBMISSION,
            ACTIVITY,
            FORM,
            SOURCE,
            JOB,
            CONSENT_EVENT,
            ASSIGNMENT,
            REP,
            TEAM,
            ACCOUNT,
            WEBHOOK_ENDPOINT,
            DELIVERY,
            TOUCH,
            SLA_STEP,
            TASK,
            REJECTION,
            TRANSITION,
        ];
        let distinct: std::collections::BTreeSet<&str> = all.into_iter().collect();
        assert_eq!(distinct.len(), all.len());
    }

    #[test]
    fn ids_have_prefix_and_26_chars() {
        let id = new_id("lead", [0xff; 16]);
        assert_eq!(id.len(), "lead_".len() + 26);
        assert!(is_id("lead", &id));
        assert!(!is_id("key", &id));
        assert!(!is_id("lead", "lead_short"));
        assert!(!is_id("lead", "lead_UUUUUUUUUUUUUUUUUUUUUUUUUU"));
    }

    #[test]
    fn base32_matches_known_values() {
        assert_eq!(base32(&[]), "");
        assert_eq!(base32(&[0]), "00");
        assert_eq!(base32(&[0xff]), "zw");
        assert_eq!(base32(b"f"), "cr");
        assert_eq!(base32(b"foobar"), "csqpyrk1e8");
    }

    #[test]
    fn different_bytes_give_different_ids() {
        let mut a = [0u8; 16];
        let b = a;
        a[15] = 1;
        assert_ne!(new_id("x", a), new_id("x", b));
    }
}
