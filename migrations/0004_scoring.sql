-- Versioned configuration (for scoring and the kinds after it), and scoring: each lead's current
-- score with its explanation and the version that produced it, stage transitions, and sales'
-- outcomes.

-- Versioned configuration, for every kind (scoring models, routing rules, SLA policies): each
-- published version is kept forever; each publish and rollback is an activation, and the latest
-- activation of a kind says which version is active (none: the built-in version 0).
CREATE TABLE config_versions (
    kind         TEXT NOT NULL,           -- scoring | routing | sla
    version      INTEGER NOT NULL,        -- 1, 2, …
    name         TEXT NOT NULL,
    document     TEXT NOT NULL,           -- JSON
    published_at INTEGER NOT NULL,
    published_by TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (kind, version)
);

CREATE TABLE config_activations (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    version INTEGER NOT NULL,
    action  TEXT NOT NULL,                -- publish | rollback
    at      INTEGER NOT NULL,
    by      TEXT NOT NULL,
    reason  TEXT NOT NULL
);
CREATE INDEX config_activations_kind ON config_activations (kind, id);

CREATE TABLE lead_scores (
    lead_id          TEXT PRIMARY KEY,
    fit              REAL NOT NULL,
    engagement       REAL NOT NULL,
    total            REAL NOT NULL,
    stage            TEXT NOT NULL,       -- new | nurture | <model stages> | accepted | disqualified | converted
    model_version    INTEGER NOT NULL,
    explanation      TEXT NOT NULL,       -- JSON: the rules that fired
    engagement_since INTEGER,             -- set when a rejection recycles the lead
    scored_at        INTEGER NOT NULL,
    stage_changed_at INTEGER NOT NULL,
    version          INTEGER NOT NULL DEFAULT 1,
    last_change      TEXT NOT NULL
);
CREATE INDEX lead_scores_stage ON lead_scores (stage);

CREATE TABLE stage_transitions (
    id            TEXT PRIMARY KEY,
    lead_id       TEXT NOT NULL,
    from_stage    TEXT NOT NULL,
    to_stage      TEXT NOT NULL,
    total         REAL,
    model_version INTEGER,
    reason        TEXT NOT NULL,          -- score | accepted | converted | rejected:<code>
    at            INTEGER NOT NULL,
    by            TEXT
);
CREATE INDEX stage_transitions_lead ON stage_transitions (lead_id, at);
CREATE INDEX stage_transitions_to ON stage_transitions (to_stage, at);

CREATE TABLE lead_outcomes (
    id            TEXT PRIMARY KEY,
    lead_id       TEXT NOT NULL,
    outcome       TEXT NOT NULL,          -- accepted | rejected | converted
    reason        TEXT,                   -- a rejection reason code of the model
    note          TEXT,
    at            INTEGER NOT NULL,
    by            TEXT NOT NULL,
    model_version INTEGER
);
CREATE INDEX lead_outcomes_lead ON lead_outcomes (lead_id, at);
CREATE INDEX lead_outcomes_at ON lead_outcomes (at);
