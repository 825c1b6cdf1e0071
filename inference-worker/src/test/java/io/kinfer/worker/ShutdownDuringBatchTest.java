package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

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
 * A batch that outlasts the drain (here: a model call of seconds, a shutdown timeout of 0) is still computing when
 * the worker closes its models. Closing freed its ONNX Runtime session under the running call, and the JVM died of
 * a SIGSEGV (onnxruntime#21812; the surefire fork crashed). Now closing waits for the batch, a bounded time, under
 * the lock the batch holds, and leaves the session to the exiting process if the batch runs longer still.
 */
@WithKafka
class ShutdownDuringBatchTest {

    /** 128 rows through MatMuls of 1024 × 1024: 10 s of compute or more (6000 on 2 vCPUs), beyond closing's wait. */
    private static final int ROWS = 128;
    private static final int WIDTH = 1024;

    @Test
    void closingWhileABatchOutlastsTheDrainDoesNotFreeTheSessionUnderIt(EmbeddedKafka kafka) throws Exception {
        closeDuringABatch(kafka, "closing", InferenceWorker::close);
    }

    @Test
    void crashingWhileABatchComputesDoesNotFreeTheSessionUnderIt(EmbeddedKafka kafka) throws Exception {
        closeDuringABatch(kafka, "crashing", InferenceWorker::crash);
    }

    private static void closeDuringABatch(EmbeddedKafka kafka, String model, Consumer<InferenceWorker> stop)
            throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, model, "1", OnnxModels.slowIdentity(WIDTH, 6000, ROWS, Duration.ofSeconds(10)),
                "{\"batching\": {\"max_batch_size\": " + ROWS + "}}", null);
        String replyTopic = model + ".replies";
        kafka.createTopic(replyTopic, 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect(replyTopic);
            InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                    WorkerConfig.MODELS, model, WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                    WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.SHUTDOWN_TIMEOUT_MS, 0)));
            client.request(InferenceRequest.ofTensors("big", model,
                    List.of(Tensor.fp32("x", new long[] {ROWS, WIDTH}, new float[ROWS * WIDTH]))), replyTopic, "big", 0);
            // Inside ONNX Runtime's call: with only in-flight 1 and nothing queued, the record could still be on its
            // way into the queue, and the drain then gave it up before any batch ran (seen once in CI).
            String batchThread = "kinfer-batcher-" + model + "-1";
            await().atMost(Duration.ofSeconds(60)).until(() -> OnnxModels.inModelCall(batchThread));

            stop.accept(worker); // the batch has just started: it outlasts the drain of 0 ms by seconds

            // Still running here at all: the session was not freed under the call. The batch runs to its end.
            await().atMost(Duration.ofSeconds(180)).until(() -> Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(t -> t.getName().equals(batchThread)));
            // ... and its model call succeeded (a batch is counted only then). With the session freed under it,
            // the call failed (ONNX Runtime read freed memory) when the JVM survived at all. Its reply was sent,
            // or failed on the closed producer and left the record for the next owner: at least once either way.
            assertThat(worker.metrics().registry().find("kinfer.batch.size").summary().count()).isEqualTo(1);
            assertThat(replies.replies("big")).allMatch(InferenceReply::isSuccess);
        }
    }
}
