# Sourced by scripts/test.sh, scripts/bench-sla.sh and scripts/bench-workflows.sh: start the real local runtime (wrangler dev:
# workerd, local D1 and KV) on a free port with its own fresh state directory and the migrations
# applied, and stop it (with all its processes) on exit.
#
#   start_runtime RUN_DIR   → sets PORT, STATE, CONFIGS, ADMIN_KEY; the log is RUN_DIR/runtime.log
#   cron_driver PORT        → fires wrangler.toml's cron ("* * * * *") at the top of each minute,
#                             as Cloudflare would (the local runtime never fires it by itself)
# Extra lines for the workers' variables can be given in RUNTIME_EXTRA_VARS.

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cron_driver() {
  while sleep $((60 - $(date +%s) % 60)); do
    curl -s -o /dev/null "http://127.0.0.1:$1/cdn-cgi/handler/scheduled?cron=*+*+*+*+*" || true
  done
}

stop_runtime() {
  [ -n "${RUNTIME:-}" ] || return 0
  kill -TERM -- -"$RUNTIME" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$RUNTIME" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -"$RUNTIME" 2>/dev/null || true
}

start_runtime() {
  local run_dir=$1
  # A free port pair (HTTP, inspector), so a `make dev` session can keep running beside it.
  PORT=${REVOPS_TEST_PORT:-8790}
  while ! port_free "$PORT" || ! port_free $((PORT + 1)); do PORT=$((PORT + 2)); done
  mkdir -p "$run_dir"
  STATE="$run_dir/state"
  ADMIN_KEY="test-admin-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  cat > "$run_dir/test.vars" <<VARS
ADMIN_API_KEY=$ADMIN_KEY
SUBJECT_HASH_KEY=test-subject-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
UNSUBSCRIBE_TOKEN_KEY=test-token-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
PUBLIC_BASE_URL=http://127.0.0.1:$PORT
${RUNTIME_EXTRA_VARS:-}
VARS
  CONFIGS="$run_dir/configs"
  scripts/render-configs.sh "$CONFIGS" "$run_dir/test.vars"

  echo "== apply migrations to a fresh local D1" >&2
  wrangler d1 migrations apply revops --local -c "$CONFIGS/gateway.toml" --persist-to "$STATE" > "$run_dir/migrations.log" 2>&1 || {
    cat "$run_dir/migrations.log" >&2
    return 1
  }

  echo "== start the local runtime on :$PORT" >&2
  # setsid: the runtime (node + workerd processes) gets its own process group, stopped as a whole.
  setsid wrangler dev $(scripts/workers.sh --config-args "$CONFIGS") \
    --ip 127.0.0.1 --port "$PORT" --inspector-port $((PORT + 1)) --persist-to "$STATE" \
    --test-scheduled --show-interactive-dev-session=false \
    > "$run_dir/runtime.log" 2>&1 &
  RUNTIME=$!
  trap stop_runtime EXIT

  for i in $(seq 1 120); do
    if grep -qs "Ready on" "$run_dir/runtime.log"; then return 0; fi
    if ! kill -0 "$RUNTIME" 2>/dev/null || [ "$i" = 120 ]; then
      echo "the local runtime did not start:" >&2
      tail -50 "$run_dir/runtime.log" >&2
      return 1
    fi
    sleep 1
  done
}
