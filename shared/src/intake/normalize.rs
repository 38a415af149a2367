//! One submission, normalised and validated: the mapped fields cleaned into the lead model,
//! data-quality flags for what could not be cleaned, field-level errors for what is unusable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::country::{parse_country, parse_region};
use super::email::{domain_of_website, Email};
use super::employees::{parse_employees, EmployeeBand};
use super::fields::{map_name, Field, FieldMap, Target};
use super::names::{normalise_name, split_full_name};
use super::phone::to_e164;
use crate::problem::FieldError;

/// Longest accepted value of a lead field (URLs may be longer).
pub const MAX_FIELD_CHARS: usize = 255;
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_CUSTOM_CHARS: usize = 2000;
pub const MAX_CUSTOM_ATTRIBUTES: usize = 100;

/// A data-quality finding: recorded on the lead, never a reason to refuse it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flag {
    pub code: String,
    pub detail: String,
}

impl Flag {
    pub fn new(code: &str, detail: impl Into<String>) -> Flag {
        Flag {
            code: code.into(),
            detail: detail.into(),
        }
    }
}

/// Marketing attribution of one touch: where the person came from when they submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landing_page: Option<String>,
    pub at: i64,
}

impl Touch {
    fn is_empty(&self) -> bool {
        self.utm_source.is_none()
            && self.utm_medium.is_none()
            && self.utm_campaign.is_none()
            && self.utm_term.is_none()
            && self.utm_content.is_none()
            && self.referrer.is_none()
            && self.landing_page.is_none()
    }
}

/// How the lead source of a submission was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSourceOrigin {
    /// The submission named it.
    Submitted,
    /// The form's or webhook source's configured default.
    SourceDefault,
    /// Taken from `utm_source`.
    Utm,
    Missing,
}

/// What a submission contributes to a lead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Normalised {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub company_domain: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub phone_e164: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub employees: Option<EmployeeBand>,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub lead_source: Option<String>,
    /// How `lead_source` was determined (`None` in submissions stored before it was recorded).
    #[serde(default)]
    pub lead_source_origin: Option<LeadSourceOrigin>,
    pub touch: Option<Touch>,
    pub custom: BTreeMap<String, Value>,
    /// The consent checkbox, when the submission carried one.
    pub consent: Option<bool>,
    pub flags: Vec<Flag>,
    pub received_at: i64,
}

/// A submission as received, with the context normalisation needs.
pub struct Submission<'a> {
    /// The fields in the order the source sent them; repeated names are allowed (multi-selects).
    pub fields: &'a [(String, Value)],
    pub field_map: &'a FieldMap,
    pub default_lead_source: Option<&'a str>,
    /// The form's or source's country for phone numbers written without `+`.
    pub default_country: Option<&'a str>,
    pub received_at: i64,
}

/// A JSON value as text: strings trimmed, numbers and booleans printed, lists joined.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Array(items) => items
            .iter()
            .map(value_text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => value.to_string(),
        other => other.to_string(),
    }
}

/// Reads a yes/no answer as forms and tools send it.
pub fn parse_yes_no(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "y" | "1" | "checked" | "agree" | "agreed" | "accept"
        | "accepted" | "opt-in" | "optin" => Some(true),
        "false" | "no" | "n" | "0" | "off" | "" | "unchecked" | "decline" | "declined"
        | "opt-out" | "optout" => Some(false),
        _ => None,
    }
}

/// Decodes `application/x-www-form-urlencoded` text (also a URL's query) into pairs.
pub fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    super::body::parse_urlencoded_bytes(text.as_bytes())
        .into_iter()
        .map(|f| {
            (
                String::from_utf8_lossy(&f.name).into_owned(),
                String::from_utf8_lossy(&f.value).into_owned(),
            )
        })
        .collect()
}

fn utm_from_url(url: &str) -> Vec<(String, String)> {
    url.split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .map(parse_urlencoded)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| k.starts_with("utm_") && !v.is_empty())
        .collect()
}

/// A JSON API body (`POST /v1/leads`, scoring's previews) as a submission: the lead model's keys
/// and any others as they are, the members of `custom` as custom attributes, and the explicit
/// `consent` object apart.
pub struct ApiLead {
    pub fields: Vec<(String, Value)>,
    pub field_map: FieldMap,
    pub consent: Option<Value>,
}

