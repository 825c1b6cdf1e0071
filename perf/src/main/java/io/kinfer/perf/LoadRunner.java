package io.kinfer.perf;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

import io.kinfer.protocol.Timings;
import org.HdrHistogram.Histogram;

/**
 * Generates one load against a {@link Target} and measures it.
 *
 * <p>Closed loop ({@code users}): each user sends its next call when the previous one is answered, as Locust
 * does. Open loop ({@code rate}): calls start at planned times (Poisson or evenly spaced) whether or not earlier
 * ones were answered, and each latency is measured from its planned start, so a stalled server cannot hide its
 * stall by slowing the generator down (no coordinated omission). The open loop also records how late each call
 * actually went out ({@link PerfReport.SendLag}): a generator that cannot keep up offers less than planned.
 *
 * <p>Latency covers calls answered successfully and calls that timed out, each timeout at its elapsed time (at
 * least the call timeout): a stall longer than the timeout must show in the tail, not vanish into a failure count.
 * Fast failures (an HTTP error status, a refused connection) are counted by kind and kept out of the latency, so
 * that a burst of instant 503s cannot pull the percentiles down.
 */
final class LoadRunner {

    /** How to load. For closed loop {@code rate} is 0; for open loop {@code users} is 0. */
    record Plan(String name, int users, double rate, boolean poisson, int batchSize, Duration warmup,
                Duration duration) {
        boolean open() {
            return rate > 0;
        }
    }

    /** Receives the live figures once a second; p99Ms is NaN for a second with no answer. */
    interface Progress {
        void update(Plan plan, double elapsedSeconds, double requestsPerSecond, double p99Ms, long failures,
                    boolean warmingUp);
    }

    private final Target target;
    private final Corpus corpus;
    private final Progress progress;
    private final Duration callTimeout;

    LoadRunner(Target target, Corpus corpus, Progress progress) {
        this(target, corpus, progress, Duration.ofSeconds(30));
    }

    /** callTimeout: the target's per-call timeout; calls of the window still unanswered after it count as timeouts. */
    LoadRunner(Target target, Corpus corpus, Progress progress, Duration callTimeout) {
        this.target = target;
        this.corpus = corpus;
        this.progress = progress;
        this.callTimeout = callTimeout;
    }

    /**
     * The shared state of one run: what the callbacks record into. A call belongs to the measured window when it
     * starts (or, open loop, is planned) inside it, however late it ends: the slowest calls are the ones still
     * running when the window closes, and dropping them would hide exactly the tail and the timeouts.
     */
    private static final class Measurement {
        final LatencyRecorder latency = new LatencyRecorder();
        /** Of the calls in {@link #latency}, those that timed out (recorded at their elapsed time). */
        final LongAdder latencyTimeouts = new LongAdder();
        /** Window calls answered successfully since the last tick: the timeline's throughput. */
        final LongAdder intervalAnswered = new LongAdder();
        /** Open loop: how late each window call went out after its plan; the calls planned and sent. */
        final LatencyRecorder sendLag = new LatencyRecorder();
        final LongAdder planned = new LongAdder();
        final LongAdder sent = new LongAdder();
        volatile long lastSend;
        final LatencyRecorder queue = new LatencyRecorder();
        final LatencyRecorder inference = new LatencyRecorder();
        final Map<Integer, LongAdder> batchSizes = new ConcurrentHashMap<>();
        final Map<String, LongAdder> failures = new ConcurrentHashMap<>();
        final LongAdder requests = new LongAdder();
        final LongAdder items = new LongAdder();
        /**
         * Successful answers (of any call) that arrived inside the window, and their texts: throughput is what was
         * served. A failure is not served; failures are counted by outcome, apart.
         */
        final LongAdder served = new LongAdder();
        final LongAdder servedItems = new LongAdder();
        final LongAdder cached = new LongAdder();
        final AtomicLong intervalFailures = new AtomicLong();
        /**
         * Set when the open-loop generator is still at it a whole call timeout after the window (a send that blocks):
         * it then counts the window's calls it has not sent as failures instead of sending them.
         */
        volatile boolean stopSending;
        /**
         * The window's calls not yet answered, by call number, with their start (open loop: planned) time: settled
         * once, by their answer or the final count.
         */
        final Map<Long, Long> outstanding = new ConcurrentHashMap<>();
        final AtomicLong callNumbers = new AtomicLong();
        final long measureFrom;
        final long end;
        volatile boolean measuring;

