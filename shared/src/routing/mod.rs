//! Routing: who owns a lead, and why.
//!
//! A routing configuration is an ordered decision list, versioned like scoring models:
//!
//! ```json
//! {
//!   "name": "Regions and segments, Q1",
//!   "account_owner_first": true,
//!   "segments": [
//!     {"name": "enterprise", "when": {"field": "employees", "at_least": "1001-5000"}},
//!     {"name": "smb", "when": {"field": "employees", "at_most": "51-200"}}
//!   ],
//!   "rules": [
//!     {"id": "named-accounts", "when": {"field": "segment", "in": ["enterprise"]}, "assign": {"account_owner": true}},
//!     {"id": "emea", "when": {"field": "country", "in": ["DE", "FR", "GB"]}, "assign": {"team": "emea-sdr"}},
//!     {"id": "hot", "when": {"field": "score", "at_least": 90}, "assign": {"rep": "rep_ava"}}
//!   ],
//!   "fallback": {"queue": "unrouted"}
//! }
//! ```
//! Rule conditions are scoring's condition language plus `score`, `fit_score`,
//! `engagement_score`, `stage` and `segment`. The first matching rule whose target can take the
//! lead wins; a lead nothing can take goes to the fallback (a rep or a queue), which is recorded
//! and counted. [`decide`] makes the whole decision and explains it.

pub mod decide;
pub mod queue;
pub mod roster;
pub mod unrouted;
pub mod wrr;

use serde::Deserialize;
use serde_json::Value;

use crate::problem::FieldError;
use crate::scoring::condition::{Condition, ROUTING_FIELDS};

pub use decide::{decide, Decision, NeedSlot, Owner};

/// Where a rule sends a lead.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Rep(String),
    Team(String),
    Queue(String),
    AccountOwner,
}

impl Target {
    pub fn parse(v: &Value, at: &str, fallback: bool) -> Result<Target, FieldError> {
        let obj = v.as_object();
        let keys: Vec<&str> = ["rep", "team", "queue", "account_owner"]
            .into_iter()
            .filter(|k| obj.is_some_and(|o| o.contains_key(*k)))
            .collect();
        let allowed = if fallback {
            "a rep or a queue: {\"rep\": \"rep_id\"} or {\"queue\": \"name\"}"
        } else {
            "one of {\"rep\": id}, {\"team\": id}, {\"queue\": name}, {\"account_owner\": true}"
        };
        let [key] = keys.as_slice() else {
            return Err(FieldError::new(at, format!("give {allowed}")));
        };
        if let Some(extra) = obj.and_then(|o| o.keys().find(|k| k.as_str() != *key)) {
            return Err(FieldError::new(
                format!("{at}.{extra}"),
                format!("is not part of a target: give {allowed}"),
            ));
        }
        let value = &v[*key];
        if *key == "account_owner" {
            return match (fallback, value.as_bool()) {
                (false, Some(true)) => Ok(Target::AccountOwner),
                _ => Err(FieldError::new(at, format!("give {allowed}"))),
            };
        }
        let id = match value.as_str().map(str::trim) {
            Some(id) if !id.is_empty() && id.chars().count() <= 100 => id.to_string(),
            _ => {
                return Err(FieldError::new(
                    format!("{at}.{key}"),
                    "give a non-empty id of at most 100 characters",
                ))
            }
        };
        match *key {
            "rep" => Ok(Target::Rep(id)),
            "queue" => Ok(Target::Queue(id)),
            _ if fallback => Err(FieldError::new(
                at,
                "the fallback must always take the lead: give a rep or a queue, not a team",
            )),
            _ => Ok(Target::Team(id)),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `{"rep": id}`, `{"team": id}`, `{"queue": id}` or `{"account_owner": true}`, as configured.
impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match self {
            Target::Rep(id) => map.serialize_entry("rep", id)?,
            Target::Team(id) => map.serialize_entry("team", id)?,
            Target::Queue(id) => map.serialize_entry("queue", id)?,
            Target::AccountOwner => map.serialize_entry("account_owner", &true)?,
        }
        map.end()
    }
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub name: String,
    pub when: Condition,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub when: Option<Condition>,
    pub assign: Target,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub account_owner_first: bool,
    pub segments: Vec<Segment>,
    pub rules: Vec<Rule>,
    pub fallback: Target,
}

/// The built-in configuration (version 0): account owners first, everything else to a queue, so
/// nothing is lost before RevOps publishes real rules.
pub const BUILTIN: &str = r#"{
  "name": "built-in: account owners, then the unrouted queue",
  "account_owner_first": true,
  "segments": [],
  "rules": [],
  "fallback": {"queue": "unrouted"}
}"#;

