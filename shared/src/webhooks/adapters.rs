//! Vendor payloads to submission fields. Each adapter returns one record per person in the
//! payload (HubSpot batches events), with the vendor's field names; the source's configured field
//! mapping then takes over, exactly as for forms. Form vendors whose answers are named by opaque
//! ids (Typeform, Tally) name each answer by whichever of its names the mapping uses (an id, a
//! `ref` or key, or the question's title or label), so a mapping may name any of them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Vendor;
use crate::intake::fields::Field;
use crate::intake::fields::{map_name, FieldMap, Target};

/// One person's fields from a webhook payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub fields: Vec<(String, Value)>,
    /// The vendor's id for the person or the response, kept as a custom attribute.
    pub external_id: Option<String>,
}

pub fn extract(vendor: Vendor, body: &[u8], map: &FieldMap) -> Result<Vec<Record>, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    match vendor {
        Vendor::StandardWebhooks => standard(&json),
        Vendor::Typeform => typeform(&json, map),
        Vendor::Hubspot => hubspot(&json),
        Vendor::Webflow => webflow(&json),
        Vendor::Tally => tally(&json, map),
        Vendor::SignedJson => signed_json(&json),
    }
}

/// The name an answer goes by: the first of its names that the mapping names; otherwise an
/// email-typed answer is `email` (when nothing else is), otherwise `fallback`.
fn answer_name(
    names: &[&str],
    fallback: &str,
    is_email: bool,
    map: &FieldMap,
    email_taken: &mut bool,
) -> String {
    if let Some(n) = names
        .iter()
        .find(|n| !n.is_empty() && map.contains_key(**n))
    {
        return n.to_string();
    }
    let maps_to_email = |n: &str| map_name(map, n) == Target::Field(Field::Email);
    if is_email && !*email_taken && !names.iter().any(|n| maps_to_email(n)) {
        *email_taken = true;
        return "email".into();
    }
    if maps_to_email(fallback) {
        *email_taken = true;
    }
    fallback.to_string()
}

/// A JSON payload from any signed sender: a person object (or its `data`), or a list of them.
fn signed_json(json: &Value) -> Result<Vec<Record>, String> {
    match json {
        Value::Array(items) => items
            .iter()
            .map(standard)
            .map(|r| r.map(|mut v| v.remove(0)))
            .collect(),
        _ => standard(json),
    }
}

fn object_fields(map: &Map<String, Value>) -> Vec<(String, Value)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Standard Webhooks events are `{"type": …, "timestamp": …, "data": {…}}`; the person is `data`.
/// A bare object is taken as the person.
fn standard(json: &Value) -> Result<Vec<Record>, String> {
    let data = match json.get("data") {
        Some(Value::Object(d)) => d,
        _ => json.as_object().ok_or("the payload is not a JSON object")?,
    };
    let external_id = data.get("id").and_then(|v| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_i64().map(|n| n.to_string()))
    });
    Ok(vec![Record {
        fields: object_fields(data),
        external_id,
    }])
}

