//! `POST /hooks/email/{provider}`: bounce, complaint and unsubscribe feedback from SendGrid,
//! Postmark, Mailgun and Amazon SES (through SNS), authenticated by each provider's scheme before
//! anything changes; every event is applied once (its id is kept as a receipt).

use revops::consent::ledger::Proof;
use revops::consent::providers::{
    mailgun, postmark, sendgrid, ses, Feedback, Provider, ProviderError, ProvidersConfig,
    SignatureCheck,
};
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::time::DAY;
use serde_json::{json, Value};
use worker::{Method, Request, Response};

use crate::api::topics;
use crate::store::{self, Keys};
use platform::{http, problem, settings, Cx, Error, Result};

const MAX_BODY: usize = 1024 * 1024;

fn refuse(e: ProviderError) -> Error {
    match e {
        ProviderError::NotConfigured => problem(
            ProblemKind::NotFound,
            "this email provider is not configured",
        ),
        ProviderError::Unauthenticated(why) => problem(ProblemKind::InvalidSignature, why),
        ProviderError::Stale => problem(ProblemKind::StaleTimestamp, e.to_string()),
        ProviderError::Payload(why) => {
            Error::Problem(Problem::validation(vec![FieldError::new("body", why)]))
        }
    }
}

async fn verified(check: &SignatureCheck) -> Result<()> {
    if platform::crypto::verify(check).await? {
        Ok(())
    } else {
        Err(problem(
            ProblemKind::InvalidSignature,
            "the signature does not verify",
        ))
    }
}

/// The SNS signing certificate: pinned in the configuration, cached in KV, or fetched (the URL was
/// checked to be an Amazon SNS certificate URL before this is called).
async fn certificate(cx: &Cx, config: &ses::Config, url: &str) -> Result<String> {
    if let Some(pem) = config.certificates.get(url) {
        return Ok(pem.clone());
    }
    let key = format!("sns-cert:{url}");
    let kv = cx.kv(platform::cache::CONFIG)?;
    if let Some(pem) = kv.get(&key).text().await? {
        return Ok(pem);
    }
    // A certificate we cannot fetch is Amazon's (or the network's) failure, not ours: 502.
    let unreachable = |why: String| {
        problem(
            ProblemKind::DependencyFailed,
            format!("the SNS signing certificate could not be fetched ({why}); pin it in the SES configuration's `certificates`"),
        )
    };
    let mut res = worker::Fetch::Request(Request::new(url, Method::Get)?)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if res.status_code() != 200 {
        return Err(unreachable(format!("it answered {}", res.status_code())));
    }
    let pem = res.text().await?;
    kv.put(&key, &pem)?.expiration_ttl(86_400).execute().await?;
    Ok(pem)
}

pub async fn receive(cx: &Cx, mut req: Request) -> Result<Response> {
    let provider = Provider::parse(cx.param("provider"))
        .ok_or_else(|| problem(ProblemKind::NotFound, "unknown email provider"))?;
    let config: ProvidersConfig = settings::load(cx, store::PROVIDERS).await?;
    let body = http::body_bytes(&mut req, MAX_BODY).await?;
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let not_configured = || refuse(ProviderError::NotConfigured);
    let feedback: Vec<Feedback> = match provider {
        Provider::Sendgrid => {
            let c = config.sendgrid.as_ref().ok_or_else(not_configured)?;
            verified(&sendgrid::prepare(c, &headers, &body).map_err(refuse)?).await?;
            sendgrid::parse(&body).map_err(refuse)?
        }
        Provider::Postmark => {
            let c = config.postmark.as_ref().ok_or_else(not_configured)?;
            postmark::authenticate(c, &headers).map_err(refuse)?;
            postmark::parse(&body).map_err(refuse)?
        }
        Provider::Mailgun => {
            let c = config.mailgun.as_ref().ok_or_else(not_configured)?;
            let json: Value = http::parse_json(&body)?;
            let token = mailgun::verify(c, &json, cx.now_ms).map_err(refuse)?;
            if !receipt(cx, "mailgun-token", &token, cx.now_ms + 2 * DAY).await? {
                return Err(problem(
                    ProblemKind::Replayed,
                    "this Mailgun token was already used",
                ));
            }
            mailgun::parse(&json).map_err(refuse)?
        }
        Provider::Ses => {
            let c = config.ses.as_ref().ok_or_else(not_configured)?;
            let envelope = ses::envelope(c, &body).map_err(refuse)?;
            let pem = certificate(cx, c, &envelope.signing_cert_url).await?;
            verified(&envelope.check(&pem).map_err(refuse)?).await?;
            // After the signature: a replayed old message verifies, so its age is checked too.
            envelope.fresh(c, cx.now_ms).map_err(refuse)?;
            match envelope.kind {
                ses::MessageType::SubscriptionConfirmation => {
                    let url = envelope.subscribe_url.as_deref().ok_or_else(|| {
                        refuse(ProviderError::Payload("SubscribeURL is missing".into()))
                    })?;
                    let res = worker::Fetch::Request(Request::new(url, Method::Get)?)
                        .send()
                        .await
                        .map_err(|e| {
                            problem(
                                ProblemKind::DependencyFailed,
                                format!("confirming the SNS subscription failed: {e}"),
                            )
                        })?;
                    if !(200..300).contains(&res.status_code()) {
                        return Err(problem(
                            ProblemKind::DependencyFailed,
                            format!(
                                "confirming the SNS subscription answered {}",
                                res.status_code()
                            ),
                        ));
                    }
                    cx.log(
                        revops::logging::Level::Info,
                        "ses.subscription_confirmed",
                        json!({ "topic_arn": envelope.topic_arn }),
                    );
                    return http::json(
                        200,
                        &json!({ "received": true, "confirmed_subscription": envelope.topic_arn }),
                    );
                }
                ses::MessageType::UnsubscribeConfirmation => {
                    return http::json(200, &json!({ "received": true }))
                }
                ses::MessageType::Notification => envelope.feedback(),
            }
        }
    };
    let keys = Keys::load(cx)?;
    let topics = topics(cx).await?;
    let (mut applied, mut duplicates) = (0, 0);
    let source = format!("provider:{}", provider.name());
    for f in &feedback {
        let proof = Proof {
            source: source.clone(),
            source_id: Some(f.event_id.clone()),
            at: if f.at > 0 {
                f.at.min(cx.now_ms)
            } else {
                cx.now_ms
            },
            detail: Some(f.detail.clone()),
            ..Proof::default()
        };
        let once = store::Once {
            source: &source,
            id: &f.event_id,
            expires_at: cx.now_ms + 30 * DAY,
        };
        match store::apply(
            cx,
            &keys,
            &topics,
            &f.email,
            &f.kind.change(),
            &proof,
            Some(&once),
        )
        .await
        {
            Ok(_) => applied += 1,
            Err(Error::Problem(p)) if p.kind == ProblemKind::Replayed => duplicates += 1,
            Err(e) => return Err(e),
        }
    }
    http::json(
        200,
        &json!({ "received": true, "events": feedback.len(), "applied": applied, "duplicates": duplicates }),
    )
}

/// Records that a request was seen (Mailgun tokens); `false` if it already was.
async fn receipt(cx: &Cx, source: &str, id: &str, expires_at: i64) -> Result<bool> {
    platform::receipts::insert_once(
        &cx.db,
        &platform::receipts::Receipt {
            source,
            message_id: id,
            received_at: cx.now_ms,
            expires_at,
            body_digest: None,
        },
    )
    .await
}
