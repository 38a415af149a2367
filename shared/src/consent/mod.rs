//! Consent: one source of truth for who may be contacted about what, with proof.
//!
//! Each person (email address) has a state per topic — unknown, pending confirmation (double
//! opt-in), opted in, opted out — and, separately, an address-level suppression from bounces and
//! complaints, which blocks every email topic whatever its state. [`ledger`] is the state machine
//! that applies a change and says what to record; [`token`] makes the signed links of one-click
//! unsubscribe and double opt-in; [`providers`] reads the email providers' feedback webhooks;
//! [`erasure`] names every table and key that holds a person.

pub mod claim;
pub mod der;
pub mod erasure;
pub mod ledger;
pub mod providers;
pub mod token;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::problem::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Phone,
    Sms,
}

/// Why we may contact someone about a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Only after an opt-in (GDPR art. 6(1)(a), ePrivacy marketing email).
    Consent,
    /// Unless the person objected (opted out): B2B outreach under legitimate interest, CAN-SPAM.
    LegitimateInterest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub id: String,
    pub name: String,
    pub channel: Channel,
    pub basis: Basis,
    /// Opt-ins stay pending until the person confirms through the emailed link.
    #[serde(default)]
    pub double_opt_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    pub topics: Vec<Topic>,
    /// Soft bounces after which an address is suppressed.
    #[serde(default = "default_soft_bounce_limit")]
    pub soft_bounce_limit: u32,
}

fn default_soft_bounce_limit() -> u32 {
    3
}

impl Default for TopicsConfig {
    /// The topics a new installation starts with.
    fn default() -> Self {
        let t = |id: &str, name: &str, channel, basis, double_opt_in| Topic {
            id: id.into(),
            name: name.into(),
            channel,
            basis,
            double_opt_in,
        };
        TopicsConfig {
            topics: vec![
                t(
                    "marketing_email",
                    "Marketing email",
                    Channel::Email,
                    Basis::Consent,
                    false,
                ),
                t(
                    "newsletter",
                    "Newsletter",
                    Channel::Email,
                    Basis::Consent,
                    true,
                ),
                t(
                    "product_updates",
                    "Product updates",
                    Channel::Email,
                    Basis::Consent,
                    false,
                ),
                t(
                    "sales_outreach",
                    "Sales outreach",
                    Channel::Email,
                    Basis::LegitimateInterest,
                    false,
                ),
                t(
                    "phone",
                    "Phone calls",
                    Channel::Phone,
                    Basis::LegitimateInterest,
                    false,
                ),
            ],
            soft_bounce_limit: 3,
        }
    }
}

/// A topic id: snake_case, 1 to 64 characters.
pub fn is_topic_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

impl TopicsConfig {
    pub fn topic(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }

    pub fn validate(self) -> Result<TopicsConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.topics.is_empty() {
            errors.push(FieldError::new("topics", "configure at least one topic"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, t) in self.topics.iter().enumerate() {
            if !is_topic_id(&t.id) {
                errors.push(FieldError::new(
                    format!("topics[{i}].id"),
                    "use snake_case, at most 64 characters",
                ));
            } else if !seen.insert(t.id.clone()) {
                errors.push(FieldError::new(
                    format!("topics[{i}].id"),
                    format!("`{}` is listed twice", t.id),
                ));
            }
            if t.name.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("topics[{i}].name"),
                    "give the topic a name people understand",
                ));
            }
        }
        if !(1..=50).contains(&self.soft_bounce_limit) {
            errors.push(FieldError::new(
                "soft_bounce_limit",
                "must be between 1 and 50",
            ));
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

/// A person's state for one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicState {
    #[default]
    Unknown,
    /// Opted in, awaiting the confirmation link (double opt-in).
    Pending,
    OptedIn,
    OptedOut,
}

impl TopicState {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicState::Unknown => "unknown",
            TopicState::Pending => "pending",
            TopicState::OptedIn => "opted_in",
            TopicState::OptedOut => "opted_out",
        }
    }

    pub fn parse(s: &str) -> Option<TopicState> {
        [
            TopicState::Unknown,
            TopicState::Pending,
            TopicState::OptedIn,
            TopicState::OptedOut,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    HardBounce,
    Complaint,
    SoftBounceLimit,
    /// The person's data was erased; only a keyed hash remains.
    Erased,
    Manual,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "hard_bounce",
            SuppressionReason::Complaint => "complaint",
            SuppressionReason::SoftBounceLimit => "soft_bounce_limit",
            SuppressionReason::Erased => "erased",
            SuppressionReason::Manual => "manual",
        }
    }
}

