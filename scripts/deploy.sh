#!/usr/bin/env bash
# Deploys revops-edge to your own Cloudflare account (run `wrangler login` first, or export
# CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID).
#
#   scripts/deploy.sh
#
# 1. builds every worker;
# 2. finds or creates the D1 database `revops` and the KV namespaces `revops-config` and
#    `revops-consent`;
# 3. writes deployable copies of the six wrangler configs into .deploy/ with the real ids
#    (scripts/render-configs.sh; the committed configs keep local ids, so `make dev` never
#    touches your account);
# 4. applies the D1 migrations remotely;
# 5. deploys the five handlers, then the gateway (whose service bindings need them).
# Secrets are not set here; see README.md ("Deploy").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
eval "$(scripts/toolchain.sh)"
export WRANGLER_SEND_METRICS=false
scripts/build.sh

d1_id=$(wrangler d1 list --json | node -e 'const l=JSON.parse(require("fs").readFileSync(0,"utf8"));const d=l.find(x=>x.name==="revops");if(d)console.log(d.uuid)')
if [ -z "$d1_id" ]; then
  wrangler d1 create revops >&2
  d1_id=$(wrangler d1 list --json | node -e 'const l=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(l.find(x=>x.name==="revops").uuid)')
fi

kv_id() { # title
  local id
  id=$(wrangler kv namespace list | node -e 'const l=JSON.parse(require("fs").readFileSync(0,"utf8"));const n=l.find(x=>x.title===process.argv[1]);if(n)console.log(n.id)' "$1")
  if [ -z "$id" ]; then
    wrangler kv namespace create "$1" >&2
    id=$(wrangler kv namespace list | node -e 'const l=JSON.parse(require("fs").readFileSync(0,"utf8"));console.log(l.find(x=>x.title===process.argv[1]).id)' "$1")
  fi
  echo "$id"
}
config_id=$(kv_id revops-config)
consent_id=$(kv_id revops-consent)

rm -rf .deploy
scripts/render-configs.sh .deploy "" "$d1_id" "$config_id" "$consent_id"

wrangler d1 migrations apply revops --remote -c .deploy/gateway.toml
for w in intake scoring routing consent sla gateway; do
  wrangler deploy -c ".deploy/$w.toml"
done
echo "deployed. Set the secrets (README.md, \"Deploy\") if you have not yet."
