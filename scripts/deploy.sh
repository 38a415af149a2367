#!/usr/bin/env bash
# Deploys revops-edge to your own Cloudflare account (run `wrangler login` first, or export
# CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID).
#
#   scripts/deploy.sh           deploy (safe to re-run: it reuses what exists)
#   scripts/deploy.sh --plan    print the deploy steps for a fresh account; calls nothing
#
# Settings (environment):
#   D1_LOCATION      where a new D1 database is placed: weur, eeur, apac, oc, wnam or enam
#                    (a hint, used only when the database is created; put it near your users,
#                    or near the CRM that calls the API most)
#   D1_JURISDICTION  eu, us or fedramp: keep the data inside it (overrides the location hint)
#   ADMIN_API_KEY    the bootstrap admin key, if the gateway has none yet (otherwise you are asked,
#                    and an empty answer or no terminal generates one)
#
# What it does, in order:
# 1. builds every worker;
# 2. finds or creates the D1 database `revops` and the KV namespaces `revops-config` and
#    `revops-consent` (any failed lookup stops the script);
# 3. writes deployable copies of the wrangler configs into .deploy/ with the real ids (the
#    committed configs keep local ids, so `make dev` never touches your account);
# 4. applies the D1 migrations remotely;
# 5. generates the secrets that are not set yet, once: SUBJECT_HASH_KEY (the same value on intake
#    and consent — a mismatch would silently re-import erased people), UNSUBSCRIBE_TOKEN_KEY and,
#    unless given, ADMIN_API_KEY; they are uploaded with each worker's first deploy, so /health is
#    ok right after it;
# 6. deploys the workers in the order scripts/lib/deploy-plan.sh computes: a worker after the
#    workers it binds to, a bootstrap pass without the binding that closes a cycle where that is
#    needed (only for workers that do not exist yet), the public gateway last.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. scripts/lib/deploy-plan.sh

if [ "${1:-}" = "--plan" ]; then
  plan_deploy
  exit 0
elif [ $# -gt 0 ]; then
  echo "usage: scripts/deploy.sh [--plan]" >&2
  exit 2
fi

eval "$(scripts/toolchain.sh)"
export WRANGLER_SEND_METRICS=false
scripts/build.sh

die() { echo "deploy: $*" >&2; exit 1; }
# A JSON list on stdin; prints the `field` of the entry whose `key` equals `value` (or nothing).
pick() { # key value field
  node -e 'const l=JSON.parse(require("fs").readFileSync(0,"utf8"));const e=l.find(x=>x[process.argv[1]]===process.argv[2]);if(e)console.log(e[process.argv[3]])' "$@"
}
random_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

d1_lookup() {
  local list
  list=$(wrangler d1 list --json) || die "could not list D1 databases (wrangler login?)"
  printf '%s' "$list" | pick name revops uuid
}
d1_id=$(d1_lookup) || exit 1
if [ -z "$d1_id" ]; then
  create=(wrangler d1 create revops)
  [ -z "${D1_JURISDICTION:-}" ] || create+=(--jurisdiction "$D1_JURISDICTION")
  [ -z "${D1_LOCATION:-}" ] || [ -n "${D1_JURISDICTION:-}" ] || create+=(--location "$D1_LOCATION")
  "${create[@]}" >&2 || die "could not create the D1 database"
  d1_id=$(d1_lookup) || exit 1
fi
[ -n "$d1_id" ] || die "the D1 database revops was not found after creating it"

kv_id() { # title
  local list id
  list=$(wrangler kv namespace list) || die "could not list KV namespaces"
  id=$(printf '%s' "$list" | pick title "$1" id)
  if [ -z "$id" ]; then
    wrangler kv namespace create "$1" >&2 || die "could not create the KV namespace $1"
    list=$(wrangler kv namespace list) || die "could not list KV namespaces"
    id=$(printf '%s' "$list" | pick title "$1" id)
  fi
  [ -n "$id" ] || die "the KV namespace $1 was not found after creating it"
  echo "$id"
}
# `$(...)` does not propagate `set -e`: each lookup is checked.
config_id=$(kv_id revops-config) || exit 1
consent_id=$(kv_id revops-consent) || exit 1

rm -rf .deploy
scripts/render-configs.sh .deploy "" "$d1_id" "$config_id" "$consent_id"
wrangler d1 migrations apply revops --remote -c .deploy/gateway.toml

# Which workers exist already, and which secrets each has (names only: values cannot be read).
mapfile -t WORKERS < <(scripts/workers.sh)
declare -A EXISTS HAS
for w in "${WORKERS[@]}"; do
  n=$(name_of "$(config_of "$w")")
  if wrangler deployments list --name "$n" > /dev/null 2>&1; then
    EXISTS[$w]=1
    for s in $(wrangler secret list --name "$n" --format json 2> /dev/null | node -e 'for (const s of JSON.parse(require("fs").readFileSync(0,"utf8")||"[]")) console.log(s.name)'); do
      HAS[$w:$s]=1
    done
  fi
done

umask 077
mkdir -p .deploy/secrets
declare -A SECRETS
add_secret() { # worker name value
  SECRETS[$1]="${SECRETS[$1]:+${SECRETS[$1]},}$(node -e 'console.log(JSON.stringify(process.argv[1])+":"+JSON.stringify(process.argv[2]))' "$2" "$3")"
}
case "${HAS[intake:SUBJECT_HASH_KEY]:-}${HAS[consent:SUBJECT_HASH_KEY]:-}" in
  11) ;;
  "")
    key=$(random_secret)
    add_secret intake SUBJECT_HASH_KEY "$key"
    add_secret consent SUBJECT_HASH_KEY "$key"
    ;;
  *) die "SUBJECT_HASH_KEY is set on only one of revops-intake and revops-consent. Secrets cannot be read back: set the same value on both (wrangler secret put SUBJECT_HASH_KEY -c .deploy/intake.toml, then -c .deploy/consent.toml) and run this again" ;;