fn looks_generated(s: &str) -> bool {
    s.len() >= 16 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Typeform `form_response`: each answer's field (its `id`, and the `ref` and title found in
/// `definition.fields`) names it; values by answer type (text, email, number, boolean, date, url,
/// phone_number, file_url, payment; choice and choices as their labels, `other` included);
/// `hidden` fields and `variables` by their keys; `calculated.score` as `calculated_score`.
fn typeform(json: &Value, map: &FieldMap) -> Result<Vec<Record>, String> {
    let response = json
        .get("form_response")
        .ok_or("no form_response in the payload")?;
    let definitions: BTreeMap<&str, &Value> = response["definition"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["id"].as_str()?, f)))
        .collect();
    let mut fields = Vec::new();
    let mut email_taken = false;
    for answer in response["answers"].as_array().into_iter().flatten() {
        let field = &answer["field"];
        let id = field["id"].as_str().unwrap_or("");
        let def = definitions.get(id);
        let r#ref = field["ref"]
            .as_str()
            .or_else(|| def.and_then(|d| d["ref"].as_str()))
            .unwrap_or("");
        let title = def.and_then(|d| d["title"].as_str()).unwrap_or("");
        let kind = answer["type"].as_str().unwrap_or("");
        let fallback = if !r#ref.is_empty() && !looks_generated(r#ref) {
            r#ref
        } else if !title.is_empty() {
            title
        } else {
            id
        };
        let name = answer_name(
            &[r#ref, id, title],
            fallback,
            kind == "email",
            map,
            &mut email_taken,
        );
        let value = match kind {
            "choice" => match &answer["choice"] {
                c if c["label"].is_string() => c["label"].clone(),
                c => c["other"].clone(),
            },
            "choices" => {
                let mut labels: Vec<Value> = answer["choices"]["labels"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if let Some(other) = answer["choices"]["other"].as_str() {
                    labels.push(Value::String(other.into()));
                }
                Value::Array(labels)
            }
            "" => Value::Null,
            other => answer[other].clone(),
        };
        fields.push((name, value));
    }
    if let Some(Value::Object(hidden)) = response.get("hidden") {
        fields.extend(object_fields(hidden));
    }
    for v in response["variables"].as_array().into_iter().flatten() {
        if let (Some(key), Some(kind)) = (v["key"].as_str(), v["type"].as_str()) {
            fields.push((key.to_string(), v[kind].clone()));
        }
    }
    if let Some(score) = response["calculated"].get("score") {
        fields.push(("calculated_score".into(), score.clone()));
    }
    Ok(vec![Record {
        fields,
        external_id: response["token"].as_str().map(str::to_string),
    }])
}

/// Tally `FORM_RESPONSE`: `data.fields[]` with opaque keys and free-text labels, named by key or
/// label as the mapping says (an email input is `email`; hidden fields carry UTMs under their
/// names as labels). Choice answers are option ids, resolved to the options' text through
/// `options[]`; checkboxes come both as the whole list and as one boolean per option, and only
/// the list is kept. Files and signatures become their URLs, a matrix its row and column texts.
fn tally(json: &Value, map: &FieldMap) -> Result<Vec<Record>, String> {
    if let Some(kind) = json["eventType"].as_str() {
        if kind != "FORM_RESPONSE" {
            return Err(format!("eventType `{kind}` carries no form response"));
        }
    }
    let data = json.get("data").ok_or("no data in the payload")?;
    let items = data["fields"]
        .as_array()
        .ok_or("no data.fields in the payload")?;
    let with_options: Vec<&str> = items
        .iter()
        .filter(|f| f["options"].is_array())
        .filter_map(|f| f["key"].as_str())
        .collect();
    let text_of = |options: &Value, id: &Value| -> Value {
        options
            .as_array()
            .and_then(|opts| opts.iter().find(|o| &o["id"] == id))
            .and_then(|o| o["text"].as_str())
            .map_or_else(|| id.clone(), |t| Value::String(t.into()))
    };
    let mut fields = Vec::new();
    let mut email_taken = false;
    for f in items {
        let key = f["key"].as_str().unwrap_or("");
        let label = f["label"].as_str().unwrap_or("");
        let kind = f["type"].as_str().unwrap_or("");
        // `question_X_<optionId>`: a checkbox group's per-option boolean, duplicated in the list.
        if f["value"].is_boolean()
            && f["options"].is_null()
            && with_options.iter().any(|k| {
                key.len() > k.len() && key.starts_with(k) && key.as_bytes()[k.len()] == b'_'
            })
        {
            continue;
        }
        let value = match (&f["value"], &f["options"]) {
            (Value::Array(ids), options @ Value::Array(_)) => {
                let texts: Vec<Value> = ids.iter().map(|id| text_of(options, id)).collect();
                match (kind, texts.len()) {
                    ("MULTIPLE_CHOICE" | "DROPDOWN", 1) => texts[0].clone(),
                    _ => Value::Array(texts),
                }
            }
            (Value::Array(files), _) if matches!(kind, "FILE_UPLOAD" | "SIGNATURE") => {
                Value::Array(files.iter().map(|file| file["url"].clone()).collect())
            }
            (Value::Object(cells), _) if kind == "MATRIX" => {
                let row_text = |id: &str| {
                    f["rows"]
                        .as_array()
                        .and_then(|rows| rows.iter().find(|r| r["id"] == id))
                        .and_then(|r| r["text"].as_str())
                        .unwrap_or(id)
                        .to_string()
                };
                Value::Object(
                    cells
                        .iter()
                        .map(|(row, cols)| {
                            let cols = cols
                                .as_array()
                                .map(|c| c.iter().map(|id| text_of(&f["columns"], id)).collect())
                                .unwrap_or_default();
                            (row_text(row), Value::Array(cols))
                        })
                        .collect(),
                )
            }
            (v, _) => v.clone(),
        };
        let fallback = if label.is_empty() { key } else { label };
        let name = answer_name(
            &[key, label],
            fallback,
            kind == "INPUT_EMAIL",
            map,
            &mut email_taken,
        );
        fields.push((name, value));
    }
    Ok(vec![Record {
        fields,
        external_id: data["responseId"].as_str().map(str::to_string),
    }])
}

