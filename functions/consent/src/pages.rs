//! The pages people reach from emails, without JavaScript: one-click unsubscribe (RFC 8058)
//! and the preference page at `/u/{token}`, and double opt-in confirmation at `/c/{token}`.
//! Confirmation needs a button press (a POST), so link scanners that open every URL in an email
//! cannot confirm on the person's behalf.

use revops::consent::ledger::{Change, Proof};
use revops::consent::token::{self, ALL_TOPICS};
use revops::consent::TopicState;
use revops::html::{escape, page};
use revops::logging::mask_email;
use worker::{Request, Response};

use crate::api::topics;
use crate::store::{self, Keys};
use platform::{http, Cx, Result};

/// A link we cannot honour: 404 for one we did not issue (or that was damaged or altered), 410
/// for one that expired; nothing else about it is revealed.
fn broken_link(e: &token::TokenError) -> Result<Response> {
    let status = match e {
        token::TokenError::Expired => 410,
        _ => 404,
    };
    link_page(status, &e.to_string())
}

/// A request to a working link that does not say what to do.
fn invalid(why: &str) -> Result<Response> {
    link_page(400, why)
}

fn link_page(status: u16, why: &str) -> Result<Response> {
    http::html(
        status,
        page(
            "This link does not work",
            &format!(
                "<p>{}. If you copied it from an email, make sure you copied all of it.</p>",
                escape(why)
            ),
        ),
    )
}

fn topic_name(config: &revops::consent::TopicsConfig, id: &str) -> String {
    if id == ALL_TOPICS {
        "all our emails".into()
    } else {
        config
            .topic(id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| id.to_string())
    }
}

fn proof(req: &Request, source: &str, cx: &Cx) -> Proof {
    Proof {
        source: source.into(),
        source_id: None,
        ip: http::client_ip(req),
        user_agent: http::header(req, "user-agent"),
        wording: None,
        wording_version: None,
        at: cx.now_ms,
        detail: None,
    }
}

/// `GET /u/{token}`: what the link would do, with buttons to do it.
pub async fn preferences(cx: &Cx) -> Result<Response> {
    let keys = Keys::load(cx)?;
    let (subject, topic) = match token::open_unsubscribe(&keys.token_keys(), cx.param("token")) {
        Ok(t) => t,
        Err(e) => return broken_link(&e),
    };
    let config = topics(cx).await?;
    let Some(loaded) = store::load_by_subject(cx, &subject).await? else {
        return http::html(
            200,
            page(
                "You will not hear from us",
                "<p>We hold no contact details for this address any more.</p>",
            ),
        );
    };
    let name = topic_name(&config, &topic);
    let opted_out = if topic == ALL_TOPICS {
        config
            .topics
            .iter()
            .all(|t| loaded.snapshot.state(&t.id) == TopicState::OptedOut)
    } else {
        loaded.snapshot.state(&topic) == TopicState::OptedOut
    };
    let action = format!("/u/{}", escape(cx.param("token")));
    let who = escape(&mask_email(&loaded.email));
    let body = if opted_out {
        format!(
            "<p>{who} is unsubscribed from {}.</p>\
             <form method=\"post\" action=\"{action}\"><button name=\"action\" value=\"resubscribe\">Subscribe again</button></form>",
            escape(&name)
        )
    } else {
        let mut b = format!(
            "<p>Stop sending {} to {who}?</p><form method=\"post\" action=\"{action}\">",
            escape(&name)
        );
        if topic != ALL_TOPICS {
            b.push_str(&format!("<p><button name=\"action\" value=\"unsubscribe_topic\">Unsubscribe from {}</button></p>", escape(&name)));
        }
        b.push_str("<p><button name=\"action\" value=\"unsubscribe_all\">Unsubscribe from all our emails</button></p></form>");
        b
    };
    http::html(200, page("Your email preferences", &body))
}

