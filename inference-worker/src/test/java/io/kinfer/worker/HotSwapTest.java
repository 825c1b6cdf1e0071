package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Tensor;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/** A new version dropped into the repository takes over under load; every request is answered successfully. */
@WithKafka
class HotSwapTest {

    @Test
    void aNewVersionTakesOverUnderLoadWithoutLosingARequest(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic("swap.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                     WorkerConfig.TOPICS_PARTITIONS, 2, WorkerConfig.MODEL_POLL_INTERVAL_MS, 100,
                     WorkerConfig.CACHE_ENABLED, false)))) {
            KafkaTestClient.Collector replies = client.collect("swap.replies");
            int sent = 0;
            boolean dropped = false;
            Set<String> versions = new HashSet<>();
            // Waves of requests, each awaited: version 2 appears while waves keep coming, and 3 more follow it.
            int wavesAfterSwitch = 0;
            while (wavesAfterSwitch < 3) {
                int from = sent;
                client.requestAll(wave(from, 40), "swap.replies", "");
                sent += 40;
                await().atMost(Duration.ofSeconds(60)).until(() -> IntStream.range(from, from + 40)
                        .allMatch(i -> replies.reply("r" + i) != null));
                IntStream.range(from, from + 40).forEach(i -> versions.add(replies.reply("r" + i).version()));
                if (!dropped) {
                    OnnxModels.writeVersion(repo, "gemm", "2", OnnxModels.gemm(4, 3), null, null);
                    dropped = true;
                } else if (versions.contains("2")) {
                    wavesAfterSwitch++;
                }
                assertThat(sent).as("version 2 should take over").isLessThan(4000);
            }

            for (int i = 0; i < sent; i++) {
                List<InferenceReply> all = replies.replies("r" + i);
                assertThat(all).as("r%d", i).isNotEmpty().allMatch(InferenceReply::isSuccess);
            }
            assertThat(versions).containsExactlyInAnyOrder("1", "2");
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.pipelines().get(0).metadata().stream()
                    .map(ModelMetadata::version).toList().equals(List.of("2")));
        }
    }

    private static List<InferenceRequest> wave(int from, int count) {
        return IntStream.range(from, from + count).mapToObj(i -> InferenceRequest.ofTensors("r" + i, "gemm",
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {i, 1, 1, 1})))).toList();
    }
}
