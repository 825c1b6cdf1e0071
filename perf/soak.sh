#!/usr/bin/env bash
# Soak: mixed load for a while (default 10 minutes) against a local pipeline (2 workers), sampling every 30 s each
# process's live heap after a full GC (jcmd GC.run just before each sample), threads, open file descriptors and
# requests in flight. Not part of the test run:
#   perf/soak.sh [minutes] [results-dir]
# Prints a table and, per process, three samples: after the first minute, at half time and after the load: heap after
# GC, threads and descriptors must not keep growing (bounded caches fill in the first minutes, then stay flat), and
# requests in flight must be back to 0 once the load stops.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
out="${2:-perf-results/soak-$(date +%Y%m%d-%H%M%S)}"
source perf/lib.sh # $out made absolute, $jar, k (perf on C1 only)

java -jar "$jar" up --workers 2 --models sentiment --fresh --data-dir "$out/data" --port 18680 --kafka-port 19692 \
  --metrics-base-port 19700 > "$out/up.log" 2>&1 &
up=$!
trap 'kill -TERM $up 2>/dev/null; wait $up 2>/dev/null || true' EXIT
until grep -q "kinfer is up" "$out/up.log"; do kill -0 $up; sleep 1; done
gateway=http://127.0.0.1:18680

metric() { # metric <url> <prometheus name regex>: sum of the matching samples
  curl -s "$1" | awk -v re="^$2" '$0 ~ re && $0 !~ /^#/ {s += $NF} END {printf "%.0f", s}'
}
# a full GC in the process matching $1, so that the heap figures below are what is really live. up passes the
# gateway its port in KINFER_GATEWAY_PORT, not on its command line: it is found by this run's jobs state directory.
gc() {
  local pid
  pid=$(pgrep -f "$1" | head -1) && jcmd "$pid" GC.run > /dev/null 2>&1 || true
}
sample() {
  local t="$1"
  for target in "gateway $gateway/metrics kinfer_client_inflight kinfer.jar.gateway.*$out/data/jobs" \
                "worker-1 http://127.0.0.1:19701/metrics kinfer_requests_inflight kinfer.jar.worker.*--metrics-port.19701" \
                "worker-2 http://127.0.0.1:19702/metrics kinfer_requests_inflight kinfer.jar.worker.*--metrics-port.19702"; do
    set -- $target
    gc "$4"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$1" \
      "$(metric "$2" 'jvm_gc_live_data_size_bytes')" "$(metric "$2" 'jvm_threads_live_threads')" \
      "$(metric "$2" 'process_files_open_files')" "$(metric "$2" "$3")" >> "$out/samples.tsv"
  done
}

printf 'seconds\tprocess\tlive_heap_after_gc_bytes\tthreads\topen_fds\tinflight\n' > "$out/samples.tsv"
duration="${minutes}m"
# Mixed load: single texts at a steady Poisson rate, batches of 5, and OIP calls, all at once.
k perf run --url $gateway --rate 40 --duration "$duration" --warmup 0s --json "$out/single.json" > "$out/single.log" 2>&1 &
p1=$!
k perf run --url $gateway --rate 4 --batch 5 --duration "$duration" --warmup 0s --json "$out/batch.json" > "$out/batch.log" 2>&1 &
p2=$!
k perf run --url $gateway --target oip --users 2 --duration "$duration" --warmup 0s --json "$out/oip.json" > "$out/oip.log" 2>&1 &
p3=$!
start=$(date +%s)
while kill -0 $p1 2>/dev/null; do
  sample $(( $(date +%s) - start ))
  sleep 30
done
for p in $p1 $p2 $p3; do # a load above --max-failure-rate (1 %) or with no answer exits 1: said, not hidden
  wait "$p" || echo "a load (pid $p) exited $?: see $out/single.log, batch.log and oip.log" | tee -a "$out/samples.txt"
done
sleep 10
sample "$(( $(date +%s) - start ))-after"

column -t "$out/samples.tsv" | tee "$out/samples.txt"
grep -hE "^\| (rate|users)" "$out"/single.log "$out"/batch.log "$out"/oip.log | tee -a "$out/samples.txt"
half=$(( minutes * 30 ))
awk -F'\t' -v half="$half" '
  NR > 1 && $1 + 0 >= 60 && !($2 in first) { first[$2] = $0 }
  NR > 1 && $1 + 0 >= half && !($2 in mid) { mid[$2] = $0 }
  NR > 1 { last[$2] = $0 }
  END { for (p in last) { split(first[p], a, "\t"); split(mid[p], m, "\t"); split(last[p], b, "\t")
    printf "%-9s heap after GC %.1f / %.1f / %.1f MB, threads %d / %d / %d, fds %d / %d / %d, in flight at the end %d\n",
      p, a[3] / 1048576, m[3] / 1048576, b[3] / 1048576, a[4], m[4], b[4], a[5], m[5], b[5], b[6] } }' \
  "$out/samples.tsv" | sort | tee -a "$out/samples.txt"
echo "results in $out"
