#!/usr/bin/env bash
# The gateway's /metrics size after the same 60 varied requests (every route; 200, 400, 404, 405, 413, 503 ...),
# on a fresh local pipeline: perf/metrics-size.sh [kinfer.jar]. Port 8080 must be free.
set -u
cd "$(dirname "$0")/.."
jar="${1:-distribution/target/kinfer.jar}"; work="$(mktemp -d)"
java -jar "$jar" up --fresh --data-dir "$work/data" --models sentiment --workers 1 > "$work/up.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do grep -q "kinfer is up" "$work/up.log" && break; sleep 1; done
grep -q "kinfer is up" "$work/up.log" || { echo "no \"kinfer is up\" after 120 s:" >&2; tail -20 "$work/up.log" >&2; exit 1; }
u=http://127.0.0.1:8080
c() { curl -s -o /dev/null "$@"; }
for i in 1 2 3; do
  c -X POST $u/predict -d '{"text":"great '$i'"}'; c -X POST $u/predict -d '{bad json'
  c -X POST $u/predict -d '{"text":"x","model":"nope"}'; c -X POST $u/predict -d '{"text":""}'
  c -X POST $u/predict_batch -d '{"texts":["a","b"]}'; c -X POST $u/predict_batch -d '{"texts":[]}'
  c -X POST $u/v2/models/sentiment/infer -d '{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["good"]}]}'
  c -X POST $u/v2/models/sentiment/infer -d '{"inputs":[]}'; c -X POST $u/v2/models/nope/infer -d '{}'
  c $u/v2/models/sentiment; c $u/v2/models/sentiment/ready; c $u/v2/models/nope; c $u/v2/health/live
  c $u/v2/health/ready; c $u/v2; c $u/nothing/here; c -X DELETE $u/predict; c -X PUT $u/v2/models/sentiment
  c -X POST $u/v1/jobs -d '{"texts":["a"]}'; c $u/v1/jobs/nope; c -I $u/v2/health/live
done
curl -s $u/metrics > "$work/metrics.txt"
echo "$(wc -c < "$work/metrics.txt") bytes, $(grep -c '^kinfer_http_requests_seconds_bucket' "$work/metrics.txt")" \
  "kinfer_http_requests_seconds_bucket lines, $(grep -c '^[a-z]' "$work/metrics.txt") samples"
