#!/usr/bin/env bash
# A/B of the worker alone: a backlog of unique requests (perf/Backlog.java, this checkout's build, on both sides)
# drained by one worker with no load generator running, old and new builds' pipelines in ABBA order.
#   perf/backlog-ab.sh <old kinfer.jar> [rounds] [out dir]     (the new build: distribution/target/kinfer.jar)
set -u
cd "$(dirname "$0")/.."
old="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; rounds="${2:-4}"; out="${3:-perf-results/backlog-ab-$(date -u +%Y%m%dT%H%M)}"
new="$(pwd)/distribution/target/kinfer.jar"
source perf/lib.sh
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then sides="old new"; else sides="new old"; fi
  for side in $sides; do
    [ "$side" = old ] && jar="$old" || jar="$new"
    pipeline_up "$side-$round" || exit 1
    echo "== round $round $side ($(date -u +%H:%M:%S))"
    java -cp "$new" perf/Backlog.java 9000 2>/dev/null | tail -3
    down
  done
done 2>&1 | tee "$out/backlog-ab.txt"
