#!/usr/bin/env bash
# The workers of the system, gateway first (the primary of a local session, the public entry).
#   scripts/workers.sh                 names
#   scripts/workers.sh --config-args   `-c <config>` arguments for wrangler dev
set -euo pipefail
WORKERS=(gateway intake scoring routing consent sla)
if [ "${1:-}" = "--config-args" ]; then
  echo "-c wrangler.toml"
  for w in "${WORKERS[@]:1}"; do echo "-c functions/$w/wrangler.toml"; done
else
  printf '%s\n' "${WORKERS[@]}"
fi
