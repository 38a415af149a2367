-- Consent: the ledger (per person and topic, with an append-only history of every change and its
-- proof), address-level suppression, erasure tombstones, and the settings table for configuration
-- that is one document (consent topics, email providers).

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,          -- consent.topics | consent.providers | …
    value      TEXT NOT NULL,             -- JSON
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

-- One row per person the ledger knows. `subject` is the keyed hash (HMAC) of the email: the KV
-- cache and the unsubscribe links name people by it. `last_change` makes a change's state,
-- suppression and history rows commit together or not at all (optimistic concurrency).
CREATE TABLE consent_subjects (
    email        TEXT PRIMARY KEY,
    subject      TEXT NOT NULL UNIQUE,
    suppressed   TEXT,                    -- hard_bounce | complaint | soft_bounce_limit | manual
    soft_bounces INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL DEFAULT 1,
    last_change  TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE consent_states (
    email      TEXT NOT NULL,
    topic      TEXT NOT NULL,
    state      TEXT NOT NULL,             -- unknown | pending | opted_in | opted_out
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (email, topic)
);

-- Append-only: rows are inserted, never updated (erasure deletes a person's rows).
CREATE TABLE consent_events (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    topic           TEXT,                 -- NULL for address-level events
    kind            TEXT NOT NULL,        -- opted_in | opted_out | confirmation_requested | confirmed | suppressed | …
    from_state      TEXT,
    to_state        TEXT,
    at              INTEGER NOT NULL,
    source          TEXT NOT NULL,        -- form | api | unsubscribe_link | preference_page | provider:<name> | …
    source_id       TEXT,
    ip              TEXT,
    user_agent      TEXT,
    wording         TEXT,
    wording_version TEXT,
    detail          TEXT
);
CREATE INDEX consent_events_email ON consent_events (email, at);

-- What remains of an erased person: the keyed hash, so they stay suppressed and are not
-- re-imported. Not reversible without SUBJECT_HASH_KEY.
CREATE TABLE erased_subjects (
    subject   TEXT PRIMARY KEY,
    erased_at INTEGER NOT NULL,
    erased_by TEXT NOT NULL
);
