-- A routing that found a team's round-robin position in its reads claims that slot in the same
-- atomic batch that stores the assignment (compare-and-set on the position), instead of drawing
-- it in a round trip of its own. The claim names the assignment, so the assignment's insert is
-- guarded on its own claim having won; a routing that lost the slot draws one the old way.
ALTER TABLE rr_cursors ADD COLUMN claimed_by TEXT;
