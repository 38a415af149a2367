#!/usr/bin/env bash
# `make test`: every test.
#   1. the domain crate's and the platform glue's unit tests, on the host;
#   2. build every worker to WASM;
#   3. start the real local runtime (wrangler dev: workerd, local D1 and KV) on a free port with
#      its own fresh state directory and migrations applied, then run the integration tests in
#      tests/ against it over HTTP;
#   4. drive the console in a real headless Chromium against the same runtime
#      (tests/browser/: Debian's chromium via playwright-core; a screenshot of each page is saved
#      under the run's directory);
#   5. fuzz the same runtime from its openapi.json with schemathesis, every check
#      (tests/schemathesis/: a bounded, seeded run; the cron fires meanwhile, as in production);
#   stop the runtime however the tests end. REVOPS_BROWSER=off skips step 4, REVOPS_FUZZ=off
#   step 5.
# Extra arguments go to the integration tests' cargo test (e.g. `scripts/test.sh intake`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

eval "$(scripts/toolchain.sh)"
export WRANGLER_SEND_METRICS=false CI=true

echo "== domain and platform unit tests (host)" >&2
cargo test -p revops -p revops-platform --quiet

echo "== build workers" >&2
scripts/build.sh

echo "== build the integration tests" >&2
cargo test -p revops-tests --no-run --quiet

RUN_DIR="$ROOT/.test-state/run-$$"
rm -rf "$ROOT/.test-state"
# ALLOW_FAULT_INJECTION lets the tests make a step fail on purpose to prove it is retried.
RUNTIME_EXTRA_VARS="ALLOW_FAULT_INJECTION=true"
. scripts/lib/runtime.sh
start_runtime "$RUN_DIR"

echo "== integration tests against http://127.0.0.1:$PORT" >&2
status=0
REVOPS_BASE_URL="http://127.0.0.1:$PORT" REVOPS_ADMIN_KEY="$ADMIN_KEY" REVOPS_RUNTIME_LOG="$RUN_DIR/runtime.log" \
  REVOPS_STATE_DIR="$STATE" REVOPS_CONFIG_DIR="$CONFIGS" \
  cargo test -p revops-tests -- "$@" || status=$?
if [ "$status" != 0 ]; then
  echo "integration tests failed; the runtime's log is $RUN_DIR/runtime.log (last lines below)" >&2
  tail -40 "$RUN_DIR/runtime.log" >&2
  exit "$status"
fi

# Only a full run fuzzes: a filtered run (`scripts/test.sh intake`) is someone iterating.
if [ "${REVOPS_BROWSER:-on}" != off ] && [ "$#" = 0 ]; then
  echo "== the console in headless Chromium (screenshots: $RUN_DIR/screenshots)" >&2
  CHROMIUM=$(scripts/lib/chromium.sh) REVOPS_BASE_URL="http://127.0.0.1:$PORT" REVOPS_ADMIN_KEY="$ADMIN_KEY" \
    REVOPS_ARTIFACTS="$RUN_DIR/screenshots" node --test --test-reporter=spec tests/browser/*.test.cjs || status=$?
  if [ "$status" != 0 ]; then
    echo "browser tests failed; the runtime's log is $RUN_DIR/runtime.log (last lines below)" >&2
    tail -40 "$RUN_DIR/runtime.log" >&2
    exit "$status"
  fi
fi

if [ "${REVOPS_FUZZ:-on}" != off ] && [ "$#" = 0 ]; then
  echo "== schemathesis against http://127.0.0.1:$PORT/openapi.json (report: $RUN_DIR/schemathesis.log)" >&2
  cron_driver "$PORT" &
  CRON_PID=$!
  # One worker: CPython 3.11's ast module is not thread-safe, and hypothesis parses lambdas.
  "$SCHEMATHESIS" --config-file tests/schemathesis/schemathesis.toml run \
    "http://127.0.0.1:$PORT/openapi.json" -H "Authorization: Bearer $ADMIN_KEY" \
    --seed "${REVOPS_FUZZ_SEED:-20261201}" --workers 1 --no-color \
    > "$RUN_DIR/schemathesis.log" 2>&1 || status=$?
  kill "$CRON_PID" 2>/dev/null || true
  tail -25 "$RUN_DIR/schemathesis.log" >&2
  if [ "$status" != 0 ]; then
    echo "schemathesis found failures: $RUN_DIR/schemathesis.log" >&2
  fi
fi
exit "$status"
