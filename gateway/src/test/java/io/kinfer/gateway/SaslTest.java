package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.jobs.JobsConfig;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerConfig;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/**
 * Kafka security passes through unchanged: the whole pipeline against a broker that requires SASL/PLAIN, with the
 * credentials given only as kafka.* settings; a client with a wrong password is refused.
 */
class SaslTest {

    @Test
    void thePipelineRunsOverSaslAndWrongCredentialsAreRefused() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder()
                .saslPlain(Map.of("admin", "admin-secret", "kinfer", "kinfer-secret")).start()) {
            Map<String, Object> settings = new HashMap<>();
            settings.put("kafka.bootstrap.servers", kafka.bootstrapServers());
            EmbeddedKafka.saslClientProperties("kinfer", "kinfer-secret").forEach((k, v) -> settings.put("kafka." + k, v));
            Path repo = Files.createTempDirectory("repo");
            OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(2, 2), null, null);

            Map<String, Object> workerSettings = new HashMap<>(settings);
            workerSettings.putAll(Map.of(WorkerConfig.MODELS, "sentiment", WorkerConfig.METRICS_PORT, "-1",
                    WorkerConfig.TOPICS_PARTITIONS, "1", WorkerConfig.ONNX_INTRA_OP_THREADS, "1"));
            Map<String, Object> gatewaySettings = new HashMap<>(settings);
            gatewaySettings.put(GatewayConfig.PORT, "0");
            gatewaySettings.put(JobsConfig.STATE_DIR, TestSettings.jobStateDir());
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(workerSettings));
                 GatewayServer gateway = GatewayServer.start(new GatewayConfig(gatewaySettings))) {
                await().atMost(Duration.ofSeconds(30)).until(() -> worker.ready()
                        && gateway.catalog().ready("sentiment", null));

                var response = post(gateway.url() + "/predict", "{\"text\":\"I love this product\"}");

                assertThat(response.status()).isEqualTo(200);
                assertThat(response.body().get("label").asText()).isEqualTo("positive");
            }

            Map<String, Object> wrong = new HashMap<>();
            wrong.put("kafka.bootstrap.servers", kafka.bootstrapServers());
            EmbeddedKafka.saslClientProperties("kinfer", "wrong-password").forEach((k, v) -> wrong.put("kafka." + k, v));
            wrong.put(ClientConfig.CLIENT_ID, "intruder");
            assertThatThrownBy(() -> InferenceClient.create(new ClientConfig(wrong)).close())
                    .hasStackTraceContaining("Authentication failed");
        }
    }
}
