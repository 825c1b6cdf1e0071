package io.kinfer.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

import io.kinfer.protocol.InferenceRequest;
import io.kinfer.worker.WorkerConfig;
import io.kinfer.worker.batch.BatchItem;
import io.kinfer.worker.batch.BatchSettings;
import io.kinfer.worker.batch.Batcher;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelException;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import io.kinfer.worker.model.PreparedRequest;

/**
 * The raw model in this process, the same way a worker runs it (tokenize, one ONNX Runtime call per batch,
 * post-process) but with no Kafka and no HTTP: the ceiling the pipeline is measured against.
 *
 * <p>Its batches are formed as a saturated worker forms them: by default the worker's own {@link Batcher} (with
 * its pad-aware grouping) takes them from a queue kept full of tokenized texts, {@code queueSize} of them (the
 * worker's {@code batch.max.queue.size}), refilled with as many new texts as each batch took. Batches of
 * consecutive texts padded to their longest ({@link Grouping#ARRIVAL}, the old ceiling) pay for padding that the
 * worker's grouping avoids, so a pipeline measured against them could read above 100 %: that measured the grouping,
 * not the pipeline's efficiency. The texts of each batch are tokenized by the batch thread right after it (the refill),
 * as the old ceiling tokenized each batch before computing it, so a batch costs tokenizing plus inference either way.
 *
 * <p>With several instances, that many batcher threads run batches on the one session at once, as a worker with
 * {@code model.instances} does. Batch-1 latency is always measured with one caller, one text at a time: grouping
 * does not apply to it.
 */
final class Ceiling {

    /** How the ceiling groups texts into batches. */
    enum Grouping {
        /** The worker's batcher with batch.pad.aware=true (its default): similar lengths together. */
        PAD_AWARE("pad-aware"),
        /** Consecutive texts as they come (the worker with batch.pad.aware=false; the ceiling before). */
        ARRIVAL("arrival");

        private final String label;

        Grouping(String label) {
            this.label = label;
        }

        String label() {
            return label;
        }

        /** For picocli: pad-aware or arrival. */
        static Grouping parse(String value) {
            for (Grouping g : values()) {
                if (g.label.equals(value)) {
                    return g;
                }
            }
            throw new IllegalArgumentException("expected pad-aware or arrival, not " + value);
        }
    }

    /** The worker's default queue size (batch.max.queue.size), the queue a saturated worker groups from. */
    static final int WORKER_QUEUE_SIZE = ((Number) WorkerConfig.DEFINITION.defaultValues()
            .get(WorkerConfig.BATCH_MAX_QUEUE_SIZE)).intValue();

    private Ceiling() {
    }

    /** What the saturated pass computes: the loaded model, or a stand-in in tests. */
    interface Model {
        PreparedRequest prepare(String text) throws Exception;

        void infer(List<PreparedRequest> batch) throws Exception;
    }

    /** The saturated pass's figures: texts per second, each batch's time, and how much of the padding was real. */
    record Saturated(double itemsPerSecond, PerfReport.Latency batchLatency, double paddingEfficiency) {
    }

