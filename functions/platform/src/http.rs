//! HTTP helpers: JSON, problem+json and HTML responses, body reading with size limits.

use revops::problem::{Problem, ProblemKind};
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Headers, Request, Response};

use crate::error::{problem, Context, Error, Result};

pub const REQUEST_ID: &str = "x-request-id";
/// Set by the gateway on forwarded requests (and by handlers on internal calls): the caller's
/// [`revops::auth::Principal`] as JSON. The gateway strips it from incoming requests.
pub const PRINCIPAL: &str = "x-revops-principal";

pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    let text = serde_json::to_string(body)?;
    with_type(Response::ok(text)?.with_status(status), "application/json")
}

pub fn problem_response(p: &Problem, instance: &str, request_id: &str) -> Result<Response> {
    let body = p.body(instance, request_id).to_string();
    let response = with_type(
        Response::ok(body)?.with_status(p.status()),
        "application/problem+json",
    )?;
    if p.kind == ProblemKind::Unauthorized {
        response
            .headers()
            .set("www-authenticate", "Bearer realm=\"revops-edge\"")?;
    }
    Ok(response)
}

pub fn html(status: u16, page: String) -> Result<Response> {
    with_type(
        Response::ok(page)?.with_status(status),
        "text/html; charset=utf-8",
    )
}

pub fn redirect(location: &str) -> Result<Response> {
    let response = Response::empty()?.with_status(303);
    response.headers().set("location", location)?;
    Ok(response)
}

pub fn no_content() -> Result<Response> {
    Ok(Response::empty()?.with_status(204))
}

fn with_type(response: Response, content_type: &str) -> Result<Response> {
    response.headers().set("content-type", content_type)?;
    Ok(response)
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The media type of the body, lower-cased, without parameters.
pub fn media_type(headers: &Headers) -> String {
    headers
        .get("content-type")
        .ok()
        .flatten()
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Reads the body, refusing (413) anything over `max` bytes.
pub async fn body_bytes(req: &mut Request, max: usize) -> Result<Vec<u8>> {
    let declared = header(req, "content-length").and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let bytes = req.bytes().await.context("reading body")?;
    if bytes.len() > max {
        return Err(too_large(max));
    }
    Ok(bytes)
}

fn too_large(max: usize) -> Error {
    problem(
        ProblemKind::PayloadTooLarge,
        format!("the body may be at most {max} bytes"),
    )
}

/// Reads a JSON body: requires `application/json` (or `+json`), a size limit, valid JSON, and
/// an object at the top (every JSON body the API documents is one: serde would otherwise fill a
/// struct from an array by position).
pub async fn json_body<T: DeserializeOwned>(req: &mut Request, max: usize) -> Result<T> {
    let bytes = json_bytes(req, max).await?;
    parse_object(&bytes)
}

/// A JSON body that may be left out altogether (`T::default()` then), as `POST …/route` allows.
pub async fn optional_json_body<T: DeserializeOwned + Default>(
    req: &mut Request,
    max: usize,
) -> Result<T> {
    let declared = header(req, "content-length");
    let chunked = header(req, "transfer-encoding").is_some();
    if !chunked && declared.as_deref().is_none_or(|l| l.trim() == "0") {
        return Ok(T::default());
    }
    json_body(req, max).await
}

/// A boolean query parameter: `true` or `false`; anything else is a 422 naming it.
pub fn query_bool(req: &Request, name: &str) -> Result<Option<bool>> {
    match query_param(req, name).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Error::Problem(Problem::validation(vec![
            revops::problem::FieldError::new(name, "give true or false"),
        ]))),
    }
}

/// A query parameter that must be one of `allowed`; anything else is a 422 naming it.
pub fn query_enum(req: &Request, name: &str, allowed: &[&str]) -> Result<Option<String>> {
    match query_param(req, name) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
        Some(_) => Err(Error::Problem(Problem::validation(vec![
            revops::problem::FieldError::new(name, format!("one of {}", allowed.join(", "))),
        ]))),
    }
}

/// An RFC 3339 time query parameter; anything else is a 422 naming it.
pub fn query_time(req: &Request, name: &str) -> Result<Option<i64>> {
    match query_param(req, name) {
        None => Ok(None),
        Some(v) => revops::time::parse_rfc3339(&v).map(Some).ok_or_else(|| {
            Error::Problem(Problem::validation(vec![revops::problem::FieldError::new(
                name,
                "give an RFC 3339 time, like 2026-12-01T09:00:00Z",
            )]))
        }),
    }
}

/// Parses a JSON object body into `T` (see [`json_body`]).
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let value = parse_value(bytes)?;
    if !value.is_object() {
        return Err(Error::Problem(Problem::validation(vec![
            revops::problem::FieldError::new("body", "must be a JSON object"),
        ])));
    }
    decode(value)
}

/// The body of a JSON request (content type and size checked); non-generic, so one copy of the
/// reading state machine serves every body type.
async fn json_bytes(req: &mut Request, max: usize) -> Result<Vec<u8>> {
    let media = media_type(req.headers());
    if media != "application/json" && !media.ends_with("+json") {
        return Err(problem(
            ProblemKind::UnsupportedMediaType,
            format!(
                "send the body as application/json (got `{}`)",
                if media.is_empty() { "nothing" } else { &media }
            ),
        ));
    }
    body_bytes(req, max).await
}

/// Parses JSON, telling malformed JSON (400) from JSON of the wrong shape (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    decode(parse_value(bytes)?)
}

fn parse_value(bytes: &[u8]) -> Result<serde_json::Value> {
    let mut value = serde_json::from_slice(bytes).map_err(|e| {
        problem(
            ProblemKind::MalformedJson,
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })?;
    revops::de::integral_numbers(&mut value);
    Ok(value)
}

/// A JSON value as `T`; a mismatch is a 422 naming the field (`stages[0].enter_at`) and what it
/// must be, in words (`revops::problem::body_error`).
pub fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    revops::de::from_value(value, "").map_err(|e| Error::Problem(Problem::validation(vec![e])))
}

/// The query string's parameters, decoded.
pub fn query(req: &Request) -> Vec<(String, String)> {
    let url = req.inner().url();
    url.split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .map(revops::intake::normalize::parse_urlencoded)
        .unwrap_or_default()
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    query(req)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// An integer query parameter within `min..=max`: absent → `None`; anything else (`1.5`, `abc`,
/// out of range) is a 422 naming the parameter.
pub fn query_int(req: &Request, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
    match query_param(req, name) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Error::Problem(Problem::validation(vec![
                revops::problem::FieldError::new(
                    name,
                    format!("give a whole number from {min} to {max}"),
                ),
            ]))),
        },
    }
}

/// The caller's IP address as Cloudflare saw it.
pub fn client_ip(req: &Request) -> Option<String> {
    header(req, "cf-connecting-ip").or_else(|| header(req, "x-real-ip"))
}
