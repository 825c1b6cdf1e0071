#!/usr/bin/env bash
# onnx.single.thread.max.tokens at its default (64) against 0 (every call on the one multi-threaded session),
# alternating fresh one-worker pipelines: the ceiling's batch-1 latency in each configuration, one user through
# wrk and through kinfer's load generator (which also reports the worker's own inference time), ten users through
# wrk; a step that fails prints n/a and the rounds go on, a wrk run with errors (non-2xx, socket errors) is marked
# "invalid (N errors)". The ceiling runs in a JVM of its own with the full JIT.
# Usage: REPEAT=3 perf/single-thread.sh [results-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-perf-results/single-thread-$(date +%Y%m%d-%H%M%S)}"
source perf/lib.sh
for round in $(seq 1 "${REPEAT:-3}"); do
  for tokens in 64 0; do
    pipeline_up "single-$tokens" --set onnx.single.thread.max.tokens=$tokens
    ceiling=$(k perf ceiling --duration 6s --warmup 2s --single-thread-max-tokens $tokens 2>&1 \
      | grep -o "batch-1 latency P50 [0-9.]* ms" || echo "n/a")
    one=$(wrk_run -t1 -c1 -d15s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "texts/s" || echo "n/a")
    invalid=$(wrk_invalid "$one"); one="$one${invalid:+ [$invalid]}"
    # the run's row and the server-side row (queue and inference P50 from the reply timings)
    own=$(k perf run --target http --users 1 --duration 10s --warmup 2s --json "$out/one-$tokens-$round.json" 2>&1 \
      | grep -E "^\| users" | tr '\n' ' ' || echo "n/a")
    ten=$(wrk_run -t1 -c10 -d15s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "texts/s" || echo "n/a")
    invalid=$(wrk_invalid "$ten"); ten="$ten${invalid:+ [$invalid]}"
    echo "round $round, max.tokens=$tokens | ceiling $ceiling | wrk 1 user: $one | kinfer perf 1 user: $own | wrk 10 users: $ten" \
      | tee -a "$out/summary.txt"
    down
  done
done