pub(crate) fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Segments, in order: each named, with its condition (the first that matches is the lead's).
fn parse_segments(items: &[Value], errors: &mut Vec<FieldError>) -> Vec<Segment> {
    let mut segments = Vec::new();
    for (i, s) in items.iter().enumerate() {
        let at = format!("segments[{i}]");
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        if !id_ok(name) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                "give a name of letters, digits, - _ .",
            ));
        }
        match s.get("when") {
            Some(w) => match Condition::parse_with(w, &format!("{at}.when"), ROUTING_FIELDS) {
                Ok(when) => segments.push(Segment {
                    name: name.to_string(),
                    when,
                }),
                Err(e) => errors.push(split(e)),
            },
            None => errors.push(FieldError::new(
                format!("{at}.when"),
                "give the condition for this segment",
            )),
        }
    }
    segments
}

/// The decision list: at most 500 rules, each with a unique id, an optional condition and a
/// target.
fn parse_rules(items: &[Value], errors: &mut Vec<FieldError>) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    if items.len() > 500 {
        errors.push(FieldError::new("rules", "at most 500 rules"));
    }
    for (i, r) in items.iter().enumerate() {
        let at = format!("rules[{i}]");
        let id = r.get("id").and_then(Value::as_str).unwrap_or("");
        if !id_ok(id) {
            errors.push(FieldError::new(
                format!("{at}.id"),
                "give an id of letters, digits, - _ .",
            ));
        } else if rules.iter().any(|x| x.id == id) {
            errors.push(FieldError::new(
                format!("{at}.id"),
                format!("`{id}` is used by an earlier rule"),
            ));
        }
        let when = match r.get("when") {
            None | Some(Value::Null) => None,
            Some(w) => match Condition::parse_with(w, &format!("{at}.when"), ROUTING_FIELDS) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(split(e));
                    None
                }
            },
        };
        match Target::parse(
            r.get("assign").unwrap_or(&Value::Null),
            &format!("{at}.assign"),
            false,
        ) {
            Ok(assign) => rules.push(Rule {
                id: id.to_string(),
                when,
                assign,
            }),
            Err(e) => errors.push(e),
        }
    }
    rules
}

impl Config {
    /// Parses and validates a configuration; every error names its place (`rules[2].when.in`).
    pub fn parse(v: &Value) -> Result<Config, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(vec![FieldError::new(
                "",
                "a routing configuration is a JSON object",
            )]);
        };
        for key in obj.keys() {
            if ![
                "name",
                "account_owner_first",
                "segments",
                "rules",
                "fallback",
            ]
            .contains(&key.as_str())
            {
                errors.push(FieldError::new(key.clone(), "unknown setting"));
            }
        }
        let name = match v.get("name").and_then(Value::as_str).map(str::trim) {
            Some(n) if !n.is_empty() && n.chars().count() <= 200 => n.to_string(),
            _ => {
                errors.push(FieldError::new(
                    "name",
                    "give a name of at most 200 characters",
                ));
                String::new()
            }
        };
        let account_owner_first = match v.get("account_owner_first") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(FieldError::new(
                    "account_owner_first",
                    "must be true or false",
                ));
                true
            }
        };
        let list = |key: &str, errors: &mut Vec<FieldError>| -> Vec<Value> {
            match v.get(key) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items.clone(),
                Some(_) => {
                    errors.push(FieldError::new(key, "give a list"));
                    Vec::new()
                }
            }
        };
        let segments = parse_segments(&list("segments", &mut errors), &mut errors);
        let rules = parse_rules(&list("rules", &mut errors), &mut errors);
        let fallback =
            match Target::parse(v.get("fallback").unwrap_or(&Value::Null), "fallback", true) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    Target::Queue("unrouted".into())
                }
            };
        if errors.is_empty() {
            Ok(Config {
                name,
                account_owner_first,
                segments,
                rules,
                fallback,
            })
        } else {
            Err(errors)
        }
    }

    /// Every rep and team the configuration names, for checking them against the roster.
    pub fn references(&self) -> (Vec<String>, Vec<String>) {
        let mut reps = Vec::new();
        let mut teams = Vec::new();
        for t in self.rules.iter().map(|r| &r.assign).chain([&self.fallback]) {
            match t {
                Target::Rep(id) if !reps.contains(id) => reps.push(id.clone()),
                Target::Team(id) if !teams.contains(id) => teams.push(id.clone()),
                _ => {}
            }
        }
        (reps, teams)
    }
}

