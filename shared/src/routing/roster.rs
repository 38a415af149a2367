//! The sales roster: reps (status, out of office, capacity, working hours) and teams (members,
//! weights, distribution mode), and whether a rep can take a lead right now.
//!
//! ```json
//! rep:  {"name": "Ava Ng", "email": "ava@ours.example", "status": "active",
//!        "out_of_office_until": "2026-12-01T08:00:00Z", "manager": "rep_lee",
//!        "capacity": {"max_open": 40, "max_per_day": 8},
//!        "working_hours": {"timezone": "Europe/Berlin", "hours": {"mon": "09:00-17:00"}}}
//! team: {"name": "EMEA SDRs", "mode": "weighted_round_robin", "working_hours": "prefer",
//!        "members": [{"rep": "rep_ava", "weight": 3}, {"rep": "rep_bo", "weight": 1}]}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::hours::Schedule;
use crate::problem::FieldError;
use crate::time::{parse_rfc3339, rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// Temporarily not taking leads (keeps their open leads).
    Inactive,
    /// Gone: deactivation re-routes their open leads.
    Left,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "active" => Some(Status::Active),
            "inactive" => Some(Status::Inactive),
            "left" => Some(Status::Left),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Inactive => "inactive",
            Status::Left => "left",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rep {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub status: Status,
    pub out_of_office_until: Option<i64>,
    pub manager: Option<String>,
    pub max_open: Option<u32>,
    pub max_per_day: Option<u32>,
    /// `None`: always working (in UTC for daily capacity).
    pub working_hours: Option<Schedule>,
}

/// A rep's current load: open leads and leads assigned today (in the rep's time zone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub open: u32,
    pub today: u32,
}

/// Why a rep cannot take a lead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    Inactive,
    Left,
    OutOfOffice,
    OutsideHours,
    OpenCapacity,
    DailyCapacity,
    NotOnRoster,
    /// The lead is being moved away from this rep.
    CurrentOwner,
    /// The rep filled up while this lead was being routed: a concurrent routing took the last
    /// place (the assignment's capacity guard refused), so the decision moved on.
    CapacityRace,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Inactive => "inactive",
            Skip::Left => "left",
            Skip::OutOfOffice => "out_of_office",
            Skip::OutsideHours => "outside_hours",
            Skip::OpenCapacity => "capacity_open",
            Skip::DailyCapacity => "capacity_daily",
            Skip::NotOnRoster => "not_on_roster",
            Skip::CurrentOwner => "current_owner",
            Skip::CapacityRace => "capacity_race_lost",
        }
    }
}

impl Rep {
    /// The status-level reasons a rep cannot take a lead at `now` (not hours, not capacity).
    pub fn away(&self, now: i64) -> Option<Skip> {
        match self.status {
            Status::Inactive => return Some(Skip::Inactive),
            Status::Left => return Some(Skip::Left),
            Status::Active => {}
        }
        self.out_of_office_until
            .is_some_and(|until| now < until)
            .then_some(Skip::OutOfOffice)
    }

    pub fn in_hours(&self, now: i64) -> bool {
        self.in_hours_on(&mut crate::hours::Clocks::at(now))
    }

    /// [`Rep::in_hours`] at the instant of `clocks` (one zone lookup per zone, not per rep).
    pub fn in_hours_on(&self, clocks: &mut crate::hours::Clocks) -> bool {
        self.working_hours
            .as_ref()
            .is_none_or(|s| s.is_open_on(clocks))
    }

    /// Capacity left, or why there is none.
    pub fn capacity(&self, load: Load) -> Option<Skip> {
        if self.max_open.is_some_and(|m| load.open >= m) {
            return Some(Skip::OpenCapacity);
        }
        if self.max_per_day.is_some_and(|m| load.today >= m) {
            return Some(Skip::DailyCapacity);
        }
        None
    }

    /// The rep's calendar day at `now` (daily capacity counts per local day).
    pub fn local_day(&self, now: i64) -> String {
        self.working_hours
            .as_ref()
            .map(|s| s.local_day(now))
            .unwrap_or_else(|| rfc3339(now)[..10].to_string())
    }

