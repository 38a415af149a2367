# Sourced by scripts/deploy.sh: the order in which the workers are deployed, read from the
# committed wrangler configs (scripts/workers.sh names them).
#
# Cloudflare refuses to deploy a Worker whose service binding names a Worker that does not exist
# yet (API error 10143, "Could not resolve service binding"), and our bindings have a cycle
# (intake calls scoring; scoring's previews call intake). So the plan deploys a worker once all
# the workers it binds to exist; when none can go (a cycle), it deploys one worker of the cycle
# first without the bindings that are not yet deployable (a bootstrap pass), and deploys it again
# with all its bindings as soon as their targets exist. The public entry (the gateway, first in
# scripts/workers.sh) goes last, so the public hostname only ever reaches complete handlers.
#
#   plan_deploy [EXISTING_NAME ...]
# prints one line per step: `deploy <worker-name> binds <name>,<name>` (or `binds -`). Workers
# named as existing (already deployed on the account) count as deployable targets from the start.

PLAN_ROOT=${PLAN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# The committed config of a worker.
config_of() {
  if [ "$1" = gateway ]; then echo "$PLAN_ROOT/wrangler.toml"; else echo "$PLAN_ROOT/functions/$1/wrangler.toml"; fi
}

# The worker name a config deploys.
name_of() {
  awk -F'"' '/^name *= *"/ { print $2; exit }' "$1"
}

# The worker names a config binds to, in order, one per line.
binds_of() {
  awk '
    /^\[\[services\]\]/ { in_block = 1; next }
    /^\[/ { in_block = 0 }
    in_block && /^service *= *"/ { split($0, parts, "\""); print parts[2] }
  ' "$1"
}

# A copy of a config without the [[services]] blocks that bind to the given worker names.
without_binds() { # config name...
  local config=$1
  shift
  awk -v drop=" $* " '
    function flush() { if (n > 0 && (svc == "" || index(drop, " " svc " ") == 0)) for (i = 1; i <= n; i++) print buf[i]; n = 0; svc = "" }
    /^\[\[services\]\]/ { flush(); collecting = 1; buf[++n] = $0; next }
    collecting && /^service *= *"/ { split($0, parts, "\""); svc = parts[2]; buf[++n] = $0; next }
    collecting && (/^\[/ || /^#/ || /^[[:space:]]*$/) { flush(); collecting = 0 }
    collecting { buf[++n] = $0; next }
    { print }
    END { flush() }
  ' "$config"
}

join_or_dash() {
  if [ $# = 0 ]; then echo "-"; else (IFS=,; echo "$*"); fi
}

plan_deploy() {
  local -a workers names
  mapfile -t workers < <("$PLAN_ROOT/scripts/workers.sh")
  local -A name binds deployed partial
  local w b
  for w in "${workers[@]}"; do
    name[$w]=$(name_of "$(config_of "$w")")
    binds[$w]=$(binds_of "$(config_of "$w")" | tr '\n' ' ')
  done
  for b in "$@"; do deployed[$b]=1; done
  local entry=${workers[0]}
  local -a remaining=("${workers[@]:1}")

  ready() { # worker: all its binds deployed?
    local t
    for t in ${binds[$1]}; do [ -n "${deployed[$t]:-}" ] || return 1; done
  }
  emit() { # worker [only-deployed]
    local -a list=()
    local t
    for t in ${binds[$1]}; do
      if [ "${2:-}" != only-deployed ] || [ -n "${deployed[$t]:-}" ]; then list+=("$t"); fi
    done
    echo "deploy ${name[$1]} binds $(join_or_dash "${list[@]}")"
  }
  complete_partials() {
    local p
    for p in "${!partial[@]}"; do
      if ready "$p"; then emit "$p"; unset "partial[$p]"; fi
    done
  }

  while [ ${#remaining[@]} -gt 0 ]; do
    local progress=0 next=()
    for w in "${remaining[@]}"; do
      if ready "$w"; then
        emit "$w"
        deployed[${name[$w]}]=1
        complete_partials
        progress=1
      else
        next+=("$w")
      fi
    done
    remaining=("${next[@]}")
    if [ $progress = 0 ] && [ ${#remaining[@]} -gt 0 ]; then
      # A cycle: bootstrap the worker with the fewest bindings still missing (first on ties).
      local best="" best_missing=999 missing t
      for w in "${remaining[@]}"; do
        missing=0
        for t in ${binds[$w]}; do [ -n "${deployed[$t]:-}" ] || missing=$((missing + 1)); done
        if [ $missing -lt $best_missing ]; then best=$w; best_missing=$missing; fi
      done
      emit "$best" only-deployed
      deployed[${name[$best]}]=1
      partial[$best]=1
      next=()
      for w in "${remaining[@]}"; do [ "$w" = "$best" ] || next+=("$w"); done
      remaining=("${next[@]}")
      complete_partials
    fi
  done
  # The public entry last; it may bind to every handler.
  if ready "$entry"; then
    emit "$entry"
  else
    echo "deploy-plan: the public entry ${name[$entry]} binds to a worker that is never deployed" >&2
    return 1
  fi
}
