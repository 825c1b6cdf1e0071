package io.kinfer.worker.batch;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

class RequestQueueTest {

    /** What the batcher passes while it does not know what a model call costs yet. */
    private static final double NO_ESTIMATE = -1;

    record Item(String name, long arrivalNanos, long deadlineNanos, int priority, int items, int length)
            implements BatchItem {
        static Item of(String name, long arrival, int length) {
            return new Item(name, arrival, Long.MAX_VALUE, 0, 1, length);
        }
    }

    @Test
    void takesInArrivalOrderUpToTheBatchSize() {
        RequestQueue<Item> queue = new RequestQueue<>(1);
        for (int i = 0; i < 5; i++) {
            queue.add(Item.of("r" + i, i, 10));
        }

        List<Item> batch = queue.takeBatch(3, false, NO_ESTIMATE);

        assertThat(batch).extracting(Item::name).containsExactly("r0", "r1", "r2");
        assertThat(queue.requests()).isEqualTo(2);
        assertThat(queue.items()).isEqualTo(2);
    }

    @Test
    void neverExceedsTheBatchSizeInRowsAndKeepsABigRequestForTheNextBatch() {
        RequestQueue<Item> queue = new RequestQueue<>(1);
        queue.add(new Item("two", 0, Long.MAX_VALUE, 0, 2, 5));
        queue.add(new Item("three", 1, Long.MAX_VALUE, 0, 3, 5));
        queue.add(new Item("one", 2, Long.MAX_VALUE, 0, 1, 5));

        List<Item> batch = queue.takeBatch(4, false, NO_ESTIMATE);

        assertThat(batch).extracting(Item::name).containsExactly("two");
        assertThat(batch.stream().mapToInt(Item::items).sum()).isLessThanOrEqualTo(4);
        assertThat(queue.takeBatch(4, false, NO_ESTIMATE)).extracting(Item::name).containsExactly("three", "one");
    }

    @Test
    void higherPriorityLevelsAreServedFirst() {
        RequestQueue<Item> queue = new RequestQueue<>(3);
        queue.add(new Item("low", 0, Long.MAX_VALUE, 0, 1, 5));
        queue.add(new Item("high", 1, Long.MAX_VALUE, 2, 1, 5));
        queue.add(new Item("mid", 2, Long.MAX_VALUE, 1, 1, 5));
        queue.add(new Item("above-max", 3, Long.MAX_VALUE, 99, 1, 5));

        assertThat(queue.takeBatch(2, false, NO_ESTIMATE)).extracting(Item::name).containsExactly("high", "above-max");
        assertThat(queue.takeBatch(1, false, NO_ESTIMATE)).extracting(Item::name).containsExactly("mid");
        assertThat(queue.takeBatch(1, false, NO_ESTIMATE)).extracting(Item::name).containsExactly("low");
    }

    /**
     * A batch of one high-priority request used to run alone while a backlog waited below it: a whole model call for
     * one row. The room it leaves is filled from the lower levels, highest first, in arrival order, as Triton does.
     */
    @Test
    void roomAHigherLevelLeavesIsFilledFromTheLowerOnes() {
        RequestQueue<Item> queue = new RequestQueue<>(3);
        for (int i = 0; i < 4; i++) {
            queue.add(new Item("low" + i, i, Long.MAX_VALUE, 0, 1, 5));
        }
        queue.add(new Item("mid", 10, Long.MAX_VALUE, 1, 1, 5));
        queue.add(new Item("high", 11, Long.MAX_VALUE, 2, 1, 5));

        assertThat(queue.takeBatch(4, false, NO_ESTIMATE)).extracting(Item::name)
                .containsExactly("high", "mid", "low0", "low1");
        assertThat(queue.requests()).isEqualTo(2);
        assertThat(queue.items()).isEqualTo(2);
        assertThat(queue.takeBatch(4, false, NO_ESTIMATE)).extracting(Item::name).containsExactly("low2", "low3");
    }

    /** Pad-aware, the lower levels give only rows within the batch's length span: none pads the batch wider. */
    @Test
    void padAwareFillsFromLowerLevelsOnlyWithinTheBatchsLengthSpan() {
        RequestQueue<Item> queue = new RequestQueue<>(2);
        queue.add(new Item("low-3", 0, Long.MAX_VALUE, 0, 1, 3));
        queue.add(new Item("low-50", 1, Long.MAX_VALUE, 0, 1, 50));
        queue.add(new Item("low-6", 2, Long.MAX_VALUE, 0, 1, 6));
        queue.add(new Item("high-4", 3, Long.MAX_VALUE, 1, 1, 4));
        queue.add(new Item("high-8", 4, Long.MAX_VALUE, 1, 1, 8));

        assertThat(queue.takeBatch(8, true, NO_ESTIMATE)).extracting(Item::name)
                .containsExactly("high-4", "high-8", "low-6");
        assertThat(queue.takeBatch(8, true, NO_ESTIMATE)).extracting(Item::name).containsExactly("low-3", "low-50");
    }