/// Everything the ledger knows about one address, as cached in KV.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(default)]
    pub topics: BTreeMap<String, TopicState>,
    #[serde(default)]
    pub suppressed: Option<SuppressionReason>,
    #[serde(default)]
    pub soft_bounces: u32,
    #[serde(default)]
    pub updated_at: i64,
}

/// The answer to "may I send this topic to this person?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub topic: String,
    pub state: TopicState,
    pub suppressed: Option<SuppressionReason>,
    pub may_send: bool,
    pub reason: &'static str,
}

impl Snapshot {
    pub fn state(&self, topic: &str) -> TopicState {
        self.topics.get(topic).copied().unwrap_or_default()
    }

    pub fn verdict(&self, topic: &Topic) -> Verdict {
        let state = self.state(&topic.id);
        let suppressed = self.suppressed.filter(|_| {
            topic.channel == Channel::Email || self.suppressed == Some(SuppressionReason::Erased)
        });
        let (may_send, reason) = match (suppressed, state, topic.basis) {
            (Some(_), _, _) => (false, "the address is suppressed"),
            (None, TopicState::OptedOut, _) => (false, "the person opted out"),
            (None, TopicState::OptedIn, _) => (true, "the person opted in"),
            (None, TopicState::Pending, Basis::Consent) => {
                (false, "the opt-in awaits confirmation")
            }
            (None, TopicState::Unknown, Basis::Consent) => (false, "no opt-in is recorded"),
            (None, TopicState::Pending | TopicState::Unknown, Basis::LegitimateInterest) => {
                (true, "legitimate interest, and the person has not objected")
            }
        };
        Verdict {
            topic: topic.id.clone(),
            state,
            suppressed,
            may_send,
            reason,
        }
    }
}

/// The keyed hash that identifies a person without naming them: HMAC-SHA256 of the normalised
/// address under `SUBJECT_HASH_KEY`. KV keys, unsubscribe tokens and the erasure tombstones use
/// What a POST to an unsubscribe link says, whatever its framing: RFC 8058's one-click request
/// (`List-Unsubscribe=One-Click`, which mail providers send urlencoded or as multipart — with or
/// without a preamble, with CRLF or bare LF lines), or the preference page's `action=…` button.
/// A body that cannot be parsed but carries the pair verbatim is still a one-click request.
pub fn unsubscribe_post(content_type: &str, body: &[u8]) -> UnsubscribePost {
    use crate::intake::body::{parse_multipart, parse_urlencoded_bytes, RawField};
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let fields: Vec<RawField> = if media == "multipart/form-data" {
        parse_multipart(body, content_type).unwrap_or_default()
    } else {
        parse_urlencoded_bytes(body.trim_ascii())
    };
    let field = |name: &[u8]| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.trim_ascii())
    };
    if field(b"List-Unsubscribe") == Some(b"One-Click")
        || body.windows(26).any(|w| w == b"List-Unsubscribe=One-Click")
        || one_click_part(body)
    {
        return UnsubscribePost::OneClick;
    }
    match field(b"action").and_then(|a| std::str::from_utf8(a).ok()) {
        Some(action) => UnsubscribePost::Action(action.to_string()),
        None => UnsubscribePost::Nothing,
    }
}

