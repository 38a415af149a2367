//! Working hours and business time: a weekly schedule in an IANA time zone, with holidays.
//!
//! Routing asks "is this rep working now?"; SLA deadlines count business minutes ("1 business
//! hour") across nights, weekends, holidays and daylight-saving changes. Both go through
//! [`Schedule`], whose arithmetic works on real instants: each working interval is turned into
//! UTC for its own date, so a 09:00–17:00 day is eight real hours on either side of a DST change
//! and a local time that does not exist (the spring-forward gap) moves on by the gap.
//!
//! ```json
//! {"timezone": "Europe/Berlin",
//!  "hours": {"mon": "09:00-17:00", "tue": "09:00-12:00, 13:00-17:00", "sat": ""},
//!  "holidays": ["2026-12-25", "2026-12-26"]}
//! ```
//! Days left out (or given as an empty string) are closed; `24:00` ends a day.
//!
//! Time-zone rules come from the platform: a [`Zones`] resolver installed with
//! [`install_zones`] (the Workers handlers install one backed by the runtime's `Intl` data, so
//! no zone database is compiled into the WASM). On the host the IANA database of `chrono-tz`
//! is the default, for unit tests and benchmarks.

use std::cell::RefCell;
use std::rc::Rc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use serde_json::{json, Value};

use crate::problem::FieldError;

/// A time zone: its name and its UTC offset at any instant.
pub trait Zone: std::fmt::Debug {
    fn name(&self) -> &str;
    /// The offset from UTC, in milliseconds, in force at the instant `utc_ms`.
    fn offset_ms(&self, utc_ms: i64) -> i64;
}

/// Finds a zone by IANA name.
pub trait Zones {
    fn zone(&self, name: &str) -> Option<Rc<dyn Zone>>;
}

/// UTC, always available.
#[derive(Debug)]
pub struct Utc;

impl Zone for Utc {
    fn name(&self) -> &str {
        "UTC"
    }
    fn offset_ms(&self, _: i64) -> i64 {
        0
    }
}

thread_local! {
    static ZONES: RefCell<Option<Rc<dyn Zones>>> = RefCell::new(default_zones());
}

#[cfg(not(target_arch = "wasm32"))]
fn default_zones() -> Option<Rc<dyn Zones>> {
    Some(Rc::new(tzdb::Tzdb))
}

#[cfg(target_arch = "wasm32")]
fn default_zones() -> Option<Rc<dyn Zones>> {
    None
}

/// Installs the zone resolver for this thread (once per isolate in a Worker).
pub fn install_zones(zones: Rc<dyn Zones>) {
    ZONES.with(|z| *z.borrow_mut() = Some(zones));
}

pub fn zones_installed() -> bool {
    ZONES.with(|z| z.borrow().is_some())
}

/// Resolves an IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`).
pub fn parse_tz(name: &str) -> Option<Rc<dyn Zone>> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") {
        return Some(Rc::new(Utc));
    }
    ZONES.with(|z| z.borrow().as_ref().and_then(|z| z.zone(name)))
}

#[cfg(not(target_arch = "wasm32"))]
mod tzdb {
    use std::rc::Rc;

    use chrono::{Offset, TimeZone};

    /// The IANA database compiled in by `chrono-tz` (host builds only).
    pub struct Tzdb;

    #[derive(Debug)]
    struct Named(chrono_tz::Tz);

    impl super::Zone for Named {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn offset_ms(&self, utc_ms: i64) -> i64 {
            let offset = self.0.offset_from_utc_datetime(
                &chrono::DateTime::from_timestamp_millis(utc_ms)
                    .unwrap_or_default()
                    .naive_utc(),
            );
            offset.fix().local_minus_utc() as i64 * 1000
        }
    }

    impl super::Zones for Tzdb {
        fn zone(&self, name: &str) -> Option<Rc<dyn super::Zone>> {
            name.parse::<chrono_tz::Tz>()
                .ok()
                .map(|tz| Rc::new(Named(tz)) as Rc<dyn super::Zone>)
        }
    }
}

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MINUTE_MS: i64 = 60_000;
/// How far ahead business-time arithmetic looks before giving up (a schedule open a few hours a
/// year still resolves; one that never opens is refused when parsed).
const HORIZON_DAYS: i64 = 800;