        Measurement(long measureFrom, long end) {
            this.measureFrom = measureFrom;
            this.end = end;
        }

        /** Registers a call starting (or planned) at startNanos; returns its number, or -1 outside the window. */
        long started(long startNanos) {
            if (startNanos < measureFrom || startNanos >= end) {
                return -1;
            }
            long number = callNumbers.incrementAndGet();
            outstanding.put(number, startNanos);
            return number;
        }

        /** Synchronized with {@link #settleUnanswered}, so the final figures never miss an answer half recorded. */
        synchronized void record(long call, long latencyNanos, Target.Outcome outcome) {
            long now = System.nanoTime();
            if (outcome.ok() && now >= measureFrom && now < end) {
                // Throughput counts answers as they arrive, whenever their call started: an open loop's offered
                // rate must not read as served when the answers come late.
                served.increment();
                servedItems.add(outcome.items());
            }
            if (call < 0 || outstanding.remove(call) == null) {
                return; // outside the window, or already counted as unanswered
            }
            requests.increment();
            if (!outcome.ok()) {
                failed(outcome.failure(), 1);
                if (outcome.timedOut()) {
                    // A timeout is the tail itself: it goes into the latency at the time it took, at least the
                    // timeout. Fast failures (an instant 503, a refused connection) stay out of it, counted apart.
                    latency.recordNanos(latencyNanos);
                    latencyTimeouts.increment();
                }
                return;
            }
            latency.recordNanos(latencyNanos);
            intervalAnswered.increment();
            items.add(outcome.items());
            for (Timings timings : outcome.timings()) {
                if (timings.cached()) {
                    cached.increment();
                    continue;
                }
                queue.recordMillis(timings.queueMs());
                inference.recordMillis(timings.inferenceMs());
                batchSizes.computeIfAbsent(timings.batchSize(), k -> new LongAdder()).increment();
            }
        }

        /** A call planned in the window that the generator gave up sending: a failure, never silence. */
        void unsent(long plannedNanos) {
            if (plannedNanos >= measureFrom && plannedNanos < end) {
                planned.increment();
                requests.increment();
                failed("not_sent", 1);
            }
        }

        /** Open loop: a call planned at plannedNanos went out at sentNanos. */
        void sent(long plannedNanos, long sentNanos) {
            if (plannedNanos >= measureFrom && plannedNanos < end) {
                planned.increment();
                sent.increment();
                sendLag.recordNanos(sentNanos - plannedNanos);
                lastSend = sentNanos;
            }
        }

        void failed(String kind, long count) {
            failures.computeIfAbsent(kind, k -> new LongAdder()).add(count);
            intervalFailures.addAndGet(count);
        }

        /**
         * Counts the window's calls still unanswered as timeouts, in the latency at the time they have waited (more
         * than the call timeout by now); later answers to them change nothing.
         */
        synchronized long settleUnanswered() {
            long unanswered = 0;
            long now = System.nanoTime();
            for (Long call : outstanding.keySet()) {
                Long started = outstanding.remove(call);
                if (started != null) {
                    unanswered++;
                    latency.recordNanos(now - started);
                    latencyTimeouts.increment();
                }
            }
            if (unanswered > 0) {
                requests.add(unanswered);
                failed("timeout", unanswered);
            }
            return unanswered;
        }
    }

    PerfReport.RunResult run(Plan plan) throws InterruptedException {
        return run(plan, null);
    }

