package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.junit.jupiter.api.Test;

/** The jobs API as the gateway serves it: submit now, fetch later, through the same body limit and auth. */
@WithKafka
class GatewayJobsTest {

    @Test
    void aJobSubmittedThroughTheGatewayIsFetchedWithItsResultsInOrder(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 2)) {
            try (GatewayServer gateway = PipelineTestSupport.gatewayKnowing(kafka, "echo",
                    "jobs.streams.commit.interval.ms", 100)) {

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