    /// Parses a rep document for `id`; errors name the field.
    pub fn parse(id: &str, v: &Value) -> Result<Rep, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !super::id_ok(id) {
            errors.push(FieldError::new(
                "id",
                "use letters, digits, - _ . (at most 64)",
            ));
        }
        let text = |key: &str, errors: &mut Vec<FieldError>, required: bool| -> Option<String> {
            match v.get(key) {
                None | Some(Value::Null) if !required => None,
                Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 200 => {
                    Some(s.trim().to_string())
                }
                _ => {
                    errors.push(FieldError::new(
                        key,
                        "give a non-empty string (at most 200 characters)",
                    ));
                    None
                }
            }
        };
        let name = text("name", &mut errors, true).unwrap_or_default();
        let email = text("email", &mut errors, false);
        let manager = text("manager", &mut errors, false);
        let status = match v.get("status") {
            None | Some(Value::Null) => Status::Active,
            Some(s) => s.as_str().and_then(Status::parse).unwrap_or_else(|| {
                errors.push(FieldError::new("status", "one of active, inactive, left"));
                Status::Active
            }),
        };
        let out_of_office_until = match v.get("out_of_office_until") {
            None | Some(Value::Null) => None,
            Some(s) => match s.as_str().and_then(parse_rfc3339) {
                Some(ms) => Some(ms),
                None => {
                    errors.push(FieldError::new(
                        "out_of_office_until",
                        "give an RFC 3339 time or null",
                    ));
                    None
                }
            },
        };
        let mut cap = |key: &str| -> Option<u32> {
            match v.get("capacity").and_then(|c| c.get(key)) {
                None | Some(Value::Null) => None,
                Some(n) => match n.as_u64() {
                    Some(n) if (1..=100_000).contains(&n) => Some(n as u32),
                    _ => {
                        errors.push(FieldError::new(
                            format!("capacity.{key}"),
                            "a whole number from 1, or null for no limit",
                        ));
                        None
                    }
                },
            }
        };
        let max_open = cap("max_open");
        let max_per_day = cap("max_per_day");
        if !matches!(
            v.get("capacity"),
            None | Some(Value::Null) | Some(Value::Object(_))
        ) {
            errors.push(FieldError::new(
                "capacity",
                "give {\"max_open\": n, \"max_per_day\": n} (either may be null) or null",
            ));
        }
        let working_hours =
            match v.get("working_hours") {
                None | Some(Value::Null) => None,
                Some(h) => match Schedule::parse(h) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        errors.extend(e.into_iter().map(|e| {
                            FieldError::new(format!("working_hours.{}", e.field), e.reason)
                        }));
                        None
                    }
                },
            };
        if errors.is_empty() {
            Ok(Rep {
                id: id.to_string(),
                name,
                email,
                status,
                out_of_office_until,
                manager,
                max_open,
                max_per_day,
                working_hours,
            })
        } else {
            Err(errors)
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "status": self.status.as_str(),
            "out_of_office_until": self.out_of_office_until.map(rfc3339),
            "manager": self.manager,
            "capacity": { "max_open": self.max_open, "max_per_day": self.max_per_day },
            "working_hours": self.working_hours.as_ref().map(Schedule::to_json),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    RoundRobin,
    WeightedRoundRobin,
    LeastLoaded,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::RoundRobin => "round_robin",
            Mode::WeightedRoundRobin => "weighted_round_robin",
            Mode::LeastLoaded => "least_loaded",
        }
    }
}

/// How a team treats reps outside their working hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoursPolicy {
    /// Only reps inside their hours take leads.
    Strict,
    /// Reps inside their hours first; outside-hours reps when nobody is in.
    Prefer,
    /// Hours are not considered.
    Ignore,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub rep: String,
    pub weight: u32,
}

/// What happens to a rep's leads when the rep becomes unavailable (inactive or out of office).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnavailable {
    /// The rep keeps them (they come back soon, or a manager moves them by hand).
    Keep,
    /// Leads still waiting for their first touch are routed again through the rules.
    RerouteUntouched,
}

