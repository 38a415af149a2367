//! How each workflow has been doing lately, as `GET /v1/admin/workflows` and the console's
//! Workflows page show it: over a window of days, the leads it started on and turned away, how
//! those enrolments stand now, and its steps by outcome. The handler counts rows grouped by
//! workflow and state (or outcome); this folds those counts into one figure per workflow.

use serde::{Deserialize, Serialize};

use crate::Map;

/// The window the figures cover.
pub const WINDOW_DAYS: i64 = 7;

/// One group of an aggregate query: a workflow, a state or outcome, how many.
#[derive(Debug, Clone, Deserialize)]
pub struct Count {
    pub workflow_id: String,
    pub key: String,
    pub n: i64,
}

/// Steps by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Steps {
    pub taken: i64,
    pub skipped: i64,
    pub failed: i64,
}

/// One workflow's figures over the window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub days: i64,
    /// Enrolments started in the window (however they stand now).
    pub enrolled: i64,
    /// Of those: still waiting on a step, finished, ended by a failed step.
    pub waiting: i64,
    pub done: i64,
    pub failed: i64,
    /// Events in the window that did not enrol a lead (each with its reason on the lead).
    pub not_enrolled: i64,
    pub steps: Steps,
}

/// Folds enrolment counts (keyed by enrolment state) and step counts (keyed by outcome) into
/// each workflow's figures. A workflow with no rows in the window is absent: see [`of`].
pub fn tally(enrolments: &[Count], steps: &[Count]) -> Map<String, Activity> {
    let mut out: Map<String, Activity> = Map::default();
    for c in enrolments {
        let a = activity(&mut out, &c.workflow_id);
        match c.key.as_str() {
            "not_enrolled" => a.not_enrolled += c.n,
            state => {
                a.enrolled += c.n;
                match state {
                    "waiting" => a.waiting += c.n,
                    "done" => a.done += c.n,
                    "failed" => a.failed += c.n,
                    _ => {}
                }
            }
        }
    }
    for c in steps {
        let a = activity(&mut out, &c.workflow_id);
        match c.key.as_str() {
            "taken" => a.steps.taken += c.n,
            "skipped" => a.steps.skipped += c.n,
            "failed" => a.steps.failed += c.n,
            _ => {}
        }
    }
    out
}

fn activity<'m>(out: &'m mut Map<String, Activity>, id: &str) -> &'m mut Activity {
    out.entry(id.to_string()).or_insert_with(|| Activity {
        days: WINDOW_DAYS,
        ..Activity::default()
    })
}

/// A workflow's figures, zeros when nothing happened in the window.
pub fn of(all: &Map<String, Activity>, workflow_id: &str) -> Activity {
    all.get(workflow_id).cloned().unwrap_or(Activity {
        days: WINDOW_DAYS,
        ..Activity::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(wf: &str, key: &str, n: i64) -> Count {
        Count {
            workflow_id: wf.into(),
            key: key.into(),
            n,
        }
    }

    #[test]
    fn enrolments_and_steps_fold_into_each_workflows_figures() {
        let all = tally(
            &[
                c("wf_a", "waiting", 3),
                c("wf_a", "done", 5),
                c("wf_a", "failed", 1),
                c("wf_a", "not_enrolled", 7),
                c("wf_b", "done", 2),
            ],
            &[
                c("wf_a", "taken", 20),
                c("wf_a", "failed", 1),
                c("wf_a", "skipped", 4),
                c("wf_c", "taken", 1),
            ],
        );
        let a = of(&all, "wf_a");
        assert_eq!(
            (a.enrolled, a.waiting, a.done, a.failed, a.not_enrolled),
            (9, 3, 5, 1, 7)
        );
        assert_eq!(
            a.steps,
            Steps {
                taken: 20,
                skipped: 4,
                failed: 1
            }
        );
        assert_eq!(of(&all, "wf_b").enrolled, 2);
        // Steps in the window of an enrolment started before it still count.
        assert_eq!(
            (of(&all, "wf_c").enrolled, of(&all, "wf_c").steps.taken),
            (0, 1)
        );
        let quiet = of(&all, "wf_quiet");
        assert_eq!(quiet.days, WINDOW_DAYS);
        assert_eq!((quiet.enrolled, quiet.steps.failed), (0, 0));
    }
}