    /** Runs the plan; {@code cpu}, when given, is started and stopped with the measured window. */
    PerfReport.RunResult run(Plan plan, CpuSampler cpu) throws InterruptedException {
        long start = System.nanoTime();
        long measureFrom = start + plan.warmup().toNanos();
        long end = measureFrom + plan.duration().toNanos();
        Measurement m = new Measurement(measureFrom, end);
        ScheduledExecutorService callbacks = Executors.newScheduledThreadPool(2, r -> {
            Thread thread = new Thread(r, "perf-users");
            thread.setDaemon(true);
            return thread;
        });
        List<PerfReport.Interval> timeline = new ArrayList<>();
        CountDownLatch finished = new CountDownLatch(1);
        Thread generator = new Thread(() -> {
            try {
                if (plan.open()) {
                    openLoop(plan, m, start, end);
                } else {
                    closedLoop(plan, m, end, callbacks);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                finished.countDown();
            }
        }, "perf-generator");
        generator.setDaemon(true);
        generator.start();

        // The warm-up ends exactly at measureFrom; then, once a second, a timeline point and the live figures. The
        // last tick is at the end itself, so a window of 12.5 s or 500 ms lasts exactly that long.
        long second = TimeUnit.SECONDS.toNanos(1);
        long nextTick = Math.min(start + second, measureFrom);
        long lastTick = measureFrom;
        while (System.nanoTime() < end) {
            LockSupport.parkNanos(Math.max(0, nextTick - System.nanoTime()));
            long now = System.nanoTime();
            if (now < nextTick) {
                continue; // woken early
            }
            if (!m.measuring && now >= measureFrom) {
                m.measuring = true;
                if (cpu != null) {
                    cpu.start();
                }
                nextTick = Math.min(measureFrom + second, end);
                continue;
            }
            if (m.measuring) {
                Histogram interval = m.latency.interval();
                double elapsed = (now - measureFrom) / 1e9;
                double intervalSeconds = Math.max(1e-3, (now - lastTick) / 1e9);
                lastTick = now;
                long failures = m.intervalFailures.getAndSet(0);
                // A second with no answer and no timeout has no latency: NaN (no data), never 0 ms.
                double p50 = LatencyRecorder.percentileMs(interval, 50);
                double p99 = LatencyRecorder.percentileMs(interval, 99);
                // Successful answers per second (the histogram also holds timeouts); failures apart. Per second
                // of this interval, which at the end may be shorter than one.
                double perSecond = m.intervalAnswered.sumThenReset() / intervalSeconds;
                timeline.add(new PerfReport.Interval(Math.round(elapsed * 10) / 10.0, perSecond, p50, p99, failures));
                progress.update(plan, elapsed, perSecond, p99,
                        m.failures.values().stream().mapToLong(LongAdder::sum).sum(), false);
                nextTick = Math.min(nextTick + second, end);
            } else {
                progress.update(plan, (now - start) / 1e9, 0, Double.NaN, 0, true);
                nextTick = Math.min(nextTick + second, measureFrom);
            }
        }
        m.measuring = false;
        if (cpu != null) {
            cpu.stop();
        }
        // The window as planned: throughput is what was served in it, over its length.
        double seconds = (end - measureFrom) / 1e9;
        if (plan.open() && !finished.await(callTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
            // Not interrupted at the end: behind schedule (a send that blocked), it still has calls planned inside
            // the window to send, and dropping them would hide the stall at the tail (coordinated omission). It
            // stops by itself at its first plan past the end; one blocked for a whole call timeout gives up.
            m.stopSending = true;
        }
        // The window's last calls are answered (or time out at the target) after it closes; wait for them.
        long drainDeadline = System.nanoTime() + callTimeout.toNanos()
                + Math.max(TimeUnit.SECONDS.toNanos(1), callTimeout.toNanos() / 10);
        while (!m.outstanding.isEmpty() && System.nanoTime() < drainDeadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
        m.settleUnanswered();
        if (!plan.open()) {
            generator.interrupt(); // closed loop: it only waits for the users, which stop by themselves
        }
        finished.await(30, TimeUnit.SECONDS);
        callbacks.shutdownNow();

        Map<String, Long> failures = new TreeMap<>();
        m.failures.forEach((kind, count) -> failures.put(kind, count.sum()));
        Map<Integer, Long> batches = new TreeMap<>();
        m.batchSizes.forEach((size, count) -> batches.put(size, count.sum()));
        long requests = m.requests.sum();
        long items = m.items.sum();
        long served = m.served.sum();
        long servedItems = m.servedItems.sum();
        return new PerfReport.RunResult(plan.name(), target.name(), target.endpoint(plan.batchSize()), null,
                plan.open() ? "open" : "closed", plan.users(), plan.rate(),
                plan.open() ? (plan.poisson() ? "poisson" : "constant") : null, plan.batchSize(),
                round(seconds), requests, items, failures.values().stream().mapToLong(Long::longValue).sum(),
                failures, round(served / seconds), round(servedItems / seconds),
                LatencyRecorder.summary(m.latency.total()), m.latencyTimeouts.sum(),
                new PerfReport.ServerBreakdown(LatencyRecorder.summary(m.queue.total()),
                        LatencyRecorder.summary(m.inference.total()), batches, m.cached.sum()),
                timeline, null, null, plan.open() ? sendLag(m, measureFrom, end) : null);
    }

    /**
     * How the open loop kept to its plan: the calls planned in the window per second of it, against the calls sent
     * per second from the window's start to the last send (a generator behind its plan sends past the end).
     */
    private static PerfReport.SendLag sendLag(Measurement m, long measureFrom, long end) {
        PerfReport.Latency lag = LatencyRecorder.summary(m.sendLag.total());
        long planned = m.planned.sum();
        long sent = m.sent.sum();
        double plannedRate = planned / ((end - measureFrom) / 1e9);
        double achievedRate = sent / ((Math.max(end, m.lastSend) - measureFrom) / 1e9);
        boolean behind = lag.p99() > PerfReport.SendLag.lagLimitMs(plannedRate)
                || achievedRate < PerfReport.SendLag.BEHIND_RATE_SHARE * plannedRate;
        return new PerfReport.SendLag(lag, round(plannedRate), round(achievedRate), behind);
    }

    /** Each user sends its next call as soon as its previous one is answered. */
    private void closedLoop(Plan plan, Measurement m, long end, ScheduledExecutorService callbacks)
            throws InterruptedException {
        CountDownLatch users = new CountDownLatch(plan.users());
        for (int u = 0; u < plan.users(); u++) {
            nextCall(plan, m, end, callbacks, users, 0);
        }
        users.await();
    }

    /** The first pause of a user whose call could not connect; it doubles with every such call after it. */
    static final long FIRST_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
    /** The longest pause between a user's calls while none can connect. */
    static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(1);

    /**
     * {@code backoffNanos}: how long this user pauses after a call that could not even connect (nothing listens,
     * the connection was reset): answering instantly, such calls would otherwise be retried as fast as a core
     * allows for the whole run. Any answer, a failure included, resets it.
     */
    private void nextCall(Plan plan, Measurement m, long end, ScheduledExecutorService callbacks,
                          CountDownLatch users, long backoffNanos) {
        if (System.nanoTime() >= end) {
            users.countDown();
            return;
        }
        long started = System.nanoTime();
        long call = m.started(started);
        target.call(corpus.next(plan.batchSize())).whenComplete((outcome, error) -> {
            // Timed where the answer arrives, as wrk does: the hand-off to this generator's own threads below is
            // not the system's latency. The next call goes out from those threads, never from the target's own
            // (the Kafka client's reply thread must not wait on a send).
            Target.Outcome result = outcome != null ? outcome : Target.Outcome.failed("client_error");
            m.record(call, System.nanoTime() - started, result);
            if (!result.ok() && result.failure().startsWith("connection_")) {
                long pause = backoffNanos == 0 ? FIRST_BACKOFF_NANOS : Math.min(MAX_BACKOFF_NANOS, backoffNanos * 2);
                long wait = Math.min(pause, Math.max(0, end - System.nanoTime()));
                callbacks.schedule(() -> nextCall(plan, m, end, callbacks, users, pause), wait, TimeUnit.NANOSECONDS);
            } else {
                callbacks.execute(() -> nextCall(plan, m, end, callbacks, users, 0));
            }
        });
    }

    /**
     * Calls start at planned times; latency counts from the plan, so falling behind shows as latency. Every call
     * planned inside the window is sent, late if the generator is behind: it stops at its first plan past the end.
     */
    private void openLoop(Plan plan, Measurement m, long start, long end) {
        SplittableRandom random = new SplittableRandom(42);
        double meanGapNanos = 1e9 / plan.rate();
        // Plans are offsets from the run's start, rounded once: evenly spaced ones (the first at the start) neither
        // drift by truncated gaps nor depend on when this thread got going, so they put exactly rate × duration
        // calls in the window.
        double offset = plan.poisson() ? exponential(random, meanGapNanos) : 0;
        while (true) {
            long planned = start + Math.round(offset);
            if (planned >= end) {
                return; // planned after the window: not sent at all
            }
            offset += plan.poisson() ? exponential(random, meanGapNanos) : meanGapNanos;
            if (m.stopSending) {
                m.unsent(planned);
                continue;
            }
            long now;
            while ((now = System.nanoTime()) < planned) {
                LockSupport.parkNanos(planned - now);
            }
            m.sent(planned, now);
            long call = m.started(planned);
            target.call(corpus.next(plan.batchSize()))
                    .whenComplete((outcome, error) -> m.record(call, System.nanoTime() - planned,
                            outcome != null ? outcome : Target.Outcome.failed("client_error")));
        }
    }

    private static double exponential(SplittableRandom random, double mean) {
        return -Math.log(1 - random.nextDouble()) * mean;
    }

    private static double round(double value) {
        return Math.round(value * 100) / 100.0;
    }
}
