#!/usr/bin/env bash
# `make bench-e2e`: a load generator (wrk) against the real local runtime (workerd, local D1 and
# KV), three workloads in the same run:
#   baseline        GET /problems/not-found — the gateway alone (no handler, no D1)
#   mql-api-lead    POST /v1/leads — a new VP each time: stored, scored into MQL, routed
#   mql-form-post   POST /f/{form} — the same through a browser form (urlencoded, Origin)
# For each: throughput and p50/p99 latency, and the D1 round trips and statements of one such
# request as the gateway's log line counts them for the whole chain. Read the results as ratios
# to the baseline; the last line is exactly
#   mql-form-post: throughput ratio R to baseline, D1 round trips N
# DURATION (seconds per workload, default 10) and CONNECTIONS (default 4) tune the load.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
eval "$(scripts/toolchain.sh)"
export WRANGLER_SEND_METRICS=false CI=true
if ! command -v wrk > /dev/null; then
  echo "== installing wrk (Debian package)" >&2
  apt-get install -y -qq wrk > /dev/null
fi
[ "${SKIP_BUILD:-0}" = 1 ] || scripts/build.sh

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-4}
RUN_DIR="$ROOT/.bench-state/run-$$"
rm -rf "$ROOT/.bench-state"
. scripts/lib/runtime.sh
start_runtime "$RUN_DIR"
BASE="http://127.0.0.1:$PORT"
ORIGIN="https://www.bench-e2e.io"
TAG=$(date +%s)

api() { # method path [json body] → prints the body; fails on a status >= 400
  local out status
  out="$RUN_DIR/api.out"
  status=$(curl -s -o "$out" -w '%{http_code}' -X "$1" "$BASE$2" -H "Authorization: Bearer $ADMIN_KEY" \
    ${3:+-H "content-type: application/json" --data "$3"})
  if [ "$status" -ge 400 ]; then
    echo "bench-e2e: $1 $2 answered $status: $(cat "$out")" >&2
    exit 1
  fi
  cat "$out"
}
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== configuring: a scoring model (a VP is an MQL), a routed team of three, a form" >&2
api POST /v1/admin/scoring/models '{"reason":"bench-e2e","model":{"name":"bench","fit":[{"id":"vp","when":{"field":"title","contains":["vp"]},"points":40}],"engagement":[],"stages":[{"name":"mql","enter_at":30,"exit_below":20}]}}' > /dev/null
for rep in rep_bench_a rep_bench_b rep_bench_c rep_bench_ops; do
  api PUT "/v1/roster/reps/$rep" "{\"name\":\"Bench $rep\"}" > /dev/null
done
api PUT /v1/roster/teams/team_bench '{"name":"Bench","mode":"weighted_round_robin","working_hours":"ignore","members":[{"rep":"rep_bench_a","weight":3},{"rep":"rep_bench_b","weight":2},{"rep":"rep_bench_c","weight":1}]}' > /dev/null
api POST /v1/admin/routing/configs '{"reason":"bench-e2e","config":{"name":"bench","account_owner_first":false,"rules":[{"id":"bench","when":{"field":"lead_source","equals":"bench"},"assign":{"team":"team_bench"}}],"fallback":{"rep":"rep_bench_ops"}}}' > /dev/null
FORM=$(api POST /v1/admin/forms "{\"name\":\"Bench demo request\",\"allowed_origins\":[\"$ORIGIN\"],\"success_url\":\"$ORIGIN/thanks\",\"lead_source\":\"bench\",\"rate_limit\":{\"max\":1000,\"window_seconds\":10}}" | json_field '["id"]')
KEY=$(api POST /v1/admin/keys '{"name":"bench-e2e","scopes":["intake:write"]}' | json_field '["key"]')

