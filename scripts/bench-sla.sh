#!/usr/bin/env bash
# `make bench-sla`: one SLA cron tick over 100,000 open assignments of which 1,000 are due,
# against the real local runtime (workerd, local D1), each figure the median of several ticks.
# Baseline, measured in the same run on the same data: a tick with nothing due. A third case,
# 1,000 open of which 1,000 are due, shows that a tick's cost follows the number due, not the
# number open. Timing is the cron request's wall time (it returns when every handler's tick has
# finished); read the results as ratios.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
eval "$(scripts/toolchain.sh)"
export WRANGLER_SEND_METRICS=false CI=true
[ "${SKIP_BUILD:-0}" = 1 ] || scripts/build.sh

OPEN=${OPEN:-100000}
DUE=${DUE:-1000}
RUNS=${RUNS:-5}
RUN_DIR="$ROOT/.bench-state/run-$$"
rm -rf "$ROOT/.bench-state"
. scripts/lib/runtime.sh
start_runtime "$RUN_DIR"

. scripts/lib/bench-tick.sh
NOW=$(( $(date +%s) * 1000 ))

# $1 open assignments, all with a running clock; the first $2 have a warning due a minute ago
# (their escalation is due in 30 minutes), the rest are due tomorrow.
seed() {
  cat > "$RUN_DIR/seed.sql" <<SQL
DELETE FROM sla_events; DELETE FROM sla_tasks; DELETE FROM sla_clocks; DELETE FROM assignments;
DELETE FROM webhook_deliveries; DELETE FROM jobs;
INSERT OR IGNORE INTO reps (id, doc, status, updated_at, updated_by)
  VALUES ('rep_bench', '{"name":"Bench","manager":"mgr_bench"}', 'active', 0, 'bench');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO assignments (id, lead_id, rep_id, via, reason, config_version, explanation, assigned_at, assigned_by, current, status)
  SELECT 'asg_b' || i, 'lead_b' || i, 'rep_bench', 'rule', 'mql', 0, '{}', $NOW - 3600000, 'bench', 1, 'open' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO sla_clocks (assignment_id, lead_id, rep_id, tier, policy_version, timezone, started_at, deadline_at, steps, next_step, next_due_at, state)
  SELECT 'asg_b' || i, 'lead_b' || i, 'rep_bench', 'standard', 0, 'UTC', $NOW - 3600000, w + 1800000,
    '[{"id":"warn","action":"warn","via":["webhook"],"due_at":' || w || '},{"id":"escalate","action":"escalate","via":["task","webhook"],"due_at":' || (w + 1800000) || '}]',
    0, w, 'running'
  FROM (SELECT i, CASE WHEN i <= $2 THEN $NOW - 60000 ELSE $NOW + 86400000 END AS w FROM n);
UPDATE sla_cursor SET seq = (SELECT COALESCE(MAX(seq), 0) FROM assignments);
SQL
  d1 "$RUN_DIR/seed.sql"
}

# Puts the first $1 clocks back to "warning due" after a tick took it.
rearm() {
  cat > "$RUN_DIR/rearm.sql" <<SQL
DELETE FROM sla_events; DELETE FROM webhook_deliveries;
UPDATE sla_clocks SET next_step = 0, next_due_at = $NOW - 60000
  WHERE assignment_id IN (SELECT 'asg_b' || i FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) SELECT i FROM n));
SQL
  d1 "$RUN_DIR/rearm.sql"
}

echo "== seeding $OPEN open assignments with running clocks" >&2
seed "$OPEN" 0
BASE=$(measure "baseline: $OPEN open, 0 due" 0)
seed "$OPEN" "$DUE"
BIG=$(measure "$OPEN open, $DUE due" "$DUE")
# Check the work was done: one tick takes exactly the $DUE due warnings.
tick_ms > /dev/null
TAKEN=$(count "SELECT COUNT(*) AS n FROM sla_events")
echo "steps taken by one tick: $TAKEN (expected $DUE)" >&2
[ "$TAKEN" = "$DUE" ] || { echo "bench-sla: the tick did not take every due step" >&2; exit 1; }
seed "$DUE" "$DUE"
SMALL=$(measure "$DUE open, $DUE due" "$DUE")
echo
awk -v b="$BASE" -v big="$BIG" -v small="$SMALL" -v open="$OPEN" -v due="$DUE" 'BEGIN {
  printf "one tick, %d open / %d due: %d ms = %.1f x the baseline tick (%d open / 0 due: %d ms)\n", open, due, big, big / (b > 0 ? b : 1), open, b
  printf "same %d due with only %d open: %d ms (ratio %.2f): the cost follows the number due\n", due, due, small, big / (small > 0 ? small : 1)
}'
