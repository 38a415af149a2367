-- Routing: the roster (reps and teams), CRM accounts with their domains and owners, every
-- assignment with its explanation, round-robin cursors, and the outgoing-webhook outbox.

-- A rep's document (revops::routing::roster::Rep as JSON) beside the columns queries use.
CREATE TABLE reps (
    id         TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    status     TEXT NOT NULL,            -- active | inactive | left
    reroute_pending INTEGER NOT NULL DEFAULT 0, -- deactivated; open leads still to re-route
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,            -- revops::routing::roster::Team as JSON
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- Accounts as loaded from the CRM (bulk upsert); a domain belongs to one account.
CREATE TABLE accounts (
    id           TEXT PRIMARY KEY,       -- the CRM's account id
    name         TEXT NOT NULL,
    owner_rep_id TEXT,
    customer     INTEGER NOT NULL DEFAULT 0, -- an existing customer (scoring and routing facts)
    updated_at   INTEGER NOT NULL
);
CREATE TABLE account_domains (
    domain     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL
);
CREATE INDEX account_domains_account ON account_domains (account_id);

-- Every assignment ever made. Exactly one row per lead has current = 1 (a unique partial
-- index); a new assignment is inserted with current = 2 and promoted in the same batch, so a
-- reassignment is one atomic step. `status` = 'closed' releases the rep's capacity.
CREATE TABLE assignments (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- commit order, for consumers (SLA clocks)
    id              TEXT NOT NULL UNIQUE,
    lead_id         TEXT NOT NULL,
    rep_id          TEXT,                -- NULL when a queue holds the lead
    queue           TEXT,
    team_id         TEXT,
    rule_id         TEXT,
    via             TEXT NOT NULL,       -- account_owner | rule | fallback | manual
    reason          TEXT NOT NULL,       -- mql | api | manual | reroute | sla
    fallback_reason TEXT,                -- no_rule_matched | no_one_available
    config_version  INTEGER NOT NULL,
    explanation     TEXT NOT NULL,       -- JSON: steps, candidates, outcome
    rep_day         TEXT,                -- the rep's local date, for daily capacity
    assigned_at     INTEGER NOT NULL,
    assigned_by     TEXT NOT NULL,
    current         INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open',
    ended_at        INTEGER,
    ended_reason    TEXT
);
CREATE UNIQUE INDEX assignments_current ON assignments (lead_id) WHERE current = 1;
CREATE INDEX assignments_rep_open ON assignments (rep_id, current, status);
CREATE INDEX assignments_rep_day ON assignments (rep_id, rep_day);
CREATE INDEX assignments_lead ON assignments (lead_id, assigned_at);
CREATE INDEX assignments_assigned_at ON assignments (assigned_at);

-- Round-robin positions, advanced with one atomic UPSERT … RETURNING per routing.
CREATE TABLE rr_cursors (
    team_id  TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

-- Receivers of signed outgoing webhooks (Standard Webhooks). The secret must be kept to sign.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,           -- whsec_…
    events      TEXT NOT NULL,           -- JSON list of event types
    description TEXT NOT NULL,
    active      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
);

-- The outbox: one row per message and endpoint, written in the same batch as the change it
-- announces, delivered at once in the background and retried by the cron tick with backoff.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,    -- msg_…, the webhook-id header
    endpoint_id     TEXT NOT NULL,
    event           TEXT NOT NULL,
    subject         TEXT,                -- the lead id the message is about
    ref             TEXT NOT NULL,       -- what produced it (an assignment id, an SLA step)
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,       -- pending | delivered | failed
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_ref ON webhook_deliveries (ref);
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (subject);
