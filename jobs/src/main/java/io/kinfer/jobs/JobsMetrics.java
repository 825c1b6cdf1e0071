package io.kinfer.jobs;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.kafka.streams.processor.TaskId;

/**
 * The jobs meters. The store size is what each task's RocksDB estimates for its job store, refreshed at every
 * expiry scan, so a scrape reads a number and never touches a store.
 */
final class JobsMetrics {

    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();
    private final Counter submitted;
    private final Counter completed;
    private final Counter expired;
    private final Counter replaced;
    private final Map<String, Counter> dropped = new ConcurrentHashMap<>();
    private final Map<String, Counter> queries = new ConcurrentHashMap<>();
    private final Map<TaskId, Long> storeSizes = new ConcurrentHashMap<>();

    JobsMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.submitted = keep(Counter.builder("kinfer.jobs.submitted")
                .description("Jobs accepted by this instance (POST /v1/jobs answered 202)").register(registry));
        this.completed = keep(Counter.builder("kinfer.jobs.completed")
                .description("Jobs whose last item arrived, counted by the instance holding the job")
                .register(registry));
        this.expired = keep(Counter.builder("kinfer.jobs.expired")
                .description("Jobs deleted after their retention, counted by the instance holding the job")
                .register(registry));
        this.replaced = keep(Counter.builder("kinfer.jobs.items.replaced")
                .description("Items whose 'unavailable' stand-in (a send the gateway saw fail) a worker's real answer"
                        + " replaced, the send having reached Kafka after all")
                .register(registry));
        keep(Gauge.builder("kinfer.jobs.store.size", storeSizes,
                        sizes -> sizes.values().stream().mapToLong(Long::longValue).sum())
                .description("Jobs held in this instance's stores (RocksDB's estimate, refreshed every expiry scan)")
                .register(registry));
    }

    private <M extends Meter> M keep(M meter) {
        synchronized (meters) {
            meters.add(meter);
        }
        return meter;
    }

    void submitted() {
        submitted.increment();
    }

    void completed() {
        completed.increment();
    }

    void expired() {
        expired.increment();
    }

    void replaced() {
        replaced.increment();
    }

    /** Records dropped by the topology, by reason: bad_job, bad_result, duplicate, expired, too_large. */
    void dropped(String reason) {
        dropped.computeIfAbsent(reason, r -> keep(Counter.builder("kinfer.jobs.records.dropped")
                .description("Records the jobs topology ignored, by reason").tag("reason", r)
                .register(registry))).increment();
    }

    /** GET /v1/jobs answered from this instance's store ({@code local}) or forwarded ({@code remote}). */
    void query(String where) {
        queries.computeIfAbsent(where, w -> keep(Counter.builder("kinfer.jobs.queries")
                .description("Job queries, answered from the local store or forwarded to the instance holding the job")
                .tag("where", w).register(registry))).increment();
    }

    double queries(String where) {
        Counter counter = queries.get(where);
        return counter == null ? 0 : counter.count();
    }

    void storeSize(TaskId task, long entries) {
        storeSizes.put(task, entries);
    }

    void removeTask(TaskId task) {
        if (task != null) {
            storeSizes.remove(task);
        }
    }

    /** Unregisters every meter, so a service started again on the same registry starts from fresh meters. */
    void close() {
        synchronized (meters) {
            meters.forEach(registry::remove);
            meters.clear();
        }
    }
}
