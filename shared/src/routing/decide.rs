//! One routing decision: account owner, then the decision list, then the fallback; inside a team
//! the distribution mode over the reps who can take the lead now. Every step and every candidate
//! considered is written into the explanation that is stored with the assignment.

use crate::Map;

use serde::Serialize;

use super::roster::{HoursPolicy, Load, Mode, Rep, Skip, Team};
use super::{Config, Rule, Target};
use crate::scoring::condition::{Facts, RoutingFacts};

/// An account the lead's company matched in the CRM data.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub owner: Option<String>,
    /// The domain that matched.
    pub domain: String,
    /// The account is an existing customer.
    pub customer: bool,
}

/// Everything a decision reads. `slots` holds the round-robin positions already taken.
/// The decision's explanation borrows names from what lives for `'a` (the configuration, the
/// roster, the account); the facts and slots need only live for the call (`'f`).
pub struct Inputs<'a, 'f> {
    pub config: &'a Config,
    pub version: i64,
    pub facts: &'f Facts<'f>,
    pub account: Option<&'a Account>,
    pub reps: &'a Map<String, Rep>,
    pub teams: &'a Map<String, Team>,
    pub loads: &'a Map<String, Load>,
    pub now: i64,
    pub slots: &'f Map<String, u64>,
    /// A rep who must not get the lead (its current owner, when an SLA escalation moves it on).
    pub exclude: Option<&'f str>,
    /// Reps whose capacity guard refused this lead in an earlier attempt of the same routing
    /// (a concurrent routing took their last place): they are skipped, and explained.
    pub lost_race: &'a [String],
}

/// Where a lead waits when the fallback rep cannot take it without exceeding their capacity.
pub const UNROUTED: &str = "unrouted";

/// The decision needs the next round-robin position of this team: take it (claimed in the
/// assignment's own write, or drawn atomically in D1) and decide again with it in `slots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedSlot(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Rep(String),
    Queue(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Account,
    Rule,
    Fallback,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Account => "account_owner",
            Via::Rule => "rule",
            Via::Fallback => "fallback",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    pub owner: Owner,
    pub via: Via,
    pub rule: Option<String>,
    pub team: Option<String>,
    pub segment: Option<String>,
    /// Why the fallback took the lead (`no_rule_matched`, `no_one_available`).
    pub fallback_reason: Option<&'static str>,
    pub explanation: Explanation<'a>,
}

impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match self {
            Owner::Rep(id) => map.serialize_entry("rep", id)?,
            Owner::Queue(q) => map.serialize_entry("queue", q)?,
        }
        map.end()
    }
}

/// Why the lead went where it went, as stored with the assignment and shown by
/// `GET /v1/leads/{id}/routing`: every step taken and every candidate considered. It borrows
/// the names it shows from the decision's inputs (rule, team and rep ids), so a decision over a
/// large team copies none of them before they are written out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation<'a> {
    pub config_version: i64,
    pub config_name: &'a str,
    pub segment: Option<String>,
    pub steps: Vec<Step<'a>>,
    pub races_lost: &'a [String],
    pub outcome: Placement,
}

impl Explanation<'_> {
    /// The explanation as the JSON text stored with the assignment, written into a buffer sized
    /// for it up front.
    pub fn to_json(&self) -> String {
        let people: usize = self
            .steps
            .iter()
            .filter_map(|s| s.team.as_ref())
            .map(|t| t.candidates.len() * 96 + t.eligible.len() * 16)
            .sum();
        let mut out = Vec::with_capacity(256 + self.steps.len() * 64 + people);
        serde_json::to_writer(&mut out, self).expect("an explanation always serialises");
        // serde_json writes only valid UTF-8.
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

/// Where the decision put the lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub owner: Owner,
    pub via: &'static str,
    pub rule: Option<String>,
    pub team: Option<String>,
    pub fallback_reason: Option<&'static str>,
}

