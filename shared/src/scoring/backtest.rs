//! Backtesting a candidate model against stored leads and what sales did with them: how many would
//! be MQLs, how many of those sales accepted or rejected (and why), which conversions the model
//! would miss, and each rule's lift — the evidence to change a threshold with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::condition::Facts;
use super::engine::{next_stage, score, Activity};
use super::{Model, MQL};
use crate::problem::FieldError;

/// What sales decided about a lead it was handed (`POST /v1/leads/{id}/outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalesOutcome {
    Accepted,
    Rejected,
    Converted,
}

/// Longest reason recorded with an acceptance or conversion (a rejection names a model code).
pub const MAX_OUTCOME_REASON_CHARS: usize = 200;
pub const MAX_OUTCOME_NOTE_CHARS: usize = 2000;

/// The free text sales sends with an outcome, within its limits.
pub fn outcome_text_errors(reason: Option<&str>, note: Option<&str>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (field, text, max) in [
        ("reason", reason, MAX_OUTCOME_REASON_CHARS),
        ("note", note, MAX_OUTCOME_NOTE_CHARS),
    ] {
        if text.is_some_and(|t| t.chars().count() > max) {
            errors.push(FieldError::new(field, format!("at most {max} characters")));
        }
    }
    errors
}

impl SalesOutcome {
    pub fn parse(s: &str) -> Option<SalesOutcome> {
        match s {
            "accepted" => Some(SalesOutcome::Accepted),
            "rejected" => Some(SalesOutcome::Rejected),
            "converted" => Some(SalesOutcome::Converted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SalesOutcome::Accepted => "accepted",
            SalesOutcome::Rejected => "rejected",
            SalesOutcome::Converted => "converted",
        }
    }

    fn positive(self) -> bool {
        matches!(self, SalesOutcome::Accepted | SalesOutcome::Converted)
    }
}

/// One stored lead: its facts and activities, what happened to it, and the time to score it at.
pub struct Case<'a> {
    pub facts: Facts<'a>,
    pub activities: &'a [Activity],
    pub outcome: Option<SalesOutcome>,
    pub reason: Option<&'a str>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStats {
    pub rule: String,
    pub fired: usize,
    /// Of the leads with an outcome where the rule fired, the share sales accepted or converted.
    pub positive_rate: Option<f64>,
    /// `positive_rate` divided by the positive rate of all leads with an outcome.
    pub lift: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub leads: usize,
    pub would_be_mql: usize,
    pub with_outcome: usize,
    pub mql_with_outcome: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub converted: usize,
    /// Among would-be MQLs with an outcome: accepted or converted / rejected.
    pub acceptance_rate: Option<f64>,
    pub rejection_rate: Option<f64>,
    pub rejection_reasons: BTreeMap<String, usize>,
    /// Leads sales accepted or converted that the model would not make MQLs.
    pub missed_positives: usize,
    pub rules: Vec<RuleStats>,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| ((a as f64 / b as f64) * 1000.0).round() / 1000.0)
}

