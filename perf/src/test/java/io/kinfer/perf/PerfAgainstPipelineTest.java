package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;

import io.kinfer.gateway.GatewayConfig;
import io.kinfer.gateway.GatewayServer;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerConfig;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The load generator against a real pipeline, briefly: its counts add up (requests, texts, per-second timeline,
 * the workers' batch breakdown), open-loop arrivals follow the rate, and the command writes JSON that reads back.
 * Speed itself is never asserted here; it is measured by the perf command into docs/PERFORMANCE.md.
 */
@WithKafka
class PerfAgainstPipelineTest {

    private static InferenceWorker worker;
    private static GatewayServer gateway;

    @BeforeAll
    static void start(EmbeddedKafka kafka) throws Exception {
        worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka, WorkerConfig.MODELS,
                "sentiment", WorkerConfig.METRICS_PORT, -1, WorkerConfig.TOPICS_PARTITIONS, 2,
                WorkerConfig.ONNX_INTRA_OP_THREADS, 1)));
        gateway = GatewayServer.start(new GatewayConfig(TestSettings.forKafka(kafka, GatewayConfig.PORT, 0)));
        await().atMost(Duration.ofSeconds(30)).until(() -> worker.ready() && gateway.catalog().ready("sentiment", null));
    }

    @AfterAll
    static void stop() {
        gateway.close();
        worker.close();
    }

    @Test
    void closedLoopCountsAddUp() throws Exception {
        try (HttpTarget target = new HttpTarget(gateway.url(), "sentiment", false, Duration.ofSeconds(30))) {
            LoadRunner runner = new LoadRunner(target, Corpus.builtIn().unique(), (p, e, r, q, f, w) -> { });

            PerfReport.RunResult r = runner.run(new LoadRunner.Plan("users=3", 3, 0, true, 2, Duration.ofSeconds(1),
                    Duration.ofSeconds(3)));

            assertThat(r.failures()).isZero();
            assertThat(r.requests()).isPositive();
            assertThat(r.items()).isEqualTo(r.requests() * 2);
            assertThat(r.latency().count()).isEqualTo(r.requests());
            // Served per second counts answers arriving in the window; requests, the calls started in it: they
            // differ by at most the calls in flight at either edge (three users).
            assertThat(r.requestsPerSecond()).isCloseTo(r.requests() / r.durationSeconds(),
                    org.assertj.core.api.Assertions.within(2 * 3 / r.durationSeconds() + 0.5));
            assertThat(r.timeline()).isNotEmpty();
            long replies = r.server().batchSizes().values().stream().mapToLong(Long::longValue).sum();
            assertThat(replies + r.server().cachedReplies()).isEqualTo(r.items());
            assertThat(r.latency().p50()).isLessThanOrEqualTo(r.latency().p99());
            assertThat(r.endpoint()).endsWith("/predict_batch");
        }
    }

    @Test
    void openLoopArrivalsFollowTheRate() throws Exception {
        try (HttpTarget target = new HttpTarget(gateway.url(), "sentiment", true, Duration.ofSeconds(30))) {
            LoadRunner runner = new LoadRunner(target, Corpus.builtIn().unique(), (p, e, r, q, f, w) -> { });

            PerfReport.RunResult r = runner.run(new LoadRunner.Plan("rate=20", 0, 20, false, 1, Duration.ZERO,
                    Duration.ofSeconds(3)));

            // 20 planned calls a second for 3 s, each counted once answered, even after the window closed.
            assertThat(r.requests()).isBetween(58L, 61L);
            assertThat(r.failures()).isZero();
            assertThat(r.mode()).isEqualTo("open");
            assertThat(r.endpoint()).contains("/v2/models/sentiment/infer");
        }
    }

    @Test
    void theCommandWritesAReportThatReadsBack(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("report.json");
        Path html = dir.resolve("report.html");

        int exit = new CommandLine(new PerfCommand()).execute("run", "--url", gateway.url(), "--users", "2",
                "--duration", "2s", "--warmup", "1s", "--ceiling", "--threads", "1", "--json", json.toString(),
                "--html", html.toString());

        assertThat(exit).isZero();
        PerfReport report = PerfReport.read(json);
        assertThat(report.runs()).hasSize(1);
        assertThat(report.ceiling().itemsPerSecond()).isPositive();
        // Batched as the worker batches a full queue, which the report says.
        assertThat(report.ceiling().grouping()).isEqualTo("pad-aware");
        assertThat(report.ceiling().queueSize()).isEqualTo(Ceiling.WORKER_QUEUE_SIZE);
        assertThat(report.ceiling().paddingEfficiency()).isGreaterThan(0).isLessThanOrEqualTo(1);
        assertThat(report.runs().get(0).ratioToCeiling())
                .isEqualTo(Math.round(report.runs().get(0).itemsPerSecond() / report.ceiling().itemsPerSecond()
                        * 1000) / 1000.0);
        assertThat(html).exists();
    }
}
