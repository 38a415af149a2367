//! Queues as first-class places: what waits in each (oldest first, with its age), and a rep
//! claiming a lead from one — recorded, explained and announced like any assignment, and held to
//! the rep's capacity in the same guarded write.

use revops::problem::{FieldError, Problem, ProblemKind};
use revops::routing::queue;
use revops::routing::roster::Load;
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use crate::api::webhook_data;
use crate::store::{self, NewAssignment};
use platform::{http, outbox, Cx, Error, Result};

fn queue_name(cx: &Cx) -> Result<String> {
    let q = cx.param("queue_id").trim().to_string();
    if q.is_empty() || q.chars().count() > 100 {
        return Err(Error::Problem(Problem::validation(vec![FieldError::new(
            "queue_id",
            "a queue name of 1 to 100 characters",
        )])));
    }
    Ok(q)
}

/// `GET /v1/queues`: every queue with leads waiting, how many and since when.
pub async fn list(cx: &Cx) -> Result<Response> {
    let rows = store::queue_summaries(cx).await?;
    let queues: Vec<_> = rows
        .iter()
        .map(|(name, n, oldest)| queue::summary_view(name, *n, *oldest, cx.now_ms))
        .collect();
    http::json(200, &json!({ "queues": queues }))
}

/// `GET /v1/queues/{id}?limit=`: the leads waiting, oldest first, with how long each waited.
pub async fn get(cx: &Cx, req: &Request) -> Result<Response> {
    let name = queue_name(cx)?;
    let limit = http::query_int(req, "limit", 1, 500)?.unwrap_or(100);
    let (members, count) = store::queue_members(cx, &name, limit).await?;
    let mut view = queue::summary_view(&name, count.n, count.oldest, cx.now_ms);
    view["leads"] = json!(members
        .into_iter()
        .map(|m| queue::member_view(&m, cx.now_ms))
        .collect::<Vec<_>>());
    http::json(200, &view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    rep: String,
    #[serde(default)]
    lead_id: Option<String>,
}

fn conflict(detail: String) -> Error {
    Error::Problem(Problem::new(ProblemKind::Conflict, detail))
}

/// `POST /v1/queues/{id}/claim` `{"rep": id, "lead_id": optional}`: the rep takes the lead (the
/// oldest when none is named) from the queue.
pub async fn claim(cx: &Cx, mut req: Request) -> Result<Response> {
    let name = queue_name(cx)?;
    let body: Claim = http::json_body(&mut req, 4096).await?;
    let reps = store::reps(cx).await?;
    let rep = reps.get(&body.rep);
    if rep.is_none() {
        return Err(Error::Problem(Problem::validation(vec![FieldError::new(
            "rep",
            format!("`{}` is not on the roster", body.rep),
        )])));
    }
    let member = store::queue_member(cx, &name, body.lead_id.as_deref()).await?;
    let Some(member) = member else {
        return Err(Error::Problem(Problem::not_found(match &body.lead_id {
            Some(lead) => format!("lead {lead} waiting in queue {name}"),
            None => format!("a lead waiting in queue {name}"),
        })));
    };
    let only = revops::Map::from_iter([(body.rep.clone(), rep.cloned().expect("checked"))]);
    let load: Load = store::loads(cx, &only, cx.now_ms)
        .await?
        .get(&body.rep)
        .copied()
        .unwrap_or_default();
    if let Some(reason) = queue::claim_refusal(rep, load) {
        return Err(conflict(format!(
            "{} cannot claim a lead now: {reason}",
            body.rep
        )));
    }
    let rep = rep.expect("checked");
    let lead = store::lead(cx, &member.lead_id).await?;
    let previous = store::current(cx, &member.lead_id).await?;
    let a = NewAssignment {
        id: cx.new_id(revops::ids::prefix::ASSIGNMENT),
        lead_id: &member.lead_id,
        rep: Some(rep),
        queue: None,
        team: None,
        rule: None,
        via: "claim",
        reason: "claim",
        fallback_reason: None,
        config_version: store::active(cx).await?.0,
        explanation: queue::claim_explanation(
            &cx.actor(),
            rep,
            &name,
            member.assigned_at,
            load,
            cx.now_ms,
        )
        .to_string(),
        replaces: Some(member.assignment_id.clone()),
        guard_capacity: true,
        races_lost: 0,
        ended_reason: "claimed",
        slot: None,
    };
    let data = webhook_data(&lead, &a, previous.as_ref());
    if store::write(cx, &a, &data).await? != store::Written::Stored {
        let now_current = store::current(cx, &member.lead_id).await?;
        return Err(conflict(
            if now_current.map(|r| r.id) != Some(member.assignment_id) {
                format!(
                    "lead {} was claimed or moved meanwhile; read the queue again",
                    member.lead_id
                )
            } else {
                format!("{} filled up meanwhile: capacity reached", rep.id)
            },
        ));
    }
    outbox::deliver_soon(cx, &a.id);
    let row = store::current(cx, &member.lead_id)
        .await?
        .ok_or_else(|| Error::internal("the assignment vanished"))?;
    http::json(201, &row.view(Some(&reps)))
}

/// `POST /internal/assignments/{id}/touched` `{"at": ms}`: the SLA handler saw the assignment's
/// first qualifying touch. A rep who becomes unavailable keeps the leads they have touched.
pub async fn touched(cx: &Cx, mut req: Request) -> Result<Response> {
    #[derive(Deserialize)]
    struct Body {
        at: i64,
    }
    let body: Body = http::json_body(&mut req, 1024).await?;
    store::mark_touched(cx, cx.param("assignment_id"), body.at).await?;
    http::no_content()
}
