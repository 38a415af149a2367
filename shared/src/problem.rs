//! RFC 9457 problem details: the one vocabulary every handler uses to say what went wrong.
//!
//! Each kind of error has a stable `type` (a relative URI, `/problems/<slug>`, that the gateway
//! serves as a readable page), a fixed HTTP status and a title. Handlers build a [`Problem`] from a
//! kind plus a detail sentence and, for validation failures, field-level errors; the platform
//! crate turns it into an `application/problem+json` response carrying the request id.

use serde::{Deserialize, Serialize};

/// Every kind of error a client can see. The slug is part of the public API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    BadRequest,
    MalformedJson,
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    IdempotencyConflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotAcceptable,
    RateLimited,
    InvalidSignature,
    StaleTimestamp,
    Replayed,
    OriginNotAllowed,
    SpamSuspected,
    Gone,
    DependencyFailed,
    Internal,
}

impl ProblemKind {
    /// The problem type a status code most plainly means (the first kind with that status),
    /// for relaying another service's refusal in our own words.
    pub fn from_status(status: u16) -> Option<ProblemKind> {
        ProblemKind::ALL.into_iter().find(|k| k.status() == status)
    }

    pub const ALL: [ProblemKind; 21] = [
        ProblemKind::BadRequest,
        ProblemKind::MalformedJson,
        ProblemKind::Validation,
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Conflict,
        ProblemKind::IdempotencyConflict,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::NotAcceptable,
        ProblemKind::RateLimited,
        ProblemKind::InvalidSignature,
        ProblemKind::StaleTimestamp,
        ProblemKind::Replayed,
        ProblemKind::OriginNotAllowed,
        ProblemKind::SpamSuspected,
        ProblemKind::Gone,
        ProblemKind::DependencyFailed,
        ProblemKind::Internal,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "bad-request",
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::Validation => "validation-failed",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Conflict => "conflict",
            ProblemKind::IdempotencyConflict => "idempotency-key-reused",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::NotAcceptable => "not-acceptable",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::InvalidSignature => "invalid-signature",
            ProblemKind::StaleTimestamp => "stale-timestamp",
            ProblemKind::Replayed => "replayed-message",
            ProblemKind::OriginNotAllowed => "origin-not-allowed",
            ProblemKind::SpamSuspected => "spam-suspected",
            ProblemKind::Gone => "gone",
            ProblemKind::DependencyFailed => "dependency-failed",
            ProblemKind::Internal => "internal-error",
        }
    }

    pub fn from_slug(slug: &str) -> Option<ProblemKind> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }

    pub fn status(self) -> u16 {
        match self {
            ProblemKind::BadRequest | ProblemKind::MalformedJson => 400,
            ProblemKind::Unauthorized
            | ProblemKind::InvalidSignature
            | ProblemKind::StaleTimestamp => 401,
            ProblemKind::Forbidden | ProblemKind::OriginNotAllowed => 403,
            ProblemKind::NotFound => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::NotAcceptable => 406,
            ProblemKind::Conflict | ProblemKind::Replayed => 409,
            ProblemKind::Gone => 410,
            ProblemKind::PayloadTooLarge => 413,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::Validation
            | ProblemKind::SpamSuspected
            | ProblemKind::IdempotencyConflict => 422,
            ProblemKind::RateLimited => 429,
            ProblemKind::DependencyFailed => 502,
            ProblemKind::Internal => 500,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "The request is not valid",
            ProblemKind::MalformedJson => "The request body is not valid JSON",
            ProblemKind::Validation => "Some fields are missing or invalid",
            ProblemKind::Unauthorized => "Authentication is required",
            ProblemKind::Forbidden => "This API key may not do that",
            ProblemKind::NotFound => "Nothing exists at this address",
            ProblemKind::MethodNotAllowed => "This address does not accept that method",
            ProblemKind::Conflict => "The request conflicts with the current state",
            ProblemKind::IdempotencyConflict => {
                "This Idempotency-Key was already used with a different request"
            }
            ProblemKind::PayloadTooLarge => "The request body is too large",
            ProblemKind::UnsupportedMediaType => "The request body's content type is not accepted",
            ProblemKind::NotAcceptable => "No acceptable representation",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::InvalidSignature => "The webhook signature does not verify",
            ProblemKind::StaleTimestamp => "The webhook timestamp is outside the tolerance window",
            ProblemKind::Replayed => "This webhook message was already received",
            ProblemKind::OriginNotAllowed => "This origin may not post to this form",
            ProblemKind::SpamSuspected => "The submission looks automated",
            ProblemKind::Gone => "This resource no longer exists",
            ProblemKind::DependencyFailed => "A downstream step failed",
            ProblemKind::Internal => "Something went wrong on our side",
        }
    }

    /// What the problem page explains to a reader who follows the `type` link.
    pub fn description(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "The request could not be understood; `detail` says why.",
            ProblemKind::MalformedJson => {
                "The body could not be parsed as JSON. Check quoting, commas and the encoding (UTF-8)."
            }
            ProblemKind::Validation => {
                "The body parsed, but fields are missing or invalid. `errors[]` lists each field with the reason."
            }
            ProblemKind::Unauthorized => {
                "Send `Authorization: Bearer <api key>`. The key may be missing, unknown or revoked."
            }
            ProblemKind::Forbidden => {
                "The API key is valid but lacks the scope this endpoint needs; `detail` names it."
            }
            ProblemKind::NotFound => "The path or the resource it names does not exist.",
            ProblemKind::MethodNotAllowed => {
                "The path exists but not with this HTTP method; the `Allow` header lists the methods."
            }
            ProblemKind::Conflict => "The change cannot be applied to the resource as it is now.",
            ProblemKind::IdempotencyConflict => {
                "An Idempotency-Key may only be reused for a byte-identical retry of the same request."
            }
            ProblemKind::PayloadTooLarge => "Bodies are limited in size; `detail` gives the limit.",
            ProblemKind::UnsupportedMediaType => {
                "`detail` lists the content types this endpoint accepts."
            }
            ProblemKind::NotAcceptable => "The Accept header asks for a format this endpoint cannot produce.",
            ProblemKind::RateLimited => {
                "Too many submissions from one address in the current window. Retry after the `Retry-After` seconds."
            }
            ProblemKind::InvalidSignature => {
                "The signature header is missing or does not match the body signed with the source's secret."
            }
            ProblemKind::StaleTimestamp => {
                "The signed timestamp is too far from the receiver's clock; replays of old messages are refused."
            }
            ProblemKind::Replayed => "A message with this id was already accepted from this source.",
            ProblemKind::OriginNotAllowed => {
                "Forms accept posts only from the origins registered for them."
            }
            ProblemKind::SpamSuspected => "The submission tripped the form's bot protection.",
            ProblemKind::Gone => "The resource existed but was removed, for example by an erasure request.",
            ProblemKind::DependencyFailed => {
                "The request was stored, but a later step failed; it is retried automatically."
            }
            ProblemKind::Internal => {
                "An unexpected error. Quote the request id when you report it; nothing you sent was exposed."
            }
        }
    }
}

