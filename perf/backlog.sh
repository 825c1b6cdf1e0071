#!/usr/bin/env bash
# The Kafka path and the HTTP path at saturation with the load generator off the measured cores as far as one
# machine allows, each against the in-process ceiling measured just before it, with pad-aware grouping off (so the
# pipeline's batches are arrival-order mixes like the ceiling's) and on (the default). Per pair:
#   - Kafka: perf/Backlog.java writes a backlog of unique requests, then only reads the replies;
#   - HTTP:  wrk (C, one thread, 64 connections) posts unique texts to /predict (skipped when wrk is missing).
# Run with nothing else busy (about 2 minutes per pair):  perf/backlog.sh [results-dir]   env REPEAT (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-perf-results/backlog-$(date +%Y%m%d-%H%M%S)}"
. perf/lib.sh
log() { printf '%s\n' "$*" | tee -a "$out/backlog.log"; }
for pad in false true; do
  pipeline_up "pad-$pad" --set "batch.pad.aware=$pad"
  for pair in $(seq 1 "${REPEAT:-3}"); do
    log "=== batch.pad.aware=$pad pair $pair"
    k perf ceiling --duration 12s --warmup 3s 2>>"$out/backlog.err" | grep '^Ceiling' | tee -a "$out/backlog.log"
    java -cp "$jar" perf/Backlog.java 9000 2>>"$out/backlog.err" | tee -a "$out/backlog.log"
    if command -v wrk > /dev/null; then
      k perf ceiling --duration 12s --warmup 3s 2>>"$out/backlog.err" | grep '^Ceiling' | tee -a "$out/backlog.log"
      printf 'HTTP /predict, wrk 64 connections: ' | tee -a "$out/backlog.log"
      wrk -t1 -c64 -d20s -s perf/wrk-predict.lua http://127.0.0.1:8080 | tail -1 | tee -a "$out/backlog.log"
    fi
  done
  down
done
echo "results: $out"
