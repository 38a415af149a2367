//! The retry queue (table `jobs`), shared by every handler. The rules (backoff, when to give up)
//! live in `revops::jobs`; this is the storage.
//!
//! A step that must eventually happen is enqueued in the same D1 batch as the data it acts on,
//! already claimed by the request that will try it at once (`run_after` = lease expiry). If that
//! request finishes the step, the job is deleted; if it fails or dies, the cron tick finds the job
//! due and retries it. Claiming is a conditional UPDATE, so overlapping ticks never run one job
//! twice at the same time.

use std::future::Future;

use revops::jobs::{after_failure, AfterFailure, LEASE_MS};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::D1PreparedStatement;

use crate::args;
use crate::cx::Cx;
use crate::db::Db;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub payload: String,
    pub state: String,
    pub attempts: u32,
    pub run_after: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Job {
    pub fn view(&self) -> Value {
        let rfc = revops::time::rfc3339;
        json!({
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": (self.state == "pending").then(|| rfc(self.run_after)),
            "last_error": self.last_error,
            "created_at": rfc(self.created_at),
            "updated_at": rfc(self.updated_at),
        })
    }
}

const COLUMNS: &str =
    "id, kind, subject, payload, state, attempts, run_after, last_error, created_at, updated_at";

/// A statement enqueueing a job the caller is about to run itself (attempt 1, leased), for the
/// batch that stores what the job acts on. A job for the same kind and subject is not duplicated.
pub fn enqueue_claimed(
    db: &Db,
    id: &str,
    kind: &str,
    subject: &str,
    payload: &Value,
    now: i64,
) -> Result<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO jobs (id, kind, subject, payload, state, attempts, run_after, created_at, updated_at) \
         VALUES (?, ?, ?, ?, 'pending', 1, ?, ?, ?) ON CONFLICT (kind, subject) DO NOTHING",
        args![id, kind, subject, payload, now + LEASE_MS, now, now],
    )
}

/// A statement enqueueing a job for the cron tick to run from `run_after` on.
pub fn enqueue(
    db: &Db,
    id: &str,
    kind: &str,
    subject: &str,
    payload: &Value,
    run_after: i64,
    now: i64,
) -> Result<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO jobs (id, kind, subject, payload, state, attempts, run_after, created_at, updated_at) \
         VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (kind, subject) DO NOTHING",
        args![id, kind, subject, payload, run_after, now, now],
    )
}

/// [`enqueue`], only if `guard` (an SQL condition with its arguments) holds when the batch runs:
/// the job is written exactly when the change it follows up was.
#[allow(clippy::too_many_arguments)]
pub fn enqueue_if(
    db: &Db,
    id: &str,
    kind: &str,
    subject: &str,
    payload: &Value,
    run_after: i64,
    now: i64,
    guard: (&str, Vec<crate::db::Arg>),
) -> Result<D1PreparedStatement> {
    let job = (id, kind, subject, payload, run_after, now);
    guarded_insert(db, job, guard, "DO NOTHING")
}

/// A job whose latest request is the one to carry out: a job already waiting for the same
/// subject takes this payload and starts its attempts afresh (see [`enqueue_latest_if`]).
pub fn enqueue_latest(
    db: &Db,
    id: &str,
    kind: &str,
    subject: &str,
    payload: &Value,
    run_after: i64,
    now: i64,
) -> Result<D1PreparedStatement> {
    enqueue_latest_if(
        db,
        id,
        kind,
        subject,
        payload,
        run_after,
        now,
        ("1", Vec::new()),
    )
}

/// [`enqueue_if`] for work whose latest request is the one to carry out: a job already waiting
/// for the same subject takes this payload and starts its attempts afresh.
#[allow(clippy::too_many_arguments)]
pub fn enqueue_latest_if(
    db: &Db,
    id: &str,
    kind: &str,
    subject: &str,
    payload: &Value,
    run_after: i64,
    now: i64,
    guard: (&str, Vec<crate::db::Arg>),
) -> Result<D1PreparedStatement> {
    let job = (id, kind, subject, payload, run_after, now);
    guarded_insert(
        db,
        job,
        guard,
        "DO UPDATE SET payload = excluded.payload, state = 'pending', attempts = 0, \
         run_after = excluded.run_after, last_error = NULL, updated_at = excluded.updated_at",
    )
}

