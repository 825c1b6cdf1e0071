package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
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

    /**
     * Each version registers gauges that hold its batcher strongly; retiring removed only the queue-depth gauge,
     * so every swap kept the old version's batcher, closed model, buffers and result cache alive, and exported its
     * call-cost gauge and counters forever. After three swaps no meter of a retired version is left.
     */
    @Test
    void retiredVersionsLeaveNoMetersBehind(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "swapped", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic("retire.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, "swapped", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                     WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.MODEL_POLL_INTERVAL_MS, 100)))) {
            KafkaTestClient.Collector replies = client.collect("retire.replies");
            ModelPipeline pipeline = worker.pipelines().get(0);
            for (int version = 1; version <= 4; version++) {
                String v = Integer.toString(version);
                if (version > 1) {
                    OnnxModels.writeVersion(repo, "swapped", v, OnnxModels.gemm(4, 3), null, null);
                }
                await().atMost(Duration.ofSeconds(30)).until(() -> pipeline.metadata().stream()
                        .map(ModelMetadata::version).toList().equals(List.of(v)));
                client.request(InferenceRequest.ofTensors("r" + v, "swapped", List.of(Tensor.fp32("x",
                        new long[] {1, 4}, new float[] {1, 2, 3, 4}))), "retire.replies", "r" + v, 0);
                await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("r" + v) != null);
                assertThat(replies.reply("r" + v).version()).isEqualTo(v);
            }

            await().atMost(Duration.ofSeconds(30)).until(() -> versionsWithMeters(worker).equals(Set.of("4")));
            assertThat(worker.scrape()).contains("kinfer_batch_call_cost_tokens{model=\"swapped\",version=\"4\"")
                    .doesNotContain("version=\"1\"").doesNotContain("version=\"2\"").doesNotContain("version=\"3\"");
        }
    }

    /**
     * A batch thread that failed in its own code leaves the worker not live, so that it is restarted. Swapping in a
     * new version retires the failed version's batcher; before, the failure left with it and the worker reported
     * itself live again without a restart. The batcher treats an interrupt like any error of its own (nothing in
     * the worker interrupts a batch thread), which provokes the failure here.
     */
    @Test
    void aBatchThreadFailureKeepsTheWorkerNotLiveAfterItsVersionIsSwappedOut(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "faulty", "1", OnnxModels.gemm(4, 3), null, null);
        try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                WorkerConfig.MODELS, "faulty", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.MODEL_POLL_INTERVAL_MS, 100)))) {
            assertThat(worker.live()).isTrue();
            Thread batchThread = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals("kinfer-batcher-faulty-1")).findFirst().orElseThrow();
            batchThread.interrupt();
            await().atMost(Duration.ofSeconds(10)).until(() -> !worker.live());

            OnnxModels.writeVersion(repo, "faulty", "2", OnnxModels.gemm(4, 3), null, null);
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.pipelines().get(0).metadata().stream()
                    .map(ModelMetadata::version).toList().equals(List.of("2")));

            assertThat(worker.live()).as("still not live once the failed version is retired").isFalse();
        }
    }

    /**
     * A swapped-out version finishes its queue in the background. That queue was out of the pipeline's reach: not
     * counted in {@code queued()} (which resumes a paused consumer), and left alone by {@code abandonQueued}, which a
     * partition's revocation calls so that the next owner computes what is still queued. Requests queued on a
     * retiring version are now given up like any other: fetched again, they are computed by the new version.
     */
    @Test
    void requestsQueuedOnARetiringVersionCanBeLeftToTheNextOwner(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        // Requests of 64 rows, one per call, each call some seconds long: the later ones wait in the queue.
        int width = 256;
        int rows = 64;
        // Long enough for the swap and the checks below to happen while a computes, on a loaded machine too.
        OnnxModels.writeVersion(repo, "slow", "1", OnnxModels.slowIdentity(width, 2000, rows, Duration.ofSeconds(10)),
                "{\"batching\": {\"max_batch_size\": " + rows + "}}", null);
        kafka.createTopic("retiring.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, "slow", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                     WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.MODEL_POLL_INTERVAL_MS, 100,
                     WorkerConfig.CACHE_ENABLED, false)))) {
            KafkaTestClient.Collector replies = client.collect("retiring.replies");
            ModelPipeline pipeline = worker.pipelines().get(0);
            client.request(rows("a", width, rows), "retiring.replies", "a", 0);
            await().atMost(Duration.ofSeconds(60)).until(() -> OnnxModels.inModelCall("kinfer-batcher-slow-1"));
            client.request(rows("b", width, rows), "retiring.replies", "b", 0);
            client.request(rows("c", width, rows), "retiring.replies", "c", 0);
            await().atMost(Duration.ofSeconds(30)).until(() -> pipeline.queued() == 2);

            OnnxModels.writeVersion(repo, "slow", "2", OnnxModels.slowIdentity(width, 1), null, null);
            await().atMost(Duration.ofSeconds(30)).until(() -> pipeline.metadata().stream()
                    .map(ModelMetadata::version).toList().equals(List.of("2")));
            assertThat(OnnxModels.inModelCall("kinfer-batcher-slow-1")).as("a still computes on version 1").isTrue();

            assertThat(pipeline.queued()).as("the retiring version's queue").isEqualTo(2);
            assertThat(pipeline.abandonQueued(r -> true)).isEqualTo(2);

            await().atMost(Duration.ofSeconds(60)).until(() -> List.of("a", "b", "c").stream()
                    .allMatch(id -> replies.reply(id) != null));
            assertThat(List.of("a", "b", "c")).allMatch(id -> replies.replies(id).stream()
                    .allMatch(InferenceReply::isSuccess));
            assertThat(replies.reply("a").version()).isEqualTo("1");
            assertThat(replies.reply("b").version()).as("fetched again and computed by the new version").isEqualTo("2");
            assertThat(replies.reply("c").version()).isEqualTo("2");
        }
    }

    private static InferenceRequest rows(String id, int width, int rows) {
        return InferenceRequest.ofTensors(id, "slow", List.of(Tensor.fp32("x", new long[] {rows, width},
                new float[rows * width])));
    }

    private static Set<String> versionsWithMeters(InferenceWorker worker) {
        return worker.metrics().registry().getMeters().stream()
                .filter(m -> "swapped".equals(m.getId().getTag("model")) && m.getId().getTag("version") != null)
                .map(m -> m.getId().getTag("version")).collect(Collectors.toSet());
    }

    private static List<InferenceRequest> wave(int from, int count) {
        return IntStream.range(from, from + count).mapToObj(i -> InferenceRequest.ofTensors("r" + i, "gemm",
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {i, 1, 1, 1})))).toList();
    }
}
