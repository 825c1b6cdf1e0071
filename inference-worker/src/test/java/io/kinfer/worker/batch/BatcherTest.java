package io.kinfer.worker.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.kinfer.worker.batch.RequestQueueTest.Item;
import org.junit.jupiter.api.Test;

/** The batcher's thread with a runner that blocks on a latch: batches are observed, never timed. */
class BatcherTest {

    private static final class RecordingRunner implements Batcher.Runner<Item> {
        final List<List<String>> batches = new CopyOnWriteArrayList<>();
        final List<String> expired = new CopyOnWriteArrayList<>();
        final List<String> failed = new CopyOnWriteArrayList<>();
        volatile CountDownLatch gate = new CountDownLatch(0);
        final CountDownLatch firstStarted = new CountDownLatch(1);

        @Override
        public void run(List<Item> batch) {
            firstStarted.countDown();
            try {
                gate.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            batches.add(batch.stream().map(Item::name).toList());
        }

        @Override
        public void expired(List<Item> requests) {
            requests.forEach(r -> expired.add(r.name()));
        }

        @Override
        public void failed(List<Item> requests) {
            requests.forEach(r -> failed.add(r.name()));
        }
    }

    @Test
    void requestsQueuedWhileABatchComputesFormTheNextBatch() throws Exception {
        RecordingRunner runner = new RecordingRunner();
        runner.gate = new CountDownLatch(1);
        try (Batcher<Item> batcher = new Batcher<>("t", new BatchSettings(4, 0, 100, 1, false, false),
                System::nanoTime, runner).start()) {
            batcher.enqueue(List.of(Item.of("first", System.nanoTime(), 5)));
            assertThat(runner.firstStarted.await(10, TimeUnit.SECONDS)).isTrue();
            List<Item> more = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                more.add(Item.of("r" + i, System.nanoTime(), 5));
            }
            batcher.enqueue(more);
            runner.gate.countDown();

            await().atMost(Duration.ofSeconds(10)).until(() -> runner.batches.size() == 3);
        }
        assertThat(runner.batches).containsExactly(List.of("first"), List.of("r0", "r1", "r2", "r3"),
                List.of("r4", "r5"));
    }

    /**
     * A started batcher of one-request batches and a queue of 2 (rejecting beyond it or not), whose runner holds its
     * first request, already running, until {@code runner.gate} opens.
     */
    private static Batcher<Item> busy(RecordingRunner runner, boolean reject) {
        runner.gate = new CountDownLatch(1);
        Batcher<Item> batcher = new Batcher<>("t", new BatchSettings(1, 0, 2, 1, false, reject), System::nanoTime,
                runner).start();
        batcher.enqueue(List.of(Item.of("running", System.nanoTime(), 5)));
        await().until(() -> runner.firstStarted.getCount() == 0);
        return batcher;
    }

    @Test
    void rejectsBeyondTheQueueSizeWhenConfiguredTo() {
        RecordingRunner runner = new RecordingRunner();
        try (Batcher<Item> batcher = busy(runner, true)) {
            List<Item> rejected = batcher.enqueue(List.of(Item.of("q1", 1, 5), Item.of("q2", 2, 5), Item.of("q3", 3, 5)));

            assertThat(rejected).extracting(Item::name).containsExactly("q3");
            assertThat(batcher.queued()).isEqualTo(2);
            runner.gate.countDown();
        }
    }

    /**
     * Under the reject policy a full queue must not stop the consumer fetching: what is beyond it is answered
     * overloaded at once instead of waiting in Kafka. Under the pause policy it does.
     */
    @Test
    void onlyThePausePolicyAsksTheConsumerToStopFetchingWhenTheQueueIsFull() {
        for (boolean reject : new boolean[] {true, false}) {
            RecordingRunner runner = new RecordingRunner();
            try (Batcher<Item> batcher = busy(runner, reject)) {
                batcher.enqueue(List.of(Item.of("q1", 1, 5), Item.of("q2", 2, 5)));

                assertThat(batcher.queued()).isEqualTo(2);
                assertThat(batcher.full()).as("reject=%s", reject).isEqualTo(!reject);
                runner.gate.countDown();
            }
        }
    }

