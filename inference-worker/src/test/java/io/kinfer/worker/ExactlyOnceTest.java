package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/**
 * Exactly-once mode: replies and offsets commit in one transaction, so a read_committed reader sees every
 * request answered exactly once, even when a worker crashes mid-stream and another takes over.
 */
@WithKafka(brokerProperties = "transaction.abort.timed.out.transaction.cleanup.interval.ms=500")
class ExactlyOnceTest {

    private static WorkerConfig config(EmbeddedKafka kafka, Path repo, String id) {
        return new WorkerConfig(TestSettings.forKafka(kafka, WorkerConfig.MODELS, "gemm",
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1, WorkerConfig.WORKER_ID, id,
                WorkerConfig.EXACTLY_ONCE, true, WorkerConfig.TOPICS_PARTITIONS, 3, WorkerConfig.BATCH_MAX_SIZE, 4,
                WorkerConfig.CACHE_ENABLED, false, "kafka.producer.transaction.timeout.ms", 2000,
                "kafka.consumer.max.poll.records", 20, "kafka.consumer.session.timeout.ms", 6000,
                "kafka.consumer.heartbeat.interval.ms", 500));
    }

    @Test
    void readCommittedReadersSeeEachReplyExactlyOnceAcrossACrash(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic("eos.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect("eos.replies");
            InferenceWorker a = InferenceWorker.start(config(kafka, repo, "eos-a"));
            await().atMost(Duration.ofSeconds(60)).until(a::ready);

            client.requestAll(requests(400), "eos.replies", "");
            await().atMost(Duration.ofSeconds(30)).until(() -> IntStream.range(0, 400)
                    .filter(i -> replies.reply("e" + i) != null).count() >= 40);
            a.crash();
            try (InferenceWorker b = InferenceWorker.start(config(kafka, repo, "eos-b"))) {
                await().atMost(Duration.ofSeconds(120)).until(() -> IntStream.range(0, 400)
                        .allMatch(i -> replies.reply("e" + i) != null));

                assertEachAnsweredOnceWithSuccess(replies, "e", 400);
            }
        }
    }

    /**
     * A poll still unanswered near the transaction timeout is aborted and fetched again; its requests still queued
     * then must not be computed later into the next transaction beside their recomputed copies. A tensor model
     * caches nothing, so a retry of the whole poll would be just as slow: the transactions after it take fewer
     * records, and the poll is done in a few.
     */
    @Test
    void aPollThatOutlastsItsTransactionIsAbortedWithoutLeakingRepliesIntoTheNext(EmbeddedKafka kafka)
            throws Exception {
        Path repo = Files.createTempDirectory("repo");
        // Two rows a call, 200 ms each (3000 MatMuls on 2 vCPUs): 30 calls take 6 s, four times the poll's 1.5 s.
        OnnxModels.writeVersion(repo, "slow", "1", OnnxModels.slowIdentity(1024, 3000, 2, Duration.ofMillis(200)),
                null, null);
        kafka.createTopic("eos.slow.replies", 1);
        kafka.createTopic(Topics.requestTopic("slow"), 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect("eos.slow.replies");
            // Written before the worker starts, so that its first poll takes them all.
            client.requestAll(IntStream.range(0, 60).mapToObj(i -> {
                float[] x = new float[1024];
                x[i] = 1f;
                return InferenceRequest.ofTensors("s" + i, "slow", List.of(Tensor.fp32("x", new long[] {1, 1024}, x)));
            }).toList(), "eos.slow.replies", "");
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                    WorkerConfig.MODELS, "slow", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                    WorkerConfig.WORKER_ID, "eos-slow", WorkerConfig.EXACTLY_ONCE, true,
                    WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.BATCH_MAX_SIZE, 2,
                    "kafka.producer.transaction.timeout.ms", 2000, "kafka.consumer.max.poll.records", 60)))) {
                await().atMost(Duration.ofSeconds(120)).until(() -> IntStream.range(0, 60)
                        .allMatch(i -> replies.reply("s" + i) != null));

                assertThat(worker.scrape()).as("the first poll was aborted and fetched again")
                        .containsPattern("kinfer_records_refetched_total\\{[^}]*\\} [1-9]");
                assertEachAnsweredOnceWithSuccess(replies, "s", 60);
            }
        }
    }

    /** Requests {@code prefix}0 … {@code prefix}(count-1): one reply each for a read_committed reader, a success. */
    private static void assertEachAnsweredOnceWithSuccess(KafkaTestClient.Collector replies, String prefix, int count) {
        Map<Integer, Integer> duplicates = IntStream.range(0, count).boxed()
                .filter(i -> replies.replies(prefix + i).size() != 1)
                .collect(Collectors.toMap(i -> i, i -> replies.replies(prefix + i).size()));
        assertThat(duplicates).as("requests answered more than once (read_committed)").isEmpty();
        assertThat(IntStream.range(0, count).mapToObj(i -> replies.reply(prefix + i)))
                .allMatch(r -> r.isSuccess());
    }

    private static List<InferenceRequest> requests(int count) {
        return IntStream.range(0, count).mapToObj(i -> InferenceRequest.ofTensors("e" + i, "gemm",
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {i, 3, 0, 1})))).toList();
    }
}
