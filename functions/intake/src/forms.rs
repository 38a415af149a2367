//! HTML forms: `POST /f/{form_id}` from plain `<form>` tags on any registered site, its CORS
//! preflight, and the forms' administration and counters.

use revops::html;
use revops::intake::body::{self, RawField};
use revops::intake::form::{self, FormConfig, Refusal};
use revops::intake::normalize::{normalise, Submission};
use revops::intake::stats;
use revops::problem::{Problem, ProblemKind};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use worker::{Request, Response};

use crate::api::kept_headers;
use crate::counters::{self, Counted};
use crate::pipeline;
use crate::store::{self, Extras, NewSubmission, Prior};
use platform::text::RuntimeDecoder;
use platform::{http, Cx, Error, Result};

const MAX_BODY: usize = 64 * 1024;

pub async fn load(cx: &Cx, id: &str) -> Result<Option<FormConfig>> {
    platform::configs::FORMS.load(cx, id).await
}

/// Takes one slot of the form's per-address window; `Err` with the seconds to wait when full.
/// With the submitter's `email` (a post that normalised), what intake knows about them is read
/// in the same round trip.
async fn rate_limit(
    cx: &Cx,
    form_id: &str,
    config: &FormConfig,
    ip: Option<&str>,
    email: Option<&str>,
) -> Result<(std::result::Result<(), i64>, Option<Prior>)> {
    let window_start = config.rate_limit.window_start(cx.now_ms);
    let address = revops::auth::hex(&Sha256::digest(ip.unwrap_or("unknown").as_bytes()));
    let key = format!("{form_id}:{}", &address[..16]);
    let mut batch = vec![platform::rate_windows::take_statement(
        &cx.db,
        &key,
        window_start,
    )?];
    if let Some(email) = email {
        batch.extend(store::prior_statements(cx, email)?);
    }
    let mut rows = cx.db.read_batch(batch).await?.into_iter();
    let count = platform::rate_windows::taken(rows.next().unwrap_or_default())?;
    let prior = email.map(|_| store::prior_from(&mut rows)).transpose()?;
    Ok((
        config.rate_limit.admit(count, window_start, cx.now_ms),
        prior,
    ))
}

fn cors(response: &Response, origin: Option<&str>) -> Result<()> {
    if let Some(origin) = origin {
        response
            .headers()
            .set("access-control-allow-origin", origin)?;
        response.headers().set("vary", "Origin")?;
    }
    Ok(())
}

/// A post's fields, what is stored as its body, its media type, and the data-quality flag for
/// text that did not decode.
struct Read {
    fields: Vec<(String, Value)>,
    stored: String,
    media: String,
    flag: Option<revops::intake::normalize::Flag>,
}

/// The post's fields, from urlencoded, multipart or JSON bodies; form encodings are decoded in
/// the charset the form declared (`_charset_`, or a `charset` parameter) by the runtime.
async fn read_fields(req: &mut Request) -> std::result::Result<Read, Refusal> {
    let content_type = http::header(req, "content-type").unwrap_or_default();
    let media = http::media_type(req.headers());
    let bytes = http::body_bytes(req, MAX_BODY).await.map_err(|e| match e {
        Error::Problem(p) if p.kind == ProblemKind::PayloadTooLarge => Refusal::TooLarge(MAX_BODY),
        other => Refusal::Malformed(other.to_string()),
    })?;
    let decoded = |raw: Vec<RawField>| {
        let charset = body::declared_charset(&content_type, &raw);
        body::decode_fields(&raw, &charset, &RuntimeDecoder).map_err(Refusal::Malformed)
    };
    let as_values = |fields: Vec<(String, String)>| -> Vec<(String, Value)> {
        fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    };
    match media.as_str() {
        // Browsers percent-encode urlencoded bodies: the stored body is ASCII, kept as is.
        "application/x-www-form-urlencoded" => {
            let out = decoded(body::parse_urlencoded_bytes(&bytes))?;
            Ok(Read {
                fields: as_values(out.fields),
                stored: body::stored_body(&bytes),
                media,
                flag: out.flag,
            })
        }
        "multipart/form-data" => {
            let raw = body::parse_multipart(&bytes, &content_type).map_err(Refusal::Malformed)?;
            let out = decoded(raw)?;
            let stored = serde_json::to_string(&out.fields).unwrap_or_default();
            Ok(Read {
                fields: as_values(out.fields),
                stored,
                media,
                flag: out.flag,
            })
        }
        "application/json" => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(obj)) => Ok(Read {
                fields: obj.into_iter().collect(),
                stored: body::stored_body(&bytes),
                media,
                flag: None,
            }),
            Ok(_) => Err(Refusal::Malformed("the JSON body is not an object".into())),
            Err(e) => Err(Refusal::Malformed(format!(
                "the body is not valid JSON: {e}"
            ))),
        },
        other => Err(Refusal::UnsupportedMediaType(if other.is_empty() {
            "nothing".into()
        } else {
            other.into()
        })),
    }
}

