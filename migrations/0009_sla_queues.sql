-- SLA for leads waiting in queues, and escalation tasks that always have an assignee.
--
-- A clock now belongs to a rep's assignment or to a queue's: `rep_id` becomes optional and
-- `queue` names the queue. SQLite cannot relax NOT NULL in place, so the table is rebuilt with
-- its rows and indexes.
ALTER TABLE sla_clocks RENAME TO sla_clocks_before_queues;
CREATE TABLE sla_clocks (
    assignment_id    TEXT PRIMARY KEY,
    lead_id          TEXT NOT NULL,
    rep_id           TEXT,                -- the owner (NULL: a queue holds the lead)
    queue            TEXT,                -- the queue holding the lead
    team_id          TEXT,
    tier             TEXT NOT NULL,       -- a policy tier, or queue:<name>
    policy_version   INTEGER NOT NULL,
    timezone         TEXT NOT NULL,       -- of the schedule the clock counts in
    started_at       INTEGER NOT NULL,
    deadline_at      INTEGER NOT NULL,
    steps            TEXT NOT NULL,       -- JSON [{id, action, via, due_at}]
    next_step        INTEGER NOT NULL,    -- steps taken so far
    next_due_at      INTEGER,
    state            TEXT NOT NULL,       -- running | met | late | reassigned | ended
    touched_at       INTEGER,             -- the first qualifying touch (a queue's: its claim)
    touch_id         TEXT,
    ended_at         INTEGER,
    follow_up_due_at INTEGER,
    followed_up_at   INTEGER
);
INSERT INTO sla_clocks (assignment_id, lead_id, rep_id, queue, team_id, tier, policy_version, timezone, started_at, deadline_at, steps, next_step, next_due_at, state, touched_at, touch_id, ended_at, follow_up_due_at, followed_up_at)
    SELECT assignment_id, lead_id, rep_id, NULL, team_id, tier, policy_version, timezone, started_at, deadline_at, steps, next_step, next_due_at, state, touched_at, touch_id, ended_at, follow_up_due_at, followed_up_at
    FROM sla_clocks_before_queues;
DROP TABLE sla_clocks_before_queues;
CREATE INDEX sla_clocks_due ON sla_clocks (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX sla_clocks_lead ON sla_clocks (lead_id, state);
CREATE INDEX sla_clocks_started ON sla_clocks (started_at);

-- Why the task went to its assignee: manager | team_lead | escalation_owner | default.
ALTER TABLE sla_tasks ADD COLUMN assigned_because TEXT;