/// One step of a decision: the account owner (`account`), a rule (`rule`), or the fallback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step<'a> {
    pub step: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assign: Option<&'a Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamView<'a>>,
    /// `assigned` or `skipped` (absent for a rule that did not match).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Step<'_> {
    fn new(step: &'static str) -> Self {
        Step {
            step,
            rule: None,
            matched: None,
            assign: None,
            account: None,
            team: None,
            result: None,
            reason: None,
            note: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub domain: &'a str,
    pub owner: Option<&'a str>,
}

/// How a team chose: the round-robin slot drawn, every rep skipped (with the reason) and the
/// one chosen in full, the other reps who could have taken the lead by id only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamView<'a> {
    pub id: &'a str,
    pub mode: &'static str,
    pub slot: Option<u64>,
    pub candidates: Vec<CandidateView<'a>>,
    pub eligible: Vec<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateView<'a> {
    pub rep: &'a str,
    pub open: u32,
    pub today: u32,
    pub in_hours: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// The segment a lead falls in: the first whose condition matches.
pub fn segment_of(config: &Config, facts: &Facts) -> Option<String> {
    config
        .segments
        .iter()
        .find(|s| s.when.matches(facts))
        .map(|s| s.name.clone())
}

fn load_of(loads: &Map<String, Load>, rep: &str) -> Load {
    loads.get(rep).copied().unwrap_or_default()
}

/// Why `rep` cannot take a lead directly (a rule naming the rep), if it cannot.
fn direct_skip(inp: &Inputs, rep: &str) -> Option<Skip> {
    if inp.exclude == Some(rep) {
        return Some(Skip::CurrentOwner);
    }
    let Some(r) = inp.reps.get(rep) else {
        return Some(Skip::NotOnRoster);
    };
    r.away(inp.now).or_else(|| full(inp, r))
}

/// Why `rep` has no room for another lead: at a capacity limit, or lost a race for the last
/// place. No automatic assignment ever takes a rep over `max_open` or `max_per_day`.
fn full(inp: &Inputs, rep: &Rep) -> Option<Skip> {
    full_at(inp, rep, load_of(inp.loads, &rep.id))
}

/// [`full`], with the rep's load already looked up.
fn full_at(inp: &Inputs, rep: &Rep, load: Load) -> Option<Skip> {
    if inp.lost_race.iter().any(|r| r == &rep.id) {
        return Some(Skip::CapacityRace);
    }
    rep.capacity(load)
}

/// Chooses inside a team; `Ok(None)` when nobody can take the lead.
fn pick<'a>(
    inp: &Inputs<'a, '_>,
    team: &'a Team,
) -> Result<(Option<String>, TeamView<'a>), NeedSlot> {
    struct Candidate<'a> {
        rep: &'a str,
        weight: u32,
        skip: Option<Skip>,
        in_hours: bool,
        load: Load,
    }
    let mut clocks = crate::hours::Clocks::at(inp.now);
    let mut candidates: Vec<Candidate> = team
        .members
        .iter()
        .map(|m| {
            let load = load_of(inp.loads, &m.rep);
            let (skip, in_hours) = match inp.reps.get(&m.rep) {
                _ if inp.exclude == Some(m.rep.as_str()) => (Some(Skip::CurrentOwner), false),
                None => (Some(Skip::NotOnRoster), false),
                Some(r) => (
                    r.away(inp.now).or_else(|| full_at(inp, r, load)),
                    r.in_hours_on(&mut clocks),
                ),
            };
            Candidate {
                rep: &m.rep,
                weight: m.weight,
                skip,
                in_hours,
                load,
            }
        })
        .collect();
    let anyone_in_hours = candidates.iter().any(|c| c.skip.is_none() && c.in_hours);
    for c in candidates
        .iter_mut()
        .filter(|c| c.skip.is_none() && !c.in_hours)
    {
        let excluded = match team.hours {
            HoursPolicy::Strict => true,
            HoursPolicy::Prefer => anyone_in_hours,
            HoursPolicy::Ignore => false,
        };
        if excluded {
            c.skip = Some(Skip::OutsideHours);
        }
    }
    let mut slot = None;
    let chosen: Option<usize> = if candidates.iter().all(|c| c.skip.is_some()) {
        None
    } else {
        match team.mode {
            Mode::LeastLoaded => candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| c.skip.is_none())
                .min_by_key(|(i, c)| (c.load.open, c.load.today, *i))
                .map(|(i, _)| i),
            Mode::RoundRobin | Mode::WeightedRoundRobin => {
                let position = *inp
                    .slots
                    .get(&team.id)
                    .ok_or_else(|| NeedSlot(team.id.clone()))?;
                let cycle = &team.cycle;
                let start = (position % cycle.len() as u64) as usize;
                slot = Some(position);
                (0..cycle.len())
                    .map(|k| cycle[(start + k) % cycle.len()])
                    .find(|&i| candidates[i].skip.is_none())
            }
        }
    };
    // Every rep who was skipped (with the reason) and the one chosen, in full; reps who could
    // have taken the lead but were not chosen by the distribution, by id only.
    let eligible: Vec<&str> = candidates
        .iter()
        .enumerate()
        .filter(|(i, c)| c.skip.is_none() && chosen != Some(*i))
        .map(|(_, c)| c.rep)
        .collect();
    let view: Vec<CandidateView> = candidates
        .iter()
        .enumerate()
        .filter(|(i, c)| c.skip.is_some() || chosen == Some(*i))
        .map(|(i, c)| CandidateView {
            rep: c.rep,
            open: c.load.open,
            today: c.load.today,
            in_hours: c.in_hours,
            weight: (team.mode == Mode::WeightedRoundRobin).then_some(c.weight),
            result: if chosen == Some(i) {
                "chosen"
            } else {
                "skipped"
            },
            reason: if chosen == Some(i) {
                None
            } else {
                c.skip.map(Skip::as_str)
            },
        })
        .collect();
    let explained = TeamView {
        id: &team.id,
        mode: team.mode.as_str(),
        slot,
        candidates: view,
        eligible,
    };
    Ok((chosen.map(|i| candidates[i].rep.to_string()), explained))
}

