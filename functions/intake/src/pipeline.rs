//! What happens to a submission once it is stored: merge into its lead, then hand the lead on.
//! Each step is idempotent, so the cron tick can re-run the whole pipeline for a submission whose
//! first run failed or died midway until it completes.

use revops::intake::lead::Lead;
use revops::intake::normalize::Normalised;
use revops::intake::submission::{self, Status, Step};
use revops::logging::Level;
use revops::routes::{Method, Service};
use serde_json::{json, Value};

use crate::store::{self, Extras, Fault, NewSubmission, SubmissionRow, PROCESS_JOB};
use platform::{jobs, Cx, Error, Result};
use revops::consent::erasure::{readmission, Readmission};

/// Where a submission got to, for the response.
#[derive(Debug, Default)]
pub struct Progress {
    pub submission_id: String,
    pub lead_id: Option<String>,
    pub created: bool,
    /// `processed`, or `pending` when a step failed and will be retried.
    pub status: &'static str,
    pub pending_step: Option<String>,
    pub handoff: Value,
    /// What the consent handler recorded (and a confirmation link for double opt-in topics).
    pub consent: Value,
}

impl Progress {
    pub fn view(&self) -> Value {
        json!({
            "id": self.lead_id,
            "created": self.created,
            "submission_id": self.submission_id,
            "status": self.status,
            "pending_step": self.pending_step,
            "score": self.handoff.get("score").cloned().unwrap_or(Value::Null),
            "stage": self.handoff.get("stage").cloned().unwrap_or(Value::Null),
            "owner": self.handoff.get("owner").cloned().unwrap_or(Value::Null),
            "consent": self.consent,
        })
    }

    /// 201 for a new lead, 200 for a merge, 202 when the submission is stored but not yet merged.
    pub fn status_code(&self) -> u16 {
        if matches!(self.status, "discarded" | "confirmation_required") {
            return 200;
        }
        match (&self.lead_id, self.created) {
            (None, _) => 202,
            (Some(_), true) => 201,
            (Some(_), false) => 200,
        }
    }
}

