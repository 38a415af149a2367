//! The condition language of scoring (and routing) rules: tests on a lead's attributes, its
//! consent, whether its company is a customer, combined with `all` / `any` / `not`.
//!
//! ```json
//! {"field": "title", "contains": ["vp", "director"]}        case-insensitive substring, any
//! {"field": "country", "in": ["US", "CA"]}                    case-insensitive equality, any
//! {"field": "employees", "at_least": "201-500"}             size bands compare in order
//! {"field": "custom.revenue", "at_least": 1000000}          numbers compare as numbers
//! {"field": "company_domain", "present": true}
//! {"field": "custom.student", "equals": true}
//! {"field": "email_domain", "free_mail": true}
//! {"consent": "opted_out", "topic": "marketing_email"}     or {"consent": "suppressed"}
//! {"existing_customer": true}
//! {"list": "list_…"}                                        a member of the list (workflows)
//! {"all": [...]}  {"any": [...]}  {"not": {...}}
//! ```
//! Conditions are parsed with errors that name the offending place (`fit[2].when.any[0].in`).

use serde_json::{json, Value};

use crate::intake::email::is_free_mail_domain;
use crate::intake::employees::EmployeeBand;
use crate::intake::lead::Lead;

/// What a condition is evaluated against.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub lead: Option<&'a Lead>,
    /// Consent topics the person opted out of.
    pub opted_out: Vec<String>,
    pub suppressed: bool,
    pub existing_customer: bool,
    /// What routing knows beyond the lead (its score, stage and segment).
    pub routing: Option<&'a RoutingFacts>,
    /// The lists the lead is a member of (workflows and dynamic lists know them).
    pub lists: &'a [String],
}

/// Whether the lead says it is an existing customer (`custom.customer` yes/true); the whole
/// rule, with the CRM account, is `routing::existing_customer`.
pub fn custom_says_customer(lead: &Lead) -> bool {
    lead.custom.get("customer").is_some_and(|v| {
        v.as_bool() == Some(true)
            || v.as_str().and_then(crate::intake::normalize::parse_yes_no) == Some(true)
    })
}

/// The fields routing conditions may use besides the lead's: see [`ROUTING_FIELDS`]. Scoring
/// passes them to routing with an MQL it hands on.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFacts {
    pub score: Option<f64>,
    pub fit_score: Option<f64>,
    pub engagement_score: Option<f64>,
    pub stage: Option<String>,
    pub segment: Option<String>,
}

/// The extra name that lets a condition test list membership (`{"list": "list_…"}`): only
/// workflows and dynamic lists know a lead's lists.
pub const LIST: &str = "list";

/// Fields only routing rules can test (scoring computes them, so its rules cannot).
pub const ROUTING_FIELDS: &[&str] = &["score", "fit_score", "engagement_score", "stage", "segment"];

/// A field's value as a test sees it: the lead's text borrowed as it is held, anything else as
/// JSON. Tests never copy a lead's strings to look at them.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Json(std::borrow::Cow<'a, Value>),
}

const NULL: FieldValue<'static> = FieldValue::Json(std::borrow::Cow::Borrowed(&Value::Null));

/// A field name resolved once, when the condition is parsed (a model or a configuration is
/// published or read), so evaluating it does not compare the name against every field's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKey {
    Score,
    FitScore,
    EngagementScore,
    Stage,
    Segment,
    Email,
    EmailDomain,
    FirstName,
    LastName,
    Company,
    CompanyDomain,
    Title,
    Phone,
    Country,
    Region,
    City,
    Employees,
    Industry,
    Website,
    LeadSource,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    /// `custom.<key>`.
    Custom(String),
    /// A name no lead has: always null.
    Unknown,
}

