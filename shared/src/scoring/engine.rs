//! Scoring a lead: fit and negative rules on its attributes, engagement rules on its activities
//! (capped per period, decayed by age), a combined score, and the lifecycle stage that follows,
//! with hysteresis. Every point is explained.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::Value;

use super::condition::Facts;
use super::{DecaySpec, Model, Period, HUMAN_STAGES};
use crate::time::DAY;

/// One activity, as scoring sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub kind: String,
    pub at: i64,
    pub properties: Value,
}

/// One rule's contribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit<'m> {
    pub rule: &'m str,
    /// `fit`, `negative` or `engagement`.
    pub kind: &'static str,
    pub description: Option<&'m str>,
    /// Points after caps and decay.
    pub points: f64,
    /// Engagement only: activities that matched, were counted (within caps), and their points
    /// before decay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points_before_decay: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score<'m> {
    pub fit: f64,
    pub engagement: f64,
    pub total: f64,
    pub hits: Vec<Hit<'m>>,
    /// Every counted engagement contribution before decay, for [`next_stage_change`].
    #[serde(skip)]
    pub terms: Vec<Term>,
}

impl Score<'_> {
    /// What routing conditions see of this score once the lead is in `stage` (scoring hands
    /// them to routing with an MQL, so routing never reads the score back).
    pub fn routing_facts(&self, stage: &str) -> super::condition::RoutingFacts {
        super::condition::RoutingFacts {
            score: Some(self.total),
            fit_score: Some(self.fit),
            engagement_score: Some(self.engagement),
            stage: Some(stage.to_string()),
            segment: None,
        }
    }
}

/// One counted activity's points before decay: when it happened and which rule counted it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Term {
    pub points: f64,
    pub at: i64,
    /// Index into the model's engagement rules (its decay).
    pub rule: usize,
}

/// Activities older than this no longer count (every engagement rule decays long before; the
/// handlers do not even load them).
pub const ACTIVITY_HORIZON: i64 = 400 * DAY;

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn bucket(at: i64, per: Period) -> i64 {
    let day = at.div_euclid(DAY);
    match per {
        Period::Day => day,
        // 1970-01-01 was a Thursday: shifting by 3 makes weeks run Monday to Sunday (ISO).
        Period::Week => (day + 3).div_euclid(7),
        Period::Month => {
            let d = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
            i64::from(d.year()) * 12 + i64::from(d.month0())
        }
    }
}

fn decayed(points: f64, age_ms: i64, decay: Option<&DecaySpec>) -> f64 {
    let age_days = (age_ms.max(0) as f64) / DAY as f64;
    match decay {
        Some(DecaySpec {
            half_life_days: Some(h),
            ..
        }) => points * 0.5f64.powf(age_days / h),
        Some(DecaySpec {
            linear_days: Some(l),
            ..
        }) => points * (1.0 - age_days / l).max(0.0),
        _ => points,
    }
}

