//! Lists: static (members added by workflows, the API or an import) and dynamic (every lead that
//! meets a condition, kept current as leads change). Each membership change is recorded with
//! its time and cause, so "when did this person join the list?" has an answer.

use serde_json::Value;

use crate::problem::FieldError;
use crate::scoring::condition::Condition;

use super::run::LeadState;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Static,
    Dynamic(Condition),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    pub name: String,
    pub kind: Kind,
}

impl ListDef {
    /// Parses `{"name": …, "kind": "static" | "dynamic", "when": <condition for dynamic>}`.
    pub fn parse(v: &Value) -> Result<ListDef, Vec<FieldError>> {
        let err = |f: &str, r: &str| vec![FieldError::new(f, r)];
        let obj = v
            .as_object()
            .ok_or_else(|| err("", "give the list as an object with name and kind"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !["name", "kind", "when"].contains(&k.as_str()))
        {
            return Err(err(k, "is not part of a list (it takes name, kind, when)"));
        }
        let name = match obj.get("name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() && n.chars().count() <= 120 => n.trim().to_string(),
            _ => return Err(err("name", "give a name of 1 to 120 characters")),
        };
        let kind = match (obj.get("kind").and_then(Value::as_str), obj.get("when")) {
            (Some("static"), None) => Kind::Static,
            (Some("static"), Some(_)) => {
                return Err(err("when", "a static list has no condition"));
            }
            (Some("dynamic"), Some(c)) => {
                Kind::Dynamic(super::doc::condition(c, "when").map_err(|e| {
                    let (f, r) = e.split_once(": ").unwrap_or(("when", &e));
                    err(f, r)
                })?)
            }
            (Some("dynamic"), None) => {
                return Err(err("when", "a dynamic list needs its condition"));
            }
            _ => return Err(err("kind", "give static or dynamic")),
        };
        if let Kind::Dynamic(c) = &kind {
            if mentions_list(c) {
                return Err(err(
                    "when",
                    "a dynamic list's condition cannot test list membership",
                ));
            }
        }
        Ok(ListDef { name, kind })
    }
}

fn mentions_list(c: &Condition) -> bool {
    match c {
        Condition::InList(_) => true,
        Condition::All(cs) | Condition::Any(cs) => cs.iter().any(mentions_list),
        Condition::Not(c) => mentions_list(c),
        _ => false,
    }
}

/// A membership change a dynamic list needs for one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Join,
    Leave,
}

/// Whether the lead's membership of a dynamic list must change, given whether it is a member.
pub fn reconcile(condition: &Condition, lead: &LeadState, member: bool) -> Option<Change> {
    match (condition.matches(&lead.facts()), member) {
        (true, false) => Some(Change::Join),
        (false, true) => Some(Change::Leave),
        _ => None,
    }
}

/// The CSV header of an export (email first), and one member's row. Fields are quoted when
/// they hold a comma, quote or line break, and a leading `=`, `+`, `-` or `@` is neutralised so a
/// spreadsheet does not run it as a formula.
pub const CSV_HEADER: &str = "email,lead_id,first_name,last_name,company,joined_at\r\n";

pub fn csv_row(fields: &[&str]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let guarded = if f.starts_with(['=', '+', '-', '@']) {
            format!("'{f}")
        } else {
            f.to_string()
        };
        if guarded.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&guarded.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&guarded);
        }
    }
    out.push_str("\r\n");
    out
}
