#!/usr/bin/env bash
# Writes runnable copies of the eight wrangler configs into OUT_DIR, with absolute paths, so that a
# session (dev, tests, deploy) can run from anywhere and all eight workers share one `.dev.vars`:
# Wrangler reads each secondary worker's `.dev.vars` from beside its own config, and copies that
# sit together in OUT_DIR read the same file.
#
#   scripts/render-configs.sh OUT_DIR [VARS_FILE] [D1_ID KV_CONFIG_ID KV_CONSENT_ID]
#
# VARS_FILE is copied to OUT_DIR/.dev.vars. The ids replace the local placeholders (for deploys).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$1
VARS=${2:-}
D1_ID=${3:-revops-local}
KV_CONFIG=${4:-revops-config-local}
KV_CONSENT=${5:-revops-consent-local}
mkdir -p "$OUT"

render() { # source-config worker
  sed -e "s#^main = .*#main = \"$ROOT/functions/$2/build/index.js\"#" \
      -e "s#^migrations_dir = .*#migrations_dir = \"$ROOT/migrations\"#" \
      -e "s/\"revops-local\"/\"$D1_ID\"/" \
      -e "s/\"revops-config-local\"/\"$KV_CONFIG\"/" \
      -e "s/\"revops-consent-local\"/\"$KV_CONSENT\"/" \
      "$1" > "$OUT/$2.toml"
}
render "$ROOT/wrangler.toml" gateway
for w in $("$ROOT/scripts/workers.sh" | tail -n +2); do
  render "$ROOT/functions/$w/wrangler.toml" "$w"
done
if [ -n "$VARS" ]; then
  ln -sf "$(cd "$(dirname "$VARS")" && pwd)/$(basename "$VARS")" "$OUT/.dev.vars"
fi
