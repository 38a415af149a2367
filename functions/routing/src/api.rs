//! Routing a lead, explaining where it went, and moving it by hand.

use revops::intake::lead::Lead;
use revops::logging::Level;
use revops::problem::{FieldError, Problem, ProblemKind};
use revops::routing::decide::{self, Decision, Inputs, NeedSlot};
use revops::routing::roster::Rep;
use revops::routing::{self, Refused};
use revops::scoring::condition::RoutingFacts;
use revops::time::rfc3339;
use revops::Map;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Request, Response};

use crate::store::{self, AssignmentRow, NewAssignment, Written};
use platform::retry::{self, Attempt};
use platform::{http, outbox, Cx, Error, Result};

/// Why a lead is being routed.
#[derive(Clone, Copy)]
pub struct Why<'a> {
    /// `mql`, `api`, `reroute`, `sla`.
    pub reason: &'a str,
    /// Route even if the lead has an owner (replacing that assignment).
    pub force: bool,
    /// Keep the lead away from this rep (its current owner, for an escalation).
    pub exclude: Option<&'a str>,
    /// Recorded as why the previous assignment ended.
    pub ended_reason: &'a str,
    /// Act only while this assignment is the lead's current one (an SLA reassignment that is
    /// retried must not move the lead twice).
    pub only_if_current: Option<&'a str>,
    /// The lead and its scores as the caller just wrote them (scoring's MQL hand-off), so the
    /// decision need not read them again.
    pub given: Option<(&'a Lead, &'a RoutingFacts)>,
}

pub fn webhook_data(lead: &Lead, a: &NewAssignment, previous: Option<&AssignmentRow>) -> Value {
    json!({
        "assignment_id": a.id,
        "lead": {
            "id": lead.id, "email": lead.email, "first_name": lead.first_name,
            "last_name": lead.last_name, "company": lead.company, "country": lead.country,
        },
        "owner": match (a.rep, &a.queue) {
            (Some(r), _) => json!({ "type": "rep", "id": r.id, "name": r.name, "email": r.email }),
            (None, Some(q)) => json!({ "type": "queue", "id": q }),
            _ => Value::Null,
        },
        "previous_owner": previous.map(AssignmentRow::owner),
        "via": a.via, "rule": a.rule, "team": a.team, "reason": a.reason,
        "explain_url": format!("/v1/leads/{}/routing", lead.id),
    })
}