    /**
     * @param queueSize texts kept queued; 0 or less: the model's batching.max_queue_size, else the worker's default
     * @param phases    receives one line per phase (warm-up, measurement, batch-1 pass), for stderr
     */
    static PerfReport.CeilingResult measure(String model, Path repository, int threads, int singleThreadMaxTokens,
                                            int instances, int batchSize, Grouping grouping, int queueSize,
                                            Corpus corpus, Duration duration, Duration warmup,
                                            Consumer<String> phases)
            throws Exception {
        if (instances < 1) {
            throw new IllegalArgumentException("instances must be at least 1, not " + instances);
        }
        ModelRepository repo = new ModelRepository(repository);
        String version = repo.latestVersion(model).orElseThrow(() -> new ModelException("no model " + model));
        if (queueSize <= 0) {
            Integer configured = repo.config(model).batching().maxQueueSize();
            queueSize = configured != null ? configured : WORKER_QUEUE_SIZE;
        }
        // The worker's rule, so that the ceiling runs as a worker with the same settings does.
        OnnxSettings settings = OnnxSettings.forInstances(threads, false, singleThreadMaxTokens, instances);
        phases.accept(String.format("ceiling: loading %s %s (%d threads, %d instance(s))", model, version,
                settings.effectiveIntraOpThreads(), instances));
        try (LoadedModel loaded = repo.load(model, version, settings)) {
            Model computed = new Model() {
                @Override
                public PreparedRequest prepare(String text) throws Exception {
                    return loaded.prepare(InferenceRequest.ofTexts("c", model, List.of(text)));
                }

                @Override
                public void infer(List<PreparedRequest> batch) throws Exception {
                    loaded.infer(batch);
                }
            };
            BatchSettings batching = settings(batchSize, grouping, queueSize, instances);
            Saturated saturated = saturate(computed, batching, corpus, warmup, duration, phases);
            phases.accept(String.format("ceiling: %.1f texts/s at batch %d; batch-1 latency: warming up %.1f s, "
                    + "measuring %.1f s", saturated.itemsPerSecond(), batchSize, warmup.toMillis() / 2000.0,
                    duration.toMillis() / 2000.0));
            LatencyRecorder singleLatency = new LatencyRecorder();
            one(computed, corpus, warmup.dividedBy(2), new LatencyRecorder());
            one(computed, corpus, duration.dividedBy(2), singleLatency);
            return new PerfReport.CeilingResult(model, settings.effectiveIntraOpThreads(), singleThreadMaxTokens,
                    instances, batchSize, Math.round(saturated.itemsPerSecond() * 100) / 100.0,
                    saturated.batchLatency(), LatencyRecorder.summary(singleLatency.total()), grouping.label(),
                    queueSize, Math.round(saturated.paddingEfficiency() * 1000) / 1000.0);
        }
    }

    /** The worker's batching as a saturated worker with these settings runs it. */
    static BatchSettings settings(int batchSize, Grouping grouping, int queueSize, int instances) {
        // No queue delay: with the queue full, the worker's policy dispatches at once anyway.
        return new BatchSettings(batchSize, 0, queueSize, 1, grouping == Grouping.PAD_AWARE, false, instances);
    }

    /** A queued text: no deadline, one row, its token length. */
    private record Queued(PreparedRequest prepared) implements BatchItem {
        @Override
        public long arrivalNanos() {
            return 0; // all queued "long ago": the policy dispatches at once (the queue is full anyway)
        }

        @Override
        public long deadlineNanos() {
            return Long.MAX_VALUE;
        }

        @Override
        public int priority() {
            return 0;
        }

        @Override
        public int items() {
            return prepared.items();
        }

        @Override
        public int length() {
            return prepared.length();
        }
    }

