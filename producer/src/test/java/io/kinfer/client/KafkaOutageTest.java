package io.kinfer.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceRequest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

/** While Kafka is unreachable calls fail fast instead of hanging, and the client recovers on its own. */
@WithKafka
class KafkaOutageTest {

    @Test
    void callsFailFastDuringAnOutageAndWorkAgainAfterIt(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.echo", 1);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (FakeWorker worker = new FakeWorker(kafka, "echo");
             InferenceClient client = InferenceClient.create(InferenceClientTest.config(kafka, "outage",
                     ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 300), registry)) {
            InferenceRequest request = InferenceRequest.ofTexts("o1", "echo", List.of("x"));
            assertThat(client.request(request).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();

            kafka.stopBroker(0);
            await().atMost(Duration.ofSeconds(30)).until(() -> !client.kafkaReachable());
            var during = client.request(InferenceRequest.ofTexts("o2", "echo", List.of("y")));
            assertThat(during).isCompletedExceptionally();
            assertThatThrownBy(during::get).hasCauseInstanceOf(InferenceException.KafkaUnavailable.class);
            assertThat(client.ready()).isFalse();
            assertThat(registry.get("kinfer.client.requests").tag("outcome", "kafka_unavailable").counter().count())
                    .as("a call refused at once is counted as well").isEqualTo(1);

            kafka.startBroker(0);
            await().atMost(Duration.ofSeconds(60)).until(client::ready);
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> client.request(
                    InferenceRequest.ofTexts("o3", "echo", List.of("z"))).get(10, TimeUnit.SECONDS).isSuccess());
        }
    }
}
