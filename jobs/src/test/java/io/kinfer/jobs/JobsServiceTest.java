package io.kinfer.jobs;

import static io.kinfer.jobs.JobsTestSupport.get;
import static io.kinfer.jobs.JobsTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.client.FakeWorker;
import io.kinfer.client.InferenceClient;
import io.kinfer.jobs.JobsTestSupport.Instance;
import io.kinfer.jobs.JobsTestSupport.Response;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Jobs over HTTP on one instance, against a real broker and a stand-in worker. */
@WithKafka
class JobsServiceTest {

    private static FakeWorker worker;
    private static InferenceClient client;
    private static Instance instance;

    @BeforeAll
    static void start(EmbeddedKafka kafka, @TempDir Path stateDir) {
        kafka.createTopic("kinfer.requests.echo", 2);
        worker = new FakeWorker(kafka, "echo");
        client = JobsTestSupport.client(kafka, "jobs-service-test");
        instance = Instance.start(kafka, client, "jobs-service-test", stateDir);
    }

    @AfterAll
    static void stop() {
        if (instance != null) {
            instance.close();
        }
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

    @Test
    void aJobSubmittedNowIsFetchedLaterWithItsResultsInInputOrder() {
        double submittedBefore = instance.registry.get("kinfer.jobs.submitted").counter().count();
        Response created = post(instance.url + "/v1/jobs",
                "{\"model\":\"echo\",\"texts\":[\"a\",\"bbbb\",\"cc\",\"ddddddd\",\"eee\"]}");

        assertThat(created.status()).isEqualTo(202);
        String jobId = created.json().get("job_id").asText();
        assertThat(JobIds.isValid(jobId)).isTrue();
        assertThat(created.json().get("status").asText()).isEqualTo("pending");
        assertThat(created.json().get("location").asText()).isEqualTo("/v1/jobs/" + jobId);
        assertThat(created.header("Location")).isEqualTo("/v1/jobs/" + jobId);
        assertThat(created.json().get("total").asInt()).isEqualTo(5);

        JsonNode done = awaitDone(instance, jobId);

        assertThat(done.get("job_id").asText()).isEqualTo(jobId);
        assertThat(done.get("model").asText()).isEqualTo("echo");
        assertThat(done.get("status").asText()).isEqualTo("done");
        assertThat(done.get("failed").asInt()).isZero();
        assertThat(done.get("completed_ms").asLong()).isGreaterThanOrEqualTo(done.get("created_ms").asLong());
        JsonNode results = done.get("results");
        assertThat(results).hasSize(5);
        int[] lengths = {1, 4, 2, 7, 3};
        for (int i = 0; i < lengths.length; i++) {
            assertThat(results.get(i).get("index").asInt()).isEqualTo(i);
            assertThat(results.get(i).at("/outputs/0/embedding/0").floatValue()).isEqualTo(lengths[i]);
        }
        assertThat(instance.registry.get("kinfer.jobs.submitted").counter().count()).isEqualTo(submittedBefore + 1);
        assertThat(instance.registry.get("kinfer.jobs.completed").counter().count()).isPositive();
        // Each item went to Kafka as its own request, correlated as <jobId>:<index>.
        assertThat(worker.received).extracting(r -> new String(r.key())).contains(jobId + ":0", jobId + ":4");
    }

    /**
     * The stores' changelogs are compacted in segments of at most a day (the retention, when shorter): with
     * Kafka's 7-day default, compaction never reached expired results or a job record's rewrites for a week, and a
     * restoring instance replayed them all.
     */
    @Test
    void theStoresChangelogsRollSegmentsDailySoExpiredResultsAreCompactedAway(EmbeddedKafka kafka) throws Exception {
        String topic = "jobs-service-test-" + JobsTopology.ITEMS_STORE + "-changelog";
        try (Admin admin = kafka.admin()) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);

            assertThat(config.get(TopicConfig.CLEANUP_POLICY_CONFIG).value()).isEqualTo("compact");
            assertThat(config.get(TopicConfig.SEGMENT_MS_CONFIG).value()).isEqualTo("86400000");
        }
    }

    @Test
    void anOpenInferenceProtocolBodyIsAJobToo() {
        String jobId = instance.submit("{\"model\":\"echo\",\"callback\":\"https://example.test/hook\",\"inputs\":"
                + "[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"xyz\",\"hello!\"]}]}");

        JsonNode done = awaitDone(instance, jobId);

        assertThat(done.get("callback").asText()).isEqualTo("https://example.test/hook");
        assertThat(done.at("/results/0/outputs/0/embedding/0").floatValue()).isEqualTo(3f);
        assertThat(done.at("/results/1/outputs/0/embedding/0").floatValue()).isEqualTo(6f);
    }

    @Test
    void aPendingJobAnswers202WithItsProgress() throws Exception {
        worker.holdAll(true);
        try {
            String jobId = instance.submit("{\"model\":\"echo\",\"texts\":[\"one\",\"two\",\"three\"]}");
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds(jobId + ":0")
                    && worker.holds(jobId + ":1") && worker.holds(jobId + ":2"));

            await().atMost(Duration.ofSeconds(30)).until(() -> instance.job(jobId).json().path("total").asInt() == 3);
            Response pending = instance.job(jobId);
            assertThat(pending.status()).isEqualTo(202);
            assertThat(pending.json().get("status").asText()).isEqualTo("pending");
            assertThat(pending.json().get("done").asInt()).isZero();
            assertThat(pending.header("Retry-After")).isEqualTo("1");

            worker.release(jobId + ":1");
            await().atMost(Duration.ofSeconds(30)).until(() -> instance.job(jobId).json().path("done").asInt() == 1);
            assertThat(instance.job(jobId).status()).isEqualTo(202);

            worker.holdAll(false);
            worker.releaseAll();
            JsonNode done = awaitDone(instance, jobId);
            assertThat(done.get("results")).extracting(r -> r.at("/outputs/0/embedding/0").floatValue())
                    .containsExactly(3f, 3f, 5f);
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
    }

    @Test
    void badIdsUnknownJobsAndBadBodiesGetClearErrors() {
        String jobs = instance.url + "/v1/jobs";

        Response badId = get(jobs + "/not-a-job");
        assertThat(badId.status()).isEqualTo(400);
        assertThat(badId.json().get("code").asText()).isEqualTo("invalid_request");
        assertThat(badId.json().get("error").asText()).contains("invalid job id 'not-a-job'").contains("24 lowercase");

        // Well-formed, but from a time long before any retention: unknown.
        String unknown = new JobIds().next(1_000_000_000_000L);
        Response missing = get(jobs + "/" + unknown);
        assertThat(missing.status()).isEqualTo(404);
        assertThat(missing.json().get("code").asText()).isEqualTo("not_found");
        assertThat(missing.json().get("error").asText()).contains(unknown);

        assertError(post(jobs, "{\"model\":\"nope\",\"texts\":[\"a\"]}"), 404, "unknown_model", "unknown model 'nope'");
        assertError(post(jobs, "{\"model\":\"echo\",\"version\":\"9\",\"texts\":[\"a\"]}"), 404, "unknown_version",
                "model 'echo' has no version '9'");
        assertError(post(jobs, "{\"texts\":[\"a\"]}"), 400, "invalid_request", "'model' is required");
        assertError(post(jobs, "{\"model\":\"echo\""), 400, "malformed", "not valid JSON");
        assertError(post(jobs, ""), 400, "malformed", "needs a JSON body");
        assertError(post(jobs, "[1]"), 400, "invalid_request", "JSON object");
        assertError(post(jobs, "{\"model\":\"echo\"}"), 400, "invalid_request", "neither");
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[]}"), 400, "empty_input", "at least one text");
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[\"a\",\" \"]}"), 400, "empty_input", "texts[1]");
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[\"a\",3]}"), 400, "invalid_request", "texts[1]");
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[\"a\"],\"callback\":\"ftp://x\"}"), 400,
                "invalid_request", "callback");
        // Credentials would be echoed to anyone holding the job id; a port beyond 65535 is no URL to call.
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[\"a\"],\"callback\":\"https://u:p@example.test/h\"}"),
                400, "invalid_request", "credentials");
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[\"a\"],\"callback\":\"http://example.test:99999/h\"}"),
                400, "invalid_request", "callback");
        assertError(post(jobs, "{\"model\":\"gemm\",\"texts\":[\"a\"]}"), 400, "invalid_request", "takes tensors");
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[" + "\"t\",".repeat(256) + "\"t\"]}"), 413,
                "input_too_large", "257 texts; at most 256");
        assertError(post(jobs, "{\"model\":\"echo\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"BYTES\","
                + "\"shape\":[100000],\"data\":[]}]}"), 413, "input_too_large", "at most 256");
        assertError(post(jobs, "{\"model\":\"echo\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"FP32\","
                + "\"shape\":[1],\"data\":[1.0]}]}"), 400, "invalid_request", "BYTES");
    }

    @Test
    void textsBlankOnlyToATokenizerAreRefusedUpFront() {
        String jobs = instance.url + "/v1/jobs";
        // No-break and zero-width spaces pass String.isBlank(); a worker would refuse each item as empty_input.
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[\"a\",\"\\u00a0\"]}"), 400, "empty_input", "texts[1]");
        assertError(post(jobs, "{\"model\":\"echo\",\"texts\":[\"\\u200b\"]}"), 400, "empty_input", "texts[0]");
        assertError(post(jobs, "{\"model\":\"echo\",\"inputs\":[{\"name\":\"t\",\"datatype\":\"BYTES\","
                + "\"shape\":[2],\"data\":[\"a\",\"\\ufeff\\u00a0\"]}]}"), 400, "empty_input", "t[1]");
    }

    private static void assertError(Response response, int status, String code, String message) {
        assertThat(response.status()).as(response.json() == null ? "" : response.json().toString()).isEqualTo(status);
        assertThat(response.json().get("code").asText()).isEqualTo(code);
        assertThat(response.json().get("error").asText()).contains(message);
    }

    @Test
    void aJobCreatedAMomentAgoIsPendingRatherThanUnknown() {
        // The owner may not have read the job's metadata yet: a fresh id is pending, with its total not known.
        String fresh = new JobIds().next(System.currentTimeMillis());

        Response response = instance.job(fresh);

        assertThat(response.status()).isEqualTo(202);
        assertThat(response.json().get("done").asInt()).isZero();
        assertThat(response.json().get("total").isNull()).isTrue();

        // HEAD answers as GET, without the body.
        Response head = JobsTestSupport.send(HttpRequest.newBuilder(
                URI.create(instance.url + JobsService.JOBS_PATH + "/" + fresh))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).version(HttpClient.Version.HTTP_1_1));
        assertThat(head.status()).isEqualTo(202);
        assertThat(head.header("Retry-After")).isEqualTo("1");
        assertThat(head.raw().body()).isEmpty();
    }

    @Test
    void expiredJobsAnswer404(EmbeddedKafka kafka, @TempDir Path stateDir) {
        // Its own application with a short retention; the job's expiry travels with its metadata.
        try (Instance shortLived = Instance.start(kafka, client, "jobs-expiry-test", stateDir,
                JobsConfig.RETENTION_MS, 4_000, JobsConfig.EXPIRY_SCAN_INTERVAL_MS, 100)) {
            String jobId = shortLived.submit("{\"model\":\"echo\",\"texts\":[\"soon gone\"]}");
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> shortLived.registry.get("kinfer.jobs.completed").counter().count() >= 1);

            await().atMost(Duration.ofSeconds(30)).until(() -> shortLived.job(jobId).status() == 404);

            await().atMost(Duration.ofSeconds(30))
                    .until(() -> shortLived.registry.get("kinfer.jobs.expired").counter().count() >= 1);
            assertThat(shortLived.job(jobId).json().get("error").asText()).contains("expired");
        }
    }
}