/// A pending job (id, kind, subject, payload, run_after, now), inserted only while `guard` holds;
/// `on_conflict` says what a job already waiting for the same kind and subject becomes.
fn guarded_insert(
    db: &Db,
    (id, kind, subject, payload, run_after, now): (&str, &str, &str, &Value, i64, i64),
    (guard, guard_args): (&str, Vec<crate::db::Arg>),
    on_conflict: &str,
) -> Result<D1PreparedStatement> {
    let mut values = args![id, kind, subject, payload, run_after, now, now];
    values.extend(guard_args);
    db.stmt(
        &format!(
            "INSERT INTO jobs (id, kind, subject, payload, state, attempts, run_after, created_at, updated_at) \
             SELECT ?, ?, ?, ?, 'pending', 0, ?, ?, ? WHERE {guard} ON CONFLICT (kind, subject) {on_conflict}"
        ),
        values,
    )
}

pub async fn complete(db: &Db, kind: &str, subject: &str) -> Result<()> {
    db.batch(vec![complete_statement(db, kind, subject)?])
        .await?;
    Ok(())
}

/// [`complete`] as a statement, for the batch that stores the work's last step.
pub fn complete_statement(db: &Db, kind: &str, subject: &str) -> Result<D1PreparedStatement> {
    db.stmt(
        "DELETE FROM jobs WHERE kind = ? AND subject = ?",
        args![kind, subject],
    )
}

/// Records a failed attempt: schedules the next one, or parks the job as dead.
pub async fn fail(
    db: &Db,
    kind: &str,
    subject: &str,
    error: &str,
    now: i64,
) -> Result<AfterFailure> {
    let job: Option<Job> = db
        .first(
            &format!("SELECT {COLUMNS} FROM jobs WHERE kind = ? AND subject = ?"),
            args![kind, subject],
        )
        .await?;
    let Some(job) = job else {
        return Ok(AfterFailure::Dead);
    };
    let error: String = error.chars().take(1000).collect();
    let outcome = after_failure(job.attempts, now);
    match outcome {
        AfterFailure::RetryAt(at) => {
            db.run(
                "UPDATE jobs SET run_after = ?, last_error = ?, updated_at = ? WHERE id = ?",
                args![at, error, now, &job.id],
            )
            .await?
        }
        AfterFailure::Dead => {
            db.run(
                "UPDATE jobs SET state = 'dead', last_error = ?, updated_at = ? WHERE id = ?",
                args![error, now, &job.id],
            )
            .await?
        }
    };
    Ok(outcome)
}

/// The read of up to `limit` due jobs of `kind` (for a read batch; rows are [`Job`]s).
pub fn due_statement(db: &Db, kind: &str, now: i64, limit: usize) -> Result<D1PreparedStatement> {
    db.stmt(
        &format!("SELECT {COLUMNS} FROM jobs WHERE state = 'pending' AND kind = ? AND run_after <= ? ORDER BY run_after LIMIT ?"),
        args![kind, now, limit],
    )
}

/// Claims due jobs read with [`due_statement`] in one round trip (a conditional update each, so
/// overlapping ticks never take one twice), and parks as dead those that used up their attempts.
/// Returns the jobs this call claimed, each with its attempt counted.
pub async fn claim_all(db: &Db, due: Vec<Job>, now: i64) -> Result<Vec<Job>> {
    let (due, spent): (Vec<Job>, Vec<Job>) = due
        .into_iter()
        .partition(|j| j.attempts < revops::jobs::MAX_ATTEMPTS);
    let mut stmts = Vec::with_capacity(due.len() + spent.len());
    for j in &spent {
        stmts.push(db.stmt(
            "UPDATE jobs SET state = 'dead', last_error = COALESCE(last_error, ?), updated_at = ? WHERE id = ? AND state = 'pending'",
            args![format!("gave up after {} attempts", j.attempts), now, &j.id],
        )?);
    }
    for j in &due {
        stmts.push(db.stmt(
            "UPDATE jobs SET attempts = attempts + 1, run_after = ?, updated_at = ? WHERE id = ? AND state = 'pending' AND run_after <= ?",
            args![now + LEASE_MS, now, &j.id, now],
        )?);
    }
    let changed = db.batch(stmts).await?;
    Ok(due
        .into_iter()
        .zip(changed.into_iter().skip(spent.len()))
        .filter(|(_, c)| *c == 1)
        .map(|(j, _)| Job {
            attempts: j.attempts + 1,
            ..j
        })
        .collect())
}