/// Decides who owns the lead. Returns [`NeedSlot`] when a round-robin team needs its next
/// position first.
pub fn decide<'a>(inp: &Inputs<'a, '_>) -> Result<Decision<'a>, NeedSlot> {
    let config = inp.config;
    // The segment is a routing fact too: rules may test it.
    let mut rf: RoutingFacts = inp.facts.routing.cloned().unwrap_or_default();
    let segment = segment_of(
        config,
        &Facts {
            routing: Some(&rf),
            ..inp.facts.clone()
        },
    );
    rf.segment = segment.clone();
    let facts = Facts {
        routing: Some(&rf),
        ..inp.facts.clone()
    };
    let d = Decider { inp, segment };
    let mut steps: Vec<Step> = Vec::with_capacity(config.rules.len() + 2);
    if config.account_owner_first {
        if let Some(decision) = d.account_step(&mut steps) {
            return Ok(decision);
        }
    }
    let mut any_matched = false;
    for rule in &config.rules {
        let matched = rule.when.as_ref().is_none_or(|c| c.matches(&facts));
        any_matched |= matched;
        if let Some(decision) = d.rule_step(rule, matched, &mut steps)? {
            return Ok(decision);
        }
    }
    Ok(d.fallback(any_matched, steps))
}

/// One decision under way: its inputs and the lead's segment, and each step of the decision
/// list as a method that records itself in `steps` and answers the decision if it placed the
/// lead.
struct Decider<'i, 'a, 'f> {
    inp: &'i Inputs<'a, 'f>,
    segment: Option<String>,
}

