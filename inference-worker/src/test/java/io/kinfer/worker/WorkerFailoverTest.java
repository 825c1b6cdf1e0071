package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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

/** Two replicas share a model's partitions; when one stops without committing, the other answers the rest. */
@WithKafka
class WorkerFailoverTest {

    private static List<InferenceRequest> requests(String prefix, int count) {
        return IntStream.range(0, count).mapToObj(i -> InferenceRequest.ofTensors(prefix + i, "gemm",
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {i, 0, 0, 1})))).toList();
    }

    private static WorkerConfig config(EmbeddedKafka kafka, Path repo, String id) {
        return new WorkerConfig(TestSettings.forKafka(kafka, WorkerConfig.MODELS, "gemm",
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1, WorkerConfig.WORKER_ID, id,
                WorkerConfig.TOPICS_PARTITIONS, 4, WorkerConfig.CACHE_ENABLED, false, WorkerConfig.BATCH_MAX_SIZE, 4,
                "kafka.consumer.session.timeout.ms", 6000, "kafka.consumer.heartbeat.interval.ms", 500));
    }

    @Test
    void twoWorkersSplitThePartitionsAndACrashedOnesWorkIsAnsweredByTheOther(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic("failover.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect("failover.replies");
            InferenceWorker a = InferenceWorker.start(config(kafka, repo, "worker-a"));
            try (InferenceWorker b = InferenceWorker.start(config(kafka, repo, "worker-b"))) {
                await().atMost(Duration.ofSeconds(60)).until(() -> a.ready() && b.ready());

                client.requestAll(requests("split-", 100), "failover.replies", "");
                await().atMost(Duration.ofSeconds(60)).until(() -> answered(replies, "split-", 100));
                Set<String> workers = IntStream.range(0, 100).mapToObj(i -> replies.reply("split-" + i))
                        .map(r -> r.timings().worker()).collect(Collectors.toSet());
                assertThat(workers).containsExactlyInAnyOrder("worker-a", "worker-b");

                client.requestAll(requests("crash-", 300), "failover.replies", "");
                await().atMost(Duration.ofSeconds(30)).until(() -> IntStream.range(0, 300)
                        .filter(i -> replies.reply("crash-" + i) != null).count() >= 20);
                a.crash();

                await().atMost(Duration.ofSeconds(90)).until(() -> answered(replies, "crash-", 300));
                List<String> failed = new ArrayList<>();
                for (int i = 0; i < 300; i++) {
                    for (InferenceReply reply : replies.replies("crash-" + i)) {
                        if (!reply.isSuccess()) {
                            failed.add("crash-" + i);
                        }
                    }
                }
                assertThat(failed).isEmpty();
            }
        }
    }

    static boolean answered(KafkaTestClient.Collector replies, String prefix, int count) {
        return IntStream.range(0, count).allMatch(i -> replies.reply(prefix + i) != null);
    }
}
