#!/usr/bin/env bash
# The Kafka path and the HTTP path at saturation with the load generator off the measured cores as far as one
# machine allows, each against the in-process ceiling measured just before it (perf ceiling, a JVM of its own with
# the full JIT), with pad-aware grouping off and on (the default), the ceiling grouping its batches the same way
# (--grouping arrival, or pad-aware as the worker's batcher does). Per pair:
#   - Kafka: perf/Backlog.java writes a backlog of unique requests, then only reads the replies;
#   - HTTP:  wrk (C, one thread, 64 connections) posts unique texts to /predict (skipped when wrk is missing); a
#     run with errors (non-2xx, socket errors) is marked "invalid (N errors)". wrk's timeout: WRK_TIMEOUT (30s).
# Run with nothing else busy (about 2 minutes per pair):  perf/backlog.sh [results-dir]   env REPEAT (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-perf-results/backlog-$(date +%Y%m%d-%H%M%S)}"
. perf/lib.sh
log() { printf '%s\n' "$*" | tee -a "$out/backlog.log"; }
for pad in false true; do
  if [ "$pad" = true ]; then grouping=pad-aware; else grouping=arrival; fi
  pipeline_up "pad-$pad" --set "batch.pad.aware=$pad"
  for pair in $(seq 1 "${REPEAT:-3}"); do
    log "=== batch.pad.aware=$pad pair $pair"
    k perf ceiling --duration 12s --warmup 3s --grouping "$grouping" 2>>"$out/backlog.err" | grep '^Ceiling' \
      | tee -a "$out/backlog.log"
    java -cp "$jar" perf/Backlog.java 9000 2>>"$out/backlog.err" | tee -a "$out/backlog.log"
    if command -v wrk > /dev/null; then
      k perf ceiling --duration 12s --warmup 3s --grouping "$grouping" 2>>"$out/backlog.err" | grep '^Ceiling' \
        | tee -a "$out/backlog.log"
      w=$(wrk_run -t1 -c64 -d20s -s perf/wrk-predict.lua http://127.0.0.1:8080 | tail -1)
      invalid=$(wrk_invalid "$w")
      log "HTTP /predict, wrk 64 connections: $w${invalid:+ [$invalid]}"
    fi
  done
  down
done
echo "results: $out"