    /**
     * An error in the batcher's own code (here a request whose deadline cannot be read) used to end the batch
     * thread silently: nothing queued after it was ever served. Now what it held is answered through the runner,
     * the batcher reports itself not live, and later requests are computed.
     */
    @Test
    void aBatchThreadThatFailsInItsOwnCodeAnswersWhatItHeldReportsNotLiveAndServesOn() {
        List<String> ran = new CopyOnWriteArrayList<>();
        List<BatchItem> failed = new CopyOnWriteArrayList<>();
        Batcher.Runner<BatchItem> runner = new Batcher.Runner<>() {
            @Override
            public void run(List<BatchItem> batch) {
                batch.forEach(item -> ran.add(((Item) item).name()));
            }

            @Override
            public void expired(List<BatchItem> requests) {
            }

            @Override
            public void failed(List<BatchItem> requests) {
                failed.addAll(requests);
            }
        };
        BatchItem broken = new BatchItem() {
            private final long arrival = System.nanoTime();

            @Override
            public long arrivalNanos() {
                return arrival;
            }

            @Override
            public long deadlineNanos() {
                throw new AssertionError("a bug the batch thread meets");
            }

            @Override
            public int priority() {
                return 0;
            }

            @Override
            public int items() {
                return 1;
            }

            @Override
            public int length() {
                return 5;
            }
        };
        try (Batcher<BatchItem> batcher = new Batcher<>("t", new BatchSettings(4, 0, 100, 1, false, false),
                System::nanoTime, runner).start()) {
            assertThat(batcher.alive()).isTrue();
            batcher.enqueue(List.of(broken));
            await().atMost(Duration.ofSeconds(10)).until(() -> failed.contains(broken));
            assertThat(batcher.alive()).isFalse();

            batcher.enqueue(List.of(Item.of("after", System.nanoTime(), 5)));

            await().atMost(Duration.ofSeconds(10)).until(() -> ran.contains("after"));
            await().atMost(Duration.ofSeconds(10)).until(batcher::idle); // its count of running requests is right
        }
    }

    @Test
    void expiredRequestsAreAnsweredAndNeverComputed() {
        RecordingRunner runner = new RecordingRunner();
        try (Batcher<Item> batcher = new Batcher<>("t", new BatchSettings(4, 0, 100, 1, false, false),
                System::nanoTime, runner).start()) {
            long now = System.nanoTime();
            batcher.enqueue(List.of(new Item("late", now, now - 1, 0, 1, 5), Item.of("fine", now, 5)));

            await().atMost(Duration.ofSeconds(10)).until(() -> !runner.batches.isEmpty() && !runner.expired.isEmpty());
        }
        assertThat(runner.expired).containsExactly("late");
        assertThat(runner.batches).containsExactly(List.of("fine"));
    }

    @Test
    void drainFinishesWhatIsQueuedAndRefusesNewWork() throws Exception {
        RecordingRunner runner = new RecordingRunner();
        runner.gate = new CountDownLatch(1);
        Batcher<Item> batcher = new Batcher<>("t", new BatchSettings(2, TimeUnit.SECONDS.toNanos(60), 100, 1, false,
                false), System::nanoTime, runner).start();
        batcher.enqueue(List.of(Item.of("a", System.nanoTime(), 5), Item.of("b", System.nanoTime(), 5),
                Item.of("c", System.nanoTime(), 5)));
        runner.gate.countDown();

        List<Item> left = batcher.drain(30, TimeUnit.SECONDS);

        assertThat(left).isEmpty();
        assertThat(runner.batches).containsExactly(List.of("a", "b"), List.of("c"));
        assertThat(batcher.enqueue(List.of(Item.of("after", 0, 5)))).extracting(Item::name).containsExactly("after");
    }

