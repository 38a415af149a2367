//! Finding leads: the filters `GET /v1/leads` accepts, checked and typed, and the keyset cursor
//! that pages through the answer newest first without skipping or repeating a lead while new
//! ones arrive.

use crate::problem::FieldError;
use crate::time::parse_rfc3339;

pub const DEFAULT_LIMIT: u32 = 25;
pub const MAX_LIMIT: u32 = 100;

/// What someone is looking for. Text filters match anywhere in the value, ignoring the case of
/// ASCII letters, with no wildcards (`%` and `_` are themselves); the others match exactly. Every filter given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeadQuery {
    /// Part of the email address.
    pub email: Option<String>,
    /// Part of the company name or domain.
    pub company: Option<String>,
    /// The rep who owns the lead's open assignment.
    pub owner: Option<String>,
    /// The lead's stage (`new`, `mql`, `accepted`, …).
    pub stage: Option<String>,
    /// The lead source, exactly.
    pub source: Option<String>,
    /// Created at or after (epoch ms).
    pub created_from: Option<i64>,
    /// Created before (epoch ms).
    pub created_to: Option<i64>,
    pub limit: u32,
    /// Continue after this lead (the previous page's last).
    pub after: Option<Cursor>,
}

/// A position in the newest-first order: the last lead of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl Cursor {
    /// `<created_at>.<lead id>`: opaque to callers, who pass back what a page answered.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    pub fn parse(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('.')?;
        if at.is_empty() || at.len() > 16 || !at.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !crate::ids::is_id(crate::ids::prefix::LEAD, id) {
            return None;
        }
        Some(Cursor {
            created_at: at.parse().ok()?,
            id: id.to_string(),
        })
    }
}

/// The longest text filter (an email address can be 254 characters).
const MAX_TEXT: usize = 254;

fn text(name: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_TEXT {
        errors.push(FieldError::new(
            name,
            format!("give 1 to {MAX_TEXT} characters"),
        ));
        return None;
    }
    Some(trimmed.to_string())
}

fn time(name: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    let parsed = parse_rfc3339(value);
    if parsed.is_none() {
        errors.push(FieldError::new(
            name,
            "give an RFC 3339 time, like 2026-12-01T09:00:00Z",
        ));
    }
    parsed
}

impl LeadQuery {
    /// The query from a request's parameters (the last of a repeated name counts). Unknown
    /// parameters are ignored; a malformed known one is an error naming it.
    pub fn parse(pairs: &[(String, String)]) -> Result<LeadQuery, Vec<FieldError>> {
        let mut q = LeadQuery {
            limit: DEFAULT_LIMIT,
            ..LeadQuery::default()
        };
        let mut errors = Vec::new();
        for (name, value) in pairs {
            let e = &mut errors;
            match name.as_str() {
                "email" => q.email = text(name, value, e).map(|t| t.to_lowercase()),
                "company" => q.company = text(name, value, e),
                "owner" => q.owner = text(name, value, e),
                "stage" => q.stage = text(name, value, e),
                "source" => q.source = text(name, value, e),
                "created_from" => q.created_from = time(name, value, e),
                "created_to" => q.created_to = time(name, value, e),
                "limit" => match value.trim().parse::<u32>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = n,
                    _ => e.push(FieldError::new(
                        name,
                        format!("give a whole number from 1 to {MAX_LIMIT}"),
                    )),
                },
                "cursor" => match Cursor::parse(value) {
                    Some(c) => q.after = Some(c),
                    None => e.push(FieldError::new(
                        name,
                        "give the next_cursor a previous page answered",
                    )),
                },
                _ => {}
            }
        }
        if let (Some(from), Some(to)) = (q.created_from, q.created_to) {
            if from > to {
                errors.push(FieldError::new(
                    "created_from",
                    "must not be after `created_to`",
                ));
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }
}

/// One page out of `rows` read with `limit + 1`: the page, and the cursor to the next one when
/// there is more.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<Cursor>) {
    let limit = limit as usize;
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(key);
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const LEAD: &str = "lead_0123456789abcdefghjkmnpqrs";

    #[test]
    fn filters_are_typed_and_defaults_apply() {
        let q = LeadQuery::parse(&pairs(&[
            ("email", " Ada@Example.COM "),
            ("stage", "mql"),
            ("created_from", "2026-11-01T00:00:00Z"),
            ("limit", "10"),
            ("utm", "ignored"),
        ]))
        .unwrap();
        assert_eq!(q.email.as_deref(), Some("ada@example.com"));
        assert_eq!(q.stage.as_deref(), Some("mql"));
        assert_eq!(q.created_from, parse_rfc3339("2026-11-01T00:00:00Z"));
        assert_eq!(q.limit, 10);
        assert_eq!(LeadQuery::parse(&[]).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn malformed_filters_are_named() {
        let errors = LeadQuery::parse(&pairs(&[
            ("limit", "0"),
            ("email", "  "),
            ("created_to", "yesterday"),
            ("cursor", "12.lead_x"),
        ]))
        .unwrap_err();
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["limit", "email", "created_to", "cursor"]);
        let backwards = LeadQuery::parse(&pairs(&[
            ("created_from", "2026-11-02T00:00:00Z"),
            ("created_to", "2026-11-01T00:00:00Z"),
        ]))
        .unwrap_err();
        assert_eq!(backwards[0].field, "created_from");
        assert!(LeadQuery::parse(&pairs(&[("limit", "101")])).is_err());
    }

    #[test]
    fn a_cursor_round_trips_and_rejects_junk() {
        let c = Cursor {
            created_at: 1_764_000_000_000,
            id: LEAD.into(),
        };
        assert_eq!(Cursor::parse(&c.encode()), Some(c));
        for junk in [
            "",
            ".",
            "12",
            "-1.lead_x",
            &format!("x.{LEAD}"),
            &format!("1.{LEAD}x"),
        ] {
            assert_eq!(Cursor::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_page_reports_a_next_cursor_only_when_more_rows_exist() {
        let key = |n: &i64| Cursor {
            created_at: *n,
            id: LEAD.into(),
        };
        let (rows, next) = page(vec![5, 4, 3], 2, key);
        assert_eq!(rows, [5, 4]);
        assert_eq!(next.unwrap().created_at, 4);
        let (rows, next) = page(vec![5, 4], 2, key);
        assert_eq!(rows, [5, 4]);
        assert!(next.is_none());
    }
}
