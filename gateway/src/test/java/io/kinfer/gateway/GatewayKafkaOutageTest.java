package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.junit.jupiter.api.Test;

/** Kafka unreachable: calls get 503 at once and readiness turns false; both recover when Kafka returns. */
@WithKafka
class GatewayKafkaOutageTest {

    @Test
    void kafkaOutageGives503AndNotReadyThenRecovers(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 1)) {
            try (GatewayServer gateway = PipelineTestSupport.gatewayKnowing(kafka, "echo",
                    ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 300)) {
                assertThat(post(gateway.url() + "/predict", "{\"text\":\"before\"}").status()).isEqualTo(200);

                kafka.stopBroker(0);
                await().atMost(Duration.ofSeconds(30)).until(() -> get(gateway.url() + "/v2/health/ready").status() == 400);
                var during = post(gateway.url() + "/predict", "{\"text\":\"during\"}");
                assertThat(during.status()).isEqualTo(503);
                assertThat(during.body().get("code").asText()).isEqualTo("kafka_unavailable");
                // A job too, at once: it waited out every item's delivery timeout (2 minutes), and could be created
                // after its caller had given up.
                var job = post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"during\"]}");
                assertThat(job.status()).isEqualTo(503);
                assertThat(job.body().get("code").asText()).isEqualTo("kafka_unavailable");

                kafka.startBroker(0);
                await().atMost(Duration.ofSeconds(60)).until(() -> get(gateway.url() + "/v2/health/ready").status() == 200);
                await().atMost(Duration.ofSeconds(60)).until(() ->
                        post(gateway.url() + "/predict", "{\"text\":\"after\"}").status() == 200);
            }
        }
    }
}