    @Test
    void instancesComputeBatchesAtOnceFromTheOneQueue() throws Exception {
        // Each batch waits until two are running: with one instance the second never starts and this fails.
        CountDownLatch bothRunning = new CountDownLatch(2);
        List<List<String>> batches = new CopyOnWriteArrayList<>();
        List<Boolean> sawTheOther = new CopyOnWriteArrayList<>();
        Batcher.Runner<Item> runner = new Batcher.Runner<>() {
            @Override
            public void run(List<Item> batch) {
                bothRunning.countDown();
                try {
                    sawTheOther.add(bothRunning.await(30, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                batches.add(batch.stream().map(Item::name).toList());
            }

            @Override
            public void expired(List<Item> requests) {
            }

            @Override
            public void failed(List<Item> requests) {
            }
        };
        List<Item> items = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            items.add(Item.of("r" + i, System.nanoTime(), 5));
        }
        Batcher<Item> batcher = new Batcher<>("t", new BatchSettings(3, 0, 100, 1, false, false, 2),
                System::nanoTime, runner).start();
        batcher.enqueue(items);

        await().atMost(Duration.ofSeconds(30)).until(() -> batches.stream().mapToInt(List::size).sum() == 7);
        assertThat(batcher.drain(30, TimeUnit.SECONDS)).isEmpty();

        assertThat(sawTheOther).hasSizeGreaterThanOrEqualTo(2).first().isEqualTo(true);
        assertThat(sawTheOther.get(1)).isTrue();
        assertThat(batches).allSatisfy(batch -> assertThat(batch).hasSizeLessThanOrEqualTo(3));
        assertThat(batches.stream().flatMap(List::stream)).containsExactlyInAnyOrder(
                "r0", "r1", "r2", "r3", "r4", "r5", "r6");
        assertThat(batcher.idle()).isTrue();
    }

    @Test
    void learnsWhatACallCostsAndSplitsAMixedBatchByLength() throws Exception {
        // The batcher's clock is this counter and each batch advances it by what a model call would cost:
        // 1 ms plus 10 µs per padded token, so one call is worth 100 tokens. Nothing here depends on real time.
        AtomicLong clock = new AtomicLong();
        List<List<String>> batches = new CopyOnWriteArrayList<>();
        Batcher.Runner<Item> runner = new Batcher.Runner<>() {
            @Override
            public void run(List<Item> batch) {
                int longest = batch.stream().mapToInt(Item::length).max().orElse(0);
                clock.addAndGet(1_000_000 + 10_000L * batch.size() * longest);
                batches.add(batch.stream().map(Item::name).toList());
            }

            @Override
            public void expired(List<Item> requests) {
            }

            @Override
            public void failed(List<Item> requests) {
            }
        };
        try (Batcher<Item> batcher = new Batcher<>("t", new BatchSettings(8, 0, 100, 1, true, false),
                clock::get, runner).start()) {
            assertThat(batcher.callCostTokens()).isNaN();
            // Lone requests of varied lengths, one at a time: the batcher learns the cost from them.
            int[] lengths = {6, 50, 12, 200, 30, 120, 8, 64};
            for (int i = 0; i < 40; i++) {
                batcher.enqueue(List.of(Item.of("warm" + i, clock.get(), lengths[i % lengths.length])));
                int done = i + 1;
                await().atMost(Duration.ofSeconds(10)).until(() -> batches.size() == done);
            }
            assertThat(batcher.callCostTokens()).isCloseTo(100, within(0.5));
            batches.clear();
            // Three long and three short texts at once (one enqueue: the batcher sees them together).
            batcher.enqueue(List.of(Item.of("long0", clock.get(), 200), Item.of("short0", clock.get(), 5),
                    Item.of("long1", clock.get(), 190), Item.of("short1", clock.get(), 6),
                    Item.of("long2", clock.get(), 210), Item.of("short2", clock.get(), 5)));

            await().atMost(Duration.ofSeconds(10)).until(() -> batches.stream().mapToInt(List::size).sum() == 6);
        }
        // Whole: 100 + 6 × 210 tokens; split: 100 + 3 × 6 + 100 + 3 × 210. The oldest's run goes first.
        assertThat(batches).containsExactly(List.of("long0", "long1", "long2"),
                List.of("short0", "short1", "short2"));
    }
}
