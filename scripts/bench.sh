#!/usr/bin/env bash
# `make bench`: the domain's criterion benchmarks (each group carries its own baseline, measured
# in the same run; read results as ratios to it). Pass a filter to run one group: `make bench
# ARGS=intake` or scripts/bench.sh intake.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p revops --benches -- "$@"
