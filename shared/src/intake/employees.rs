//! Company size: counts and ranges as people type them ("51-200", "200+", "1,000", "10k",
//! "fewer than 10") into the bands routing and scoring use.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EmployeeBand {
    #[serde(rename = "1-10")]
    B1To10,
    #[serde(rename = "11-50")]
    B11To50,
    #[serde(rename = "51-200")]
    B51To200,
    #[serde(rename = "201-500")]
    B201To500,
    #[serde(rename = "501-1000")]
    B501To1000,
    #[serde(rename = "1001-5000")]
    B1001To5000,
    #[serde(rename = "5001-10000")]
    B5001To10000,
    #[serde(rename = "10001+")]
    B10001Plus,
}

impl EmployeeBand {
    pub const ALL: [EmployeeBand; 8] = [
        EmployeeBand::B1To10,
        EmployeeBand::B11To50,
        EmployeeBand::B51To200,
        EmployeeBand::B201To500,
        EmployeeBand::B501To1000,
        EmployeeBand::B1001To5000,
        EmployeeBand::B5001To10000,
        EmployeeBand::B10001Plus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmployeeBand::B1To10 => "1-10",
            EmployeeBand::B11To50 => "11-50",
            EmployeeBand::B51To200 => "51-200",
            EmployeeBand::B201To500 => "201-500",
            EmployeeBand::B501To1000 => "501-1000",
            EmployeeBand::B1001To5000 => "1001-5000",
            EmployeeBand::B5001To10000 => "5001-10000",
            EmployeeBand::B10001Plus => "10001+",
        }
    }

    pub fn parse_band(s: &str) -> Option<EmployeeBand> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// The smallest head count in the band.
    pub fn lower_bound(self) -> u64 {
        match self {
            EmployeeBand::B1To10 => 1,
            EmployeeBand::B11To50 => 11,
            EmployeeBand::B51To200 => 51,
            EmployeeBand::B201To500 => 201,
            EmployeeBand::B501To1000 => 501,
            EmployeeBand::B1001To5000 => 1001,
            EmployeeBand::B5001To10000 => 5001,
            EmployeeBand::B10001Plus => 10001,
        }
    }

    pub fn of_count(n: u64) -> EmployeeBand {
        Self::ALL
            .into_iter()
            .rev()
            .find(|b| n >= b.lower_bound())
            .unwrap_or(EmployeeBand::B1To10)
    }
}

/// Reads "1,000", "10k", "2.5K" as a number.
fn number(s: &str) -> Option<u64> {
    let s = s
        .trim()
        .to_ascii_lowercase()
        .replace([',', '_', ' ', '\''], "");
    let (digits, multiplier) = match s.strip_suffix('k') {
        Some(d) => (d.to_string(), 1000.0),
        None => match s.strip_suffix('m') {
            Some(d) => (d.to_string(), 1_000_000.0),
            None => (s, 1.0),
        },
    };
    let value = crate::text::parse_number(&digits).filter(|v| *v >= 0.0)?;
    (value >= 0.0 && value.is_finite()).then(|| (value * multiplier).round() as u64)
}

/// The band for what someone typed, or `None` if it is not a size.
pub fn parse_employees(raw: &str) -> Option<EmployeeBand> {
    let s = raw.trim().to_ascii_lowercase();
    if s.is_empty() {
        return None;
    }
    if let Some(band) = EmployeeBand::parse_band(&s.replace(' ', "")) {
        return Some(band);
    }
    let s = s
        .strip_suffix("employees")
        .or_else(|| s.strip_suffix("people"))
        .unwrap_or(&s)
        .trim();
    if matches!(
        s,
        "just me" | "self-employed" | "self employed" | "solo" | "freelancer"
    ) {
        return Some(EmployeeBand::B1To10);
    }
    // "200+", "more than 200", "over 200": more than the number.
    for prefix in ["more than", "over", ">", "above"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return number(rest).map(|n| EmployeeBand::of_count(n + 1));
        }
    }
    if let Some(rest) = s.strip_suffix('+') {
        return number(rest).map(|n| EmployeeBand::of_count(n + 1));
    }
    // "fewer than 10", "under 50", "<10", "up to 10": below the number.
    for prefix in ["fewer than", "less than", "under", "<", "up to"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return number(rest).map(|n| EmployeeBand::of_count(n.saturating_sub(1).max(1)));
        }
    }
    // A range: the band of its midpoint ("50-100" → 75 → 51-200).
    for sep in ["-", "–", " to "] {
        if let Some((lo, hi)) = s.split_once(sep) {
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo > hi {
                return None;
            }
            return Some(EmployeeBand::of_count((lo + hi) / 2));
        }
    }
    number(s).filter(|n| *n > 0).map(EmployeeBand::of_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EmployeeBand::*;

    #[test]
    fn counts_ranges_and_phrases() {
        for (raw, want) in [
            ("51-200", B51To200),
            ("51 - 200", B51To200),
            ("200+", B201To500),
            ("10,000+", B10001Plus),
            ("1,000", B501To1000),
            ("1000", B501To1000),
            ("1001", B1001To5000),
            ("10k", B5001To10000),
            ("2.5K", B1001To5000),
            ("50-100", B51To200),
            ("1–10", B1To10),
            ("fewer than 10", B1To10),
            ("under 50", B11To50),
            ("more than 5000", B5001To10000),
            ("just me", B1To10),
            ("250 employees", B201To500),
            ("10001+", B10001Plus),
            ("7", B1To10),
        ] {
            assert_eq!(parse_employees(raw), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn not_a_size() {
        for raw in ["", "lots", "200-50", "0", "-5", "n/a"] {
            assert_eq!(parse_employees(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn bands_round_trip_their_names() {
        for b in EmployeeBand::ALL {
            assert_eq!(EmployeeBand::parse_band(b.as_str()), Some(b));
            assert_eq!(EmployeeBand::of_count(b.lower_bound()), b);
            assert_eq!(serde_json::to_value(b).unwrap(), b.as_str());
        }
    }
}