/// What a serde decoding error at `path` (`stages[0].enter_at`, `.` for the body itself) means
/// to the person who sent the body: the field, and a reason in their words — never a Rust type
/// name (`expected struct StageSpec`) or serde's line and column.
pub fn body_error(path: &str, message: &str) -> FieldError {
    let msg = message
        .rsplit_once(" at line ")
        .map_or(message, |(m, _)| m)
        .trim();
    let join = |p: &str, name: &str| {
        if p.is_empty() || p == "." {
            name.to_string()
        } else {
            format!("{p}.{name}")
        }
    };
    let path = if path == "." { "" } else { path };
    let quoted = |s: &str| -> Vec<String> {
        s.split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, t)| t.to_string())
            .collect()
    };
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let name = quoted(rest).into_iter().next().unwrap_or_default();
        return FieldError::new(join(path, &name), "is missing");
    }
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let names = quoted(rest);
        let name = names.first().cloned().unwrap_or_default();
        // serde_path_to_error's path already ends at the unknown key.
        let at_key = path == name || path.ends_with(&format!(".{name}"));
        let reason = if names.len() > 1 {
            format!("is not a field here; use {}", names[1..].join(", "))
        } else {
            "is not a field here".to_string()
        };
        return FieldError::new(
            if at_key {
                path.to_string()
            } else {
                join(path, &name)
            },
            reason,
        );
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let names = quoted(rest);
        let given = names.first().cloned().unwrap_or_default();
        return FieldError::new(
            if path.is_empty() { "body" } else { path },
            format!("`{given}` is not one of {}", names[1..].join(", ")),
        );
    }
    let field = if path.is_empty() { "body" } else { path };
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let got = got.split_whitespace().next().unwrap_or(got);
        return FieldError::new(
            field,
            if got == "null" {
                format!("must not be null: give {}", humane_type(expected))
            } else {
                format!(
                    "must be {} (got {})",
                    humane_type(expected),
                    humane_type(got)
                )
            },
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        return FieldError::new(
            field,
            format!(
                "{} is out of range: give {}",
                got.replace('`', ""),
                humane_type(expected)
            ),
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid length ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return FieldError::new(field, format!("give {}", humane_type(expected)));
    }
    FieldError::new(field, scrub_type_names(msg))
}

/// serde's names for what it expected, in plain words.
fn humane_type(t: &str) -> String {
    let t = t.trim();
    let word = if t.starts_with("struct ") || t.starts_with("a map") || t == "map" {
        "an object"
    } else if t.starts_with("a sequence") || t.starts_with("sequence") || t.starts_with("tuple") {
        "a list"
    } else if t.starts_with("enum ") || t.starts_with("variant identifier") {
        "one of the allowed values"
    } else if t.contains("string") || t == "a character" || t == "char" {
        "text"
    } else if t.contains("boolean") || t == "bool" {
        "true or false"
    } else if t.starts_with("u8")
        || t.starts_with("u16")
        || t.starts_with("u32")
        || t.starts_with("u64")
        || t.starts_with("usize")
        || t == "unsigned integer"
    {
        "a whole number from 0"
    } else if t.starts_with("i8")
        || t.starts_with("i16")
        || t.starts_with("i32")
        || t.starts_with("i64")
        || t == "integer"
        || t == "isize"
    {
        "a whole number"
    } else if t.starts_with("f32") || t.starts_with("f64") || t == "floating point" {
        "a number"
    } else if t == "null" || t == "unit" {
        "null"
    } else {
        return scrub_type_names(t);
    };
    word.to_string()
}

