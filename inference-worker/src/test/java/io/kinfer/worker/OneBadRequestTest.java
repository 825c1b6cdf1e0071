package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/**
 * One caller's bad request costs only that caller: batch-mates of a request the model fails on get their results,
 * and poll-mates of a record that fails unexpectedly while it is prepared are still queued and answered. The
 * requests are written before the worker starts, so that its first poll takes them all and (with a queue delay
 * longer than the test needs) they form one batch.
 */
@WithKafka
class OneBadRequestTest {

    private static final String BATCHING = "{\"batching\": {\"max_batch_size\": 8, \"max_queue_delay_ms\": 5000}}";

    @Test
    void anIndexOutOfRangeFailsOnlyItsOwnRequestNotItsBatchMates(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "lookup", "1", OnnxModels.gather(10, 3), BATCHING, null);
        List<InferenceRequest> requests = IntStream.range(0, 8).mapToObj(i -> InferenceRequest.ofTensors("g" + i,
                "lookup", List.of(Tensor.int64("idx", new long[] {1}, new long[] {i == 5 ? 1_000 : i})))).toList();

        List<InferenceReply> replies = serve(kafka, repo, "lookup", requests);

        assertThat(replies.get(5).isSuccess()).isFalse();
        assertThat(replies.get(5).error().code()).isEqualTo(ErrorCode.INTERNAL);
        for (int i : new int[] {0, 1, 2, 3, 4, 6, 7}) {
            assertThat(replies.get(i).isSuccess()).as("g%d", i).isTrue();
            assertThat(((Tensor) replies.get(i).outputs().get(0)).fp32()).containsExactly(10f * i, 10f * i + 1,
                    10f * i + 2);
            assertThat(replies.get(i).timings().batchSize()).as("all eight in one batch").isEqualTo(8);
        }
    }

    /**
     * Half of a batch of 16 bad: finding each would take 30 more model calls, more than the cap of 22 (counted in
     * BatchIsolationTest). Every request is still answered: the bad ones internal, the others their results where
     * the calls sufficed to clear them, internal where not; none is left without a reply.
     */
    @Test
    void aBatchWithManyBadRequestsStillAnswersEveryRequest(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "lookups", "1", OnnxModels.gather(10, 3),
                "{\"batching\": {\"max_batch_size\": 16, \"max_queue_delay_ms\": 5000}}", null);
        List<InferenceRequest> requests = IntStream.range(0, 16).mapToObj(i -> InferenceRequest.ofTensors("b" + i,
                "lookups", List.of(Tensor.int64("idx", new long[] {1}, new long[] {i % 2 == 1 ? 1_000 : i % 10}))))
                .toList();

        List<InferenceReply> replies = serve(kafka, repo, "lookups", requests);

        for (int i = 0; i < 16; i++) {
            InferenceReply reply = replies.get(i);
            if (i % 2 == 1 || !reply.isSuccess()) {
                assertThat(reply.error().code()).as("b%d", i).isEqualTo(ErrorCode.INTERNAL);
            } else {
                assertThat(((Tensor) reply.outputs().get(0)).fp32()).as("b%d", i).containsExactly(10f * (i % 10),
                        10f * (i % 10) + 1, 10f * (i % 10) + 2);
                assertThat(reply.timings().batchSize()).as("all sixteen in one batch").isEqualTo(16);
            }
        }
        assertThat(replies).as("good requests cleared within the cap").anyMatch(InferenceReply::isSuccess);
    }

    @Test
    void aWidthTheModelCannotMultiplyFailsOnlyItsOwnRequestNotItsBatchMates(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        // Declared [N, L]: a request of width 5 passes the worker's shape check and fails in the MatMul.
        OnnxModels.writeVersion(repo, "anywidth", "1", OnnxModels.matMulAnyWidth(4, 3), BATCHING, null);
        List<InferenceRequest> requests = IntStream.range(0, 8).mapToObj(i -> InferenceRequest.ofTensors("m" + i,
                "anywidth", List.of(i == 2 ? Tensor.fp32("x", new long[] {1, 5}, new float[5])
                        : Tensor.fp32("x", new long[] {1, 4}, new float[] {1, 2, 3, 4})))).toList();

        List<InferenceReply> replies = serve(kafka, repo, "anywidth", requests);

        assertThat(replies.get(2).error().code()).isEqualTo(ErrorCode.INTERNAL);
        for (int i : new int[] {0, 1, 3, 4, 5, 6, 7}) {
            assertThat(replies.get(i).isSuccess()).as("m%d", i).isTrue();
            assertThat(((Tensor) replies.get(i).outputs().get(0)).fp32()).containsExactly(3f, 6f, 9f);
            assertThat(replies.get(i).timings().batchSize()).as("all eight in one batch").isEqualTo(8);
        }
    }

    /**
     * A tokenizer.json whose unknown-word token is missing from its vocabulary makes the native tokenizer throw on
     * any word it does not know. That used to end the model's consumer thread, and the records of the same poll
     * were never queued: no answer for anyone, and the worker not live.
     */
    @Test
    void aRecordThatFailsUnexpectedlyWhilePreparedIsAnsweredAloneAndItsPollMatesAreServed(EmbeddedKafka kafka)
            throws Exception {
        Path repo = Files.createTempDirectory("repo");
        String tokenizer = OnnxModels.wordLevelTokenizer(List.of("good", "bad"))
                .replace("\"unk_token\":\"[UNK]\"", "\"unk_token\":\"[MISSING]\"");
        OnnxModels.writeVersion(repo, "fragile", "1", OnnxModels.bagOfEmbeddings(8, 4),
                "{\"kind\":\"text\",\"postprocessing\":{\"kind\":\"embedding\"}}", tokenizer);
        List<InferenceRequest> requests = List.of(
                InferenceRequest.ofTexts("t0", "fragile", List.of("good bad")),
                InferenceRequest.ofTexts("t1", "fragile", List.of("good ugly")),
                InferenceRequest.ofTexts("t2", "fragile", List.of("bad")));

        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);
            List<InferenceReply> replies = serve(kafka, client, repo, "fragile", requests, worker ->
                    assertThat(worker.live()).isTrue());

            assertThat(replies.get(0).isSuccess()).isTrue();
            assertThat(replies.get(2).isSuccess()).isTrue();
            assertThat(replies.get(1).error().code()).isEqualTo(ErrorCode.INTERNAL);
            await().atMost(Duration.ofSeconds(30)).until(() -> deadLetters.records().stream()
                    .anyMatch(r -> r.key() != null && "t1".equals(new String(r.key(), StandardCharsets.UTF_8))
                            && KinferHeaders.string(r.headers(), KinferHeaders.DLQ_REASON).orElse("")
                            .equals("internal")));
        }
    }

    private static List<InferenceReply> serve(EmbeddedKafka kafka, Path repo, String model,
                                              List<InferenceRequest> requests) throws Exception {
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            return serve(kafka, client, repo, model, requests, worker -> { });
        }
    }

    /** Writes the requests, then starts a worker, waits for every reply and checks the worker before closing it. */
    private static List<InferenceReply> serve(EmbeddedKafka kafka, KafkaTestClient client, Path repo, String model,
                                              List<InferenceRequest> requests,
                                              java.util.function.Consumer<InferenceWorker> check) throws Exception {
        String replyTopic = model + ".replies";
        kafka.createTopic(replyTopic, 1);
        kafka.createTopic(Topics.requestTopic(model), 1);
        client.requestAll(requests, replyTopic, "");
        KafkaTestClient.Collector replies = client.collect(replyTopic);
        try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                WorkerConfig.MODELS, model, WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                WorkerConfig.TOPICS_PARTITIONS, 1)))) {
            await().atMost(Duration.ofSeconds(60)).until(() -> requests.stream()
                    .allMatch(r -> replies.reply(r.id()) != null));
            check.accept(worker);
            return requests.stream().map(r -> replies.reply(r.id())).toList();
        }
    }
}
