//! Webhook sources: a vendor's webhook registered with its scheme, secret(s) and field mapping.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::fields::{validate_field_map, FieldMap};
use super::normalize::{normalise, Normalised, Submission};
use crate::problem::FieldError;
use crate::webhooks::adapters::Record;
use crate::webhooks::Vendor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub vendor: Vendor,
    /// Signing secrets; more than one while a key is being rotated. Never shown again.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub field_map: FieldMap,
    #[serde(default)]
    pub lead_source: Option<String>,
    /// ISO country (`GB`) of phone numbers written without `+` when the submission names no
    /// country; without it such numbers keep their digits and a data-quality flag.
    #[serde(default)]
    pub default_country: Option<String>,
    /// How far a signed timestamp may be from our clock.
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u32,
    /// The public URL the vendor calls, when it differs from what the worker sees (HubSpot v3
    /// signs the URL).
    #[serde(default)]
    pub public_url: Option<String>,
    /// How a `signed_json` source signs (required for that vendor, refused for the others).
    #[serde(default)]
    pub signature: Option<crate::webhooks::signed::Scheme>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_tolerance() -> u32 {
    300
}

fn yes() -> bool {
    true
}

impl SourceConfig {
    /// Validates; `previous_secrets` are kept when an update omits `secrets`.
    pub fn validate(
        mut self,
        previous_secrets: Option<&[String]>,
    ) -> Result<SourceConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 100 {
            errors.push(FieldError::new(
                "name",
                "give the source a name of 1 to 100 characters",
            ));
        }
        for (i, secret) in self.secrets.iter().enumerate() {
            if secret.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("secrets[{i}]"),
                    "a secret must not be blank",
                ));
            }
        }
        self.secrets = self
            .secrets
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if self.secrets.is_empty() {
            match previous_secrets {
                Some(prev) if !prev.is_empty() => self.secrets = prev.to_vec(),
                _ => errors.push(FieldError::new(
                    "secrets",
                    "give the vendor's signing secret",
                )),
            }
        }
        if self.secrets.len() > 3 {
            errors.push(FieldError::new(
                "secrets",
                "at most 3 secrets (the current ones during a rotation)",
            ));
        }
        if self.vendor == Vendor::StandardWebhooks
            && self
                .secrets
                .iter()
                .any(|s| crate::webhooks::standard::secret_key(s).is_none())
        {
            errors.push(FieldError::new(
                "secrets",
                "Standard Webhooks secrets are whsec_ followed by base64",
            ));
        }
        match (&self.signature, self.vendor) {
            (None, Vendor::SignedJson) => errors.push(FieldError::new(
                "signature",
                "describe how the sender signs: {\"header\", \"encoding\": hex|base64, \"prefix\", \"signs\": body|timestamp_and_body, \"timestamp_header\"}",
            )),
            (Some(s), Vendor::SignedJson) => errors.extend(s.validate()),
            (Some(_), _) => errors.push(FieldError::new(
                "signature",
                "only a signed_json source describes its signature; this vendor's scheme is built in",
            )),
            (None, _) => {}
        }
        if let Err(e) = super::country::check_default_country(&mut self.default_country) {
            errors.push(e);
        }
        if !(30..=3600).contains(&self.tolerance_seconds) {
            errors.push(FieldError::new(
                "tolerance_seconds",
                "must be between 30 and 3600",
            ));
        }
        if let Err(problems) = validate_field_map(&self.field_map) {
            errors.extend(
                problems
                    .into_iter()
                    .map(|p| FieldError::new("field_map", p)),
            );
        }
        if let Some(url) = &self.public_url {
            if super::form::origin_of_url(url).is_none() {
                errors.push(FieldError::new(
                    "public_url",
                    "must be an absolute http(s) URL",
                ));
            }
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }

    /// The admin API's validation: submitted JSON (and the stored source, whose secrets are kept
    /// when an update omits them) to the JSON to store.
    pub fn validate_json(body: Value, stored: Option<&Value>) -> Result<Value, Vec<FieldError>> {
        let config: SourceConfig = crate::de::from_value(body, "").map_err(|e| vec![e])?;
        let previous: Option<Vec<String>> =
            stored.and_then(|s| serde_json::from_value(s["secrets"].clone()).ok());
        Ok(serde_json::to_value(config.validate(previous.as_deref())?).unwrap_or_default())
    }

    /// What the admin API shows for a stored source.
    pub fn view_json(id: &str, stored: &Value) -> Value {
        match serde_json::from_value::<SourceConfig>(stored.clone()) {
            Ok(config) => {
                let mut v = config.view(id);
                v["post_url"] = Value::String(format!("/hooks/{id}"));
                v
            }
            Err(_) => json!({ "id": id, "error": "unreadable configuration" }),
        }
    }

    /// The configuration as the API shows it: secrets only as fingerprints.
    pub fn view(&self, id: &str) -> Value {
        let fingerprints: Vec<String> = self
            .secrets
            .iter()
            .map(|s| {
                format!(
                    "sha256:{}",
                    &crate::auth::hex(&Sha256::digest(s.as_bytes()))[..12]
                )
            })
            .collect();
        json!({
            "id": id,
            "name": self.name,
            "vendor": self.vendor,
            "secret_fingerprints": fingerprints,
            "field_map": self.field_map,
            "lead_source": self.lead_source,
            "default_country": self.default_country,
            "tolerance_seconds": self.tolerance_seconds,
            "public_url": self.public_url,
            "signature": self.signature,
            "enabled": self.enabled,
        })
    }
}