impl ApiLead {
    pub fn from_object(obj: serde_json::Map<String, Value>) -> ApiLead {
        let mut lead = ApiLead {
            fields: Vec::new(),
            field_map: FieldMap::new(),
            consent: None,
        };
        for (k, v) in obj {
            match (k.as_str(), v) {
                ("custom", Value::Object(custom)) => {
                    for (ck, cv) in custom {
                        let name = format!("custom.{ck}");
                        lead.field_map.insert(name.clone(), format!("custom:{ck}"));
                        lead.fields.push((name, cv));
                    }
                }
                ("consent", c @ Value::Object(_)) => lead.consent = Some(c),
                (_, v) => lead.fields.push((k, v)),
            }
        }
        lead
    }

    /// Normalises the lead as a submission received at `now` (no source defaults), refusing
    /// lists and objects where lead fields are expected, and a consent claim the consent step
    /// could never apply (read now, before anything is acknowledged, so no submission waits on
    /// it forever).
    pub fn normalise(&self, now: i64) -> Result<Normalised, Vec<FieldError>> {
        let mut errors = scalar_field_errors(&self.fields, &self.field_map);
        // `custom` is kept apart only as an object (see `from_object`): anything else is a
        // mistake, not an attribute named "custom".
        if self.fields.iter().any(|(name, _)| name == "custom") {
            errors.push(FieldError::new(
                "custom",
                "must be an object of custom attributes",
            ));
        }
        if let Some(Err(claim_errors)) = self
            .consent
            .as_ref()
            .map(|c| crate::consent::claim::Claim::parse(c, "consent"))
        {
            errors.extend(claim_errors);
        }
        let n = normalise(&Submission {
            fields: &self.fields,
            field_map: &self.field_map,
            default_lead_source: None,
            default_country: None,
            received_at: now,
        })
        .map_err(|more| errors.extend(more))
        .ok();
        // As openapi.json's `maxProperties` says: attributes given count, even empty ones
        // (which [`normalise`] then drops).
        let given = self
            .fields
            .iter()
            .filter(|(name, _)| matches!(map_name(&self.field_map, name), Target::Custom(_)))
            .count();
        if given > MAX_CUSTOM_ATTRIBUTES && !errors.iter().any(|e| e.field == "custom") {
            errors.push(FieldError::new(
                "custom",
                format!("has {given} attributes; at most {MAX_CUSTOM_ATTRIBUTES} are kept per submission"),
            ));
        }
        match n {
            Some(n) if errors.is_empty() => Ok(n),
            _ => Err(errors),
        }
    }
}

/// The JSON API's lead fields are values, not structures: text, a number, true/false or null.
/// A list or an object where a lead field is expected is refused, instead of being flattened
/// into text nobody sent (forms and vendors' multi-selects, which arrive as lists, are read by
/// [`normalise`] itself). Custom attributes may be anything.
pub fn scalar_field_errors(fields: &[(String, Value)], field_map: &FieldMap) -> Vec<FieldError> {
    fields
        .iter()
        .filter(|(name, _)| matches!(map_name(field_map, name), Target::Field(_)))
        .filter_map(|(name, value)| match value {
            Value::Array(_) => Some(FieldError::new(name.clone(), "give one value, not a list")),
            Value::Object(_) => Some(FieldError::new(name.clone(), "give a value, not an object")),
            // A company size is a count or a range: never true/false, never a fraction.
            Value::Bool(_) | Value::Number(_)
                if matches!(map_name(field_map, name), Target::Field(Field::Employees))
                    && !value.is_i64()
                    && !value.is_u64() =>
            {
                Some(FieldError::new(
                    name.clone(),
                    "give a whole number or a range such as 51-200",
                ))
            }
            _ => None,
        })
        .collect()
}

