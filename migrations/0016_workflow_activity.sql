-- How each workflow has been doing (GET /v1/admin/workflows, the console's Workflows page):
-- counts over the last days read a range of these covering indexes, so their cost grows with
-- what happened in the window, not with every enrolment or step ever recorded.
CREATE INDEX workflow_enrolments_started ON workflow_enrolments (started_at, workflow_id, state);
CREATE INDEX workflow_steps_at ON workflow_steps (at, workflow_id, outcome);
-- A workflow's latest failed steps, newest first.
CREATE INDEX workflow_steps_failed ON workflow_steps (workflow_id, at) WHERE outcome = 'failed';
