//! Lead scoring: a model is configuration — fit rules on attributes, engagement rules on
//! activities (points, caps per period, decay), negative rules, lifecycle stages with hysteresis
//! and the reasons sales may reject an MQL for. [`Model::compile`] validates a model document with
//! errors that point at the offending rule; [`engine`] scores a lead and moves it between stages,
//! explaining every point; [`backtest`] replays a candidate model over stored leads and outcomes.

pub mod backtest;
pub mod condition;
pub mod engine;
pub mod funnel;
pub mod outcome;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::problem::FieldError;
use condition::{Condition, Test};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitRuleSpec {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    pub when: Value,
    pub points: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    /// At most this many points from the rule per period…
    #[serde(default)]
    pub max_points: Option<f64>,
    /// …and/or at most this many activities counted per period.
    #[serde(default)]
    pub max_count: Option<u32>,
    pub per: Period,
}

/// How engagement points lose value with age. Fit points do not decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecaySpec {
    /// Points halve every this many days.
    #[serde(default)]
    pub half_life_days: Option<f64>,
    /// Points fall linearly to zero over this many days.
    #[serde(default)]
    pub linear_days: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementRuleSpec {
    pub id: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The activity type(s) the rule counts.
    pub activity: Value,
    /// A test on the activity's properties: `{"property": "url", "contains": "/pricing"}`.
    #[serde(default, rename = "where")]
    pub where_: Option<Value>,
    pub points: f64,
    #[serde(default)]
    pub cap: Option<CapSpec>,
    #[serde(default)]
    pub decay: Option<DecaySpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub name: String,
    /// A lead enters the stage when its score reaches this…
    pub enter_at: f64,
    /// …and leaves it only when the score falls below this (hysteresis against decay noise).
    pub exit_below: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recycle {
    /// Back to nurture; engagement before the rejection no longer counts, so the lead must show
    /// new interest to become an MQL again.
    Nurture,
    /// Never an MQL again (unless reopened by hand).
    Disqualify,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonSpec {
    pub code: String,
    pub label: String,
    pub recycle: Recycle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub fit: f64,
    pub engagement: f64,
}

fn default_weights() -> Weights {
    Weights {
        fit: 1.0,
        engagement: 1.0,
    }
}

fn default_reasons() -> Vec<ReasonSpec> {
    let r = |code: &str, label: &str, recycle| ReasonSpec {
        code: code.into(),
        label: label.into(),
        recycle,
    };
    vec![
        r("bad_contact_data", "Bad contact data", Recycle::Disqualify),
        r(
            "not_icp",
            "Not our ideal customer profile",
            Recycle::Disqualify,
        ),
        r("no_budget", "No budget now", Recycle::Nurture),
        r("bad_timing", "Not the right time", Recycle::Nurture),
        r(
            "already_in_deal",
            "Already in an open deal",
            Recycle::Nurture,
        ),
        r(
            "student_or_competitor",
            "Student or competitor",
            Recycle::Disqualify,
        ),
        r(
            "duplicate",
            "Duplicate of another lead",
            Recycle::Disqualify,
        ),
    ]
}

/// A scoring model document, as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    #[serde(default)]
    pub fit: Vec<FitRuleSpec>,
    #[serde(default)]
    pub negative: Vec<FitRuleSpec>,
    #[serde(default)]
    pub engagement: Vec<EngagementRuleSpec>,
    pub stages: Vec<StageSpec>,
    #[serde(default = "default_weights")]
    pub weights: Weights,
    #[serde(default = "default_reasons")]
    pub rejection_reasons: Vec<ReasonSpec>,
}

/// A test on an activity's properties.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyTest {
    pub property: String,
    pub test: Test,
}