    /**
     * Runs the worker's batcher on a queue of {@code batching.maxQueueSize()} texts kept full, for the warm-up
     * then the measured window. Throughput counts each batch's texts in proportion to how much of its time fell
     * inside the window, so batches running across the window's edges (several at once with instances) count
     * for their part in it, over exactly the window's length.
     */
    static Saturated saturate(Model model, BatchSettings batching, Corpus corpus, Duration warmup, Duration duration,
                              Consumer<String> phases) throws Exception {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicReference<Batcher<Queued>> self = new AtomicReference<>();
        LatencyRecorder latency = new LatencyRecorder();
        DoubleAdder itemsInWindow = new DoubleAdder();
        LongAdder realTokens = new LongAdder();
        LongAdder paddedTokens = new LongAdder();
        long[] window = new long[2]; // measureFrom, end: set before the batcher starts, read by its threads after
        Batcher.Runner<Queued> runner = new Batcher.Runner<>() {
            @Override
            public void run(List<Queued> batch) {
                long started = System.nanoTime();
                long inferred;
                try {
                    List<PreparedRequest> prepared = new ArrayList<>(batch.size());
                    for (Queued q : batch) {
                        prepared.add(q.prepared());
                    }
                    model.infer(prepared);
                    inferred = System.nanoTime();
                    if (System.nanoTime() < window[1]) {
                        self.get().enqueue(prepare(model, corpus, batch.size()));
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    return;
                }
                long ended = System.nanoTime();
                long overlap = Math.min(ended, window[1]) - Math.max(started, window[0]);
                if (overlap > 0) {
                    int items = 0;
                    for (Queued q : batch) {
                        items += q.items();
                    }
                    itemsInWindow.add(items * (double) overlap / Math.max(1, ended - started));
                }
                if (started >= window[0] && started < window[1]) {
                    // The model call alone, as a worker's inference_ms: throughput above also counts tokenizing
                    // the refill (a worker's consumer thread does that while the batch runs, on the same cores).
                    latency.recordNanos(inferred - started);
                    int longest = 0;
                    long rows = 0;
                    for (Queued q : batch) {
                        realTokens.add((long) q.items() * q.length());
                        rows += q.items();
                        longest = Math.max(longest, q.length());
                    }
                    paddedTokens.add(rows * longest);
                }
            }

            @Override
            public void expired(List<Queued> requests) {
                failure.compareAndSet(null, new IllegalStateException("the ceiling's queue expired texts"));
            }

            @Override
            public void failed(List<Queued> requests) {
                failure.compareAndSet(null, new IllegalStateException("the ceiling's batcher failed"));
            }
        };
        Batcher<Queued> batcher = new Batcher<>("ceiling", batching, System::nanoTime, runner);
        self.set(batcher);
        batcher.enqueue(prepare(model, corpus, batching.maxQueueSize()));
        long start = System.nanoTime();
        window[0] = start + warmup.toNanos();
        window[1] = window[0] + duration.toNanos();
        String shape = String.format("batch %d x %d instance(s), %s grouping over a queue of %d",
                batching.maxBatchSize(), batching.instances(), batching.padAware() ? "pad-aware" : "arrival",
                batching.maxQueueSize());
        try {
            batcher.start();
            phases.accept(String.format("ceiling: warming up %.1f s (%s)", warmup.toMillis() / 1000.0, shape));
            waitUntil(window[0], failure);
            phases.accept(String.format("ceiling: measuring %.1f s", duration.toMillis() / 1000.0));
            waitUntil(window[1], failure);
        } finally {
            batcher.remove(item -> true);
            // The batches running at the end finish (they count for their part in the window); nothing new starts.
            batcher.drain(60, TimeUnit.SECONDS);
        }
        if (failure.get() != null) {
            throw new IllegalStateException("the ceiling's model call failed: " + failure.get(), failure.get());
        }
        long padded = paddedTokens.sum();
        return new Saturated(itemsInWindow.sum() / (duration.toNanos() / 1e9),
                LatencyRecorder.summary(latency.total()),
                padded == 0 ? Double.NaN : (double) realTokens.sum() / padded);
    }

    private static List<Queued> prepare(Model model, Corpus corpus, int count) throws Exception {
        List<Queued> queued = new ArrayList<>(count);
        for (String text : corpus.next(count)) {
            queued.add(new Queued(model.prepare(text)));
        }
        return queued;
    }

    /** Parks until the given time, or until the batcher reports a failure. */
    private static void waitUntil(long deadline, AtomicReference<Throwable> failure) throws InterruptedException {
        long now;
        while ((now = System.nanoTime()) < deadline && failure.get() == null) {
            LockSupport.parkNanos(Math.min(deadline - now, TimeUnit.MILLISECONDS.toNanos(100)));
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }

    /** Calls of one text each, back to back, for {@code duration}: the latency of a lone call. */
    private static void one(Model model, Corpus corpus, Duration duration, LatencyRecorder latency) throws Exception {
        long end = System.nanoTime() + duration.toNanos();
        while (System.nanoTime() < end) {
            long started = System.nanoTime();
            model.infer(List.of(model.prepare(corpus.next(1).get(0))));
            latency.recordNanos(System.nanoTime() - started);
        }
    }
}
