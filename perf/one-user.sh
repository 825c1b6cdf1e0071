#!/usr/bin/env bash
# One user against the ceiling, round by round on one warm pipeline: each round wrk -c1 (unique texts) for 15 s,
# then the raw model's batch-1 P50 in a fresh JVM (full JIT) while the pipeline idles (issue 4: P50 <= ceiling batch-1
# P50 + 3 ms). A wrk run with any error (non-2xx, socket errors) is marked "invalid (N errors)": its P50 is not the
# pipeline's. wrk's timeout is explicit (WRK_TIMEOUT, default 30s).
#   perf/one-user.sh [out dir]     env ROUNDS (default 8)
set -u
cd "$(dirname "$0")/.."
out="${1:-perf-results/one-user-$(date -u +%Y%m%dT%H%M)}"
source perf/lib.sh
pipeline_up one || exit 1
for round in $(seq 1 "${ROUNDS:-8}"); do
  w=$(wrk_run -t1 -c1 -d15s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s")
  invalid=$(wrk_invalid "$w")
  c=$(k perf ceiling --duration 8s --warmup 3s 2>/dev/null | grep "^Ceiling")
  echo "round $round $(date -u +%H:%M:%S): $w${invalid:+ [$invalid]} | $c"
done
down
