//! The funnel both teams read: for a period, how many leads arrived, became MQLs, were accepted,
//! rejected (by reason) or converted — in total and by lead source, first-touch UTM source,
//! medium and campaign, and the form that brought the lead in.
//!
//! The definitions, which the console and the API share:
//! - a **new lead** was created in the period;
//! - an **MQL** is a lead that entered the MQL stage in the period (once per lead, however often);
//! - **accepted**, **rejected** and **converted** count the outcomes sales recorded in the period.
//!
//! The handler reads counts grouped by measure and dimensions; this folds them into figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    New,
    Mql,
    Accepted,
    Rejected,
    Converted,
}

/// A count of one measure for one combination of dimensions.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    pub measure: Measure,
    /// A rejection's reason code.
    pub reason: Option<String>,
    pub source: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub form: Option<String>,
    pub n: u64,
}

/// The five figures of a funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Figures {
    pub new_leads: u64,
    pub mqls: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub converted: u64,
}

impl Figures {
    fn add(&mut self, measure: Measure, n: u64) {
        let slot = match measure {
            Measure::New => &mut self.new_leads,
            Measure::Mql => &mut self.mqls,
            Measure::Accepted => &mut self.accepted,
            Measure::Rejected => &mut self.rejected,
            Measure::Converted => &mut self.converted,
        };
        *slot += n;
    }
}

/// What a lead without a value for a dimension is listed under.
pub const NONE: &str = "(none)";

/// A period's funnel.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Funnel {
    pub totals: Figures,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub by_source: BTreeMap<String, Figures>,
    pub by_utm_source: BTreeMap<String, Figures>,
    pub by_utm_medium: BTreeMap<String, Figures>,
    pub by_utm_campaign: BTreeMap<String, Figures>,
    pub by_form: BTreeMap<String, Figures>,
}

fn bucket<'m>(map: &'m mut BTreeMap<String, Figures>, key: &Option<String>) -> &'m mut Figures {
    let key = key.as_deref().filter(|k| !k.is_empty()).unwrap_or(NONE);
    map.entry(key.to_string()).or_default()
}

/// Folds grouped counts into a funnel.
pub fn funnel(rows: &[Row]) -> Funnel {
    let mut f = Funnel::default();
    for r in rows {
        f.totals.add(r.measure, r.n);
        if r.measure == Measure::Rejected {
            let reason = r.reason.as_deref().unwrap_or(NONE).to_string();
            *f.rejected_by_reason.entry(reason).or_default() += r.n;
        }
        bucket(&mut f.by_source, &r.source).add(r.measure, r.n);
        bucket(&mut f.by_utm_source, &r.utm_source).add(r.measure, r.n);
        bucket(&mut f.by_utm_medium, &r.utm_medium).add(r.measure, r.n);
        bucket(&mut f.by_utm_campaign, &r.utm_campaign).add(r.measure, r.n);
        bucket(&mut f.by_form, &r.form).add(r.measure, r.n);
    }
    f
}

/// The period of the same length just before `[from, to)`, to compare against — cut short at
/// year 0 ([`crate::time::EARLIEST`]), before which no time can be written in RFC 3339.
pub fn previous_period(from: i64, to: i64) -> (i64, i64) {
    let start = from.saturating_sub(to - from).max(crate::time::EARLIEST);
    (start.min(from), from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(measure: Measure, source: Option<&str>, form: Option<&str>, n: u64) -> Row {
        Row {
            measure,
            reason: None,
            source: source.map(str::to_string),
            utm_source: None,
            utm_medium: Some("cpc".into()),
            utm_campaign: None,
            form: form.map(str::to_string),
            n,
        }
    }

    #[test]
    fn counts_fold_into_totals_and_every_breakdown() {
        let mut rejected = row(Measure::Rejected, Some("webinar"), None, 2);
        rejected.reason = Some("no_budget".into());
        let rows = [
            row(Measure::New, Some("webinar"), Some("form_a"), 5),
            row(Measure::New, None, None, 3),
            row(Measure::Mql, Some("webinar"), Some("form_a"), 2),
            rejected,
            row(Measure::Converted, None, None, 1),
        ];
        let f = funnel(&rows);
        assert_eq!(
            f.totals,
            Figures {
                new_leads: 8,
                mqls: 2,
                accepted: 0,
                rejected: 2,
                converted: 1
            }
        );
        assert_eq!(f.rejected_by_reason["no_budget"], 2);
        assert_eq!(f.by_source["webinar"].new_leads, 5);
        assert_eq!(f.by_source[NONE].new_leads, 3);
        assert_eq!(f.by_form["form_a"].mqls, 2);
        assert_eq!(f.by_utm_medium["cpc"].new_leads, 8);
        // Every breakdown adds up to the totals.
        for by in [
            &f.by_source,
            &f.by_utm_source,
            &f.by_utm_medium,
            &f.by_utm_campaign,
            &f.by_form,
        ] {
            let sum: u64 = by
                .values()
                .map(|v| v.new_leads + v.mqls + v.rejected + v.converted)
                .sum();
            assert_eq!(sum, 8 + 2 + 2 + 1);
        }
    }

    #[test]
    fn an_empty_period_is_all_zero() {
        let f = funnel(&[]);
        assert_eq!(f.totals, Figures::default());
        assert!(f.by_source.is_empty());
    }

    #[test]
    fn the_previous_period_has_the_same_length_and_ends_where_this_one_starts() {
        assert_eq!(previous_period(1_000, 1_600), (400, 1_000));
        let year_zero = crate::time::EARLIEST;
        assert_eq!(previous_period(year_zero, 0), (year_zero, year_zero));
        assert!(
            crate::time::rfc3339(previous_period(year_zero + 10, year_zero + 1_000).0)
                .starts_with("0000-")
        );
    }
}