/// Scores a lead at `now`. Activities before `engagement_since` (a rejection that recycled the
/// lead) or after `now` do not count.
pub fn score<'m>(
    model: &'m Model,
    facts: &Facts,
    activities: &[Activity],
    now: i64,
    engagement_since: Option<i64>,
) -> Score<'m> {
    let mut hits = Vec::with_capacity(model.spec.fit.len() + model.spec.engagement.len());
    let mut fit = 0.0;
    for ((spec, cond), kind) in model
        .spec
        .fit
        .iter()
        .zip(&model.fit)
        .map(|r| (r, "fit"))
        .chain(
            model
                .spec
                .negative
                .iter()
                .zip(&model.negative)
                .map(|r| (r, "negative")),
        )
    {
        if cond.matches(facts) {
            fit += spec.points;
            hits.push(Hit {
                rule: &spec.id,
                kind,
                description: spec.description.as_deref(),
                points: spec.points,
                matched: None,
                counted: None,
                points_before_decay: None,
            });
        }
    }
    let mut engagement = 0.0;
    let mut terms = Vec::with_capacity(activities.len());
    let since = engagement_since.unwrap_or(i64::MIN);
    // The activities that can count at all, oldest first, once for every rule.
    let mut window: Vec<&Activity> = activities
        .iter()
        .filter(|a| a.at >= since && a.at <= now && now - a.at <= ACTIVITY_HORIZON)
        .collect();
    window.sort_by_key(|a| a.at);
    let mut by_kind: crate::Map<&str, Vec<&Activity>> = crate::Map::default();
    for a in &window {
        by_kind.entry(a.kind.as_str()).or_default().push(a);
    }
    // Reused by every rule: the activities of its types, and those its property test lets count.
    let mut of_kinds: Vec<&Activity> = Vec::new();
    let mut matching: Vec<&Activity> = Vec::new();
    for (index, (spec, rule)) in model
        .spec
        .engagement
        .iter()
        .zip(&model.engagement)
        .enumerate()
    {
        // A rule on one activity type (the usual case) takes that type's list as it is.
        let of_kind: &[&Activity] = match rule.activities.as_slice() {
            [kind] => by_kind.get(kind.as_str()).map_or(&[], Vec::as_slice),
            kinds => {
                of_kinds.clear();
                of_kinds.extend(window.iter().copied().filter(|a| kinds.contains(&a.kind)));
                &of_kinds
            }
        };
        let counts = |a: &&Activity| {
            rule.property
                .as_ref()
                .is_none_or(|p| p.matches(&a.properties))
        };
        matching.clear();
        matching.extend(of_kind.iter().copied().filter(counts));
        if matching.is_empty() {
            continue;
        }
        // The cap's current period and what it has counted: the activities come oldest first,
        // so a period once left never returns.
        let mut period: Option<(i64, f64, u32)> = None;
        let (mut counted, mut raw, mut total) = (0u32, 0.0, 0.0);
        for a in &matching {
            let mut points = spec.points;
            if let Some(cap) = &spec.cap {
                let b = bucket(a.at, cap.per);
                if period.map(|(current, _, _)| current) != Some(b) {
                    period = Some((b, 0.0, 0));
                }
                let (_, p, n) = period.as_mut().expect("set above");
                if cap.max_count.is_some_and(|m| *n >= m) {
                    continue;
                }
                if let Some(max) = cap.max_points {
                    if points > 0.0 {
                        points = points.min(max - *p);
                        if points <= 0.0 {
                            continue;
                        }
                    }
                }
                *p += points;
                *n += 1;
            }
            counted += 1;
            raw += points;
            total += decayed(points, now - a.at, spec.decay.as_ref());
            terms.push(Term {
                points,
                at: a.at,
                rule: index,
            });
        }
        if counted == 0 {
            continue;
        }
        engagement += total;
        hits.push(Hit {
            rule: &spec.id,
            kind: "engagement",
            description: spec.description.as_deref(),
            points: round1(total),
            matched: Some(matching.len() as u32),
            counted: Some(counted),
            points_before_decay: Some(round1(raw)),
        });
    }
    let (fit, engagement) = (round1(fit), round1(engagement));
    Score {
        fit,
        engagement,
        total: round1(fit * model.spec.weights.fit + engagement * model.spec.weights.engagement),
        hits,
        terms,
    }
}

/// The score's total at a later instant `t`: the same activities, decayed to `t` (and dropped
/// past the activity horizon), rounded as [`score`] rounds.
pub fn total_at(model: &Model, score: &Score, t: i64) -> f64 {
    let engagement: f64 = score
        .terms
        .iter()
        .filter(|term| t - term.at <= ACTIVITY_HORIZON)
        .map(|term| {
            let decay = model
                .spec
                .engagement
                .get(term.rule)
                .and_then(|r| r.decay.as_ref());
            decayed(term.points, t - term.at, decay)
        })
        .sum();
    round1(score.fit * model.spec.weights.fit + round1(engagement) * model.spec.weights.engagement)
}

/// Why a re-score changed the stage: `decay` when the lead is re-scored under the model that
/// stored its stage and the moment decay was to change it has come — whatever prompted the
/// re-score (the decay review, or a rescoring that reached the lead later) — otherwise `reason`.
pub fn transition_reason(
    reason: &str,
    same_model: bool,
    review_due_at: Option<i64>,
    now: i64,
) -> &str {
    if same_model && review_due_at.is_some_and(|at| at <= now) {
        "decay"
    } else {
        reason
    }
}

