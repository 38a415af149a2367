//! The consent state machine: a change applied to a person's snapshot gives the new snapshot and
//! the events to append to the history, each with the proof that came with the change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Snapshot, SuppressionReason, TopicState, TopicsConfig};

/// Where a change came from, and the evidence kept with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Proof {
    /// `form`, `api`, `webhook`, `unsubscribe_link`, `preference_page`, `confirmation_link`,
    /// `provider:<name>`, `admin`.
    pub source: String,
    /// The form id, API key id, webhook source id or provider event id.
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The words the person saw next to the checkbox, and their version.
    #[serde(default)]
    pub wording: Option<String>,
    #[serde(default)]
    pub wording_version: Option<String>,
    pub at: i64,
    /// Anything else worth keeping (the provider's bounce diagnostics …).
    #[serde(default)]
    pub detail: Option<Value>,
}

/// A change to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// An explicit opt-in. Topics with double opt-in become pending unless `confirmed`.
    OptIn {
        topics: Vec<String>,
        confirmed: bool,
    },
    /// Opt out of these topics, or of every topic when `None`.
    OptOut { topics: Option<Vec<String>> },
    /// The address stopped accepting mail, or the person complained.
    Suppress(SuppressionReason),
    /// A temporary delivery failure; enough of them suppress the address.
    SoftBounce,
    /// An administrator lifts a suppression.
    Unsuppress,
    /// Provider feedback that is not an opt-out (auto-replies, provider-side blocks), recorded only.
    Note(String),
}

/// One line of the append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `None` for address-level events (suppression, notes).
    pub topic: Option<String>,
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    UnknownTopic(String),
    NoTopics,
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::UnknownTopic(t) => write!(f, "`{t}` is not a configured topic"),
            LedgerError::NoTopics => write!(f, "name at least one topic"),
        }
    }
}

fn event(topic: Option<&str>, kind: &str, from: Option<&str>, to: Option<&str>) -> Event {
    Event {
        topic: topic.map(str::to_string),
        kind: kind.to_string(),
        from: from.map(str::to_string),
        to: to.map(str::to_string),
    }
}

fn check_topics(topics: &[String], config: &TopicsConfig) -> Result<(), LedgerError> {
    if topics.is_empty() {
        return Err(LedgerError::NoTopics);
    }
    match topics.iter().find(|t| config.topic(t).is_none()) {
        Some(t) => Err(LedgerError::UnknownTopic(t.clone())),
        None => Ok(()),
    }
}