/// What one delivery's records came to: the people to store, and the records refused with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub people: Vec<Normalised>,
    /// `{"record": index, "external_id": ..., "errors": [...]}`, answered to the sender.
    pub rejected: Vec<Value>,
}

impl SourceConfig {
    /// Normalises each record a payload carried with this source's mapping and defaults (the
    /// vendor's id kept as `<vendor>_id`). A delivery in which no record names a person is
    /// refused whole, with every record's errors.
    pub fn normalise_records(
        &self,
        records: Vec<Record>,
        received_at: i64,
    ) -> Result<Delivery, Vec<FieldError>> {
        let mut people = Vec::new();
        let mut rejected = Vec::new();
        let mut all_errors = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            let mut fields = record.fields;
            if let Some(ext) = &record.external_id {
                fields.push((
                    format!("{}_id", self.vendor.name()),
                    Value::String(ext.clone()),
                ));
            }
            match normalise(&Submission {
                fields: &fields,
                field_map: &self.field_map,
                default_lead_source: self.lead_source.as_deref(),
                default_country: self.default_country.as_deref(),
                received_at,
            }) {
                Ok(n) => people.push(n),
                Err(errors) => {
                    rejected.push(
                        json!({ "record": i, "external_id": record.external_id, "errors": errors }),
                    );
                    all_errors.extend(errors);
                }
            }
        }
        if people.is_empty() {
            return Err(if all_errors.is_empty() {
                vec![FieldError::new("body", "the payload names no person")]
            } else {
                all_errors
            });
        }
        Ok(Delivery { people, rejected })
    }

    /// The request headers kept with a submission: those that identify or sign a vendor's
    /// request (the standard ones and this source's own), its user agent and content type.
    pub fn kept_headers(&self, headers: &[(String, String)]) -> Value {
        let configured: Vec<String> = self
            .signature
            .iter()
            .flat_map(|s| {
                [
                    Some(&s.header),
                    s.timestamp_header.as_ref(),
                    s.id_header.as_ref(),
                ]
            })
            .flatten()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let keep = |n: &str| {
            n.starts_with("webhook-")
                || n.starts_with("svix-")
                || n.starts_with("x-hubspot-")
                || n.starts_with("x-webflow-")
                || n == "typeform-signature"
                || n == "tally-signature"
                || n == "user-agent"
                || n == "content-type"
                || configured.iter().any(|c| c == n)
        };
        Value::Object(
            headers
                .iter()
                .filter(|(n, _)| keep(n))
                .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(vendor: Vendor, secrets: &[&str]) -> SourceConfig {
        SourceConfig {
            name: "Typeform demo".into(),
            vendor,
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            field_map: FieldMap::new(),
            lead_source: None,
            default_country: None,
            signature: None,
            tolerance_seconds: 300,
            public_url: None,
            enabled: true,
        }
    }

    fn record(fields: &[(&str, &str)], external_id: Option<&str>) -> Record {
        Record {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
            external_id: external_id.map(str::to_string),
        }
    }

    #[test]
    fn a_delivery_keeps_its_people_and_says_which_records_it_refused() {
        let config = source(Vendor::Typeform, &["s"]);
        let d = config
            .normalise_records(
                vec![
                    record(&[("email", "not an address")], Some("r1")),
                    record(&[("email", "Ana@Example.com")], Some("r2")),
                ],
                1_000,
            )
            .unwrap();
        assert_eq!(d.people.len(), 1);
        assert_eq!(d.people[0].email, "ana@example.com");
        assert_eq!(d.people[0].custom["typeform_id"], "r2");
        assert_eq!(d.rejected.len(), 1);
        assert_eq!(d.rejected[0]["record"], 0);
        assert_eq!(d.rejected[0]["external_id"], "r1");
        assert_eq!(d.rejected[0]["errors"][0]["field"], "email");
    }

    #[test]
    fn a_delivery_that_names_nobody_is_refused_whole() {
        let config = source(Vendor::Typeform, &["s"]);
        let errors = config
            .normalise_records(vec![record(&[("email", "x")], None)], 0)
            .unwrap_err();
        assert_eq!(errors[0].field, "email");
        let errors = config.normalise_records(Vec::new(), 0).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new("body", "the payload names no person")]
        );
    }

    #[test]
    fn a_submission_keeps_the_headers_that_identify_or_sign_the_request() {
        let config = source(Vendor::Typeform, &["s"]);
        let headers = vec![
            ("typeform-signature".to_string(), "sha256=x".to_string()),
            ("user-agent".to_string(), "Typeform".to_string()),
            ("cookie".to_string(), "secret".to_string()),
            ("webhook-id".to_string(), "msg_1".to_string()),
        ];
        let kept = config.kept_headers(&headers);
        assert_eq!(
            kept,
            json!({"typeform-signature": "sha256=x", "user-agent": "Typeform", "webhook-id": "msg_1"})
        );
    }

    #[test]
    fn secrets_are_required_kept_on_update_and_never_shown() {
        assert!(source(Vendor::Typeform, &[]).validate(None).is_err());
        let kept = source(Vendor::Typeform, &[])
            .validate(Some(&["old".to_string()]))
            .unwrap();
        assert_eq!(kept.secrets, ["old"]);
        let view = kept.view("src_1").to_string();
        assert!(!view.contains("\"old\""));
        assert!(view.contains("sha256:"));
    }

    #[test]
    fn standard_webhooks_secrets_must_decode() {
        assert!(source(Vendor::StandardWebhooks, &["not base64!"])
            .validate(None)
            .is_err());
        assert!(source(
            Vendor::StandardWebhooks,
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
        )
        .validate(None)
        .is_ok());
    }
}
