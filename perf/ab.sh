#!/usr/bin/env bash
# A/B of two builds' data path: alternating fresh one-worker pipelines (perf/lib.sh), the same load generator
# (this checkout's kinfer perf, and wrk) against each, so only the pipeline under test differs. ABBA order (odd
# rounds old then new, even rounds new then old), so a VM drifting through the session, or whichever side runs
# second, does not favour one build; a ratio line per pair at the end.
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
    gen perf run --target http --users 64 --duration 12s --ceiling 2>/dev/null | grep -E "^\| users=64|^Ceiling"
    wrk -t1 -c64 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    wrk -t1 -c10 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    wrk -t1 -c1 -d12s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080 | grep "^texts/s"
    down
  done
done 2>&1 | tee "$out/ab.txt"
# Per pair, new over old: kinfer perf's texts/s at 64 users, wrk's texts/s at -c64, -c10, -c1, and -c1's P50.
awk -v rounds="$rounds" '
  /^== round/ { r = $3; s = $4; w = 0; next }
  /^\| users=64 \| http/ { split($0, f, "|"); v[r, s, "perf"] = f[7] + 0; next }
  /^texts\/s/ { w++; v[r, s, "c" w] = $2 + 0; v[r, s, "p" w] = $4 + 0 }
  function ratio(r, key) { return v[r, "old", key] > 0 ? sprintf("%.3f", v[r, "new", key] / v[r, "old", key]) : "-" }
  END {
    for (r = 1; r <= rounds; r++)
      printf "pair %d new/old: perf 64 users %s, wrk -c64 %s, -c10 %s, -c1 %s, -c1 P50 %s\n", r,
        ratio(r, "perf"), ratio(r, "c1"), ratio(r, "c2"), ratio(r, "c3"), ratio(r, "p3")
  }' "$out/ab.txt" | tee -a "$out/ab.txt"