impl FieldKey {
    pub fn of(name: &str) -> FieldKey {
        match name {
            "score" => FieldKey::Score,
            "fit_score" => FieldKey::FitScore,
            "engagement_score" => FieldKey::EngagementScore,
            "stage" => FieldKey::Stage,
            "segment" => FieldKey::Segment,
            "email" => FieldKey::Email,
            "email_domain" => FieldKey::EmailDomain,
            "first_name" => FieldKey::FirstName,
            "last_name" => FieldKey::LastName,
            "company" => FieldKey::Company,
            "company_domain" => FieldKey::CompanyDomain,
            "title" => FieldKey::Title,
            "phone" => FieldKey::Phone,
            "country" => FieldKey::Country,
            "region" => FieldKey::Region,
            "city" => FieldKey::City,
            "employees" => FieldKey::Employees,
            "industry" => FieldKey::Industry,
            "website" => FieldKey::Website,
            "lead_source" => FieldKey::LeadSource,
            "utm_source" => FieldKey::UtmSource,
            "utm_medium" => FieldKey::UtmMedium,
            "utm_campaign" => FieldKey::UtmCampaign,
            other => match other.strip_prefix("custom.") {
                Some(key) => FieldKey::Custom(key.to_string()),
                None => FieldKey::Unknown,
            },
        }
    }
}

impl<'a> Facts<'a> {
    /// A lead attribute (`custom.x` for custom attributes; `email_domain` derived), or one of
    /// routing's [`ROUTING_FIELDS`].
    pub fn field(&self, name: &str) -> FieldValue<'a> {
        self.field_at(&FieldKey::of(name))
    }

    /// [`Facts::field`] for a name already resolved.
    pub fn field_at(&self, key: &FieldKey) -> FieldValue<'a> {
        let text = |v: &'a Option<String>| v.as_deref().map_or(NULL, FieldValue::Text);
        let num = |v: Option<f64>| {
            v.map_or(NULL, |n| {
                FieldValue::Json(std::borrow::Cow::Owned(json!(n)))
            })
        };
        // Routing's fields exist only where routing's facts are given.
        let routing = self.routing;
        match key {
            FieldKey::Score => return routing.map_or(NULL, |r| num(r.score)),
            FieldKey::FitScore => return routing.map_or(NULL, |r| num(r.fit_score)),
            FieldKey::EngagementScore => return routing.map_or(NULL, |r| num(r.engagement_score)),
            FieldKey::Stage => return routing.map_or(NULL, |r| text(&r.stage)),
            FieldKey::Segment => return routing.map_or(NULL, |r| text(&r.segment)),
            _ => {}
        }
        let Some(lead) = self.lead else {
            return NULL;
        };
        let touch = |f: fn(&'a crate::intake::normalize::Touch) -> &'a Option<String>| {
            lead.latest_touch.as_ref().map_or(NULL, |t| text(f(t)))
        };
        match key {
            FieldKey::Email => FieldValue::Text(&lead.email),
            FieldKey::EmailDomain => lead
                .email
                .rsplit_once('@')
                .map_or(NULL, |(_, d)| FieldValue::Text(d)),
            FieldKey::FirstName => text(&lead.first_name),
            FieldKey::LastName => text(&lead.last_name),
            FieldKey::Company => text(&lead.company),
            FieldKey::CompanyDomain => text(&lead.company_domain),
            FieldKey::Title => text(&lead.title),
            FieldKey::Phone => text(&lead.phone),
            FieldKey::Country => text(&lead.country),
            FieldKey::Region => text(&lead.region),
            FieldKey::City => text(&lead.city),
            FieldKey::Employees => lead
                .employees
                .map_or(NULL, |b| FieldValue::Text(b.as_str())),
            FieldKey::Industry => text(&lead.industry),
            FieldKey::Website => text(&lead.website),
            FieldKey::LeadSource => text(&lead.lead_source),
            FieldKey::UtmSource => touch(|t| &t.utm_source),
            FieldKey::UtmMedium => touch(|t| &t.utm_medium),
            FieldKey::UtmCampaign => touch(|t| &t.utm_campaign),
            FieldKey::Custom(key) => lead
                .custom
                .get(key)
                .map_or(NULL, |v| FieldValue::Json(std::borrow::Cow::Borrowed(v))),
            FieldKey::Score
            | FieldKey::FitScore
            | FieldKey::EngagementScore
            | FieldKey::Stage
            | FieldKey::Segment
            | FieldKey::Unknown => NULL,
        }
    }
}

