//! Timestamps: the domain counts time in milliseconds since the Unix epoch (what the Workers
//! runtime hands us and what D1 stores); the API speaks RFC 3339.

use chrono::{DateTime, SecondsFormat, Utc};

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// `2026-11-22T10:53:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// 0000-01-01T00:00:00Z, the earliest instant RFC 3339 can write.
pub const EARLIEST: i64 = -62_167_219_200_000;

/// A reporting window `[from, to)`: `to` defaults to just after `now`, `from` to `default_span`
/// before `to` (never before [`EARLIEST`], so it can always be written back). `from` after `to`
/// is refused; `from == to` is an empty window.
pub fn window(
    from: Option<i64>,
    to: Option<i64>,
    now: i64,
    default_span: i64,
) -> Result<(i64, i64), crate::problem::FieldError> {
    let to = to.unwrap_or(now + 1);
    let from = from.unwrap_or_else(|| to.saturating_sub(default_span).max(EARLIEST));
    if from > to {
        return Err(crate::problem::FieldError::new(
            "from",
            "must not be after `to`",
        ));
    }
    Ok((from, to))
}

/// Parses RFC 3339 (any offset) into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|dt| dt.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        let ms = 1_795_000_000_123;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        assert_eq!(
            parse_rfc3339("2026-01-01T01:00:00+01:00"),
            parse_rfc3339("2026-01-01T00:00:00Z")
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn windows_default_clamp_and_refuse_backwards() {
        assert_eq!(
            window(None, None, 100 * DAY, 30 * DAY),
            Ok((70 * DAY + 1, 100 * DAY + 1))
        );
        let start = parse_rfc3339("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(start, EARLIEST);
        // A window ending at the first instant starts there too, and stays writable.
        assert_eq!(window(None, Some(start), 0, 30 * DAY), Ok((start, start)));
        assert_eq!(rfc3339(start), "0000-01-01T00:00:00.000Z");
        assert_eq!(window(Some(5), Some(5), 0, DAY), Ok((5, 5)));
        assert_eq!(window(Some(6), Some(5), 0, DAY).unwrap_err().field, "from");
    }
}