/// Stores submissions (the commit point: after this nothing is lost) and runs the pipeline for
/// each. Extra statements (a webhook's replay receipt) commit in the same batch. `fault` forces a
/// step to fail on this first run (see [`injected_fault`]).
pub async fn accept_all(
    cx: &Cx,
    subs: &[NewSubmission<'_>],
    extra: Vec<worker::D1PreparedStatement>,
    fault: Option<&Fault>,
) -> Result<Vec<Progress>> {
    // One read per address tells both whether the person was erased and what their lead is now,
    // so the merge below starts from it instead of reading it again.
    let mut priors = Vec::with_capacity(subs.len());
    for s in subs {
        priors.push(store::prior(cx, &s.normalised.email).await?);
    }
    accept_known(cx, subs, priors, extra, fault).await
}

/// [`accept_all`] with what the caller already read about each address (a form reads it in the
/// round trip that takes its rate-limit slot).
pub async fn accept_known(
    cx: &Cx,
    subs: &[NewSubmission<'_>],
    priors: Vec<store::Prior>,
    extra: Vec<worker::D1PreparedStatement>,
    fault: Option<&Fault>,
) -> Result<Vec<Progress>> {
    // An erased person is not re-imported: their submissions are not even stored. Only a new
    // opt-in they confirm, or one sent by a subjects:admin key, brings them back
    // (`erasure::readmission`); a claimed opt-in gets them a link to confirm it.
    let mut admitted = Vec::with_capacity(subs.len());
    let mut leads = Vec::with_capacity(subs.len());
    for (s, prior) in subs.iter().zip(priors) {
        admitted.push(readmission(
            prior.erased,
            s.extras.opts_in(),
            false,
            s.extras.subjects_admin,
        ));
        leads.push(prior.lead);
    }
    let ids: Vec<String> = subs
        .iter()
        .map(|_| cx.new_id(revops::ids::prefix::SUBMISSION))
        .collect();
    let mut batch = extra;
    let stored = |r: &Readmission| matches!(r, Readmission::NotErased | Readmission::Readmit);
    // The first submission for an address is merged into its lead in the batch that stores it,
    // from the lead read just before: one round trip instead of two. The merge's writes are
    // guarded (the lead's version), so a concurrent writer only makes them no-ops: the
    // submission is stored all the same, and the pipeline merges it again from a fresh read.
    // Later submissions for the same address in one delivery merge after the earlier ones.
    let mut seen = std::collections::BTreeSet::new();
    let mut merges: Vec<Option<(store::Merge, usize)>> = Vec::with_capacity(subs.len());
    for (((id, s), admit), lead) in ids.iter().zip(subs).zip(&admitted).zip(leads) {
        let first = seen.insert(s.normalised.email.as_str());
        let mut merge = None;
        if stored(admit) {
            batch.extend(store::insert_submission(cx, id, s, fault)?);
            if first && fault.is_none_or(|f| f.step != "merge") {
                let mut m = store::merge_statements(cx, &s.row(id)?, s.normalised, s.extras, lead)?;
                // The lead write is the merge's first statement.
                let at = batch.len();
                batch.append(&mut m.statements);
                merge = Some((m, at));
            }
        }
        merges.push(merge);
    }
    let changes = cx.db.batch(batch).await?;
    let mut outcomes = Vec::with_capacity(ids.len());
    for (((id, s), admit), merge) in ids.iter().zip(subs).zip(admitted).zip(merges) {
        if admit == Readmission::ConfirmFirst {
            // Nothing stored: the consent handler answers with a link for them to confirm.
            let consent = confirm_readmission(cx, s).await?;
            outcomes.push(Progress {
                submission_id: id.clone(),
                status: "confirmation_required",
                consent,
                ..Progress::default()
            });
            continue;
        }
        if !stored(&admit) {
            cx.log(
                Level::Info,
                "intake.discarded_erased",
                json!({ "submission_id": id }),
            );
            outcomes.push(Progress {
                submission_id: id.clone(),
                status: "discarded",
                ..Progress::default()
            });
            continue;
        }
        let merged = merge
            .filter(|(_, at)| changes.get(*at) == Some(&1))
            .map(|(m, _)| (m.lead, m.created));
        let fault = fault.map(|f| f.step.as_str());
        outcomes.push(run_now(cx, id, s, fault, merged).await?);
    }
    Ok(outcomes)
}

pub async fn accept(cx: &Cx, sub: NewSubmission<'_>, fault: Option<&Fault>) -> Result<Progress> {
    let mut outcomes = accept_all(cx, std::slice::from_ref(&sub), Vec::new(), fault).await?;
    Ok(outcomes.remove(0))
}

/// The step a request asks to fail, via `x-revops-inject-fault: merge|consent|handoff` (the
/// first attempt only) or `handoff x14` (the first 14 attempts, the cron's retries included).
/// Honoured only when the worker runs with `ALLOW_FAULT_INJECTION=true` (the integration tests'
/// runtime), so the retry path can be tested end to end on the real runtime; never set it in
/// production.
pub fn injected_fault(cx: &Cx, req: &worker::Request) -> Option<Fault> {
    if cx.var("ALLOW_FAULT_INJECTION").as_deref() != Some("true") {
        return None;
    }
    let value = platform::http::header(req, "x-revops-inject-fault")?;
    let (step, attempts) = match value.split_once(" x") {
        Some((step, n)) => (step.trim(), n.trim().parse().ok()?),
        None => (value.trim(), 1),
    };
    Some(Fault {
        step: step.to_string(),
        attempts,
    })
}

/// Runs the pipeline inside the request that stored the submission. A failing step does not fail
/// the request: the submission is safe, the job is rescheduled and the answer says `pending`.
async fn run_now(
    cx: &Cx,
    id: &str,
    s: &NewSubmission<'_>,
    fault: Option<&str>,
    merged: Option<(Lead, bool)>,
) -> Result<Progress> {
    let row = s.row(id)?;
    let (n, extras) = (s.normalised, s.extras);
    let run = Run {
        fault,
        merged,
        complete_job: true,
    };
    match process(cx, &row, n, extras, run).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let step = match &e {
                Error::Problem(p) => p.to_string(),
                Error::Internal(i) => i.to_string(),
            };
            cx.log(
                Level::Warn,
                "intake.step_failed",
                json!({ "submission_id": id, "error": step }),
            );
            jobs::fail(&cx.db, PROCESS_JOB, id, &step, cx.now_ms).await?;
            let row = store::submission(cx, id).await?;
            let pending_step = submission::pending(
                row.as_ref().and_then(|r| Status::parse(&r.status)),
                extras.consent.is_some(),
            )
            .as_str();
            Ok(Progress {
                submission_id: id.to_string(),
                pending_step: Some(pending_step.to_string()),
                lead_id: row.and_then(|r| r.lead_id),
                status: "pending",
                ..Progress::default()
            })
        }
    }
}