/// The attributes a condition may name (besides `custom.<name>`).
pub const FIELDS: &[&str] = &[
    "email",
    "email_domain",
    "first_name",
    "last_name",
    "company",
    "company_domain",
    "title",
    "phone",
    "country",
    "region",
    "city",
    "employees",
    "industry",
    "website",
    "lead_source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Contains(Vec<String>),
    In(Vec<String>),
    AtLeast(Value),
    AtMost(Value),
    Present(bool),
    Equals(Value),
    FreeMail(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Field {
        field: String,
        key: FieldKey,
        test: Test,
    },
    OptedOut(String),
    Suppressed,
    ExistingCustomer(bool),
    /// A member of the list (only where [`LIST`] is among the extra names allowed).
    InList(String),
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
}

fn strings(v: &Value, at: &str) -> Result<Vec<String>, String> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(|s| s.to_string())
                    .ok_or_else(|| format!("{at}: list only strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("{at}: give a string or a list of strings")),
    };
    if list.is_empty() || list.iter().any(|s| s.trim().is_empty()) {
        return Err(format!("{at}: the list must hold non-empty strings"));
    }
    Ok(list
        .into_iter()
        .map(|s| crate::text::lowercase(s.trim()))
        .collect())
}

/// A condition object holds its form's keys and nothing else: a typo (`feild`, `in ` …) is
/// refused instead of silently changing what the rule means.
fn only(obj: &serde_json::Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{at}.{k}: is not part of this condition (it takes {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn bool_at(v: &Value, at: &str) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("{at}: must be true or false"))
}

impl Condition {
    /// Parses a condition; `at` is where it sits in the model, for error messages.
    pub fn parse(v: &Value, at: &str) -> Result<Condition, String> {
        Condition::parse_with(v, at, &[])
    }

    /// Parses a condition that may also name the `extra` fields (routing's [`ROUTING_FIELDS`]).
    pub fn parse_with(v: &Value, at: &str, extra: &[&str]) -> Result<Condition, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{at}: a condition is a JSON object"))?;
        let list = |key: &str| -> Result<Vec<Condition>, String> {
            let items = obj[key]
                .as_array()
                .ok_or_else(|| format!("{at}.{key}: give a list of conditions"))?;
            if items.is_empty() {
                return Err(format!("{at}.{key}: the list is empty"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, c)| Condition::parse_with(c, &format!("{at}.{key}[{i}]"), extra))
                .collect()
        };
        if obj.contains_key("all") {
            only(obj, &["all"], at)?;
            return Ok(Condition::All(list("all")?));
        }
        if obj.contains_key("any") {
            only(obj, &["any"], at)?;
            return Ok(Condition::Any(list("any")?));
        }
        if let Some(inner) = obj.get("not") {
            only(obj, &["not"], at)?;
            return Ok(Condition::Not(Box::new(Condition::parse_with(
                inner,
                &format!("{at}.not"),
                extra,
            )?)));
        }
        if let Some(c) = obj.get("consent") {
            return match c.as_str() {
                Some("suppressed") => {
                    only(obj, &["consent"], at)?;
                    Ok(Condition::Suppressed)
                }
                Some("opted_out") => {
                    only(obj, &["consent", "topic"], at)?;
                    match obj.get("topic").and_then(Value::as_str) {
                        Some(t) if crate::consent::is_topic_id(t) => {
                            Ok(Condition::OptedOut(t.to_string()))
                        }
                        _ => Err(format!(
                            "{at}.topic: name the consent topic (its snake_case id)"
                        )),
                    }
                }
                _ => Err(format!(
                    "{at}.consent: is `opted_out` (with a topic) or `suppressed`"
                )),
            };
        }
        if let Some(list) = obj.get("list") {
            if !extra.contains(&LIST) {
                return Err(format!(
                    "{at}.list: list membership is known to workflows and lists only"
                ));
            }
            only(obj, &["list"], at)?;
            return match list.as_str() {
                Some(id) if crate::ids::is_id(crate::ids::prefix::LIST, id) => {
                    Ok(Condition::InList(id.to_string()))
                }
                _ => Err(format!("{at}.list: give a list id (list_…)")),
            };
        }
        if let Some(b) = obj.get("existing_customer") {
            only(obj, &["existing_customer"], at)?;
            return Ok(Condition::ExistingCustomer(bool_at(
                b,
                &format!("{at}.existing_customer"),
            )?));
        }
        let field = obj.get("field").and_then(Value::as_str).ok_or_else(|| {
            format!("{at}: give a field, consent, existing_customer, list, all, any or not")
        })?;
        if !FIELDS.contains(&field)
            && !extra.contains(&field)
            && field.strip_prefix("custom.").is_none_or(|k| k.is_empty())
        {
            return Err(format!(
                "{at}.field: `{field}` is not a lead attribute (nor custom.<name>)"
            ));
        }
        let tests: Vec<&str> = [
            "contains",
            "in",
            "at_least",
            "at_most",
            "present",
            "equals",
            "free_mail",
        ]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
        let [test] = tests.as_slice() else {
            return Err(format!("{at}: give exactly one of contains, in, at_least, at_most, present, equals, free_mail"));
        };
        only(obj, &["field", test], at)?;
        let value = &obj[*test];
        let here = format!("{at}.{test}");
        let test = match *test {
            "contains" => Test::Contains(strings(value, &here)?),
            "in" => Test::In(strings(value, &here)?),
            "at_least" | "at_most" => {
                // Company size is kept as a band, so it is compared with a band, never a count
                // (a count could never match).
                let ok = if field == "employees" {
                    value.as_str().and_then(EmployeeBand::parse_band).is_some()
                } else {
                    value.is_number()
                };
                if !ok {
                    return Err(format!(
                        "{here}: {}",
                        if field == "employees" {
                            "compare company size with a band such as 201-500"
                        } else {
                            "compare with a number"
                        }
                    ));
                }
                if *test == "at_least" {
                    Test::AtLeast(value.clone())
                } else {
                    Test::AtMost(value.clone())
                }
            }
            "present" => Test::Present(bool_at(value, &here)?),
            "equals" => Test::Equals(value.clone()),
            _ => {
                if field != "email_domain" && field != "company_domain" {
                    return Err(format!(
                        "{here}: free_mail applies to email_domain or company_domain"
                    ));
                }
                Test::FreeMail(bool_at(value, &here)?)
            }
        };
        Ok(Condition::Field {
            field: field.to_string(),
            key: FieldKey::of(field),
            test,
        })
    }

    pub fn matches(&self, facts: &Facts) -> bool {
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.matches(facts)),
            Condition::Any(cs) => cs.iter().any(|c| c.matches(facts)),
            Condition::Not(c) => !c.matches(facts),
            Condition::OptedOut(topic) => facts.opted_out.iter().any(|t| t == topic),
            Condition::Suppressed => facts.suppressed,
            Condition::ExistingCustomer(want) => facts.existing_customer == *want,
            Condition::InList(id) => facts.lists.iter().any(|l| l == id),
            Condition::Field { field, key, test } => test.matches_field(field, facts.field_at(key)),
        }
    }

    /// Whether the answer can change when the CRM's accounts do (a lead's existing-customer
    /// fact comes from the account its domain belongs to): such a condition must be judged
    /// again for every lead when accounts change, not only when a lead does.
    pub fn reads_accounts(&self) -> bool {
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().any(Condition::reads_accounts),
            Condition::Not(c) => c.reads_accounts(),
            Condition::ExistingCustomer(_) => true,
            Condition::OptedOut(_)
            | Condition::Suppressed
            | Condition::InList(_)
            | Condition::Field { .. } => false,
        }
    }
}