impl Config {
    /// Every rep a decision under this configuration may consider: reps the rules and the
    /// fallback name, the members of the teams they name, and the account's owner. A decision
    /// only needs these reps' loads.
    pub fn reps_considered(
        &self,
        teams: &crate::Map<String, roster::Team>,
        account_owner: Option<&str>,
    ) -> Vec<String> {
        let (mut reps, named_teams) = self.references();
        let members = named_teams
            .iter()
            .filter_map(|t| teams.get(t))
            .flat_map(|t| t.members.iter().map(|m| m.rep.clone()));
        for rep in members.chain(account_owner.map(str::to_string)) {
            if !reps.contains(&rep) {
                reps.push(rep);
            }
        }
        reps
    }
}

/// The lead's current assignment, as far as deciding whether to route again goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current<'a> {
    pub id: &'a str,
    /// Still the owner's open work (a rejected or converted lead's assignment is closed).
    pub open: bool,
}

/// Whether a routing request decides anew, or leaves the lead where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reroute {
    Decide,
    /// The lead keeps its current owner (or stays unassigned): nothing is written.
    Keep,
}

/// A lead keeps an open assignment unless the request forces a new decision. A closed one is
/// history: a lead that comes back as an MQL is routed afresh. A request made on behalf of one
/// assignment (`only_if`: an SLA reassignment, which may be retried) acts only while that
/// assignment is still the current one, so a retry never moves the lead twice.
pub fn reroute(current: Option<Current>, force: bool, only_if: Option<&str>) -> Reroute {
    if only_if.is_some_and(|expected| current.map(|c| c.id) != Some(expected)) {
        return Reroute::Keep;
    }
    match current {
        Some(c) if c.open && !force => Reroute::Keep,
        _ => Reroute::Decide,
    }
}

/// Condition errors are `"<path>: <reason>"`; split them into a field error.
fn split(e: String) -> FieldError {
    match e.split_once(": ") {
        Some((field, reason)) => FieldError::new(field, reason),
        None => FieldError::new("", e),
    }
}

/// What a routing does after its assignment's guard refused the write, given the assignment it
/// meant to replace (`expected`), the lead's current one now, and whether it was forced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Someone else routed the lead meanwhile: it keeps that owner.
    KeepTheirs,
    /// Someone else routed the lead meanwhile, but this routing is forced: decide again,
    /// replacing their assignment (`Some`) or none.
    ReplaceTheirs(Option<String>),
    /// Nothing changed but the rep's load: they filled up meanwhile (a concurrent routing took
    /// their last place). Decide again without them — never over their capacity.
    CapacityRaceLost,
}

pub fn after_refusal(expected: Option<&str>, now: Option<&str>, force: bool) -> Refused {
    if expected == now {
        Refused::CapacityRaceLost
    } else if force || now.is_none() {
        Refused::ReplaceTheirs(now.map(str::to_string))
    } else {
        Refused::KeepTheirs
    }
}

/// Where a decision's owner is recorded: a rep on the roster as themselves; a queue by its name;
/// a rep the configuration names but the roster lacks (a fallback rep since removed) under
/// `rep:<id>`, so the lead is held, visible, never lost.
pub fn recorded_owner<'r, R>(
    owner: &Owner,
    roster: impl Fn(&str) -> Option<&'r R>,
) -> (Option<&'r R>, Option<String>) {
    match owner {
        Owner::Rep(id) => match roster(id) {
            Some(rep) => (Some(rep), None),
            None => (None, Some(format!("rep:{id}"))),
        },
        Owner::Queue(q) => (None, Some(q.clone())),
    }
}

/// Validates a document for publishing (the versioned-configuration hook).
pub fn validate(doc: &Value) -> Result<Value, Vec<FieldError>> {
    Config::parse(doc).map(|_| doc.clone())
}

/// The domains a lead's company may be known by, most specific first: the company domain, the
/// email's domain unless it is free mail, and each parent domain (`eu.acme.com` → `acme.com`).
pub fn account_domains(company_domain: Option<&str>, email: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let email_domain = email.rsplit_once('@').map(|(_, d)| d);
    let free = |d: &str| crate::intake::email::is_free_mail_domain(d);
    for d in [company_domain, email_domain].into_iter().flatten() {
        let d = crate::text::lowercase(d.trim().trim_end_matches('.'));
        if d.is_empty() || free(&d) {
            continue;
        }
        let mut rest = d.as_str();
        loop {
            if !out.iter().any(|x| x == rest) {
                out.push(rest.to_string());
            }
            match rest.split_once('.') {
                // Stop before a bare public suffix ("co.uk", "com").
                Some((_, parent)) if parent.contains('.') && !is_second_level_suffix(parent) => {
                    rest = parent
                }
                _ => break,
            }
        }
    }
    out
}

