package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.post;
import static io.kinfer.gateway.PipelineTestSupport.settings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The first end-to-end prediction: HTTP into the gateway, a real KRaft broker, a real worker running the shipped
 * MiniLM model through ONNX Runtime, and back.
 */
@WithKafka
class EndToEndPredictionTest {

    private static InferenceWorker worker;
    private static GatewayServer gateway;

    @BeforeAll
    static void start(EmbeddedKafka kafka) throws Exception {
        worker = InferenceWorker.start(new WorkerConfig(settings(kafka, WorkerConfig.MODELS, "sentiment",
                WorkerConfig.METRICS_PORT, 0, WorkerConfig.TOPICS_PARTITIONS, 2, WorkerConfig.ONNX_INTRA_OP_THREADS, 1)));
        gateway = GatewayServer.start(new GatewayConfig(settings(kafka, GatewayConfig.PORT, 0)));
        await().atMost(Duration.ofSeconds(30)).until(() -> worker.ready() && gateway.catalog().ready("sentiment", null));
    }

    @AfterAll
    static void stop() {
        gateway.close();
        worker.close();
    }

    @Test
    void predictReturnsAPositiveLabelForAPositiveSentence() throws Exception {
        var response = post(gateway.url() + "/predict", "{\"text\":\"I love this product\"}",
                "Content-Type", "application/json");

        assertThat(response.status()).isEqualTo(200);
        assertThat(response.body().get("label").asText()).isEqualTo("positive");
        assertThat(response.body().get("scores").get("positive").asDouble())
                .isGreaterThan(response.body().get("scores").get("negative").asDouble());
        assertThat(response.body().get("model").asText()).isEqualTo("sentiment");
    }

    @Test
    void acceptsCurlsDefaultFormContentType() throws Exception {
        // curl -d sends application/x-www-form-urlencoded; the README's example must work as typed.
        var response = post(gateway.url() + "/predict", "{\"text\":\"This is awful, I want a refund\"}",
                "Content-Type", "application/x-www-form-urlencoded");

        assertThat(response.status()).isEqualTo(200);
        assertThat(response.body().get("label").asText()).isEqualTo("negative");
    }
}
