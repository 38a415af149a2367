//! Field mapping: from each source's field names to the lead model, as configuration.
//!
//! A submission is a list of (name, value) pairs as the source sent them. Each name is mapped to
//! a canonical [`Field`]: first through the source's own mapping (configured per form or webhook
//! source), then through the built-in aliases ("Email Address", "e-mail", "fname", "Company Size",
//! "utm_source" …). Names that map to nothing are kept as custom attributes, never dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::country::fold;

/// The lead model's own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Email,
    FirstName,
    LastName,
    FullName,
    Company,
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
    UtmTerm,
    UtmContent,
    Referrer,
    LandingPage,
    /// The opt-in checkbox (or an explicit `true`/`false`) for the consent the source asks for.
    Consent,
}

impl Field {
    pub const ALL: [Field; 22] = [
        Field::Email,
        Field::FirstName,
        Field::LastName,
        Field::FullName,
        Field::Company,
        Field::Title,
        Field::Phone,
        Field::Country,
        Field::Region,
        Field::City,
        Field::Employees,
        Field::Industry,
        Field::Website,
        Field::LeadSource,
        Field::UtmSource,
        Field::UtmMedium,
        Field::UtmCampaign,
        Field::UtmTerm,
        Field::UtmContent,
        Field::Referrer,
        Field::LandingPage,
        Field::Consent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::FullName => "full_name",
            Field::Company => "company",
            Field::Title => "title",
            Field::Phone => "phone",
            Field::Country => "country",
            Field::Region => "region",
            Field::City => "city",
            Field::Employees => "employees",
            Field::Industry => "industry",
            Field::Website => "website",
            Field::LeadSource => "lead_source",
            Field::UtmSource => "utm_source",
            Field::UtmMedium => "utm_medium",
            Field::UtmCampaign => "utm_campaign",
            Field::UtmTerm => "utm_term",
            Field::UtmContent => "utm_content",
            Field::Referrer => "referrer",
            Field::LandingPage => "landing_page",
            Field::Consent => "consent",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Built-in aliases, compared after folding and removing spaces ("E-mail Address" → "emailaddress").
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::Email => &[
                "email",
                "emailaddress",
                "mail",
                "workemail",
                "businessemail",
                "youremail",
                "emailaddr",
            ],
            Field::FirstName => &[
                "firstname",
                "fname",
                "givenname",
                "first",
                "forename",
                "vorname",
                "prenom",
            ],
            Field::LastName => &[
                "lastname",
                "lname",
                "surname",
                "familyname",
                "last",
                "nachname",
                "nom",
            ],
            Field::FullName => &["name", "fullname", "yourname", "contactname"],
            Field::Company => &[
                "company",
                "companyname",
                "organization",
                "organisation",
                "org",
                "account",
                "accountname",
                "employer",
                "firma",
            ],
            Field::Title => &[
                "title",
                "jobtitle",
                "position",
                "role",
                "jobrole",
                "designation",
            ],
            Field::Phone => &[
                "phone",
                "phonenumber",
                "telephone",
                "tel",
                "mobile",
                "mobilephone",
                "workphone",
                "businessphone",
                "cell",
            ],
            Field::Country => &[
                "country",
                "countryname",
                "countrycode",
                "countryregion",
                "land",
                "pays",
            ],
            Field::Region => &[
                "state",
                "region",
                "province",
                "stateprovince",
                "stateorprovince",
                "county",
                "stateregion",
            ],
            Field::City => &["city", "town", "locality"],
            Field::Employees => &[
                "employees",
                "companysize",
                "numberofemployees",
                "employeecount",
                "headcount",
                "numemployees",
                "employeesize",
                "teamsize",
                "noofemployees",
            ],
            Field::Industry => &["industry", "sector", "vertical"],
            Field::Website => &[
                "website",
                "companywebsite",
                "websiteurl",
                "site",
                "companydomain",
                "domain",
                "companyurl",
            ],
            Field::LeadSource => &["leadsource", "source", "howdidyouhearaboutus"],
            Field::UtmSource => &["utmsource"],
            Field::UtmMedium => &["utmmedium"],
            Field::UtmCampaign => &["utmcampaign", "campaign"],
            Field::UtmTerm => &["utmterm"],
            Field::UtmContent => &["utmcontent"],
            Field::Referrer => &["referrer", "referer", "httpreferer", "documentreferrer"],
            Field::LandingPage => &[
                "landingpage",
                "pageurl",
                "pageuri",
                "pagelocation",
                "url",
                "sourceurl",
            ],
            Field::Consent => &[
                "consent",
                "optin",
                "marketingconsent",
                "gdprconsent",
                "subscribe",
                "newsletter",
                "acceptsmarketing",
            ],
        }
    }
}

