//! Reading request bodies strictly. An optional field may be left out, but `null` is a value
//! like any other: where the API does not document a field as nullable, `null` is refused (422)
//! instead of silently meaning "absent" — `{"force": null}` is a mistake worth telling.

use serde::{Deserialize, Deserializer};

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
