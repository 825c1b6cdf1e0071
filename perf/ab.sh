#!/usr/bin/env bash
# A/B of two builds' data path: alternating fresh one-worker pipelines (perf/lib.sh), the same load generator
# (this checkout's kinfer perf, and wrk) against each, so only the pipeline under test differs.
#   perf/ab.sh <old kinfer.jar> [rounds] [out dir]     (the new build: distribution/target/kinfer.jar)
set -u
old_jar="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; rounds="${2:-2}"; out="${3:-perf-results/ab-$(date -u +%Y%m%dT%H%M)}"
new_jar="$(pwd)/distribution/target/kinfer.jar"
source perf/lib.sh
gen() { "${perf_java[@]}" -jar "$new_jar" "$@"; }
for round in $(seq 1 "$rounds"); do
  for side in old new; do
    [ "$side" = old ] && jar="$old_jar" || jar="$new_jar"
    pipeline_up "$side-$round" || exit 1
    echo "== round $round $side ($(date -u +%H:%M:%S))"
    gen perf run --target http --users 64 --duration 12s --ceiling 2>/dev/null | grep -E "^\| users=64|^Ceiling"
    wrk -t1 -c64 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    wrk -t1 -c10 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    wrk -t1 -c1 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    down
  done
done 2>&1 | tee "$out/ab.txt"