/// What a source field name maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Field(Field),
    /// Kept on the lead under this name.
    Custom(String),
    /// Dropped on purpose (the honeypot, a submit button's value, …).
    Ignore,
}

/// A source's mapping, as configured: source field name → `email` | `first_name` | … |
/// `custom:<name>` | `ignore`.
pub type FieldMap = BTreeMap<String, String>;

/// Checks a configured mapping, naming each offending entry.
pub fn validate_field_map(map: &FieldMap) -> Result<(), Vec<String>> {
    let errors: Vec<String> = map
        .iter()
        .filter_map(|(from, to)| match parse_target(to) {
            Some(_) if !from.trim().is_empty() => None,
            Some(_) => Some("a source field name is empty".to_string()),
            None => Some(format!(
                "`{from}` maps to `{to}`, which is not a lead field, `custom:<name>` or `ignore`"
            )),
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn parse_target(to: &str) -> Option<Target> {
    if to == "ignore" {
        return Some(Target::Ignore);
    }
    if let Some(name) = to.strip_prefix("custom:") {
        let name = custom_name(name);
        return (!name.is_empty()).then_some(Target::Custom(name));
    }
    Field::parse(to).map(Target::Field)
}

/// A custom attribute's name: exactly the name the source sent, so two distinct names never
/// merge into one key (`a"b`, `a'b` and `a\b` stay apart; `tags[]` stays apart from `tags`).
pub fn custom_name(raw: &str) -> String {
    raw.to_string()
}

/// Maps one source field name.
pub fn map_name(map: &FieldMap, name: &str) -> Target {
    if let Some(target) = map.get(name).and_then(|t| parse_target(t)) {
        return target;
    }
    let key = fold(name).replace(' ', "");
    let key = key
        .strip_prefix("your")
        .filter(|k| !k.is_empty())
        .map_or(key.clone(), |k| {
            if Field::ALL.iter().any(|f| f.aliases().contains(&k)) {
                k.to_string()
            } else {
                key.clone()
            }
        });
    Field::ALL
        .into_iter()
        .find(|f| f.aliases().contains(&key.as_str()))
        .map(Target::Field)
        .unwrap_or_else(|| Target::Custom(custom_name(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_aliases() {
        let map = FieldMap::new();
        for (name, field) in [
            ("Email Address", Field::Email),
            ("e-mail", Field::Email),
            ("FirstName", Field::FirstName),
            ("fname", Field::FirstName),
            ("Your Name", Field::FullName),
            ("Company Size", Field::Employees),
            ("utm_source", Field::UtmSource),
            ("Job Title", Field::Title),
            ("Country/Region", Field::Country),
            ("State/Province", Field::Region),
            ("Phone Number", Field::Phone),
            ("page_url", Field::LandingPage),
        ] {
            assert_eq!(map_name(&map, name), Target::Field(field), "{name}");
        }
    }

    #[test]
    fn unknown_names_become_custom_attributes_as_sent() {
        let map = FieldMap::new();
        assert_eq!(
            map_name(&map, "Favourite Colour"),
            Target::Custom("Favourite Colour".into())
        );
        assert_eq!(
            map_name(&map, "Budget (€)"),
            Target::Custom("Budget (€)".into())
        );
        // Names that would fold alike stay distinct.
        let keys: Vec<Target> = ["a\"b", "a'b", "a\\b", "a\r\nb", "tags[]", "tags"]
            .iter()
            .map(|n| map_name(&map, n))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(!keys[..i].contains(k), "{k:?} merged with an earlier name");
        }
    }

    #[test]
    fn configured_mapping_wins() {
        let mut map = FieldMap::new();
        map.insert("q1".into(), "email".into());
        map.insert("Email".into(), "custom:secondary_email".into());
        map.insert("hp".into(), "ignore".into());
        assert_eq!(map_name(&map, "q1"), Target::Field(Field::Email));
        assert_eq!(
            map_name(&map, "Email"),
            Target::Custom("secondary_email".into())
        );
        assert_eq!(map_name(&map, "hp"), Target::Ignore);
    }

    #[test]
    fn mapping_validation_names_bad_entries() {
        let mut map = FieldMap::new();
        map.insert("a".into(), "emial".into());
        map.insert("b".into(), "custom:".into());
        map.insert("c".into(), "email".into());
        let errors = validate_field_map(&map).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].contains("`a` maps to `emial`"));
    }
}