/// Routes a lead through the active rules and stores the assignment. Returns the assignment's
/// view and whether a new one was made (`false`: the lead already had an owner).
pub async fn route_lead(cx: &Cx, lead_id: &str, why: Why<'_>) -> Result<(Value, bool)> {
    let (version, config) = store::active(cx).await?;
    let store::DecisionReads {
        lead,
        current: existing,
        scores,
        account,
        reps,
        teams,
        loads,
        cursors,
    } = store::decision_reads(cx, &config, lead_id, why.given).await?;
    let current = existing.as_ref().map(|r| routing::Current {
        id: &r.id,
        open: r.status == store::AssignmentStatus::Open,
    });
    if routing::reroute(current, why.force, why.only_if_current) == routing::Reroute::Keep {
        let view = existing
            .as_ref()
            .map(|r| r.view(None))
            .unwrap_or(Value::Null);
        return Ok((view, false));
    }
    let facts = store::facts(&lead, &scores, account.as_ref());
    let owner = account.as_ref().and_then(|a| a.owner.as_deref());
    let considered: Map<String, Rep> = config
        .reps_considered(&teams, owner)
        .into_iter()
        .filter_map(|id| reps.get(&id).map(|r| (id, r.clone())))
        .collect();
    let mut replaces = existing.as_ref().map(|r| r.id.clone());
    let mut previous = existing;
    // Reps whose capacity guard refused this lead: each attempt skips one more, so the decision
    // moves to the next eligible candidate and, at worst, to the fallback — never over capacity.
    let mut lost_race: Vec<String> = Vec::new();
    // The first attempt decides on the loads read with everything else; a retry (a lost race)
    // reads the considered reps' loads afresh.
    let mut first_loads = Some(loads);
    // The first decision claims its round-robin slot from the position read with everything
    // else, in the write itself; once another routing took a slot first, slots are drawn.
    let mut claim_slots = true;
    retry::optimistic(retry::contended(format!("routing {lead_id}")), async |_| {
        let loads = match first_loads.take() {
            Some(loads) => loads,
            None => store::loads(cx, &considered, cx.now_ms).await?,
        };
        let slots = Map::default();
        let inputs = |slots| Inputs {
            config: &config,
            version,
            facts: &facts,
            account: account.as_ref(),
            reps: &reps,
            teams: &teams,
            loads: &loads,
            now: cx.now_ms,
            slots,
            exclude: why.exclude,
            lost_race: &lost_race,
        };
        let first = decide::decide(&inputs(&slots));
        let mut slot = None;
        let decision: Decision = match first {
            Ok(d) => d,
            Err(NeedSlot(team)) => {
                let position = if claim_slots {
                    let seen = cursors.get(&team).copied().unwrap_or(0);
                    slot = Some(store::SlotClaim {
                        team: team.clone(),
                        seen,
                    });
                    seen
                } else {
                    store::draw_slot(cx, &team).await?
                };
                let drawn = Map::from_iter([(team, position)]);
                decide::decide(&inputs(&drawn)).map_err(|NeedSlot(t)| {
                    Error::internal(format!("team {t} asked for a second slot"))
                })?
            }
        };
        let (rep, queue) = routing::recorded_owner(&decision.owner, |id| reps.get(id));
        let a = NewAssignment {
            id: cx.new_id(revops::ids::prefix::ASSIGNMENT),
            lead_id,
            rep,
            queue,
            team: decision.team.clone(),
            rule: decision.rule.clone(),
            via: decision.via.as_str(),
            reason: why.reason,
            fallback_reason: decision.fallback_reason,
            config_version: version,
            explanation: decision.explanation.to_json(),
            replaces: replaces.clone(),
            // Every automatic assignment holds the rep's limits in the write itself.
            guard_capacity: true,
            races_lost: lost_race.len(),
            ended_reason: why.ended_reason,
            slot,
        };
        let data = webhook_data(&lead, &a, previous.as_ref());
        let written = store::write(cx, &a, &data).await?;
        if written == Written::Stored {
            outbox::deliver_soon(cx, &a.id);
            cx.log(
                Level::Info,
                "routing.assigned",
                json!({ "lead_id": lead_id, "assignment_id": a.id, "owner": decision.owner, "via": a.via, "rule": a.rule, "reason": why.reason }),
            );
            return Ok(Attempt::Done((a.row(cx).view(Some(&reps)), true)));
        }
        if written == Written::SlotTaken {
            // A concurrent routing of the same team went first: decide again on fresh loads,
            // drawing the slot (an atomic advance) rather than racing for it again.
            cx.log(
                Level::Info,
                "routing.slot_taken",
                json!({ "lead_id": lead_id, "team": a.team }),
            );
            claim_slots = false;
            return Ok(Attempt::Again);
        }
        // The guard refused: either someone else changed the lead's owner, or the rep filled up.
        let now_current = store::current(cx, lead_id).await?;
        let now_id = now_current.as_ref().map(|r| r.id.as_str());
        match routing::after_refusal(replaces.as_deref(), now_id, why.force) {
            Refused::KeepTheirs => {
                let view = now_current.as_ref().map(|r| r.view(Some(&reps)));
                return Ok(Attempt::Done((view.unwrap_or(Value::Null), false)));
            }
            Refused::ReplaceTheirs(theirs) => {
                replaces = theirs;
                previous = now_current;
            }
            Refused::CapacityRaceLost => {
                if let Some(rep) = a.rep {
                    cx.log(
                        Level::Info,
                        "routing.capacity_race_lost",
                        json!({ "lead_id": lead_id, "rep": rep.id }),
                    );
                    lost_race.push(rep.id.clone());
                }
            }
        }
        Ok(Attempt::Again)
    })
    .await
}

