//! The consent API: the fast check (single and batch), recording changes with proof, the
//! history, unsubscribe tokens for senders, configuration, and intake's hand-off.

use revops::consent::claim::{self, Claim};
use revops::consent::ledger::{Change, Proof};
use revops::consent::providers::ProvidersConfig;
use revops::consent::{token, Snapshot, TopicState, TopicsConfig};
use revops::intake::email::Email;
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::time::{rfc3339, DAY};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::store::{self, Keys, Loaded};
use platform::{http, problem, settings, Cx, Error, Result};

pub async fn topics(cx: &Cx) -> Result<TopicsConfig> {
    settings::load(cx, store::TOPICS).await
}

pub fn parse_email(raw: &str) -> Result<String> {
    Email::parse(raw)
        .map(|e| e.as_str().to_string())
        .map_err(store::invalid_email)
}

/// The answers for every topic (or one), as the API shows them.
pub fn verdicts(
    config: &TopicsConfig,
    snapshot: &Snapshot,
    only: Option<&str>,
) -> Result<Vec<Value>> {
    if let Some(t) = only {
        if config.topic(t).is_none() {
            return Err(Error::Problem(Problem::validation(vec![FieldError::new(
                "topic",
                format!("`{t}` is not a configured topic"),
            )])));
        }
    }
    Ok(config
        .topics
        .iter()
        .filter(|t| only.is_none_or(|o| o == t.id))
        .map(|t| {
            let v = snapshot.verdict(t);
            json!({ "topic": t.id, "name": t.name, "state": v.state, "may_send": v.may_send, "reason": v.reason })
        })
        .collect())
}

fn view(
    email: &str,
    config: &TopicsConfig,
    snapshot: &Snapshot,
    source: &str,
    only: Option<&str>,
) -> Result<Value> {
    Ok(json!({
        "email": email,
        "suppressed": snapshot.suppressed,
        "topics": verdicts(config, snapshot, only)?,
        "source": source,
        "as_of": (snapshot.updated_at > 0).then(|| rfc3339(snapshot.updated_at)),
    }))
}

