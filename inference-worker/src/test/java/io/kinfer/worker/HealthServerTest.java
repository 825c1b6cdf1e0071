package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

/** The worker's own endpoints over one kept-alive connection, as Prometheus and a readiness probe use them. */
class HealthServerTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void answersMetricsLivenessReadinessAndUnknownPaths() throws Exception {
        AtomicBoolean ready = new AtomicBoolean(false);
        AtomicBoolean live = new AtomicBoolean(true);
        try (HealthServer server = new HealthServer("127.0.0.1", 0, () -> "kinfer_up 1\n", live::get, ready::get,
                () -> "{\"ready\":" + ready.get() + "}")) {
            String base = "http://127.0.0.1:" + server.port();

            HttpResponse<String> metrics = get(base + "/metrics");
            assertThat(metrics.statusCode()).isEqualTo(200);
            assertThat(metrics.headers().firstValue("Content-Type")).hasValueSatisfying(
                    type -> assertThat(type).startsWith("text/plain; version=0.0.4"));
            assertThat(metrics.body()).isEqualTo("kinfer_up 1\n");

            assertThat(get(base + "/health/live").body()).isEqualTo("{\"live\":true}");
            live.set(false);
            assertThat(get(base + "/health/live").statusCode()).isEqualTo(503);
            assertThat(get(base + "/health/live").body()).isEqualTo("{\"live\":false}");

            HttpResponse<String> notReady = get(base + "/health/ready");
            assertThat(notReady.statusCode()).isEqualTo(503);
            assertThat(notReady.body()).isEqualTo("{\"ready\":false}");
            ready.set(true);
            HttpResponse<String> isReady = get(base + "/health/ready");
            assertThat(isReady.statusCode()).isEqualTo(200);
            assertThat(isReady.body()).isEqualTo("{\"ready\":true}");

            HttpResponse<String> unknown = get(base + "/nothing-here");
            assertThat(unknown.statusCode()).isEqualTo(404);
            assertThat(unknown.body()).contains("/metrics");
        }
    }

    /**
     * The JDK matches contexts by prefix: /metricsXYZ served the metrics and /health/readyz the readiness. And a
     * HEAD (a load balancer's probe) was answered with a body length, which the JDK logs a warning about, every time.
     */
    @Test
    void pathsMatchExactlyAndHeadIsAnsweredWithoutABodyOrAWarning() throws Exception {
        java.util.logging.Logger jdk = java.util.logging.Logger.getLogger("com.sun.net.httpserver");
        List<java.util.logging.LogRecord> warnings = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler handler = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord record) {
                if (record.getLevel().intValue() >= java.util.logging.Level.WARNING.intValue()) {
                    warnings.add(record);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        jdk.addHandler(handler);
        try (HealthServer server = new HealthServer("127.0.0.1", 0, () -> "kinfer_up 1\n", () -> true, () -> true,
                () -> "{\"ready\":true}")) {
            String base = "http://127.0.0.1:" + server.port();
            assertThat(get(base + "/metricsXYZ").statusCode()).isEqualTo(404);
            assertThat(get(base + "/health/readyz").statusCode()).isEqualTo(404);

            for (String path : List.of("/health/ready", "/health/live", "/metrics")) {
                HttpResponse<String> head = HTTP.send(HttpRequest.newBuilder(URI.create(base + path))
                        .timeout(Duration.ofSeconds(10)).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(head.statusCode()).as(path).isEqualTo(200);
                assertThat(head.body()).isEmpty();
            }
            assertThat(get(base + "/health/ready").body()).as("GET still has its body").isEqualTo("{\"ready\":true}");
        } finally {
            jdk.removeHandler(handler);
        }
        assertThat(warnings).extracting(java.util.logging.LogRecord::getMessage).isEmpty();
    }

    @Test
    void turnsNagleOffForItsConnections() throws Exception {
        // With Nagle on, the JDK's server made every answer on a kept-alive connection wait for the client's delayed
        // ACK (44-52 ms, measured in docs/PERFORMANCE.md). The switch is a JDK property read when the first server
        // is made, so the check is that the property is set by then.
        try (HealthServer server = new HealthServer("127.0.0.1", 0, () -> "", () -> true, () -> true, () -> "{}")) {
            assertThat(System.getProperty("sun.net.httpserver.nodelay")).isEqualTo("true");
            assertThat(get("http://127.0.0.1:" + server.port() + "/health/live").statusCode()).isEqualTo(200);
        }
    }

    private static HttpResponse<String> get(String url) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
