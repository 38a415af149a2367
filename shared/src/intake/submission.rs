//! A stored submission's way through the pipeline: received → merged into its lead → (its
//! explicit consent applied) → handed to scoring, i.e. processed. Each step is idempotent and
//! marks its end, so a run that failed midway resumes at the first step not yet done.

/// Where a submission is. Stored as its [`Status::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Received,
    Merged,
    Consented,
    Processed,
    /// Never merged: the person was erased.
    Discarded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Merged => "merged",
            Status::Consented => "consented",
            Status::Processed => "processed",
            Status::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Received,
            Status::Merged,
            Status::Consented,
            Status::Processed,
            Status::Discarded,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A step of the pipeline, named as the API reports a pending one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Merge,
    Consent,
    Handoff,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Merge => "merge",
            Step::Consent => "consent",
            Step::Handoff => "handoff",
        }
    }
}

/// The steps still to run for a submission in `status` (`consent`: it carries an explicit
/// consent claim), in order. A discarded or processed submission has none.
pub fn remaining(status: Status, consent: bool) -> Vec<Step> {
    let steps: &[Step] = match status {
        Status::Received if consent => &[Step::Merge, Step::Consent, Step::Handoff],
        Status::Received => &[Step::Merge, Step::Handoff],
        Status::Merged if consent => &[Step::Consent, Step::Handoff],
        Status::Merged | Status::Consented => &[Step::Handoff],
        Status::Processed | Status::Discarded => &[],
    };
    steps.to_vec()
}

/// The step a run stopped at, for the answer's `pending_step` (`None`: the submission is not
/// found, so its merge has not happened).
pub fn pending(status: Option<Status>, consent: bool) -> Step {
    status
        .and_then(|s| remaining(s, consent).first().copied())
        .unwrap_or(match status {
            None | Some(Status::Received) => Step::Merge,
            _ => Step::Handoff,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_resumes_at_the_first_step_not_yet_done() {
        assert_eq!(
            remaining(Status::Received, true),
            [Step::Merge, Step::Consent, Step::Handoff]
        );
        assert_eq!(
            remaining(Status::Received, false),
            [Step::Merge, Step::Handoff]
        );
        assert_eq!(
            remaining(Status::Merged, true),
            [Step::Consent, Step::Handoff]
        );
        assert_eq!(remaining(Status::Merged, false), [Step::Handoff]);
        assert_eq!(remaining(Status::Consented, true), [Step::Handoff]);
        assert!(remaining(Status::Processed, true).is_empty());
        assert!(remaining(Status::Discarded, false).is_empty());
        assert_eq!(pending(None, true), Step::Merge);
        assert_eq!(pending(Some(Status::Merged), true), Step::Consent);
        assert_eq!(pending(Some(Status::Merged), false), Step::Handoff);
    }

    #[test]
    fn statuses_read_back_as_stored() {
        for s in ["received", "merged", "consented", "processed", "discarded"] {
            assert_eq!(Status::parse(s).map(Status::as_str), Some(s));
        }
        assert_eq!(Status::parse("done"), None);
    }
}
