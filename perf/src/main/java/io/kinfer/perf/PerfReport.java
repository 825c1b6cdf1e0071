package io.kinfer.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * Everything a perf run measured, as written by {@code --json} and read by {@code perf compare} and the HTML
 * report. Latencies are milliseconds; rates are per second.
 *
 * @param runs    one entry per load (a scenario, or one step of a sweep)
 * @param ceiling the raw model measured in-process in the same run, when asked for
 */
public record PerfReport(String tool, String startedAt, Environment environment, List<RunResult> runs,
                         CeilingResult ceiling, List<ProfileResult> profiles) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /** Where it ran: the figures mean little without it. */
    public record Environment(String host, int cpus, long maxHeapMb, String java, String os, String command) {
    }

    /**
     * One load: how it was generated and what came back.
     *
     * @param mode       {@code closed} (users send again when answered) or {@code open} (arrivals at a rate)
     * @param batchSize  texts per HTTP call (1: /predict; more: /predict_batch) or per Kafka request
     * @param requests   calls started (open loop: planned) in the measured window, each counted once answered,
     *                   failed, or unanswered after the call timeout (then a {@code timeout} failure)
     * @param items      texts of those calls answered successfully
     * @param requestsPerSecond successful answers that arrived in the window, per second: what was served
     *                          (failures are counted apart, in {@code failures})
     * @param itemsPerSecond    texts answered successfully in the window, per second
     * @param latency    end-to-end per answered call; open loop measures from the intended send time
     * @param server     the workers' own breakdown, from the replies' timings
     * @param timeline   one point per second: throughput and latency over time
     * @param ratioToCeiling items per second over the raw model's ceiling, when the ceiling was measured
     * @param cpuCores       CPU used during the measured window by each local kinfer process (broker, workers,
     *                       gateway) and by this load generator, in cores (1.0 = one core busy all the time):
     *                       on a small machine it shows who the model shares its cores with
     */
    public record RunResult(String name, String target, String endpoint, String model, String mode, int users,
                            double rate, String arrivals, int batchSize, double durationSeconds, long requests,
                            long items, long failures, Map<String, Long> failuresByKind, double requestsPerSecond,
                            double itemsPerSecond, Latency latency, ServerBreakdown server, List<Interval> timeline,
                            Double ratioToCeiling, Map<String, Double> cpuCores) {
    }

    /** Percentiles in milliseconds, from an HdrHistogram. */
    public record Latency(long count, double mean, double p50, double p90, double p95, double p99, double p999,
                          double max) {
    }

    /**
     * Queue and inference time as the workers report them, and how big the batches were: {@code batchSizes} counts
     * replies by the size of the batch they were computed in (a batch of 8 contributes 8), cached replies apart.
     */
    public record ServerBreakdown(Latency queueMs, Latency inferenceMs, Map<Integer, Long> batchSizes,
                                  long cachedReplies) {
    }

    /**
     * One second of a run (the last may be shorter, ending with the window): successful answers per second, the
     * latency of those, and the failures counted in it.
     */
    public record Interval(double second, double requestsPerSecond, double p50, double p99, long failures) {
    }

    /**
     * The raw model in this process: no Kafka, no HTTP, the same ONNX model and thread settings as a worker
     * (calls of at most {@code singleThreadMaxTokens} padded tokens on one thread). Throughput at the
     * largest batch is the ceiling the pipeline is compared with; batch-1 latency is the floor of a lone call.
     */
    public record CeilingResult(String model, int threads, int singleThreadMaxTokens, int instances, int batchSize,
                                double itemsPerSecond, Latency batchLatency, Latency batch1Latency) {
    }

    /** The hottest methods of one profiled process, by self time and by total time (cProfile's two views). */
    public record ProfileResult(String process, String jfrFile, long samples, List<MethodShare> bySelfTime,
                                List<MethodShare> byTotalTime) {
    }

    public record MethodShare(String method, long samples, double percent) {
    }

    public void write(Path file) throws IOException {
        if (file.getParent() != null) {
            Files.createDirectories(file.getParent());
        }
        JSON.writeValue(file.toFile(), this);
    }

    public static PerfReport read(Path file) throws IOException {
        return JSON.readValue(file.toFile(), PerfReport.class);
    }

    public String toJson() throws IOException {
        return JSON.writeValueAsString(this);
    }

    public static ObjectMapper mapper() {
        return JSON;
    }
}