impl WhenUnavailable {
    pub fn as_str(self) -> &'static str {
        match self {
            WhenUnavailable::Keep => "keep",
            WhenUnavailable::RerouteUntouched => "reroute_untouched",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub mode: Mode,
    pub hours: HoursPolicy,
    pub members: Vec<Member>,
    /// The team's lead: gets escalations for members without a manager.
    pub lead: Option<String>,
    pub when_unavailable: WhenUnavailable,
    /// The round-robin cycle over `members` (indexes; weighted for `weighted_round_robin`),
    /// computed once when the team is read, so a decision only indexes it. Empty for
    /// `least_loaded`.
    pub cycle: Vec<usize>,
}

/// Which of a rep's open leads are handed on through the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// Nothing (the rep is available, or their teams keep their leads).
    None,
    /// The leads still waiting for a first touch, in teams that say `reroute_untouched`.
    Untouched,
    /// Every open lead: the rep left, or was deactivated.
    AllOpen,
}

impl Handover {
    /// As stored in `reps.reroute_pending` (a larger value is the broader handover).
    pub fn code(self) -> i64 {
        match self {
            Handover::None => 0,
            Handover::Untouched => 1,
            Handover::AllOpen => 2,
        }
    }

    pub fn from_code(code: i64) -> Handover {
        match code {
            0 => Handover::None,
            1 => Handover::Untouched,
            _ => Handover::AllOpen,
        }
    }

    /// What a change to a rep hands on: leaving hands on everything; becoming inactive or out of
    /// office hands on the untouched leads of teams that ask for it.
    pub fn for_change(before: Option<&Rep>, after: &Rep, now: i64) -> Handover {
        let was_left = before.is_some_and(|b| b.status == Status::Left);
        if after.status == Status::Left && !was_left {
            return Handover::AllOpen;
        }
        match before {
            Some(b) if became_unavailable(b, after, now) => Handover::Untouched,
            _ => Handover::None,
        }
    }
}

/// The teams whose leads are handed on, untouched, when their owner becomes unavailable.
pub fn reroute_untouched_teams<'a>(teams: impl IntoIterator<Item = &'a Team>) -> Vec<String> {
    let mut ids: Vec<String> = teams
        .into_iter()
        .filter(|t| t.when_unavailable == WhenUnavailable::RerouteUntouched)
        .map(|t| t.id.clone())
        .collect();
    ids.sort();
    ids
}

/// Whether a rep became unavailable with this change (to inactive, or out of office from now):
/// the moment their untouched leads are handed on, where their team says so. (`left` re-routes
/// every open lead, touched or not.)
pub fn became_unavailable(before: &Rep, after: &Rep, now: i64) -> bool {
    before.away(now).is_none()
        && matches!(after.away(now), Some(Skip::Inactive | Skip::OutOfOffice))
}

/// A setting that names one of an enum's values (`null` or absent: `default`).
fn setting<T: serde::de::DeserializeOwned>(
    v: &Value,
    key: &str,
    default: T,
    expected: &str,
    errors: &mut Vec<FieldError>,
) -> T {
    match v.get(key).map(|m| serde_json::from_value::<T>(m.clone())) {
        None => default,
        Some(Ok(value)) => value,
        Some(Err(_)) => {
            errors.push(FieldError::new(key, expected));
            default
        }
    }
}

/// A team's members: 1 to 500 reps, each once, weighted (1 to 100) only in weighted round robin.
fn parse_members(v: &Value, mode: Mode, errors: &mut Vec<FieldError>) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    match v.get("members").and_then(Value::as_array) {
        Some(items) if !items.is_empty() && items.len() <= 500 => {
            for (i, m) in items.iter().enumerate() {
                let rep = m.get("rep").and_then(Value::as_str).unwrap_or("");
                if !super::id_ok(rep) {
                    errors.push(FieldError::new(
                        format!("members[{i}].rep"),
                        "give the rep's id",
                    ));
                } else if members.iter().any(|x| x.rep == rep) {
                    errors.push(FieldError::new(
                        format!("members[{i}].rep"),
                        format!("`{rep}` is listed twice"),
                    ));
                }
                let weight = match m.get("weight") {
                    None => 1,
                    Some(w) => match w.as_u64() {
                        Some(w) if (1..=100).contains(&w) => w as u32,
                        _ => {
                            errors.push(FieldError::new(
                                format!("members[{i}].weight"),
                                "a whole number from 1 to 100",
                            ));
                            1
                        }
                    },
                };
                if weight != 1 && mode != Mode::WeightedRoundRobin {
                    errors.push(FieldError::new(
                        format!("members[{i}].weight"),
                        "weights apply to mode weighted_round_robin",
                    ));
                }
                members.push(Member {
                    rep: rep.to_string(),
                    weight,
                });
            }
        }
        _ => errors.push(FieldError::new(
            "members",
            "give 1 to 500 members: [{\"rep\": id, \"weight\": n}]",
        )),
    }
    members
}

