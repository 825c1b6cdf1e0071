package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static io.kinfer.gateway.PipelineTestSupport.settings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.Map;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Topics;
import org.junit.jupiter.api.Test;

/** The jobs API as the gateway serves it: submit now, fetch later, through the same body limit and auth. */
@WithKafka
class GatewayJobsTest {

    @Test
    void aJobSubmittedThroughTheGatewayIsFetchedWithItsResultsInOrder(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.echo", 2);
        kafka.createTopic(Topics.CATALOG, 1, (short) 1, Map.of("cleanup.policy", "compact"));
        try (FakeWorker worker = new FakeWorker(kafka, "echo")) {
            worker.announce("echo");
            try (GatewayServer gateway = GatewayServer.start(new GatewayConfig(settings(kafka, GatewayConfig.PORT, 0,
                    "jobs.streams.commit.interval.ms", 100)))) {
                await().atMost(Duration.ofSeconds(30)).until(() -> gateway.catalog().known("echo"));

                var created = post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"a\",\"bbb\",\"cc\"]}");

                assertThat(created.status()).isEqualTo(202);
                String location = created.raw().headers().firstValue("Location").orElseThrow();
                await().atMost(Duration.ofSeconds(60)).until(() -> get(gateway.url() + location).status() == 200);
                var done = get(gateway.url() + location);
                assertThat(done.body().get("status").asText()).isEqualTo("done");
                assertThat(done.body().get("results").toString()).contains("[1.0]", "[3.0]", "[2.0]");
                assertThat(done.body().get("results").get(1).toString()).contains("[3.0]");
                assertThat(get(gateway.url() + "/v1/jobs/not-an-id!").status()).isEqualTo(400);
                assertThat(gateway.registry().find("kinfer.jobs.submitted").counter().count()).isEqualTo(1.0);
            }
        }
    }
}
