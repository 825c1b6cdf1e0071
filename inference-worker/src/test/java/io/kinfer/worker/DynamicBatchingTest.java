package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.Tensor;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Batching observed through what the worker reports (each reply's batch size and the batch-size histogram), never
 * through timing: a generated Gemm model served from an on-disk repository over a real broker.
 */
@WithKafka
class DynamicBatchingTest {

    private static final int MAX_BATCH = 8;
    private static InferenceWorker worker;
    private static KafkaTestClient client;
    private static KafkaTestClient.Collector replies;

    @BeforeAll
    static void start(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic("batching.replies", 1);
        kafka.createTopic("kinfer.requests.gemm", 2);
        client = new KafkaTestClient(kafka);
        // Requests are written before the worker starts, so its first polls hold far more than one batch.
        client.requestAll(requests("early-", 300), "batching.replies", "");
        worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, 0,
                WorkerConfig.BATCH_MAX_SIZE, MAX_BATCH, WorkerConfig.TOPICS_PARTITIONS, 2,
                WorkerConfig.CACHE_ENABLED, false)));
        replies = client.collect("batching.replies");
    }

    @AfterAll
    static void stop() {
        client.close();
        worker.close();
    }

    private static List<InferenceRequest> requests(String prefix, int count) {
        List<InferenceRequest> requests = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            requests.add(InferenceRequest.ofTensors(prefix + i, "gemm",
                    List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {i, 1, 2, 3}))));
        }
        return requests;
    }

    @Test
    void batchesLargerThanOneFormUnderLoadAndNeverExceedTheMaximum() {
        await().atMost(Duration.ofSeconds(60)).until(() -> replies.replyCounts().keySet().stream()
                .filter(id -> id.startsWith("early-")).count() == 300);

        List<Integer> batchSizes = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            InferenceReply reply = replies.reply("early-" + i);
            assertThat(reply.isSuccess()).as("reply %d", i).isTrue();
            batchSizes.add(reply.timings().batchSize());
            Tensor y = (Tensor) reply.outputs().get(0);
            assertThat(y.fp32()).containsExactly(OnnxModels.gemmExpected(new float[] {i, 1, 2, 3}, 3), within(1e-3f));
        }
        assertThat(batchSizes).allMatch(size -> size >= 1 && size <= MAX_BATCH);
        assertThat(batchSizes).anyMatch(size -> size > 1);
        WorkerMetrics.VersionMeters meters = worker.metrics().version("gemm", "1");
        assertThat(meters.maxBatch()).isLessThanOrEqualTo(MAX_BATCH);
        assertThat(meters.batches()).isLessThan(300);
    }

    @Test
    void requestsPastTheirDeadlineAreAnsweredExpiredAndNeverComputed() {
        long computedBefore = worker.metrics().version("gemm", "1").batches();
        InferenceRequest request = requests("late-", 1).get(0);

        client.request(request, "batching.replies", "late", System.currentTimeMillis() - 1_000);

        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("late") != null);
        InferenceReply reply = replies.reply("late");
        assertThat(reply.error().code()).isEqualTo(ErrorCode.EXPIRED);
        assertThat(reply.error().message()).contains("deadline passed").doesNotContain("seconds");
        assertThat(worker.metrics().version("gemm", "1").batches()).isEqualTo(computedBefore);
        // A deadline in epoch seconds is said to be one.
        client.request(requests("late-s-", 1).get(0), "batching.replies", "late-s", System.currentTimeMillis() / 1000);
        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("late-s") != null);
        assertThat(replies.reply("late-s").error().message()).contains("kinfer-deadline is in epoch milliseconds")
                .contains("looks like seconds");
        // Counted once Kafka has acknowledged the reply, which the reply's reader may see first.
        await().atMost(Duration.ofSeconds(30)).until(() -> worker.scrape().contains("outcome=\"expired\""));
    }

    @Test
    void aTensorRequestWithSeveralRowsIsBatchedAlongTheFirstDimension() {
        InferenceRequest request = InferenceRequest.ofTensors("rows", "gemm", List.of(
                Tensor.fp32("x", new long[] {3, 4}, new float[] {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0})));

        client.request(request, "batching.replies", "rows", 0);

        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("rows") != null);
        Tensor y = (Tensor) replies.reply("rows").outputs().get(0);
        assertThat(y.shape()).containsExactly(3, 3);
        assertThat(y.fp32()).containsExactly(new float[] {0.1f, 1.2f, 2.3f, 0.2f, 1.4f, 2.6f, 0.3f, 1.6f, 2.9f},
                within(1e-4f));
    }
}
