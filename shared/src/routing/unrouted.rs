//! "Why has this lead no owner?" A lead that was never routed is explained from what the system
//! knows of it: its stage and score against the MQL threshold, steps waiting for a retry, and
//! whether a routing configuration has been published. Nothing goes unexplained.

use serde_json::{json, Value};

use crate::scoring::{HUMAN_STAGES, MQL};
use crate::time::{rfc3339, MINUTE};

/// A retry-queue job waiting on the lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub kind: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// What is known of a lead without an assignment.
#[derive(Debug, Clone, Default)]
pub struct Unrouted {
    /// `None`: never scored.
    pub stage: Option<String>,
    pub score: Option<f64>,
    pub scored_at: Option<i64>,
    pub stage_changed_at: Option<i64>,
    /// The active scoring model's version and its MQL threshold.
    pub model_version: i64,
    pub mql_at: Option<f64>,
    pub pending: Vec<Pending>,
    /// The active routing configuration (0: the built-in one).
    pub routing_version: i64,
    pub now: i64,
}

/// How long routing's sweep waits before routing an MQL whose hand-off did not arrive.
pub const SWEEP_AFTER_MS: i64 = MINUTE;

fn reason(code: &str, detail: String) -> Value {
    json!({ "code": code, "detail": detail })
}

/// The reasons, most important first.
pub fn explain(u: &Unrouted) -> Value {
    let mut reasons = Vec::new();
    match (u.stage.as_deref(), u.score) {
        (None, _) | (_, None) => reasons.push(reason(
            "not_scored",
            "the lead has not been scored yet: scoring runs when intake hands it on".into(),
        )),
        (Some(stage), Some(score)) if stage == MQL => {
            let since = u.stage_changed_at.unwrap_or(u.now);
            let detail = if u.now - since <= SWEEP_AFTER_MS {
                format!(
                    "the lead became an MQL at {} (score {score}); it is being handed to routing",
                    rfc3339(since)
                )
            } else {
                format!(
                    "the lead has been an MQL since {} (score {score}) but its hand-off to routing did not arrive; routing's sweep routes it at the next cron tick",
                    rfc3339(since)
                )
            };
            reasons.push(reason("mql_waiting_for_routing", detail));
        }
        (Some(stage), Some(_)) if HUMAN_STAGES.contains(&stage) => reasons.push(reason(
            "stage_set_by_sales",
            format!("sales set the lead's stage to {stage}; only MQLs are routed"),
        )),
        (Some(stage), Some(score)) => reasons.push(reason(
            "not_an_mql",
            match u.mql_at {
                Some(at) => format!(
                    "stage {stage} with score {score}: a lead is routed when it becomes an MQL, at {at} under scoring model version {} ({} points to go)",
                    u.model_version,
                    ((at - score) * 10.0).round() / 10.0
                ),
                None => format!(
                    "stage {stage} with score {score}: scoring model version {} has no MQL stage",
                    u.model_version
                ),
            },
        )),
    }
    for p in &u.pending {
        reasons.push(reason(
            if p.state == "dead" { "step_gave_up" } else { "waiting_for_retry" },
            match p.state.as_str() {
                "dead" => format!(
                    "the step {} gave up after {} attempts (last error: {}); retry it from /v1/admin/jobs",
                    p.kind,
                    p.attempts,
                    p.last_error.as_deref().unwrap_or("none recorded")
                ),
                _ => format!(
                    "the step {} is waiting for a retry (attempt {}, next at {}; last error: {})",
                    p.kind,
                    p.attempts + 1,
                    rfc3339(p.next_attempt_at),
                    p.last_error.as_deref().unwrap_or("none recorded")
                ),
            },
        ));
    }
    if u.routing_version == 0 {
        reasons.push(reason(
            "no_routing_config",
            "no routing configuration has been published: the built-in one sends MQLs to their account owner, else to the unrouted queue".into(),
        ));
    }
    json!({ "routed": false, "reasons": reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn codes(v: &Value) -> Vec<String> {
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_lead_below_the_threshold_is_explained_against_it() {
        let u = Unrouted {
            stage: Some("nurture".into()),
            score: Some(35.0),
            mql_at: Some(60.0),
            model_version: 3,
            routing_version: 2,
            now: NOW,
            ..Default::default()
        };
        let v = explain(&u);
        assert_eq!(codes(&v), ["not_an_mql"]);
        let detail = v["reasons"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains("score 35")
                && detail.contains("at 60")
                && detail.contains("version 3")
                && detail.contains("25 points"),
            "{detail}"
        );
    }

    #[test]
    fn retries_missing_config_and_waiting_mqls_are_said() {
        let u = Unrouted {
            stage: None,
            pending: vec![Pending {
                kind: "scoring.score_lead".into(),
                state: "pending".into(),
                attempts: 2,
                next_attempt_at: NOW + MINUTE,
                last_error: Some("scoring answered 500".into()),
            }],
            now: NOW,
            ..Default::default()
        };
        let v = explain(&u);
        assert_eq!(
            codes(&v),
            ["not_scored", "waiting_for_retry", "no_routing_config"]
        );
        assert!(v["reasons"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("scoring answered 500"));
        let mql = Unrouted {
            stage: Some(MQL.into()),
            score: Some(70.0),
            stage_changed_at: Some(NOW - 10 * MINUTE),
            routing_version: 1,
            now: NOW,
            ..Default::default()
        };
        let v = explain(&mql);
        assert_eq!(codes(&v), ["mql_waiting_for_routing"]);
        assert!(v["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("sweep"));
        let sales = Unrouted {
            stage: Some("disqualified".into()),
            score: Some(70.0),
            routing_version: 1,
            now: NOW,
            ..Default::default()
        };
        assert_eq!(codes(&explain(&sales)), ["stage_set_by_sales"]);
    }
}
