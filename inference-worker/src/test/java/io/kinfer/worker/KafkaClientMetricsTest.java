package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

@WithKafka
class KafkaClientMetricsTest {

    @Test
    void consumersSharingAKafkaClientIdEachExportTheirKafkaMeters(EmbeddedKafka kafka) throws Exception {
        // kafka.client.id passes through unchanged, so every model's request consumer carries it. Without a tag of
        // their own, Micrometer told them apart only by chance (Kafka's version tag reads "unknown" for all but the
        // first), and from the third model on bound their meters to an earlier model's consumer.
        Path repo = Files.createTempDirectory("repo");
        for (String model : new String[] {"a", "b", "c"}) {
            OnnxModels.writeVersion(repo, model, "1", OnnxModels.gemm(4, 3), null, null);
        }
        try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                WorkerConfig.MODELS, "a,b,c", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                "kafka.client.id", "shared")))) {
            await().atMost(Duration.ofSeconds(30)).until(worker::ready);

            String id = worker.workerId();
            assertThat(worker.scrape().lines().filter(line -> line.startsWith("kafka_consumer_connection_count{")))
                    .hasSize(3)
                    .allMatch(line -> line.contains("client_id=\"shared\""))
                    .anyMatch(line -> line.contains("kinfer_client=\"" + id + "-a\""))
                    .anyMatch(line -> line.contains("kinfer_client=\"" + id + "-b\""))
                    .anyMatch(line -> line.contains("kinfer_client=\"" + id + "-c\""));
            assertThat(worker.scrape().lines().filter(line -> line.startsWith("kafka_producer_connection_count{")))
                    .singleElement().asString().contains("kinfer_client=\"" + id + "-replies\"");
        }
    }
}
