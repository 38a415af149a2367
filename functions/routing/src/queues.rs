//! Queues as first-class places: what waits in each (oldest first, with its age), and a rep
//! claiming a lead from one — recorded, explained and announced like any assignment, and held to
//! the rep's capacity in the same guarded write.

use revops::problem::{FieldError, Problem, ProblemKind};
use revops::routing::queue::{self, Member};
use revops::routing::roster::Load;
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

use crate::api::webhook_data;
use crate::store::{self, NewAssignment};
use platform::{args, http, outbox, Cx, Error, Result};

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
    #[derive(Deserialize)]
    struct Row {
        queue: String,
        n: i64,
        oldest: Option<i64>,
    }
    let rows: Vec<Row> = cx
        .db
        .all(
            "SELECT queue, COUNT(*) AS n, MIN(assigned_at) AS oldest FROM assignments \
             WHERE current = 1 AND status = 'open' AND queue IS NOT NULL GROUP BY queue ORDER BY n DESC, queue",
            args![],
        )
        .await?;
    let queues: Vec<_> = rows
        .iter()
        .map(|r| queue::summary_view(&r.queue, r.n, r.oldest, cx.now_ms))
        .collect();
    http::json(200, &json!({ "queues": queues }))
}

#[derive(Deserialize)]
struct MemberRow {
    id: String,
    lead_id: String,
    assigned_at: i64,
    via: String,
    rule_id: Option<String>,
    fallback_reason: Option<String>,
    email: Option<String>,
    company: Option<String>,
    country: Option<String>,
}

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Member {
        Member {
            assignment_id: r.id,
            lead_id: r.lead_id,
            assigned_at: r.assigned_at,
            via: r.via,
            rule: r.rule_id,
            fallback_reason: r.fallback_reason,
            email: r.email,
            company: r.company,
            country: r.country,
        }
    }
}

const MEMBER_SQL: &str = "SELECT a.id AS id, a.lead_id AS lead_id, a.assigned_at AS assigned_at, a.via AS via, a.rule_id AS rule_id, \
     a.fallback_reason AS fallback_reason, l.email AS email, json_extract(l.data, '$.company') AS company, json_extract(l.data, '$.country') AS country \
     FROM assignments a LEFT JOIN leads l ON l.id = a.lead_id \
     WHERE a.queue = ?1 AND a.current = 1 AND a.status = 'open' AND a.queue IS NOT NULL";

/// `GET /v1/queues/{id}?limit=`: the leads waiting, oldest first, with how long each waited.
pub async fn get(cx: &Cx, req: &Request) -> Result<Response> {
    let name = queue_name(cx)?;
    let limit = http::query_int(req, "limit", 1, 500)?.unwrap_or(100);
    #[derive(Deserialize)]
    struct Count {
        n: i64,
        oldest: Option<i64>,
    }
    let mut reads = cx
        .db
        .read_batch(vec![
            cx.db.stmt(
                &format!("{MEMBER_SQL} ORDER BY a.assigned_at LIMIT ?2"),
                args![&name, limit],
            )?,
            cx.db.stmt(
                "SELECT COUNT(*) AS n, MIN(assigned_at) AS oldest FROM assignments \
                 WHERE queue = ? AND current = 1 AND status = 'open' AND queue IS NOT NULL",
                args![&name],
            )?,
        ])
        .await?
        .into_iter();
    let members = platform::db::rows::<MemberRow>("queue", reads.next().unwrap_or_default())?;
    let count = platform::db::rows::<Count>("queue", reads.next().unwrap_or_default())?.pop();
    let mut view = queue::summary_view(
        &name,
        count.as_ref().map_or(0, |c| c.n),
        count.and_then(|c| c.oldest),
        cx.now_ms,
    );
    view["leads"] = json!(members
        .into_iter()
        .map(|m| queue::member_view(&Member::from(m), cx.now_ms))
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
    let member: Option<MemberRow> = match &body.lead_id {
        Some(lead) => {
            cx.db
                .first(
                    &format!("{MEMBER_SQL} AND a.lead_id = ?2"),
                    args![&name, lead],
                )
                .await?
        }
        None => {
            cx.db
                .first(
                    &format!("{MEMBER_SQL} ORDER BY a.assigned_at LIMIT 1"),
                    args![&name],
                )
                .await?
        }
    };
    let Some(member) = member.map(Member::from) else {
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