/// A multipart part named `List-Unsubscribe` whose content is `One-Click`, found without trusting
/// the boundary (RFC 8058's own printed example declares a boundary its delimiters do not use).
fn one_click_part(body: &[u8]) -> bool {
    let name = b"name=\"List-Unsubscribe\"";
    let Some(at) = body.windows(name.len()).position(|w| w == name) else {
        return false;
    };
    let rest = &body[at + name.len()..];
    // The part's content starts after its headers' empty line (CRLF CRLF or LF LF).
    let start = rest
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| rest.windows(2).position(|w| w == b"\n\n").map(|i| i + 2));
    start.is_some_and(|s| {
        rest[s..]
            .split(|&b| b == b'\n')
            .next()
            .is_some_and(|line| line.trim_ascii() == b"One-Click")
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsubscribePost {
    OneClick,
    Action(String),
    Nothing,
}

/// it; a bare SHA-256 would be reversible by hashing a list of addresses.
pub fn subject_key(key: &[u8], email: &str) -> String {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"subject:");
    mac.update(email.as_bytes());
    crate::auth::hex(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> TopicsConfig {
        TopicsConfig::default()
    }

    #[test]
    fn verdicts_follow_basis_state_and_suppression() {
        let cfg = topics();
        let marketing = cfg.topic("marketing_email").unwrap();
        let outreach = cfg.topic("sales_outreach").unwrap();
        let phone = cfg.topic("phone").unwrap();
        let mut s = Snapshot::default();
        assert!(
            !s.verdict(marketing).may_send,
            "consent topics need an opt-in"
        );
        assert!(
            s.verdict(outreach).may_send,
            "legitimate interest until an objection"
        );
        s.topics
            .insert("sales_outreach".into(), TopicState::OptedOut);
        assert!(!s.verdict(outreach).may_send);
        s.topics
            .insert("marketing_email".into(), TopicState::OptedIn);
        assert!(s.verdict(marketing).may_send);
        s.suppressed = Some(SuppressionReason::HardBounce);
        assert!(
            !s.verdict(marketing).may_send,
            "suppression blocks email whatever the opt-in"
        );
        assert_eq!(s.verdict(marketing).reason, "the address is suppressed");
        assert!(
            s.verdict(phone).may_send,
            "a bouncing mailbox says nothing about phone calls"
        );
        s.suppressed = Some(SuppressionReason::Erased);
        assert!(
            !s.verdict(phone).may_send,
            "an erased person is contacted on no channel"
        );
    }

    #[test]
    fn topics_config_is_validated() {
        let mut cfg = topics();
        cfg.topics.push(cfg.topics[0].clone());
        cfg.topics.push(Topic {
            id: "Bad Id".into(),
            name: "".into(),
            channel: Channel::Sms,
            basis: Basis::Consent,
            double_opt_in: false,
        });
        let errors = cfg.validate().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["topics[5].id", "topics[6].id", "topics[6].name"]);
    }

    #[test]
    fn subject_keys_are_keyed() {
        let a = subject_key(b"key-one", "jane@acme.com");
        assert_eq!(a.len(), 64);
        assert_eq!(a, subject_key(b"key-one", "jane@acme.com"));
        assert_ne!(a, subject_key(b"key-two", "jane@acme.com"));
        assert_ne!(a, subject_key(b"key-one", "john@acme.com"));
        assert_ne!(
            a,
            crate::auth::hex(&<Sha256 as sha2::Digest>::digest(b"jane@acme.com"))
        );
    }

    /// A documented fixture: its first line names the source, the rest is the payload.
    fn fixture(text: &str) -> &[u8] {
        text.split_once('\n').unwrap().1.as_bytes()
    }

    #[test]
    fn one_click_posts_are_recognised_whatever_their_framing() {
        let urlencoded = "application/x-www-form-urlencoded";
        for (ct, body) in [
            (urlencoded, fixture(include_str!("../../fixtures/rfc8058/urlencoded.txt"))),
            (urlencoded, fixture(include_str!("../../fixtures/rfc8058/gmail.txt"))),
            (
                "multipart/form-data; boundary=---FormBoundaryjWmhtjORrn",
                fixture(include_str!("../../fixtures/rfc8058/multipart-as-printed.txt")),
            ),
            // The same with the boundary the delimiters actually use, with bare LF, and with a
            // preamble; and with no content type at all.
            ("multipart/form-data; boundary=-FormBoundaryjWmhtjORrn", fixture(include_str!("../../fixtures/rfc8058/multipart-as-printed.txt"))),
            ("multipart/form-data; boundary=b", b"--b\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\n\nOne-Click\n--b--\n"),
            ("multipart/form-data; boundary=b", b"preamble\r\n--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--"),
            ("", b"List-Unsubscribe=One-Click\r\n"),
        ] {
            assert_eq!(unsubscribe_post(ct, body), UnsubscribePost::OneClick, "{ct}: {}", String::from_utf8_lossy(body));
        }
        assert_eq!(
            unsubscribe_post(urlencoded, b"action=unsubscribe_all"),
            UnsubscribePost::Action("unsubscribe_all".into())
        );
        assert_eq!(unsubscribe_post(urlencoded, b""), UnsubscribePost::Nothing);
        assert_eq!(
            unsubscribe_post(urlencoded, b"List-Unsubscribe=Maybe"),
            UnsubscribePost::Nothing
        );
    }
}