impl PropertyTest {
    /// Whether an activity with these `properties` (a JSON object) passes the test.
    pub fn matches(&self, properties: &Value) -> bool {
        self.test.matches(
            &self.property,
            properties.get(&self.property).unwrap_or(&Value::Null),
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EngagementRule {
    pub activities: Vec<String>,
    pub property: Option<PropertyTest>,
}

/// A validated, compiled model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub spec: ModelSpec,
    pub fit: Vec<Condition>,
    pub negative: Vec<Condition>,
    pub engagement: Vec<EngagementRule>,
}

pub const MQL: &str = "mql";
/// The stage of a lead that has never been scored (and where every lead starts).
pub const NEW: &str = "new";

fn snake(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The stages the people in the loop own; scores never move a lead out of them.
pub const HUMAN_STAGES: &[&str] = &["accepted", "disqualified", "converted"];
const RESERVED_STAGES: &[&str] = &[
    "new",
    "nurture",
    "accepted",
    "disqualified",
    "converted",
    "rejected",
];

/// The largest number of points one rule may give or take.
pub const MAX_POINTS: f64 = 10_000.0;
/// The largest weight of fit or engagement in the total.
pub const MAX_WEIGHT: f64 = 100.0;
/// Stage thresholds lie within ± this.
pub const MAX_THRESHOLD: f64 = 1_000_000.0;

impl Model {
    /// Parses and checks a model document (JSON), naming each offending rule.
    pub fn from_json(v: &Value) -> Result<Model, Vec<FieldError>> {
        // Errors name fields inside the document (`stages[0]`); the document itself is "".
        let spec: ModelSpec = crate::de::from_value(v.clone(), "").map_err(|mut e| {
            if e.field == "body" {
                e.field.clear();
            }
            vec![e]
        })?;
        Model::compile(spec)
    }

    pub fn compile(spec: ModelSpec) -> Result<Model, Vec<FieldError>> {
        let mut errors = Vec::new();
        if spec.name.trim().is_empty() {
            errors.push(FieldError::new("name", "give the model a name"));
        }
        let mut ids = RuleIds::default();
        let fit = compile_fit("fit", &spec.fit, false, &mut ids, &mut errors);
        let negative = compile_fit("negative", &spec.negative, true, &mut ids, &mut errors);
        let engagement = spec
            .engagement
            .iter()
            .enumerate()
            .map(|(i, r)| {
                ids.check("engagement", i, &r.id, &mut errors);
                compile_engagement(i, r, &mut errors)
            })
            .collect();
        let sorted = check_stages(&spec.stages, &mut errors);
        check_weights_and_reasons(&spec, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut spec = spec;
        spec.stages = sorted;
        Ok(Model {
            spec,
            fit,
            negative,
            engagement,
        })
    }

    /// For publishing: a document to its canonical stored form, or the errors.
    pub fn validate_json(v: &Value) -> Result<Value, Vec<FieldError>> {
        let model = Model::from_json(v)?;
        Ok(serde_json::to_value(&model.spec).unwrap_or_default())
    }

    /// The total at which a lead becomes an MQL (the `mql` stage's `enter_at`).
    pub fn mql_threshold(&self) -> Option<f64> {
        self.spec
            .stages
            .iter()
            .find(|s| s.name == MQL)
            .map(|s| s.enter_at)
    }

    pub fn reason(&self, code: &str) -> Option<&ReasonSpec> {
        self.spec.rejection_reasons.iter().find(|r| r.code == code)
    }

    /// The model new installations start with (version 0 until one is published).
    pub fn builtin() -> Model {
        Model::from_json(&serde_json::from_str(BUILTIN).expect("the built-in model is JSON"))
            .expect("the built-in model is valid")
    }
}

/// Parses a test on one activity property (`{"property": "url", "contains": "/pricing"}`):
/// scoring's engagement rules and workflows' activity triggers share it.
pub fn parse_property(v: &Value, at: &str) -> Result<PropertyTest, String> {
    let property = v
        .get("property")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("{at}.property: name the activity property"))?;
    // Reuse the field-test syntax on a stand-in field.
    let mut probe = v.clone();
    probe.as_object_mut().map(|o| o.remove("property"));
    probe["field"] = Value::String("custom.property".into());
    match Condition::parse(&probe, at)? {
        Condition::Field { test, .. } => Ok(PropertyTest {
            property: property.to_string(),
            test,
        }),
        _ => Err(format!(
            "{at}: a property test is one of contains, in, at_least, at_most, present, equals"
        )),
    }
}

/// A realistic default: B2B fit on title, size and geography; engagement with caps and decay.
pub const BUILTIN: &str = r#"{
  "name": "Built-in B2B model",
  "fit": [
    {"id": "senior_title", "description": "Decision-maker title", "when": {"field": "title", "contains": ["chief", "vp", "vice president", "head of", "director", "founder", "owner", "cxo", "ceo", "cto", "cfo", "coo", "cmo", "cro"]}, "points": 20},
    {"id": "manager_title", "description": "Manager title", "when": {"all": [{"field": "title", "contains": "manager"}, {"not": {"field": "title", "contains": ["vp", "director", "head of"]}}]}, "points": 10},
    {"id": "target_size", "description": "51 to 5000 employees", "when": {"all": [{"field": "employees", "at_least": "51-200"}, {"field": "employees", "at_most": "1001-5000"}]}, "points": 15},
    {"id": "enterprise_size", "description": "More than 5000 employees", "when": {"field": "employees", "at_least": "5001-10000"}, "points": 10},
    {"id": "core_markets", "description": "North America and Western Europe", "when": {"field": "country", "in": ["US", "CA", "GB", "IE", "DE", "FR", "NL", "BE", "CH", "AT", "SE", "DK", "NO", "FI"]}, "points": 10},
    {"id": "company_domain", "description": "A company email domain", "when": {"field": "company_domain", "present": true}, "points": 5},
    {"id": "existing_customer", "description": "Already a customer", "when": {"existing_customer": true}, "points": 10}
  ],
  "negative": [
    {"id": "free_mail", "description": "Free-mail address", "when": {"field": "email_domain", "free_mail": true}, "points": -10},
    {"id": "student", "description": "Student", "when": {"any": [{"field": "title", "contains": ["student", "intern"]}, {"field": "email_domain", "contains": [".edu", ".ac."]}]}, "points": -40},
    {"id": "unsubscribed", "description": "Unsubscribed from marketing email", "when": {"consent": "opted_out", "topic": "marketing_email"}, "points": -20}
  ],
  "engagement": [
    {"id": "page_views", "description": "Page views", "activity": "page_view", "points": 1, "cap": {"max_points": 10, "per": "week"}, "decay": {"half_life_days": 30}},
    {"id": "pricing_views", "description": "Pricing page views", "activity": "pricing_page_view", "points": 10, "cap": {"max_count": 2, "per": "week"}, "decay": {"half_life_days": 14}},
    {"id": "email_clicks", "description": "Email clicks", "activity": "email_click", "points": 3, "cap": {"max_points": 9, "per": "week"}, "decay": {"half_life_days": 30}},
    {"id": "content", "description": "Content downloads", "activity": "content_download", "points": 8, "decay": {"half_life_days": 45}},
    {"id": "webinars", "description": "Webinars attended", "activity": "webinar_attended", "points": 15, "decay": {"half_life_days": 60}},
    {"id": "forms", "description": "Form submissions", "activity": "form_submission", "points": 10, "cap": {"max_count": 3, "per": "month"}, "decay": {"half_life_days": 45}},
    {"id": "demo_request", "description": "Demo requested", "activity": ["demo_request", "meeting_booked"], "points": 40, "decay": {"linear_days": 90}},
    {"id": "trial", "description": "Trial started", "activity": ["trial_signup", "product_signup"], "points": 30, "decay": {"linear_days": 60}}
  ],
  "stages": [
    {"name": "engaged", "enter_at": 30, "exit_below": 25},
    {"name": "mql", "enter_at": 60, "exit_below": 50}
  ]
}"#;

/// Rule ids: snake_case and unique across the model's fit, negative and engagement rules.
#[derive(Default)]
struct RuleIds(std::collections::BTreeSet<String>);

impl RuleIds {
    fn check(&mut self, list: &str, i: usize, id: &str, errors: &mut Vec<FieldError>) {
        if !snake(id) {
            errors.push(FieldError::new(
                format!("{list}[{i}].id"),
                "use snake_case, at most 64 characters",
            ));
        } else if !self.0.insert(id.to_string()) {
            errors.push(FieldError::new(
                format!("{list}[{i}].id"),
                format!("`{id}` is used by another rule"),
            ));
        }
    }
}

/// Fit (or, with `negative`, negative) rules: their ids, points and conditions.
fn compile_fit(
    list: &str,
    rules: &[FitRuleSpec],
    negative: bool,
    ids: &mut RuleIds,
    errors: &mut Vec<FieldError>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        ids.check(list, i, &r.id, errors);
        if !r.points.is_finite()
            || r.points.abs() > MAX_POINTS
            || (negative && r.points >= 0.0)
            || (!negative && r.points == 0.0)
        {
            let why = if negative {
                format!("must be below zero, at least -{MAX_POINTS}")
            } else {
                format!("must be a non-zero number from -{MAX_POINTS} to {MAX_POINTS}")
            };
            errors.push(FieldError::new(format!("{list}[{i}].points"), why));
        }
        match Condition::parse(&r.when, &format!("{list}[{i}].when")) {
            Ok(c) => out.push(c),
            Err(e) => {
                let (field, reason) = e.split_once(": ").unwrap_or((&e, "is invalid"));
                errors.push(FieldError::new(field, reason));
            }
        }
    }
    out
}

/// One engagement rule: its activity types, points, cap, decay and property test.
fn compile_engagement(
    i: usize,
    r: &EngagementRuleSpec,
    errors: &mut Vec<FieldError>,
) -> EngagementRule {
    let at = format!("engagement[{i}]");
    let activities: Vec<String> = match &r.activity {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if activities.is_empty() {
        errors.push(FieldError::new(
            format!("{at}.activity"),
            "name an activity type or a list of them",
        ));
    }
    for a in &activities {
        if !crate::intake::activity::is_activity_type(a) {
            errors.push(FieldError::new(
                format!("{at}.activity"),
                format!("`{a}` is not an activity type"),
            ));
        }
    }
    if !r.points.is_finite() || r.points == 0.0 || r.points.abs() > MAX_POINTS {
        errors.push(FieldError::new(
            format!("{at}.points"),
            format!("must be a non-zero number from -{MAX_POINTS} to {MAX_POINTS}"),
        ));
    }
    if let Some(cap) = &r.cap {
        if cap.max_points.is_none() && cap.max_count.is_none() {
            errors.push(FieldError::new(
                format!("{at}.cap"),
                "give max_points, max_count or both",
            ));
        }
        if cap.max_points.is_some_and(|m| !m.is_finite() || m <= 0.0) || cap.max_count == Some(0) {
            errors.push(FieldError::new(
                format!("{at}.cap"),
                "limits must be above zero",
            ));
        }
    }
    if let Some(d) = &r.decay {
        match (d.half_life_days, d.linear_days) {
            (Some(h), None) if h.is_finite() && h > 0.0 => {}
            (None, Some(l)) if l.is_finite() && l > 0.0 => {}
            _ => errors.push(FieldError::new(
                format!("{at}.decay"),
                "give one of half_life_days or linear_days, above zero",
            )),
        }
    }
    let property = match &r.where_ {
        None => None,
        Some(w) => match parse_property(w, &format!("{at}.where")) {
            Ok(p) => Some(p),
            Err(e) => {
                let (field, reason) = e.split_once(": ").unwrap_or((&e, "is invalid"));
                errors.push(FieldError::new(field, reason));
                None
            }
        },
    };
    EngagementRule {
        activities,
        property,
    }
}

/// The stages: `mql` among them, snake_case and unique names, sane thresholds, no two starting
/// at the same score. Returns them in the order they are entered.
fn check_stages(stages: &[StageSpec], errors: &mut Vec<FieldError>) -> Vec<StageSpec> {
    if !stages.iter().any(|s| s.name == MQL) {
        errors.push(FieldError::new(
            "stages",
            "the model must name the `mql` stage",
        ));
    }
    let mut stage_names = std::collections::BTreeSet::new();
    for (i, s) in stages.iter().enumerate() {
        if !snake(&s.name) || RESERVED_STAGES.contains(&s.name.as_str()) {
            errors.push(FieldError::new(format!("stages[{i}].name"), "use a snake_case name other than new, nurture, accepted, rejected, disqualified, converted"));
        } else if !stage_names.insert(s.name.clone()) {
            errors.push(FieldError::new(
                format!("stages[{i}].name"),
                format!("`{}` is listed twice", s.name),
            ));
        }
        let in_range = |x: f64| x.is_finite() && x.abs() <= MAX_THRESHOLD;
        if !(in_range(s.enter_at) && in_range(s.exit_below)) {
            errors.push(FieldError::new(
                format!("stages[{i}]"),
                format!("thresholds lie from -{MAX_THRESHOLD} to {MAX_THRESHOLD}"),
            ));
        } else if s.exit_below > s.enter_at {
            errors.push(FieldError::new(
                format!("stages[{i}]"),
                "exit_below must not be above enter_at",
            ));
        }
    }
    let mut sorted = stages.to_vec();
    sorted.sort_by(|a, b| a.enter_at.total_cmp(&b.enter_at));
    if sorted.windows(2).any(|w| w[0].enter_at == w[1].enter_at) {
        errors.push(FieldError::new(
            "stages",
            "two stages cannot start at the same score",
        ));
    }
    sorted
}

/// How fit and engagement combine, and the codes sales may reject with.
fn check_weights_and_reasons(spec: &ModelSpec, errors: &mut Vec<FieldError>) {
    let weight_ok = |w: f64| w.is_finite() && (0.0..=MAX_WEIGHT).contains(&w);
    if !(weight_ok(spec.weights.fit) && weight_ok(spec.weights.engagement)) {
        errors.push(FieldError::new(
            "weights",
            format!("weights are numbers from 0 to {MAX_WEIGHT}"),
        ));
    }
    if spec.rejection_reasons.is_empty() {
        errors.push(FieldError::new(
            "rejection_reasons",
            "list at least one reason",
        ));
    }
    let mut codes = std::collections::BTreeSet::new();
    for (i, r) in spec.rejection_reasons.iter().enumerate() {
        if !snake(&r.code) || !codes.insert(r.code.clone()) {
            errors.push(FieldError::new(
                format!("rejection_reasons[{i}].code"),
                "use a unique snake_case code",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_builtin_model_compiles() {
        let m = Model::builtin();
        assert_eq!(m.spec.stages[1].name, "mql");
        assert_eq!(m.fit.len(), m.spec.fit.len());
        assert!(m.reason("no_budget").is_some());
    }

    #[test]
    fn errors_point_at_the_offending_rule() {
        let v = json!({
            "name": "",
            "fit": [{"id": "ok", "when": {"field": "title", "contains": "vp"}, "points": 5},
                    {"id": "ok", "when": {"field": "titel", "contains": "vp"}, "points": 0}],
            "negative": [{"id": "neg", "when": {"consent": "suppressed"}, "points": 5}],
            "engagement": [{"id": "views", "activity": "teleport", "points": 1, "cap": {"per": "week"}, "decay": {"half_life_days": 0}},
                           {"id": "pricing", "activity": "page_view", "where": {"property": "url", "contaiins": "/pricing"}, "points": 5}],
            "stages": [{"name": "hot", "enter_at": 50, "exit_below": 60}],
            "rejection_reasons": [{"code": "x", "label": "X", "recycle": "nurture"}, {"code": "x", "label": "X", "recycle": "nurture"}]
        });
        let errors = Model::from_json(&v).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(got, vec![
            ("name", "give the model a name"),
            ("fit[1].id", "`ok` is used by another rule"),
            ("fit[1].points", "must be a non-zero number from -10000 to 10000"),
            ("fit[1].when.field", "`titel` is not a lead attribute (nor custom.<name>)"),
            ("negative[0].points", "must be below zero, at least -10000"),
            ("engagement[0].activity", "`teleport` is not an activity type"),
            ("engagement[0].cap", "give max_points, max_count or both"),
            ("engagement[0].decay", "give one of half_life_days or linear_days, above zero"),
            ("engagement[1].where", "give exactly one of contains, in, at_least, at_most, present, equals, free_mail"),
            ("stages", "the model must name the `mql` stage"),
            ("stages[0]", "exit_below must not be above enter_at"),
            ("rejection_reasons[1].code", "use a unique snake_case code"),
        ]);
    }

    #[test]
    fn numbers_stay_in_ranges_whose_sums_cannot_overflow() {
        let model = |fit_points: f64, weight: f64, enter: f64| {
            json!({"name": "m", "fit": [{"id": "a", "when": {"field": "title", "present": true}, "points": fit_points}],
                   "stages": [{"name": "mql", "enter_at": enter, "exit_below": enter}],
                   "weights": {"fit": weight, "engagement": 1.0}})
        };
        let fields = |v: Value| -> Vec<String> {
            Model::from_json(&v)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert!(fields(model(10_000.0, 100.0, 1_000_000.0)).is_empty());
        assert_eq!(fields(model(-1.7e308, 1.0, 50.0)), ["fit[0].points"]);
        assert_eq!(fields(model(5.0, 101.0, 50.0)), ["weights"]);
        assert_eq!(fields(model(5.0, 1.0, 1e9)), ["stages[0]"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let errors = Model::from_json(&json!({"name": "m", "stages": [], "fitt": []})).unwrap_err();
        assert_eq!(errors[0].field, "fitt");
        assert!(
            errors[0].reason.starts_with("is not a field here; use "),
            "{}",
            errors[0].reason
        );
        let errors = Model::from_json(&json!({"name": "m", "stages": [null]})).unwrap_err();
        assert_eq!(errors[0].field, "stages[0]");
        assert_eq!(errors[0].reason, "must not be null: give an object");
    }
}