/// The local date and minute of day at one instant, per time zone, looked up once per zone.
pub struct Clocks {
    at: i64,
    zones: Vec<(String, Option<(NaiveDate, u32)>)>,
}

impl Clocks {
    pub fn at(ms: i64) -> Clocks {
        Clocks {
            at: ms,
            zones: Vec::new(),
        }
    }

    /// The wall clock in `tz` (date, minute of the day); `None` out of chrono's range.
    fn wall_clock(&mut self, tz: &dyn Zone) -> Option<(NaiveDate, u32)> {
        if let Some((_, clock)) = self.zones.iter().find(|(name, _)| name == tz.name()) {
            return *clock;
        }
        let local = self.at + tz.offset_ms(self.at);
        let clock = DateTime::from_timestamp_millis(local)
            .map(|at| (at.date_naive(), (local.rem_euclid(DAY_MS) / 60_000) as u32));
        self.zones.push((tz.name().to_string(), clock));
        clock
    }
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub tz: Rc<dyn Zone>,
    /// Open intervals per weekday (Monday first) as minutes since local midnight, `[start, end)`.
    pub week: [Vec<(u32, u32)>; 7],
    pub holidays: Vec<NaiveDate>,
}

fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// `YYYY-MM-DD` (without chrono's format machinery, which is large in WASM).
pub fn date_text(d: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.trim().splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Parses `"09:00-12:00, 13:00-17:00"` into sorted, non-overlapping intervals.
pub fn parse_day(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part
            .split_once('-')
            .ok_or_else(|| format!("`{part}` is not HH:MM-HH:MM"))?;
        let (start, end) = match (parse_clock(a), parse_clock(b)) {
            (Some(s), Some(e)) => (s, e),
            _ => return Err(format!("`{part}` is not HH:MM-HH:MM")),
        };
        if start >= end {
            return Err(format!(
                "`{part}` ends before it starts (split a night shift at midnight)"
            ));
        }
        out.push((start, end));
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(format!("`{text}` has overlapping intervals"));
    }
    Ok(out)
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.tz.name() == other.tz.name()
            && self.week == other.week
            && self.holidays == other.holidays
    }
}

const DAY_MS: i64 = 86_400_000;

impl Schedule {
    /// Every day, all day, in UTC: what a rep without working hours is treated as.
    pub fn always() -> Schedule {
        Schedule {
            tz: Rc::new(Utc),
            week: std::array::from_fn(|_| vec![(0, 24 * 60)]),
            holidays: Vec::new(),
        }
    }