/// `POST /f/{form_id}`.
pub async fn submit(cx: &Cx, mut req: Request) -> Result<Response> {
    let form_id = cx.param("form_id").to_string();
    let json_mode = form::wants_json(http::header(&req, "accept").as_deref());
    let Some(config) = load(cx, &form_id).await? else {
        let p = Problem::not_found(format!("form {form_id}"));
        if json_mode {
            return Err(Error::Problem(p));
        }
        let page = html::page("This form does not exist", "<p>The form you submitted is not registered with us. Please contact the site owner.</p>");
        return http::html(404, page);
    };
    let post = match screen(cx, &form_id, &config, &mut req, json_mode).await? {
        Ok(post) => post,
        Err(refused) => return Ok(refused),
    };
    let Screened {
        normalised: n,
        prior,
        raw,
        media,
        origin,
    } = post;
    let consent = config.consent_claim(n.consent);
    let headers = kept_headers(&req);
    let extras = Extras {
        activity: Some("form_submission".into()),
        consent,
        base_url: crate::api::origin(&req),
        subjects_admin: false,
        fault: None,
    };
    let sub = NewSubmission {
        kind: "form",
        source_id: Some(&form_id),
        content_type: Some(&media),
        body: &raw,
        headers: &headers,
        normalised: &n,
        extras: &extras,
    };
    // Counted as accepted in the batch that stores it: acknowledged and counted, or neither.
    let outcome = pipeline::accept_known(
        cx,
        std::slice::from_ref(&sub),
        vec![prior],
        vec![counters::statement(
            cx,
            Counted::Form,
            &form_id,
            stats::ACCEPTED,
        )?],
        pipeline::injected_fault(cx, &req).as_ref(),
    )
    .await?
    .remove(0);
    if json_mode {
        let response = http::json(outcome.status_code(), &outcome.view())?;
        cors(&response, origin.as_deref())?;
        return Ok(response);
    }
    match &config.success_url {
        Some(url) => http::redirect(url),
        None => http::html(
            200,
            html::page(
                "Thank you",
                "<p>We received your submission and will be in touch.</p>",
            ),
        ),
    }
}

/// A post that passed every screen, ready to store.
struct Screened {
    normalised: revops::intake::normalize::Normalised,
    /// What intake knows about the address (read with the rate-limit slot).
    prior: store::Prior,
    raw: String,
    media: String,
    origin: Option<String>,
}

/// Screens a post in the order its refusals are answered — origin, a disabled form, a body
/// that cannot be read, the honeypot, the rate limit, then the fields — and answers the first
/// refusal (`Err`, counted) or the post to store.
async fn screen(
    cx: &Cx,
    form_id: &str,
    config: &FormConfig,
    req: &mut Request,
    json_mode: bool,
) -> Result<std::result::Result<Screened, Response>> {
    let origin = match config.check_origin(
        http::header(req, "origin").as_deref(),
        http::header(req, "referer").as_deref(),
    ) {
        Ok(o) => o,
        Err(refusal) => {
            return refuse(cx, form_id, config, None, json_mode, refusal)
                .await
                .map(Err)
        }
    };
    if !config.enabled {
        return refuse(
            cx,
            form_id,
            config,
            origin.as_deref(),
            json_mode,
            Refusal::Disabled,
        )
        .await
        .map(Err);
    }
    let Read {
        fields,
        stored: raw,
        media,
        flag,
    } = match read_fields(req).await {
        Ok(r) => r,
        Err(refusal) => {
            return refuse(cx, form_id, config, origin.as_deref(), json_mode, refusal)
                .await
                .map(Err)
        }
    };
    if config.honeypot_tripped(&fields) {
        return refuse(
            cx,
            form_id,
            config,
            origin.as_deref(),
            json_mode,
            Refusal::Honeypot,
        )
        .await
        .map(Err);
    }
    let mut map = config.field_map.clone();
    if let Some(hp) = &config.honeypot_field {
        map.insert(hp.clone(), "ignore".into());
    }
    // Normalised first (no I/O), so the round trip that takes the rate-limit slot also reads
    // what intake knows about the address; the refusals keep their order (429 before 422).
    let normalised = normalise(&Submission {
        fields: &fields,
        field_map: &map,
        default_lead_source: config.lead_source.as_deref(),
        default_country: config.default_country.as_deref(),
        received_at: cx.now_ms,
    });
    let email = normalised.as_ref().ok().map(|n| n.email.to_string());
    let (slot, prior) = rate_limit(
        cx,
        form_id,
        config,
        http::client_ip(req).as_deref(),
        email.as_deref(),
    )
    .await?;
    if let Err(retry_after_seconds) = slot {
        return refuse(
            cx,
            form_id,
            config,
            origin.as_deref(),
            json_mode,
            Refusal::RateLimited {
                retry_after_seconds,
            },
        )
        .await
        .map(Err);
    }
    let mut n = match normalised {
        Ok(n) => n,
        Err(errors) => {
            return refuse(
                cx,
                form_id,
                config,
                origin.as_deref(),
                json_mode,
                Refusal::Invalid(errors),
            )
            .await
            .map(Err)
        }
    };
    n.flags.extend(flag);
    let prior =
        prior.ok_or_else(|| Error::internal("a normalised post was read without its address"))?;
    Ok(Ok(Screened {
        normalised: n,
        prior,
        raw,
        media,
        origin,
    }))
}

