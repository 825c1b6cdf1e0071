package io.kinfer.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.Map;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Topics;
import org.junit.jupiter.api.Test;

/** The catalog reader outlives a broker that is down when it starts, and learns the models once it is back. */
@WithKafka
class ModelCatalogTest {

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
