#!/usr/bin/env python3
"""Prints each criterion benchmark of this run as a ratio to its group's baseline.

Every group in shared/benches/ measures a baseline (a bench whose name starts with "baseline") in
the same run as the work it is compared with; absolute times on these shared machines are noisy,
the ratios are the figures to read. Reads target/criterion/<group>/<bench>/new/estimates.json
(the run just made) and the names criterion recorded in benchmark.json.
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
groups = {}
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        meta = json.load(f)
    with open(os.path.join(dirpath, "estimates.json")) as f:
        mean = json.load(f)["mean"]["point_estimate"]
    groups.setdefault(meta["group_id"], []).append((meta["function_id"] or meta["title"], mean))

def human(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"

for group in sorted(groups):
    rows = groups[group]
    baselines = sorted((name, m) for name, m in rows if name.startswith("baseline"))
    if not baselines:
        continue
    print(f"{group}:")
    for name, mean in sorted(rows, key=lambda r: (not r[0].startswith("baseline"), r[0])):
        if name.startswith("baseline"):
            ratio = "baseline"
        else:
            # A group with several baselines: the ratio to each.
            ratio = ", ".join(
                f"{mean / base:.1f}x" + (f" {bname}" if len(baselines) > 1 else " baseline")
                for bname, base in baselines
            )
        print(f"  {name:<50} {human(mean):>10}  {ratio}")