/// Whether `d` (lower-cased) is a domain an account can be matched on: at least two labels of
/// letters (internationalised ones too), digits and hyphens, at most 253 characters.
pub fn domain_ok(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80)
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The account a lead belongs to: of the CRM accounts matching its domains, the one on the most
/// specific domain (`eu.acme.com` before `acme.com`). `accounts` holds the matches of
/// [`account_domains`], each with the domain that matched.
pub fn matching_account<'a>(
    lead_domains: &[String],
    accounts: &'a [decide::Account],
) -> Option<&'a decide::Account> {
    lead_domains
        .iter()
        .find_map(|d| accounts.iter().find(|a| &a.domain == d))
}

/// "Existing customer" — one rule, for scoring and routing alike: the lead says so
/// (`custom.customer` yes/true), or the account it belongs to ([`matching_account`]) is marked
/// as a customer in the CRM.
pub fn existing_customer(
    lead: &crate::intake::lead::Lead,
    account: Option<&decide::Account>,
) -> bool {
    crate::scoring::condition::custom_says_customer(lead) || account.is_some_and(|a| a.customer)
}

/// Two-label public suffixes common in B2B data (`co.uk`, `com.au`); not a full suffix list.
fn is_second_level_suffix(d: &str) -> bool {
    let Some((second, _tld)) = d.split_once('.') else {
        return false;
    };
    !d[second.len() + 1..].contains('.')
        && ["co", "com", "net", "org", "ac", "gov", "edu", "ne", "or"].contains(&second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_write_keeps_a_concurrent_owner_unless_forced_and_otherwise_is_a_lost_race() {
        assert_eq!(
            after_refusal(Some("a1"), Some("a1"), false),
            Refused::CapacityRaceLost
        );
        assert_eq!(after_refusal(None, None, true), Refused::CapacityRaceLost);
        assert_eq!(after_refusal(None, Some("a2"), false), Refused::KeepTheirs);
        assert_eq!(
            after_refusal(Some("a1"), Some("a2"), false),
            Refused::KeepTheirs
        );
        assert_eq!(
            after_refusal(Some("a1"), Some("a2"), true),
            Refused::ReplaceTheirs(Some("a2".into()))
        );
        // The assignment it meant to replace ended and none took its place: decide again.
        assert_eq!(
            after_refusal(Some("a1"), None, false),
            Refused::ReplaceTheirs(None)
        );
    }

    #[test]
    fn a_rep_missing_from_the_roster_is_recorded_as_a_held_queue() {
        let roster = |id: &str| (id == "ana").then_some(&7);
        assert_eq!(
            recorded_owner(&Owner::Rep("ana".into()), roster),
            (Some(&7), None)
        );
        assert_eq!(
            recorded_owner(&Owner::Rep("gone".into()), roster),
            (None, Some("rep:gone".into()))
        );
        assert_eq!(
            recorded_owner(&Owner::Queue("unrouted".into()), roster),
            (None, Some("unrouted".into()))
        );
    }
    use serde_json::json;

    #[test]
    fn builtin_parses() {
        let c = Config::parse(&serde_json::from_str(BUILTIN).unwrap()).unwrap();
        assert_eq!(c.fallback, Target::Queue("unrouted".into()));
        assert!(c.account_owner_first);
    }

    #[test]
    fn errors_point_at_the_offending_rule() {
        let errors = Config::parse(&json!({
            "name": "x",
            "segments": [{"name": "ent", "when": {"field": "nope", "in": ["a"]}}],
            "rules": [
                {"id": "a", "when": {"field": "score", "at_least": 50}, "assign": {"team": "t"}},
                {"id": "a", "assign": {"team": "t"}},
                {"id": "c", "when": {"field": "country", "in": []}, "assign": {"rep": "r"}},
                {"id": "d", "assign": {"team": "t", "rep": "r"}},
                {"id": "e", "assign": {"account_owner": false}}
            ],
            "fallback": {"team": "t"},
            "colour": "blue"
        }))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "segments[0].when.field",
            "rules[1].id",
            "rules[2].when.in",
            "rules[3].assign",
            "rules[4].assign",
            "fallback",
            "colour",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        // Score fields are routing-only: scoring's parser refuses them.
        assert!(Condition::parse(&json!({"field": "score", "at_least": 1}), "w").is_err());
    }

    #[test]
    fn a_target_holds_one_key() {
        let e = Target::parse(&json!({"rep": "r1", "weight": 2}), "rules[0].assign", false)
            .unwrap_err();
        assert_eq!(e.field, "rules[0].assign.weight");
        assert!(Target::parse(&json!({"rep": "r1"}), "x", false).is_ok());
    }

    #[test]
    fn a_lead_keeps_an_open_assignment_unless_forced_and_a_retry_never_moves_it_twice() {
        let open = Some(Current {
            id: "asg_1",
            open: true,
        });
        let closed = Some(Current {
            id: "asg_1",
            open: false,
        });
        assert_eq!(reroute(None, false, None), Reroute::Decide);
        assert_eq!(reroute(open, false, None), Reroute::Keep);
        assert_eq!(reroute(open, true, None), Reroute::Decide);
        assert_eq!(reroute(closed, false, None), Reroute::Decide);
        assert_eq!(reroute(open, true, Some("asg_1")), Reroute::Decide);
        assert_eq!(reroute(open, true, Some("asg_0")), Reroute::Keep);
        assert_eq!(reroute(None, true, Some("asg_1")), Reroute::Keep);
    }

    #[test]
    fn references_list_reps_and_teams_once() {
        let c = Config::parse(&json!({
            "name": "x",
            "rules": [
                {"id": "a", "assign": {"team": "t1"}},
                {"id": "b", "assign": {"rep": "r1"}},
                {"id": "c", "assign": {"team": "t1"}},
                {"id": "d", "assign": {"account_owner": true}}
            ],
            "fallback": {"rep": "r2"}
        }))
        .unwrap();
        assert_eq!(
            c.references(),
            (vec!["r1".into(), "r2".into()], vec!["t1".into()])
        );
    }

    #[test]
    fn reps_considered_are_named_reps_team_members_and_the_owner() {
        let c = Config::parse(&json!({
            "name": "x",
            "rules": [{"id": "a", "assign": {"team": "t1"}}, {"id": "b", "assign": {"rep": "r1"}}, {"id": "c", "assign": {"team": "ghost"}}],
            "fallback": {"rep": "ops"}
        }))
        .unwrap();
        let team = roster::Team::parse(
            "t1",
            &json!({"name": "T", "members": [{"rep": "m1"}, {"rep": "r1"}]}),
        )
        .unwrap();
        let teams = crate::Map::from_iter([("t1".to_string(), team)]);
        assert_eq!(
            c.reps_considered(&teams, Some("owner")),
            vec!["r1", "ops", "m1", "owner"]
        );
        assert_eq!(c.reps_considered(&teams, None).len(), 3);
    }

    #[test]
    fn account_domains_skip_free_mail_and_walk_up_to_the_registrable_domain() {
        assert_eq!(
            account_domains(Some("EU.Acme.com"), "jo@mail.acme.com"),
            vec!["eu.acme.com", "acme.com", "mail.acme.com"]
        );
        assert_eq!(account_domains(None, "jo@gmail.com"), Vec::<String>::new());
        assert_eq!(
            account_domains(None, "jo@sales.acme.co.uk"),
            vec!["sales.acme.co.uk", "acme.co.uk"]
        );
        assert_eq!(
            account_domains(Some("acme.com"), "jo@acme.com"),
            vec!["acme.com"]
        );
    }

    #[test]
    fn existing_customer_is_the_account_the_lead_belongs_to() {
        use decide::Account;
        let lead: crate::intake::lead::Lead = serde_json::from_value(serde_json::json!({
            "id": "lead_1", "email": "jo@eu.acme.com", "created_at": 0, "updated_at": 0
        }))
        .unwrap();
        let domains = account_domains(None, &lead.email);
        let acct = |domain: &str, customer: bool| Account {
            id: domain.into(),
            name: domain.into(),
            owner: None,
            domain: domain.into(),
            customer,
        };
        // The parent is a customer, the subsidiary the lead belongs to is not: not a customer.
        let accounts = vec![acct("acme.com", true), acct("eu.acme.com", false)];
        let matched = matching_account(&domains, &accounts);
        assert_eq!(matched.map(|a| a.domain.as_str()), Some("eu.acme.com"));
        assert!(!existing_customer(&lead, matched));
        // Only the parent is known: the lead belongs to it.
        let accounts = vec![acct("acme.com", true)];
        assert!(existing_customer(
            &lead,
            matching_account(&domains, &accounts)
        ));
        assert!(!existing_customer(&lead, None));
        let mut says = lead.clone();
        says.custom
            .insert("customer".into(), serde_json::json!("yes"));
        assert!(existing_customer(&says, None));
    }
}
