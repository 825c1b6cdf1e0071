package io.kinfer.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ModelAnnouncement;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.TensorMetadata;
import io.kinfer.protocol.Topics;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * The catalog reader outlives a broker that is down when it starts, and learns the models once it is back; of
 * workers serving one version with different batch limits, it keeps the largest.
 */
@WithKafka
class ModelCatalogTest {

    @Test
    void workersServingOneVersionWithDifferentBatchLimitsCountAsTheLargest(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic(Topics.CATALOG, 1, (short) 1, Map.of("cleanup.policy", "compact"));
        try (ModelCatalog catalog = new ModelCatalog(Map.copyOf(kafka.clientProperties()))
                .start(Duration.ofSeconds(30));
             KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(kafka.clientProperties(),
                     new ByteArraySerializer(), new ByteArraySerializer())) {
            // Each worker with the larger limit once, so that neither order the catalog keeps them in picks it
            // by chance.
            long timestamp = System.currentTimeMillis();
            for (int[] limits : new int[][] {{64, 8}, {8, 64}}) {
                long announced = ++timestamp;
                announce(producer, "a", limits[0], announced);
                announce(producer, "b", limits[1], announced);
                await().atMost(Duration.ofSeconds(30)).until(() -> catalog.liveAnnouncements().stream()
                        .filter(a -> a.model().equals("limits") && a.timestampMs() == announced).count() == 2);

                assertThat(catalog.versions("limits")).singleElement()
                        .satisfies(version -> assertThat(version.maxBatchSize()).isEqualTo(64));
            }
        }
    }

    private static void announce(KafkaProducer<byte[], byte[]> producer, String worker, int maxBatchSize,
                                 long timestamp) throws Exception {
        ModelMetadata version = new ModelMetadata("limits", "1", ModelMetadata.TENSOR, "none",
                List.of(new TensorMetadata("x", DataType.FP32, new long[] {-1, 2})),
                List.of(new TensorMetadata("y", DataType.FP32, new long[] {-1, 3})), List.of(), maxBatchSize, "");
        ModelAnnouncement announcement = new ModelAnnouncement("limits", worker, timestamp, 60_000, List.of(version));
        producer.send(new ProducerRecord<>(Topics.CATALOG, announcement.key().getBytes(StandardCharsets.UTF_8),
                new JsonCodec().encodeAnnouncement(announcement))).get();
    }

    @Test
    void aCatalogStartedWhileKafkaIsDownReadsOnceItIsBack(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic(Topics.CATALOG, 1, (short) 1, Map.of("cleanup.policy", "compact"));
        kafka.createTopic("kinfer.requests.echo", 1);
        Map<String, Object> props = Map.copyOf(kafka.clientProperties());
        kafka.stopBroker(0);
        // Its first partitionsFor gives up after 5 s: before, that ended the reader for good.
        try (ModelCatalog catalog = new ModelCatalog(props).start(Duration.ofSeconds(7))) {
            assertThat(catalog.known("echo")).isFalse();
            kafka.startBroker(0);
            try (FakeWorker worker = new FakeWorker(kafka, "echo")) {
                worker.announce("echo");
                await().atMost(Duration.ofSeconds(60)).until(() -> catalog.known("echo"));
            }
        }
    }
}