/// `POST /v1/leads/{id}/route`'s body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RouteBody {
    #[serde(default, deserialize_with = "revops::de::present")]
    force: Option<bool>,
}

/// The internal hand-off's body: scoring (an MQL) and SLA (a breached lead to move on).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HandOff {
    #[serde(default)]
    force: bool,
    /// `mql`, `sla`.
    reason: Option<String>,
    /// Keep the lead away from this rep (its current owner).
    exclude: Option<String>,
    /// Act only while this assignment is the lead's current one.
    only_if_current: Option<String>,
    /// The cron tick's time: the decision (availability, hours) happens then.
    at: Option<i64>,
    /// Scoring's MQL hand-off: the lead and its scores as just written (both or neither).
    lead: Option<Lead>,
    scores: Option<RoutingFacts>,
}

/// `POST /v1/leads/{id}/route` (and the internal hand-off from scoring and SLA).
pub async fn route(mut cx: Cx, mut req: Request, internal: bool) -> Result<Response> {
    let id = cx.param("lead_id").to_string();
    let body: HandOff = if internal {
        http::optional_json_body(&mut req, 16 * 1024).await?
    } else {
        let public: RouteBody = http::optional_json_body(&mut req, 16 * 1024).await?;
        HandOff {
            force: public.force.unwrap_or(false),
            reason: Some("api".into()),
            ..HandOff::default()
        }
    };
    if let Some(at) = body.at {
        cx.now_ms = cx.now_ms.max(at);
    }
    let cx = &cx;
    // Scoring's hand-off carries the lead it routes and that lead's scores, both or neither;
    // anything else is a bug in the caller, not something to route on.
    let given = match (&body.lead, &body.scores) {
        (None, None) => None,
        (Some(lead), Some(scores)) if lead.id == id => Some((lead, scores)),
        _ => {
            return Err(Error::internal(format!(
                "the hand-off of {id} carried another lead, or a lead without its scores"
            )))
        }
    };
    let reason = body.reason.clone().unwrap_or_else(|| "mql".into());
    let ended_reason = if reason == "sla" {
        "sla_breached"
    } else {
        "rerouted"
    };
    let (view, routed) = route_lead(
        cx,
        &id,
        Why {
            reason: &reason,
            force: body.force,
            exclude: body.exclude.as_deref(),
            ended_reason,
            only_if_current: body.only_if_current.as_deref(),
            given,
        },
    )
    .await?;
    http::json(
        if routed { 201 } else { 200 },
        &json!({ "lead_id": id, "routed": routed, "owner": view["owner"], "assignment": view }),
    )
}

