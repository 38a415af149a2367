#!/usr/bin/env bash
# `make dev`: installs what is missing (scripts/toolchain.sh), builds every worker, applies the D1
# migrations to the local database, and starts the gateway, the five handlers and the console in one local
# runtime session (wrangler dev: workerd with local D1 and KV, cron testing enabled). The local
# runtime never fires cron triggers by itself, so this script fires the production schedule
# (every minute) as Cloudflare would; REVOPS_CRON=off turns that off. After a code change,
# `make build` in another terminal: the running session reloads the new builds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PORT=${REVOPS_PORT:-8787}
STATE=${REVOPS_STATE_DIR:-$ROOT/.wrangler/state}

eval "$(scripts/toolchain.sh)"
export CI=${CI:-} WRANGLER_SEND_METRICS=false
scripts/build.sh

if [ ! -f .dev.vars ]; then
  cp .dev.vars.example .dev.vars
  echo "dev: created .dev.vars from .dev.vars.example" >&2
fi

CONFIGS="$ROOT/.wrangler/configs"
scripts/render-configs.sh "$CONFIGS" .dev.vars
wrangler d1 migrations apply revops --local -c "$CONFIGS/gateway.toml" --persist-to "$STATE" >&2

echo
echo "revops-edge: http://127.0.0.1:$PORT   (console: /console, health: /health, API: /openapi.json)"
echo "             admin key: ADMIN_API_KEY in .dev.vars; cron: curl 'http://127.0.0.1:$PORT/cdn-cgi/handler/scheduled?cron=*+*+*+*+*'"
echo

. scripts/lib/runtime.sh
if [ "${REVOPS_CRON:-on}" != off ]; then
  cron_driver "$PORT" &
  CRON_PID=$!
  trap 'kill "$CRON_PID" 2>/dev/null || true' EXIT
fi
wrangler dev $(scripts/workers.sh --config-args "$CONFIGS") \
  --ip 127.0.0.1 --port "$PORT" --persist-to "$STATE" \
  --test-scheduled --show-interactive-dev-session=false
