package io.kinfer.worker;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

import io.kinfer.config.LatencyBuckets;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.search.Search;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;

/**
 * The worker's meters, named after Micrometer's conventions and Triton's metrics: requests by model, version and
 * outcome; queue depth and time; compute time; batch size; cache hits; dead letters; consumer lag. Meters are
 * looked up once per model version and then only incremented on the hot path.
 */
public final class WorkerMetrics {

    public static final String SUCCESS = "success";

    private final MeterRegistry registry;
    private final ConcurrentHashMap<String, VersionMeters> versions = new ConcurrentHashMap<>();

    public WorkerMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    public MeterRegistry registry() {
        return registry;
    }

    public VersionMeters version(String model, String version) {
        return versions.computeIfAbsent(model + "\u0000" + version, key -> new VersionMeters(model, version));
    }

    /**
     * Removes every meter of a retired version: its counters, timers and gauges (which hold the version's batcher
     * strongly, so kept they would keep its closed model and buffers alive and export stale values).
     */
    public void removeVersion(String model, String version) {
        VersionMeters removed = versions.remove(model + "\u0000" + version);
        if (removed != null) {
            synchronized (removed) {
                removed.retired = true; // first: an outcome counted from here on registers nothing
            }
        }
        Search.in(registry).tag("model", model).tag("version", version).meters().forEach(registry::remove);
    }

    /** Requests answered before a version was chosen (undecodable records, unknown versions). */
    public void unroutedRequest(String model, String outcome) {
        Counter.builder("kinfer.requests").description("Requests answered, by outcome (success or error code)")
                .tags("model", model, "version", "none", "outcome", outcome)
                .register(registry).increment();
    }

    public void deadLetter(String model, String reason) {
        Counter.builder("kinfer.dlq.records").description("Records written to the dead-letter topic, by reason")
                .tags("model", model, "reason", reason).register(registry).increment();
    }

    /**
     * A record given up unanswered: neither its reply nor its dead letter could be written, after every try it was
     * allowed, so its offset is committed for the records after it to be served. The one outcome that loses a
     * request: alert on any.
     */
    public void givenUp(String model) {
        Counter.builder("kinfer.records.given.up")
                .description("Records given up unanswered: neither reply nor dead letter could be written")
                .tags("model", model).register(registry).increment();
    }

    public void replyFailed(String model) {
        Counter.builder("kinfer.replies.failed")
                .description("Replies and dead letters Kafka did not acknowledge (left uncommitted for redelivery)")
                .tags("model", model).register(registry).increment();
    }

    public void gauge(String name, String description, Tags tags, Supplier<Number> value) {
        // A gauge of this id left by an earlier runtime (a version rolled back to while its old runtime retires)
        // would be returned as is, still reading, and holding, the old one: replaced.
        Gauge existing = registry.find(name).tags(tags).gauge();
        if (existing != null) {
            registry.remove(existing);
        }
        Gauge.builder(name, value).description(description).tags(tags).strongReference(true).register(registry);
    }

    /** The meters of one model version. */
    public final class VersionMeters {
        private final Tags tags;
        private final ConcurrentHashMap<String, Counter> outcomes = new ConcurrentHashMap<>();
        private final Timer queueTime;
        private final Timer inferenceTime;
        private final DistributionSummary batchSize;
        private final Counter cacheHits;
        private final Counter cacheMisses;

        /** Set when the version's meters are removed (it retired). Guarded by this. */
        private boolean retired;

        private VersionMeters(String model, String version) {
            this.tags = Tags.of("model", model, "version", version);
            this.queueTime = Timer.builder("kinfer.queue.time")
                    .description("From the worker receiving a request to its batch starting")
                    .tags(tags).serviceLevelObjectives(LatencyBuckets.bounds())
                    .register(registry);
            this.inferenceTime = Timer.builder("kinfer.inference.time")
                    .description("One batch: padding, the ONNX Runtime call and post-processing")
                    .tags(tags).serviceLevelObjectives(LatencyBuckets.bounds())
                    .register(registry);
            this.batchSize = DistributionSummary.builder("kinfer.batch.size")
                    .description("Rows per model call").tags(tags)
                    .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
                    .register(registry);
            this.cacheHits = Counter.builder("kinfer.cache.requests").description("Result cache lookups")
                    .tags(tags).tag("result", "hit").register(registry);
            this.cacheMisses = Counter.builder("kinfer.cache.requests").description("Result cache lookups")
                    .tags(tags).tag("result", "miss").register(registry);
        }

        public Tags tags() {
            return tags;
        }

        public void outcome(String outcome) {
            // Counted when Kafka acknowledges a reply, which may come after the version retired: registered then,
            // its counter would stay exported, a series of a version long gone.
            Counter counter = outcomes.get(outcome);
            if (counter == null) {
                // Registered under the lock that retiring takes: never after the version's meters were removed.
                synchronized (this) {
                    if (retired) {
                        return;
                    }
                    counter = outcomes.computeIfAbsent(outcome, o -> Counter.builder("kinfer.requests")
                            .description("Requests answered, by outcome (success or error code)")
                            .tags(tags).tag("outcome", o).register(registry));
                }
            }
            counter.increment(); // on a counter removed with its version: counts nowhere, as intended
        }

        public void queued(long nanos) {
            queueTime.record(Duration.ofNanos(nanos));
        }

        public void batch(int rows, long nanos) {
            batchSize.record(rows);
            inferenceTime.record(Duration.ofNanos(nanos));
        }

        public void cache(boolean hit) {
            (hit ? cacheHits : cacheMisses).increment();
        }

        public long batches() {
            return batchSize.count();
        }

        /** Running totals for the catalog announcements (the gateway's status page turns them into rates). */
        public void addTotals(Map<String, Double> totals) {
            totals.merge("requests_total", outcomes.values().stream().mapToDouble(Counter::count).sum(), Double::sum);
            totals.merge("batches_total", (double) batchSize.count(), Double::sum);
            totals.merge("batch_rows_total", batchSize.totalAmount(), Double::sum);
            totals.merge("inference_seconds_total", inferenceTime.totalTime(TimeUnit.SECONDS), Double::sum);
            totals.merge("queue_seconds_total", queueTime.totalTime(TimeUnit.SECONDS), Double::sum);
            totals.merge("queued_total", (double) queueTime.count(), Double::sum);
            totals.merge("cache_hits_total", cacheHits.count(), Double::sum);
        }

        public double maxBatch() {
            return batchSize.max();
        }
    }
}
