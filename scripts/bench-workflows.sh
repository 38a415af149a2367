#!/usr/bin/env bash
# `make bench-workflows`: the workflows handler against the real local runtime (workerd, local
# D1), each figure the median of several runs, read as ratios to a baseline measured in the same
# run on the same data.
#   1. One cron tick over 100,000 active enrolments of which 1,000 have a step due, against a
#      tick with nothing due (the same 100,000 waiting). A third case, 1,000 enrolments all due,
#      shows that the cost follows the steps due (the due index), not the enrolments.
#   2. An export of a 100,000-member list (CSV, streamed), against a 1,000-member export: total
#      time, and time to the first byte (streaming: the first page leaves before the last is read).
#   3. A workflow's page (its last 7 days, what waits now) over 100,000 enrolments this week,
#      against 1,000; and over the 100,000 started a month ago (outside the window).
# Timing is curl's wall time for the request.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
eval "$(scripts/toolchain.sh)"
export WRANGLER_SEND_METRICS=false CI=true
[ "${SKIP_BUILD:-0}" = 1 ] || scripts/build.sh

ACTIVE=${ACTIVE:-100000}
DUE=${DUE:-1000}
RUNS=${RUNS:-5}
RUN_DIR="$ROOT/.bench-state/run-$$"
rm -rf "$ROOT/.bench-state"
. scripts/lib/runtime.sh
start_runtime "$RUN_DIR"

. scripts/lib/bench-tick.sh
NOW=$(( $(date +%s) * 1000 ))
WF=wf_000000000000000000000bench
LIST=list_000000000000000000000bench
BIGLIST=list_000000000000000000000000b9
SMALLLIST=list_000000000000000000000sma11

# One workflow: a wait, a step that adds the lead to a static list, another wait. $1 leads each
# with an enrolment waiting at the list step; the first $2 are due a minute ago, the rest tomorrow.
seed() {
  cat > "$RUN_DIR/seed.sql" <<SQL
DELETE FROM workflow_steps; DELETE FROM workflow_due; DELETE FROM workflow_enrolments; DELETE FROM list_members;
DELETE FROM list_changes; DELETE FROM leads; DELETE FROM jobs; DELETE FROM workflows WHERE id = '$WF';
DELETE FROM workflow_versions WHERE workflow_id = '$WF';
INSERT OR IGNORE INTO lists (id, name, kind, created_at, created_by) VALUES ('$LIST', 'bench', 'static', 0, 'bench');
INSERT INTO workflow_versions (workflow_id, version, document, published_at, published_by, reason) VALUES ('$WF', 1,
  '{"name":"bench","trigger":{"event":"lead.created"},"steps":[{"id":"w1","action":"wait","for":"1d"},{"id":"tag","action":"add_to_list","list":"$LIST"},{"id":"w2","action":"wait","for":"1d"}]}',
  0, 'bench', 'bench');
INSERT INTO workflows (id, name, version, trigger_event, state, created_at, updated_at) VALUES ('$WF', 'bench', 1, 'lead.created', 'active', 0, 0);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO leads (id, email, data, created_at, updated_at)
  SELECT 'lead_b' || i, 'b' || i || '@bench.example',
    '{"id":"lead_b' || i || '","email":"b' || i || '@bench.example","first_name":"B","custom":{},"created_at":0,"updated_at":0}', 0, 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO workflow_enrolments (id, workflow_id, version, lead_id, event_id, enrol_key, state, next_step, cause, started_at)
  SELECT 'wfe_b' || i, '$WF', 1, 'lead_b' || i, 'lead.created:lead_b' || i, 'once', 'waiting', 1, '{}', $NOW - 86400000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
INSERT INTO workflow_due (enrolment_id, workflow_id, lead_id, step, due_at, held)
  SELECT 'wfe_b' || i, '$WF', 'lead_b' || i, 1, CASE WHEN i <= $2 THEN $NOW - 60000 ELSE $NOW + 86400000 END, 0 FROM n;
SQL
  d1 "$RUN_DIR/seed.sql"
}

# Puts the first $1 enrolments back at their due list step after a tick took it.
rearm() {
  cat > "$RUN_DIR/rearm.sql" <<SQL
DELETE FROM workflow_steps; DELETE FROM list_members; DELETE FROM list_changes;
UPDATE workflow_due SET step = 1, due_at = $NOW - 60000
  WHERE enrolment_id IN (SELECT 'wfe_b' || i FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) SELECT i FROM n));
UPDATE workflow_enrolments SET next_step = 1
  WHERE id IN (SELECT 'wfe_b' || i FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) SELECT i FROM n));
SQL
  d1 "$RUN_DIR/rearm.sql"
}

echo "== seeding $ACTIVE leads with an active enrolment each" >&2
seed "$ACTIVE" 0
BASE=$(measure "baseline: $ACTIVE active, 0 due" 0)
seed "$ACTIVE" "$DUE"
BIG=$(measure "$ACTIVE active, $DUE due" "$DUE")
# Check the work was done: one tick takes exactly the due steps (the list step and the wait after it).
tick_ms > /dev/null
TAKEN=$(count "SELECT COUNT(*) AS n FROM workflow_steps")
MEMBERS=$(count "SELECT COUNT(*) AS n FROM list_members WHERE list_id = '$LIST'")
echo "steps recorded by one tick: $TAKEN (expected $((2 * DUE))); members added: $MEMBERS (expected $DUE)" >&2
[ "$TAKEN" = "$((2 * DUE))" ] && [ "$MEMBERS" = "$DUE" ] || { echo "bench-workflows: the tick did not take every due step" >&2; exit 1; }
seed "$DUE" "$DUE"
SMALL=$(measure "$DUE active, $DUE due" "$DUE")