impl<'a> Decider<'_, 'a, '_> {
    /// The decision, with its explanation, once a step placed the lead.
    fn done(
        &self,
        owner: Owner,
        via: Via,
        rule: Option<String>,
        team: Option<String>,
        fallback_reason: Option<&'static str>,
        steps: Vec<Step<'a>>,
    ) -> Decision<'a> {
        Decision {
            explanation: Explanation {
                config_version: self.inp.version,
                config_name: &self.inp.config.name,
                segment: self.segment.clone(),
                steps,
                races_lost: self.inp.lost_race,
                outcome: Placement {
                    owner: owner.clone(),
                    via: via.as_str(),
                    rule: rule.clone(),
                    team: team.clone(),
                    fallback_reason,
                },
            },
            owner,
            via,
            rule,
            team,
            segment: self.segment.clone(),
            fallback_reason,
        }
    }

    /// Why the account's owner cannot take the lead, if they cannot.
    fn owner_skip(&self, a: &Account) -> Option<&'static str> {
        let inp = self.inp;
        match &a.owner {
            None => Some("account_has_no_owner"),
            Some(o) if inp.exclude == Some(o.as_str()) => Some(Skip::CurrentOwner.as_str()),
            Some(o) => match inp.reps.get(o) {
                None => Some(Skip::NotOnRoster.as_str()),
                Some(r) => r.away(inp.now).or_else(|| full(inp, r)).map(Skip::as_str),
            },
        }
    }

    /// The account owner first (`account_owner_first`): the lead's matched account's owner, if
    /// they can take it.
    fn account_step(&self, steps: &mut Vec<Step<'a>>) -> Option<Decision<'a>> {
        let mut step = Step::new("account");
        match self.inp.account {
            None => step.matched = Some(false),
            Some(a) => {
                step.matched = Some(true);
                step.account = Some(account_view(a));
                match self.owner_skip(a) {
                    None => {
                        step.result = Some("assigned");
                        steps.push(step);
                        let owner = a.owner.clone().unwrap_or_default();
                        let steps = std::mem::take(steps);
                        return Some(self.done(
                            Owner::Rep(owner),
                            Via::Account,
                            None,
                            None,
                            None,
                            steps,
                        ));
                    }
                    Some(reason) => {
                        step.result = Some("skipped");
                        step.reason = Some(reason);
                    }
                }
            }
        }
        steps.push(step);
        None
    }

    /// One rule of the decision list: a rule that matched places the lead with its target, or
    /// records why the target could not take it.
    fn rule_step(
        &self,
        rule: &'a Rule,
        matched: bool,
        steps: &mut Vec<Step<'a>>,
    ) -> Result<Option<Decision<'a>>, NeedSlot> {
        let inp = self.inp;
        let mut step = Step::new("rule");
        step.rule = Some(&rule.id);
        step.matched = Some(matched);
        if !matched {
            steps.push(step);
            return Ok(None);
        }
        step.assign = Some(&rule.assign);
        let placed = |mut step: Step<'a>,
                      steps: &mut Vec<Step<'a>>,
                      owner: Owner,
                      via: Via,
                      team: Option<String>| {
            step.result = Some("assigned");
            steps.push(step);
            let steps = std::mem::take(steps);
            Some(self.done(owner, via, Some(rule.id.clone()), team, None, steps))
        };
        match &rule.assign {
            Target::Queue(q) => {
                return Ok(placed(
                    step,
                    steps,
                    Owner::Queue(q.clone()),
                    Via::Rule,
                    None,
                ));
            }
            Target::Rep(id) => match direct_skip(inp, id) {
                None => return Ok(placed(step, steps, Owner::Rep(id.clone()), Via::Rule, None)),
                Some(s) => {
                    step.result = Some("skipped");
                    step.reason = Some(s.as_str());
                }
            },
            Target::AccountOwner => match inp.account.map(|a| (a, self.owner_skip(a))) {
                Some((a, None)) => {
                    step.account = Some(account_view(a));
                    let owner = Owner::Rep(a.owner.clone().unwrap_or_default());
                    return Ok(placed(step, steps, owner, Via::Account, None));
                }
                Some((a, Some(reason))) => {
                    step.account = Some(account_view(a));
                    step.result = Some("skipped");
                    step.reason = Some(reason);
                }
                None => {
                    step.result = Some("skipped");
                    step.reason = Some("no_account_matched");
                }
            },
            Target::Team(id) => match inp.teams.get(id) {
                None => {
                    step.result = Some("skipped");
                    step.reason = Some("team_not_found");
                }
                Some(team) => {
                    let (chosen, explained) = pick(inp, team)?;
                    step.team = Some(explained);
                    match chosen {
                        Some(rep) => {
                            let team = Some(id.clone());
                            return Ok(placed(step, steps, Owner::Rep(rep), Via::Rule, team));
                        }
                        None => {
                            step.result = Some("skipped");
                            step.reason = Some("no_one_available");
                        }
                    }
                }
            },
        }
        steps.push(step);
        Ok(None)
    }

    /// The fallback, which always places the lead: `no_rule_matched`, or `no_one_available`
    /// when rules matched but none of their targets could take it.
    fn fallback(&self, any_matched: bool, mut steps: Vec<Step<'a>>) -> Decision<'a> {
        let inp = self.inp;
        let config = inp.config;
        let reason = if any_matched {
            "no_one_available"
        } else {
            "no_rule_matched"
        };
        let mut step = Step::new("fallback");
        step.reason = Some(reason);
        step.assign = Some(&config.fallback);
        let owner = match &config.fallback {
            // The fallback always takes the lead, but never beyond a rep's capacity: a full
            // fallback rep's lead waits in the unrouted queue, explained.
            Target::Rep(id) => match inp.reps.get(id).and_then(|r| full(inp, r)) {
                Some(s) => {
                    step.note = Some(format!(
                        "the fallback rep has no room ({}): held in queue {UNROUTED}",
                        s.as_str()
                    ));
                    Owner::Queue(UNROUTED.into())
                }
                None => {
                    // Say so if the rep is away.
                    if let Some(s) = direct_skip(inp, id) {
                        step.note = Some(format!("assigned although {}", s.as_str()));
                    }
                    Owner::Rep(id.clone())
                }
            },
            Target::Queue(q) => Owner::Queue(q.clone()),
            // Config::parse allows only a rep or a queue as fallback.
            Target::Team(id) => Owner::Queue(id.clone()),
            Target::AccountOwner => Owner::Queue("unrouted".into()),
        };
        steps.push(step);
        self.done(owner, Via::Fallback, None, None, Some(reason), steps)
    }
}