/// Normalises and validates one submission.
pub fn normalise(sub: &Submission) -> Result<Normalised, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Gathered {
        canonical,
        mut custom,
    } = gather(sub, &mut errors);
    let fields = Fields(&canonical);
    let (email, consent) = email_and_consent(sub, fields, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let email = email.expect("checked above");
    let mut flags = Vec::new();
    let (first_name, last_name) = names(fields, &mut flags);
    let (country, region) = place(fields, &mut custom, &mut flags);
    let employees = company_size(fields, &mut custom, &mut flags);
    let text = |f: Field| fields.text(f);
    let phone = text(Field::Phone).map(str::to_string);
    let phone_e164 = phone
        .as_deref()
        .and_then(|p| to_e164(p, country.as_deref().or(sub.default_country)));
    if let (Some(p), None) = (&phone, &phone_e164) {
        flags.push(Flag::new(
            "phone_not_e164",
            format!("`{p}` could not be written in E.164"),
        ));
    }

    let website = text(Field::Website).map(str::to_string);
    let company_domain = website
        .as_deref()
        .and_then(domain_of_website)
        .or_else(|| email.company_domain().map(str::to_string));
    if email.is_free_mail() {
        flags.push(Flag::new(
            "free_mail_domain",
            format!("{} is a free-mail provider", email.domain()),
        ));
    }
    if email.is_role_account() {
        flags.push(Flag::new(
            "role_account",
            "the address is a shared role inbox",
        ));
    }

    let touch = first_touch(sub, fields);
    let (lead_source, origin) = lead_source(sub, fields, touch.as_ref(), &mut flags);

    Ok(Normalised {
        email: email.as_str().to_string(),
        first_name,
        last_name,
        company: text(Field::Company).map(|c| c.split_whitespace().collect::<Vec<_>>().join(" ")),
        company_domain,
        title: text(Field::Title).map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")),
        phone,
        phone_e164,
        country,
        region,
        city: text(Field::City).and_then(normalise_name),
        employees,
        industry: text(Field::Industry).map(str::to_string),
        website,
        lead_source,
        lead_source_origin: Some(origin),
        touch,
        custom,
        consent,
        flags,
        received_at: sub.received_at,
    })
}

/// A submission's fields once mapped: each canonical field with the name it came under and its
/// text, and the custom attributes.
struct Gathered {
    canonical: BTreeMap<Field, (String, String)>,
    custom: BTreeMap<String, Value>,
}

/// Maps every submitted name to a canonical field or a custom attribute, refusing values over
/// their limits (into `errors`). The first non-empty value of a field wins.
fn gather(sub: &Submission, errors: &mut Vec<FieldError>) -> Gathered {
    let mut canonical: BTreeMap<Field, (String, String)> = BTreeMap::new();
    let mut custom: BTreeMap<String, Value> = BTreeMap::new();

    for (name, value) in sub.fields {
        match map_name(sub.field_map, name) {
            Target::Ignore => {}
            Target::Field(field) => {
                let text = value_text(value);
                let limit = match field {
                    Field::LandingPage | Field::Referrer | Field::Website => MAX_URL_CHARS,
                    _ => MAX_FIELD_CHARS,
                };
                // The limit counts what was sent, spaces included (as openapi.json's maxLength).
                let given = match value {
                    Value::String(s) => s.chars().count(),
                    _ => text.chars().count(),
                };
                if given > limit {
                    errors.push(FieldError::new(
                        name.clone(),
                        format!("is longer than {limit} characters"),
                    ));
                    continue;
                }
                // The first non-empty value of a field wins; later duplicates go to custom attributes.
                match canonical.get(&field) {
                    Some((_, existing)) if !existing.is_empty() => {
                        if !text.is_empty() && text != *existing {
                            custom.insert(super::fields::custom_name(name), Value::String(text));
                        }
                    }
                    _ => {
                        canonical.insert(field, (name.clone(), text));
                    }
                }
            }
            Target::Custom(key) => {
                if let Value::String(s) = value {
                    if s.chars().count() > MAX_CUSTOM_CHARS {
                        errors.push(FieldError::new(
                            name.clone(),
                            format!("is longer than {MAX_CUSTOM_CHARS} characters"),
                        ));
                        continue;
                    }
                }
                if matches!(value, Value::Null)
                    || matches!(value, Value::String(s) if s.trim().is_empty())
                {
                    continue;
                }
                let value = match value {
                    Value::String(s) => Value::String(s.trim().to_string()),
                    other => other.clone(),
                };
                match custom.get_mut(&key) {
                    // Repeated names (checkbox groups) collect into a list.
                    Some(Value::Array(items)) => items.push(value),
                    Some(existing) => *existing = Value::Array(vec![existing.clone(), value]),
                    None => {
                        custom.insert(key, value);
                    }
                }
            }
        }
    }
    if custom.len() > MAX_CUSTOM_ATTRIBUTES {
        errors.push(FieldError::new(
            "custom",
            format!(
                "has {} attributes; at most {MAX_CUSTOM_ATTRIBUTES} are kept per submission",
                custom.len()
            ),
        ));
    }

    Gathered { canonical, custom }
}