/// Applies `change` at `at`. Every change is recorded, including ones that leave a state as it
/// was (a repeated opt-in is still evidence).
pub fn apply(
    snapshot: &Snapshot,
    change: &Change,
    config: &TopicsConfig,
    at: i64,
) -> Result<(Snapshot, Vec<Event>), LedgerError> {
    let mut next = snapshot.clone();
    let mut events = Vec::new();
    let suppressed = |s: &Snapshot| s.suppressed.map(|r| r.as_str().to_string());
    match change {
        Change::OptIn { topics, confirmed } => {
            check_topics(topics, config)?;
            let mut opted_in = false;
            for id in topics {
                let topic = config.topic(id).expect("checked");
                let from = next.state(id);
                let to = if topic.double_opt_in && !confirmed && from != TopicState::OptedIn {
                    TopicState::Pending
                } else {
                    TopicState::OptedIn
                };
                opted_in |= to == TopicState::OptedIn;
                next.topics.insert(id.clone(), to);
                let kind = if *confirmed {
                    "confirmed"
                } else if to == TopicState::Pending {
                    "confirmation_requested"
                } else {
                    "opted_in"
                };
                events.push(event(
                    Some(id),
                    kind,
                    Some(from.as_str()),
                    Some(to.as_str()),
                ));
            }
            // A new, explicit (and where required, confirmed) opt-in overrides an earlier
            // suppression: the person gave the address again. Erasure is lifted only by a
            // confirmed opt-in (see `erasure::readmission`): nothing else proves it is them.
            let lifts = match next.suppressed {
                Some(SuppressionReason::Erased) => *confirmed,
                Some(_) => true,
                None => false,
            };
            if opted_in && lifts {
                events.push(event(
                    None,
                    "unsuppressed",
                    suppressed(&next).as_deref(),
                    None,
                ));
                next.suppressed = None;
            }
            if opted_in {
                next.soft_bounces = 0;
            }
        }
        Change::OptOut { topics } => {
            let ids: Vec<String> = match topics {
                Some(t) => {
                    check_topics(t, config)?;
                    t.clone()
                }
                None => config.topics.iter().map(|t| t.id.clone()).collect(),
            };
            for id in ids {
                let from = next.state(&id);
                next.topics.insert(id.clone(), TopicState::OptedOut);
                events.push(event(
                    Some(&id),
                    "opted_out",
                    Some(from.as_str()),
                    Some(TopicState::OptedOut.as_str()),
                ));
            }
        }
        Change::Suppress(reason) => {
            let from = suppressed(&next);
            // A complaint or hard bounce is not softened by a later, milder reason.
            let keep = matches!(
                next.suppressed,
                Some(
                    SuppressionReason::Complaint
                        | SuppressionReason::HardBounce
                        | SuppressionReason::Erased
                )
            ) && matches!(reason, SuppressionReason::SoftBounceLimit);
            if !keep {
                next.suppressed = Some(*reason);
            }
            events.push(event(
                None,
                "suppressed",
                from.as_deref(),
                suppressed(&next).as_deref(),
            ));
        }
        Change::SoftBounce => {
            next.soft_bounces += 1;
            events.push(event(
                None,
                "soft_bounce",
                Some(&snapshot.soft_bounces.to_string()),
                Some(&next.soft_bounces.to_string()),
            ));
            if next.soft_bounces >= config.soft_bounce_limit && next.suppressed.is_none() {
                next.suppressed = Some(SuppressionReason::SoftBounceLimit);
                events.push(event(
                    None,
                    "suppressed",
                    None,
                    Some(SuppressionReason::SoftBounceLimit.as_str()),
                ));
            }
        }
        Change::Unsuppress => {
            events.push(event(
                None,
                "unsuppressed",
                suppressed(&next).as_deref(),
                None,
            ));
            next.suppressed = None;
            next.soft_bounces = 0;
        }
        Change::Note(kind) => events.push(event(None, kind, None, None)),
    }
    next.updated_at = next.updated_at.max(at);
    Ok((next, events))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TopicsConfig {
        TopicsConfig::default()
    }

    fn run(s: &Snapshot, c: Change) -> (Snapshot, Vec<Event>) {
        apply(s, &c, &cfg(), 100).unwrap()
    }

    fn opt_in(topics: &[&str]) -> Change {
        Change::OptIn {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            confirmed: false,
        }
    }

    #[test]
    fn opt_in_and_out() {
        let (s, events) = run(&Snapshot::default(), opt_in(&["marketing_email"]));
        assert_eq!(s.state("marketing_email"), TopicState::OptedIn);
        assert_eq!(
            events,
            vec![event(
                Some("marketing_email"),
                "opted_in",
                Some("unknown"),
                Some("opted_in")
            )]
        );
        let (s, events) = run(&s, Change::OptOut { topics: None });
        assert!(s.topics.values().all(|t| *t == TopicState::OptedOut));
        assert_eq!(
            events.len(),
            cfg().topics.len(),
            "opting out of all records each topic"
        );
        assert_eq!(s.updated_at, 100);
    }

    #[test]
    fn double_opt_in_waits_for_the_link() {
        let (s, events) = run(
            &Snapshot::default(),
            opt_in(&["newsletter", "marketing_email"]),
        );
        assert_eq!(s.state("newsletter"), TopicState::Pending);
        assert_eq!(s.state("marketing_email"), TopicState::OptedIn);
        assert_eq!(events[0].kind, "confirmation_requested");
        let (s, events) = run(
            &s,
            Change::OptIn {
                topics: vec!["newsletter".into()],
                confirmed: true,
            },
        );
        assert_eq!(s.state("newsletter"), TopicState::OptedIn);
        assert_eq!(events[0].kind, "confirmed");
        let (s2, _) = run(&s, opt_in(&["newsletter"]));
        assert_eq!(
            s2.state("newsletter"),
            TopicState::OptedIn,
            "an opted-in topic never falls back to pending"
        );
    }

    #[test]
    fn suppression_survives_everything_but_an_explicit_opt_in() {
        let (s, _) = run(&Snapshot::default(), opt_in(&["marketing_email"]));
        let (s, events) = run(&s, Change::Suppress(SuppressionReason::HardBounce));
        assert_eq!(s.suppressed, Some(SuppressionReason::HardBounce));
        assert_eq!(events[0].to.as_deref(), Some("hard_bounce"));
        let (s, _) = run(
            &s,
            Change::OptOut {
                topics: Some(vec!["newsletter".into()]),
            },
        );
        assert_eq!(s.suppressed, Some(SuppressionReason::HardBounce));
        let (pending, _) = run(&s, opt_in(&["newsletter"]));
        assert_eq!(
            pending.suppressed,
            Some(SuppressionReason::HardBounce),
            "a pending double opt-in lifts nothing yet"
        );
        let (s, events) = run(&s, opt_in(&["marketing_email"]));
        assert_eq!(s.suppressed, None);
        assert_eq!(events.last().unwrap().kind, "unsuppressed");
    }

    #[test]
    fn erasure_is_lifted_only_by_a_confirmed_opt_in() {
        let erased = Snapshot {
            suppressed: Some(SuppressionReason::Erased),
            ..Snapshot::default()
        };
        let (s, _) = run(&erased, opt_in(&["marketing_email"]));
        assert_eq!(
            s.suppressed,
            Some(SuppressionReason::Erased),
            "a claim is not proof"
        );
        let (s, events) = run(
            &erased,
            Change::OptIn {
                topics: vec!["marketing_email".into()],
                confirmed: true,
            },
        );
        assert_eq!(s.suppressed, None);
        assert_eq!(events.last().unwrap().kind, "unsuppressed");
    }

    #[test]
    fn soft_bounces_count_up_to_the_limit() {
        let mut s = Snapshot::default();
        for n in 1..=3 {
            let (next, events) = run(&s, Change::SoftBounce);
            assert_eq!(next.soft_bounces, n);
            assert_eq!(next.suppressed.is_some(), n == 3, "after {n}");
            assert_eq!(events.len(), if n == 3 { 2 } else { 1 });
            s = next;
        }
        assert_eq!(s.suppressed, Some(SuppressionReason::SoftBounceLimit));
        let (s, _) = run(&s, opt_in(&["marketing_email"]));
        assert_eq!((s.suppressed, s.soft_bounces), (None, 0));
    }

    #[test]
    fn milder_reasons_do_not_soften_a_complaint() {
        let (s, _) = run(
            &Snapshot::default(),
            Change::Suppress(SuppressionReason::Complaint),
        );
        let (s, _) = run(&s, Change::Suppress(SuppressionReason::SoftBounceLimit));
        assert_eq!(s.suppressed, Some(SuppressionReason::Complaint));
        let (s, events) = run(&s, Change::Unsuppress);
        assert_eq!(s.suppressed, None);
        assert_eq!(events[0].from.as_deref(), Some("complaint"));
    }

    #[test]
    fn notes_change_nothing_and_unknown_topics_are_refused() {
        let (s, events) = run(&Snapshot::default(), Change::Note("auto_reply".into()));
        assert_eq!(s.topics.len(), 0);
        assert_eq!(events[0].kind, "auto_reply");
        assert_eq!(
            apply(&Snapshot::default(), &opt_in(&["fax"]), &cfg(), 0),
            Err(LedgerError::UnknownTopic("fax".into()))
        );
        assert_eq!(
            apply(&Snapshot::default(), &opt_in(&[]), &cfg(), 0),
            Err(LedgerError::NoTopics)
        );
    }
}
