#!/usr/bin/env bash
# `make test`: every test.
#   1. the domain crate's unit tests, on the host;
#   2. build every worker to WASM;
#   3. start the real local runtime (wrangler dev: workerd, local D1 and KV) on a free port with
#      its own fresh state directory and migrations applied, then run the integration tests in
#      tests/ against it over HTTP; stop the runtime however the tests end.
# Extra arguments go to the integration tests' cargo test (e.g. `scripts/test.sh intake`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

eval "$(scripts/toolchain.sh)"
export WRANGLER_SEND_METRICS=false CI=true

echo "== domain unit tests (host)" >&2
cargo test -p revops --quiet

echo "== build workers" >&2
scripts/build.sh

# A free port pair (HTTP, inspector), so a `make dev` session can keep running beside the tests.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${REVOPS_TEST_PORT:-8790}
while ! port_free "$PORT" || ! port_free $((PORT + 1)); do PORT=$((PORT + 2)); done

RUN_DIR="$ROOT/.test-state/run-$$"
rm -rf "$ROOT/.test-state" && mkdir -p "$RUN_DIR"
STATE="$RUN_DIR/state"
ADMIN_KEY="test-admin-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat > "$RUN_DIR/test.vars" <<EOF
ADMIN_API_KEY=$ADMIN_KEY
ALLOW_FAULT_INJECTION=true
SUBJECT_HASH_KEY=test-subject-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
UNSUBSCRIBE_TOKEN_KEY=test-token-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
EOF

CONFIGS="$RUN_DIR/configs"
scripts/render-configs.sh "$CONFIGS" "$RUN_DIR/test.vars"

echo "== apply migrations to a fresh local D1" >&2
wrangler d1 migrations apply revops --local -c "$CONFIGS/gateway.toml" --persist-to "$STATE" > "$RUN_DIR/migrations.log" 2>&1 || {
  cat "$RUN_DIR/migrations.log" >&2
  exit 1
}

echo "== start the local runtime on :$PORT" >&2
# setsid: the runtime (node + workerd processes) gets its own process group, stopped as a whole.
setsid wrangler dev $(scripts/workers.sh --config-args "$CONFIGS") \
  --ip 127.0.0.1 --port "$PORT" --inspector-port $((PORT + 1)) --persist-to "$STATE" \
  --test-scheduled --show-interactive-dev-session=false \
  > "$RUN_DIR/runtime.log" 2>&1 &
RUNTIME=$!
stop_runtime() {
  kill -TERM -- -"$RUNTIME" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$RUNTIME" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- -"$RUNTIME" 2>/dev/null || true
}
trap stop_runtime EXIT

for i in $(seq 1 120); do
  if grep -q "Ready on" "$RUN_DIR/runtime.log"; then break; fi
  if ! kill -0 "$RUNTIME" 2>/dev/null || [ "$i" = 120 ]; then
    echo "the local runtime did not start:" >&2
    tail -50 "$RUN_DIR/runtime.log" >&2
    exit 1
  fi
  sleep 1
done

echo "== integration tests against http://127.0.0.1:$PORT" >&2
status=0
REVOPS_BASE_URL="http://127.0.0.1:$PORT" REVOPS_ADMIN_KEY="$ADMIN_KEY" REVOPS_RUNTIME_LOG="$RUN_DIR/runtime.log" \
  REVOPS_STATE_DIR="$STATE" REVOPS_CONFIG_DIR="$CONFIGS" \
  cargo test -p revops-tests -- "$@" || status=$?
if [ "$status" != 0 ]; then
  echo "integration tests failed; the runtime's log is $RUN_DIR/runtime.log (last lines below)" >&2
  tail -40 "$RUN_DIR/runtime.log" >&2
fi
exit "$status"
