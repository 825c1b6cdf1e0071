#!/usr/bin/env bash
# Reproduces the figures of docs/PERFORMANCE.md on this machine. Run it with nothing else busy:
#   perf/benchmark.sh [main|tuning|failover|all] [results-dir]
# main (~10 min): ceiling, Kafka floor, Kafka path, HTTP and OIP paths at saturation, the seed's scenarios,
#                 an open-loop sweep, and a profile.
# tuning (~8 min): pad-aware batching on/off, max queue delay 0 vs 2 ms, consumer vs share group throughput.
# failover (~3 min): SIGKILL one of two workers under open-loop load, consumer group vs share group.
# A load whose kinfer perf exits non-zero (more failures than --max-failure-rate, 1 % by default, or no answer) is
# logged as FAILED and the benchmark goes on; it exits 1 at the end, naming them. Every ceiling is measured by
# perf ceiling in a JVM of its own with the full JIT (a run asking for --ceiling gets one just before it).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
out="${2:-perf-results/$(date +%Y%m%d-%H%M%S)}"
source perf/lib.sh # $out made absolute, $jar, k (perf on C1 only, perf ceiling on C2), down
log() { printf '\n=== %s\n' "$*" | tee -a "$out/benchmark.log"; }

up() { # up <name> [kinfer up options...]
  local name="$1"; shift
  # java itself in the background (not the k function, whose subshell would take the SIGTERM of down())
  java -jar "$jar" up --fresh --data-dir "$out/data-$name" --models sentiment "$@" > "$out/up-$name.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 120); do
    grep -q "kinfer is up" "$out/up-$name.log" && return 0
    kill -0 "$up_pid" 2>/dev/null || { cat "$out/up-$name.log"; return 1; }
    sleep 1
  done
  return 1
}
failover_pids=()
stop_failover() { # gateway and workers first (they drain), then the broker; only this run's own processes
  local n=${#failover_pids[@]} i
  [ "$n" -gt 0 ] || return 0
  for ((i = n - 1; i >= 1; i--)); do kill -TERM "${failover_pids[$i]}" 2>/dev/null || true; done
  for ((i = n - 1; i >= 1; i--)); do wait "${failover_pids[$i]}" 2>/dev/null || true; done
  kill -TERM "${failover_pids[0]}" 2>/dev/null || true
  wait "${failover_pids[0]}" 2>/dev/null || true
  failover_pids=()
}
trap 'down; stop_failover; pkill -f "kinfer.jar (broker|worker|gateway) .*$out" 2>/dev/null || true' EXIT

warm() { k perf run --users 32 --duration 20s --warmup 0s --max-failure-rate 100 > /dev/null 2>&1; }
failed=()
run() { # run <name> <perf args...>: --ceiling is measured just before, by perf ceiling in a JVM of its own
  local name="$1"; shift
  local args=() arg rc
  for arg in "$@"; do
    if [ "$arg" = --ceiling ]; then # as long as the in-process ceiling took: half the duration plus 1 s, 3 s warm-up
      k perf ceiling --duration 11s --warmup 3s --json "$out/$name-ceiling.json" > /dev/null 2>>"$out/benchmark.log"
      args+=(--ceiling-from "$out/$name-ceiling.json")
    else
      args+=("$arg")
    fi
  done
  log "$name: kinfer perf ${args[*]}"
  set +e
  k perf "${args[@]}" --json "$out/$name.json" 2>>"$out/benchmark.log" | tee -a "$out/benchmark.log"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" != 0 ]; then
    failed+=("$name")
    log "FAILED $name: kinfer perf exited $rc (failures above --max-failure-rate, or no answer; see its table)"
  fi
}

if [[ "$what" == main || "$what" == all ]]; then
  log "environment: $(nproc) cpus, $(java -version 2>&1 | head -1), $(uname -srm), $(date -u +%FT%TZ)"
  up main --workers 1
  warm
  run ceiling ceiling --duration 20s
  run kafka-saturation run --target kafka --users 64 --duration 20s --ceiling
  run http-saturation run --target http --users 64 --duration 20s --ceiling
  run oip-saturation run --target oip --users 64 --duration 20s --ceiling
  run http-one-user run --target http --users 1 --duration 20s --ceiling
  run http-ten-users run --target http --users 10 --duration 20s
  run scenarios scenarios --duration 20s --ceiling --html "$out/scenarios.html"
  run scenarios-repeated-texts scenarios --duration 10s --warmup 3s --repeat-texts
  run open-loop run --sweep-rates 50,100,200,300,400 --duration 15s --html "$out/open-loop.html"
  run profile run --target kafka --users 64 --duration 20s --profile --out "$out"
  log "Kafka floor: EndToEndLatency, 10000 records of 200 bytes, acks=1"
  ./mvnw -B -q -f perf/kafka-floor/pom.xml dependency:build-classpath -Dmdep.outputFile="$out/kafka-tools.cp" >/dev/null
  java -cp "$(cat "$out/kafka-tools.cp")" org.apache.kafka.tools.EndToEndLatency 127.0.0.1:9092 kinfer.floor 10000 1 200 \
    2>/dev/null | tail -2 | tee -a "$out/benchmark.log"
  down
fi

if [[ "$what" == tuning || "$what" == all ]]; then
  for variant in "pad-aware:--set batch.pad.aware=true" "no-pad-aware:--set batch.pad.aware=false" \
                 "delay-0:--set batch.max.queue.delay.ms=0" "delay-2:--set batch.max.queue.delay.ms=2" \
                 "consumer-group:--set group.mode=consumer" "share-group:--set group.mode=share"; do
    name="${variant%%:*}"; opts="${variant#*:}"
    # shellcheck disable=SC2086
    up "$name" --workers 1 $opts
    warm
    run "tuning-$name-saturation" run --target kafka --users 64 --duration 20s
    run "tuning-$name-ten-users" run --target http --users 10 --duration 20s
    down
  done
fi

if [[ "$what" == failover || "$what" == all ]]; then
  for mode in consumer share; do
    log "failover, group.mode=$mode: 2 workers, 60 calls/s open loop, SIGKILL worker-1 15 s into the measurement"
    data="$out/data-failover-$mode"
    # java itself in the background, each PID kept: only this run's processes are signalled, never another
    # pipeline's worker-1 on the same machine (every kinfer up names its first worker so).
    java -jar "$jar" broker --port 9392 --controller-port 9393 --data-dir "$data" --fresh \
      > "$out/failover-$mode-broker.log" 2>&1 &
    failover_pids=("$!")
    until grep -q KAFKA_READY "$out/failover-$mode-broker.log"; do sleep 1; done
    for i in 1 2; do
      java -jar "$jar" worker --kafka 127.0.0.1:9392 --id "worker-$i" --models sentiment --metrics-port -1 \
        --set group.mode=$mode --set cache.enabled=false > "$out/failover-$mode-worker-$i.log" 2>&1 &
      failover_pids+=("$!")
    done
    worker1_pid="${failover_pids[1]}"
    java -jar "$jar" gateway --kafka 127.0.0.1:9392 --port 18580 > "$out/failover-$mode-gateway.log" 2>&1 &
    failover_pids+=("$!")
    until curl -sf localhost:18580/v2/models/sentiment/ready >/dev/null; do sleep 1; done
    until grep -q WORKER_READY "$out/failover-$mode-worker-2.log"; do sleep 1; done
    k perf run --url http://127.0.0.1:18580 --rate 60 --arrivals constant --duration 45s --warmup 5s \
      --json "$out/failover-$mode.json" --html "$out/failover-$mode.html" > "$out/failover-$mode-perf.log" 2>&1 &
    perf_pid=$!
    sleep 20
    kill -9 "$worker1_pid" || true
    log "worker-1 killed at $(date -u +%T)"
    rc=0; wait "$perf_pid" || rc=$?
    tail -8 "$out/failover-$mode-perf.log" | tee -a "$out/benchmark.log"
    # Failures are the point here (the calls in flight on the killed worker): reported, not a benchmark failure.
    log "failover, group.mode=$mode: kinfer perf exited $rc (1: failures above --max-failure-rate, expected here)"
    stop_failover
  done
fi
log "results in $out"
if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED loads (kinfer perf exited non-zero): ${failed[*]}"
  exit 1
fi
