package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.Tensor;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/**
 * Share-group mode (KIP-932) on the real 4.4 broker: replicas beyond the partition count all get work, and the
 * records a crashed worker held are delivered again once their acquisition locks expire.
 */
@WithKafka(brokerProperties = {"group.share.record.lock.duration.ms=2000",
        "group.share.min.record.lock.duration.ms=1000"})
class ShareGroupTest {

    private static WorkerConfig config(EmbeddedKafka kafka, Path repo, String id) {
        return new WorkerConfig(TestSettings.forKafka(kafka, WorkerConfig.MODELS, "gemm",
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1, WorkerConfig.WORKER_ID, id,
                WorkerConfig.GROUP_MODE, "share", WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.BATCH_MAX_SIZE, 4,
                WorkerConfig.CACHE_ENABLED, false, WorkerConfig.SHARE_LOCK_DURATION_MS, 2000));
    }

    @Test
    void twoWorkersShareOnePartitionAndACrashedWorkersRecordsAreRedelivered(EmbeddedKafka kafka) throws Exception {
        Path repo = gemmRepositoryAndTopics(kafka, "share.replies");
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect("share.replies");
            // Written before any member joins: the worker sets share.auto.offset.reset=earliest for its group.
            client.requestAll(requests("early-", 50), "share.replies", "");
            InferenceWorker a = InferenceWorker.start(config(kafka, repo, "share-a"));
            try (InferenceWorker b = InferenceWorker.start(config(kafka, repo, "share-b"))) {
                await().atMost(Duration.ofSeconds(60)).until(() -> answered(replies, "early-", 50));
                // Kafka's own meters of the share consumers (Micrometer binds none for a share consumer by itself).
                assertThat(b.scrape().lines().filter(line -> line.startsWith("kafka_consumer_connection_count{")))
                        .anyMatch(line -> line.contains("kinfer_client=\"share-b-gemm-0\""));

                client.requestAll(requests("both-", 400), "share.replies", "");
                await().atMost(Duration.ofSeconds(60)).until(() -> answered(replies, "both-", 400));
                Set<String> workers = IntStream.range(0, 400).mapToObj(i -> replies.reply("both-" + i))
                        .map(r -> r.timings().worker()).collect(Collectors.toSet());
                assertThat(workers).as("one partition, two members, both served").contains("share-a", "share-b");

                client.requestAll(requests("crash-", 300), "share.replies", "");
                await().atMost(Duration.ofSeconds(30)).until(() -> IntStream.range(0, 300)
                        .filter(i -> replies.reply("crash-" + i) != null).count() >= 10);
                a.crash();

                await().atMost(Duration.ofSeconds(90)).until(() -> answered(replies, "crash-", 300));
                assertThat(IntStream.range(0, 300).mapToObj(i -> replies.reply("crash-" + i)))
                        .allMatch(InferenceReply::isSuccess);
            }
        }
    }

    @Test
    void theGroupsBacklogIsReportedAsLagAndFallsToZeroOnceServed(EmbeddedKafka kafka) throws Exception {
        Path repo = gemmRepositoryAndTopics(kafka, "lag.replies");
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect("lag.replies");
            InferenceWorker idle = InferenceWorker.start(lagConfig(kafka, repo, "lag-a"));
            try {
                client.requestAll(requests("warm-", 5), "lag.replies", "");
                await().atMost(Duration.ofSeconds(60)).until(() -> answered(replies, "warm-", 5));
                // Its consumers stop but the worker stays up, as a stalled replica would: the backlog must show.
                idle.intakes().get(0).crash();
                client.requestAll(requests("backlog-", 120), "lag.replies", "");
                await().atMost(Duration.ofSeconds(30)).until(() -> idle.intakes().get(0).lag() >= 120);

                try (InferenceWorker serving = InferenceWorker.start(lagConfig(kafka, repo, "lag-b"))) {
                    await().atMost(Duration.ofSeconds(60)).until(() -> answered(replies, "backlog-", 120));
                    await().atMost(Duration.ofSeconds(30)).until(() -> idle.intakes().get(0).lag() == 0
                            && serving.intakes().get(0).lag() == 0);
                }
            } finally {
                idle.close();
            }
        }
    }

    private static WorkerConfig lagConfig(EmbeddedKafka kafka, Path repo, String id) {
        return new WorkerConfig(TestSettings.forKafka(kafka, WorkerConfig.MODELS, "gemm",
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1, WorkerConfig.WORKER_ID, id,
                WorkerConfig.GROUP_MODE, "share", WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.BATCH_MAX_SIZE, 4,
                WorkerConfig.CACHE_ENABLED, false, WorkerConfig.SHARE_LOCK_DURATION_MS, 2000,
                WorkerConfig.ANNOUNCE_INTERVAL_MS, 300));
    }

    private static List<InferenceRequest> requests(String prefix, int count) {
        return IntStream.range(0, count).mapToObj(i -> InferenceRequest.ofTensors(prefix + i, "gemm",
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {i, 2, 0, 1})))).toList();
    }

    private static boolean answered(KafkaTestClient.Collector replies, String prefix, int count) {
        return IntStream.range(0, count).allMatch(i -> replies.reply(prefix + i) != null);
    }

    /** A repository with the generated Gemm model, its one-partition request topic and the given reply topic. */
    private static Path gemmRepositoryAndTopics(EmbeddedKafka kafka, String replyTopic) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic(replyTopic, 1);
        kafka.createTopic("kinfer.requests.gemm", 1);
        return repo;
    }
}