/// HubSpot: a workflow webhook posts the object (`{"properties": {…}}` or flat, values possibly
/// `{"value": …}`); app webhooks post a batch of events, grouped here by object id.
fn hubspot(json: &Value) -> Result<Vec<Record>, String> {
    fn unwrap_value(v: &Value) -> Value {
        match v.get("value") {
            Some(inner) => inner.clone(),
            None => v.clone(),
        }
    }
    match json {
        Value::Array(events) => {
            let mut by_object: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
            for event in events {
                let object = event["objectId"]
                    .as_i64()
                    .map(|n| n.to_string())
                    .or_else(|| event["objectId"].as_str().map(str::to_string));
                let Some(object) = object else { continue };
                let entry = by_object.entry(object).or_default();
                if let (Some(name), Some(value)) =
                    (event["propertyName"].as_str(), event.get("propertyValue"))
                {
                    entry.push((name.to_string(), value.clone()));
                }
            }
            Ok(by_object
                .into_iter()
                .map(|(id, fields)| Record {
                    fields,
                    external_id: Some(id),
                })
                .collect())
        }
        Value::Object(obj) => {
            let props = match obj.get("properties") {
                Some(Value::Object(p)) => p,
                _ => obj,
            };
            let fields = props
                .iter()
                .map(|(k, v)| (k.clone(), unwrap_value(v)))
                .collect();
            let external_id = obj
                .get("objectId")
                .or_else(|| obj.get("vid"))
                .or_else(|| obj.get("hs_object_id"))
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                });
            Ok(vec![Record {
                fields,
                external_id,
            }])
        }
        _ => Err("the payload is neither an object nor a list of events".into()),
    }
}

