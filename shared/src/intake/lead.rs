//! The lead: one per normalised email address, built up from every submission that names it.
//!
//! Merging is "newer non-empty values win", where newer means the submission's `received_at`,
//! not the order in which submissions happen to be processed: each field remembers when the value
//! it holds was received, so a retried old submission never overwrites a fresher value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::email::is_free_mail_domain;
use super::employees::EmployeeBand;
use super::normalize::{Flag, LeadSourceOrigin, Normalised, Touch};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: String,
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
    /// How the lead source it holds was determined (given, a source's default, or utm_source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_source_origin: Option<LeadSourceOrigin>,
    #[serde(default)]
    pub custom: BTreeMap<String, Value>,
    pub first_touch: Option<Touch>,
    pub latest_touch: Option<Touch>,
    /// When the value each field holds was received (epoch ms), keyed by field name
    /// (`custom.<name>` for custom attributes).
    #[serde(default)]
    pub field_ts: BTreeMap<String, i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn take(
    slot: &mut Option<String>,
    value: &Option<String>,
    name: &str,
    at: i64,
    ts: &mut BTreeMap<String, i64>,
) -> bool {
    let Some(value) = value.as_ref().filter(|v| !v.is_empty()) else {
        return false;
    };
    if ts.get(name).is_some_and(|held| *held > at) {
        return false;
    }
    ts.insert(name.to_string(), at);
    if slot.as_ref() == Some(value) {
        return false;
    }
    *slot = Some(value.clone());
    true
}

impl Lead {
    /// A new lead from its first submission.
    pub fn new(id: String, n: &Normalised) -> Lead {
        let mut lead = Lead {
            id,
            email: n.email.clone(),
            created_at: n.received_at,
            updated_at: n.received_at,
            ..Lead::default()
        };
        lead.merge(n);
        lead
    }

    /// Merges a submission in; returns whether anything changed.
    pub fn merge(&mut self, n: &Normalised) -> bool {
        let at = n.received_at;
        let ts = &mut self.field_ts;
        let mut changed = false;
        changed |= take(&mut self.first_name, &n.first_name, "first_name", at, ts);
        changed |= take(&mut self.last_name, &n.last_name, "last_name", at, ts);
        changed |= take(&mut self.company, &n.company, "company", at, ts);
        changed |= take(
            &mut self.company_domain,
            &n.company_domain,
            "company_domain",
            at,
            ts,
        );
        changed |= take(&mut self.title, &n.title, "title", at, ts);
        changed |= take(&mut self.phone, &n.phone, "phone", at, ts);
        changed |= take(&mut self.phone_e164, &n.phone_e164, "phone_e164", at, ts);
        changed |= take(&mut self.country, &n.country, "country", at, ts);
        changed |= take(&mut self.region, &n.region, "region", at, ts);
        changed |= take(&mut self.city, &n.city, "city", at, ts);
        changed |= take(&mut self.industry, &n.industry, "industry", at, ts);
        changed |= take(&mut self.website, &n.website, "website", at, ts);
        changed |= take(&mut self.lead_source, &n.lead_source, "lead_source", at, ts);
        // The origin follows the value the lead holds (the newest submission that gave one).
        if n.lead_source.is_some() && ts.get("lead_source") == Some(&at) {
            self.lead_source_origin = n.lead_source_origin;
        }
        let mut band = self.employees.map(|b| b.as_str().to_string());
        if take(
            &mut band,
            &n.employees.map(|b| b.as_str().to_string()),
            "employees",
            at,
            ts,
        ) {
            self.employees = band.as_deref().and_then(EmployeeBand::parse_band);
            changed = true;
        }
        for (key, value) in &n.custom {
            let name = format!("custom.{key}");
            if ts.get(&name).is_some_and(|held| *held > at) {
                continue;
            }
            ts.insert(name, at);
            if self.custom.get(key) != Some(value) {
                self.custom.insert(key.clone(), value.clone());
                changed = true;
            }
        }
        if let Some(touch) = &n.touch {
            if self.first_touch.as_ref().is_none_or(|t| touch.at < t.at) {
                self.first_touch = Some(touch.clone());
                changed = true;
            }
            if self.latest_touch.as_ref().is_none_or(|t| touch.at >= t.at) {
                self.latest_touch = Some(touch.clone());
                changed = true;
            }
        }
        if changed {
            self.updated_at = self.updated_at.max(at);
        }
        self.created_at = self.created_at.min(at);
        changed
    }