/// The cron tick's retry of a submission's pipeline (its `attempt`-th attempt).
pub async fn retry(cx: &Cx, submission_id: &str, extras: &Extras, attempt: u32) -> Result<()> {
    let row = store::submission(cx, submission_id)
        .await?
        .ok_or_else(|| Error::internal(format!("submission {submission_id} is gone")))?;
    let n: Normalised =
        serde_json::from_str(row.normalised.as_deref().unwrap_or("null")).map_err(|e| {
            Error::internal(format!(
                "submission {submission_id} has no normalised form: {e}"
            ))
        })?;
    let fault = extras
        .fault
        .as_ref()
        .filter(|f| attempt <= f.attempts)
        .map(|f| f.step.as_str());
    let run = Run {
        fault,
        merged: None,
        // The job runner completes the job when this returns.
        complete_job: false,
    };
    process(cx, &row, &n, extras, run).await.map(|_| ())
}

/// How one run of the pipeline goes.
struct Run<'a> {
    /// The step to fail on purpose (tests).
    fault: Option<&'a str>,
    /// The lead the submission was merged into in the batch that stored it, and whether it
    /// was created (`None`: the merge step still has to run).
    merged: Option<(Lead, bool)>,
    /// Complete the submission's job in the batch that marks it processed (the first run; a
    /// retry's job is completed by the job runner).
    complete_job: bool,
}

/// The steps, each skipped when already done.
async fn process(
    cx: &Cx,
    row: &SubmissionRow,
    n: &Normalised,
    extras: &Extras,
    run: Run<'_>,
) -> Result<Progress> {
    let fail_at = |step: &str| -> Result<()> {
        match run.fault {
            Some(f) if f == step => Err(Error::internal(format!("injected fault at {step}"))),
            _ => Ok(()),
        }
    };
    let mut outcome = Progress {
        submission_id: row.id.clone(),
        status: "processed",
        ..Progress::default()
    };
    let status = Status::parse(&row.status).unwrap_or(Status::Received);
    if status == Status::Discarded {
        outcome.status = "discarded";
        return Ok(outcome);
    }
    let steps = submission::remaining(status, extras.consent.is_some());
    // The lead as merged, passed on to scoring (and by it to routing) so neither reads it again.
    let (lead_id, lead) = match (&row.lead_id, run.merged) {
        (Some(id), _) => (id.clone(), None),
        (None, merged) => {
            let (lead, created) = match merged {
                Some(merged) => merged,
                None => {
                    fail_at("merge")?;
                    store::merge_submission(cx, row, n, extras).await?
                }
            };
            outcome.created = created;
            cx.log(
                Level::Info,
                if created {
                    "lead.created"
                } else {
                    "lead.merged"
                },
                json!({ "lead_id": lead.id, "submission_id": row.id }),
            );
            (lead.id.clone(), Some(lead))
        }
    };
    outcome.lead_id = Some(lead_id.clone());
    if steps.contains(&Step::Consent) {
        fail_at("consent")?;
        outcome.consent = apply_consent(cx, row, n, extras).await?;
        store::set_submission_status(cx, &row.id, Status::Consented.as_str(), None).await?;
    }
    let mut done = Vec::new();
    if steps.contains(&Step::Handoff) {
        fail_at("handoff")?;
        outcome.handoff = hand_off(cx, &lead_id, lead.as_ref(), &Default::default()).await?;
        done.push(store::submission_status_statement(
            cx,
            &row.id,
            Status::Processed.as_str(),
            None,
        )?);
    }
    if run.complete_job {
        done.push(jobs::complete_statement(&cx.db, PROCESS_JOB, &row.id)?);
        // The request's own run records its end after answering: the lead, its consent, score
        // and owner are committed by now, and until this lands the submission's leased job
        // stands behind it, so a lost write costs one idempotent re-run from the cron.
        let fields = json!({ "submission_id": row.id, "lead_id": lead_id });
        cx.commit_after_response("submission.settled", done, fields)
            .await?;
    } else {
        // A retry's last step commits before the job runner completes the job.
        cx.db.batch(done).await?;
    }
    Ok(outcome)
}