# One request of a workload, sent with curl: prints "round_trips statements" from the gateway's
# log line for it, after checking the chain reached scoring and routing where it should.
probe() { # label curl-args...
  local label=$1
  shift
  local headers="$RUN_DIR/probe.headers" id line
  curl -s -o /dev/null -D "$headers" "$@"
  id=$(tr -d '\r' < "$headers" | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
  for _ in $(seq 1 50); do
    line=$(grep -F "\"request_id\":\"$id\"" "$RUN_DIR/runtime.log" | grep -F '"worker":"gateway"' | grep -F '"http.request"' || true)
    [ -n "$line" ] && break
    sleep 0.1
  done
  [ -n "$line" ] || { echo "bench-e2e: no gateway log line for $label ($id)" >&2; exit 1; }
  if [ "$label" != baseline ]; then
    grep -F "\"request_id\":\"$id\"" "$RUN_DIR/runtime.log" | grep -F '"worker":"routing"' | grep -F '"event":"http.request"' | grep -qE '"status":20[01]' || {
      echo "bench-e2e: the $label probe was not routed:" >&2
      grep -F "$id" "$RUN_DIR/runtime.log" >&2
      exit 1
    }
  fi
  python3 -c '
import json, sys
line = sys.argv[1]
doc = json.loads(line[line.index("{"):])
print(doc.get("chain_d1_round_trips", doc.get("d1_round_trips", 0)), doc.get("chain_d1_statements", doc.get("d1_statements", 0)))
' "$line"
}

# wrk's summary → "requests_per_second p50_ms p99_ms errors"
run_wrk() { # label wrk-args...
  local label=$1
  shift
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" > "$RUN_DIR/$label.wrk" 2>&1
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ { errors += 1 }
    END { printf "%s %s %s %d\n", rps, p50, p99, errors }
  ' "$RUN_DIR/$label.wrk"
}

declare -A RPS P50 P99 RT ST
measure() { # label probe-args -- wrk-args
  local label=$1
  shift
  local probe_args=() wrk_args=()
  while [ "$1" != -- ]; do probe_args+=("$1"); shift; done
  shift
  wrk_args=("$@")
  echo "== $label: ${DURATION}s, $CONNECTIONS connections" >&2
  run_wrk "$label-warmup" -d2s "${wrk_args[@]}" > /dev/null
  read -r RPS[$label] P50[$label] P99[$label] errors < <(run_wrk "$label" "${wrk_args[@]}")
  if [ "$errors" != 0 ]; then
    echo "bench-e2e: $label had $errors failed requests:" >&2
    cat "$RUN_DIR/$label.wrk" >&2
    exit 1
  fi
  read -r RT[$label] ST[$label] < <(probe "$label" "${probe_args[@]}")
}

measure baseline "$BASE/problems/not-found" -- "$BASE/problems/not-found"
measure mql-api-lead -X POST "$BASE/v1/leads" -H "Authorization: Bearer $KEY" -H "content-type: application/json" \
  --data "{\"email\":\"probe-api-$TAG@bench-e2e.io\",\"title\":\"VP Revenue\",\"lead_source\":\"bench\"}" \
  -- -s scripts/bench-e2e/lead.lua "$BASE" -- "$KEY" "$TAG"
measure mql-form-post -X POST "$BASE/f/$FORM" -H "Origin: $ORIGIN" -H "CF-Connecting-IP: 192.0.2.1" \
  --data "email=probe-form-$TAG%40bench-e2e.io&title=VP+Revenue" \
  -- -s scripts/bench-e2e/form.lua "$BASE" -- "$FORM" "$TAG" "$ORIGIN"

echo
printf '%-15s %12s %10s %10s %14s %14s\n' workload "requests/s" "p50 ms" "p99 ms" "D1 round trips" "D1 statements"
for label in baseline mql-api-lead mql-form-post; do
  printf '%-15s %12s %10s %10s %14s %14s\n' "$label" "${RPS[$label]}" "${P50[$label]}" "${P99[$label]}" "${RT[$label]}" "${ST[$label]}"
done
awk -v b="${RPS[baseline]}" -v a="${RPS[mql-api-lead]}" -v f="${RPS[mql-form-post]}" -v rt="${RT[mql-form-post]}" 'BEGIN {
  printf "mql-api-lead: throughput ratio %.2f to baseline, D1 round trips %d\n", a / b, '"${RT[mql-api-lead]}"'
  printf "mql-form-post: throughput ratio %.2f to baseline, D1 round trips %d\n", f / b, rt
}'
