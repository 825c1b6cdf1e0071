package io.kinfer.worker.batch;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dynamic batcher of one model version: one thread per model instance (Triton's {@code instance_group}
 * count), each waiting as {@link BatchPolicy} says, taking a batch from the one shared {@link RequestQueue} and
 * handing it to the {@link Runner}; an instance that is free takes the next batch while the others compute.
 * Producers enqueue under a short lock and signal after it. Requests whose deadline passed are handed to the
 * runner's {@code expired} instead of being computed. Each batch's time also teaches {@link RunCost} what a model
 * call costs, which pad-aware selection uses to decide whether splitting a mixed-length batch pays.
 */
public final class Batcher<T extends BatchItem> implements AutoCloseable {

    /** Runs on the batcher's threads, as many batches at once as there are instances. */
    public interface Runner<T> {
        /** Computes a batch and replies to each request in it. Must not throw; must be thread-safe. */
        void run(List<T> batch);

        /** Answers requests whose deadline passed before they were computed. Must not throw. */
        void expired(List<T> requests);

        /** Answers, with an error, requests a batch thread dropped when it failed itself. Must not throw. */
        void failed(List<T> requests);
    }

    private static final Logger log = LoggerFactory.getLogger(Batcher.class);

    private final String name;
    private final BatchSettings settings;
    private final LongSupplier clock;
    private final Runner<T> runner;
    private final RequestQueue<T> queue;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<Thread> threads = new ArrayList<>();
    /** Guarded by the lock; learns from every batch, used by pad-aware splitting. */
    private final RunCost runCost = new RunCost();
    private volatile long expectedComputeNanos;
    /** Cleared for good once a batch thread met an error of its own (a bug, an OutOfMemoryError). */
    private volatile boolean alive = true;
    private boolean stopping;
    private long drainDeadlineNanos = Long.MAX_VALUE;
    private int running;

    public Batcher(String name, BatchSettings settings, LongSupplier clock, Runner<T> runner) {
        this.name = name;
        this.settings = settings;
        this.clock = clock;
        this.runner = runner;
        this.queue = new RequestQueue<>(settings.priorityLevels());
        for (int i = 0; i < settings.instances(); i++) {
            Thread thread = new Thread(this::loop, "kinfer-batcher-" + name + (settings.instances() > 1 ? "-" + i : ""));
            thread.setDaemon(true);
            threads.add(thread);
        }
    }

    public Batcher<T> start() {
        threads.forEach(Thread::start);
        return this;
    }

    public BatchSettings settings() {
        return settings;
    }

    /**
     * Enqueues requests (one signal for all of them, so a poll's records can batch together). Returns those that
     * did not fit when the settings say to reject beyond the queue size; they are not queued.
     */
    public List<T> enqueue(Collection<T> items) {
        List<T> rejected = List.of();
        lock.lock();
        try {
            if (stopping) {
                return new ArrayList<>(items);
            }
            for (T item : items) {
                if (settings.rejectWhenFull() && queue.requests() >= settings.maxQueueSize()) {
                    if (rejected.isEmpty()) {
                        rejected = new ArrayList<>();
                    }
                    rejected.add(item);
                } else {
                    queue.add(item);
                }
            }
            changed.signal();
        } finally {
            lock.unlock();
        }
        return rejected;
    }