/// `GET /v1/consent/{email}[?topic=…][&fresh=true]`: from KV (written through on every change,
/// possibly up to a minute stale elsewhere), or from D1 with `fresh=true`.
pub async fn get(cx: &Cx, req: &Request) -> Result<Response> {
    let email = parse_email(cx.param("email"))?;
    let keys = Keys::load(cx)?;
    let config = topics(cx).await?;
    let only = http::query_param(req, "topic");
    let fresh = http::query_bool(req, "fresh")?.unwrap_or(false);
    let subject = keys.subject(&email);
    let cached = if fresh {
        None
    } else {
        store::cached(cx, std::slice::from_ref(&subject))
            .await?
            .pop()
            .flatten()
    };
    let (snapshot, source) = match cached {
        Some(s) => (s, "kv"),
        None => {
            let loaded = store::load(cx, &keys, &email).await?;
            store::write_through(cx, &loaded.subject, &loaded.snapshot).await;
            (loaded.snapshot, "d1")
        }
    };
    http::json(
        200,
        &view(&email, &config, &snapshot, source, only.as_deref())?,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    topic: String,
    emails: Vec<String>,
}

/// `POST /v1/consent/check`: one topic, up to 1,000 addresses, for list pulls.
pub async fn check(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: CheckBody = http::json_body(&mut req, 256 * 1024).await?;
    if body.emails.is_empty() || body.emails.len() > 1000 {
        return Err(Error::Problem(Problem::validation(vec![FieldError::new(
            "emails",
            "send 1 to 1000 addresses",
        )])));
    }
    let keys = Keys::load(cx)?;
    let config = topics(cx).await?;
    let topic = config
        .topic(&body.topic)
        .ok_or_else(|| {
            Error::Problem(Problem::validation(vec![FieldError::new(
                "topic",
                format!("`{}` is not a configured topic", body.topic),
            )]))
        })?
        .clone();
    let parsed: Vec<Option<String>> = body
        .emails
        .iter()
        .map(|e| Email::parse(e).ok().map(|e| e.as_str().to_string()))
        .collect();
    let subjects: Vec<String> = parsed
        .iter()
        .map(|e| e.as_deref().map(|e| keys.subject(e)).unwrap_or_default())
        .collect();
    let snapshots = store::cached(cx, &subjects).await?;
    let mut results = Vec::with_capacity(parsed.len());
    for ((raw, email), cached) in body.emails.iter().zip(&parsed).zip(snapshots) {
        let Some(email) = email else {
            results
                .push(json!({ "email": raw, "may_send": false, "error": "not a valid address" }));
            continue;
        };
        let snapshot = match cached {
            Some(s) => s,
            None => store::load(cx, &keys, email).await?.snapshot,
        };
        let v = snapshot.verdict(&topic);
        results.push(json!({ "email": email, "may_send": v.may_send, "state": v.state, "suppressed": v.suppressed, "reason": v.reason }));
    }
    http::json(200, &json!({ "topic": topic.id, "results": results }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofInput {
    #[serde(default, deserialize_with = "revops::de::present")]
    pub source_id: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    pub ip: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    pub user_agent: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    pub wording: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    pub wording_version: Option<String>,
    /// When the person gave or withdrew consent (default: now); not in the future.
    #[serde(default, deserialize_with = "revops::de::present")]
    pub at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    email: String,
    action: String,
    #[serde(default, deserialize_with = "revops::de::present")]
    topics: Option<Vec<String>>,
    #[serde(default)]
    proof: ProofInput,
}

pub fn proof(cx: &Cx, source: &str, input: ProofInput) -> Result<Proof> {
    let at = match input.at.as_deref() {
        None => cx.now_ms,
        Some(t) => match revops::time::parse_rfc3339(t) {
            Some(at) if at <= cx.now_ms + 60_000 => at,
            _ => {
                return Err(Error::Problem(Problem::validation(vec![FieldError::new(
                    "proof.at",
                    "must be an RFC 3339 time, not in the future",
                )])))
            }
        },
    };
    Ok(Proof {
        source: source.to_string(),
        source_id: input
            .source_id
            .or_else(|| cx.principal.as_ref().map(|p| p.id.clone())),
        ip: input.ip,
        user_agent: input.user_agent,
        wording: input.wording,
        wording_version: input.wording_version,
        at,
        detail: None,
    })
}

/// The link a pending double opt-in is confirmed with (valid 7 days), if any topic is pending.
pub fn confirm_url(base: &str, keys: &Keys, loaded: &Loaded, now: i64) -> Option<String> {
    let pending: Vec<String> = loaded
        .snapshot
        .topics
        .iter()
        .filter(|(_, s)| **s == TopicState::Pending)
        .map(|(t, _)| t.clone())
        .collect();
    (!pending.is_empty()).then(|| {
        format!(
            "{base}/c/{}",
            token::confirmation(&keys.tokens[0], &loaded.subject, &pending, now + 7 * DAY)
        )
    })
}

/// A link for an erased person to confirm their new opt-in to `topics` (7 days); following it
/// brings them back (`erasure::readmission`).
pub fn readmission_url(
    base: &str,
    keys: &Keys,
    email: &str,
    topics: &[String],
    now: i64,
) -> String {
    format!(
        "{base}/c/{}",
        token::readmission(
            &keys.tokens[0],
            email,
            topics,
            now + 7 * DAY,
            platform::cx::random_bytes()
        )
    )
}

/// What an opt-in does for this person: the change to record — confirmed when a subjects:admin
/// decision readmits an erased person — or, for an erased person whose opt-in is only claimed,
/// nothing but a link to confirm it.
fn opt_in_for(
    loaded: &Loaded,
    topics: Vec<String>,
    subjects_admin: bool,
) -> std::result::Result<(Change, bool), Vec<String>> {
    use revops::consent::erasure::{readmission, Readmission};
    match readmission(loaded.erased, true, false, subjects_admin) {
        Readmission::ConfirmFirst => Err(topics),
        Readmission::Readmit => Ok((
            Change::OptIn {
                topics,
                confirmed: true,
            },
            true,
        )),
        _ => Ok((
            Change::OptIn {
                topics,
                confirmed: false,
            },
            false,
        )),
    }
}

/// The public origin links should point at: `PUBLIC_BASE_URL`, else the request's own origin.
pub fn base_url(cx: &Cx, req: &Request) -> String {
    if let Some(base) = cx.var("PUBLIC_BASE_URL") {
        return base.trim_end_matches('/').to_string();
    }
    let url = req.inner().url();
    revops::intake::form::origin_of_url(&url).unwrap_or_default()
}

/// `POST /v1/consent`: record an opt-in or opt-out with its proof (CRM sync, preference centres).
pub async fn record(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: RecordBody = http::json_body(&mut req, 32 * 1024).await?;
    let email = parse_email(&body.email)?;
    let keys = Keys::load(cx)?;
    let loaded = store::load(cx, &keys, &email).await?;
    let subjects_admin = cx.allows(revops::auth::Scope::SubjectsAdmin);
    let mut readmitted = false;
    let change = match (body.action.as_str(), body.topics) {
        ("opt_in", Some(topics)) => match opt_in_for(&loaded, topics, subjects_admin) {
            Ok((change, by_admin)) => {
                readmitted = by_admin;
                change
            }
            // An erased person: nothing is stored until they confirm.
            Err(topics) => {
                let config = crate::api::topics(cx).await?;
                let mut out = view(&email, &config, &loaded.snapshot, "d1", None)?;
                out["recorded"] = json!([]);
                out["readmission"] = json!("confirmation_required");
                out["confirm_url"] = json!(readmission_url(
                    &base_url(cx, &req),
                    &keys,
                    &email,
                    &topics,
                    cx.now_ms
                ));
                return http::json(200, &out);
            }
        },
        ("opt_in", None) => {
            return Err(Error::Problem(Problem::validation(vec![FieldError::new(
                "topics",
                "name the topics opted into",
            )])))
        }
        ("opt_out", topics) => Change::OptOut { topics },
        _ => {
            return Err(Error::Problem(Problem::validation(vec![FieldError::new(
                "action",
                "is opt_in or opt_out",
            )])))
        }
    };
    let config = topics(cx).await?;
    let mut proof = proof(cx, "api", body.proof)?;
    if readmitted {
        proof.detail = Some(json!({ "readmitted_by": cx.actor(), "authority": "subjects:admin" }));
    }
    let applied = store::apply(cx, &keys, &config, &email, &change, &proof, None).await?;
    let mut out = view(&email, &config, &applied.loaded.snapshot, "d1", None)?;
    out["recorded"] = serde_json::to_value(&applied.events)?;
    out["confirm_url"] = json!(confirm_url(
        &base_url(cx, &req),
        &keys,
        &applied.loaded,
        cx.now_ms
    ));
    http::json(200, &out)
}

pub async fn history(cx: &Cx) -> Result<Response> {
    let email = parse_email(cx.param("email"))?;
    let events = store::history(cx, &email).await?;
    http::json(200, &json!({ "email": email, "events": events }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    email: String,
    /// A topic id, or `*` for every topic.
    topic: String,
}

/// `POST /v1/consent/unsubscribe-tokens`: the link and headers a sender puts in an email.
pub async fn issue_token(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: TokenBody = http::json_body(&mut req, 8 * 1024).await?;
    let base = base_url(cx, &req);
    http::json(201, &unsubscribe_link(cx, &body, &base).await?)
}

/// `POST /internal/consent/unsubscribe-link` `{"email", "topic", "base_url"}`: the same link, for
/// a handler that asks an email to be sent (a workflow's step) and names the public origin.
pub async fn link_for_handler(cx: &Cx, mut req: Request) -> Result<Response> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        email: String,
        topic: String,
        base_url: String,
    }
    let b: Body = http::json_body(&mut req, 8 * 1024).await?;
    let token = TokenBody {
        email: b.email,
        topic: b.topic,
    };
    http::json(
        200,
        &unsubscribe_link(cx, &token, b.base_url.trim_end_matches('/')).await?,
    )
}

/// The one-click unsubscribe link (RFC 8058) for an address and topic, and the headers that
/// carry it, under `base` (the public origin).
async fn unsubscribe_link(cx: &Cx, body: &TokenBody, base: &str) -> Result<Value> {
    let email = parse_email(&body.email)?;
    let config = topics(cx).await?;
    if body.topic != token::ALL_TOPICS && config.topic(&body.topic).is_none() {
        return Err(Error::Problem(Problem::validation(vec![FieldError::new(
            "topic",
            format!("`{}` is not a configured topic (or *)", body.topic),
        )])));
    }
    let keys = Keys::load(cx)?;
    let loaded = store::ensure_subject(cx, &keys, &email).await?;
    if loaded.erased {
        return Err(problem(
            ProblemKind::Gone,
            "this person was erased; do not email them",
        ));
    }
    let t = token::unsubscribe(&keys.tokens[0], &loaded.subject, &body.topic);
    let url = format!("{base}/u/{t}");
    Ok(json!({
        "token": t,
        "url": url,
        "headers": {
            "List-Unsubscribe": format!("<{url}>"),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }))
}

pub async fn get_topics(cx: &Cx) -> Result<Response> {
    http::json(200, &topics(cx).await?)
}

pub async fn put_topics(cx: &Cx, mut req: Request) -> Result<Response> {
    let config: TopicsConfig = http::json_body(&mut req, 64 * 1024).await?;
    let config = config
        .validate()
        .map_err(|e| Error::Problem(Problem::validation(e)))?;
    settings::save(cx, store::TOPICS, &config).await?;
    http::json(200, &config)
}

pub async fn get_providers(cx: &Cx) -> Result<Response> {
    let config: ProvidersConfig = settings::load(cx, store::PROVIDERS).await?;
    http::json(200, &config.view())
}

/// Replaces the providers' configuration (secrets included; they are never shown again).
pub async fn put_providers(cx: &Cx, mut req: Request) -> Result<Response> {
    let config: ProvidersConfig = http::json_body(&mut req, 256 * 1024).await?;
    let config = config
        .validate()
        .map_err(|e| Error::Problem(Problem::validation(e)))?;
    settings::save(cx, store::PROVIDERS, &config).await?;
    http::json(200, &config.view())
}

#[derive(Deserialize)]
struct IntakeBody {
    email: String,
    claim: Option<Value>,
    proof: Proof,
    base_url: String,
    /// The submission's sender holds `subjects:admin` (their opt-in readmits an erased person).
    #[serde(default)]
    subjects_admin: bool,
}

/// `POST /internal/consent/intake`: intake applies a submission's explicit consent. A submission
/// without one changes nothing (an unsubscribe or suppression stands); an explicit opt-in is
/// recorded with its proof and lifts an earlier opt-out, suppression or erasure.
pub async fn for_intake(cx: &Cx, mut req: Request) -> Result<Response> {
    let body: IntakeBody = http::json_body(&mut req, 64 * 1024).await?;
    let email = parse_email(&body.email)?;
    let keys = Keys::load(cx)?;
    let config = topics(cx).await?;
    let claim = match &body.claim {
        Some(v) => {
            Some(Claim::parse(v, "consent").map_err(|e| Error::Problem(Problem::validation(e)))?)
        }
        None => None,
    };
    let plan = claim.as_ref().map(|c| claim::plan(c, &config));
    let unknown = plan.as_ref().map(|p| p.unknown.clone()).unwrap_or_default();
    if !unknown.is_empty() {
        cx.log(
            revops::logging::Level::Warn,
            "consent.claim_unknown_topics",
            json!({ "topics": unknown }),
        );
    }
    let (Some(claim), Some(change)) = (claim, plan.and_then(|p| p.change)) else {
        let loaded = store::load(cx, &keys, &email).await?;
        return http::json(
            200,
            &json!({ "recorded": [], "verdicts": verdicts(&config, &loaded.snapshot, None)?, "confirm_url": null, "unknown_topics": unknown }),
        );
    };
    let mut proof = body.proof;
    proof.wording = claim.wording;
    proof.wording_version = claim.wording_version;
    let change = if let Change::OptIn { topics, .. } = change {
        let loaded = store::load(cx, &keys, &email).await?;
        match opt_in_for(&loaded, topics, body.subjects_admin) {
            Ok((change, by_admin)) => {
                if by_admin {
                    proof.detail = Some(json!({ "authority": "subjects:admin" }));
                }
                change
            }
            Err(topics) => {
                return http::json(
                    200,
                    &json!({
                        "recorded": [],
                        "verdicts": verdicts(&config, &loaded.snapshot, None)?,
                        "readmission": "confirmation_required",
                        "confirm_url": readmission_url(&body.base_url, &keys, &email, &topics, cx.now_ms),
                    }),
                );
            }
        }
    } else {
        change
    };
    let applied = store::apply(cx, &keys, &config, &email, &change, &proof, None).await?;
    http::json(
        200,
        &json!({
            "recorded": applied.events,
            "verdicts": verdicts(&config, &applied.loaded.snapshot, None)?,
            "confirm_url": confirm_url(&body.base_url, &keys, &applied.loaded, cx.now_ms),
            "unknown_topics": unknown,
        }),
    )
}
