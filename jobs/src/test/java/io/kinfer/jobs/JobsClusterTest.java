package io.kinfer.jobs;

import static io.kinfer.jobs.JobsTestSupport.get;
import static io.kinfer.jobs.JobsTestSupport.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.client.FakeWorker;
import io.kinfer.client.InferenceClient;
import io.kinfer.jobs.JobsTestSupport.Instance;
import io.kinfer.jobs.JobsTestSupport.Response;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several instances of one application: each holds part of the jobs, any answers any job (forwarding to the one
 * that holds it), and an instance started again on an empty disk rebuilds its state from the changelogs.
 */
@WithKafka
class JobsClusterTest {

    private static FakeWorker worker;
    private static InferenceClient client;

    @BeforeAll
    static void start(EmbeddedKafka kafka) {
        kafka.createTopic("kinfer.requests.echo", 2);
        worker = new FakeWorker(kafka, "echo");
        client = JobsTestSupport.client(kafka, "jobs-cluster-test");
    }

    @AfterAll
    static void stop() {
        if (client != null) {
            client.close();
        }
        if (worker != null) {
            worker.close();
        }
    }

    private static JsonNode awaitDone(Instance on, String jobId) {
        AtomicReference<Response> last = new AtomicReference<>();
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            last.set(on.job(jobId));
            return last.get().status() == 200;
        });
        return last.get().json();
    }

    /** Both instances running, and each holding some of the job store's partitions. */
    private static boolean shared(Instance a, Instance b) {
        if (a.jobs.streams().state() != KafkaStreams.State.RUNNING
                || b.jobs.streams().state() != KafkaStreams.State.RUNNING) {
            return false;
        }
        Collection<StreamsMetadata> hosts = a.jobs.streams().streamsMetadataForStore(JobsTopology.JOBS_STORE);
        return hosts.size() == 2 && hosts.stream().allMatch(host -> !host.topicPartitions().isEmpty());
    }

    @Test
    void anyInstanceAnswersAnyJobByForwardingToTheOneHoldingIt(EmbeddedKafka kafka, @TempDir Path dirs) {
        try (Instance a = Instance.start(kafka, client, "jobs-cluster", dirs.resolve("a"));
             Instance b = Instance.start(kafka, client, "jobs-cluster", dirs.resolve("b"))) {
            await().atMost(Duration.ofSeconds(60)).until(() -> shared(a, b));

            // Jobs land by id on either instance; make one of each, all created through A.
            String onA = null;
            String onB = null;
            for (int i = 0; i < 60 && (onA == null || onB == null); i++) {
                String jobId = a.submit("{\"model\":\"echo\",\"texts\":[\"x\",\"yy\",\"zzz\"]}");
                if (a.jobs.holds(jobId)) {
                    onA = onA == null ? jobId : onA;
                } else if (b.jobs.holds(jobId)) {
                    onB = onB == null ? jobId : onB;
                }
            }
            assertThat(onA).as("a job held by A").isNotNull();
            assertThat(onB).as("a job held by B").isNotNull();

            // B answers A's job: the GET goes to A's internal route and the answer comes back unchanged.
            double forwardedBefore = b.jobs.metrics().queries("remote");
            double servedBefore = a.jobs.metrics().queries("internal");
            JsonNode fromB = awaitDone(b, onA);
            assertThat(fromB.get("job_id").asText()).isEqualTo(onA);
            assertThat(fromB.get("results")).extracting(r -> r.at("/outputs/0/embedding/0").floatValue())
                    .containsExactly(1f, 2f, 3f);
            assertThat(b.jobs.metrics().queries("remote")).isGreaterThan(forwardedBefore);
            assertThat(a.jobs.metrics().queries("internal")).isGreaterThan(servedBefore);
            assertThat(fromB).isEqualTo(awaitDone(a, onA));

            // The forward carries the caller's credentials and trace context, and says who forwarded it.
            List<Map<String, String>> forwarded = new CopyOnWriteArrayList<>();
            a.router.route(JobsService.INTERNAL_PATH + "/*").order(-1).handler(ctx -> {
                Map<String, String> headers = new HashMap<>();
                for (String name : List.of("traceparent", "X-API-Key", JobsService.FORWARDED_HEADER)) {
                    headers.put(name, ctx.request().getHeader(name));
                }
                forwarded.add(headers);
                ctx.next();
            });
            String trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            Response traced = send(HttpRequest.newBuilder(URI.create(b.url + JobsService.JOBS_PATH + "/" + onA))
                    .header("traceparent", trace).header("X-API-Key", "key-1").GET());
            assertThat(traced.status()).isEqualTo(200);
            assertThat(forwarded).containsExactly(Map.of("traceparent", trace, "X-API-Key", "key-1",
                    JobsService.FORWARDED_HEADER, b.url.substring("http://".length())));

            // And A answers the job it created but B holds.
            assertThat(awaitDone(a, onB).get("results")).hasSize(3);
            assertThat(awaitDone(b, onB).get("results")).hasSize(3);

            // The internal route only reads its own store: asked for a job held elsewhere it says "retry".
            Response moved = get(b.url + JobsService.INTERNAL_PATH + "/" + onA);
            assertThat(moved.status()).isEqualTo(503);
            assertThat(moved.header("Retry-After")).isEqualTo("1");
            assertThat(moved.json().get("code").asText()).isEqualTo("unavailable");

            // Something at A's address that is not (yet) its jobs routes, e.g. A restarting before it mounts
            // them, answers 404 "no route": relayed, it would say "no such job". B answers 503 instead.
            a.router.route(JobsService.INTERNAL_PATH + "/*").order(-2).handler(ctx -> ctx.response()
                    .setStatusCode(404).end("{\"error\":\"no route\"}"));
            double failedBefore = b.jobs.metrics().queries("remote_failed");
            Response starting = b.job(onA);
            assertThat(starting.status()).isEqualTo(503);
            assertThat(starting.header("Retry-After")).isEqualTo("1");
            assertThat(starting.json().get("code").asText()).isEqualTo("unavailable");
            assertThat(b.jobs.metrics().queries("remote_failed")).isEqualTo(failedBefore + 1);

            // Something else at a reused address answering 200 in HTML: not relayed as the job either.
            a.router.route(JobsService.INTERNAL_PATH + "/*").order(-3).handler(ctx -> ctx.response()
                    .putHeader("Content-Type", "text/html").end("<html>a login page</html>"));
            Response elsewhere = b.job(onA);
            assertThat(elsewhere.status()).isEqualTo(503);
            assertThat(elsewhere.json().get("code").asText()).isEqualTo("unavailable");

            // A gateway shutting down answers every route but ops with its own 503 "shutting_down": relayed, this
            // healthy instance said it was shutting down itself, without Retry-After.
            a.router.route(JobsService.INTERNAL_PATH + "/*").order(-4).handler(ctx -> ctx.response()
                    .setStatusCode(503).putHeader("Content-Type", "application/json")
                    .end("{\"error\":\"the gateway is shutting down; retry on another instance\","
                            + "\"code\":\"shutting_down\"}"));
            Response draining = b.job(onA);
            assertThat(draining.status()).isEqualTo(503);
            assertThat(draining.header("Retry-After")).isEqualTo("1");
            assertThat(draining.json().get("code").asText()).isEqualTo("unavailable");
        }
    }

    @Test
    void partitionsAddedToTheInputTopicsDoNotStopTheJobState(EmbeddedKafka kafka, @TempDir Path dirs)
            throws Exception {
        // Left to Kafka Streams, the state's partitions followed the larger input topic at the first start, and
        // every start after an operator added partitions failed ("Existing internal topic ... has invalid
        // partitions"). The inputs grow under the other tests too, which must not mind.
        String jobId;
        try (Instance first = Instance.start(kafka, client, "jobs-grown", dirs.resolve("first"))) {
            jobId = first.submit("{\"model\":\"echo\",\"texts\":[\"before\"]}");
            awaitDone(first, jobId);
        }
        try (Admin admin = kafka.admin()) {
            int now = admin.describeTopics(List.of(JobsTopology.RESULTS_TOPIC)).allTopicNames().get()
                    .get(JobsTopology.RESULTS_TOPIC).partitions().size();
            admin.createPartitions(Map.of(JobsTopology.RESULTS_TOPIC, NewPartitions.increaseTo(now + 2),
                    JobsTopology.JOBS_TOPIC, NewPartitions.increaseTo(now + 2))).all().get();
        }

        try (Instance again = Instance.start(kafka, client, "jobs-grown", dirs.resolve("first"))) {
            assertThat(awaitDone(again, jobId).get("results")).hasSize(1);
            String after = again.submit("{\"model\":\"echo\",\"texts\":[\"after\",\"growth\"]}");
            assertThat(awaitDone(again, after).get("results")).hasSize(2);
        }
    }

    @Test
    void anInstanceStartedAgainOnAnEmptyDiskRebuildsItsJobsFromTheChangelog(EmbeddedKafka kafka,
                                                                             @TempDir Path dirs) {
        String jobId;
        JsonNode before;
        try (Instance first = Instance.start(kafka, client, "jobs-restart", dirs.resolve("first"))) {
            jobId = first.submit("{\"model\":\"echo\",\"texts\":[\"kept\",\"across\",\"restarts\"]}");
            before = awaitDone(first, jobId);
        }

        try (Instance again = Instance.start(kafka, client, "jobs-restart", dirs.resolve("again"))) {
            // A fresh state directory: everything it answers was restored from the changelog topics.
            Response after = again.job(jobId);
            assertThat(after.status()).isEqualTo(200);
            assertThat(after.json()).isEqualTo(before);
        }
    }
}
