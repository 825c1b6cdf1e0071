package io.kinfer.perf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;

/**
 * Everything a perf run measured, as written by {@code --json} and read by {@code perf compare} and the HTML
 * report. Latencies are milliseconds; rates are per second. A figure with nothing behind it (the percentiles of a
 * load or a second with no answer) is NaN here and {@code null} in the JSON, never 0, which would claim a
 * measurement; tables show it as {@code –}, the HTML report as a gap.
 *
 * @param runs    one entry per load (a scenario, or one step of a sweep)
 * @param ceiling the raw model measured in-process in the same run, when asked for
 */
public record PerfReport(String tool, String startedAt, Environment environment, List<RunResult> runs,
                         CeilingResult ceiling, List<ProfileResult> profiles) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .registerModule(new SimpleModule("no-data")
                    .addSerializer(double.class, new NoDataAsNull<>(double.class))
                    .addSerializer(Double.class, new NoDataAsNull<>(Double.class))
                    .addDeserializer(double.class, new NullAsNoData()))
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
     * @param latency    end-to-end per call answered successfully or timed out (a timeout at its elapsed time,
     *                   at least the call timeout, so a stall shows in the tail); open loop measures from the
     *                   intended send time. Fast failures (an HTTP error status, a refused connection) are not in
     *                   it, only in {@code failures}. NaN (null in JSON) when no call was answered.
     * @param latencyTimeouts how many of the calls in {@code latency} are timeouts (calls the target gave up on,
     *                        a gateway's 504, an expired request, or calls still unanswered when the run ended)
     * @param server     the workers' own breakdown, from the replies' timings
     * @param timeline   one point per second: throughput and latency over time
     * @param ratioToCeiling items per second over the raw model's ceiling, when the ceiling was measured
     * @param cpuCores       CPU used during the measured window by each local process of the measured pipeline
     *                       (broker, workers, gateway on the target's Kafka cluster; a name two processes share
     *                       carries their pids) and by this load generator, in cores (1.0 = one core busy all the
     *                       time): on a small machine it shows who the model shares its cores with
     * @param sendLag        open loop only (null for closed loop): how late the generator sent its calls
     */
    public record RunResult(String name, String target, String endpoint, String model, String mode, int users,
                            double rate, String arrivals, int batchSize, double durationSeconds, long requests,
                            long items, long failures, Map<String, Long> failuresByKind, double requestsPerSecond,
                            double itemsPerSecond, Latency latency, long latencyTimeouts, ServerBreakdown server,
                            List<Interval> timeline, Double ratioToCeiling, Map<String, Double> cpuCores,
                            SendLag sendLag) {

        /** The same run with the model, the ratio to a ceiling and the CPU figures set. */
        RunResult with(String model, Double ratioToCeiling, Map<String, Double> cpuCores) {
            return new RunResult(name, target, endpoint, model, mode, users, rate, arrivals, batchSize,
                    durationSeconds, requests, items, failures, failuresByKind, requestsPerSecond, itemsPerSecond,
                    latency, latencyTimeouts, server, timeline, ratioToCeiling, cpuCores, sendLag);
        }

        /** Failed calls (timeouts included) over calls, 0 when there were none. */
        double failureRate() {
            return requests == 0 ? 0 : (double) failures / requests;
        }
    }

    /**
     * How closely an open-loop generator kept to its plan. Its latencies count from the planned send time, so a
     * generator that falls behind still measures the delay, but then the load offered was not the load planned.
     *
     * @param lag          how late each call of the window went out after its planned time
     * @param plannedRate  calls planned in the window, per second of it
     * @param achievedRate calls sent, per second from the window's start to the last send (at least the window)
     * @param behind       whether the generator fell behind: lag P99 above {@link #lagLimitMs} or fewer than
     *                     {@value #BEHIND_RATE_SHARE} of the planned calls a second sent
     */
    public record SendLag(Latency lag, double plannedRate, double achievedRate, boolean behind) {
        public static final double BEHIND_LAG_MS = 1.0;
        public static final double BEHIND_RATE_SHARE = 0.95;

        /**
         * The send lag P99 beyond which arrivals were not the ones planned: the plan's mean gap between calls, and
         * at least {@value #BEHIND_LAG_MS} ms. A lag shorter than the gap shifts calls within their own spacing
         * (a 2-vCPU machine under load delays the generator's thread by a few ms on every run); a longer one bunches
         * them into bursts the plan did not have.
         */
        public static double lagLimitMs(double plannedRate) {
            return plannedRate > 0 ? Math.max(BEHIND_LAG_MS, 1000.0 / plannedRate) : BEHIND_LAG_MS;
        }
    }

    /** Percentiles in milliseconds, from an HdrHistogram; all NaN (no data) when count is 0. */
    public record Latency(long count, double mean, double p50, double p90, double p95, double p99, double p999,
                          double max) {
        public static final Latency NO_DATA = new Latency(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
                Double.NaN, Double.NaN, Double.NaN);
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
     * latency of the calls answered or timed out in it (NaN, null in JSON, when none was), and the failures
     * counted in it.
     */
    public record Interval(double second, double requestsPerSecond, double p50, double p99, long failures) {
    }

    /**
     * The raw model in this process: no Kafka, no HTTP, the same ONNX model and thread settings as a worker
     * (calls of at most {@code singleThreadMaxTokens} padded tokens on one thread). Throughput at the
     * largest batch is the ceiling the pipeline is compared with; batch-1 latency is the floor of a lone call.
     *
     * @param grouping          how texts were grouped into batches: {@code pad-aware} (the worker's own batcher
     *                          with its default pad-aware grouping, on a queue kept full) or {@code arrival}
     *                          (consecutive texts, as they come); null in reports written before this was recorded
     *                          (they grouped by arrival)
     * @param queueSize         texts kept queued for the batcher to choose from (the worker's batch.max.queue.size)
     * @param paddingEfficiency the texts' own tokens over the padded tokens computed (rows times longest row) in
     *                          the measured batches: 1 means no padding
     */
    public record CeilingResult(String model, int threads, int singleThreadMaxTokens, int instances, int batchSize,
                                double itemsPerSecond, Latency batchLatency, Latency batch1Latency, String grouping,
                                int queueSize, double paddingEfficiency) {
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

    /** NaN and the infinities as {@code null}: JSON has no such numbers, and 0 would read as a measurement. */
    private static final class NoDataAsNull<T extends Double> extends StdSerializer<T> {
        NoDataAsNull(Class<T> type) {
            super(type);
        }

        @Override
        public void serialize(T value, JsonGenerator gen, SerializerProvider provider) throws IOException {
            if (Double.isFinite(value)) {
                gen.writeNumber(value);
            } else {
                gen.writeNull();
            }
        }
    }

    /** A {@code null} (or absent) figure reads back as NaN, no data, not as 0. */
    private static final class NullAsNoData extends JsonDeserializer<Double> {
        @Override
        public Double deserialize(JsonParser parser, DeserializationContext context) throws IOException {
            return parser.getValueAsDouble(Double.NaN);
        }

        @Override
        public Double getNullValue(DeserializationContext context) {
            return Double.NaN;
        }
    }
}