/// Removes Rust type names (`struct StageSpec`, `enum Mode`) from a message.
fn scrub_type_names(msg: &str) -> String {
    let mut out = Vec::new();
    let mut words = msg.split(' ').peekable();
    while let Some(w) = words.next() {
        if matches!(w, "struct" | "enum" | "tuple") && words.peek().is_some() {
            words.next();
            out.push(if w == "enum" {
                "one of the allowed values"
            } else {
                "an object"
            });
        } else {
            out.push(w);
        }
    }
    out.join(" ")
}

/// A field-level validation error: which field, and why in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A problem to report to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => format!("{}: {}", errors[0].field, errors[0].reason),
            n => format!("{n} fields are missing or invalid"),
        };
        Problem {
            kind: ProblemKind::Validation,
            detail,
            errors,
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Problem::new(ProblemKind::NotFound, format!("{what} was not found"))
    }

    pub fn internal() -> Self {
        Problem::new(
            ProblemKind::Internal,
            "An unexpected error occurred; it has been logged with this request's id.",
        )
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    pub fn type_uri(&self) -> String {
        format!("/problems/{}", self.kind.slug())
    }

    /// The RFC 9457 body. `instance` is the request path; `request_id` lets support find the logs.
    pub fn body(&self, instance: &str, request_id: &str) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": self.type_uri(),
            "title": self.kind.title(),
            "status": self.status(),
            "detail": self.detail,
            "instance": instance,
            "request_id": request_id,
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        body
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for kind in ProblemKind::ALL {
            assert!(seen.insert(kind.slug()), "duplicate slug {}", kind.slug());
            assert_eq!(ProblemKind::from_slug(kind.slug()), Some(kind));
            assert!((400..600).contains(&kind.status()));
        }
        assert_eq!(ProblemKind::from_slug("nope"), None);
    }

    #[test]
    fn body_follows_rfc_9457_with_field_errors() {
        let p = Problem::validation(vec![FieldError::new("email", "is missing")]);
        let body = p.body("/v1/leads", "req_1");
        assert_eq!(body["type"], "/problems/validation-failed");
        assert_eq!(body["status"], 422);
        assert_eq!(body["detail"], "email: is missing");
        assert_eq!(body["instance"], "/v1/leads");
        assert_eq!(body["request_id"], "req_1");
        assert_eq!(body["errors"][0]["field"], "email");
        let plain = Problem::new(ProblemKind::NotFound, "x").body("/a", "r");
        assert!(plain.get("errors").is_none());
    }

    #[test]
    fn several_field_errors_are_counted_in_detail() {
        let p = Problem::validation(vec![
            FieldError::new("email", "is missing"),
            FieldError::new("country", "is not a country"),
        ]);
        assert_eq!(p.detail, "2 fields are missing or invalid");
    }

    #[test]
    fn serde_errors_read_as_field_errors_without_rust_type_names() {
        let cases = [
            (
                ".",
                "missing field `email` at line 1 column 2",
                "email",
                "is missing",
            ),
            (
                "model",
                "missing field `stages`",
                "model.stages",
                "is missing",
            ),
            (
                ".",
                "unknown field `x`, expected one of `rep`, `lead_id`",
                "x",
                "is not a field here; use rep, lead_id",
            ),
            (
                "force",
                "invalid type: null, expected a boolean",
                "force",
                "must not be null: give true or false",
            ),
            (
                "model.stages[0]",
                "invalid type: integer `1`, expected struct StageSpec",
                "model.stages[0]",
                "must be an object (got a whole number)",
            ),
            (
                "status",
                "invalid type: map, expected a string",
                "status",
                "must be text (got an object)",
            ),
            (
                "mode",
                "unknown variant `fast`, expected one of `round_robin`, `least_loaded`",
                "mode",
                "`fast` is not one of round_robin, least_loaded",
            ),
            (
                "limit",
                "invalid value: integer `-1`, expected u32",
                "limit",
                "integer -1 is out of range: give a whole number from 0",
            ),
            (
                ".",
                "invalid type: sequence, expected struct Claim",
                "body",
                "must be an object (got a list)",
            ),
        ];
        for (path, msg, field, reason) in cases {
            let e = body_error(path, msg);
            assert_eq!(
                (e.field.as_str(), e.reason.as_str()),
                (field, reason),
                "{msg}"
            );
            assert!(
                !e.reason.contains("struct") && !e.reason.contains("Spec"),
                "{e:?}"
            );
        }
    }
}
