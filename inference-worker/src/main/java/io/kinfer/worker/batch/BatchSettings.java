package io.kinfer.worker.batch;

/**
 * A model version's batching policy, after Triton's dynamic batcher and instance groups.
 *
 * @param maxBatchSize       most rows in one model call
 * @param maxQueueDelayNanos wait for a fuller batch only while the oldest request has waited less than this
 * @param maxQueueSize       requests queued before the queue counts as full
 * @param priorityLevels     priority levels honoured (1: FIFO)
 * @param padAware           group texts of similar length when more than a batch is queued, and split a batch
 *                           that fits in two or more calls when padding it whole would cost more
 * @param rejectWhenFull     answer {@code overloaded} beyond maxQueueSize (else the consumer pauses fetching)
 * @param instances          batches computed at once, each on its own thread from the one queue
 */
public record BatchSettings(int maxBatchSize, long maxQueueDelayNanos, int maxQueueSize, int priorityLevels,
                            boolean padAware, boolean rejectWhenFull, int instances) {

    public BatchSettings {
        if (maxBatchSize < 1 || maxQueueDelayNanos < 0 || maxQueueSize < 1 || priorityLevels < 1 || instances < 1) {
            throw new IllegalArgumentException("invalid batch settings (max_batch_size, max_queue_size, "
                    + "priority_levels and instances must be at least 1, the delay not negative): max_batch_size="
                    + maxBatchSize + ", max_queue_delay_ns=" + maxQueueDelayNanos + ", max_queue_size=" + maxQueueSize
                    + ", priority_levels=" + priorityLevels + ", instances=" + instances);
        }
    }

    /** The same, with another bound on the rows of one call. */
    public BatchSettings withMaxBatchSize(int rows) {
        return new BatchSettings(rows, maxQueueDelayNanos, maxQueueSize, priorityLevels, padAware, rejectWhenFull,
                instances);
    }

    /** One instance: one batch at a time. */
    public BatchSettings(int maxBatchSize, long maxQueueDelayNanos, int maxQueueSize, int priorityLevels,
                         boolean padAware, boolean rejectWhenFull) {
        this(maxBatchSize, maxQueueDelayNanos, maxQueueSize, priorityLevels, padAware, rejectWhenFull, 1);
    }
}
