package io.kinfer.worker.batch;

/** What the batcher needs to know about a queued request. Times are {@link System#nanoTime()} values. */
public interface BatchItem {

    /** When the worker received it: the age that {@code max.queue.delay} is measured against. */
    long arrivalNanos();

    /** When its caller stops waiting, or {@link Long#MAX_VALUE} for never. */
    long deadlineNanos();

    /** Higher is served first. */
    int priority();

    /** Rows it adds to a batch. */
    int items();

    /** Padded cost per row (token length); 0 when padding does not apply. */
    int length();
}