impl Team {
    pub fn parse(id: &str, v: &Value) -> Result<Team, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !super::id_ok(id) {
            errors.push(FieldError::new(
                "id",
                "use letters, digits, - _ . (at most 64)",
            ));
        }
        let name = match v.get("name").and_then(Value::as_str).map(str::trim) {
            Some(n) if !n.is_empty() && n.chars().count() <= 200 => n.to_string(),
            _ => {
                errors.push(FieldError::new(
                    "name",
                    "give a name of at most 200 characters",
                ));
                String::new()
            }
        };
        let mode = setting(
            v,
            "mode",
            Mode::RoundRobin,
            "one of round_robin, weighted_round_robin, least_loaded",
            &mut errors,
        );
        let hours = setting(
            v,
            "working_hours",
            HoursPolicy::Prefer,
            "one of strict, prefer, ignore",
            &mut errors,
        );
        let lead = match v.get("lead") {
            None | Some(Value::Null) => None,
            Some(Value::String(l)) if super::id_ok(l) => Some(l.clone()),
            Some(_) => {
                errors.push(FieldError::new(
                    "lead",
                    "give the team lead's rep id, or null",
                ));
                None
            }
        };
        let when_unavailable = setting(
            v,
            "when_unavailable",
            WhenUnavailable::Keep,
            "one of keep, reroute_untouched",
            &mut errors,
        );
        let members = parse_members(v, mode, &mut errors);
        if errors.is_empty() {
            let cycle = match mode {
                Mode::LeastLoaded => Vec::new(),
                Mode::RoundRobin => (0..members.len()).collect(),
                Mode::WeightedRoundRobin => {
                    super::wrr::cycle(&members.iter().map(|m| m.weight).collect::<Vec<_>>())
                }
            };
            Ok(Team {
                id: id.to_string(),
                name,
                mode,
                hours,
                members,
                lead,
                when_unavailable,
                cycle,
            })
        } else {
            Err(errors)
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "mode": self.mode.as_str(),
            "working_hours": match self.hours { HoursPolicy::Strict => "strict", HoursPolicy::Prefer => "prefer", HoursPolicy::Ignore => "ignore" },
            "members": self.members.iter().map(|m| json!({ "rep": m.rep, "weight": m.weight })).collect::<Vec<_>>(),
            "lead": self.lead,
            "when_unavailable": self.when_unavailable.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(doc: Value) -> Rep {
        Rep::parse("rep_a", &doc).unwrap()
    }

    #[test]
    fn availability_status_out_of_office_and_capacity() {
        let now = parse_rfc3339("2026-11-23T15:00:00Z").unwrap();
        let r = rep(json!({"name": "A", "capacity": {"max_open": 2, "max_per_day": 1}}));
        assert_eq!(r.away(now), None);
        assert_eq!(r.capacity(Load { open: 1, today: 0 }), None);
        assert_eq!(
            r.capacity(Load { open: 2, today: 0 }),
            Some(Skip::OpenCapacity)
        );
        assert_eq!(
            r.capacity(Load { open: 0, today: 1 }),
            Some(Skip::DailyCapacity)
        );
        let away = rep(json!({"name": "A", "out_of_office_until": "2026-11-24T00:00:00Z"}));
        assert_eq!(away.away(now), Some(Skip::OutOfOffice));
        assert_eq!(
            away.away(parse_rfc3339("2026-11-24T00:00:00Z").unwrap()),
            None
        );
        assert_eq!(
            rep(json!({"name": "A", "status": "left"})).away(now),
            Some(Skip::Left)
        );
        assert_eq!(
            rep(json!({"name": "A", "status": "inactive"})).away(now),
            Some(Skip::Inactive)
        );
    }

    #[test]
    fn working_hours_and_local_day() {
        let r = rep(
            json!({"name": "A", "working_hours": {"timezone": "Asia/Tokyo", "hours": {"mon": "09:00-18:00"}}}),
        );
        assert!(r.in_hours(parse_rfc3339("2026-11-23T01:00:00Z").unwrap()));
        assert!(!r.in_hours(parse_rfc3339("2026-11-23T10:00:00Z").unwrap()));
        assert_eq!(
            r.local_day(parse_rfc3339("2026-11-22T20:00:00Z").unwrap()),
            "2026-11-23"
        );
        let always = rep(json!({"name": "A"}));
        assert!(always.in_hours(0));
        assert_eq!(
            always.local_day(parse_rfc3339("2026-11-22T20:00:00Z").unwrap()),
            "2026-11-22"
        );
    }

    #[test]
    fn documents_round_trip_and_errors_name_fields() {
        let doc = json!({"name": "Ava", "email": "ava@ours.example", "status": "inactive",
            "out_of_office_until": "2026-12-01T08:00:00Z", "manager": "rep_lee",
            "capacity": {"max_open": 40, "max_per_day": 8},
            "working_hours": {"timezone": "Europe/Berlin", "hours": {"mon": "09:00-17:00"}, "holidays": []}});
        let r = rep(doc);
        assert_eq!(Rep::parse("rep_a", &r.to_json()).unwrap(), r);
        let errors = Rep::parse("bad id!", &json!({"status": "gone", "capacity": {"max_open": 0}, "working_hours": {"timezone": "X"}})).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "id",
            "name",
            "status",
            "capacity.max_open",
            "working_hours.timezone",
            "working_hours.hours",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let t = Team::parse("t", &json!({"name": "T", "mode": "weighted_round_robin", "members": [{"rep": "a", "weight": 3}, {"rep": "b"}]})).unwrap();
        assert_eq!(Team::parse("t", &t.to_json()).unwrap(), t);
        let errors = Team::parse("t", &json!({"name": "T", "mode": "round_robin", "members": [{"rep": "a", "weight": 3}, {"rep": "a"}]})).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["members[0].weight", "members[1].rep"]);
    }

