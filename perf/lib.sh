# Shared by the perf scripts: the results directory and a local one-worker pipeline to start and stop.
# Source it from the repository root after setting $out (the results directory; made absolute here).
mkdir -p "$out"
out="$(cd "$out" && pwd)"
jar="${KINFER_JAR:-distribution/target/kinfer.jar}" # KINFER_JAR: another build, for A/B runs
[ -f "$jar" ] || ./kinfer --version >/dev/null
# The load generator on the quick C1 compiler only: C2 compiling it took ~0.15 core from the pipeline under test
# (docs/PERFORMANCE.md); the pipeline's own processes keep the full JIT. So does `perf ceiling`, always in a JVM of
# its own: the raw model it measures is compared with workers that run C2 (tokenizing, batching and the ONNX Runtime
# calls' Java side), so it must not run under C1. A load that wants a ratio to the ceiling measures it with
# `k perf ceiling --json F` first and passes `--ceiling-from F` to `k perf run`, never `--ceiling` (that would
# measure it inside the C1-only load generator).
perf_java=(java -XX:TieredStopAtLevel=1) # for a load generator started otherwise (e.g. under taskset)
k() {
  if [ "$1" = perf ] && [ "${2:-}" != ceiling ]; then "${perf_java[@]}" -jar "$jar" "$@"; else java -jar "$jar" "$@"; fi
}
# wrk with an explicit timeout: its default (2 s) drops slower answers from its latency and counts them as socket
# errors; 30 s is the gateway's default call timeout, so a stall shows in wrk's P99 instead of vanishing.
wrk_timeout="${WRK_TIMEOUT:-30s}"
wrk_run() { wrk --timeout "$wrk_timeout" "$@"; }
# wrk_errors <wrk-predict.lua summary line>: non-2xx answers plus socket errors (connect, read, write, timeout);
# "?" when the line is missing (wrk failed). wrk folds non-2xx answers into its latency and its texts/s ignores
# what timed out, so a run with any error measured something else than the pipeline serving: not a verdict.
wrk_errors() {
  local n
  n=$(sed -n 's/.*non-2xx \([0-9]*\), socket errors \([0-9]*\).*/\1 \2/p' <<< "$1" | awk '{ print $1 + $2 }')
  echo "${n:-?}"
}
# wrk_invalid <line>: "invalid (N errors)" for a run with errors, nothing for a clean one.
wrk_invalid() {
  local e
  e=$(wrk_errors "$1")
  case "$e" in
    0) ;;
    "?") echo "invalid (no wrk result)" ;;
    *) echo "invalid ($e errors)" ;;
  esac
}
up_pid=""
down() { [ -n "$up_pid" ] && kill -TERM "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true; up_pid=""; }
trap down EXIT
pipeline_up() { # pipeline_up <name> [kinfer up options...]: a fresh broker and one worker, JIT-warmed; 1 if not up
  local name="$1"; shift
  java -jar "$jar" up --fresh --data-dir "$out/data" --models sentiment --workers 1 "$@" > "$out/up-$name.log" 2>&1 &
  up_pid=$!
  local ready=""
  for _ in $(seq 1 120); do
    grep -q "kinfer is up" "$out/up-$name.log" && { ready=1; break; }
    kill -0 "$up_pid" 2>/dev/null || { cat "$out/up-$name.log"; up_pid=""; return 1; }
    sleep 1
  done
  if [ -z "$ready" ]; then
    echo "pipeline_up $name: no \"kinfer is up\" in $out/up-$name.log after 120 s; stopping it" >&2
    tail -20 "$out/up-$name.log" >&2
    down
    return 1
  fi
  # JIT warm-up of the worker and of both paths through the gateway; failures are allowed (--max-failure-rate
  # 100), a warm-up with no answer at all is not.
  k perf run --target kafka --users 32 --duration 15s --warmup 0s --max-failure-rate 100 > /dev/null 2>&1 &&
    k perf run --target http --users 32 --duration 10s --warmup 0s --max-failure-rate 100 > /dev/null 2>&1 ||
    { echo "pipeline_up $name: the warm-up load got no answer" >&2; down; return 1; }
}