/// The canonical fields as given: a field's text (`None` when empty) and the name it was sent
/// under (for errors that point at what the sender wrote).
#[derive(Clone, Copy)]
struct Fields<'a>(&'a BTreeMap<Field, (String, String)>);

impl<'a> Fields<'a> {
    fn text(self, f: Field) -> Option<&'a str> {
        self.0
            .get(&f)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn source_name(self, f: Field) -> String {
        self.0
            .get(&f)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| f.name().to_string())
    }

    fn given(self, f: Field) -> bool {
        self.0.contains_key(&f)
    }
}

/// The two fields a submission cannot do without or get wrong: the address (required, valid)
/// and the consent answer (yes/no when given).
fn email_and_consent(
    sub: &Submission,
    fields: Fields,
    errors: &mut Vec<FieldError>,
) -> (Option<Email>, Option<bool>) {
    let text = |f: Field| fields.text(f);
    let source_name = |f: Field| fields.source_name(f);
    // An email field already refused (too long) gets no second error saying it is missing.
    let email_refused = sub.fields.iter().any(|(n, _)| {
        map_name(sub.field_map, n) == Target::Field(Field::Email)
            && errors.iter().any(|e| &e.field == n)
    });
    let email = match Email::parse(text(Field::Email).unwrap_or("")) {
        Ok(email) => Some(email),
        Err(_) if email_refused => None,
        Err(reason) => {
            errors.push(FieldError::new(source_name(Field::Email), reason));
            None
        }
    };

    let consent = match text(Field::Consent) {
        None if fields.given(Field::Consent) => Some(false),
        None => None,
        Some(t) => match parse_yes_no(t) {
            Some(b) => Some(b),
            None => {
                errors.push(FieldError::new(
                    source_name(Field::Consent),
                    "is not a yes/no answer",
                ));
                None
            }
        },
    };

    (email, consent)
}

/// First and last name, from their fields or split from a full name.
fn names(fields: Fields, flags: &mut Vec<Flag>) -> (Option<String>, Option<String>) {
    let text = |f: Field| fields.text(f);
    let (mut first_name, mut last_name) = (
        text(Field::FirstName).and_then(normalise_name),
        text(Field::LastName).and_then(normalise_name),
    );
    if let Some(full) = text(Field::FullName) {
        let (first, last) = split_full_name(full);
        first_name = first_name.or_else(|| first.as_deref().and_then(normalise_name));
        last_name = last_name.or_else(|| last.as_deref().and_then(normalise_name));
    }
    if first_name.is_none() && last_name.is_none() {
        flags.push(Flag::new("missing_name", "no first or last name was given"));
    }

    (first_name, last_name)
}