# Exports: a list of $ACTIVE members and one of $DUE, over the $ACTIVE leads seeded last.
seed "$ACTIVE" 0
cat > "$RUN_DIR/lists.sql" <<SQL
INSERT OR IGNORE INTO lists (id, name, kind, created_at, created_by) VALUES ('$BIGLIST', 'export', 'static', 0, 'bench'), ('$SMALLLIST', 'small', 'static', 0, 'bench');
DELETE FROM list_members WHERE list_id IN ('$BIGLIST', '$SMALLLIST');
INSERT INTO list_members (list_id, lead_id, joined_at, cause) SELECT '$BIGLIST', id, 0, 'bench' FROM leads;
INSERT INTO list_members (list_id, lead_id, joined_at, cause) SELECT '$SMALLLIST', id, 0, 'bench' FROM leads ORDER BY id LIMIT $DUE;
SQL
d1 "$RUN_DIR/lists.sql"
export_ms() { # $1 list → "total_ms first_byte_ms rows"
  curl -s -o "$RUN_DIR/export.csv" -w '%{time_total} %{time_starttransfer}' -H "authorization: Bearer $ADMIN_KEY" \
    "http://127.0.0.1:$PORT/v1/lists/$1/export?format=csv" | awk '{ printf "%d %d", $1 * 1000, $2 * 1000 }'
  echo " $(($(wc -l < "$RUN_DIR/export.csv") - 1))"
}
measure_export() { # $1 list, $2 label
  local totals=() firsts=() rows=0
  export_ms "$1" > /dev/null
  for _ in $(seq 1 "$RUNS"); do
    read -r t f rows < <(export_ms "$1")
    totals+=("$t"); firsts+=("$f")
  done
  local mt mf
  mt=$(printf '%s\n' "${totals[@]}" | median)
  mf=$(printf '%s\n' "${firsts[@]}" | median)
  echo "$2: $rows rows, median ${mt} ms in all, first byte at ${mf} ms (${totals[*]})" >&2
  echo "$mt $mf $rows"
}
read -r EXP_BIG EXP_BIG_FIRST ROWS_BIG < <(measure_export "$BIGLIST" "export of $ACTIVE members")
read -r EXP_SMALL EXP_SMALL_FIRST ROWS_SMALL < <(measure_export "$SMALLLIST" "export of $DUE members")
[ "$ROWS_BIG" = "$ACTIVE" ] && [ "$ROWS_SMALL" = "$DUE" ] || { echo "bench-workflows: an export lost rows" >&2; exit 1; }
# A workflow's page (GET /v1/admin/workflows/{id}: its last 7 days, what waits now, its failed
# steps) over $ACTIVE enrolments started yesterday and waiting, against $DUE; then the same
# $ACTIVE started a month ago (outside the window, still waiting).
read_ms() {
  curl -s -o "$RUN_DIR/read.json" -w '%{time_total}' -H "authorization: Bearer $ADMIN_KEY" \
    "http://127.0.0.1:$PORT/v1/admin/workflows/$WF" | awk '{ printf "%d", $1 * 1000 }'
}
measure_read() { # $1 label, $2 expected enrolled in the window
  local times=()
  read_ms > /dev/null
  grep -q "\"enrolled\":$2," "$RUN_DIR/read.json" || { echo "bench-workflows: the page did not count $2 enrolled: $(head -c 300 "$RUN_DIR/read.json")" >&2; exit 1; }
  for _ in $(seq 1 "$RUNS"); do times+=("$(read_ms)"); done
  local m
  m=$(printf '%s\n' "${times[@]}" | median)
  echo "$1: median ${m} ms (${times[*]})" >&2
  echo "$m"
}
READ_BIG=$(measure_read "workflow page, $ACTIVE enrolled this week" "$ACTIVE")
cat > "$RUN_DIR/old.sql" <<SQL
UPDATE workflow_enrolments SET started_at = $NOW - 30 * 86400000;
SQL
d1 "$RUN_DIR/old.sql"
READ_OLD=$(measure_read "workflow page, $ACTIVE enrolled a month ago, still waiting" 0)
seed "$DUE" 0
READ_SMALL=$(measure_read "workflow page, $DUE enrolled this week" "$DUE")

echo
awk -v rb="$READ_BIG" -v ro="$READ_OLD" -v rs="$READ_SMALL" -v active="$ACTIVE" -v due="$DUE" 'BEGIN {
  printf "workflow page, %d enrolled this week: %d ms = %.1f x with %d (%d ms); %d enrolled a month ago and still waiting: %d ms = %.1f x\n", active, rb, rb / (rs > 0 ? rs : 1), due, rs, active, ro, ro / (rs > 0 ? rs : 1)
}'
awk -v b="$BASE" -v big="$BIG" -v small="$SMALL" -v active="$ACTIVE" -v due="$DUE" \
    -v eb="$EXP_BIG" -v ebf="$EXP_BIG_FIRST" -v es="$EXP_SMALL" -v esf="$EXP_SMALL_FIRST" 'BEGIN {
  printf "one tick, %d active / %d due: %d ms = %.1f x the baseline tick (%d active / 0 due: %d ms)\n", active, due, big, big / (b > 0 ? b : 1), active, b
  printf "same %d due with only %d active: %d ms (ratio %.2f): the cost follows the steps due\n", due, due, small, big / (small > 0 ? small : 1)
  printf "export of %d members: %d ms = %.1f x the %d-member export (%d ms); first byte at %d ms vs %d ms (streamed)\n", active, eb, eb / (es > 0 ? es : 1), due, es, ebf, esf
}'
