#!/usr/bin/env bash
# Builds every worker (the gateway and the five handlers) to WASM with worker-build, and prints
# each one's size, raw and gzipped; fails if a worker is over the size budget (1 MB gzipped).
# Needs the toolchain on PATH: eval "$(scripts/toolchain.sh)".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t WORKERS < <("$(dirname "$0")/workers.sh")

# One cargo invocation compiles the shared dependencies once and links the eight crates in parallel;
# worker-build then finds them up to date and only runs wasm-bindgen and the JS shim per worker.
packages=()
for w in "${WORKERS[@]}"; do packages+=(-p "revops-$w"); done
(cd "$ROOT" && cargo build --release --target wasm32-unknown-unknown "${packages[@]}")

for w in "${WORKERS[@]}"; do
  (cd "$ROOT/functions/$w" && worker-build --release --no-opt >/dev/null 2>"$ROOT/target/worker-build-$w.log") || {
    cat "$ROOT/target/worker-build-$w.log" >&2
    echo "build: worker-build failed for $w" >&2
    exit 1
  }
done

# The size budget: 1 MB gzipped per worker (Workers allow 3 MB on the free plan).
BUDGET=${REVOPS_SIZE_BUDGET:-1048576}
over=0
printf '%-10s %12s %12s\n' worker "wasm bytes" "gzipped" >&2
for w in "${WORKERS[@]}"; do
  wasm="$ROOT/functions/$w/build/index_bg.wasm"
  gz=$(gzip -9 -c "$wasm" | wc -c)
  printf '%-10s %12d %12d\n' "$w" "$(stat -c %s "$wasm")" "$gz" >&2
  if [ "$gz" -gt "$BUDGET" ]; then
    echo "build: $w is $gz bytes gzipped, over the budget of $BUDGET" >&2
    over=1
  fi
done
exit $over