    @Test
    void padAwareSelectionGroupsSimilarLengthsAroundTheOldest() {
        // Oldest is short; queued behind it: long, short, long, short, long.
        RequestQueue<Item> queue = queueOfLengths(8, 120, 9, 118, 7, 121);

        List<Item> first = queue.takeBatch(3, true, NO_ESTIMATE);
        List<Item> second = queue.takeBatch(3, true, NO_ESTIMATE);

        assertThat(first).extracting(Item::name).containsExactly("r0", "r2", "r4");
        assertThat(second).extracting(Item::name).containsExactly("r1", "r3", "r5");
        assertThat(first.stream().mapToInt(Item::length).max().getAsInt()).isEqualTo(9);
    }

    @Test
    void padAwareSelectionIsPlainFifoWhenEverythingFits() {
        RequestQueue<Item> queue = new RequestQueue<>(1);
        queue.add(Item.of("a", 0, 100));
        queue.add(Item.of("b", 1, 3));

        assertThat(queue.takeBatch(4, true, NO_ESTIMATE)).extracting(Item::name).containsExactly("a", "b");
    }

    @Test
    void padAwareSplitsAMixedBatchThatFitsWhenTwoCallsCostLessThanThePadding() {
        // The oldest is long; three short texts and two more long ones queued behind it.
        RequestQueue<Item> queue = queueOfLengths(40, 5, 42, 6, 41, 5);
        // A call is worth 10 padded tokens: whole 10 + 6 × 42 = 262; split 10 + 3 × 6 + 10 + 3 × 42 = 164.

        List<Item> first = queue.takeBatch(8, true, 10);
        List<Item> second = queue.takeBatch(8, true, 10);

        assertThat(first).extracting(Item::name).containsExactly("r0", "r2", "r4");
        assertThat(second).extracting(Item::name).containsExactly("r1", "r3", "r5");
        assertThat(queue.isEmpty()).isTrue();
    }

    @Test
    void padAwareKeepsTheBatchWholeWhenACallCostsMoreThanThePaddingSaved() {
        RequestQueue<Item> queue = queueOfLengths(40, 5, 42, 6, 41, 5);
        // A call is worth 200 tokens: whole 200 + 252 = 452; the best split 200 + 18 + 200 + 126 = 544.

        assertThat(queue.takeBatch(8, true, 200)).extracting(Item::name)
                .containsExactly("r0", "r1", "r2", "r3", "r4", "r5");
    }

    @Test
    void aSplitThatSavesLittleIsNotWorthTheEstimatesNoise() {
        RequestQueue<Item> queue = new RequestQueue<>(1);
        queue.add(Item.of("long", 0, 20));
        queue.add(Item.of("short", 1, 14));
        // A call is worth 5 tokens: whole 5 + 2 × 20 = 45; split 5 + 14 + 5 + 20 = 44, under 3 % saved.

        assertThat(queue.takeBatch(8, true, 5)).extracting(Item::name).containsExactly("long", "short");
    }

    @Test
    void withoutPadAwareOrACostEstimateABatchThatFitsIsNeverSplit() {
        for (boolean padAware : new boolean[] {false, true}) {
            RequestQueue<Item> queue = queueOfLengths(40, 5, 42, 6);

            List<Item> batch = padAware ? queue.takeBatch(8, true, NO_ESTIMATE) : queue.takeBatch(8, false, 10);

            assertThat(batch).extracting(Item::name).containsExactly("r0", "r1", "r2", "r3");
        }
    }

    @Test
    void expiredRequestsAreRemovedNotBatched() {
        RequestQueue<Item> queue = new RequestQueue<>(1);
        queue.add(new Item("expired", 0, 50, 0, 1, 5));
        queue.add(new Item("alive", 1, 500, 0, 1, 5));

        List<Item> expired = queue.removeExpired(100);

        assertThat(expired).extracting(Item::name).containsExactly("expired");
        assertThat(queue.view()).isEqualTo(new BatchPolicy.QueueView(1, 1, 500));
        assertThat(queue.takeBatch(4, true, NO_ESTIMATE)).extracting(Item::name).containsExactly("alive");
    }

    /** A one-level queue of requests r0, r1, … arriving in that order, with these token lengths. */
    private static RequestQueue<Item> queueOfLengths(int... lengths) {
        RequestQueue<Item> queue = new RequestQueue<>(1);
        for (int i = 0; i < lengths.length; i++) {
            queue.add(Item.of("r" + i, i, lengths[i]));
        }
        return queue;
    }
}
