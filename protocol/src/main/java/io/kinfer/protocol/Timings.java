package io.kinfer.protocol;

/**
 * Where a request's time went in the worker: {@code queueMs} from the worker receiving the record to its batch
 * starting, {@code inferenceMs} for the whole batch (tokenize, model, post-process), the batch's size in items,
 * the worker's id, and whether the answer came from the result cache (then no batch ran).
 */
public record Timings(double queueMs, double inferenceMs, int batchSize, String worker, boolean cached) {
}