    /// The data-quality findings that hold for the lead as it is now.
    pub fn quality_flags(&self) -> Vec<Flag> {
        let mut flags = Vec::new();
        if self.first_name.is_none() && self.last_name.is_none() {
            flags.push(Flag::new("missing_name", "no first or last name is known"));
        }
        if self.lead_source.is_none() {
            flags.push(Flag::new(
                "missing_lead_source",
                "no lead source was ever given or derived",
            ));
        }
        if self.lead_source_origin == Some(LeadSourceOrigin::Utm) {
            flags.push(Flag::new(
                "lead_source_from_utm",
                "no lead source was given; utm_source was used",
            ));
        }
        if super::email::Email::parse(&self.email).is_ok_and(|e| e.is_role_account()) {
            flags.push(Flag::new(
                "role_account",
                "the address is a shared role inbox",
            ));
        }
        let domain = self.email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if is_free_mail_domain(domain) {
            flags.push(Flag::new(
                "free_mail_domain",
                format!("{domain} is a free-mail provider"),
            ));
        }
        if let (Some(p), None) = (&self.phone, &self.phone_e164) {
            flags.push(Flag::new(
                "phone_not_e164",
                format!("`{p}` could not be written in E.164"),
            ));
        }
        if self.country.is_none() {
            if let Some(given) = self.custom.get("country_as_given") {
                flags.push(Flag::new(
                    "unknown_country",
                    format!("{given} is not a recognised country"),
                ));
            }
        }
        if self.employees.is_none() {
            if let Some(given) = self.custom.get("employees_as_given") {
                flags.push(Flag::new(
                    "employees_not_understood",
                    format!("{given} is not a company size"),
                ));
            }
        }
        flags
    }

    /// The API representation (`GET /v1/leads/{id}`).
    pub fn view(&self) -> Value {
        let rfc = crate::time::rfc3339;
        let touch = |t: &Option<Touch>| {
            t.as_ref().map(|t| {
                let mut v = serde_json::to_value(t).unwrap_or_default();
                v["at"] = Value::String(rfc(t.at));
                v
            })
        };
        json!({
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company,
            "company_domain": self.company_domain,
            "title": self.title,
            "phone": self.phone,
            "phone_e164": self.phone_e164,
            "country": self.country,
            "region": self.region,
            "city": self.city,
            "employees": self.employees,
            "industry": self.industry,
            "website": self.website,
            "lead_source": self.lead_source,
            "custom": self.custom,
            "first_touch": touch(&self.first_touch),
            "latest_touch": touch(&self.latest_touch),
            "data_quality": self.quality_flags(),
            "created_at": rfc(self.created_at),
            "updated_at": rfc(self.updated_at),
        })
    }
}