    #[test]
    fn what_a_change_to_a_rep_hands_on() {
        let now = 1_800_000_000_000;
        let active = Rep::parse("a", &json!({"name": "A"})).unwrap();
        let away = Rep::parse(
            "a",
            &json!({"name": "A", "out_of_office_until": "2099-01-01T00:00:00Z"}),
        )
        .unwrap();
        let inactive = Rep::parse("a", &json!({"name": "A", "status": "inactive"})).unwrap();
        let left = Rep::parse("a", &json!({"name": "A", "status": "left"})).unwrap();
        assert_eq!(
            Handover::for_change(Some(&active), &away, now),
            Handover::Untouched
        );
        assert_eq!(
            Handover::for_change(Some(&active), &inactive, now),
            Handover::Untouched
        );
        assert_eq!(
            Handover::for_change(Some(&active), &left, now),
            Handover::AllOpen
        );
        assert_eq!(
            Handover::for_change(Some(&away), &inactive, now),
            Handover::None
        );
        assert_eq!(
            Handover::for_change(Some(&active), &active, now),
            Handover::None
        );
        assert_eq!(Handover::for_change(None, &away, now), Handover::None);
        assert_eq!(
            Handover::from_code(Handover::Untouched.code()),
            Handover::Untouched
        );
        let keep = Team::parse("keep", &json!({"name": "K", "members": [{"rep": "a"}]})).unwrap();
        let move_on = Team::parse("move", &json!({"name": "M", "when_unavailable": "reroute_untouched", "lead": "boss", "members": [{"rep": "a"}]})).unwrap();
        assert_eq!(reroute_untouched_teams([&keep, &move_on]), ["move"]);
        assert_eq!(move_on.lead.as_deref(), Some("boss"));
        assert_eq!(move_on.to_json()["when_unavailable"], "reroute_untouched");
        assert!(Team::parse(
            "x",
            &json!({"name": "X", "when_unavailable": "maybe", "members": [{"rep": "a"}]})
        )
        .is_err());
    }
}
