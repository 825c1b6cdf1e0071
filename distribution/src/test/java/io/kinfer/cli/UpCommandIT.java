package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.Ports;
import org.junit.jupiter.api.Test;

/**
 * The README's first command, as a user runs it: {@code java -jar kinfer.jar up} starts a real broker, a worker
 * and the gateway as processes, serves a prediction, and stops everything cleanly on SIGTERM (what Ctrl-C does
 * to the process).
 */
class UpCommandIT {

    @Test
    void upServesAPredictionAndStopsCleanly() throws Exception {
        Path jar = Path.of(System.getProperty("kinfer.jar"));
        Path work = Files.createDirectories(Path.of("target", "it-up"));
        // Four consecutive free ports: the gateway, the broker and its controller (port + 1), one worker's metrics.
        // Below the ephemeral range: a Kafka client's outgoing connection cannot take one before it is bound.
        int gatewayPort = Ports.freeConsecutive(4);
        int kafkaPort = gatewayPort + 1;
        int metricsBase = gatewayPort + 2; // worker i serves metrics on base + i: worker-1 on gatewayPort + 3
        ProcessBuilder builder = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"),
                "-jar", jar.toString(), "up", "--workers", "1", "--models", "sentiment", "--port",
                Integer.toString(gatewayPort), "--kafka-port", Integer.toString(kafkaPort), "--metrics-base-port",
                Integer.toString(metricsBase), "--data-dir", work.resolve("data").toString(), "--fresh",
                "--partitions", "2")
                .redirectErrorStream(true);
        builder.environment().put("KINFER_HOME", work.resolve("home").toAbsolutePath().toString());
        Process up = builder.start();
        List<String> output = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> ready = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(up.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    output.add(line);
                    // The banner's last line: everything it promises (URLs, curl examples) has been read.
                    if (line.contains("Ctrl-C stops everything")) {
                        ready.complete(null);
                    }
                }
            } catch (IOException e) {
                // process ended
            }
            ready.completeExceptionally(new IllegalStateException("kinfer up ended before it was ready:\n"
                    + String.join("\n", output)));
        });
        reader.start();
        try {
            ready.get(180, TimeUnit.SECONDS);
            assertThat(output).anyMatch(line -> line.contains("gateway") && line.contains(":" + gatewayPort));
            assertThat(output).anyMatch(line -> line.contains("curl -s"));

            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + gatewayPort + "/predict"))
                    .timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"I love this product\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).contains("\"label\":\"positive\"");
        } finally {
            // SIGTERM, as Ctrl-C's SIGINT would. ProcessHandle.destroy keeps the pipe open for the last lines.
            up.toHandle().destroy();
            boolean exited = up.waitFor(120, TimeUnit.SECONDS);
            reader.join(5_000);
            assertThat(exited).as("kinfer up stops within two minutes").isTrue();
        }
        assertThat(output).anyMatch(line -> line.contains("worker worker-1 stopped"));
        // In the documented order: gateway, workers, broker.
        assertThat(output).containsSubsequence("kinfer: gateway stopped", "kinfer: worker-1 stopped",
                "kinfer: broker stopped", "kinfer: stopped");
        // The jobs' local state lives with the broker's data (a --fresh start empties both), not in /tmp.
        assertThat(work.resolve("data").resolve("jobs")).isDirectory();
        assertThat(output).noneMatch(line -> line.contains("killing it"));
        assertThat(ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().orElse("").contains("--kafka-port " + kafkaPort)
                        || p.info().commandLine().orElse("").contains("--port " + kafkaPort))
                .toList()).isEmpty();
        // The first run recorded each role's class archive for a faster next start; none was left half-written.
        try (var files = Files.list(work.resolve("data").resolve("cds"))) {
            assertThat(files.map(f -> f.getFileName().toString()).toList())
                    .hasSize(3)
                    .allMatch(name -> name.endsWith(".jsa"))
                    .anyMatch(name -> name.startsWith("broker-"))
                    .anyMatch(name -> name.startsWith("worker-"))
                    .anyMatch(name -> name.startsWith("gateway-"));
        }
        assertThat(output).noneMatch(line -> line.contains("[cds"));
    }
}
