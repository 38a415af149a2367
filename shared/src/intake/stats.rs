//! What came in, per form and per webhook source, over recent days: accepted submissions,
//! refusals by reason (a form's spam and origin checks; a source's signature and timestamp
//! checks), and when each last received anything — the counters intake keeps per day, folded
//! into the figures the Health page and `GET /v1/admin/intake/stats` show.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The outcome recorded for an accepted submission or delivery.
pub const ACCEPTED: &str = "accepted";

/// One counter row: a day's count of one outcome for one form or source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    pub id: String,
    pub outcome: String,
    pub count: u64,
    /// The last time this outcome was counted (epoch ms); older rows may not have it.
    pub last_at: Option<i64>,
}

/// One form's or source's figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Figures {
    pub accepted: u64,
    /// Refusals by reason code.
    pub refused: BTreeMap<String, u64>,
    /// When anything last arrived (accepted or refused), epoch ms.
    pub last_at: Option<i64>,
    /// When something was last accepted, epoch ms.
    pub last_accepted_at: Option<i64>,
}

impl Figures {
    pub fn refusals(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// Folds counter rows into figures per id.
pub fn fold(rows: &[Row]) -> BTreeMap<String, Figures> {
    let mut out: BTreeMap<String, Figures> = BTreeMap::new();
    for r in rows {
        let f = out.entry(r.id.clone()).or_default();
        if r.outcome == ACCEPTED {
            f.accepted += r.count;
            f.last_accepted_at = f.last_accepted_at.max(r.last_at);
        } else {
            *f.refused.entry(r.outcome.clone()).or_default() += r.count;
        }
        f.last_at = f.last_at.max(r.last_at);
    }
    out
}

/// A webhook delivery whose signature did not verify.
pub const INVALID_SIGNATURE: &str = "invalid_signature";
/// A webhook delivery signed too long ago (or in the future) to be fresh.
pub const STALE_TIMESTAMP: &str = "stale_timestamp";
/// The refusal codes that mean a webhook's sender could not prove who it is.
pub const SIGNATURE_FAILURES: [&str; 2] = [INVALID_SIGNATURE, STALE_TIMESTAMP];

/// Sources whose deliveries failed their signature or timestamp check, with how many.
pub fn signature_failures(sources: &BTreeMap<String, Figures>) -> Vec<(String, u64)> {
    sources
        .iter()
        .map(|(id, f)| {
            let n: u64 = SIGNATURE_FAILURES
                .iter()
                .filter_map(|code| f.refused.get(*code))
                .sum();
            (id.clone(), n)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, outcome: &str, count: u64, last_at: Option<i64>) -> Row {
        Row {
            id: id.into(),
            outcome: outcome.into(),
            count,
            last_at,
        }
    }

    #[test]
    fn days_fold_into_totals_with_the_latest_times() {
        let by = fold(&[
            row("src_a", ACCEPTED, 3, Some(100)),
            row("src_a", ACCEPTED, 2, Some(300)),
            row("src_a", "invalid_signature", 4, Some(400)),
            row("src_b", "stale_timestamp", 1, None),
        ]);
        let a = &by["src_a"];
        assert_eq!((a.accepted, a.refusals()), (5, 4));
        assert_eq!(a.last_accepted_at, Some(300));
        assert_eq!(a.last_at, Some(400));
        assert_eq!(by["src_b"].last_at, None);
        assert_eq!(
            signature_failures(&by),
            [("src_a".to_string(), 4), ("src_b".to_string(), 1)]
        );
    }

    #[test]
    fn sources_that_only_accept_have_no_signature_failures() {
        let by = fold(&[
            row("src_a", ACCEPTED, 3, Some(1)),
            row("form_x", "spam", 2, Some(2)),
        ]);
        assert!(signature_failures(&by).is_empty());
    }
}
