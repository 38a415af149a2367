-- Operations: each handler's last cron tick, so /health and GET /v1/admin/ticks can tell a
-- schedule that runs from one that fails or does not run at all. One row per handler, written
-- by the handler when its tick starts and when it finishes (platform::tick is its repository).
-- Times are wall-clock milliseconds; `scheduled_at` is the time the trigger was scheduled for.
CREATE TABLE handler_ticks (
    service      TEXT PRIMARY KEY,        -- intake | scoring | routing | consent | sla
    started_at   INTEGER,
    scheduled_at INTEGER,
    finished_at  INTEGER,                 -- of the last tick that finished (ok or failed)
    duration_ms  INTEGER,
    items        INTEGER,                 -- what the last finished tick did
    outcome      TEXT,                    -- ok | failed (of the last finished tick)
    error        TEXT,
    last_ok_at   INTEGER,
    failures     INTEGER NOT NULL DEFAULT 0  -- ticks failed in a row
);
