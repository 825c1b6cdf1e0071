package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

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
        Path work = Files.createDirectories(Path.of("target", "it-up"));
        // Four consecutive free ports: the gateway, the broker and its controller (port + 1), one worker's metrics.
        // Below the ephemeral range: a Kafka client's outgoing connection cannot take one before it is bound.
        int gatewayPort = Ports.freeConsecutive(4);
        int kafkaPort = gatewayPort + 1;
        int metricsBase = gatewayPort + 2; // worker i serves metrics on base + i: worker-1 on gatewayPort + 3
        List<ProcessHandle> children;
        List<String> output;
        try (UpProcess up = UpProcess.start(work, Map.of(), "--workers", "1", "--models", "sentiment", "--port",
                Integer.toString(gatewayPort), "--kafka-port", Integer.toString(kafkaPort), "--metrics-base-port",
                Integer.toString(metricsBase), "--data-dir", work.resolve("data").toString(), "--fresh",
                "--partitions", "2")) {
            up.awaitReady(180);
            children = up.descendants();
            assertThat(up.output()).anyMatch(line -> line.contains("gateway") && line.contains(":" + gatewayPort));
            assertThat(up.output()).anyMatch(line -> line.contains("curl -s"));

            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + gatewayPort + "/predict"))
                    .timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"I love this product\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(200);
            assertThat(response.body()).contains("\"label\":\"positive\"");

            assertThat(up.stop()).as("kinfer up stops within two minutes").isTrue();
            output = up.output();
        }
        // The broker, the worker and the gateway, each a process of its own, all gone.
        assertThat(children).hasSizeGreaterThanOrEqualTo(3).noneMatch(ProcessHandle::isAlive);
        assertThat(output).anyMatch(line -> line.contains("worker worker-1 stopped"));
        // In the documented order: gateway, workers, broker.
        assertThat(output).containsSubsequence("kinfer: gateway stopped", "kinfer: worker-1 stopped",
                "kinfer: broker stopped", "kinfer: stopped");
        // The jobs' local state lives with the broker's data (a --fresh start empties both), not in /tmp.
        assertThat(work.resolve("data").resolve("jobs")).isDirectory();
        assertThat(output).noneMatch(line -> line.contains("killing it"));
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

    /**
     * A process that dies on its own (here a worker, SIGKILLed as the OOM killer would) stops the rest: up says
     * which one exited and with what code, stops the others in order, and exits 1 for its supervisor to restart.
     * The dead one is not reported "stopped" as if up had stopped it.
     */
    @Test
    void aProcessThatDiesStopsEverythingAndUpExitsOne() throws Exception {
        Path work = Files.createDirectories(Path.of("target", "it-up-died"));
        int gatewayPort = Ports.freeConsecutive(4);
        List<ProcessHandle> children;
        List<String> output;
        try (UpProcess up = UpProcess.start(work, Map.of(), "--workers", "1", "--models", "sentiment", "--port",
                Integer.toString(gatewayPort), "--kafka-port", Integer.toString(gatewayPort + 1),
                "--metrics-base-port", Integer.toString(gatewayPort + 2), "--data-dir", work.resolve("data").toString(),
                "--fresh", "--no-class-data-sharing")) {
            up.awaitReady(180);
            children = up.descendants();
            ProcessHandle worker = children.stream()
                    .filter(child -> child.info().arguments().map(List::of).orElse(List.of()).contains("worker"))
                    .findFirst().orElseThrow();
            worker.destroyForcibly();

            assertThat(up.awaitExit(120)).as("up's exit code").hasValue(1);
            output = up.output();
        }
        assertThat(children).hasSizeGreaterThanOrEqualTo(3).noneMatch(ProcessHandle::isAlive);
        assertThat(output).contains("kinfer up: worker-1 exited with code 137; stopping everything")
                .containsSubsequence("kinfer: gateway stopped", "kinfer: broker stopped", "kinfer: stopped")
                .doesNotContain("kinfer: worker-1 stopped");
    }
}