/// Webflow `form_submission` (v2: `payload.data`; v1: top-level `data`).
fn webflow(json: &Value) -> Result<Vec<Record>, String> {
    if let Some(trigger) = json["triggerType"].as_str() {
        if trigger != "form_submission" {
            return Err(format!(
                "triggerType `{trigger}` carries no form submission"
            ));
        }
    }
    let payload = json.get("payload").unwrap_or(json);
    let data = payload["data"]
        .as_object()
        .ok_or("no form data in the payload")?;
    let mut fields = object_fields(data);
    if let Some(form) = payload["name"].as_str() {
        fields.push(("webflow_form".into(), Value::String(form.into())));
    }
    Ok(vec![Record {
        fields,
        external_id: payload["id"]
            .as_str()
            .or(payload["_id"].as_str())
            .map(str::to_string),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(r: &Record) -> Vec<&str> {
        r.fields.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn standard_webhooks_take_data() {
        let body = json!({"type": "contact.created", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": "c_1", "email": "a@b.co"}});
        let r = &extract(
            Vendor::StandardWebhooks,
            body.to_string().as_bytes(),
            &FieldMap::new(),
        )
        .unwrap()[0];
        assert_eq!(names(r), ["email", "id"]);
        assert_eq!(r.external_id.as_deref(), Some("c_1"));
    }

    #[test]
    fn typeform_answers_by_ref_title_and_hidden_fields() {
        let body = json!({
            "event_id": "e1", "event_type": "form_response",
            "form_response": {
                "token": "tok_1",
                "definition": {"fields": [{"id": "abc", "title": "What is your company?"}]},
                "answers": [
                    {"type": "email", "email": "ada@x.io", "field": {"id": "f1", "type": "email", "ref": "email"}},
                    {"type": "text", "text": "Acme", "field": {"id": "abc", "type": "short_text", "ref": "01e1f2a3-b4c5-d6e7-f809-1a2b3c4d5e6f"}},
                    {"type": "choice", "choice": {"label": "51-200"}, "field": {"id": "f3", "ref": "company_size"}},
                    {"type": "choices", "choices": {"labels": ["A", "B"]}, "field": {"id": "f4", "ref": "interests"}},
                    {"type": "boolean", "boolean": true, "field": {"id": "f5", "ref": "consent"}}
                ],
                "hidden": {"utm_source": "newsletter"}
            }
        });
        let r = &extract(
            Vendor::Typeform,
            body.to_string().as_bytes(),
            &FieldMap::new(),
        )
        .unwrap()[0];
        assert_eq!(
            names(r),
            [
                "email",
                "What is your company?",
                "company_size",
                "interests",
                "consent",
                "utm_source"
            ]
        );
        assert_eq!(r.fields[2].1, "51-200");
        assert_eq!(r.fields[3].1, json!(["A", "B"]));
        assert_eq!(r.external_id.as_deref(), Some("tok_1"));
    }

    #[test]
    fn hubspot_objects_and_event_batches() {
        let body = json!({"objectId": 123, "properties": {"email": {"value": "a@b.co"}, "firstname": {"value": "Ada"}}});
        let r = &extract(
            Vendor::Hubspot,
            body.to_string().as_bytes(),
            &FieldMap::new(),
        )
        .unwrap()[0];
        assert_eq!(
            r.fields,
            vec![
                ("email".into(), json!("a@b.co")),
                ("firstname".into(), json!("Ada"))
            ]
        );
        assert_eq!(r.external_id.as_deref(), Some("123"));
        let batch = json!([
            {"objectId": 1, "subscriptionType": "contact.propertyChange", "propertyName": "email", "propertyValue": "x@y.co"},
            {"objectId": 2, "subscriptionType": "contact.creation"},
            {"objectId": 1, "subscriptionType": "contact.propertyChange", "propertyName": "company", "propertyValue": "Y"}
        ]);
        let records = extract(
            Vendor::Hubspot,
            batch.to_string().as_bytes(),
            &FieldMap::new(),
        )
        .unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(names(&records[0]), ["email", "company"]);
        assert!(records[1].fields.is_empty());
    }

    #[test]
    fn webflow_form_submissions() {
        let body = r#"{"triggerType":"form_submission","payload":{"name":"Contact Us","data":{"email":"z@h.ai","Phone Number":15550000000},"id":"sub1"}}"#;
        let r = &extract(Vendor::Webflow, body.as_bytes(), &FieldMap::new()).unwrap()[0];
        assert_eq!(names(r), ["Phone Number", "email", "webflow_form"]);
        assert_eq!(r.external_id.as_deref(), Some("sub1"));
        assert!(extract(
            Vendor::Webflow,
            br#"{"triggerType":"site_publish","payload":{}}"#,
            &FieldMap::new()
        )
        .is_err());
    }

    #[test]
    fn non_json_is_refused() {
        assert!(extract(Vendor::Typeform, b"<xml/>", &FieldMap::new())
            .unwrap_err()
            .contains("not JSON"));
    }

    /// A documented payload from `shared/fixtures` (its first line names the source).
    fn fixture(text: &'static str) -> &'static [u8] {
        text.split_once('\n').unwrap().1.as_bytes()
    }

    fn value<'a>(r: &'a Record, name: &str) -> &'a Value {
        &r.fields
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", names(r)))
            .1
    }

    #[test]
    fn typeforms_documented_example_resolves_ids_through_the_definition() {
        let body = fixture(include_str!(
            "../../fixtures/typeform/example-payload.json.txt"
        ));
        // Unmapped: the email-typed answer is the email; others go by their ref.
        let r = &extract(Vendor::Typeform, body, &FieldMap::new()).unwrap()[0];
        assert_eq!(value(r, "email"), "laura@example.com");
        assert_eq!(value(r, "readable_ref_short_text"), "Laura");
        assert_eq!(value(r, "readable_ref_date"), "2005-10-15");
        assert_eq!(
            value(r, "readable_ref_picture_choice"),
            &json!(["London", "Sydney"])
        );
        assert_eq!(value(r, "readable_ref_multiple_choice"), "London");
        assert_eq!(value(r, "readable_ref_yes_no"), false);
        assert_eq!(value(r, "readable_ref_number1"), 5);
        assert_eq!(
            value(r, "readable_ref_calendly"),
            "https://calendly.com/scheduled_events/EVENT_TYPE/invitees/INVITEE"
        );
        assert_eq!(value(r, "user_id"), "abc123456");
        assert_eq!(value(r, "name"), "typeform");
        assert_eq!(value(r, "calculated_score"), 9);
        assert_eq!(
            r.external_id.as_deref(),
            Some("a3a12ec67a1365927098a606107fac15")
        );
        // A mapping may name a ref, an id or a title.
        let mut map = FieldMap::new();
        map.insert("readable_ref_short_text".into(), "first_name".into());
        map.insert("SMEUb7VJz92Q".into(), "email".into());
        map.insert(
            "Which of these cities is your favorite?".into(),
            "city".into(),
        );
        let r = &extract(Vendor::Typeform, body, &map).unwrap()[0];
        let got: Vec<&str> = names(r);
        assert!(
            got.contains(&"readable_ref_short_text") && got.contains(&"SMEUb7VJz92Q"),
            "{got:?}"
        );
        assert!(
            got.contains(&"Which of these cities is your favorite?"),
            "{got:?}"
        );
    }

    #[test]
    fn tallys_documented_example_resolves_options_and_keeps_checkboxes_once() {
        let body = fixture(include_str!("../../fixtures/tally/example-event.json.txt"));
        let r = &extract(Vendor::Tally, body, &FieldMap::new()).unwrap()[0];
        // The email input's label already names the email field.
        assert_eq!(value(r, "Email"), "alice@example.com");
        assert_eq!(
            map_name(&FieldMap::new(), "Email"),
            Target::Field(Field::Email)
        );
        assert_eq!(value(r, "utm_campaign"), "newsletter");
        assert_eq!(value(r, "Phone number"), "+32491223344");
        assert_eq!(value(r, "Checkboxes"), &json!(["Swimming", "Skiing"]));
        assert!(
            !names(r).iter().any(|n| n.starts_with("Checkboxes (")),
            "per-option booleans are dropped: {:?}",
            names(r)
        );
        assert!(value(r, "Multiple choice").is_string());
        assert!(value(r, "Multi-select").is_array());
        assert!(value(r, "File upload")[0]
            .as_str()
            .unwrap()
            .starts_with("https://"));
        assert_eq!(r.external_id.as_deref(), Some("2wgx4n"));
        // Mapped by key or by label.
        let mut map = FieldMap::new();
        map.insert("question_3EKz4n".into(), "custom:greeting".into());
        map.insert("Long text".into(), "custom:note".into());
        let r = &extract(Vendor::Tally, body, &map).unwrap()[0];
        assert_eq!(value(r, "question_3EKz4n"), "Hello");
        assert_eq!(value(r, "Long text"), "Hello world");
        assert!(extract(
            Vendor::Tally,
            br#"{"eventType":"FORM_DELETED","data":{}}"#,
            &map
        )
        .is_err());
    }
}
