-- Decay that takes effect: when a lead's decayed score will move it out of its stage (an MQL
-- cooling down), that instant is stored with the score, and the cron re-scores only the leads
-- whose time has come (through this partial index), recording the transition with reason
-- `decay`. A tick's cost follows the leads due, not the leads stored.
ALTER TABLE lead_scores ADD COLUMN next_review_at INTEGER;
CREATE INDEX lead_scores_review ON lead_scores (next_review_at) WHERE next_review_at IS NOT NULL;
