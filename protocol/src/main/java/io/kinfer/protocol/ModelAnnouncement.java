package io.kinfer.protocol;

import java.util.List;
import java.util.Objects;

/**
 * A worker's statement about one model, on the compacted catalog topic {@link Topics#CATALOG} keyed by
 * {@code <model>/<worker>}: the versions it serves, repeated every announce interval as a heartbeat. A stopping
 * worker writes a tombstone (null value). Gateways read the topic to know which models exist (else 404), their
 * metadata, and which workers serve them.
 */
public record ModelAnnouncement(String model, String worker, long timestampMs, long intervalMs,
                                List<ModelMetadata> versions) {

    public ModelAnnouncement {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(worker, "worker");
        versions = List.copyOf(versions);
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
