#!/usr/bin/env bash
# `make bench`: the domain's criterion benchmarks (each group carries its own baseline, measured
# in the same run; read results as ratios to it). Pass a filter to run one group: `make bench
# ARGS=intake` or scripts/bench.sh intake.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p revops --benches -- "$@"
# The figures to read: each benchmark as a ratio to the baseline measured in its group, this run.
echo "== ratios to each group's baseline (this run)"
python3 scripts/lib/bench-ratios.py "${CARGO_TARGET_DIR:-target}/criterion"
