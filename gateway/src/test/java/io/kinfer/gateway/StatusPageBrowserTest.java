package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.settings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The status page in a real browser (Debian's headless Chromium; skipped where it is not installed) while load
 * runs through a real worker: the page loads, updates itself, shows numbers that change, and logs no error.
 */
@WithKafka
class StatusPageBrowserTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");

    @Test
    void thePageShowsLiveNumbersThatChangeUnderLoad(EmbeddedKafka kafka, @TempDir Path dir) throws Exception {
        assumeTrue(Files.isExecutable(CHROMIUM), "no " + CHROMIUM);
        try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(settings(kafka, WorkerConfig.MODELS,
                "sentiment", WorkerConfig.METRICS_PORT, -1, WorkerConfig.TOPICS_PARTITIONS, 2,
                WorkerConfig.ONNX_INTRA_OP_THREADS, 1, WorkerConfig.ANNOUNCE_INTERVAL_MS, 500)));
             GatewayServer gateway = GatewayServer.start(new GatewayConfig(settings(kafka, GatewayConfig.PORT, 0)))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> gateway.catalog().ready("sentiment", null));
            LoadInBackground load = new LoadInBackground(gateway.url());
            try {
                await().atMost(Duration.ofSeconds(30)).until(() -> load.answered() >= 20);
                await().atMost(Duration.ofSeconds(30)).until(() ->
                        get(gateway.url() + "/status.json").raw().body().contains("\"mean_batch\""));

                String dom = chromium(dir, "--dump-dom", gateway.url() + "/");

                assertThat(dom).contains("data-errors=\"0\"");
                assertThat(number(dom, "data-updates")).isGreaterThanOrEqualTo(3);
                assertThat(number(dom, "data-last-total")).isGreaterThan(number(dom, "data-first-total"));
                assertThat(dom).contains("sentiment v1").contains("<div id=\"error\"></div>");

                Path png = dir.resolve("status.png");
                chromium(dir, "--screenshot=" + png, "--window-size=1200,800", gateway.url() + "/");
                assertThat(Files.size(png)).isGreaterThan(20_000);
            } finally {
                load.stop();
            }
        }
    }

    private static long number(String dom, String attribute) {
        Matcher m = Pattern.compile(attribute + "=\"(\\d+)\"").matcher(dom);
        assertThat(m.find()).as(attribute + " in the page").isTrue();
        return Long.parseLong(m.group(1));
    }

    private static String chromium(Path dir, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(CHROMIUM.toString(), "--headless", "--no-sandbox",
                "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + Files.createTempDirectory(dir, "profile"), "--virtual-time-budget=6000"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectError(dir.resolve("chromium.log").toFile()).start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        if (!process.waitFor(90, TimeUnit.SECONDS)) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            throw new AssertionError("chromium did not finish within 90 s");
        }
        return out.get(10, TimeUnit.SECONDS);
    }

    /** Steady calls from a few users until stopped. */
    private static final class LoadInBackground {
        private final String url;
        private final java.util.concurrent.atomic.AtomicLong answered = new java.util.concurrent.atomic.AtomicLong();
        private volatile boolean running = true;

        LoadInBackground(String url) {
            this.url = url;
            for (int user = 0; user < 3; user++) {
                next(user, 0);
            }
        }

        private void next(int user, int n) {
            if (!running) {
                return;
            }
            PipelineTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url + "/predict"))
                            .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"review " + user + "-" + n + " was fine\"}"))
                            .build(), HttpResponse.BodyHandlers.discarding())
                    .whenComplete((r, e) -> {
                        answered.incrementAndGet();
                        next(user, n + 1);
                    });
        }

        long answered() {
            return answered.get();
        }

        void stop() {
            running = false;
        }
    }
}