    /** Requests waiting (not yet in a running batch). */
    public int queued() {
        lock.lock();
        try {
            return queue.requests();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether the consumer should pause fetching: the queue holds at least {@code max.queue.size} requests and the
     * policy is to pause. Under the reject policy never: {@link #enqueue} refuses what is beyond the size, and
     * pausing would keep those requests in Kafka instead of answering them {@code overloaded}.
     */
    public boolean full() {
        return !settings.rejectWhenFull() && queued() >= settings.maxQueueSize();
    }

    /** False once a batch thread failed in its own code; it answered what it held and serves on, but is suspect. */
    public boolean alive() {
        return alive;
    }

    /** Removes queued (not running) requests that match, for example those of a revoked partition. */
    public List<T> remove(Predicate<? super T> condition) {
        lock.lock();
        try {
            return queue.removeIf(condition);
        } finally {
            lock.unlock();
        }
    }

    /** Whether nothing is queued or running. */
    public boolean idle() {
        lock.lock();
        try {
            return queue.isEmpty() && running == 0;
        } finally {
            lock.unlock();
        }
    }

    /** What one model call costs in padded tokens, as learned so far ({@link RunCost}); NaN while unknown. */
    public double callCostTokens() {
        lock.lock();
        try {
            double tokens = runCost.overheadTokens();
            return tokens < 0 ? Double.NaN : tokens;
        } finally {
            lock.unlock();
        }
    }

    /** The running average time of a batch, which deadline-aware dispatch uses. */
    public long expectedComputeNanos() {
        return expectedComputeNanos;
    }

    /**
     * Stops taking new requests and keeps dispatching what is queued until the queue is empty or {@code timeout}
     * passes; returns what is still queued then (not computed, not answered).
     */
    public List<T> drain(long timeout, TimeUnit unit) throws InterruptedException {
        lock.lock();
        try {
            stopping = true;
            drainDeadlineNanos = clock.getAsLong() + unit.toNanos(timeout);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        long joinBy = System.nanoTime() + unit.toNanos(timeout) + TimeUnit.SECONDS.toNanos(1);
        for (Thread thread : threads) {
            thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(joinBy - System.nanoTime())));
        }
        lock.lock();
        try {
            return queue.removeIf(item -> true);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        try {
            drain(0, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void loop() {
        while (true) {
            // Taken from the queue and not yet handed to the runner; and how many requests `running` counts for
            // this thread.
            List<T> held = List.of();
            int counted = 0;
            try {
                List<T> batch = null;
                List<T> expired;
                lock.lock();
                try {
                    long now = clock.getAsLong();
                    expired = queue.removeExpired(now);
                    held = expired;
                    if (expired.isEmpty()) {
                        if (stopping && (queue.isEmpty() || now >= drainDeadlineNanos)) {
                            return;
                        }
                        BatchPolicy.Decision decision = BatchPolicy.decide(queue.view(), now, settings,
                                expectedComputeNanos);
                        if (decision instanceof BatchPolicy.Dispatch || (stopping && !queue.isEmpty())) {
                            batch = queue.takeBatch(settings.maxBatchSize(), settings.padAware(),
                                    runCost.overheadTokens());
                            held = batch;
                            running += batch.size();
                            counted = batch.size();
                            if (!queue.isEmpty()) {
                                changed.signal(); // what is left is another free instance's to take
                            }
                        } else if (decision instanceof BatchPolicy.Wait wait) {
                            changed.awaitNanos(wait.nanos());
                        } else {
                            changed.await();
                        }
                    }
                } finally {
                    lock.unlock();
                }
                if (!expired.isEmpty()) {
                    held = List.of();
                    safely(() -> runner.expired(expired));
                }
                if (batch != null && !batch.isEmpty()) {
                    List<T> toRun = batch;
                    held = List.of();
                    long started = clock.getAsLong();
                    safely(() -> runner.run(toRun));
                    long took = clock.getAsLong() - started;
                    // An exponential moving average: recent batches count most, one outlier little.
                    expectedComputeNanos = expectedComputeNanos == 0 ? took : (expectedComputeNanos * 7 + took) / 8;
                    long paddedTokens = paddedTokens(toRun);
                    lock.lock();
                    try {
                        running -= toRun.size();
                        counted = 0;
                        runCost.record(paddedTokens, took);
                    } finally {
                        lock.unlock();
                    }
                }
            } catch (Throwable e) { // an interrupt too: nothing here interrupts a batch thread
                failedItself(e, held, counted);
            }
        }
    }

    /**
     * A batch thread's own code threw (a bug, an OutOfMemoryError): the runner's failures never reach here. Before,
     * the thread ended silently and its queue was never served. Now every request it held and every one queued is
     * answered with an error (the queue's state may be what broke it: served again it could break it again, in a
     * tight loop), the batcher reports itself not live so that the worker is restarted, and the thread serves on.
     */
    private void failedItself(Throwable error, List<T> held, int counted) {
        alive = false;
        List<T> dropped = new ArrayList<>(held);
        lock.lock();
        try {
            running -= counted;
            dropped.addAll(queue.removeIf(item -> true));
        } finally {
            lock.unlock();
        }
        log.error("batcher {}: a batch thread failed; answering the {} request(s) it held or queued with an error "
                + "and reporting the worker not live", name, dropped.size(), error);
        if (!dropped.isEmpty()) {
            safely(() -> runner.failed(dropped));
        }
    }

    /** Rows times the longest row: what the batch costs once padded. */
    private static long paddedTokens(List<? extends BatchItem> batch) {
        long rows = 0;
        int longest = 0;
        for (BatchItem item : batch) {
            rows += item.items();
            longest = Math.max(longest, item.length());
        }
        return rows * longest;
    }

    private void safely(Runnable action) {
        try {
            action.run();
        } catch (Throwable e) {
            // The runner answers its own failures; this only keeps the thread alive if it did not.
            log.error("batcher {}: runner failed", name, e);
        }
    }
}
