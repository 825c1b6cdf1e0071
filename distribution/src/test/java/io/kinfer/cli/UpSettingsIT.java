package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.Ports;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.junit.jupiter.api.Test;

/**
 * {@code kinfer up} with settings from a file, the environment and {@code --set}, run from the built jar: the
 * settings reach every process as they would reach it run alone, secrets never appear on a command line, and up's
 * readiness checks work when the gateway wants an API key.
 */
class UpSettingsIT {

    private static final String JAR = System.getProperty("kinfer.jar");

    @Test
    void theFileAndTheEnvironmentDecideModelsPartitionsAndPortsOverUpsDefaults() throws Exception {
        Path work = Files.createDirectories(Path.of("target", "it-up-settings"));
        // The gateway, the broker and its controller, one worker's metrics (metrics.port + 1).
        int gatewayPort = Ports.freeConsecutive(5);
        int kafkaPort = gatewayPort + 1;
        int metricsPort = gatewayPort + 3;
        Path config = Files.writeString(work.resolve("kinfer.properties"), String.join("\n",
                "worker.models=minilm", "topics.partitions=3", "gateway.port=" + gatewayPort,
                "metrics.port=" + metricsPort,
                // Another cluster's address: up runs its own broker, and says so.
                "kafka.bootstrap.servers=127.0.0.1:1", "onnx.intra.op.threads=1", ""));

        try (UpProcess up = UpProcess.start(work, Map.of("KINFER_WORKER_MODELS", "sentiment"), "--workers", "1",
                "--config", config.toString(), "--kafka-port", Integer.toString(kafkaPort),
                "--data-dir", work.resolve("data").toString(), "--fresh", "--no-class-data-sharing",
                "--ready-timeout", "150")) {
            up.awaitReady(180);

            assertThat(up.output()).anyMatch(line -> line.contains("gateway") && line.endsWith(":" + gatewayPort))
                    .anyMatch(line -> line.contains("workers          1 serving sentiment (3 partitions"))
                    .anyMatch(line -> line.contains("http://127.0.0.1:" + (metricsPort + 1) + "/metrics (worker-1)"))
                    .anyMatch(line -> line.contains("not 127.0.0.1:1 (from config file " + config
                            + "): up runs its own broker"));
            try (Admin admin = Admin.create(Map.of("bootstrap.servers", "127.0.0.1:" + kafkaPort))) {
                Set<String> topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
                assertThat(topics).contains("kinfer.requests.sentiment").doesNotContain("kinfer.requests.minilm");
                TopicDescription requests = admin.describeTopics(List.of("kinfer.requests.sentiment"))
                        .allTopicNames().get(30, TimeUnit.SECONDS).get("kinfer.requests.sentiment");
                assertThat(requests.partitions()).hasSize(3);
            }
        }
    }

    @Test
    void withApiKeysUpBecomesReadyAndNoSecretIsOnAnyCommandLine() throws Exception {
        Path work = Files.createDirectories(Path.of("target", "it-up-keys"));
        int gatewayPort = Ports.freeConsecutive(2);
        String jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" "
                + "password=\"jaas-s3cret\";";
        try (EmbeddedKafka kafka = EmbeddedKafka.startDefault();
             UpProcess up = UpProcess.start(work, Map.of(), "--workers", "1", "--models", "sentiment",
                     "--kafka", kafka.bootstrapServers(), "--port", Integer.toString(gatewayPort),
                     "--metrics-base-port", Integer.toString(gatewayPort), "--partitions", "2",
                     "--data-dir", work.resolve("data").toString(), "--no-class-data-sharing",
                     "--set", "gateway.api.keys=key-s3cret-1,key-s3cret-2", "--set", "kafka.sasl.jaas.config=" + jaas,
                     "--set", "onnx.intra.op.threads=1", "--ready-timeout", "120")) {
            // Before: up's readiness checks had no key, every /v2/models/<m>/ready answered 401 until the timeout.
            up.awaitReady(150);

            List<String> commandLines = up.childCommandLines();
            assertThat(commandLines).anyMatch(line -> line.contains(" worker "))
                    .anyMatch(line -> line.contains(" gateway "))
                    .noneMatch(line -> line.contains("s3cret") || line.contains("gateway.api.keys"));
            HttpClient http = HttpClient.newHttpClient();
            HttpRequest.Builder predict = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + gatewayPort
                    + "/predict")).timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"text\":\"I love this product\"}"));
            assertThat(http.send(predict.build(), HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
            HttpResponse<String> keyed = http.send(predict.header("Authorization", "Bearer key-s3cret-2").build(),
                    HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            assertThat(keyed.statusCode()).isEqualTo(200);
            assertThat(keyed.body()).contains("\"label\":\"positive\"");
            assertThat(up.output()).noneMatch(line -> line.contains("s3cret"));
        }
    }

    @Test
    void brokerHelpIsNamedAsTheUserTypesIt() throws Exception {
        Process help = new ProcessBuilder(ChildJvm.command("-jar", JAR, "broker", "--help")).redirectErrorStream(true)
                .start();
        String output = new String(help.getInputStream().readAllBytes(), StandardCharsets.UTF_8);

        assertThat(help.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(help.exitValue()).isZero();
        assertThat(output).startsWith("Usage: kinfer broker ").contains("--port");
    }
}
