//! Reading request bodies strictly. An optional field may be left out, but `null` is a value
//! like any other: where the API does not document a field as nullable, `null` is refused (422)
//! instead of silently meaning "absent" — `{"force": null}` is a mistake worth telling.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::problem::{body_error, FieldError};

/// `value` as `T`; a mismatch is one field error naming where, under `at` (`stages[0].enter_at`,
/// `model.stages[0]`), and what it must be in words (`problem::body_error`). A mismatch of the
/// value itself is named `at`, or `body` when `at` is empty.
pub fn from_value<T: DeserializeOwned>(value: Value, at: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = match (at, path.as_str()) {
            (_, ".") => at.to_string(),
            ("", p) => p.to_string(),
            (a, p) => format!("{a}.{p}"),
        };
        body_error(&path, &e.into_inner().to_string())
    })
}

/// Largest integer an f64 holds exactly (2^53).
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

/// JSON has one number type: `5.0` is the integer 5, as JSON Schema says, so a body's integral
/// numbers are made integers before the body meets a struct with integer fields (serde would
/// refuse `5.0` for a `u32`). Fractions, and numbers beyond 2^53, stay as they are.
pub fn integral_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() <= EXACT_F64 {
                *v = if f >= 0.0 {
                    Value::from(f as u64)
                } else {
                    Value::from(f as i64)
                };
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// `#[serde(default, deserialize_with = "revops::de::present")]` on an `Option<T>` field: absent
/// is `None`; present must be a `T` (so `null` is an error naming the field).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default, deserialize_with = "present")]
        force: Option<bool>,
    }

    #[test]
    fn mismatches_name_the_field_under_its_document() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Stage {
            name: String,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Doc {
            stages: Vec<Stage>,
        }
        let e = from_value::<Doc>(serde_json::json!({"stages": [null]}), "model").unwrap_err();
        assert_eq!(e.field, "model.stages[0]");
        assert_eq!(e.reason, "must not be null: give an object");
        let e = from_value::<Doc>(serde_json::json!({"stages": [{}]}), "").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            ("stages[0].name", "is missing")
        );
        let e = from_value::<Doc>(Value::Null, "model").unwrap_err();
        assert_eq!(e.field, "model");
        let e = from_value::<Doc>(Value::Null, "").unwrap_err();
        assert_eq!(e.field, "body");
        assert!(!e.reason.contains("struct"), "{}", e.reason);
    }

    #[test]
    fn integral_floats_are_integers_and_fractions_stay() {
        let mut v: Value = serde_json::from_str(
            r#"{"a": 65537.0, "b": [-3.0, 1.5, 0.0, -0.0], "c": {"d": 1e300, "e": 7}}"#,
        )
        .unwrap();
        integral_numbers(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": 65537, "b": [-3, 1.5, 0, 0], "c": {"d": 1e300, "e": 7}})
        );
        assert!(v["a"].is_u64() && v["b"][0].is_i64());
        #[derive(Deserialize)]
        struct Limit {
            window_seconds: u32,
        }
        let mut v = serde_json::json!({"window_seconds": 600.0});
        integral_numbers(&mut v);
        assert_eq!(
            serde_json::from_value::<Limit>(v).unwrap().window_seconds,
            600
        );
    }

    #[test]
    fn absent_is_none_and_null_is_an_error() {
        assert_eq!(serde_json::from_str::<Body>("{}").unwrap().force, None);
        assert_eq!(
            serde_json::from_str::<Body>(r#"{"force": true}"#)
                .unwrap()
                .force,
            Some(true)
        );
        assert!(serde_json::from_str::<Body>(r#"{"force": null}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"force": "yes"}"#).is_err());
    }
}
