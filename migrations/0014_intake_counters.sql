-- What came in per webhook source and day (owned by intake, like form_counters): accepted
-- deliveries and refusals by reason (invalid_signature, stale_timestamp), with when each outcome
-- last happened, so the console's Health page can show a source's last delivery and a sender
-- that cannot sign. Form counters learn the same `last_at`.
CREATE TABLE source_counters (
    source_id TEXT NOT NULL,
    day       TEXT NOT NULL,               -- YYYY-MM-DD, UTC
    outcome   TEXT NOT NULL,               -- accepted | invalid_signature | stale_timestamp
    count     INTEGER NOT NULL,
    last_at   INTEGER,
    PRIMARY KEY (source_id, day, outcome)
);
ALTER TABLE form_counters ADD COLUMN last_at INTEGER;