/// What changed from `before` to `after`: each attribute the condition language names
/// (`scoring::condition::FIELDS`) and each `custom.<name>` whose value differs, with its old and
/// new value (null when absent).
pub fn changed_fields(before: &Lead, after: &Lead) -> Vec<(String, Value, Value)> {
    use crate::scoring::condition::{Facts, FieldValue, FIELDS};
    let value = |v: FieldValue<'_>| match v {
        FieldValue::Text(t) => Value::String(t.to_string()),
        FieldValue::Json(j) => j.into_owned(),
    };
    let (b, a) = (
        Facts {
            lead: Some(before),
            ..Facts::default()
        },
        Facts {
            lead: Some(after),
            ..Facts::default()
        },
    );
    let mut out = Vec::new();
    for f in FIELDS {
        let (from, to) = (b.field(f), a.field(f));
        if from != to {
            out.push((f.to_string(), value(from), value(to)));
        }
    }
    let keys: std::collections::BTreeSet<&String> =
        before.custom.keys().chain(after.custom.keys()).collect();
    for k in keys {
        let (from, to) = (before.custom.get(k), after.custom.get(k));
        if from != to {
            out.push((
                format!("custom.{k}"),
                from.cloned().unwrap_or(Value::Null),
                to.cloned().unwrap_or(Value::Null),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(at: i64, f: impl FnOnce(&mut Normalised)) -> Normalised {
        let mut n = Normalised {
            email: "jane@acme.com".into(),
            received_at: at,
            ..Normalised::default()
        };
        f(&mut n);
        n
    }

    #[test]
    fn role_inboxes_and_lead_sources_taken_from_utm_are_flagged_on_the_lead() {
        let mut n = sub(100, |n| {
            n.email = "info@acme.com".into();
            n.lead_source = Some("linkedin".into());
            n.lead_source_origin = Some(LeadSourceOrigin::Utm);
        });
        let lead = Lead::new("lead_1".into(), &n);
        let codes: Vec<String> = lead.quality_flags().into_iter().map(|f| f.code).collect();
        assert!(codes.contains(&"role_account".to_string()), "{codes:?}");
        assert!(
            codes.contains(&"lead_source_from_utm".to_string()),
            "{codes:?}"
        );
        // A later submission that names its source clears the UTM flag.
        n.received_at = 200;
        n.lead_source = Some("webinar".into());
        n.lead_source_origin = Some(LeadSourceOrigin::Submitted);
        let mut lead = lead;
        lead.merge(&n);
        let codes: Vec<String> = lead.quality_flags().into_iter().map(|f| f.code).collect();
        assert!(
            !codes.contains(&"lead_source_from_utm".to_string()),
            "{codes:?}"
        );
    }

    #[test]
    fn newer_non_empty_values_win() {
        let mut lead = Lead::new(
            "lead_1".into(),
            &sub(100, |n| {
                n.first_name = Some("Jane".into());
                n.title = Some("Analyst".into());
            }),
        );
        assert!(lead.merge(&sub(200, |n| {
            n.title = Some("VP Sales".into());
            n.first_name = None;
        })));
        assert_eq!(lead.title.as_deref(), Some("VP Sales"));
        assert_eq!(
            lead.first_name.as_deref(),
            Some("Jane"),
            "empty values never erase"
        );
        assert_eq!(lead.updated_at, 200);
    }

    #[test]
    fn an_older_submission_processed_late_does_not_overwrite() {
        let mut lead = Lead::new(
            "lead_1".into(),
            &sub(200, |n| n.title = Some("VP Sales".into())),
        );
        lead.merge(&sub(100, |n| {
            n.title = Some("Analyst".into());
            n.company = Some("Acme".into());
        }));
        assert_eq!(lead.title.as_deref(), Some("VP Sales"));
        assert_eq!(
            lead.company.as_deref(),
            Some("Acme"),
            "fields it does not hold are still filled"
        );
        assert_eq!(lead.created_at, 100);
    }

    #[test]
    fn touches_keep_first_and_latest() {
        let touch = |at, src: &str| Touch {
            utm_source: Some(src.into()),
            at,
            ..Touch::default()
        };
        let mut lead = Lead::new(
            "l".into(),
            &sub(200, |n| n.touch = Some(touch(200, "google"))),
        );
        lead.merge(&sub(300, |n| n.touch = Some(touch(300, "linkedin"))));
        lead.merge(&sub(100, |n| n.touch = Some(touch(100, "newsletter"))));
        assert_eq!(
            lead.first_touch.unwrap().utm_source.as_deref(),
            Some("newsletter")
        );
        assert_eq!(
            lead.latest_touch.unwrap().utm_source.as_deref(),
            Some("linkedin")
        );
    }

    #[test]
    fn custom_attributes_merge_per_key() {
        let mut lead = Lead::new(
            "l".into(),
            &sub(100, |n| {
                n.custom.insert("a".into(), json!(1));
                n.custom.insert("b".into(), json!("x"));
            }),
        );
        lead.merge(&sub(200, |n| {
            n.custom.insert("a".into(), json!(2));
        }));
        assert_eq!(lead.custom["a"], 2);
        assert_eq!(lead.custom["b"], "x");
        assert!(
            !lead.merge(&sub(300, |n| {
                n.custom.insert("a".into(), json!(2));
            })),
            "re-applying the same values changes nothing"
        );
    }

    #[test]
    fn quality_flags_follow_the_current_state() {
        let mut lead = Lead::new("l".into(), &sub(100, |_| {}));
        let codes = |l: &Lead| {
            l.quality_flags()
                .into_iter()
                .map(|f| f.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(&lead), ["missing_name", "missing_lead_source"]);
        lead.merge(&sub(200, |n| {
            n.first_name = Some("Jane".into());
            n.lead_source = Some("Webinar".into());
        }));
        assert!(codes(&lead).is_empty());
        let view = lead.view();
        assert_eq!(view["created_at"], "1970-01-01T00:00:00.100Z");
        assert_eq!(view["data_quality"], json!([]));
    }

    #[test]
    fn changed_fields_name_what_changed_with_old_and_new_values() {
        let before = Lead {
            country: Some("DE".into()),
            custom: [("plan".to_string(), serde_json::json!("free"))]
                .into_iter()
                .collect(),
            ..Lead::default()
        };
        let mut after = before.clone();
        after.country = Some("AT".into());
        after.custom.insert("plan".into(), serde_json::json!("pro"));
        after.custom.insert("seats".into(), serde_json::json!(3));
        after.updated_at = 5;
        let changes = changed_fields(&before, &after);
        assert_eq!(
            changes,
            vec![
                (
                    "country".into(),
                    serde_json::json!("DE"),
                    serde_json::json!("AT")
                ),
                (
                    "custom.plan".into(),
                    serde_json::json!("free"),
                    serde_json::json!("pro")
                ),
                ("custom.seats".into(), Value::Null, serde_json::json!(3)),
            ]
        );
        assert!(changed_fields(&after, &after).is_empty());
    }
}
