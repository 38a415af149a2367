-- Routing, kept to its promises: lost capacity races are counted, first touches are known (a rep
-- who becomes unavailable hands on the leads they have not touched yet), and queues are
-- first-class (listed with their leads' age, claimed by reps).

-- Capacity races this routing lost before the assignment (each one moved to the next candidate).
ALTER TABLE assignments ADD COLUMN races_lost INTEGER NOT NULL DEFAULT 0;
-- The first touch that stopped the assignment's SLA clock (recorded by the SLA handler).
ALTER TABLE assignments ADD COLUMN first_touch_at INTEGER;
-- A queue's waiting leads, oldest first.
CREATE INDEX assignments_queue ON assignments (queue, assigned_at) WHERE current = 1 AND status = 'open' AND queue IS NOT NULL;
