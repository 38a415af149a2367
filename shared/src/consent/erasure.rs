//! Where a person lives in storage, for erasure (GDPR art. 17) and export (arts. 15, 20).
//!
//! Every D1 table is listed here, either with how rows about a person are found (by email, by
//! lead id, by a submission of theirs, or by a text search for tables that keep request bodies)
//! or as holding no personal data. A unit test reads the migrations and fails if a table is
//! missing, so a new table cannot silently escape erasure.

/// How the rows about one person are found in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locator {
    /// `column = <email>`.
    Email(&'static str),
    /// `column = <lead id>` (the lead found by email).
    Lead(&'static str),
    /// `column` names one of the person's submissions.
    Submission(&'static str),
    /// `column` contains the email or lead id as text (JSON payloads, stored responses).
    Mentions(&'static str),
    /// The consent ledger's subject key (keyed hash).
    Subject(&'static str),
    /// The table holds no personal data.
    None,
}

pub struct Table {
    pub name: &'static str,
    pub locators: &'static [Locator],
}

use Locator::*;

/// Every table, in the order erasure deletes from it (children before parents).
#[rustfmt::skip]
pub const TABLES: &[Table] = &[
    Table { name: "workflow_steps", locators: &[Lead("lead_id")] },
    Table { name: "workflow_due", locators: &[Lead("lead_id")] },
    Table { name: "workflow_enrolments", locators: &[Lead("lead_id")] },
    Table { name: "workflow_events", locators: &[Lead("lead_id")] },
    Table { name: "workflow_timers", locators: &[Lead("lead_id")] },
    Table { name: "list_members", locators: &[Lead("lead_id")] },
    Table { name: "list_changes", locators: &[Lead("lead_id")] },
    Table { name: "activities", locators: &[Lead("lead_id")] },
    Table { name: "assignments", locators: &[Lead("lead_id")] },
    Table { name: "sla_clocks", locators: &[Lead("lead_id")] },
    Table { name: "sla_touches", locators: &[Lead("lead_id")] },
    Table { name: "sla_events", locators: &[Lead("lead_id")] },
    Table { name: "sla_tasks", locators: &[Lead("lead_id")] },
    Table { name: "webhook_deliveries", locators: &[Lead("subject"), Mentions("payload")] },
    Table { name: "lead_scores", locators: &[Lead("lead_id")] },
    Table { name: "stage_transitions", locators: &[Lead("lead_id")] },
    Table { name: "lead_outcomes", locators: &[Lead("lead_id")] },
    Table { name: "jobs", locators: &[Submission("subject"), Lead("subject"), Mentions("payload")] },
    Table { name: "idempotency_keys", locators: &[Mentions("body")] },
    Table { name: "submissions", locators: &[Email("email"), Lead("lead_id")] },
    Table { name: "consent_events", locators: &[Email("email")] },
    Table { name: "consent_states", locators: &[Email("email")] },
    Table { name: "consent_subjects", locators: &[Email("email")] },
    Table { name: "leads", locators: &[Email("email")] },
    Table { name: "erased_subjects", locators: &[None] },
    Table { name: "api_keys", locators: &[None] },
    Table { name: "forms", locators: &[None] },
    Table { name: "webhook_sources", locators: &[None] },
    Table { name: "webhook_receipts", locators: &[None] },
    Table { name: "rate_windows", locators: &[None] },
    Table { name: "form_counters", locators: &[None] },
    Table { name: "source_counters", locators: &[None] },
    Table { name: "settings", locators: &[None] },
    Table { name: "config_versions", locators: &[None] },
    Table { name: "config_activations", locators: &[None] },
    Table { name: "d1_migrations", locators: &[None] },
    Table { name: "reps", locators: &[None] },
    Table { name: "teams", locators: &[None] },
    Table { name: "accounts", locators: &[None] },
    Table { name: "account_domains", locators: &[None] },
    Table { name: "rr_cursors", locators: &[None] },
    Table { name: "webhook_endpoints", locators: &[None] },
    Table { name: "sla_cursor", locators: &[None] },
    Table { name: "handler_ticks", locators: &[None] },
    Table { name: "console_sessions", locators: &[None] },
    Table { name: "workflows", locators: &[None] },
    Table { name: "workflow_versions", locators: &[None] },
    Table { name: "workflow_changes", locators: &[None] },
    Table { name: "lists", locators: &[None] },
];

/// What an explicit opt-in for an erased person leads to. Erasure removed every trace of them,
/// so only a new, provable consent brings them back: their own confirmation of the opt-in (a
/// link sent to the address), or a decision by someone holding the `subjects:admin` scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readmission {
    /// Not erased: nothing to decide.
    NotErased,
    /// Store them again (a confirmed opt-in, or a subjects:admin decision).
    Readmit,
    /// Store nothing; offer a confirmation link for their opt-in.
    ConfirmFirst,
    /// Store nothing.
    Refuse,
}

pub fn readmission(
    erased: bool,
    opts_in: bool,
    confirmed: bool,
    subjects_admin: bool,
) -> Readmission {
    match (erased, opts_in) {
        (false, _) => Readmission::NotErased,
        (true, true) if confirmed || subjects_admin => Readmission::Readmit,
        (true, true) => Readmission::ConfirmFirst,
        (true, false) => Readmission::Refuse,
    }
}

/// Table names created by SQL migration text (`CREATE TABLE name`).
pub fn tables_in(sql: &str) -> Vec<String> {
    let upper = sql.to_ascii_uppercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = upper[from..].find("CREATE TABLE") {
        let start = from + pos + "CREATE TABLE".len();
        let rest = sql[start..].trim_start();
        let rest = rest
            .strip_prefix("IF NOT EXISTS")
            .map(str::trim_start)
            .unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        out.push(name.to_ascii_lowercase());
        from = start;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_in_the_migrations_is_covered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let sql = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for table in tables_in(&sql) {
                if !TABLES.iter().any(|t| t.name == table) {
                    missing.push(table);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "tables with no erasure rule in consent/erasure.rs: {missing:?}"
        );
        let mut created: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            created.extend(tables_in(
                &std::fs::read_to_string(entry.unwrap().path()).unwrap(),
            ));
        }
        for t in TABLES.iter().filter(|t| t.name != "d1_migrations") {
            assert!(
                created.iter().any(|c| c == t.name),
                "{} is listed but no migration creates it",
                t.name
            );
        }
    }

    #[test]
    fn finds_table_names() {
        assert_eq!(
            tables_in("create table a (x);\nCREATE TABLE IF NOT EXISTS b_c(\n"),
            ["a", "b_c"]
        );
    }

    #[test]
    fn only_a_confirmed_opt_in_or_an_admin_brings_an_erased_person_back() {
        assert_eq!(
            readmission(false, false, false, false),
            Readmission::NotErased
        );
        assert_eq!(readmission(true, false, false, false), Readmission::Refuse);
        // A form fill or a tool with intake:write claiming consent is not proof.
        assert_eq!(
            readmission(true, true, false, false),
            Readmission::ConfirmFirst
        );
        assert_eq!(readmission(true, true, true, false), Readmission::Readmit);
        assert_eq!(readmission(true, true, false, true), Readmission::Readmit);
        // Without an opt-in there is nothing to bring them back for, even for an admin.
        assert_eq!(readmission(true, false, false, true), Readmission::Refuse);
    }
}
