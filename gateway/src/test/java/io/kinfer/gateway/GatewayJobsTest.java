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

    /**
     * Between the port opening and the jobs starting (Kafka Streams is started after the port is known, for other
     * instances forward to it), the jobs' paths answered 404 "no route", which says "no such job" of a job that
     * exists, while readiness was already true. They answer 503 with Retry-After until the jobs are up.
     */
    @Test
    void untilTheJobsStartTheirRoutesAnswer503WithRetryAfterNot404(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 1)) {
            try (GatewayServer gateway = GatewayServer.startListening(new GatewayConfig(PipelineTestSupport.settings(
                    kafka, GatewayConfig.PORT, 0, GatewayConfig.DEFAULT_MODEL, "echo",
                    "jobs.streams.commit.interval.ms", 100)))) {
                String someJob = "/v1/jobs/" + "0".repeat(24);
                for (var answer : java.util.List.of(get(gateway.url() + someJob),
                        get(gateway.url() + "/internal/jobs/" + "0".repeat(24)),
                        post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"a\"]}"))) {
                    assertThat(answer.status()).isEqualTo(503);
                    assertThat(answer.body().get("code").asText()).isEqualTo("unavailable");
                    assertThat(answer.raw().headers().firstValue("Retry-After")).contains("1");
                }
                assertThat(get(gateway.url() + "/v2/health/ready").status()).isEqualTo(200); // inference is ready

                gateway.startJobs();
                await().atMost(Duration.ofSeconds(30)).until(() -> get(gateway.url() + "/v2/health/ready").status() == 200
                        && post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"a\"]}").status() == 202);
            }
        }
    }
}