/// When decay alone will move the lead out of `stage` (which this score gave it at `now`): the
/// first instant, to the minute, at which [`next_stage`] gives another stage — found by doubling
/// steps from an hour, then bisection. `None` when nothing can change it: a stage people own, no
/// engagement that ages, or no change within the activity horizon. The cron re-scores the lead
/// then, so a stored stage never goes stale.
pub fn next_stage_change(model: &Model, stage: &str, score: &Score, now: i64) -> Option<i64> {
    if HUMAN_STAGES.contains(&stage) || score.terms.is_empty() {
        return None;
    }
    let changes = |t: i64| next_stage(model, stage, total_at(model, score, t)) != stage;
    let last = score.terms.iter().map(|t| t.at).max()? + ACTIVITY_HORIZON + 1;
    let (mut lo, mut step) = (now, crate::time::HOUR);
    let mut hi = loop {
        let t = (now + step).min(last);
        if changes(t) {
            break t;
        }
        if t >= last {
            return None;
        }
        lo = t;
        step *= 2;
    };
    while hi - lo > crate::time::MINUTE {
        let mid = lo + (hi - lo) / 2;
        if changes(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The stage a lead moves to with a new total. Score stages are entered at `enter_at` and left
/// only below `exit_below`; falling out of every score stage leaves the lead in `nurture`. The
/// stages people own (accepted, disqualified, converted) are never changed by a score.
pub fn next_stage(model: &Model, current: &str, total: f64) -> String {
    if HUMAN_STAGES.contains(&current) {
        return current.to_string();
    }
    let stages = &model.spec.stages;
    let rank = stages.iter().position(|s| s.name == current);
    for (i, s) in stages.iter().enumerate().rev() {
        if total >= s.enter_at || (rank.is_some_and(|r| i <= r) && total >= s.exit_below) {
            return s.name.clone();
        }
    }
    if rank.is_some() {
        "nurture".to_string()
    } else {
        current.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::employees::EmployeeBand;
    use crate::intake::lead::Lead;
    use crate::scoring::ModelSpec;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    fn model(engagement: Value) -> Model {
        let v = json!({
            "name": "test",
            "fit": [{"id": "vp", "when": {"field": "title", "contains": "vp"}, "points": 20},
                    {"id": "size", "when": {"field": "employees", "at_least": "51-200"}, "points": 10}],
            "negative": [{"id": "gmail", "when": {"field": "email_domain", "free_mail": true}, "points": -15}],
            "engagement": engagement,
            "stages": [{"name": "mql", "enter_at": 60, "exit_below": 50}]
        });
        Model::from_json(&v).unwrap()
    }

    fn act(kind: &str, days_ago: f64) -> Activity {
        Activity {
            kind: kind.into(),
            at: NOW - (days_ago * DAY as f64) as i64,
            properties: json!({}),
        }
    }

    fn lead() -> Lead {
        Lead {
            email: "a@acme.com".into(),
            title: Some("VP Sales".into()),
            employees: Some(EmployeeBand::B51To200),
            ..Lead::default()
        }
    }

    #[test]
    fn fit_and_negative_points_are_explained() {
        let m = model(json!([]));
        let mut l = lead();
        let s = score(
            &m,
            &Facts {
                lead: Some(&l),
                ..Facts::default()
            },
            &[],
            NOW,
            None,
        );
        assert_eq!((s.fit, s.engagement, s.total), (30.0, 0.0, 30.0));
        assert_eq!(
            s.hits.iter().map(|h| h.rule).collect::<Vec<_>>(),
            ["vp", "size"]
        );
        l.email = "a@gmail.com".into();
        let s = score(
            &m,
            &Facts {
                lead: Some(&l),
                ..Facts::default()
            },
            &[],
            NOW,
            None,
        );
        assert_eq!(s.fit, 15.0);
        assert_eq!(s.hits[2].kind, "negative");
    }

    #[test]
    fn caps_limit_points_per_period() {
        let m = model(
            json!([{"id": "views", "activity": "page_view", "points": 1, "cap": {"max_points": 10, "per": "week"}}]),
        );
        // 2026-01-12 (Monday) .. spread: 14 views on one day, 3 the next week.
        let monday = crate::time::parse_rfc3339("2026-01-12T09:00:00Z").unwrap();
        let mut acts: Vec<Activity> = (0..14)
            .map(|i| Activity {
                kind: "page_view".into(),
                at: monday + i * 60_000,
                properties: json!({}),
            })
            .collect();
        acts.extend((0..3).map(|i| Activity {
            kind: "page_view".into(),
            at: monday + 7 * DAY + i,
            properties: json!({}),
        }));
        let l = lead();
        let s = score(
            &m,
            &Facts {
                lead: Some(&l),
                ..Facts::default()
            },
            &acts,
            monday + 10 * DAY,
            None,
        );
        let hit = s.hits.iter().find(|h| h.rule == "views").unwrap();
        assert_eq!(
            (hit.matched, hit.counted, hit.points),
            (Some(17), Some(13), 13.0),
            "10 in the first week, 3 in the next"
        );
        let sunday_late = crate::time::parse_rfc3339("2026-01-18T23:59:00Z").unwrap();
        assert_eq!(
            bucket(monday, Period::Week),
            bucket(sunday_late, Period::Week)
        );
        assert_ne!(
            bucket(sunday_late, Period::Week),
            bucket(sunday_late + 120_000, Period::Week)
        );
    }

    #[test]
    fn count_caps_and_months() {
        let m = model(
            json!([{"id": "forms", "activity": "form_submission", "points": 10, "cap": {"max_count": 2, "per": "month"}}]),
        );
        let jan = crate::time::parse_rfc3339("2026-01-05T00:00:00Z").unwrap();
        let acts: Vec<Activity> = [0, 1, 2, 31]
            .iter()
            .map(|d| Activity {
                kind: "form_submission".into(),
                at: jan + d * DAY,
                properties: json!({}),
            })
            .collect();
        let l = lead();
        let s = score(
            &m,
            &Facts {
                lead: Some(&l),
                ..Facts::default()
            },
            &acts,
            jan + 40 * DAY,
            None,
        );
        assert_eq!(s.engagement, 30.0, "two in January, one in February");
    }

    #[test]
    fn decay_by_half_life_and_linearly() {
        let m = model(json!([
            {"id": "webinar", "activity": "webinar_attended", "points": 20, "decay": {"half_life_days": 30}},
            {"id": "demo", "activity": "demo_request", "points": 40, "decay": {"linear_days": 90}}
        ]));
        let l = lead();
        let facts = Facts {
            lead: Some(&l),
            ..Facts::default()
        };
        let s = score(
            &m,
            &facts,
            &[act("webinar_attended", 30.0), act("demo_request", 45.0)],
            NOW,
            None,
        );
        let webinar = s.hits.iter().find(|h| h.rule == "webinar").unwrap();
        assert_eq!(
            (webinar.points, webinar.points_before_decay),
            (10.0, Some(20.0))
        );
        assert_eq!(
            s.hits.iter().find(|h| h.rule == "demo").unwrap().points,
            20.0
        );
        let s = score(&m, &facts, &[act("demo_request", 120.0)], NOW, None);
        assert_eq!(s.engagement, 0.0, "linear decay reaches zero");
        let s = score(&m, &facts, &[act("webinar_attended", 0.0)], NOW, None);
        assert_eq!(s.engagement, 20.0, "fresh activity keeps its points");
    }

    #[test]
    fn activity_property_tests_and_recycling() {
        let m = model(
            json!([{"id": "pricing", "activity": "page_view", "where": {"property": "url", "contains": "/pricing"}, "points": 10}]),
        );
        let l = lead();
        let facts = Facts {
            lead: Some(&l),
            ..Facts::default()
        };
        let pricing = Activity {
            kind: "page_view".into(),
            at: NOW - DAY,
            properties: json!({"url": "https://acme.com/Pricing"}),
        };
        let blog = Activity {
            kind: "page_view".into(),
            at: NOW - DAY,
            properties: json!({"url": "https://acme.com/blog"}),
        };
        assert_eq!(
            score(&m, &facts, &[pricing.clone(), blog], NOW, None).engagement,
            10.0
        );
        assert_eq!(
            score(&m, &facts, &[pricing], NOW, Some(NOW - 1000)).engagement,
            0.0,
            "engagement before a recycle does not count"
        );
    }

    #[test]
    fn stages_have_hysteresis() {
        let spec: ModelSpec = serde_json::from_value(json!({
            "name": "s", "stages": [{"name": "mql", "enter_at": 60, "exit_below": 50}, {"name": "engaged", "enter_at": 30, "exit_below": 25}]
        }))
        .unwrap();
        let m = Model::compile(spec).unwrap();
        assert_eq!(m.spec.stages[0].name, "engaged", "sorted by threshold");
        assert_eq!(next_stage(&m, "new", 20.0), "new");
        assert_eq!(next_stage(&m, "new", 35.0), "engaged");
        assert_eq!(next_stage(&m, "new", 65.0), "mql");
        assert_eq!(
            next_stage(&m, "mql", 55.0),
            "mql",
            "decay noise above exit_below keeps the MQL"
        );
        assert_eq!(next_stage(&m, "mql", 45.0), "engaged");
        assert_eq!(
            next_stage(&m, "engaged", 55.0),
            "engaged",
            "re-entering MQL takes enter_at again"
        );
        assert_eq!(next_stage(&m, "engaged", 10.0), "nurture");
        assert_eq!(next_stage(&m, "nurture", 20.0), "nurture");
        assert_eq!(
            next_stage(&m, "accepted", 5.0),
            "accepted",
            "people's stages are theirs"
        );
        assert_eq!(next_stage(&m, "disqualified", 99.0), "disqualified");
    }

    #[test]
    fn weights_combine_fit_and_engagement() {
        let mut m = model(json!([{"id": "w", "activity": "webinar_attended", "points": 20}]));
        m.spec.weights.engagement = 2.0;
        let l = lead();
        let s = score(
            &m,
            &Facts {
                lead: Some(&l),
                ..Facts::default()
            },
            &[act("webinar_attended", 1.0)],
            NOW,
            None,
        );
        assert_eq!(s.total, 30.0 + 40.0);
    }

    #[test]
    fn decay_predicts_when_the_lead_leaves_its_stage_to_the_minute() {
        let m = model(
            json!([{"id": "webinar", "activity": "webinar_attended", "points": 40, "decay": {"half_life_days": 30}}]),
        );
        let l = lead();
        let facts = Facts {
            lead: Some(&l),
            ..Facts::default()
        };
        // 30 fit + 40 engagement just now: 70, an MQL until the total falls below 50.
        let s = score(&m, &facts, &[act("webinar_attended", 0.0)], NOW, None);
        assert_eq!(s.total, 70.0);
        assert_eq!(next_stage(&m, "new", s.total), "mql");
        let at = next_stage_change(&m, "mql", &s, NOW).expect("decay ends the MQL");
        // 40 × 0.5^(d/30) < 20 once d > 30 days (rounded to a tenth).
        assert!(
            (at - NOW - 30 * DAY).abs() < 2 * DAY,
            "{}",
            (at - NOW) as f64 / DAY as f64
        );
        assert!(total_at(&m, &s, at) < 50.0);
        assert!(total_at(&m, &s, at - 2 * crate::time::MINUTE) >= 50.0);
        // Scoring at that instant agrees: the lead is no longer an MQL.
        let later = score(&m, &facts, &[act("webinar_attended", 0.0)], at, None);
        assert_eq!(next_stage(&m, "mql", later.total), "nurture");
        // A stage people own, or nothing that ages, never needs a review.
        assert_eq!(next_stage_change(&m, "accepted", &s, NOW), None);
        let fit_only = score(&m, &facts, &[], NOW, None);
        assert_eq!(next_stage_change(&m, "nurture", &fit_only, NOW), None);
    }

    #[test]
    fn points_that_never_decay_still_leave_at_the_activity_horizon() {
        let m = model(json!([{"id": "demo", "activity": "demo_request", "points": 40}]));
        let l = lead();
        let facts = Facts {
            lead: Some(&l),
            ..Facts::default()
        };
        let s = score(&m, &facts, &[act("demo_request", 10.0)], NOW, None);
        assert_eq!(s.total, 70.0);
        let at = next_stage_change(&m, "mql", &s, NOW).unwrap();
        let happened = NOW - 10 * DAY;
        assert!(
            at > happened + ACTIVITY_HORIZON
                && at <= happened + ACTIVITY_HORIZON + 2 * crate::time::MINUTE
        );
    }

    #[test]
    fn a_stage_change_that_decay_was_due_to_make_is_recorded_as_decay() {
        assert_eq!(transition_reason("rescore", true, Some(NOW), NOW), "decay");
        assert_eq!(
            transition_reason("decay", true, Some(NOW), NOW + 1),
            "decay"
        );
        assert_eq!(
            transition_reason("rescore", true, Some(NOW + 1), NOW),
            "rescore"
        );
        assert_eq!(
            transition_reason("rescore", false, Some(NOW), NOW),
            "rescore"
        );
        assert_eq!(transition_reason("score", true, None, NOW), "score");
    }
}