/// A value as conditions compare it: trimmed, lowercase text (borrowed when it already is).
fn text_of(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(crate::text::lowercase_cow(s.trim())),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(text_of)
                .collect::<Vec<_>>()
                .join(", ")
                .into(),
        ),
        other => Some(other.to_string().into()),
    }
}

fn number_of(field: &str, v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => number_of_text(field, s),
        _ if field == "employees" => None,
        v => v.as_f64(),
    }
}

fn number_of_text(field: &str, s: &str) -> Option<f64> {
    if field == "employees" {
        return EmployeeBand::parse_band(s).map(|b| b.lower_bound() as f64);
    }
    crate::text::parse_number(s)
}

impl Test {
    /// Whether a JSON value (an activity's property, a custom attribute) passes the test.
    pub fn matches(&self, field: &str, value: &Value) -> bool {
        match value {
            Value::String(s) => self.matches_text(field, s),
            other => self.matches_json(field, other),
        }
    }

    pub fn matches_field(&self, field: &str, value: FieldValue) -> bool {
        match value {
            FieldValue::Text(s) => self.matches_text(field, s),
            FieldValue::Json(v) => self.matches(field, &v),
        }
    }

    /// [`Test::matches`] on a text value, without making a JSON string of it: exactly what the
    /// JSON path does for `Value::String`.
    fn matches_text(&self, field: &str, s: &str) -> bool {
        let text = || crate::text::lowercase_cow(s.trim());
        match self {
            Test::Present(want) => s.trim().is_empty() != *want,
            Test::Contains(needles) => {
                let t = text();
                needles.iter().any(|n| t.contains(n.as_str()))
            }
            Test::In(options) => {
                let t = text();
                options.iter().any(|o| {
                    *o == *t
                        || (field.ends_with("domain")
                            && t.strip_suffix(o.as_str())
                                .is_some_and(|rest| rest.ends_with('.')))
                })
            }
            Test::AtLeast(bound) | Test::AtMost(bound) => {
                let (Some(v), Some(b)) = (number_of_text(field, s), number_of(field, bound)) else {
                    return false;
                };
                if matches!(self, Test::AtLeast(_)) {
                    v >= b
                } else {
                    v <= b
                }
            }
            Test::Equals(expected) => match expected {
                Value::String(b) => s.trim().eq_ignore_ascii_case(b.trim()),
                Value::Bool(b) => crate::intake::normalize::parse_yes_no(s) == Some(*b),
                Value::Number(_) => {
                    number_of_text(field, s) == number_of(field, expected) && !s.is_empty()
                }
                _ => false,
            },
            Test::FreeMail(want) => is_free_mail_domain(&text()) == *want,
        }
    }

