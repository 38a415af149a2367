-- Handoff SLAs: a clock per assignment to a rep, the touches that stop it, every ladder step
-- taken (exactly once: one row per assignment and step), and the tasks escalations create.

-- One clock per assignment to a rep. `next_due_at` is the instant the next ladder step is due
-- (NULL once the clock stopped or the ladder is done); the cron reads only clocks that are due,
-- through a partial index, so a tick's cost follows the number due, not the number open.
CREATE TABLE sla_clocks (
    assignment_id    TEXT PRIMARY KEY,
    lead_id          TEXT NOT NULL,
    rep_id           TEXT NOT NULL,
    team_id          TEXT,
    tier             TEXT NOT NULL,
    policy_version   INTEGER NOT NULL,
    timezone         TEXT NOT NULL,       -- of the schedule the clock counts in
    started_at       INTEGER NOT NULL,
    deadline_at      INTEGER NOT NULL,
    steps            TEXT NOT NULL,       -- JSON [{id, action, via, due_at}]
    next_step        INTEGER NOT NULL,    -- steps taken so far
    next_due_at      INTEGER,
    state            TEXT NOT NULL,       -- running | met | late | reassigned | ended
    touched_at       INTEGER,
    touch_id         TEXT,
    ended_at         INTEGER,
    follow_up_due_at INTEGER,
    followed_up_at   INTEGER
);
CREATE INDEX sla_clocks_due ON sla_clocks (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX sla_clocks_lead ON sla_clocks (lead_id, state);
CREATE INDEX sla_clocks_started ON sla_clocks (started_at);

-- How far the cron has read the assignments (by their commit order) to start clocks.
CREATE TABLE sla_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO sla_cursor (id, seq) VALUES (1, 0);

-- Touches recorded by the CRM or sales tool; (lead, external id) makes a retry a no-op.
CREATE TABLE sla_touches (
    id          TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL,
    type        TEXT NOT NULL,            -- call | email | meeting | sms | social | status_change
    occurred_at INTEGER NOT NULL,
    rep_id      TEXT,
    external_id TEXT NOT NULL,
    note        TEXT,
    recorded_at INTEGER NOT NULL,
    recorded_by TEXT NOT NULL,
    UNIQUE (lead_id, external_id)
);
CREATE INDEX sla_touches_lead ON sla_touches (lead_id, occurred_at);

-- Every ladder step taken. The unique key is what makes each step happen once, even when ticks
-- overlap: the step's effects are written in the same batch, guarded by this row's insert.
CREATE TABLE sla_events (
    id            TEXT PRIMARY KEY,
    assignment_id TEXT NOT NULL,
    lead_id       TEXT NOT NULL,
    step          TEXT NOT NULL,
    action        TEXT NOT NULL,          -- warn | escalate | reassign
    at            INTEGER NOT NULL,
    detail        TEXT NOT NULL,          -- JSON
    UNIQUE (assignment_id, step)
);
CREATE INDEX sla_events_lead ON sla_events (lead_id, at);

-- Tasks escalations create (for the owner's manager), for the CRM to pull.
CREATE TABLE sla_tasks (
    id            TEXT PRIMARY KEY,
    lead_id       TEXT NOT NULL,
    assignment_id TEXT NOT NULL,
    assignee      TEXT,                   -- the manager's rep id (NULL: no manager on file)
    title         TEXT NOT NULL,
    status        TEXT NOT NULL,          -- open | done
    created_at    INTEGER NOT NULL,
    done_at       INTEGER,
    UNIQUE (assignment_id, title)
);
CREATE INDEX sla_tasks_assignee ON sla_tasks (assignee, status);
CREATE INDEX sla_tasks_lead ON sla_tasks (lead_id);
