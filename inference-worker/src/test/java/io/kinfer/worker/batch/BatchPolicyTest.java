package io.kinfer.worker.batch;

import static org.assertj.core.api.Assertions.assertThat;

import io.kinfer.worker.batch.BatchPolicy.Dispatch;
import io.kinfer.worker.batch.BatchPolicy.Idle;
import io.kinfer.worker.batch.BatchPolicy.QueueView;
import io.kinfer.worker.batch.BatchPolicy.Wait;
import org.junit.jupiter.api.Test;

class BatchPolicyTest {

    private static final long MS = 1_000_000L;
    private final BatchSettings settings = new BatchSettings(8, 5 * MS, 100, 1, true, false);

    @Test
    void emptyQueueSleepsUntilWorkArrives() {
        assertThat(BatchPolicy.decide(QueueView.EMPTY, 0, settings, 0)).isInstanceOf(Idle.class);
    }

    @Test
    void dispatchesAFullBatchAtOnce() {
        QueueView full = new QueueView(8, 1_000 * MS, Long.MAX_VALUE);
        assertThat(BatchPolicy.decide(full, 1_000 * MS, settings, 0)).isInstanceOf(Dispatch.class);
    }

    @Test
    void waitsExactlyUntilTheOldestRequestHasWaitedMaxQueueDelay() {
        QueueView partial = new QueueView(3, 1_000 * MS, Long.MAX_VALUE);

        assertThat(BatchPolicy.decide(partial, 1_002 * MS, settings, 0)).isEqualTo(new Wait(3 * MS));
    }

    @Test
    void dispatchesWhenOldestRequestExceedsMaxDelay() {
        QueueView partial = new QueueView(3, 1_000 * MS, Long.MAX_VALUE);

        assertThat(BatchPolicy.decide(partial, 1_005 * MS, settings, 0)).isInstanceOf(Dispatch.class);
        assertThat(BatchPolicy.decide(partial, 1_009 * MS, settings, 0)).isInstanceOf(Dispatch.class);
    }

    @Test
    void zeroDelayDispatchesWhateverIsQueued() {
        BatchSettings noDelay = new BatchSettings(8, 0, 100, 1, true, false);
        QueueView one = new QueueView(1, 1_000 * MS, Long.MAX_VALUE);

        assertThat(BatchPolicy.decide(one, 1_000 * MS, noDelay, 0)).isInstanceOf(Dispatch.class);
    }

    @Test
    void doesNotWaitForBatchMatesWhenTheNearestDeadlineWouldBeMissed() {
        // Oldest arrived at 1000 ms (may wait until 1005); a deadline at 1008 with batches taking 3 ms must go by
        // 1005, and goes 2 ms (the lead) earlier, at 1003.
        QueueView queue = new QueueView(2, 1_000 * MS, 1_008 * MS);

        assertThat(BatchPolicy.decide(queue, 1_000 * MS, settings, 3 * MS)).isEqualTo(new Wait(3 * MS));
        assertThat(BatchPolicy.decide(queue, 1_003 * MS, settings, 3 * MS)).isInstanceOf(Dispatch.class);
    }

    /**
     * A version with no estimate of its batches yet (every new one, after a hot swap too) was woken at the deadline
     * itself, and the batch thread then expired the request it was woken to serve. It goes ahead of the deadline.
     */
    @Test
    void withNoEstimateYetARequestIsDispatchedAheadOfItsDeadlineNotAtIt() {
        BatchSettings longDelay = new BatchSettings(8, 1_000 * MS, 100, 1, true, false);
        QueueView one = new QueueView(1, 1_000 * MS, 1_050 * MS);

        assertThat(BatchPolicy.decide(one, 1_000 * MS, longDelay, 0)).isEqualTo(new Wait(48 * MS));
        assertThat(BatchPolicy.decide(one, 1_048 * MS, longDelay, 0)).isInstanceOf(Dispatch.class);
    }
}