/// Answers a refused post: counted, then JSON (with CORS for allowed origins) or, for browsers,
/// a redirect to the form's error page with the reason, or a page explaining it.
async fn refuse(
    cx: &Cx,
    form_id: &str,
    config: &FormConfig,
    origin: Option<&str>,
    json_mode: bool,
    refusal: Refusal,
) -> Result<Response> {
    counters::count(cx, Counted::Form, form_id, refusal.code()).await?;
    cx.log(
        revops::logging::Level::Info,
        "form.refused",
        json!({ "form_id": form_id, "reason": refusal.code() }),
    );
    let retry_after = match &refusal {
        Refusal::RateLimited {
            retry_after_seconds,
        } => Some(retry_after_seconds.to_string()),
        _ => None,
    };
    let response = if json_mode {
        let mut p = Problem::new(refusal.kind(), refusal.message());
        p.errors = refusal.field_errors();
        let response = http::problem_response(&p, &format!("/f/{form_id}"), &cx.request_id)?;
        cors(&response, origin)?;
        response
    } else if let Some(url) = &config.error_url {
        let fields: Vec<String> = refusal
            .field_errors()
            .into_iter()
            .map(|e| e.field)
            .collect();
        let target = form::with_query(
            url,
            &[
                ("error", refusal.code()),
                ("message", &refusal.message()),
                ("fields", &fields.join(",")),
            ],
        );
        http::redirect(&target)?
    } else {
        let mut body = format!("<p>{}</p>", html::escape(&refusal.message()));
        let errors = refusal.field_errors();
        if !errors.is_empty() {
            body.push_str("<ul class=\"errors\">");
            for e in errors {
                body.push_str(&format!(
                    "<li><strong>{}</strong> {}</li>",
                    html::escape(&e.field),
                    html::escape(&e.reason)
                ));
            }
            body.push_str("</ul>");
        }
        body.push_str("<p>Please go back, correct the form and send it again.</p>");
        http::html(
            refusal.kind().status(),
            html::page("We could not accept your submission", &body),
        )?
    };
    if let Some(seconds) = retry_after {
        response.headers().set("retry-after", &seconds)?;
    }
    Ok(response)
}

/// `OPTIONS /f/{form_id}`: CORS preflight for `fetch()` callers on registered origins.
pub async fn preflight(cx: &Cx, req: Request) -> Result<Response> {
    let form_id = cx.param("form_id");
    let config = load(cx, form_id)
        .await?
        .ok_or_else(|| Error::Problem(Problem::not_found(format!("form {form_id}"))))?;
    let origin = config
        .check_origin(http::header(&req, "origin").as_deref(), None)
        .map_err(|r| Error::Problem(Problem::new(r.kind(), r.message())))?;
    let response = http::no_content()?;
    cors(&response, origin.as_deref())?;
    response
        .headers()
        .set("access-control-allow-methods", "POST")?;
    response
        .headers()
        .set("access-control-allow-headers", "content-type, accept")?;
    response.headers().set("access-control-max-age", "600")?;
    Ok(response)
}
