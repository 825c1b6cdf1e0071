package io.kinfer.worker.model;

/**
 * A request validated against one model version and turned into model-ready form (texts tokenized, tensors
 * checked) before it is queued, so the batch thread only pads, runs and splits. Decoding and tokenizing happen on
 * the consumer thread while the previous batch computes.
 */
public interface PreparedRequest {

    /** Rows this request adds to a batch. */
    int items();

    /** Its padded cost per row: the longest token sequence for text, 0 for tensors. Drives pad-aware grouping. */
    int length();

    /** What identifies its result for the cache, or null when it must not be cached. */
    Object cacheKey();
}
