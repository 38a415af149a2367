#!/usr/bin/env bash
# The workers of the system, gateway first (the primary of a local session, the public entry).
#   scripts/workers.sh                   names
#   scripts/workers.sh --config-args DIR `-c DIR/<worker>.toml` arguments (see render-configs.sh)
set -euo pipefail
WORKERS=(gateway intake scoring routing consent sla workflows console)
if [ "${1:-}" = "--config-args" ]; then
  for w in "${WORKERS[@]}"; do echo "-c $2/$w.toml"; done
else
  printf '%s\n' "${WORKERS[@]}"
fi