fn account_view(a: &Account) -> AccountView<'_> {
    AccountView {
        id: &a.id,
        name: &a.name,
        domain: &a.domain,
        owner: a.owner.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::lead::Lead;
    use serde_json::{json, Value};

    /// The explanation as stored and shown.
    fn explained(d: &Decision) -> Value {
        serde_json::to_value(&d.explanation).unwrap()
    }

    struct World {
        config: Config,
        reps: Map<String, Rep>,
        teams: Map<String, Team>,
        loads: Map<String, Load>,
    }

    const NOW: &str = "2026-11-23T15:00:00Z"; // Monday 10:00 in New York, 16:00 in Berlin.

    fn now() -> i64 {
        crate::time::parse_rfc3339(NOW).unwrap()
    }

    fn world(config: Value) -> World {
        let mut reps = Map::default();
        for (id, doc) in [
            ("ava", json!({"name": "Ava"})),
            ("bo", json!({"name": "Bo"})),
            ("cy", json!({"name": "Cy"})),
            ("owner", json!({"name": "Owner"})),
            ("ops", json!({"name": "Ops"})),
        ] {
            reps.insert(id.to_string(), Rep::parse(id, &doc).unwrap());
        }
        let mut teams = Map::default();
        teams.insert(
            "emea".to_string(),
            Team::parse("emea", &json!({"name": "EMEA", "mode": "weighted_round_robin",
                "members": [{"rep": "ava", "weight": 3}, {"rep": "bo", "weight": 2}, {"rep": "cy", "weight": 1}]})).unwrap(),
        );
        World {
            config: Config::parse(&config).unwrap(),
            reps,
            teams,
            loads: Map::default(),
        }
    }

    fn config() -> Value {
        json!({
            "name": "test",
            "segments": [{"name": "enterprise", "when": {"field": "employees", "at_least": "1001-5000"}}],
            "rules": [
                {"id": "ent-named", "when": {"field": "segment", "in": ["enterprise"]}, "assign": {"account_owner": true}},
                {"id": "hot", "when": {"field": "score", "at_least": 90}, "assign": {"rep": "ava"}},
                {"id": "emea", "when": {"field": "country", "in": ["DE", "FR"]}, "assign": {"team": "emea"}},
                {"id": "students", "when": {"field": "custom.student", "equals": true}, "assign": {"queue": "nurture"}}
            ],
            "fallback": {"rep": "ops"}
        })
    }

    fn lead(doc: Value) -> Lead {
        let mut base =
            json!({"id": "lead_1", "email": "jo@acme.com", "created_at": 0, "updated_at": 0});
        base.as_object_mut()
            .unwrap()
            .extend(doc.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn run<'a>(
        w: &'a World,
        lead: &Lead,
        score: f64,
        account: Option<&'a Account>,
        slots: &Map<String, u64>,
    ) -> Result<Decision<'a>, NeedSlot> {
        let rf = RoutingFacts {
            score: Some(score),
            ..Default::default()
        };
        let facts = Facts {
            lead: Some(lead),
            routing: Some(&rf),
            ..Default::default()
        };
        decide(&Inputs {
            config: &w.config,
            version: 7,
            facts: &facts,
            account,
            reps: &w.reps,
            teams: &w.teams,
            loads: &w.loads,
            now: now(),
            slots,
            exclude: None,
            lost_race: &[],
        })
    }

    fn decide_with_slot<'a>(
        w: &'a World,
        lead: &Lead,
        score: f64,
        account: Option<&'a Account>,
        position: u64,
    ) -> Decision<'a> {
        let mut slots = Map::default();
        match run(w, lead, score, account, &slots) {
            Ok(d) => d,
            Err(NeedSlot(team)) => {
                slots.insert(team, position);
                run(w, lead, score, account, &slots).unwrap()
            }
        }
    }

    fn acme(owner: &str) -> Account {
        Account {
            id: "acc_1".into(),
            name: "Acme".into(),
            owner: Some(owner.into()),
            domain: "acme.com".into(),
            customer: false,
        }
    }

    #[test]
    fn account_owner_comes_first_unless_away() {
        let mut w = world(config());
        let l = lead(json!({"country": "DE"}));
        let account = acme("owner");
        let d = decide_with_slot(&w, &l, 10.0, Some(&account), 0);
        assert_eq!(
            (d.owner.clone(), d.via),
            (Owner::Rep("owner".into()), Via::Account)
        );
        assert_eq!(explained(&d)["steps"][0]["result"], "assigned");
        w.reps.get_mut("owner").unwrap().status = super::super::roster::Status::Left;
        let account = acme("owner");
        let d = decide_with_slot(&w, &l, 10.0, Some(&account), 0);
        assert_eq!(d.rule.as_deref(), Some("emea"));
        assert_eq!(explained(&d)["steps"][0]["reason"], "left");
    }

    #[test]
    fn rules_match_in_order_on_segment_score_country_and_custom_fields() {
        let w = world(json!({
            "name": "t", "account_owner_first": false,
            "segments": [{"name": "enterprise", "when": {"field": "employees", "at_least": "1001-5000"}}],
            "rules": config()["rules"].clone(), "fallback": {"rep": "ops"}
        }));
        let ent = lead(json!({"employees": "5001-10000", "country": "DE"}));
        let account = acme("owner");
        let d = decide_with_slot(&w, &ent, 10.0, Some(&account), 0);
        assert_eq!(
            (d.rule.as_deref(), d.owner.clone(), d.segment.as_deref()),
            (
                Some("ent-named"),
                Owner::Rep("owner".into()),
                Some("enterprise")
            )
        );
        // Enterprise without a known account: the account-owner rule is skipped, the next ones run.
        let d = decide_with_slot(&w, &ent, 95.0, None, 0);
        assert_eq!(d.rule.as_deref(), Some("hot"));
        assert_eq!(explained(&d)["steps"][0]["reason"], "no_account_matched");
        let d = decide_with_slot(&w, &lead(json!({"country": "FR"})), 10.0, None, 0);
        assert_eq!(
            (d.rule.as_deref(), d.team.as_deref()),
            (Some("emea"), Some("emea"))
        );
        let d = decide_with_slot(
            &w,
            &lead(json!({"custom": {"student": true}})),
            10.0,
            None,
            0,
        );
        assert_eq!(d.owner, Owner::Queue("nurture".into()));
        let d = decide_with_slot(&w, &lead(json!({"country": "US"})), 10.0, None, 0);
        assert_eq!(
            (d.owner, d.via, d.fallback_reason),
            (
                Owner::Rep("ops".into()),
                Via::Fallback,
                Some("no_rule_matched")
            )
        );
    }

    #[test]
    fn round_robin_needs_a_slot_and_follows_the_cycle() {
        let w = world(config());
        let l = lead(json!({"country": "DE"}));
        assert_eq!(
            run(&w, &l, 0.0, None, &Map::default()),
            Err(NeedSlot("emea".into()))
        );
        let owners: Vec<Owner> = (0..6)
            .map(|p| decide_with_slot(&w, &l, 0.0, None, p).owner)
            .collect();
        let r = |s: &str| Owner::Rep(s.into());
        assert_eq!(
            owners,
            vec![r("ava"), r("bo"), r("ava"), r("cy"), r("bo"), r("ava")]
        );
        let d = decide_with_slot(&w, &l, 0.0, None, 9);
        assert_eq!(explained(&d)["steps"][3]["team"]["slot"], 9);
    }

    #[test]
    fn capacity_availability_and_hours_skip_reps_with_reasons() {
        let mut w = world(config());
        let l = lead(json!({"country": "DE"}));
        w.loads.insert("ava".into(), Load { open: 5, today: 0 });
        w.reps.get_mut("ava").unwrap().max_open = Some(5);
        w.reps.get_mut("bo").unwrap().out_of_office_until = Some(now() + 1);
        // Cy works Berlin mornings only: outside hours at 16:00, but "prefer" lets Cy take it
        // when nobody else can.
        w.reps.get_mut("cy").unwrap().working_hours = Some(
            crate::hours::Schedule::parse(
                &json!({"timezone": "Europe/Berlin", "hours": {"mon": "08:00-12:00"}}),
            )
            .unwrap(),
        );
        let d = decide_with_slot(&w, &l, 0.0, None, 0);
        assert_eq!(d.owner, Owner::Rep("cy".into()));
        let team = &explained(&d)["steps"][3]["team"];
        let reasons: Vec<_> = team["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["rep"].clone(), c["result"].clone(), c["reason"].clone()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (json!("ava"), json!("skipped"), json!("capacity_open")),
                (json!("bo"), json!("skipped"), json!("out_of_office")),
                (json!("cy"), json!("chosen"), Value::Null),
            ]
        );
        // Strict hours: nobody can take it, so the fallback does, counted as no_one_available.
        w.teams.get_mut("emea").unwrap().hours = HoursPolicy::Strict;
        let d = decide_with_slot(&w, &l, 0.0, None, 0);
        assert_eq!(
            (d.owner.clone(), d.fallback_reason),
            (Owner::Rep("ops".into()), Some("no_one_available"))
        );
        assert_eq!(
            explained(&d)["steps"][3]["team"]["candidates"][2]["reason"],
            "outside_hours"
        );
        // Daily capacity counts too.
        w.teams.get_mut("emea").unwrap().hours = HoursPolicy::Ignore;
        w.reps.get_mut("cy").unwrap().max_per_day = Some(2);
        w.loads.insert("cy".into(), Load { open: 0, today: 2 });
        let d = decide_with_slot(&w, &l, 0.0, None, 0);
        assert_eq!(
            explained(&d)["steps"][3]["team"]["candidates"][2]["reason"],
            "capacity_daily"
        );
        assert_eq!(d.via, Via::Fallback);
    }

    #[test]
    fn a_rep_rule_skips_an_unavailable_rep_and_continues() {
        let mut w = world(config());
        w.reps.get_mut("ava").unwrap().status = super::super::roster::Status::Inactive;
        let d = decide_with_slot(&w, &lead(json!({"country": "FR"})), 95.0, None, 1);
        assert_eq!(explained(&d)["steps"][2]["reason"], "inactive");
        assert_eq!(d.rule.as_deref(), Some("emea"));
        assert_eq!(d.owner, Owner::Rep("bo".into()));
    }

    #[test]
    fn least_loaded_takes_the_lightest_rep() {
        let mut w = world(config());
        w.teams.get_mut("emea").unwrap().mode = Mode::LeastLoaded;
        for m in &mut w.teams.get_mut("emea").unwrap().members {
            m.weight = 1;
        }
        w.loads.insert("ava".into(), Load { open: 3, today: 1 });
        w.loads.insert("bo".into(), Load { open: 1, today: 4 });
        w.loads.insert("cy".into(), Load { open: 1, today: 2 });
        let l = lead(json!({"country": "DE"}));
        // No slot needed: least-loaded is decided from the loads alone.
        let d = run(&w, &l, 0.0, None, &Map::default()).unwrap();
        assert_eq!(d.owner, Owner::Rep("cy".into()));
    }

    #[test]
    fn fallback_to_a_queue_and_a_missing_team() {
        let w = world(
            json!({"name": "t", "rules": [{"id": "x", "assign": {"team": "ghost"}}], "fallback": {"queue": "unrouted"}}),
        );
        let d = decide_with_slot(&w, &lead(json!({})), 0.0, None, 0);
        assert_eq!(
            (d.owner.clone(), d.fallback_reason),
            (Owner::Queue("unrouted".into()), Some("no_one_available"))
        );
        assert_eq!(explained(&d)["steps"][1]["reason"], "team_not_found");
        assert_eq!(explained(&d)["config_version"], 7);
    }

    fn run_lost<'a>(
        w: &'a World,
        lead: &Lead,
        account: Option<&'a Account>,
        lost: &'a [String],
    ) -> Decision<'a> {
        let rf = RoutingFacts::default();
        let facts = Facts {
            lead: Some(lead),
            routing: Some(&rf),
            ..Default::default()
        };
        let slots = Map::from_iter([("emea".to_string(), 0)]);
        decide(&Inputs {
            config: &w.config,
            version: 7,
            facts: &facts,
            account,
            reps: &w.reps,
            teams: &w.teams,
            loads: &w.loads,
            now: now(),
            slots: &slots,
            exclude: None,
            lost_race: lost,
        })
        .unwrap()
    }

    #[test]
    fn a_lost_capacity_race_moves_on_to_the_next_candidate_and_says_so() {
        let w = world(config());
        let l = lead(json!({"country": "DE"}));
        // Slot 0 is Ava's; she lost the race for her last place: Bo, next in the cycle.
        let lost = ["ava".to_string()];
        let d = run_lost(&w, &l, None, &lost);
        assert_eq!(d.owner, Owner::Rep("bo".into()));
        assert_eq!(explained(&d)["races_lost"], json!(["ava"]));
        let ava = &explained(&d)["steps"][3]["team"]["candidates"][0];
        assert_eq!(
            (&ava["rep"], &ava["reason"]),
            (&json!("ava"), &json!("capacity_race_lost"))
        );
        // Everyone lost: the fallback takes it.
        let all: Vec<String> = ["ava", "bo", "cy"].map(String::from).to_vec();
        let d = run_lost(&w, &l, None, &all);
        assert_eq!(
            (d.owner.clone(), d.fallback_reason),
            (Owner::Rep("ops".into()), Some("no_one_available"))
        );
    }

    #[test]
    fn no_automatic_assignment_exceeds_capacity_not_even_the_account_owner_or_the_fallback() {
        let mut w = world(config());
        let l = lead(json!({"country": "US"}));
        // A full account owner is skipped like any full rep.
        w.reps.get_mut("owner").unwrap().max_open = Some(2);
        w.loads.insert("owner".into(), Load { open: 2, today: 0 });
        let account = acme("owner");
        let lost = [];
        let d = run_lost(&w, &l, Some(&account), &lost);
        assert_eq!(explained(&d)["steps"][0]["reason"], "capacity_open");
        assert_eq!(d.owner, Owner::Rep("ops".into()));
        // A full fallback rep: the lead waits in the unrouted queue, explained.
        w.reps.get_mut("ops").unwrap().max_per_day = Some(1);
        w.loads.insert("ops".into(), Load { open: 0, today: 1 });
        let account = acme("owner");
        let lost = [];
        let d = run_lost(&w, &l, Some(&account), &lost);
        assert_eq!(d.owner, Owner::Queue(UNROUTED.into()));
        assert_eq!(d.via, Via::Fallback);
        let fallback = explained(&d)["steps"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert!(
            fallback["note"]
                .as_str()
                .unwrap()
                .contains("capacity_daily"),
            "{fallback}"
        );
        // The same when the fallback rep lost the race for their last place.
        w.loads.remove("ops");
        let lost = ["ops".to_string()];
        let d = run_lost(&w, &l, None, &lost);
        assert_eq!(d.owner, Owner::Queue(UNROUTED.into()));
    }
}
