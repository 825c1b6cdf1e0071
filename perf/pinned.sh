#!/usr/bin/env bash
# The worker on cores of its own, as in any real deployment: the Kafka path at saturation against the raw-model
# ceiling on the same cores with the same ONNX Runtime thread count, while the broker and the load generator run on
# the other cores (taskset). What is left between the two is the pipeline's own cost inside the worker: polling,
# decoding, tokenizing, batching, replying, committing.
#   perf/pinned.sh [results-dir] [worker cpus] [onnx threads] [other cpus]
# Defaults fit a 2-core machine: the worker on cpu 1 with 1 thread, everything else on cpu 0. On 16 cores, e.g.:
#   perf/pinned.sh perf-results/pinned-16 0-1 2 2-15
# WORKER_OPTS adds worker flags (e.g. WORKER_OPTS="--set batch.pad.aware=false"); DURATION sets each load's length;
# PROFILE=1 records JFR on the worker during the Kafka run and prints its hottest methods; TARGET=http or oip
# measures through a gateway (on the other cpus) instead of the Kafka client. The ceiling runs with the full JIT, as
# the worker does (only the load generator is on C1); a run with failures is reported invalid, not as a ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-perf-results/pinned}"
worker_cpus="${2:-1}"
threads="${3:-1}"
other_cpus="${4:-0}"
duration="${DURATION:-20s}"
command -v taskset > /dev/null || { echo "pinned.sh needs taskset (util-linux)" >&2; exit 1; }
. perf/lib.sh # $out made absolute, $jar, perf_java (the load generator on C1 only); the trap below replaces its own
port=19892

taskset -c "$other_cpus" java -jar "$jar" broker --port $port --controller-port $((port + 1)) \
  --data-dir "$out/kafka" --fresh -p num.partitions=12 > "$out/broker.log" 2>&1 &
broker=$!
worker=""
gateway=""
target="${TARGET:-kafka}"
trap 'kill $gateway $worker $broker 2> /dev/null; wait 2> /dev/null || true' EXIT
until grep -q KAFKA_READY "$out/broker.log"; do kill -0 $broker; sleep 0.5; done

taskset -c "$worker_cpus" java -jar "$jar" worker --kafka 127.0.0.1:$port --models sentiment --metrics-port 19899 \
  --set topics.partitions=12 --set onnx.intra.op.threads="$threads" ${WORKER_OPTS:-} > "$out/worker.log" 2>&1 &
worker=$!
until grep -q WORKER_READY "$out/worker.log"; do kill -0 $worker; sleep 0.5; done
load=(--target kafka --kafka 127.0.0.1:$port)
if [ "$target" != kafka ]; then
  taskset -c "$other_cpus" java -jar "$jar" gateway --kafka 127.0.0.1:$port --port 18890 > "$out/gateway.log" 2>&1 &
  gateway=$!
  until grep -q GATEWAY_READY "$out/gateway.log"; do kill -0 $gateway; sleep 0.5; done
  until curl -sf http://127.0.0.1:18890/v2/models/sentiment/ready > /dev/null; do sleep 0.5; done
  load=(--target "$target" --url http://127.0.0.1:18890)
fi

# Ceiling and Kafka path alternate REPEAT times (default 3): on a shared machine the ceiling alone moves by +-15 %
# from one minute to the next, so each Kafka run is compared with the ceiling measured just before it, and the
# median of those ratios is the figure.
repeat="${REPEAT:-3}"
for i in $(seq "$repeat"); do
  echo "== [$i] ceiling: the raw model on cpus $worker_cpus, $threads thread(s), while the worker idles"
  taskset -c "$worker_cpus" java -jar "$jar" perf ceiling --threads "$threads" --duration "$duration" \
    --json "$out/ceiling-$i.json" | tee "$out/ceiling-$i.log"
  echo "== [$i] the $target path at saturation: worker on cpus $worker_cpus, the rest on cpus $other_cpus"
  taskset -c "$other_cpus" "${perf_java[@]}" -jar "$jar" perf run "${load[@]}" --users 64 \
    --duration "$duration" --json "$out/kafka-$i.json" ${PROFILE:+--profile --profile-pid $worker --out "$out"} \
    | tee "$out/kafka-$i.log" || echo "== [$i] kinfer perf exited non-zero: failures above --max-failure-rate (see above)"
done

python3 - "$out" "$repeat" <<'EOF'
import json, statistics, sys
out, repeat = sys.argv[1], int(sys.argv[2])
ratios = []
for i in range(1, repeat + 1):
    ceiling = json.load(open(f"{out}/ceiling-{i}.json"))["ceiling"]
    run = json.load(open(f"{out}/kafka-{i}.json"))["runs"][0]
    sizes = run["server"]["batch_sizes"]
    # texts per model call (Triton's count, as kinfer perf's tables): sizes counts texts (replies) per batch size
    calls = sum(v / int(k) for k, v in sizes.items())
    mean_batch = sum(sizes.values()) / calls if calls else 0
    # No data is null in kinfer perf's JSON (a load with no answer has no percentiles): shown as -, never 0.
    ms = lambda v: "-" if v is None else f"{v:.1f}"
    if run["failures"] == 0:
        ratio = run["items_per_second"] / ceiling["items_per_second"]
        ratios.append(ratio)
        verdict = f"ratio {100 * ratio:.1f} %"
    else:
        verdict = f"invalid ({run['failures']} failures)"
    print(f"[{i}] ceiling {ceiling['items_per_second']:.1f} texts/s (batch {ceiling['batch_size']}, "
          f"{ceiling.get('grouping') or 'arrival'} grouping: P50 {ms(ceiling['batch_latency']['p50'])} ms) | "
          f"{run['target']} path {run['items_per_second']:.1f} texts/s, {run['failures']} failures, mean batch "
          f"{mean_batch:.1f}, inference P50 {ms(run['server']['inference_ms']['p50'])} ms | {verdict}")
if ratios:
    print(f"median ratio {100 * statistics.median(ratios):.1f} % (valid runs: "
          f"{', '.join(f'{100 * r:.1f} %' for r in ratios)})")
else:
    print("no valid run: every run had failures")
EOF