    /// Parses a schedule document; errors name the field (`hours.mon`, `holidays[1]`).
    pub fn parse(v: &Value) -> Result<Schedule, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tz = match v.get("timezone").and_then(Value::as_str) {
            Some(name) => parse_tz(name).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    "timezone",
                    format!("`{name}` is not an IANA time zone such as Europe/Berlin"),
                ));
                Rc::new(Utc)
            }),
            None => {
                errors.push(FieldError::new(
                    "timezone",
                    "give an IANA time zone such as America/New_York",
                ));
                Rc::new(Utc)
            }
        };
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        match v.get("hours") {
            Some(Value::Object(days)) => {
                for (key, value) in days {
                    let Some(i) = DAYS.iter().position(|d| d == key) else {
                        errors.push(FieldError::new(
                            format!("hours.{key}"),
                            "days are mon, tue, wed, thu, fri, sat, sun",
                        ));
                        continue;
                    };
                    match value.as_str().map(parse_day) {
                        Some(Ok(intervals)) => week[i] = intervals,
                        Some(Err(e)) => errors.push(FieldError::new(format!("hours.{key}"), e)),
                        None => errors.push(FieldError::new(
                            format!("hours.{key}"),
                            "give intervals as a string such as \"09:00-17:00\"",
                        )),
                    }
                }
                if errors.is_empty() && week.iter().all(Vec::is_empty) {
                    errors.push(FieldError::new(
                        "hours",
                        "the schedule is never open; give at least one day",
                    ));
                }
            }
            _ => errors.push(FieldError::new(
                "hours",
                "give working hours per day, e.g. {\"mon\": \"09:00-17:00\"}",
            )),
        }
        let mut holidays = Vec::new();
        match v.get("holidays") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().and_then(parse_date) {
                        Some(d) => holidays.push(d),
                        None => errors.push(FieldError::new(
                            format!("holidays[{i}]"),
                            "give a date as YYYY-MM-DD",
                        )),
                    }
                }
            }
            Some(_) => errors.push(FieldError::new("holidays", "give a list of YYYY-MM-DD")),
        }
        holidays.sort_unstable();
        holidays.dedup();
        if errors.is_empty() {
            Ok(Schedule { tz, week, holidays })
        } else {
            Err(errors)
        }
    }

    /// The document form, as [`Schedule::parse`] reads it.
    pub fn to_json(&self) -> Value {
        let mut hours = serde_json::Map::new();
        for (i, day) in self.week.iter().enumerate() {
            if !day.is_empty() {
                let text = day
                    .iter()
                    .map(|(s, e)| format!("{}-{}", clock(*s), clock(*e)))
                    .collect::<Vec<_>>()
                    .join(", ");
                hours.insert(DAYS[i].into(), Value::String(text));
            }
        }
        json!({
            "timezone": self.tz.name(),
            "hours": hours,
            "holidays": self.holidays.iter().map(|d| date_text(*d)).collect::<Vec<_>>(),
        })
    }

    fn local_date(&self, ms: i64) -> NaiveDate {
        let local = ms + self.tz.offset_ms(ms);
        DateTime::from_timestamp_millis(local)
            .unwrap_or_default()
            .date_naive()
    }

    /// The local calendar date at `ms`, as `YYYY-MM-DD` (a rep's "today" for daily capacity).
    pub fn local_day(&self, ms: i64) -> String {
        date_text(self.local_date(ms))
    }

    /// A local wall-clock time on `date` as an instant; a time inside a DST gap moves on by the
    /// gap; an ambiguous one takes the earlier (`first`) or later instant.
    fn instant(&self, date: NaiveDate, minutes: u32, first: bool) -> i64 {
        let (date, minutes) = if minutes >= 24 * 60 {
            (date + Duration::days(1), minutes - 24 * 60)
        } else {
            (date, minutes)
        };
        let local = NaiveDateTime::new(
            date,
            NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap(),
        )
        .and_utc()
        .timestamp_millis();
        // The offsets in force a day either side; each that maps back to `local` is a real
        // instant. Two: the wall time repeats (DST ends). None: it falls in a gap (DST starts),
        // and the earlier offset carries it past the gap, as a clock moved forward would.
        let before = self.tz.offset_ms(local - DAY_MS);
        let after = self.tz.offset_ms(local + DAY_MS);
        let valid: Vec<i64> = [local - before, local - after]
            .into_iter()
            .filter(|&utc| utc + self.tz.offset_ms(utc) == local)
            .collect();
        match (valid.iter().min(), valid.iter().max()) {
            (Some(&earliest), Some(&latest)) => {
                if first {
                    earliest
                } else {
                    latest
                }
            }
            _ => local - before,
        }
    }

    /// The open intervals of one local date as instants (none on a holiday).
    fn intervals_on(&self, date: NaiveDate) -> Vec<(i64, i64)> {
        if self.holidays.binary_search(&date).is_ok() {
            return Vec::new();
        }
        self.week[date.weekday().num_days_from_monday() as usize]
            .iter()
            .map(|&(s, e)| (self.instant(date, s, true), self.instant(date, e, false)))
            .filter(|(s, e)| s < e)
            .collect()
    }

    /// Whether the schedule is open at `ms`: the local wall clock at `ms` falls in one of the
    /// day's intervals.
    pub fn is_open(&self, ms: i64) -> bool {
        self.is_open_on(&mut Clocks::at(ms))
    }

    /// [`Schedule::is_open`] at the instant of `clocks`, which looks each distinct time zone up
    /// once however many schedules ask (routing asks for every candidate; in a Worker each
    /// lookup crosses into the runtime's `Intl`).
    pub fn is_open_on(&self, clocks: &mut Clocks) -> bool {
        let Some((date, minute)) = clocks.wall_clock(self.tz.as_ref()) else {
            return false;
        };
        if self.holidays.binary_search(&date).is_ok() {
            return false;
        }
        self.week[date.weekday().num_days_from_monday() as usize]
            .iter()
            .any(|&(s, e)| s <= minute && minute < e)
    }

    /// The instant `minutes` business minutes after `start` (counting starts at the next
    /// opening when `start` is outside hours). `None` only past the look-ahead horizon.
    pub fn add_business_minutes(&self, start: i64, minutes: i64) -> Option<i64> {
        let mut left = minutes.max(0) * MINUTE_MS;
        let mut date = self.local_date(start) - Duration::days(1);
        for _ in 0..HORIZON_DAYS {
            for (s, e) in self.intervals_on(date) {
                let from = s.max(start);
                if from >= e {
                    continue;
                }
                if from + left <= e {
                    return Some(from + left);
                }
                left -= e - from;
            }
            date += Duration::days(1);
        }
        None
    }

    /// Business milliseconds between two instants (0 when `end <= start`).
    pub fn business_ms_between(&self, start: i64, end: i64) -> i64 {
        if end <= start {
            return 0;
        }
        let mut total = 0;
        let mut date = self.local_date(start) - Duration::days(1);
        let last = self.local_date(end) + Duration::days(1);
        while date <= last {
            for (s, e) in self.intervals_on(date) {
                let (a, b) = (s.max(start), e.min(end));
                if a < b {
                    total += b - a;
                }
            }
            date += Duration::days(1);
        }
        total
    }

    /// When the schedule next opens at or after `ms` (`ms` itself when open).
    pub fn next_open(&self, ms: i64) -> Option<i64> {
        self.add_business_minutes(ms, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn schedule(doc: Value) -> Schedule {
        Schedule::parse(&doc).unwrap()
    }

    fn new_york() -> Schedule {
        schedule(json!({
            "timezone": "America/New_York",
            "hours": {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00",
                      "thu": "09:00-17:00", "fri": "09:00-17:00"},
            "holidays": ["2026-12-25"]
        }))
    }

    #[test]
    fn parses_days_and_refuses_bad_ones_by_field() {
        let s = schedule(
            json!({"timezone": "Europe/Berlin", "hours": {"mon": "13:00-17:00, 09:00-12:00", "sun": ""}}),
        );
        assert_eq!(s.week[0], vec![(540, 720), (780, 1020)]);
        assert!(s.week[6].is_empty());
        let errors = Schedule::parse(&json!({
            "timezone": "Mars/Olympus",
            "hours": {"mon": "17:00-09:00", "tue": "9-5", "fri": "09:00-12:00,11:00-13:00", "xyz": "09:00-10:00"},
            "holidays": ["25/12/2026"]
        }))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "timezone",
            "hours.mon",
            "hours.tue",
            "hours.fri",
            "hours.xyz",
            "holidays[0]",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let never = Schedule::parse(&json!({"timezone": "UTC", "hours": {}})).unwrap_err();
        assert_eq!(never[0].field, "hours");
        assert!(
            Schedule::parse(&json!({"timezone": "UTC", "hours": {"mon": "00:00-24:00"}})).is_ok()
        );
    }

    #[test]
    fn round_trips_through_json() {
        let s = new_york();
        assert_eq!(Schedule::parse(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn open_follows_the_local_clock_weekends_and_holidays() {
        let s = new_york();
        // Monday 2026-11-23 09:30 in New York is 14:30 UTC (EST, UTC-5).
        assert!(s.is_open(at("2026-11-23T14:30:00Z")));
        assert!(!s.is_open(at("2026-11-23T13:59:00Z")));
        assert!(!s.is_open(at("2026-11-23T22:00:00Z")));
        // Saturday.
        assert!(!s.is_open(at("2026-11-28T15:00:00Z")));
        // Christmas is a Friday holiday.
        assert!(!s.is_open(at("2026-12-25T15:00:00Z")));
        // Same local time in summer is 13:30 UTC (EDT, UTC-4).
        assert!(s.is_open(at("2026-07-06T13:30:00Z")));
    }

    #[test]
    fn business_minutes_skip_nights_and_weekends() {
        let s = new_york();
        // Friday 16:30 local + 1 business hour = Monday 09:30 local.
        let start = at("2026-11-20T21:30:00Z");
        assert_eq!(
            s.add_business_minutes(start, 60),
            Some(at("2026-11-23T14:30:00Z"))
        );
        // Outside hours the clock starts at the next opening.
        assert_eq!(
            s.add_business_minutes(at("2026-11-21T12:00:00Z"), 30),
            Some(at("2026-11-23T14:30:00Z"))
        );
        // 24 business hours = three working days.
        assert_eq!(
            s.add_business_minutes(at("2026-11-23T14:00:00Z"), 24 * 60),
            Some(at("2026-11-25T22:00:00Z"))
        );
        // Over the Christmas holiday (Fri) and the weekend.
        assert_eq!(
            s.add_business_minutes(at("2026-12-24T21:00:00Z"), 120),
            Some(at("2026-12-28T15:00:00Z"))
        );
        assert_eq!(
            s.business_ms_between(at("2026-11-20T21:30:00Z"), at("2026-11-23T14:30:00Z")),
            60 * MINUTE_MS
        );
        assert_eq!(s.business_ms_between(10, 5), 0);
    }

    #[test]
    fn dst_changes_keep_working_hours_in_local_time() {
        let s = new_york();
        // US DST ends Sunday 2026-11-01: Friday 16:00 EDT (20:00Z) + 2h = Monday 10:00 EST (15:00Z).
        assert_eq!(
            s.add_business_minutes(at("2026-10-30T20:00:00Z"), 120),
            Some(at("2026-11-02T15:00:00Z"))
        );
        // US DST starts Sunday 2026-03-08: Friday 16:00 EST (21:00Z) + 2h = Monday 10:00 EDT (14:00Z).
        assert_eq!(
            s.add_business_minutes(at("2026-03-06T21:00:00Z"), 120),
            Some(at("2026-03-09T14:00:00Z"))
        );
        // A shift across the spring-forward gap is one real hour shorter.
        let night =
            schedule(json!({"timezone": "America/New_York", "hours": {"sun": "00:00-06:00"}}));
        assert_eq!(
            night.business_ms_between(at("2026-03-08T05:00:00Z"), at("2026-03-08T12:00:00Z")),
            5 * 60 * MINUTE_MS
        );
        // ... and one longer across the fall-back repeat.
        assert_eq!(
            night.business_ms_between(at("2026-11-01T04:00:00Z"), at("2026-11-01T12:00:00Z")),
            7 * 60 * MINUTE_MS
        );
    }

    #[test]
    fn zones_east_of_utc_cross_the_date_line_correctly() {
        let s = schedule(json!({"timezone": "Asia/Tokyo", "hours": {"mon": "09:00-18:00"}}));
        // Monday 09:00 in Tokyo is Sunday 24:00 UTC.
        assert!(s.is_open(at("2026-11-23T00:00:00Z")));
        assert!(!s.is_open(at("2026-11-22T23:59:00Z")));
        assert_eq!(s.local_day(at("2026-11-22T23:00:00Z")), "2026-11-23");
        assert_eq!(
            s.add_business_minutes(at("2026-11-23T08:00:00Z"), 120),
            Some(at("2026-11-30T01:00:00Z"))
        );
    }
}