/// `GET /v1/leads/{id}/routing`: where the lead is, why, and every earlier assignment.
pub async fn explain(cx: &Cx) -> Result<Response> {
    let id = cx.param("lead_id").to_string();
    let history = store::history(cx, &id).await?;
    // A lead never routed: say why, from its stage and score, its retries and the config.
    let why_not = if history.is_empty() {
        // Distinguish an unknown lead from one not routed yet.
        store::lead(cx, &id).await?;
        Some(revops::routing::unrouted::explain(
            &store::unrouted(cx, &id).await?,
        ))
    } else {
        None
    };
    let reps = store::reps(cx).await?;
    let current = history
        .iter()
        .find(|r| r.current == store::Standing::Current);
    http::json(
        200,
        &json!({
            "lead_id": id,
            "owner": current.map(AssignmentRow::owner),
            "current": current.map(|r| r.view(Some(&reps))),
            "history": history.iter().map(|r| r.view(Some(&reps))).collect::<Vec<_>>(),
            "why_not_routed": why_not,
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    reason: String,
    #[serde(default, deserialize_with = "revops::de::present")]
    rep: Option<String>,
    #[serde(default, deserialize_with = "revops::de::present")]
    queue: Option<String>,
}

/// `POST /v1/leads/{id}/assignment`: a person moves the lead, recorded like any assignment.
pub async fn assign(cx: &Cx, mut req: Request) -> Result<Response> {
    let id = cx.param("lead_id").to_string();
    let body: AssignBody = http::json_body(&mut req, 16 * 1024).await?;
    let lead = store::lead(cx, &id).await?;
    let reps = store::reps(cx).await?;
    let mut errors = Vec::new();
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        errors.push(FieldError::new(
            "reason",
            "say why (at most 500 characters)",
        ));
    }
    let (rep, queue): (Option<&Rep>, Option<String>) =
        match (body.rep.as_deref(), body.queue.as_deref()) {
            (Some(r), None) => match reps.get(r) {
                Some(rep) => (Some(rep), None),
                None => {
                    errors.push(FieldError::new(
                        "rep",
                        format!("`{r}` is not on the roster"),
                    ));
                    (None, None)
                }
            },
            (None, Some(q)) if !q.trim().is_empty() && q.chars().count() <= 100 => {
                (None, Some(q.trim().to_string()))
            }
            _ => {
                errors.push(FieldError::new(
                    "rep",
                    "give either a rep id or a queue name",
                ));
                (None, None)
            }
        };
    if !errors.is_empty() {
        return Err(Error::Problem(Problem::validation(errors)));
    }
    let previous = store::current(cx, &id).await?;
    let only: Map<String, Rep> = rep.map(|r| (r.id.clone(), r.clone())).into_iter().collect();
    let loads = store::loads(cx, &only, cx.now_ms).await?;
    let load = rep
        .and_then(|r| loads.get(&r.id))
        .copied()
        .unwrap_or_default();
    let explanation = json!({
        "manual": { "by": cx.actor(), "reason": reason, "at": rfc3339(cx.now_ms) },
        "previous_owner": previous.as_ref().map(AssignmentRow::owner),
        // Capacity is not enforced on a person's decision; the load is recorded with it.
        "rep_load": rep.map(|r| json!({ "open": load.open, "today": load.today, "max_open": r.max_open, "max_per_day": r.max_per_day, "away": r.away(cx.now_ms).map(|s| s.as_str()) })),
    });
    let a = NewAssignment {
        id: cx.new_id(revops::ids::prefix::ASSIGNMENT),
        lead_id: &id,
        rep,
        queue,
        team: None,
        rule: None,
        via: "manual",
        reason: "manual",
        fallback_reason: None,
        config_version: store::active(cx).await?.0,
        explanation: explanation.to_string(),
        replaces: previous.as_ref().map(|r| r.id.clone()),
        guard_capacity: false,
        races_lost: 0,
        ended_reason: "reassigned_manually",
        slot: None,
    };
    let data = webhook_data(&lead, &a, previous.as_ref());
    if store::write(cx, &a, &data).await? != store::Written::Stored {
        return Err(Error::Problem(Problem::new(
            ProblemKind::Conflict,
            "the lead's owner changed while this request was made; read it and try again",
        )));
    }
    outbox::deliver_soon(cx, &a.id);
    let row = store::current(cx, &id)
        .await?
        .ok_or_else(|| Error::internal("the assignment vanished"))?;
    http::json(201, &row.view(Some(&reps)))
}

/// `POST /internal/leads/{id}/close` `{"reason": "...", "at": ms}`: scoring recorded an outcome
/// that ends the lead's assignment (rejected, converted). Closes the assignment that was open at
/// `at`; one made after it (the lead routed again since) stays open. Repeating it changes nothing.
pub async fn close(cx: &Cx, mut req: Request) -> Result<Response> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        reason: String,
        at: i64,
    }
    let body: Body = http::json_body(&mut req, 1024).await?;
    let closed = store::close_open(cx, cx.param("lead_id"), &body.reason, body.at).await?;
    http::json(200, &json!({ "closed": closed }))
}