/// Hands the lead to scoring, which scores it and, if it becomes an MQL, has routing assign it
/// in the same request: the answer carries the score and the owner. `lead` is the lead as
/// intake just wrote it, so scoring need not read it back.
pub async fn hand_off(
    cx: &Cx,
    lead_id: &str,
    lead: Option<&Lead>,
    cause: &revops::workflows::events::Cause,
) -> Result<Value> {
    let mut body = lead.map(|l| json!({ "lead": l }));
    if !cause.chain.is_empty() {
        // A workflow's step caused this: scoring's stage and score events say so.
        body.get_or_insert_with(|| json!({}))["cause"] = json!(cause);
    }
    cx.call_ok(
        Service::Scoring,
        Method::Post,
        &format!("/internal/leads/{lead_id}/score"),
        body.as_ref(),
    )
    .await
}

/// An erased person's claimed opt-in: the consent handler stores nothing and returns the link
/// that lets them confirm it.
async fn confirm_readmission(cx: &Cx, s: &NewSubmission<'_>) -> Result<Value> {
    let body = json!({
        "email": s.normalised.email,
        "claim": s.extras.consent,
        "base_url": s.extras.base_url.clone().unwrap_or_default(),
        "proof": { "source": s.kind, "source_id": s.source_id, "at": s.normalised.received_at },
    });
    let reply: Value = cx
        .call_ok(
            Service::Consent,
            Method::Post,
            "/internal/consent/intake",
            Some(&body),
        )
        .await?;
    Ok(
        json!({ "recorded": [], "readmission": reply["readmission"], "confirm_url": reply["confirm_url"] }),
    )
}

/// Hands the submission's explicit consent to the consent handler, which owns the rules (an
/// opt-in with its proof; nothing else changes an unsubscribe or a suppression).
async fn apply_consent(
    cx: &Cx,
    row: &SubmissionRow,
    n: &Normalised,
    extras: &Extras,
) -> Result<Value> {
    let headers: Value = serde_json::from_str(&row.headers).unwrap_or(Value::Null);
    let body = json!({
        "email": n.email,
        "claim": extras.consent,
        "base_url": extras.base_url.clone().unwrap_or_default(),
        "subjects_admin": extras.subjects_admin,
        "proof": {
            "source": row.kind,
            "source_id": row.source_id,
            "ip": headers["ip"],
            "user_agent": headers["user-agent"],
            "at": n.received_at,
        },
    });
    let reply: Value = cx
        .call_ok(
            Service::Consent,
            Method::Post,
            "/internal/consent/intake",
            Some(&body),
        )
        .await?;
    Ok(
        json!({ "recorded": reply["recorded"], "confirm_url": reply["confirm_url"], "unknown_topics": reply["unknown_topics"] }),
    )
}