/// Replays `model` over the cases.
pub fn run(model: &Model, cases: &[Case]) -> Report {
    let rule_ids: Vec<&str> = model
        .spec
        .fit
        .iter()
        .chain(&model.spec.negative)
        .map(|r| r.id.as_str())
        .chain(model.spec.engagement.iter().map(|r| r.id.as_str()))
        .collect();
    // Per rule: (fired, fired with outcome, positive when fired).
    let mut per_rule = vec![(0usize, 0usize, 0usize); rule_ids.len()];
    let mut report = Report {
        leads: cases.len(),
        would_be_mql: 0,
        with_outcome: 0,
        mql_with_outcome: 0,
        accepted: 0,
        rejected: 0,
        converted: 0,
        acceptance_rate: None,
        rejection_rate: None,
        rejection_reasons: BTreeMap::new(),
        missed_positives: 0,
        rules: Vec::new(),
    };
    let mut positives = 0;
    let mql_at = model
        .spec
        .stages
        .iter()
        .find(|s| s.name == MQL)
        .map(|s| s.enter_at)
        .unwrap_or(f64::INFINITY);
    for case in cases {
        let s = score(model, &case.facts, case.activities, case.at, None);
        let mql = s.total >= mql_at && next_stage(model, "new", s.total) != "new";
        report.would_be_mql += usize::from(mql);
        if let Some(o) = case.outcome {
            report.with_outcome += 1;
            positives += usize::from(o.positive());
            if mql {
                report.mql_with_outcome += 1;
                match o {
                    SalesOutcome::Accepted => report.accepted += 1,
                    SalesOutcome::Converted => report.converted += 1,
                    SalesOutcome::Rejected => {
                        report.rejected += 1;
                        *report
                            .rejection_reasons
                            .entry(case.reason.unwrap_or("unspecified").to_string())
                            .or_default() += 1;
                    }
                }
            } else if o.positive() {
                report.missed_positives += 1;
            }
        }
        for hit in &s.hits {
            if let Some(i) = rule_ids.iter().position(|r| *r == hit.rule) {
                per_rule[i].0 += 1;
                if let Some(o) = case.outcome {
                    per_rule[i].1 += 1;
                    per_rule[i].2 += usize::from(o.positive());
                }
            }
        }
    }
    report.acceptance_rate = ratio(report.accepted + report.converted, report.mql_with_outcome);
    report.rejection_rate = ratio(report.rejected, report.mql_with_outcome);
    let base = ratio(positives, report.with_outcome);
    report.rules = rule_ids
        .iter()
        .zip(per_rule)
        .map(|(rule, (fired, with_outcome, positive))| {
            let rate = ratio(positive, with_outcome);
            RuleStats {
                rule: rule.to_string(),
                fired,
                positive_rate: rate,
                lift: match (rate, base) {
                    (Some(r), Some(b)) if b > 0.0 => Some((r / b * 100.0).round() / 100.0),
                    _ => None,
                },
            }
        })
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::lead::Lead;
    use serde_json::json;

    #[test]
    fn counts_rates_reasons_and_lift() {
        let model = Model::from_json(&json!({
            "name": "t",
            "fit": [{"id": "vp", "when": {"field": "title", "contains": "vp"}, "points": 70},
                    {"id": "big", "when": {"field": "employees", "at_least": "1001-5000"}, "points": 5}],
            "stages": [{"name": "mql", "enter_at": 60, "exit_below": 50}]
        }))
        .unwrap();
        let vp = Lead {
            title: Some("VP".into()),
            ..Lead::default()
        };
        let other = Lead {
            title: Some("Analyst".into()),
            ..Lead::default()
        };
        let case = |lead, outcome, reason| Case {
            facts: Facts {
                lead: Some(lead),
                ..Facts::default()
            },
            activities: &[],
            outcome,
            reason,
            at: 0,
        };
        let cases = vec![
            case(&vp, Some(SalesOutcome::Accepted), None),
            case(&vp, Some(SalesOutcome::Converted), None),
            case(&vp, Some(SalesOutcome::Rejected), Some("no_budget")),
            case(&vp, None, None),
            case(&other, Some(SalesOutcome::Converted), None),
            case(&other, Some(SalesOutcome::Rejected), Some("not_icp")),
        ];
        let r = run(&model, &cases);
        assert_eq!(
            (r.leads, r.would_be_mql, r.with_outcome, r.mql_with_outcome),
            (6, 4, 5, 3)
        );
        assert_eq!((r.accepted, r.converted, r.rejected), (1, 1, 1));
        assert_eq!(r.acceptance_rate, Some(0.667));
        assert_eq!(r.rejection_rate, Some(0.333));
        assert_eq!(
            r.rejection_reasons,
            BTreeMap::from([("no_budget".to_string(), 1)])
        );
        assert_eq!(
            r.missed_positives, 1,
            "a converted analyst the model would not surface"
        );
        let vp_rule = &r.rules[0];
        assert_eq!((vp_rule.fired, vp_rule.positive_rate), (4, Some(0.667)));
        assert_eq!(vp_rule.lift, Some(1.11), "0.667 / 0.6 overall");
        assert_eq!(r.rules[1].fired, 0);
        assert_eq!(r.rules[1].lift, None);
    }
}
