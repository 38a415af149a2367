-- Workflows and lists (owned by the workflows handler).

-- A workflow: its active version (each version is kept in workflow_versions) and whether it runs.
CREATE TABLE workflows (
    id            TEXT PRIMARY KEY,            -- wf_…
    name          TEXT NOT NULL,
    version       INTEGER NOT NULL,            -- the active version
    trigger_event TEXT NOT NULL,               -- the active version's trigger, to pick workflows per event
    state         TEXT NOT NULL,               -- active | paused
    paused_at     INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX workflows_trigger ON workflows (state, trigger_event);

-- Every version ever published, with who, when and why; and every publish, rollback, pause and
-- resume (the history a reader sees).
CREATE TABLE workflow_versions (
    workflow_id  TEXT NOT NULL,
    version      INTEGER NOT NULL,
    document     TEXT NOT NULL,                -- JSON
    published_at INTEGER NOT NULL,
    published_by TEXT NOT NULL,
    reason       TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);
CREATE TABLE workflow_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id TEXT NOT NULL,
    action      TEXT NOT NULL,                 -- publish | rollback | pause | resume
    version     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    by          TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX workflow_changes_workflow ON workflow_changes (workflow_id, id);

-- The events workflows heard of (kept 90 days, for dry runs and catch-up).
CREATE TABLE workflow_events (
    id       TEXT PRIMARY KEY,                 -- <type>:<reference>: one change is one event
    type     TEXT NOT NULL,
    lead_id  TEXT NOT NULL,
    at       INTEGER NOT NULL,
    data     TEXT NOT NULL,                    -- JSON
    cause    TEXT NOT NULL                     -- JSON: the workflows whose steps led here
);
CREATE INDEX workflow_events_at ON workflow_events (at);
CREATE INDEX workflow_events_lead ON workflow_events (lead_id);

-- Each decision about a lead and a workflow: an enrolment (and where it stands), or why the
-- lead was not enrolled. `enrol_key` makes enrolment exactly once: `once` for workflows that
-- enrol a lead once, the event's id otherwise (and `no:<event>` for a refusal).
CREATE TABLE workflow_enrolments (
    id          TEXT PRIMARY KEY,              -- wfe_…
    workflow_id TEXT NOT NULL,
    version     INTEGER NOT NULL,              -- the version it started on, and finishes on
    lead_id     TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    enrol_key   TEXT NOT NULL,
    state       TEXT NOT NULL,                 -- waiting | done | failed | not_enrolled
    next_step   INTEGER,                       -- the step index it resumes at
    reason      TEXT,                          -- why it ended, or was not enrolled
    cause       TEXT NOT NULL,                 -- JSON chain of the event that started it
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    UNIQUE (workflow_id, lead_id, enrol_key)
);
CREATE INDEX workflow_enrolments_lead ON workflow_enrolments (lead_id, started_at);
CREATE INDEX workflow_enrolments_last ON workflow_enrolments (workflow_id, lead_id, state, started_at);
-- Refusals are pruned after 90 days (enrolments are kept as the lead's history).
CREATE INDEX workflow_enrolments_refused ON workflow_enrolments (started_at) WHERE state = 'not_enrolled';

-- The index of due steps: one row per waiting enrolment, so a tick's cost grows with the steps
-- due, not with the enrolments. `held` = 1 while its workflow is paused.
CREATE TABLE workflow_due (
    enrolment_id TEXT PRIMARY KEY,
    workflow_id  TEXT NOT NULL,
    lead_id      TEXT NOT NULL,
    step         INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    held         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX workflow_due_at ON workflow_due (held, due_at);
CREATE INDEX workflow_due_workflow ON workflow_due (workflow_id);
CREATE INDEX workflow_due_lead ON workflow_due (lead_id);

-- Every step taken, skipped or failed, once per enrolment and step.
CREATE TABLE workflow_steps (
    id           TEXT PRIMARY KEY,             -- wfs_…
    enrolment_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    lead_id      TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    action       TEXT NOT NULL,
    outcome      TEXT NOT NULL,                -- taken | skipped | failed
    reason       TEXT NOT NULL,
    detail       TEXT,                         -- JSON: what it did (the list, the webhook's body …)
    at           INTEGER NOT NULL,
    UNIQUE (enrolment_id, step_id)
);
CREATE INDEX workflow_steps_lead ON workflow_steps (lead_id, at);

-- Date triggers waiting for their day: a lead's date field plus the trigger's offset.
CREATE TABLE workflow_timers (
    workflow_id TEXT NOT NULL,
    lead_id     TEXT NOT NULL,
    fire_at     INTEGER NOT NULL,
    value       TEXT NOT NULL,                 -- the date the field held when it was set
    PRIMARY KEY (workflow_id, lead_id)
);
CREATE INDEX workflow_timers_due ON workflow_timers (fire_at);

-- Lists: static (members added by workflows and the API) or dynamic (a condition, kept current).
CREATE TABLE lists (
    id          TEXT PRIMARY KEY,              -- list_…
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,                 -- static | dynamic
    condition   TEXT,                          -- JSON, for dynamic lists
    backfill    TEXT,                          -- dynamic: the last lead id evaluated while filling ('' to start; NULL when done)
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE TABLE list_members (
    list_id   TEXT NOT NULL,
    lead_id   TEXT NOT NULL,
    joined_at INTEGER NOT NULL,
    cause     TEXT NOT NULL,                   -- api | workflow:<wf>:<enrolment> | condition | import
    PRIMARY KEY (list_id, lead_id)
);
CREATE INDEX list_members_lead ON list_members (lead_id);
-- Membership history: who joined or left which list, when and why.
CREATE TABLE list_changes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    change  TEXT NOT NULL,                     -- joined | left
    at      INTEGER NOT NULL,
    cause   TEXT NOT NULL
);
CREATE INDEX list_changes_lead ON list_changes (lead_id, id);
CREATE INDEX list_changes_list ON list_changes (list_id, id);

-- The built-in workflow for bounces, as a document anyone can read, pause or extend with a new
-- version: a bounced lead is flagged (custom.email_deliverable = false) and put on the
-- "Email suppression" list. The consent handler still suppresses the address itself the moment
-- the bounce arrives — a duty that does not wait for the cron, nor stop while a workflow is
-- paused. (`revops::workflows::bounce_workflow` is this document; a unit test keeps them equal.)
INSERT INTO lists (id, name, kind, condition, backfill, created_at, created_by)
VALUES ('list_000000000000000000000bnced', 'Email suppression', 'static', NULL, NULL, 0, 'system');
INSERT INTO workflow_versions (workflow_id, version, document, published_at, published_by, reason)
VALUES ('wf_000000000000000000000bnced', 1, '{"name":"Email bounced","trigger":{"event":"email.bounced"},"steps":[{"id":"flag","action":"set_field","field":"custom.email_deliverable","value":false},{"id":"suppression_list","action":"add_to_list","list":"list_000000000000000000000bnced"}],"enrolment":{"once":false,"again_after_days":0}}', 0, 'system', 'built in: what a bounce did before workflows, now readable and extendable');
INSERT INTO workflows (id, name, version, trigger_event, state, paused_at, created_at, updated_at)
VALUES ('wf_000000000000000000000bnced', 'Email bounced', 1, 'email.bounced', 'active', NULL, 0, 0);
INSERT INTO workflow_changes (workflow_id, action, version, at, by, reason)
VALUES ('wf_000000000000000000000bnced', 'publish', 1, 0, 'system', 'built in');
