//! Queues: where leads wait for a rep — a rule's queue, the fallback, `unrouted` when a full
//! fallback rep cannot take more. A queue lists its leads oldest first with how long each has
//! waited (an SLA policy can give queues a deadline and a ladder); a rep claims a lead from it,
//! which is recorded and explained like any assignment, and never takes the rep over capacity.

use serde_json::{json, Value};

use super::roster::{Load, Rep, Status};
use crate::time::{rfc3339, MINUTE};

/// A lead waiting in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub assignment_id: String,
    pub lead_id: String,
    pub assigned_at: i64,
    pub via: String,
    pub rule: Option<String>,
    pub fallback_reason: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub country: Option<String>,
}

pub fn member_view(m: &Member, now: i64) -> Value {
    json!({
        "assignment_id": m.assignment_id,
        "lead_id": m.lead_id,
        "email": m.email,
        "company": m.company,
        "country": m.country,
        "queued_at": rfc3339(m.assigned_at),
        "waiting_minutes": ((now - m.assigned_at).max(0)) / MINUTE,
        "via": m.via,
        "rule": m.rule,
        "fallback_reason": m.fallback_reason,
    })
}

/// A queue's summary: how many leads wait, and since when the oldest.
pub fn summary_view(queue: &str, waiting: i64, oldest: Option<i64>, now: i64) -> Value {
    json!({
        "id": queue,
        "waiting": waiting,
        "oldest_queued_at": oldest.map(rfc3339),
        "oldest_waiting_minutes": oldest.map(|o| ((now - o).max(0)) / MINUTE),
    })
}

/// Why `rep` may not claim a lead now (`None`: they may). A rep out of office who claims a
/// lead is evidently working; a rep who is inactive or left is not, and capacity always holds.
pub fn claim_refusal(rep: Option<&Rep>, load: Load) -> Option<&'static str> {
    let Some(rep) = rep else {
        return Some("not_on_roster");
    };
    match rep.status {
        Status::Left => return Some("left"),
        Status::Inactive => return Some("inactive"),
        Status::Active => {}
    }
    rep.capacity(load).map(|s| s.as_str())
}

/// The explanation stored with a claim.
pub fn claim_explanation(
    by: &str,
    rep: &Rep,
    queue: &str,
    queued_at: i64,
    load: Load,
    now: i64,
) -> Value {
    json!({
        "claim": {
            "by": by,
            "rep": rep.id,
            "queue": queue,
            "queued_at": rfc3339(queued_at),
            "waited_minutes": ((now - queued_at).max(0)) / MINUTE,
            "at": rfc3339(now),
        },
        "previous_owner": { "queue": queue },
        "rep_load": { "open": load.open, "today": load.today, "max_open": rep.max_open, "max_per_day": rep.max_per_day },
        "outcome": { "owner": { "rep": rep.id }, "via": "claim" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(doc: Value) -> Rep {
        Rep::parse("ava", &doc).unwrap()
    }

    #[test]
    fn a_claim_needs_an_active_rep_with_room() {
        let load = Load { open: 2, today: 1 };
        assert_eq!(claim_refusal(None, load), Some("not_on_roster"));
        assert_eq!(
            claim_refusal(Some(&rep(json!({"name": "A", "status": "left"}))), load),
            Some("left")
        );
        assert_eq!(
            claim_refusal(Some(&rep(json!({"name": "A", "status": "inactive"}))), load),
            Some("inactive")
        );
        let capped = rep(json!({"name": "A", "capacity": {"max_open": 2}}));
        assert_eq!(claim_refusal(Some(&capped), load), Some("capacity_open"));
        let away = rep(json!({"name": "A", "out_of_office_until": "2099-01-01T00:00:00Z"}));
        assert_eq!(claim_refusal(Some(&away), load), None);
    }

    #[test]
    fn members_say_how_long_they_waited() {
        let m = Member {
            assignment_id: "asg_1".into(),
            lead_id: "lead_1".into(),
            assigned_at: 0,
            via: "fallback".into(),
            rule: None,
            fallback_reason: Some("no_one_available".into()),
            email: Some("jo@acme.com".into()),
            company: None,
            country: None,
        };
        let v = member_view(&m, 90 * MINUTE + 30_000);
        assert_eq!(v["waiting_minutes"], 90);
        let s = summary_view("unrouted", 3, Some(0), 61 * MINUTE);
        assert_eq!(s["oldest_waiting_minutes"], 61);
        let e = claim_explanation(
            "key_1",
            &rep(json!({"name": "A"})),
            "unrouted",
            0,
            Load::default(),
            5 * MINUTE,
        );
        assert_eq!(e["claim"]["waited_minutes"], 5);
        assert_eq!(e["previous_owner"]["queue"], "unrouted");
    }
}