/// A statement deleting one job by id (its work done, in the batch that does it).
pub fn done_statement(db: &Db, id: &str) -> Result<D1PreparedStatement> {
    db.stmt("DELETE FROM jobs WHERE id = ?", args![id])
}

/// Parks a job as dead with why (a payload this version cannot read): kept, listed, retryable.
pub async fn park(db: &Db, id: &str, error: &str, now: i64) -> Result<()> {
    db.run(
        "UPDATE jobs SET state = 'dead', last_error = ?, updated_at = ? WHERE id = ?",
        args![error, now, id],
    )
    .await?;
    Ok(())
}

/// Runs up to `limit` due jobs of `kind`, each claimed first so overlapping ticks never run the
/// same job at once. Returns (succeeded, failed).
pub async fn run_due<F, Fut>(
    cx: &Cx,
    kind: &str,
    now: i64,
    limit: usize,
    mut run: F,
) -> Result<(usize, usize)>
where
    F: FnMut(Job) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let due: Vec<Job> = crate::db::rows(
        "jobs",
        cx.db
            .read_batch(vec![due_statement(&cx.db, kind, now, limit)?])
            .await?
            .remove(0),
    )?;
    let (mut ok, mut failed) = (0, 0);
    for job in due {
        let claimed = cx
            .db
            .run(
                "UPDATE jobs SET attempts = attempts + 1, run_after = ?, updated_at = ? WHERE id = ? AND state = 'pending' AND run_after <= ?",
                args![now + LEASE_MS, now, &job.id, now],
            )
            .await?;
        if claimed == 0 {
            continue;
        }
        let (kind, subject) = (job.kind.clone(), job.subject.clone());
        match run(Job {
            attempts: job.attempts + 1,
            ..job
        })
        .await
        {
            Ok(()) => {
                complete(&cx.db, &kind, &subject).await?;
                ok += 1;
            }
            Err(e) => {
                let msg = match &e {
                    Error::Problem(p) => p.to_string(),
                    Error::Internal(i) => i.to_string(),
                };
                fail(&cx.db, &kind, &subject, &msg, now).await?;
                cx.log(
                    revops::logging::Level::Warn,
                    "job.failed",
                    json!({ "kind": kind, "subject": subject, "error": msg }),
                );
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}

/// Jobs whose kind starts with `prefix`, optionally in one state, newest first.
pub async fn list(db: &Db, prefix: &str, state: Option<&str>, limit: usize) -> Result<Vec<Job>> {
    db.all(
        &format!(
            "SELECT {COLUMNS} FROM jobs WHERE kind LIKE ? AND (? IS NULL OR state = ?) ORDER BY updated_at DESC LIMIT ?"
        ),
        args![format!("{prefix}%"), state, state, limit],
    )
    .await
}

/// Makes a job (pending or dead) due now; returns it, or `None` if there is no such job.
pub async fn retry_now(db: &Db, id: &str, prefix: &str, now: i64) -> Result<Option<Job>> {
    db.run(
        "UPDATE jobs SET state = 'pending', run_after = ?, updated_at = ? WHERE id = ? AND kind LIKE ?",
        args![now, now, id, format!("{prefix}%")],
    )
    .await?;
    db.first(
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = ? AND kind LIKE ?"),
        args![id, format!("{prefix}%")],
    )
    .await
}
