#!/usr/bin/env bash
# A/B of two builds' data path: alternating fresh one-worker pipelines (perf/lib.sh), the same load generator
# (this checkout's kinfer perf, and wrk) against each, so only the pipeline under test differs. ABBA order (odd
# rounds old then new, even rounds new then old), so a VM drifting through the session, or whichever side runs
# second, does not favour one build; a ratio line per pair at the end. A pair where either side's run had errors
# (wrk: non-2xx or socket errors; kinfer perf: any failure) reads "invalid (N errors)" instead of a ratio. The
# ceiling is measured by perf ceiling in a JVM of its own (full JIT), not inside the C1-only load generator.
#   perf/ab.sh <old kinfer.jar> [rounds] [out dir]     (the new build: distribution/target/kinfer.jar)
set -u
old_jar="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; rounds="${2:-2}"; out="${3:-perf-results/ab-$(date -u +%Y%m%dT%H%M)}"
new_jar="$(pwd)/distribution/target/kinfer.jar"
source perf/lib.sh
gen() { "${perf_java[@]}" -jar "$new_jar" "$@"; }
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then sides="old new"; else sides="new old"; fi
  for side in $sides; do
    [ "$side" = old ] && jar="$old_jar" || jar="$new_jar"
    pipeline_up "$side-$round" || exit 1
    echo "== round $round $side ($(date -u +%H:%M:%S))"
    java -jar "$new_jar" perf ceiling --duration 7s --warmup 3s --json "$out/ceiling-$side-$round.json" 2>/dev/null \
      | grep "^Ceiling"
    gen perf run --target http --users 64 --duration 12s --ceiling-from "$out/ceiling-$side-$round.json" 2>/dev/null \
      | grep -E "^\| users=64"
    wrk_run -t1 -c64 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    wrk_run -t1 -c10 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    wrk_run -t1 -c1 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    down
  done
done 2>&1 | tee "$out/ab.txt"
# Per pair, new over old: kinfer perf's texts/s at 64 users, wrk's texts/s at -c64, -c10, -c1, and -c1's P50; a
# side with errors (kinfer perf's failures column; wrk's "non-2xx N, socket errors M") makes its pair invalid.
awk -v rounds="$rounds" '
  /^== round/ { r = $3; s = $4; w = 0; next }
  /^\| users=64 \| http/ { split($0, f, "|"); v[r, s, "perf"] = f[7] + 0; e[r, s, "perf"] = f[12] + 0; next }
  /^texts\/s/ { w++; v[r, s, "c" w] = $2 + 0; v[r, s, "p" w] = $4 + 0; e[r, s, "c" w] = e[r, s, "p" w] = $10 + $13 }
  function ratio(r, key,   errors) {
    errors = e[r, "old", key] + e[r, "new", key]
    if (errors > 0) return "invalid (" errors " errors)"
    return v[r, "old", key] > 0 ? sprintf("%.3f", v[r, "new", key] / v[r, "old", key]) : "-"
  }
  END {
    for (r = 1; r <= rounds; r++)
      printf "pair %d new/old: perf 64 users %s, wrk -c64 %s, -c10 %s, -c1 %s, -c1 P50 %s\n", r,
        ratio(r, "perf"), ratio(r, "c1"), ratio(r, "c2"), ratio(r, "c3"), ratio(r, "p3")
  }' "$out/ab.txt" | tee -a "$out/ab.txt"
