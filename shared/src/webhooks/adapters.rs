//! Vendor payloads to submission fields. Each adapter returns one record per person in the
//! payload (HubSpot batches events), with the vendor's field names; the source's configured field
//! mapping then takes over, exactly as for forms.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Vendor;

/// One person's fields from a webhook payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub fields: Vec<(String, Value)>,
    /// The vendor's id for the person or the response, kept as a custom attribute.
    pub external_id: Option<String>,
}

pub fn extract(vendor: Vendor, body: &[u8]) -> Result<Vec<Record>, String> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    match vendor {
        Vendor::StandardWebhooks => standard(&json),
        Vendor::Typeform => typeform(&json),
        Vendor::Hubspot => hubspot(&json),
        Vendor::Webflow => webflow(&json),
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

/// Typeform `form_response`: answers named by their field `ref` (or question title when the ref
/// is generated), plus hidden fields.
fn typeform(json: &Value) -> Result<Vec<Record>, String> {
    let response = json
        .get("form_response")
        .ok_or("no form_response in the payload")?;
    let titles: BTreeMap<&str, &str> = response["definition"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["id"].as_str()?, f["title"].as_str()?)))
        .collect();
    let mut fields = Vec::new();
    for answer in response["answers"].as_array().into_iter().flatten() {
        let field = &answer["field"];
        let id = field["id"].as_str().unwrap_or("");
        let name = match field["ref"].as_str() {
            Some(r) if !looks_generated(r) => r.to_string(),
            _ => titles
                .get(id)
                .map(|t| t.to_string())
                .unwrap_or_else(|| id.to_string()),
        };
        let kind = answer["type"].as_str().unwrap_or("");
        let value = match kind {
            "choice" => answer["choice"]["label"].clone(),
            "choices" => answer["choices"]["labels"].clone(),
            "" => Value::Null,
            other => answer[other].clone(),
        };
        fields.push((name, value));
    }
    if let Some(Value::Object(hidden)) = response.get("hidden") {
        fields.extend(object_fields(hidden));
    }
    Ok(vec![Record {
        fields,
        external_id: response["token"].as_str().map(str::to_string),
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
        let r = &extract(Vendor::StandardWebhooks, body.to_string().as_bytes()).unwrap()[0];
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
        let r = &extract(Vendor::Typeform, body.to_string().as_bytes()).unwrap()[0];
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
        let r = &extract(Vendor::Hubspot, body.to_string().as_bytes()).unwrap()[0];
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
        let records = extract(Vendor::Hubspot, batch.to_string().as_bytes()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(names(&records[0]), ["email", "company"]);
        assert!(records[1].fields.is_empty());
    }

    #[test]
    fn webflow_form_submissions() {
        let body = r#"{"triggerType":"form_submission","payload":{"name":"Contact Us","data":{"email":"z@h.ai","Phone Number":15550000000},"id":"sub1"}}"#;
        let r = &extract(Vendor::Webflow, body.as_bytes()).unwrap()[0];
        assert_eq!(names(r), ["Phone Number", "email", "webflow_form"]);
        assert_eq!(r.external_id.as_deref(), Some("sub1"));
        assert!(extract(
            Vendor::Webflow,
            br#"{"triggerType":"site_publish","payload":{}}"#
        )
        .is_err());
    }

    #[test]
    fn non_json_is_refused() {
        assert!(extract(Vendor::Typeform, b"<xml/>")
            .unwrap_err()
            .contains("not JSON"));
    }
}
