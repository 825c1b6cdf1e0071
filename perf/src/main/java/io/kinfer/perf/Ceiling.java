package io.kinfer.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelException;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import io.kinfer.worker.model.PreparedRequest;

/**
 * The raw model in this process, the same way a worker runs it (tokenize, one ONNX Runtime call per batch,
 * post-process) but with no Kafka, no HTTP and no queue: the ceiling the pipeline is measured against.
 * With several instances, that many threads run batches on the one session at once, as a worker with
 * {@code model.instances} does; batch-1 latency is always measured with one caller.
 */
final class Ceiling {

    private Ceiling() {
    }

    static PerfReport.CeilingResult measure(String model, Path repository, int threads, int singleThreadMaxTokens,
                                            int instances, int batchSize, Corpus corpus, Duration duration,
                                            Duration warmup)
            throws Exception {
        if (instances < 1) {
            throw new IllegalArgumentException("instances must be at least 1, not " + instances);
        }
        ModelRepository repo = new ModelRepository(repository);
        String version = repo.latestVersion(model).orElseThrow(() -> new ModelException("no model " + model));
        // The worker's rule, so that the ceiling runs as a worker with the same settings does.
        OnnxSettings settings = OnnxSettings.forInstances(threads, false, singleThreadMaxTokens, instances);
        ExecutorService callers = Executors.newFixedThreadPool(instances);
        try (LoadedModel loaded = repo.load(model, version, settings)) {
            LatencyRecorder batchLatency = new LatencyRecorder();
            LatencyRecorder singleLatency = new LatencyRecorder();
            concurrently(callers, instances, () -> run(loaded, model, corpus, batchSize, warmup, new LatencyRecorder()));
            long begin = System.nanoTime();
            long items = concurrently(callers, instances, () -> run(loaded, model, corpus, batchSize, duration,
                    batchLatency));
            double seconds = (System.nanoTime() - begin) / 1e9;
            run(loaded, model, corpus, 1, warmup.dividedBy(2), new LatencyRecorder());
            run(loaded, model, corpus, 1, duration.dividedBy(2), singleLatency);
            return new PerfReport.CeilingResult(model, settings.effectiveIntraOpThreads(), singleThreadMaxTokens,
                    instances, batchSize,
                    Math.round(items / seconds * 100) / 100.0,
                    LatencyRecorder.summary(batchLatency.total()), LatencyRecorder.summary(singleLatency.total()));
        } finally {
            callers.shutdownNow();
        }
    }

    /** Runs the load on {@code instances} threads at once; returns the texts they answered together. */
    private static long concurrently(ExecutorService callers, int instances, Callable<Long> load) throws Exception {
        List<Future<Long>> running = new ArrayList<>();
        for (int i = 0; i < instances; i++) {
            running.add(callers.submit(load));
        }
        long items = 0;
        for (Future<Long> done : running) {
            items += done.get();
        }
        return items;
    }

    /** Runs back-to-back batches for {@code duration}; returns the texts answered. */
    private static long run(LoadedModel loaded, String model, Corpus corpus, int batchSize, Duration duration,
                            LatencyRecorder latency) throws ModelException, ProtocolException {
        long end = System.nanoTime() + duration.toNanos();
        long items = 0;
        while (System.nanoTime() < end) {
            long started = System.nanoTime();
            List<PreparedRequest> batch = new ArrayList<>(batchSize);
            for (String text : corpus.next(batchSize)) {
                batch.add(loaded.prepare(InferenceRequest.ofTexts("c", model, List.of(text))));
            }
            loaded.infer(batch);
            latency.recordNanos(System.nanoTime() - started);
            items += batchSize;
        }
        return items;
    }
}
