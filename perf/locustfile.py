"""The seed's Locust load tests, against the kinfer gateway's HTTP API.

The same six scenarios as ``kinfer perf scenarios`` (which measures more precisely and adds the worker-side
breakdown); this file is for readers who know Locust, and for comparing kinfer with the seed's numbers measured the
same way. Only Locust is needed (Debian: ``apt-get install python3-locust``; or ``pip install locust``).

Start the pipeline (``./kinfer up``: the gateway on 127.0.0.1:8080), then run one scenario headless, e.g. ::

    locust -f perf/locustfile.py --headless -u 10 -r 10 -t 30s --host http://127.0.0.1:8080 --tags single

Each scenario is a tag plus a user count (users are closed loop: each sends its next call when the previous one
is answered, with no think time):

    ============  ==========================  ==========================================
    scenario      flags                       calls
    ============  ==========================  ==========================================
    single-user   -u 1 -r 1 --tags single     POST /predict {"text": ...}
    ten-users     -u 10 -r 10 --tags single   POST /predict {"text": ...}
    batch-5       -u 1 -r 1 --tags batch-5    POST /predict_batch {"texts": [5 texts]}
    batch-25      -u 1 -r 1 --tags batch-25   POST /predict_batch {"texts": [25 texts]}
    batch-50      -u 1 -r 1 --tags batch-50   POST /predict_batch {"texts": [50 texts]}
    stress        -u 100 -r 20 --tags stress  POST /predict {"text": ...}
    ============  ==========================  ==========================================

Without ``--tags`` every user mixes all four calls. Add ``--csv out/locust`` for the statistics as CSV, or leave
out ``--headless`` for the web UI on http://localhost:8089.

A non-200 answer is a failure whose name carries the status (``/predict (HTTP 429)``), so the latency of the
successes stays separate and each kind of error has its own row; a 200 whose body lacks the answer fails too.

Environment:

- ``KINFER_MODEL``: the ``model`` field of every call (default: the gateway's default model).
- ``KINFER_UNIQUE_TEXTS=1``: append a unique number to each text, written as eight words (as ``kinfer perf`` and
  ``perf/wrk-predict.lua`` do: eight tokens more per text, whatever the run). The workers answer repeated inputs
  from a cache (``cache.enabled``), so with the built-in sentences most answers soon come from it; unique texts
  measure the model on every call (or start kinfer with ``--set cache.enabled=false``).

One Locust process uses one core; for the stress scenario on a small machine the load generator can become the
bottleneck (watch its CPU, or run Locust with ``--processes``/workers on another machine).
"""

import itertools
import os
import random
import secrets

from locust import FastHttpUser, constant, tag, task

# The perf module's built-in corpus (the texts `kinfer perf` and perf/wrk-predict.lua send), one per line.
_CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src/main/resources/io/kinfer/perf/corpus.txt")
with open(_CORPUS, encoding="utf-8") as _file:
    TEXTS = [line.strip() for line in _file if line.strip()]

MODEL = os.environ.get("KINFER_MODEL") or None
UNIQUE = os.environ.get("KINFER_UNIQUE_TEXTS", "").lower() in ("1", "true", "yes")

# Unique texts as kinfer perf makes them (Corpus.java): the text, then a number written as eight base-64 digits,
# each one of 64 words that are each one whole token of the shipped tokenizer, so every text has exactly eight
# tokens more than its sentence, whatever the number (a plain "#123" suffix grows with the count).
with open(os.path.join(os.path.dirname(_CORPUS), "suffix-words.txt"), encoding="utf-8") as _file:
    _WORDS = [line.strip() for line in _file if line.strip()]
assert len(_WORDS) == 64, "suffix-words.txt must hold 64 words"
_SPACE = 1 << 48


def _restart_numbers():
    # A random start per process: a counter from 0 restarts in every run and every --processes worker, which would
    # send the texts of the last run (or of a sibling process) again and let the cache answer them.
    global _sequence
    _sequence = itertools.count(secrets.randbits(48))  # users are greenlets in one thread: no lock needed


_restart_numbers()
os.register_at_fork(after_in_child=_restart_numbers)


def _suffix(number):
    words = []
    for _ in range(8):
        number, digit = divmod(number, 64)
        words.append(_WORDS[digit])
    return " " + " ".join(words)


def _texts(count):
    # Sampling with replacement: a batch of 50 from 21 sentences, and a spread of lengths in every batch.
    texts = random.choices(TEXTS, k=count)
    if UNIQUE:
        texts = [text + _suffix(next(_sequence) % _SPACE) for text in texts]
    return texts


class KinferUser(FastHttpUser):
    """One closed-loop caller: sends, waits for the answer, sends again."""

    wait_time = constant(0)

    def _call(self, path, body, answered):
        if MODEL:
            body["model"] = MODEL
        with self.client.post(path, json=body, name=path, catch_response=True) as response:
            if response.status_code != 200:
                status = f"HTTP {response.status_code}" if response.status_code else "no response"
                response.request_meta["name"] = f"{path} ({status})"
                response.failure(f"{status}: {_error(response)}")
                return
            try:
                ok = answered(response.json())
            except ValueError:
                ok = False
            if not ok:
                response.failure(f"HTTP 200 without an answer: {(response.text or '')[:200]}")

    @tag("single", "stress")
    @task
    def predict(self):
        self._call("/predict", {"text": _texts(1)[0]}, lambda reply: "label" in reply or "embedding" in reply)

    def _predict_batch(self, count):
        self._call("/predict_batch", {"texts": _texts(count)},
                   lambda reply: len(reply.get("predictions") or []) == count)

    @tag("batch-5")
    @task
    def predict_batch_5(self):
        self._predict_batch(5)

    @tag("batch-25")
    @task
    def predict_batch_25(self):
        self._predict_batch(25)

    @tag("batch-50")
    @task
    def predict_batch_50(self):
        self._predict_batch(50)


def _error(response):
    """The gateway's error code and message ({"error", "code"}), or why there was none."""
    if not response.status_code:
        return str(getattr(response, "error", None) or "connection failed")
    try:
        body = response.json()
        return f"{body.get('code', '?')}: {body.get('error', '')}"[:200]
    except (ValueError, AttributeError):
        return (response.text or "")[:200]