/// Country (ISO 3166-1 alpha-2) and region (its subdivision code where known); a country not
/// understood is flagged and kept as given.
fn place(
    fields: Fields,
    custom: &mut BTreeMap<String, Value>,
    flags: &mut Vec<Flag>,
) -> (Option<String>, Option<String>) {
    let text = |f: Field| fields.text(f);
    let country = text(Field::Country).and_then(|raw| match parse_country(raw) {
        Some(c) => Some(c.alpha2.to_string()),
        None => {
            flags.push(Flag::new(
                "unknown_country",
                format!("`{raw}` is not a recognised country"),
            ));
            custom.insert("country_as_given".into(), Value::String(raw.to_string()));
            None
        }
    });
    let region = text(Field::Region).map(|raw| {
        match country.as_deref().and_then(|c| parse_region(c, raw)) {
            Some(code) => code.to_string(),
            None => raw.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    });

    (country, region)
}

/// The company size band; a size not understood is flagged and kept as given.
fn company_size(
    fields: Fields,
    custom: &mut BTreeMap<String, Value>,
    flags: &mut Vec<Flag>,
) -> Option<EmployeeBand> {
    let text = |f: Field| fields.text(f);
    let employees = text(Field::Employees).and_then(|raw| match parse_employees(raw) {
        Some(band) => Some(band),
        None => {
            flags.push(Flag::new(
                "employees_not_understood",
                format!("`{raw}` is not a company size"),
            ));
            custom.insert("employees_as_given".into(), Value::String(raw.to_string()));
            None
        }
    });

    employees
}

/// How the person got here: UTM parameters (from their fields, else from the landing page's
/// URL), referrer and landing page; `None` when nothing was sent.
fn first_touch(sub: &Submission, fields: Fields) -> Option<Touch> {
    let text = |f: Field| fields.text(f);
    let landing_page = text(Field::LandingPage).map(str::to_string);
    let url_utm = landing_page
        .as_deref()
        .map(utm_from_url)
        .unwrap_or_default();
    let utm = |field: Field, key: &str| {
        text(field).map(str::to_string).or_else(|| {
            url_utm
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        })
    };
    let touch = Touch {
        utm_source: utm(Field::UtmSource, "utm_source"),
        utm_medium: utm(Field::UtmMedium, "utm_medium"),
        utm_campaign: utm(Field::UtmCampaign, "utm_campaign"),
        utm_term: utm(Field::UtmTerm, "utm_term"),
        utm_content: utm(Field::UtmContent, "utm_content"),
        referrer: text(Field::Referrer).map(str::to_string),
        landing_page,
        at: sub.received_at,
    };
    (!touch.is_empty()).then_some(touch)
}

/// The lead source: as submitted, else the source's default, else the touch's `utm_source`
/// (flagged), else missing (flagged).
fn lead_source(
    sub: &Submission,
    fields: Fields,
    touch: Option<&Touch>,
    flags: &mut Vec<Flag>,
) -> (Option<String>, LeadSourceOrigin) {
    let text = |f: Field| fields.text(f);
    let (lead_source, origin) = match (
        text(Field::LeadSource),
        sub.default_lead_source.filter(|s| !s.trim().is_empty()),
    ) {
        (Some(s), _) => (Some(s.to_string()), LeadSourceOrigin::Submitted),
        (None, Some(d)) => (Some(d.trim().to_string()), LeadSourceOrigin::SourceDefault),
        (None, None) => match touch.and_then(|t| t.utm_source.clone()) {
            Some(s) => (Some(s), LeadSourceOrigin::Utm),
            None => (None, LeadSourceOrigin::Missing),
        },
    };
    match origin {
        LeadSourceOrigin::Utm => flags.push(Flag::new(
            "lead_source_from_utm",
            "no lead source was given; utm_source was used",
        )),
        LeadSourceOrigin::Missing => flags.push(Flag::new(
            "missing_lead_source",
            "no lead source was given and none could be derived",
        )),
        _ => {}
    }

    (lead_source, origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, Value)]) -> Vec<(String, Value)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn run(pairs: &[(&str, Value)]) -> Result<Normalised, Vec<FieldError>> {
        let f = fields(pairs);
        let map = FieldMap::new();
        normalise(&Submission {
            fields: &f,
            field_map: &map,
            default_lead_source: None,
            default_country: None,
            received_at: 1_000,
        })
    }

    #[test]
    fn a_national_phone_number_needs_a_country_from_the_post_or_the_form() {
        let f = fields(&[
            ("email", json!("jo@acme.co.uk")),
            ("phone", json!("020 7946 0958")),
        ]);
        let map = FieldMap::new();
        let sub = |default_country| Submission {
            fields: &f,
            field_map: &map,
            default_lead_source: None,
            default_country,
            received_at: 1_000,
        };
        let without = normalise(&sub(None)).unwrap();
        assert_eq!(
            without.phone.as_deref(),
            Some("020 7946 0958"),
            "the digits are kept"
        );
        assert_eq!(without.phone_e164, None);
        let with = normalise(&sub(Some("GB"))).unwrap();
        assert_eq!(with.phone_e164.as_deref(), Some("+442079460958"));
    }

    #[test]
    fn a_typical_form_submission() {
        let n = run(&[
            ("Email Address", json!("  Jane.Doe@ACME.com ")),
            ("First Name", json!("JANE")),
            ("Last Name", json!("doe")),
            ("Company", json!(" Acme   Inc ")),
            ("Country", json!("U.S.A.")),
            ("State", json!("california")),
            ("Company Size", json!("51-200")),
            ("Phone", json!("(415) 555-0100")),
            ("utm_source", json!("google")),
            ("utm_medium", json!("cpc")),
            ("Favourite colour", json!("teal")),
        ])
        .unwrap();
        assert_eq!(n.email, "jane.doe@acme.com");
        assert_eq!(n.first_name.as_deref(), Some("Jane"));
        assert_eq!(n.last_name.as_deref(), Some("Doe"));
        assert_eq!(n.company.as_deref(), Some("Acme Inc"));
        assert_eq!(n.company_domain.as_deref(), Some("acme.com"));
        assert_eq!(n.country.as_deref(), Some("US"));
        assert_eq!(n.region.as_deref(), Some("CA"));
        assert_eq!(n.employees, Some(EmployeeBand::B51To200));
        assert_eq!(n.phone.as_deref(), Some("(415) 555-0100"));
        assert_eq!(n.phone_e164.as_deref(), Some("+14155550100"));
        assert_eq!(n.custom["Favourite colour"], "teal");
        let touch = n.touch.unwrap();
        assert_eq!(touch.utm_source.as_deref(), Some("google"));
        assert_eq!(touch.at, 1_000);
        assert_eq!(n.lead_source.as_deref(), Some("google"));
        assert!(n.flags.iter().any(|f| f.code == "lead_source_from_utm"));
    }

    #[test]
    fn missing_lead_source_is_a_recorded_flag() {
        let n = run(&[("email", json!("a@b.co"))]).unwrap();
        assert_eq!(n.lead_source, None);
        assert!(n.flags.iter().any(|f| f.code == "missing_lead_source"));
        assert!(n.flags.iter().any(|f| f.code == "missing_name"));
        let f = fields(&[("email", json!("a@b.co"))]);
        let map = FieldMap::new();
        let n = normalise(&Submission {
            fields: &f,
            field_map: &map,
            default_lead_source: Some("Webinar"),
            default_country: None,
            received_at: 0,
        })
        .unwrap();
        assert_eq!(n.lead_source.as_deref(), Some("Webinar"));
        assert!(!n.flags.iter().any(|f| f.code.contains("lead_source")));
    }

    #[test]
    fn free_mail_gives_no_company_domain_but_a_website_does() {
        let n = run(&[("email", json!("jo@gmail.com"))]).unwrap();
        assert_eq!(n.company_domain, None);
        assert!(n.flags.iter().any(|f| f.code == "free_mail_domain"));
        let n = run(&[
            ("email", json!("jo@gmail.com")),
            ("website", json!("https://www.joco.io/")),
        ])
        .unwrap();
        assert_eq!(n.company_domain.as_deref(), Some("joco.io"));
    }

    #[test]
    fn utm_parameters_come_from_the_landing_page_url() {
        let n = run(&[
            ("email", json!("a@b.co")),
            (
                "page_url",
                json!("https://acme.com/demo?utm_source=linkedin&utm_campaign=q4%20launch#top"),
            ),
        ])
        .unwrap();
        let t = n.touch.unwrap();
        assert_eq!(t.utm_source.as_deref(), Some("linkedin"));
        assert_eq!(t.utm_campaign.as_deref(), Some("q4 launch"));
    }

    #[test]
    fn field_level_errors_name_the_source_field() {
        let errors = run(&[
            ("Email Address", json!("not-an-email")),
            ("consent", json!("maybe")),
        ])
        .unwrap_err();
        assert_eq!(errors[0], FieldError::new("Email Address", "has no @"));
        assert_eq!(
            errors[1],
            FieldError::new("consent", "is not a yes/no answer")
        );
        let errors = run(&[("first_name", json!("x"))]).unwrap_err();
        assert_eq!(errors, vec![FieldError::new("email", "is missing")]);
        // An over-long email is one error, not also "is missing".
        let errors = run(&[("email", json!(format!("{}@acme.com", "a".repeat(400))))]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "email");
        let errors = run(&[
            ("email", json!("a@b.co")),
            ("company", json!("x".repeat(300))),
        ])
        .unwrap_err();
        assert_eq!(errors[0].field, "company");
    }

    #[test]
    fn unparseable_values_are_kept_and_flagged() {
        let n = run(&[
            ("email", json!("a@b.co")),
            ("country", json!("Atlantis")),
            ("employees", json!("lots")),
            ("phone", json!("12")),
        ])
        .unwrap();
        assert_eq!(n.country, None);
        assert_eq!(n.custom["country_as_given"], "Atlantis");
        assert_eq!(n.custom["employees_as_given"], "lots");
        let codes: Vec<&str> = n.flags.iter().map(|f| f.code.as_str()).collect();
        assert!(
            codes.contains(&"unknown_country")
                && codes.contains(&"employees_not_understood")
                && codes.contains(&"phone_not_e164")
        );
    }

    #[test]
    fn consent_checkbox_and_multi_selects() {
        let n = run(&[
            ("email", json!("a@b.co")),
            ("consent", json!("on")),
            ("interests", json!("a")),
            ("interests", json!("b")),
        ])
        .unwrap();
        assert_eq!(n.consent, Some(true));
        assert_eq!(n.custom["interests"], json!(["a", "b"]));
        let n = run(&[("email", json!("a@b.co")), ("consent", json!(""))]).unwrap();
        assert_eq!(n.consent, Some(false));
        let n = run(&[("email", json!("a@b.co"))]).unwrap();
        assert_eq!(n.consent, None);
    }

    #[test]
    fn full_names_split_and_numbers_become_text() {
        let n = run(&[
            ("name", json!("ada LOVELACE")),
            ("email", json!("ada@x.io")),
            ("Phone Number", json!(15550000000u64)),
            ("country", json!("US")),
        ])
        .unwrap();
        assert_eq!(n.first_name.as_deref(), Some("Ada"));
        assert_eq!(
            n.last_name.as_deref(),
            Some("Lovelace"),
            "each part is re-cased on its own"
        );
        assert_eq!(n.phone_e164.as_deref(), Some("+15550000000"));
    }

    #[test]
    fn urlencoded_decoding() {
        assert_eq!(
            parse_urlencoded("a=1&b=hello+world&c=%C3%A9t%C3%A9&d&e=%zz"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "hello world".into()),
                ("c".into(), "été".into()),
                ("d".into(), "".into()),
                ("e".into(), "%zz".into()),
            ]
        );
    }

    #[test]
    fn the_api_refuses_structures_for_lead_fields_but_not_for_custom_attributes() {
        let fields = vec![
            ("email".to_string(), json!("a@b.com")),
            ("first_name".to_string(), json!(["Ann", "Bea"])),
            ("company".to_string(), json!({"name": "Acme"})),
            ("employees".to_string(), json!(250)),
            ("employees".to_string(), json!(false)),
            ("employees".to_string(), json!(12.5)),
            ("consent".to_string(), json!(true)),
            ("tags".to_string(), json!(["a", "b"])),
            ("custom.extra".to_string(), json!({"k": 1})),
        ];
        let mut map = FieldMap::new();
        map.insert("custom.extra".into(), "custom:extra".into());
        let errors = scalar_field_errors(&fields, &map);
        assert_eq!(
            errors,
            vec![
                FieldError::new("first_name", "give one value, not a list"),
                FieldError::new("company", "give a value, not an object"),
                FieldError::new("employees", "give a whole number or a range such as 51-200"),
                FieldError::new("employees", "give a whole number or a range such as 51-200"),
            ]
        );
    }

    #[test]
    fn a_field_limit_counts_the_spaces_sent() {
        let padded = format!("    {}", "x".repeat(MAX_FIELD_CHARS - 3));
        let mut obj = serde_json::Map::new();
        obj.insert("email".into(), json!("a@b.com"));
        obj.insert("utm_campaign".into(), json!(padded));
        let errors = ApiLead::from_object(obj).normalise(0).unwrap_err();
        assert_eq!(errors[0].field, "utm_campaign", "{errors:?}");
    }

    #[test]
    fn the_api_counts_every_custom_attribute_given_even_empty_ones() {
        let lead = |n: usize| {
            let custom: serde_json::Map<String, Value> =
                (0..n).map(|i| (format!("a{i}"), Value::Null)).collect();
            let mut obj = serde_json::Map::new();
            obj.insert("email".into(), json!("a@b.com"));
            obj.insert("custom".into(), Value::Object(custom));
            ApiLead::from_object(obj)
        };
        assert!(lead(MAX_CUSTOM_ATTRIBUTES).normalise(0).is_ok());
        for not_an_object in [json!([null, null]), json!(null), json!("x")] {
            let mut obj = serde_json::Map::new();
            obj.insert("email".into(), json!("a@b.com"));
            obj.insert("custom".into(), not_an_object);
            let errors = ApiLead::from_object(obj).normalise(0).unwrap_err();
            assert_eq!(errors[0].field, "custom", "{errors:?}");
        }
        let errors = lead(MAX_CUSTOM_ATTRIBUTES + 1).normalise(0).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "custom");
    }
}
