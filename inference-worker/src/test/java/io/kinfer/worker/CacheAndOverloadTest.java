package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.Tensor;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

@WithKafka
class CacheAndOverloadTest {

    /** A text model "bag" (embeddings of a two-word vocabulary) in a fresh repository. */
    private static Path bagModel() throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "bag", "1", OnnxModels.bagOfEmbeddings(8, 4),
                "{\"kind\":\"text\",\"postprocessing\":{\"kind\":\"embedding\"}}",
                OnnxModels.wordLevelTokenizer(List.of("good", "bad")));
        return repo;
    }

    @Test
    void identicalInputsAreAnsweredFromTheCache(EmbeddedKafka kafka) throws Exception {
        Path repo = bagModel();
        kafka.createTopic("cache.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, "bag", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                     WorkerConfig.TOPICS_PARTITIONS, 1)))) {
            KafkaTestClient.Collector replies = client.collect("cache.replies");
            InferenceRequest request = InferenceRequest.ofTexts("q", "bag", List.of("good bad good"));

            client.request(request, "cache.replies", "first", 0);
            await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("first") != null);
            client.request(request, "cache.replies", "second", 0);
            await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("second") != null);

            assertThat(replies.reply("first").timings().cached()).isFalse();
            assertThat(replies.reply("second").timings().cached()).isTrue();
            assertThat(((Embedding) replies.reply("second").outputs().get(0)).vector())
                    .containsExactly(((Embedding) replies.reply("first").outputs().get(0)).vector());
            assertThat(worker.scrape()).containsPattern("kinfer_cache_requests_total\\{[^}]*result=\"hit\"[^}]*} 1.0")
                    .containsPattern("kinfer_cache_requests_total\\{[^}]*result=\"miss\"[^}]*} 1.0");
        }
    }

    /**
     * The cache is bounded by what its entries hold, not by how many there are: 20 requests of 8 texts of 5 000
     * characters (each entry about 80 KB, 1.6 MB together, far below the old bound of 10 000 entries) leave it at
     * most at cache.max.bytes, while small requests repeated after them are still answered from it.
     */
    @Test
    void theCacheIsBoundedByItsEstimatedBytesAndSmallRepeatedRequestsStillHit(EmbeddedKafka kafka) throws Exception {
        long maxBytes = 200_000;
        Path repo = bagModel();
        kafka.createTopic("weighed.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, "bag", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                     WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.CACHE_MAX_BYTES, maxBytes)))) {
            KafkaTestClient.Collector replies = client.collect("weighed.replies");
            ModelPipeline pipeline = worker.pipelines().get(0);
            client.requestAll(IntStream.range(0, 20).mapToObj(i -> InferenceRequest.ofTexts("large" + i, "bag",
                    IntStream.range(0, 8).mapToObj(t -> "r" + i + "t" + t + " " + "good bad ".repeat(555))
                            .toList())).toList(), "weighed.replies", "");
            await().atMost(Duration.ofSeconds(60)).until(() -> IntStream.range(0, 20)
                    .allMatch(i -> replies.reply("large" + i) != null));
            assertThat(IntStream.range(0, 20).mapToObj(i -> replies.reply("large" + i)))
                    .allMatch(r -> r.isSuccess() && !r.timings().cached());

            assertThat(pipeline.cacheBytes().orElseThrow()).isPositive().isLessThanOrEqualTo(maxBytes);

            for (int i = 0; i < 5; i++) {
                InferenceRequest small = InferenceRequest.ofTexts("small" + i, "bag", List.of("good bad " + i));
                client.request(small, "weighed.replies", "small" + i, 0);
                String first = "small" + i;
                await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply(first) != null);
                client.request(small, "weighed.replies", "again" + i, 0);
                String again = "again" + i;
                await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply(again) != null);
                assertThat(replies.reply(first).timings().cached()).isFalse();
                assertThat(replies.reply(again).timings().cached()).isTrue();
            }
            assertThat(pipeline.cacheBytes().orElseThrow()).isPositive().isLessThanOrEqualTo(maxBytes);
            assertThat(worker.scrape()).containsPattern("kinfer_cache_bytes\\{[^}]*model=\"bag\"[^}]*} [1-9]");
        }
    }

    @Test
    void beyondTheQueueSizeTheRejectPolicyAnswersOverloadedAndLosesNothing(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic("overload.replies", 1);
        kafka.createTopic("kinfer.requests.gemm", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            // Written before the worker starts: its first poll holds far more than the queue takes.
            client.requestAll(IntStream.range(0, 200).mapToObj(i -> InferenceRequest.ofTensors("o" + i, "gemm",
                    List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {i, 0, 0, 0})))).toList(),
                    "overload.replies", "");
            KafkaTestClient.Collector replies = client.collect("overload.replies");
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                    WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                    WorkerConfig.BATCH_MAX_QUEUE_SIZE, 4, WorkerConfig.BATCH_QUEUE_FULL_POLICY, "reject",
                    WorkerConfig.CACHE_ENABLED, false)))) {
                await().atMost(Duration.ofSeconds(60)).until(() -> IntStream.range(0, 200)
                        .allMatch(i -> replies.reply("o" + i) != null));

                long overloaded = IntStream.range(0, 200).mapToObj(i -> replies.reply("o" + i))
                        .filter(r -> !r.isSuccess()).peek(r -> assertThat(r.error().code())
                                .isEqualTo(ErrorCode.OVERLOADED)).count();
                long succeeded = IntStream.range(0, 200).mapToObj(i -> replies.reply("o" + i))
                        .filter(InferenceReply::isSuccess).count();
                assertThat(overloaded).isGreaterThan(0);
                assertThat(succeeded).isGreaterThanOrEqualTo(4);
                assertThat(overloaded + succeeded).isEqualTo(200);
                // Counted once Kafka has acknowledged the reply, which the reply's reader may see first.
                await().atMost(Duration.ofSeconds(30)).until(() -> worker.scrape().contains("outcome=\"overloaded\""));
            }
        }
    }

    /**
     * With the reject policy the consumer keeps fetching while the queue is full, so a request beyond it is answered
     * overloaded at once. Before, the full queue paused the consumer as under the pause policy: the request waited
     * in Kafka until the queue had drained, and was then computed.
     */
    @Test
    void underTheRejectPolicyAFullQueueDoesNotPauseFetchingAndALaterRequestIsAnsweredOverloaded(EmbeddedKafka kafka)
            throws Exception {
        Path repo = Files.createTempDirectory("repo");
        // A batch of 128 rows takes about 3 s (1500 MatMuls on 2 vCPUs); the test needs it for milliseconds.
        OnnxModels.writeVersion(repo, "slowq", "1", OnnxModels.slowIdentity(1024, 1500, 128, Duration.ofSeconds(3)),
                "{\"batching\": {\"max_batch_size\": 128}}", null);
        kafka.createTopic("rejecting.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, "slowq", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                     WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.BATCH_MAX_QUEUE_SIZE, 2,
                     WorkerConfig.BATCH_QUEUE_FULL_POLICY, "reject", WorkerConfig.SHUTDOWN_TIMEOUT_MS, 0)))) {
            KafkaTestClient.Collector replies = client.collect("rejecting.replies");
            ModelPipeline pipeline = worker.pipelines().get(0);
            client.request(slowRequest("running", 128), "rejecting.replies", "running", 0);
            await().atMost(Duration.ofSeconds(60)).until(() -> OnnxModels.inModelCall("kinfer-batcher-slowq-1"));
            client.request(slowRequest("q1", 1), "rejecting.replies", "q1", 0);
            client.request(slowRequest("q2", 1), "rejecting.replies", "q2", 0);
            await().atMost(Duration.ofSeconds(30)).until(() -> pipeline.queued() == 2); // full, a batch computing

            client.request(slowRequest("beyond", 1), "rejecting.replies", "beyond", 0);

            await().atMost(Duration.ofSeconds(60)).until(() -> replies.reply("beyond") != null);
            assertThat(replies.reply("beyond").isSuccess()).isFalse();
            assertThat(replies.reply("beyond").error().code()).isEqualTo(ErrorCode.OVERLOADED);
            assertThat(pipeline.full()).isFalse();
        }
    }

    private static InferenceRequest slowRequest(String id, int rows) {
        return InferenceRequest.ofTensors(id, "slowq", List.of(Tensor.fp32("x", new long[] {rows, 1024},
                new float[rows * 1024])));
    }
}
