package io.kinfer.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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

    static PerfReport.CeilingResult measure(String model, Path repository, int threads, int instances,
                                            int batchSize, Corpus corpus, Duration duration, Duration warmup)
            throws Exception {
        if (instances < 1) {
            throw new IllegalArgumentException("instances must be at least 1, not " + instances);
        }
        ModelRepository repo = new ModelRepository(repository);
        String version = repo.latestVersion(model).orElseThrow(() -> new ModelException("no model " + model));
        // The worker's rule: threads 0 shares the processors among the instances (WorkerConfig.onnxSettings).
        OnnxSettings settings = new OnnxSettings(
                threads > 0 ? threads : Math.max(1, Runtime.getRuntime().availableProcessors() / instances), false);
        ExecutorService callers = Executors.newFixedThreadPool(instances);
        try (LoadedModel loaded = repo.load(model, version, settings)) {
            LatencyRecorder batchLatency = new LatencyRecorder();
            LatencyRecorder singleLatency = new LatencyRecorder();
            concurrently(callers, instances, () -> run(loaded, model, corpus, batchSize, warmup, new LatencyRecorder()));
            long begin = System.nanoTime();
            long items = concurrently(callers, instances,
                    () -> run(loaded, model, corpus, batchSize, duration, batchLatency).items);
            double seconds = (System.nanoTime() - begin) / 1e9;
            run(loaded, model, corpus, 1, warmup.dividedBy(2), new LatencyRecorder());
            run(loaded, model, corpus, 1, duration.dividedBy(2), singleLatency);
            return new PerfReport.CeilingResult(model, settings.effectiveIntraOpThreads(), instances, batchSize,
                    Math.round(items / seconds * 100) / 100.0,
                    LatencyRecorder.summary(batchLatency.total()), LatencyRecorder.summary(singleLatency.total()));
        } finally {
            callers.shutdownNow();
        }
    }

    private interface Load {
        Object call() throws Exception;
    }

    /** Runs the load on {@code instances} threads at once; returns the sum of their counts (if they count). */
    private static long concurrently(ExecutorService callers, int instances, Load load) throws Exception {
        List<Future<Object>> running = new ArrayList<>();
        for (int i = 0; i < instances; i++) {
            running.add(callers.submit(load::call));
        }
        long total = 0;
        for (Future<Object> f : running) {
            if (f.get() instanceof Long count) {
                total += count;
            }
        }
        return total;
    }

    private record Throughput(long items, double seconds) {
    }

    /** Runs back-to-back batches for {@code duration}; returns the texts answered and the time taken. */
    private static Throughput run(LoadedModel loaded, String model, Corpus corpus, int batchSize, Duration duration,
                            LatencyRecorder latency) throws ModelException, ProtocolException {
        long begin = System.nanoTime();
        long end = begin + duration.toNanos();
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
        return new Throughput(items, (System.nanoTime() - begin) / 1e9);
    }
}
