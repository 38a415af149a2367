# Sourced by scripts/bench-sla.sh and scripts/bench-workflows.sh, after start_runtime: what a
# cron-tick benchmark needs. The caller sets RUNS and NOW and defines `rearm N` (puts the first N
# due items back after a tick took them).
#   d1 FILE        run an SQL file against the runtime's local D1
#   count SQL      the `n` a `SELECT COUNT(*) AS n …` answers
#   tick_ms        fire the cron at NOW; its wall time in ms
#   median         the median of the numbers on stdin
#   measure LABEL N  median tick time over RUNS ticks, re-arming N due items before each

d1() { wrangler d1 execute revops --local -c "$CONFIGS/gateway.toml" --persist-to "$STATE" --file "$1" > "$RUN_DIR/d1.log" 2>&1 || { cat "$RUN_DIR/d1.log" >&2; exit 1; }; }

count() {
  wrangler d1 execute revops --local -c "$CONFIGS/gateway.toml" --persist-to "$STATE" --json --command "$1" 2>/dev/null |
    tr -d ' \n' | sed -E 's/.*"n":([0-9]+).*/\1/'
}

tick_ms() {
  curl -s -o "$RUN_DIR/tick.out" -w '%{time_total}' "http://127.0.0.1:$PORT/cdn-cgi/handler/scheduled?cron=*+*+*+*+*&time=$NOW" |
    awk '{ printf "%d", $1 * 1000 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

measure() {
  local times=()
  tick_ms > /dev/null # warm the isolates
  [ "$2" = 0 ] || rearm "$2"
  for _ in $(seq 1 "$RUNS"); do
    times+=("$(tick_ms)")
    [ "$2" = 0 ] || rearm "$2"
  done
  local m
  m=$(printf '%s\n' "${times[@]}" | median)
  echo "$1: median ${m} ms over $RUNS ticks (${times[*]})" >&2
  echo "$m"
}