/// `POST /u/{token}`: `List-Unsubscribe=One-Click` from a mail client (RFC 8058) unsubscribes at
/// once; the preference page's buttons send `action=…`.
pub async fn unsubscribe(cx: &Cx, mut req: Request) -> Result<Response> {
    let keys = Keys::load(cx)?;
    let (subject, topic) = match token::open_unsubscribe(&keys.token_keys(), cx.param("token")) {
        Ok(t) => t,
        Err(e) => return broken_link(&e),
    };
    let content_type = http::header(&req, "content-type").unwrap_or_default();
    let body = http::body_bytes(&mut req, 8 * 1024).await?;
    let post = revops::consent::unsubscribe_post(&content_type, &body);
    let one_click = post == revops::consent::UnsubscribePost::OneClick;
    let action = match &post {
        revops::consent::UnsubscribePost::Action(a) => Some(a.as_str()),
        _ => None,
    };
    let config = topics(cx).await?;
    let (change, source) = match (one_click, action) {
        (true, _) | (false, Some("unsubscribe_topic")) => (
            Change::OptOut {
                topics: (topic != ALL_TOPICS).then(|| vec![topic.clone()]),
            },
            if one_click {
                "unsubscribe_link"
            } else {
                "preference_page"
            },
        ),
        (false, Some("unsubscribe_all")) => (Change::OptOut { topics: None }, "preference_page"),
        (false, Some("resubscribe")) => {
            let topics = if topic == ALL_TOPICS {
                config.topics.iter().map(|t| t.id.clone()).collect()
            } else {
                vec![topic.clone()]
            };
            (
                Change::OptIn {
                    topics,
                    confirmed: true,
                },
                "preference_page",
            )
        }
        _ => return invalid("the request did not say what to do"),
    };
    let Some(loaded) = store::load_by_subject(cx, &subject).await? else {
        // Erased or never known: there is nothing to unsubscribe, and nothing will be sent.
        return http::html(
            200,
            page(
                "You are unsubscribed",
                "<p>You will not receive these emails.</p>",
            ),
        );
    };
    store::apply(
        cx,
        &keys,
        &config,
        &loaded.email,
        &change,
        &proof(&req, source, cx),
        None,
    )
    .await?;
    let message = match &change {
        Change::OptIn { .. } => format!(
            "<p>You are subscribed again to {}.</p>",
            escape(&topic_name(&config, &topic))
        ),
        Change::OptOut { topics: None } => {
            "<p>You are unsubscribed from all our emails.</p>".to_string()
        }
        _ => format!(
            "<p>You are unsubscribed from {}.</p>",
            escape(&topic_name(&config, &topic))
        ),
    };
    http::html(200, page("Your preferences are saved", &message))
}

/// What a confirmation link confirms: a pending double opt-in (by subject), or an erased
/// person's new opt-in (their address travels encrypted in the link).
enum Confirms {
    Pending(String, Vec<String>),
    Readmission(String, Vec<String>),
}

fn open_link(
    keys: &Keys,
    token: &str,
    now: i64,
) -> std::result::Result<Confirms, token::TokenError> {
    if token.starts_with("r1.") {
        token::open_readmission(&keys.token_keys(), token, now)
            .map(|(email, topics)| Confirms::Readmission(email, topics))
    } else {
        token::open_confirmation(&keys.token_keys(), token, now)
            .map(|(subject, topics)| Confirms::Pending(subject, topics))
    }
}

/// `GET /c/{token}`: the double opt-in confirmation page.
pub async fn confirm_page(cx: &Cx) -> Result<Response> {
    let keys = Keys::load(cx)?;
    match open_link(&keys, cx.param("token"), cx.now_ms) {
        Err(e) => broken_link(&e),
        Ok(Confirms::Pending(_, topics) | Confirms::Readmission(_, topics)) => {
            let config = crate::api::topics(cx).await?;
            let names: Vec<String> = topics
                .iter()
                .map(|t| escape(&topic_name(&config, t)))
                .collect();
            http::html(
                200,
                page(
                    "Confirm your subscription",
                    &format!(
                        "<p>Please confirm you want to receive: {}.</p><form method=\"post\" action=\"/c/{}\"><button>Confirm</button></form>",
                        names.join(", "),
                        escape(cx.param("token"))
                    ),
                ),
            )
        }
    }
}

/// `POST /c/{token}`: confirms the pending opt-in the link was issued for — for an erased person,
/// their new opt-in, which brings them back.
pub async fn confirm(cx: &Cx, req: Request) -> Result<Response> {
    let keys = Keys::load(cx)?;
    let (email, topics, source) = match open_link(&keys, cx.param("token"), cx.now_ms) {
        Err(e) => return broken_link(&e),
        Ok(Confirms::Readmission(email, topics)) => (email, topics, "readmission_link"),
        Ok(Confirms::Pending(subject, topics)) => match store::load_by_subject(cx, &subject).await?
        {
            Some(loaded) => (loaded.email, topics, "confirmation_link"),
            None => return link_page(404, "this subscription no longer exists"),
        },
    };
    let config = crate::api::topics(cx).await?;
    let change = Change::OptIn {
        topics,
        confirmed: true,
    };
    store::apply(
        cx,
        &keys,
        &config,
        &email,
        &change,
        &proof(&req, source, cx),
        None,
    )
    .await?;
    http::html(
        200,
        page(
            "Subscription confirmed",
            "<p>Thank you, you are subscribed.</p>",
        ),
    )
}
