#!/usr/bin/env bash
# Issue 4's three HTTP targets on one warm pipeline, round by round, each against the raw model's ceiling measured
# in the same round (a fresh JVM, while the pipeline idles); wrk (C, one thread) is the load, so the generator takes
# almost no CPU from the two cores under test. Per round, one line:
#   1 user:   wrk -c1 P50  <= ceiling batch-1 P50 + 3 ms
#   10 users: wrk -c10 P99 <= 25 ms
#   saturation: wrk -c256 texts/s >= 75 % of the ceiling's texts/s (batch 32); -c64 is shown beside it
# The ceiling batches as the worker does, from a queue of 256 kept full (the worker's batch.max.queue.size): 256
# connections fill the worker's queue as deep, while 64 leave it at most ~32 deep beside a running batch of 32, so
# fewer texts of a length to group (measured 2026-11-29: -c256 10-25 % above -c64).
# A wrk run with any error (non-2xx answer, or a connect/read/write/timeout socket error) reads "invalid (N errors)"
# instead of met/missed or a ratio: wrk folds non-2xx answers into its latency and leaves timed-out calls out of it.
# wrk's timeout is explicit (WRK_TIMEOUT, default 30s, the gateway's), not its 2 s default. The ceiling runs in a
# JVM of its own with the full JIT (perf/lib.sh's k).
# Run with nothing else busy (about 90 s a round after ~1 min of start-up and warm-up):
#   perf/targets.sh [results-dir]     env ROUNDS (default 4), WARMUP_ROUND (default 1: an unmeasured round of wrk
#   first; 0: none, as before 2026-11-29's evening, when every run's first round came out a warm-up)
set -u
cd "$(dirname "$0")/.."
out="${1:-perf-results/targets-$(date -u +%Y%m%dT%H%M)}"
source perf/lib.sh
command -v wrk > /dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
pipeline_up targets || exit 1
url=http://127.0.0.1:8080
log() { printf '%s\n' "$*" | tee -a "$out/targets.log"; }
# wrk-predict.lua's line: "texts/s 123.4, P50 5.6 ms, P99 7.8 ms, non-2xx 0, socket errors 0"
field() { sed -n "s|.*$1 \([0-9.]*\).*|\1|p"; }
log "$(nproc) cpus, $(java -version 2>&1 | head -1), $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null)"
if [ "${WARMUP_ROUND:-1}" = 1 ]; then
  # An unmeasured round of the loads measured below, with the generator they are measured with (wrk: connections
  # kept open, one request at a time on each): pipeline_up's warm-up uses kinfer's own generator at 32 users, and
  # every run's first round read 8.3-9.5 ms for one user against 5.0-6.9 ms in later rounds (measured 2026-11-29:
  # with this round first, the first measured round read 6.1 ms, as later ones do).
  for c in 1 10 64 256; do wrk_run -t1 -c"$c" -d10s -s perf/wrk-predict.lua "$url" > /dev/null; done
  log "warm-up round (wrk -c1, -c10, -c64, -c256, 10 s each, unmeasured) done $(date -u +%T)"
fi
for round in $(seq 1 "${ROUNDS:-4}"); do
  c=$(k perf ceiling --duration 12s --warmup 3s 2>/dev/null | grep '^Ceiling')
  ceiling=$(sed -n 's/.*: \([0-9.]*\) texts\/s at batch.*/\1/p' <<< "$c")
  batch1=$(sed -n 's/.*batch-1 latency P50 \([0-9.]*\) ms.*/\1/p' <<< "$c")
  one=$(wrk_run -t1 -c1 -d15s -s perf/wrk-predict.lua "$url" | grep '^texts/s')
  ten=$(wrk_run -t1 -c10 -d15s -s perf/wrk-predict.lua "$url" | grep '^texts/s')
  c64=$(wrk_run -t1 -c64 -d20s -s perf/wrk-predict.lua "$url" | grep '^texts/s')
  sat=$(wrk_run -t1 -c256 -d20s -s perf/wrk-predict.lua "$url" | grep '^texts/s')
  echo "round $round ceiling: $c" >> "$out/targets.log"
  printf 'round %s wrk: c1 %s | c10 %s | c64 %s | c256 %s\n' "$round" "$one" "$ten" "$c64" "$sat" >> "$out/targets.log"
  awk -v r="$round" -v t="$(date -u +%T)" -v b1="$batch1" -v ceil="$ceiling" \
      -v p50="$(field P50 <<< "$one")" -v p99="$(field P99 <<< "$ten")" -v tps10="$(field texts/s <<< "$ten")" \
      -v tps="$(field texts/s <<< "$sat")" -v tps64="$(field texts/s <<< "$c64")" \
      -v e1="$(wrk_errors "$one")" -v e10="$(wrk_errors "$ten")" -v e64="$(wrk_errors "$sat")" -v ec64="$(wrk_errors "$c64")" '
    function verdict(met, errors) {
      if (errors == "?") return "invalid (no wrk result)"
      return errors != "0" ? "invalid (" errors " errors)" : (met ? "met" : "missed")
    }
    BEGIN {
      printf "round %s %s | 1 user: P50 %.1f ms vs %.2f + 3 ms (%s) | 10 users: P99 %.1f ms at %.0f texts/s (%s) | ",
        r, t, p50, b1, verdict(p50 <= b1 + 3, e1), p99, tps10, verdict(p99 <= 25, e10)
      if (e64 != "0" || ceil + 0 <= 0)
        printf "256 users: %.1f texts/s, %s\n", tps, (e64 != "0" ? verdict(0, e64) : "invalid (no ceiling)")
      else
        printf "256 users: %.1f of %.1f texts/s = %.0f %% (%s; 64 users %s)\n", tps, ceil, 100 * tps / ceil,
          verdict(tps >= 0.75 * ceil, e64), (ec64 == "0" ? sprintf("%.0f %%", 100 * tps64 / ceil) : verdict(0, ec64))
    }' | tee -a "$out/targets.log"
done
down
echo "results: $out/targets.log"
