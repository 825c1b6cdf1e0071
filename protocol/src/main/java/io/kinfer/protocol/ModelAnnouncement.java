package io.kinfer.protocol;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A worker's statement about one model, on the compacted catalog topic {@link Topics#CATALOG} keyed by
 * {@code <model>/<worker>}: the versions it serves, repeated every announce interval as a heartbeat. A stopping
 * worker writes a tombstone (null value). Gateways read the topic to know which models exist (else 404), their
 * metadata, which workers serve them, and (from {@code stats}, running totals and current levels such as
 * {@code queue_depth}, {@code consumer_lag}, {@code batches_total}, {@code batch_rows_total}) how they are doing.
 */
public record ModelAnnouncement(String model, String worker, long timestampMs, long intervalMs,
                                List<ModelMetadata> versions, Map<String, Double> stats) {

    public ModelAnnouncement {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(worker, "worker");
        versions = List.copyOf(versions);
        stats = stats == null ? Map.of() : Map.copyOf(stats);
    }

    public ModelAnnouncement(String model, String worker, long timestampMs, long intervalMs,
                             List<ModelMetadata> versions) {
        this(model, worker, timestampMs, intervalMs, versions, Map.of());
    }

    public String key() {
        return key(model, worker);
    }

    public static String key(String model, String worker) {
        return model + "/" + worker;
    }

    /** Whether this heartbeat is still fresh: three intervals without one and the worker counts as gone. */
    public boolean aliveAt(long nowMs) {
        return nowMs - timestampMs <= 3 * intervalMs;
    }
}
