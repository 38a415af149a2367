//! What sales' verdict on a lead does: which verdicts a stage allows, the stage it leads to,
//! whether earlier engagement still counts, and whether the lead's assignment closes. The
//! scoring handler loads the lead's stage, calls [`plan`], and stores what it says.

use super::backtest::SalesOutcome;
use super::{Model, Recycle, MQL};
use crate::problem::FieldError;

/// What recording an outcome does to the lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The lead's stage afterwards: `accepted`, `converted`, `disqualified` or `nurture`.
    pub stage: &'static str,
    /// From when engagement counts: unchanged, or `now` for a lead recycled to nurture, which
    /// must show new interest to become an MQL again.
    pub engagement_since: Option<i64>,
    /// The reason recorded with the stage transition (`rejected:<code>`, or the outcome).
    pub reason: String,
    /// How a rejection recycles the lead (`None` for other outcomes).
    pub recycle: Option<Recycle>,
    /// A rejected or converted lead is no longer its owner's open work: its assignment closes,
    /// which frees the rep's capacity and stops its SLA clock.
    pub closes_assignment: bool,
}

/// Why an outcome cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request itself is wrong (a rejection without a configured reason): 422.
    Invalid(FieldError),
    /// The lead's stage does not allow it (only an MQL or accepted lead is accepted or
    /// rejected; a converted lead is not converted again): 409.
    NotNow(String),
}

/// The reason codes of the model's rejection reasons, for error messages.
fn codes(model: &Model) -> String {
    model
        .spec
        .rejection_reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a rejection recycles the lead, or why the reason is refused; `None` for other outcomes.
/// Depends only on the request and the model, so it is checked before the lead is read.
pub fn recycle(
    model: &Model,
    outcome: SalesOutcome,
    reason: Option<&str>,
) -> Result<Option<Recycle>, FieldError> {
    match (outcome, reason) {
        (SalesOutcome::Rejected, None) => Err(FieldError::new(
            "reason",
            format!("give one of {}", codes(model)),
        )),
        (SalesOutcome::Rejected, Some(code)) => match model.reason(code) {
            Some(r) => Ok(Some(r.recycle)),
            None => Err(FieldError::new(
                "reason",
                format!(
                    "`{code}` is not a configured reason; use one of {}",
                    codes(model)
                ),
            )),
        },
        _ => Ok(None),
    }
}

/// What recording `outcome` (with `reason`) does to a lead in `stage` whose engagement counts
/// from `engagement_since`, at `now`.
pub fn plan(
    model: &Model,
    outcome: SalesOutcome,
    reason: Option<&str>,
    stage: &str,
    engagement_since: Option<i64>,
    now: i64,
) -> Result<Plan, Refusal> {
    let recycle = recycle(model, outcome, reason).map_err(Refusal::Invalid)?;
    let allowed = match outcome {
        SalesOutcome::Accepted | SalesOutcome::Rejected => stage == MQL || stage == "accepted",
        SalesOutcome::Converted => stage != "converted",
    };
    let name = outcome.as_str();
    if !allowed {
        return Err(Refusal::NotNow(format!(
            "the lead is `{stage}`; only an MQL (or accepted lead) can be {name}"
        )));
    }
    let (stage, engagement_since) = match (outcome, recycle) {
        (SalesOutcome::Accepted, _) => ("accepted", engagement_since),
        (SalesOutcome::Converted, _) => ("converted", engagement_since),
        (SalesOutcome::Rejected, Some(Recycle::Disqualify)) => ("disqualified", engagement_since),
        (SalesOutcome::Rejected, _) => ("nurture", Some(now)),
    };
    Ok(Plan {
        stage,
        engagement_since,
        reason: match (outcome, reason) {
            (SalesOutcome::Rejected, Some(code)) => format!("rejected:{code}"),
            _ => name.to_string(),
        },
        recycle,
        closes_assignment: outcome != SalesOutcome::Accepted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> Model {
        Model::from_json(&json!({
            "name": "m",
            "fit": [], "engagement": [],
            "stages": [{"name": "mql", "enter_at": 50, "exit_below": 40}],
            "rejection_reasons": [
                {"code": "no_budget", "label": "No budget", "recycle": "nurture"},
                {"code": "not_icp", "label": "Not ICP", "recycle": "disqualify"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_rejection_recycles_by_its_reason_and_closes_the_assignment() {
        let m = model();
        let nurture = plan(
            &m,
            SalesOutcome::Rejected,
            Some("no_budget"),
            "mql",
            Some(5),
            100,
        )
        .unwrap();
        assert_eq!(
            (
                nurture.stage,
                nurture.engagement_since,
                nurture.reason.as_str()
            ),
            ("nurture", Some(100), "rejected:no_budget")
        );
        assert!(nurture.closes_assignment);
        let out = plan(
            &m,
            SalesOutcome::Rejected,
            Some("not_icp"),
            "accepted",
            Some(5),
            100,
        )
        .unwrap();
        assert_eq!((out.stage, out.engagement_since), ("disqualified", Some(5)));
        assert_eq!(out.recycle, Some(Recycle::Disqualify));
    }

    #[test]
    fn acceptance_keeps_the_assignment_and_conversion_closes_it() {
        let m = model();
        let accepted = plan(&m, SalesOutcome::Accepted, None, "mql", Some(5), 100).unwrap();
        assert_eq!(
            (accepted.stage, accepted.engagement_since),
            ("accepted", Some(5))
        );
        assert!(!accepted.closes_assignment);
        let converted = plan(&m, SalesOutcome::Converted, None, "new", None, 100).unwrap();
        assert_eq!(
            (converted.stage, converted.reason.as_str()),
            ("converted", "converted")
        );
        assert!(converted.closes_assignment);
    }

    #[test]
    fn the_stage_and_the_reason_must_allow_the_outcome() {
        let m = model();
        assert!(matches!(
            plan(&m, SalesOutcome::Accepted, None, "new", None, 0),
            Err(Refusal::NotNow(_))
        ));
        assert!(matches!(
            plan(&m, SalesOutcome::Converted, None, "converted", None, 0),
            Err(Refusal::NotNow(_))
        ));
        let Err(Refusal::Invalid(e)) = plan(&m, SalesOutcome::Rejected, None, "mql", None, 0)
        else {
            panic!("a rejection needs a reason");
        };
        assert_eq!(
            (e.field.as_str(), e.reason.as_str()),
            ("reason", "give one of no_budget, not_icp")
        );
        let Err(Refusal::Invalid(e)) = plan(&m, SalesOutcome::Rejected, Some("x"), "mql", None, 0)
        else {
            panic!("an unknown reason is refused");
        };
        assert!(
            e.reason.starts_with("`x` is not a configured reason"),
            "{e:?}"
        );
    }
}
