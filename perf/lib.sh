# Shared by the perf scripts: the results directory and a local one-worker pipeline to start and stop.
# Source it from the repository root after setting $out (the results directory; made absolute here).
mkdir -p "$out"
out="$(cd "$out" && pwd)"
jar="${KINFER_JAR:-distribution/target/kinfer.jar}" # KINFER_JAR: another build, for A/B runs
[ -f "$jar" ] || ./kinfer --version >/dev/null
# The load generator on the quick C1 compiler only: C2 compiling it took ~0.15 core from the pipeline under test
# (docs/PERFORMANCE.md); the pipeline's own processes keep the full JIT.
perf_java=(java -XX:TieredStopAtLevel=1) # for a load generator started otherwise (e.g. under taskset)
k() { if [ "$1" = perf ]; then "${perf_java[@]}" -jar "$jar" "$@"; else java -jar "$jar" "$@"; fi; }
up_pid=""
down() { [ -n "$up_pid" ] && kill -TERM "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true; up_pid=""; }
trap down EXIT
pipeline_up() { # pipeline_up <name> [kinfer up options...]: a fresh broker and one worker, JIT-warmed
  local name="$1"; shift
  java -jar "$jar" up --fresh --data-dir "$out/data" --models sentiment --workers 1 "$@" > "$out/up-$name.log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 120); do
    grep -q "kinfer is up" "$out/up-$name.log" && break
    kill -0 "$up_pid" 2>/dev/null || { cat "$out/up-$name.log"; return 1; }
    sleep 1
  done
  # JIT warm-up of the worker and of both paths through the gateway
  k perf run --target kafka --users 32 --duration 15s --warmup 0s > /dev/null 2>&1
  k perf run --target http --users 32 --duration 10s --warmup 0s > /dev/null 2>&1
}
