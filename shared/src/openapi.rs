//! The OpenAPI 3.1 description of the public API, served by the gateway at `/openapi.json`.
//!
//! The document is written by hand (it is the contract people read); the tests below keep it
//! true to the route table: every public route documented with the right security and scope,
//! every documented operation routed, every path parameter declared.

pub const DOCUMENT: &str = include_str!("../openapi.json");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Access, Method, ROUTES};
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn doc() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON")
    }

    fn method_key(m: Method) -> &'static str {
        match m {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
            Method::Options => "options",
        }
    }

    #[test]
    fn documents_exactly_the_public_routes() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                if method != "parameters" {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .filter(|r| r.access != Access::Internal)
            .map(|r| (method_key(r.method).to_string(), r.pattern.to_string()))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from openapi.json: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn security_and_scopes_match_the_route_table() {
        let doc = doc();
        let mut operation_ids = BTreeSet::new();
        for route in ROUTES.iter().filter(|r| r.access != Access::Internal) {
            let op = &doc["paths"][route.pattern][method_key(route.method)];
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{} lacks operationId", route.pattern));
            assert!(
                operation_ids.insert(id.to_string()),
                "duplicate operationId {id}"
            );
            match route.access {
                Access::Public => {
                    assert_eq!(op["security"], serde_json::json!([]), "{id} is public");
                    assert!(op.get("x-required-scope").is_none(), "{id}");
                }
                Access::Scope(scope) => {
                    assert_eq!(
                        op["security"],
                        serde_json::json!([{"apiKey": []}]),
                        "{id} needs a key"
                    );
                    assert_eq!(op["x-required-scope"], scope.as_str(), "{id} scope");
                    assert!(op["responses"].get("401").is_some(), "{id} documents 401");
                }
                Access::Session(scope) => {
                    assert_eq!(
                        op["security"],
                        serde_json::json!([{"consoleSession": []}]),
                        "{id} needs a console session"
                    );
                    assert_eq!(op["x-required-scope"], scope.as_str(), "{id} scope");
                    assert!(
                        op["responses"].get("303").is_some(),
                        "{id} documents the redirect to sign-in"
                    );
                }
                Access::Internal => unreachable!(),
            }
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            let in_pattern: BTreeSet<String> = route
                .pattern
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_string)
                .collect();
            assert_eq!(declared, in_pattern, "{id} path parameters");
        }
    }

    #[test]
    fn every_local_reference_resolves() {
        let doc = doc();
        fn walk(v: &Value, doc: &Value) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        let pointer = r.strip_prefix('#').expect("local refs only");
                        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
                    }
                    map.values().for_each(|v| walk(v, doc));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc)),
                _ => {}
            }
        }
        walk(&doc, &doc);
    }

    #[test]
    fn scope_enum_matches_the_code() {
        let doc = doc();
        let documented: Vec<&str> = doc["components"]["schemas"]["Scope"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let known: Vec<&str> = crate::auth::Scope::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(documented, known);
    }
}