    fn matches_json(&self, field: &str, value: &Value) -> bool {
        match self {
            Test::Present(want) => {
                let present =
                    !matches!(value, Value::Null) && text_of(value).is_some_and(|t| !t.is_empty());
                present == *want
            }
            Test::Contains(needles) => {
                text_of(value).is_some_and(|t| needles.iter().any(|n| t.contains(n.as_str())))
            }
            Test::In(options) => match value {
                // A list value (a multi-select) matches if any of its items is in the options.
                Value::Array(items) => items
                    .iter()
                    .filter_map(text_of)
                    .any(|t| options.iter().any(|o| *o == *t)),
                v => text_of(v).is_some_and(|t| {
                    options.iter().any(|o| {
                        *o == *t
                            || (field.ends_with("domain")
                                && t.strip_suffix(o.as_str())
                                    .is_some_and(|rest| rest.ends_with('.')))
                    })
                }),
            },
            Test::AtLeast(bound) | Test::AtMost(bound) => {
                let (Some(v), Some(b)) = (number_of(field, value), number_of(field, bound)) else {
                    return false;
                };
                if matches!(self, Test::AtLeast(_)) {
                    v >= b
                } else {
                    v <= b
                }
            }
            Test::Equals(expected) => match (value, expected) {
                (Value::String(a), Value::String(b)) => a.trim().eq_ignore_ascii_case(b.trim()),
                (Value::String(a), Value::Bool(b)) => {
                    crate::intake::normalize::parse_yes_no(a) == Some(*b)
                }
                (Value::String(a), Value::Number(_)) => {
                    number_of(field, value) == number_of(field, expected) && !a.is_empty()
                }
                (a, b) => a == b,
            },
            Test::FreeMail(want) => {
                text_of(value).is_some_and(|d| is_free_mail_domain(&d) == *want)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lead() -> Lead {
        Lead {
            email: "ana@globex.com".into(),
            title: Some("VP of Sales".into()),
            country: Some("US".into()),
            employees: Some(EmployeeBand::B201To500),
            company_domain: Some("globex.com".into()),
            custom: [
                ("student".to_string(), json!("yes")),
                ("revenue".to_string(), json!("2,500,000")),
                ("tags".to_string(), json!(["a", "b"])),
            ]
            .into_iter()
            .collect(),
            ..Lead::default()
        }
    }

    #[test]
    fn a_condition_reads_accounts_only_through_existing_customer_however_deep() {
        let reads = |v: Value| Condition::parse(&v, "when").unwrap().reads_accounts();
        assert!(reads(json!({"existing_customer": true})));
        assert!(reads(
            json!({"all": [{"field": "country", "equals": "US"}, {"not": {"any": [{"consent": "suppressed"}, {"existing_customer": false}]}}]})
        ));
        assert!(!reads(
            json!({"all": [{"field": "company_domain", "equals": "globex.com"}, {"consent": "suppressed"}]})
        ));
    }

    fn check(cond: Value) -> bool {
        let lead = lead();
        let facts = Facts {
            lead: Some(&lead),
            opted_out: vec!["newsletter".into()],
            suppressed: false,
            existing_customer: true,
            routing: None,
            lists: &[],
        };
        Condition::parse(&cond, "rule").unwrap().matches(&facts)
    }

    #[test]
    fn field_tests() {
        assert!(check(
            json!({"field": "title", "contains": ["vp", "director"]})
        ));
        assert!(!check(json!({"field": "title", "contains": "intern"})));
        assert!(check(json!({"field": "country", "in": ["us", "ca"]})));
        assert!(check(json!({"field": "employees", "at_least": "51-200"})));
        assert!(!check(
            json!({"field": "employees", "at_least": "501-1000"})
        ));
        assert!(check(json!({"field": "employees", "at_most": "201-500"})));
        assert!(check(
            json!({"field": "custom.revenue", "at_least": 1000000})
        ));
        assert!(check(json!({"field": "custom.student", "equals": true})));
        assert!(check(json!({"field": "company_domain", "present": true})));
        assert!(check(json!({"field": "industry", "present": false})));
        assert!(check(json!({"field": "email_domain", "free_mail": false})));
        assert!(check(
            json!({"field": "email_domain", "in": ["globex.com"]})
        ));
        assert!(
            check(json!({"field": "custom.tags", "in": ["b"]})),
            "a multi-select matches any item"
        );
    }

    #[test]
    fn subdomains_match_domain_lists() {
        let lead = Lead {
            email: "x@mail.competitor.io".into(),
            ..Lead::default()
        };
        let facts = Facts {
            lead: Some(&lead),
            ..Facts::default()
        };
        let c = Condition::parse(
            &json!({"field": "email_domain", "in": ["competitor.io"]}),
            "r",
        )
        .unwrap();
        assert!(c.matches(&facts));
        let c =
            Condition::parse(&json!({"field": "email_domain", "in": ["petitor.io"]}), "r").unwrap();
        assert!(!c.matches(&facts), "a suffix must be a whole label");
    }

    #[test]
    fn combinators_consent_and_customers() {
        assert!(check(
            json!({"all": [{"field": "country", "in": ["US"]}, {"not": {"field": "title", "contains": "intern"}}]})
        ));
        assert!(check(
            json!({"any": [{"field": "country", "in": ["DE"]}, {"existing_customer": true}]})
        ));
        assert!(check(
            json!({"consent": "opted_out", "topic": "newsletter"})
        ));
        assert!(!check(
            json!({"consent": "opted_out", "topic": "marketing_email"})
        ));
        assert!(!check(json!({"consent": "suppressed"})));
    }

    #[test]
    fn errors_name_the_place() {
        let err = |v: Value| Condition::parse(&v, "fit[2].when").unwrap_err();
        assert_eq!(
            err(json!({"field": "titel", "contains": "vp"})),
            "fit[2].when.field: `titel` is not a lead attribute (nor custom.<name>)"
        );
        assert_eq!(err(json!({"any": [{"field": "title"}]})), "fit[2].when.any[0]: give exactly one of contains, in, at_least, at_most, present, equals, free_mail");
        assert_eq!(
            err(json!({"field": "country", "in": []})),
            "fit[2].when.in: the list must hold non-empty strings"
        );
        assert_eq!(
            err(json!({"field": "title", "at_least": "senior"})),
            "fit[2].when.at_least: compare with a number"
        );
        assert_eq!(
            err(json!({"field": "employees", "at_least": 200})),
            "fit[2].when.at_least: compare company size with a band such as 201-500"
        );
        assert_eq!(
            err(json!({"consent": "opted_out"})),
            "fit[2].when.topic: name the consent topic (its snake_case id)"
        );
        // A typo beside a form is refused, not ignored.
        assert_eq!(
            err(json!({"field": "title", "contains": "vp", "feild": "x"})),
            "fit[2].when.feild: is not part of this condition (it takes field, contains)"
        );
        assert_eq!(
            err(json!({"all": [{"existing_customer": true}], "any": []})),
            "fit[2].when.any: is not part of this condition (it takes all)"
        );
        assert_eq!(
            err(json!({"consent": "suppressed", "topic": "newsletter"})),
            "fit[2].when.topic: is not part of this condition (it takes consent)"
        );
        assert_eq!(err(json!("x")), "fit[2].when: a condition is a JSON object");
    }

    #[test]
    fn every_field_a_condition_may_name_is_resolved_to_its_own_key() {
        let names: Vec<&str> = FIELDS.iter().chain(ROUTING_FIELDS).copied().collect();
        let keys: Vec<FieldKey> = names.iter().map(|n| FieldKey::of(n)).collect();
        for (name, key) in names.iter().zip(&keys) {
            assert_ne!(*key, FieldKey::Unknown, "{name}");
        }
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[..i].contains(key), "{} shares a key", names[i]);
        }
        assert_eq!(
            FieldKey::of("custom.seats"),
            FieldKey::Custom("seats".into())
        );
        assert_eq!(FieldKey::of("nickname"), FieldKey::Unknown);
    }

    mod text_path {
        use super::super::*;
        use proptest::prelude::*;
        use serde_json::json;

        fn tests() -> Vec<Test> {
            vec![
                Test::Present(true),
                Test::Present(false),
                Test::Contains(vec!["vp".into(), "ä".into(), "".into()]),
                Test::In(vec!["us".into(), "acme.com".into(), "201-500".into()]),
                Test::AtLeast(json!(100)),
                Test::AtMost(json!("2,500")),
                Test::AtLeast(json!("201-500")),
                Test::Equals(json!(" Yes ")),
                Test::Equals(json!(true)),
                Test::Equals(json!(false)),
                Test::Equals(json!(12.5)),
                Test::Equals(Value::Null),
                Test::FreeMail(true),
                Test::FreeMail(false),
            ]
        }

        proptest! {
            /// A lead's text is tested without being copied into JSON; the answer is the one
            /// the JSON path gives for the same string, whatever the string and the field.
            #[test]
            fn text_is_tested_as_the_json_path_tests_a_string(
                s in "[ a-zA-Z0-9.,@ÄäßİI_-]{0,24}|yes|no|true| Yes |   | |201-500|1001-5000|gmail.com|sub.acme.com| US ",
                field in prop::sample::select(vec!["title", "employees", "company_domain", "custom.x", "email_domain"]),
            ) {
                for t in tests() {
                    prop_assert_eq!(
                        t.matches_text(field, &s),
                        t.matches_json(field, &Value::String(s.clone())),
                        "{:?} on {:?} = {:?}", t, field, s
                    );
                }
            }
        }
    }
}
