-- wrk script: POST /predict with the perf module's built-in corpus, each text made unique (the workers' result
-- cache must not answer); the summary counts non-2xx answers. A C load generator costs the shared cores far less than the
-- JVM one, so the worker keeps more of them:
--   wrk -t1 -c64 -d20s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080
-- With KINFER_OIP=1 in the environment it posts Open Inference Protocol bodies to /v2/models/sentiment/infer.
-- The texts are the perf module's built-in corpus (the file below, read from the repository root; KINFER_TEXTS
-- names another file, one text per line).
local texts = {}
for line in io.lines(os.getenv("KINFER_TEXTS") or "perf/src/main/resources/io/kinfer/perf/corpus.txt") do
  if line:match("%S") then texts[#texts + 1] = line end
end
local n = 0
local run = tostring(os.time()) .. "-" .. tostring(math.random(1000000))
local oip = os.getenv("KINFER_OIP") == "1"
-- With KINFER_REPEAT=1 every call sends the corpus's first text unchanged: the workers' cache answers, so the
-- round trip is the transport alone (HTTP, two Kafka hops, the worker's intake and reply), no inference.
local repeat_text = os.getenv("KINFER_REPEAT") == "1"
request = function()
  n = n + 1
  local raw = repeat_text and texts[1] or (texts[(n % #texts) + 1] .. " #" .. run .. "-" .. n)
  local text = raw:gsub('\\', '\\\\'):gsub('"', '\\"')
  if oip then
    return wrk.format("POST", "/v2/models/sentiment/infer", {["Content-Type"] = "application/json"},
      '{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["' .. text .. '"]}]}')
  end
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, '{"text":"' .. text .. '"}')
end

done = function(summary, latency, requests)
  io.write(string.format("texts/s %.1f, P50 %.1f ms, P99 %.1f ms, non-2xx %d, socket errors %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
