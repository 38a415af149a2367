-- Intake: leads, every submission as received, activities, registered forms and webhook
-- sources, replay protection, rate limits and per-form counters, idempotency keys, and the
-- retry queue shared by all handlers.

-- One lead per normalised email. `data` holds the whole lead (see revops::intake::lead::Lead);
-- the columns beside it are what queries select on. `last_submission` makes a merge and the
-- submission's "merged" mark one atomic decision (see functions/intake/src/store.rs).
CREATE TABLE leads (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    company_domain  TEXT,
    lead_source     TEXT,
    data            TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    last_submission TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX leads_company_domain ON leads (company_domain);

-- Every submission, committed before any 2xx answer, and kept as the lead's history.
CREATE TABLE submissions (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,          -- form | api | webhook
    source_id    TEXT,                   -- form id, webhook source id or API key id
    email        TEXT,                   -- normalised
    lead_id      TEXT,
    received_at  INTEGER NOT NULL,
    content_type TEXT,
    body         TEXT NOT NULL,          -- as received (multipart: the parsed fields as JSON)
    headers      TEXT NOT NULL,          -- JSON: the request headers that matter
    normalised   TEXT,                   -- JSON: what normalisation made of it, with its flags
    status       TEXT NOT NULL,          -- received | merged | processed | discarded
    note         TEXT
);
CREATE INDEX submissions_lead ON submissions (lead_id, received_at);
CREATE INDEX submissions_email ON submissions (email);

CREATE TABLE activities (
    id          TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL,
    type        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    properties  TEXT NOT NULL DEFAULT '{}',
    source      TEXT,
    external_id TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX activities_lead ON activities (lead_id, occurred_at);
CREATE UNIQUE INDEX activities_external ON activities (lead_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE forms (
    id         TEXT PRIMARY KEY,
    config     TEXT NOT NULL,            -- JSON revops::intake::form::FormConfig
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE webhook_sources (
    id         TEXT PRIMARY KEY,
    config     TEXT NOT NULL,            -- JSON revops::intake::source::SourceConfig (with secrets)
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Message ids already accepted per source: a replay fails the primary key.
CREATE TABLE webhook_receipts (
    source_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,        -- after this no replay of the message could verify
    PRIMARY KEY (source_id, message_id)
);
CREATE INDEX webhook_receipts_expiry ON webhook_receipts (expires_at);

-- Fixed-window counters for per-address, per-form rate limits (exact: D1 serialises writes).
CREATE TABLE rate_windows (
    key          TEXT PRIMARY KEY,       -- form id + digest of the address
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);

-- Accepted and refused posts per form, day and outcome.
CREATE TABLE form_counters (
    form_id TEXT NOT NULL,
    day     TEXT NOT NULL,               -- YYYY-MM-DD, UTC
    outcome TEXT NOT NULL,               -- accepted | a refusal code
    count   INTEGER NOT NULL,
    PRIMARY KEY (form_id, day, outcome)
);

CREATE TABLE idempotency_keys (
    principal   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    status      INTEGER,                 -- NULL while the first request runs
    body        TEXT,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- Steps to retry until they succeed, for every handler (`kind` is prefixed by the handler).
-- A claimed job's run_after is its lease expiry.
CREATE TABLE jobs (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL DEFAULT '{}',
    state      TEXT NOT NULL DEFAULT 'pending',   -- pending | dead (done jobs are deleted)
    attempts   INTEGER NOT NULL DEFAULT 0,
    run_after  INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, kind, run_after);
CREATE UNIQUE INDEX jobs_subject ON jobs (kind, subject);
