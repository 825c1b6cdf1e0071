-- wrk script: POST /predict with the perf module's built-in corpus, each text made unique (the workers' result
-- cache must not answer); the summary counts non-2xx answers. A C load generator costs the shared cores far less than the
-- JVM one, so the worker keeps more of them:
--   wrk -t1 -c64 -d20s --latency -s perf/wrk-predict.lua http://127.0.0.1:8080
-- With KINFER_OIP=1 in the environment it posts Open Inference Protocol bodies to /v2/models/sentiment/infer.
-- The corpus is copied from perf/src/main/java/io/kinfer/perf/Corpus.java.
local texts = {
  "Great product.",
  "Terrible.",
  "I love this product",
  "Not worth the money.",
  "Works as described, fast shipping.",
  "The battery died after two days of light use.",
  "Absolutely fantastic, I would buy it again without a second thought.",
  "It is fine for the price, but the buttons feel cheap and the case scratches easily.",
  "Customer service never answered my emails, and the replacement part arrived broken.",
  "My kids use it every day and it still looks new after six months.",
  "Setup took five minutes and everything just worked, which is rare these days.",
  "The screen is bright, the speakers are loud, and the remote is easy to use.",
  "Do not buy this: it overheats, the fan is noisy, and the software crashes constantly.",
  "Good value overall.",
  "Meh.",
  "Arrived late and the box was damaged, but the item itself works perfectly well.",
  "The instructions were confusing and two screws were missing from the package, so I had to drive to the hardware store before I could even start assembling the shelf.",
  "After comparing a dozen similar models in the store, I chose this one for its quiet motor and long warranty, and so far it has been reliable through daily use in a busy kitchen.",
  "I wanted to like this blender, but it leaks from the base every single time, the lid does not seal properly, and the company's support team keeps sending me the same useless troubleshooting guide instead of a replacement.",
  "Five stars!",
  "The fabric is soft, the stitching is strong, and the color matches the photos exactly.",
  "Cheap plastic, flimsy hinges, and a smell that did not go away for a week.",
  "Honestly the best purchase I made this year; it saves me an hour every morning.",
  "It stopped charging after the first week and the seller refused a refund.",
  "Solid build quality, intuitive controls, and the app syncs without any trouble at all.",
  "The headphones sound great in quiet rooms, but the noise cancelling barely works on a train, the ear pads get uncomfortably warm after an hour, and the case is too bulky to carry.",
  "Perfect gift for my father, who has already recommended it to all of his friends.",
  "Returned it.",
  "Exactly what I needed for camping: light, waterproof, and surprisingly warm at night.",
  "The update made everything slower and removed the one feature I actually used.",
  "We have had this vacuum for three years now; it still picks up pet hair from carpets and hard floors alike, the filter is easy to clean, and replacement brushes are cheap.",
  "Works.",
  "Disappointing sound, tinny and distorted at anything above half volume.",
  "The chair is comfortable for long work days and the armrests adjust in every direction.",
  "Packaging was wasteful, but the coffee grinder itself is excellent and very consistent.",
  "I ordered the blue one and received a grey one, and the return label did not work.",
  "Lightweight, sturdy, and folds flat; it fits in the trunk of a small car with room to spare.",
  "Too small.",
  "This keyboard changed how I work: the keys are quiet, the layout is sensible, and the battery lasts for months between charges, which matters more than I expected.",
  "Nice design, poor execution.",
}
local n = 0
local run = tostring(os.time()) .. "-" .. tostring(math.random(1000000))
local oip = os.getenv("KINFER_OIP") == "1"
request = function()
  n = n + 1
  local text = texts[(n % #texts) + 1] .. " #" .. run .. "-" .. n
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
