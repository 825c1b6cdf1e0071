package io.kinfer.worker.batch;

/**
 * When to run the next batch: a small pure function of the queue's state and the time, after Triton's dynamic
 * batcher. Dispatch when a full batch is queued, when the oldest request has waited {@code max.queue.delay}, or
 * when waiting any longer would make the nearest deadline unreachable; otherwise wait exactly until the first of
 * those moments. No clock is read here, so tests pass the time in.
 */
public final class BatchPolicy {

    private BatchPolicy() {
    }

    /** The queue as the policy sees it. {@code earliestDeadlineNanos} is {@link Long#MAX_VALUE} for none. */
    public record QueueView(int queuedItems, long oldestArrivalNanos, long earliestDeadlineNanos) {
        public static final QueueView EMPTY = new QueueView(0, 0, Long.MAX_VALUE);
    }

    /** Dispatch now, wait this long (or until more work arrives), or sleep until work arrives. */
    public sealed interface Decision permits Dispatch, Wait, Idle {
    }

    public record Dispatch() implements Decision {
    }

    public record Wait(long nanos) implements Decision {
    }

    public record Idle() implements Decision {
    }

    /**
     * How long before the last moment that still meets the nearest deadline a batch is dispatched. Without it a
     * version with no estimate yet (just loaded) was woken at the deadline itself, where the request counts as
     * expired, and a batch thread woken a little late on a busy machine expired what it was woken to serve.
     */
    static final long DEADLINE_LEAD_NANOS = 2_000_000L;

    private static final Dispatch DISPATCH = new Dispatch();
    private static final Idle IDLE = new Idle();

    /**
     * @param expectedComputeNanos how long a batch is expected to take (a running average); a request whose
     *                             deadline is closer than that (plus {@link #DEADLINE_LEAD_NANOS}) is dispatched
     *                             without waiting for batch-mates
     */
    public static Decision decide(QueueView queue, long nowNanos, BatchSettings settings, long expectedComputeNanos) {
        if (queue.queuedItems() == 0) {
            return IDLE;
        }
        if (queue.queuedItems() >= settings.maxBatchSize()) {
            return DISPATCH;
        }
        long waitForDelay = queue.oldestArrivalNanos() + settings.maxQueueDelayNanos() - nowNanos;
        long waitForDeadline = queue.earliestDeadlineNanos() == Long.MAX_VALUE ? Long.MAX_VALUE
                : queue.earliestDeadlineNanos() - expectedComputeNanos - DEADLINE_LEAD_NANOS - nowNanos;
        long wait = Math.min(waitForDelay, waitForDeadline);
        return wait <= 0 ? DISPATCH : new Wait(wait);
    }
}
