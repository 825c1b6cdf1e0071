#!/usr/bin/env bash
# model.instances A/B on this machine: 1 instance (all threads on one batch) against N instances (the threads
# shared among them), alternating, each with a fresh one-worker pipeline: the Kafka path at 64 users with the
# ceiling of the same configuration (perf ceiling just before, a JVM of its own with the full JIT), then 10 users. Run with nothing else busy (about 3 minutes per pair):
#   perf/instances.sh [results-dir] [N]        env REPEAT (pairs, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-perf-results/instances-$(date +%Y%m%d-%H%M%S)}"
n="${2:-2}"
. perf/lib.sh
for pair in $(seq 1 "${REPEAT:-3}"); do
  for instances in 1 "$n"; do
    name="pair$pair-instances$instances"
    printf '\n=== %s\n' "$name" | tee -a "$out/instances.log"
    pipeline_up "$name" --set "model.instances=$instances"
    k perf ceiling --instances "$instances" --duration 11s --warmup 3s --json "$out/$name-ceiling.json" \
      2>>"$out/instances.err" | grep '^Ceiling' | tee -a "$out/instances.log"
    k perf run --target kafka --users 64 --duration 20s --ceiling-from "$out/$name-ceiling.json" \
      --json "$out/$name-64.json" 2>>"$out/instances.err" | tee -a "$out/instances.log"
    k perf run --target kafka --users 10 --duration 15s \
      --json "$out/$name-10.json" 2>>"$out/instances.err" | tee -a "$out/instances.log"
    down
  done
done
echo "results: $out"