esac
[ -n "${HAS[consent:UNSUBSCRIBE_TOKEN_KEY]:-}" ] || add_secret consent UNSUBSCRIBE_TOKEN_KEY "$(random_secret)"
generated_admin=""
if [ -z "${HAS[gateway:ADMIN_API_KEY]:-}" ]; then
  admin=${ADMIN_API_KEY:-}
  if [ -z "$admin" ] && [ -t 0 ]; then
    read -r -s -p "ADMIN_API_KEY for the gateway (empty: generate one): " admin
    echo >&2
  fi
  if [ -z "$admin" ]; then
    admin="rev_admin_$(random_secret)"
    generated_admin=$admin
  fi
  add_secret gateway ADMIN_API_KEY "$admin"
  # The console checks the same bootstrap key when someone signs in with it.
  add_secret console ADMIN_API_KEY "$admin"
elif [ -z "${HAS[console:ADMIN_API_KEY]:-}" ]; then
  echo "deploy: note: revops-console has no ADMIN_API_KEY, so the bootstrap key cannot sign in to the console (keys created with /v1/admin/keys can). Secrets cannot be read back: to allow it, set the gateway's value on the console too: wrangler secret put ADMIN_API_KEY -c .deploy/console.toml" >&2
fi
for w in "${!SECRETS[@]}"; do
  printf '{%s}\n' "${SECRETS[$w]}" > ".deploy/secrets/$w.json"
done

# The plan, for the workers that do not exist yet.
existing=()
for w in "${WORKERS[@]}"; do [ -z "${EXISTS[$w]:-}" ] || existing+=("$(name_of "$(config_of "$w")")"); done
declare -A WORKER_OF
for w in "${WORKERS[@]}"; do WORKER_OF[$(name_of "$(config_of "$w")")]=$w; done
mapfile -t STEPS < <(plan_deploy "${existing[@]}")
echo "deploy: ${#STEPS[@]} steps" >&2
for step in "${STEPS[@]}"; do
  echo "deploy: $step" >&2
  read -r _ name _ binds <<< "$step"
  w=${WORKER_OF[$name]}
  config=".deploy/$w.toml"
  full=$(binds_of "$config" | tr '\n' ',' | sed 's/,$//')
  [ -n "$full" ] || full="-"
  if [ "$binds" != "$full" ]; then
    # A bootstrap pass: without the bindings whose workers do not exist yet.
    drop=()
    for t in $(binds_of "$config"); do
      case ",$binds," in *",$t,"*) ;; *) drop+=("$t") ;; esac
    done
    without_binds "$config" "${drop[@]}" > ".deploy/$w.bootstrap.toml"
    config=".deploy/$w.bootstrap.toml"
  fi
  args=(deploy -c "$config")
  [ ! -f ".deploy/secrets/$w.json" ] || args+=(--secrets-file ".deploy/secrets/$w.json")
  wrangler "${args[@]}"
done
rm -rf .deploy/secrets

echo
echo "deployed. Check it: curl https://$(name_of wrangler.toml).<your-subdomain>.workers.dev/health"
if [ -n "$generated_admin" ]; then
  echo "ADMIN_API_KEY (generated; shown once, keep it in your password manager):"
  echo "  $generated_admin"
fi
