-- wrk script: POST /predict with the perf module's built-in corpus, each text made unique (the workers' result
-- cache must not answer); the summary counts non-2xx answers. A C load generator costs the shared cores far less than the
-- JVM one, so the worker keeps more of them:
--   wrk -t1 -c64 -d20s --timeout 30s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080
-- Give --timeout (30 s: the gateway's default call timeout): wrk's default of 2 s drops slower answers from its
-- latency, counting them only as socket errors. A run with any non-2xx answer or socket error is no measure of the
-- pipeline (wrk's percentiles include the non-2xx answers); perf/lib.sh's wrk_invalid marks such runs "invalid".
-- With KINFER_OIP=1 in the environment it posts Open Inference Protocol bodies to /v2/models/sentiment/infer.
-- The texts are the perf module's built-in corpus (the file below, read from the repository root; KINFER_TEXTS
-- names another file, one text per line).
local resources = "perf/src/main/resources/io/kinfer/perf/"
local texts = {}
for line in io.lines(os.getenv("KINFER_TEXTS") or (resources .. "corpus.txt")) do
  if line:match("%S") then texts[#texts + 1] = line end
end
-- Unique texts as kinfer perf makes them (Corpus.java): the line, then a number written as eight base-64 digits,
-- each one of 64 words that are each one whole token of the shipped tokenizer. Every text thus has exactly eight
-- tokens more than its line, whatever the run and the call, so wrk and kinfer perf send the same workload.
local words = {}
for line in io.lines(resources .. "suffix-words.txt") do
  if line:match("%S") then words[#words + 1] = line:match("^%s*(.-)%s*$") end
end
assert(#words == 64, "suffix-words.txt must hold 64 words")
local SPACE = 2 ^ 48 -- exact in a double; numbers wrap inside it
local digits = {}
local function suffix(number)
  number = number % SPACE
  for i = 1, 8 do
    local d = number % 64
    digits[i] = words[d + 1]
    number = (number - d) / 64
  end
  return " " .. table.concat(digits, " ")
end

-- Each wrk thread runs this script in a Lua state of its own, where LuaJIT's math.random starts from the same
-- fixed seed: unseeded, -tN threads would all send the same texts. So each thread draws its own random start in
-- the 48-bit space in init() (from /dev/urandom; failing that, math.random seeded with the clock and the thread's
-- number from setup()), and numbers its calls from there.
local start = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("kinfer_thread", threads)
end

function init(args)
  local urandom = io.open("/dev/urandom", "rb")
  local bytes = urandom and urandom:read(6)
  if urandom then urandom:close() end
  if bytes and #bytes == 6 then
    for i = 1, 6 do start = start * 256 + bytes:byte(i) end
  else
    math.randomseed(os.time() * 1000 + (kinfer_thread or 0) * 7919 + math.floor(os.clock() * 1e6))
    start = math.floor(math.random() * SPACE)
  end
end

local n = 0
local oip = os.getenv("KINFER_OIP") == "1"
-- With KINFER_REPEAT=1 every call sends the corpus's first text unchanged: the workers' cache answers, so the
-- round trip is the transport alone (HTTP, two Kafka hops, the worker's intake and reply), no inference.
local repeat_text = os.getenv("KINFER_REPEAT") == "1"
request = function()
  local raw = texts[1]
  if not repeat_text then
    raw = texts[(n % #texts) + 1] .. suffix(start + n)
    n = n + 1
  end
  local text = raw:gsub('\\', '\\\\'):gsub('"', '\\"')
  if oip then
    return wrk.format("POST", "/v2/models/sentiment/infer", {["Content-Type"] = "application/json"},
      '{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["' .. text .. '"]}]}')
  end
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, '{"text":"' .. text .. '"}')
end

-- texts/s is what was served: 2xx answers only (summary.requests counts every answer, errors.status the non-2xx
-- among them), as kinfer perf counts req/s.
done = function(summary, latency, requests)
  io.write(string.format("texts/s %.1f, P50 %.1f ms, P99 %.1f ms, non-2xx %d, socket errors %d\n",
    (summary.requests - summary.errors.status) / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
