package io.kinfer.perf;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

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
 */
final class Ceiling {

    private Ceiling() {
    }

    static PerfReport.CeilingResult measure(String model, Path repository, int threads, int batchSize,
                                            Corpus corpus, Duration duration, Duration warmup)
            throws ModelException, ProtocolException {
        ModelRepository repo = new ModelRepository(repository);
        String version = repo.latestVersion(model).orElseThrow(() -> new ModelException("no model " + model));
        OnnxSettings settings = new OnnxSettings(threads, false);
        try (LoadedModel loaded = repo.load(model, version, settings)) {
            LatencyRecorder batchLatency = new LatencyRecorder();
            LatencyRecorder singleLatency = new LatencyRecorder();
            run(loaded, model, corpus, batchSize, warmup, new LatencyRecorder());
            Throughput batched = run(loaded, model, corpus, batchSize, duration, batchLatency);
            run(loaded, model, corpus, 1, warmup.dividedBy(2), new LatencyRecorder());
            run(loaded, model, corpus, 1, duration.dividedBy(2), singleLatency);
            return new PerfReport.CeilingResult(model, settings.effectiveIntraOpThreads(), batchSize,
                    Math.round(batched.items / batched.seconds * 100) / 100.0,
                    LatencyRecorder.summary(batchLatency.total()), LatencyRecorder.summary(singleLatency.total()));
        }
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
