#!/usr/bin/env bash
# model.instances A/B on this machine: 1 instance (all threads on one batch) against N instances (the threads
# shared among them), alternating, each with a fresh one-worker pipeline: the Kafka path at 64 users with the
# ceiling of the same configuration, then 10 users. Run with nothing else busy (about 3 minutes per pair):
#   perf/instances.sh [results-dir] [N]        env REPEAT (pairs, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-perf-results/instances-$(date +%Y%m%d-%H%M%S)}"
n="${2:-2}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
jar="distribution/target/kinfer.jar"
[ -f "$jar" ] || ./kinfer --version >/dev/null
k() { java -jar "$jar" "$@"; }
up_pid=""
down() { [ -n "$up_pid" ] && kill -TERM "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true; up_pid=""; }
trap down EXIT
up() { # up <name> <instances>
  java -jar "$jar" up --fresh --data-dir "$out/data" --models sentiment --workers 1 --set "model.instances=$2" \
    > "$out/up-$1.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 120); do
    grep -q "kinfer is up" "$out/up-$1.log" && break
    kill -0 "$up_pid" 2>/dev/null || { cat "$out/up-$1.log"; return 1; }
    sleep 1
  done
  k perf run --target kafka --users 32 --duration 15s --warmup 0s > /dev/null 2>&1 # JIT warm-up
}
for pair in $(seq 1 "${REPEAT:-3}"); do
  for instances in 1 "$n"; do
    name="pair$pair-instances$instances"
    printf '\n=== %s\n' "$name" | tee -a "$out/instances.log"
    up "$name" "$instances"
    k perf run --target kafka --users 64 --duration 20s --ceiling --instances "$instances" \
      --json "$out/$name-64.json" 2>>"$out/instances.err" | tee -a "$out/instances.log"
    k perf run --target kafka --users 10 --duration 15s \
      --json "$out/$name-10.json" 2>>"$out/instances.err" | tee -a "$out/instances.log"
    down
  done
done
echo "results: $out"
