//! Checks each response against `openapi.json`: the operation exists, the status is documented,
//! the content type is one the operation declares, and a JSON body matches its schema.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::Resp;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(revops::openapi::DOCUMENT).expect("openapi.json parses")
    })
}

/// The documented path template that `path` (without its query) matches.
pub fn template_for(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    let paths = document()["paths"].as_object()?;
    // Prefer literal segments over parameters when several templates match.
    let mut best: Option<(usize, &String)> = None;
    for template in paths.keys() {
        let t: Vec<&str> = template.split('/').collect();
        if t.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let matched = t.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if matched && best.is_none_or(|(n, _)| literal > n) {
            best = Some((literal, template));
        }
    }
    best.map(|(_, t)| t.clone())
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn validator(pointer: &str) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(v) = cache.get(pointer) {
        return v;
    }
    // The whole document is the schema resource, so `#/components/...` references resolve; the
    // top-level `$ref` selects the schema under test. Unknown keywords (openapi, paths) are ignored.
    let mut schema = document().clone();
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    schema["$ref"] = Value::String(format!("#{fragment}"));
    let v = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
    let v: &'static jsonschema::Validator = Box::leak(Box::new(v));
    cache.insert(pointer.to_string(), v);
    v
}

pub fn check(method: &str, path: &str, resp: &Resp) {
    if path.starts_with("/__") || path.starts_with("/cdn-cgi/") {
        return;
    }
    let doc = document();
    let Some(template) = template_for(path) else {
        // Undocumented paths must be refused as problems.
        assert!(
            resp.status == 404 || resp.status == 405,
            "{method} {path} is not in openapi.json but answered {}",
            resp.status
        );
        return;
    };
    let method_key = if method == "HEAD" {
        "get".to_string()
    } else {
        method.to_ascii_lowercase()
    };
    let Some(operation) = doc["paths"][&template].get(&method_key) else {
        assert_eq!(
            resp.status, 405,
            "{method} {template} is not documented but answered {}",
            resp.status
        );
        return;
    };
    let status = resp.status.to_string();
    let responses = &operation["responses"];
    let (status_key, mut response) = match responses.get(&status) {
        Some(r) => (status.clone(), r),
        None => match responses.get("default") {
            Some(r) => ("default".to_string(), r),
            None => panic!(
                "{method} {template} answered {status}, which openapi.json does not document (body: {})",
                resp.text()
            ),
        },
    };
    let mut response_pointer = format!(
        "/paths/{}/{method_key}/responses/{status_key}",
        escape_pointer(&template)
    );
    if let Some(Value::String(r)) = response.get("$ref") {
        response_pointer = r.trim_start_matches('#').to_string();
        response = doc
            .pointer(&response_pointer)
            .expect("response $ref resolves");
    }
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return;
    };
    if method == "HEAD" || resp.body.is_empty() && content.is_empty() {
        return;
    }
    let media = resp
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some(media_object) = content.get(&media) else {
        panic!(
            "{method} {template} {status} answered content type `{media}`, openapi.json declares {:?}",
            content.keys().collect::<Vec<_>>()
        );
    };
    if media_object.get("schema").is_none()
        || !(media == "application/json" || media.ends_with("+json"))
    {
        return;
    }
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
        panic!(
            "{method} {template} {status}: body is not JSON ({e}): {}",
            resp.text()
        )
    });
    let pointer = format!(
        "{response_pointer}/content/{}/schema",
        escape_pointer(&media)
    );
    let errors: Vec<String> = validator(&pointer)
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status}: body does not match openapi.json:\n  {}\nbody: {body}",
        errors.join("\n  ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_prefer_literal_segments() {
        assert_eq!(
            template_for("/v1/admin/keys").as_deref(),
            Some("/v1/admin/keys")
        );
        assert_eq!(
            template_for("/v1/admin/keys/key_1?x=1").as_deref(),
            Some("/v1/admin/keys/{key_id}")
        );
        assert_eq!(template_for("/nope"), None);
    }
}
