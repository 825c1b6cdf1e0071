package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.client.InferenceException;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.Tensor;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/**
 * One controller and three brokers, replication factor 3, min.insync.replicas 2, acks=all: losing one broker under
 * load loses no request; losing two makes calls fail at their deadline instead of hanging. (The brokers run in this
 * JVM, so a "loss" is a broker shutdown, not a SIGKILL; worker crashes are SIGKILLed in WorkerKillIT.)
 */
class ReplicatedClusterTest {

    @Test
    void oneBrokerLostUnderLoadLosesNothingTwoLostFailAtTheDeadline() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().brokers(3)
                .brokerProperty("default.replication.factor", "3")
                .brokerProperty("min.insync.replicas", "2").start()) {
            Path repo = Files.createTempDirectory("repo");
            OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
            Map<String, Object> clientSettings = new HashMap<>(TestSettings.forKafka(kafka,
                    ClientConfig.CLIENT_ID, "replicated", ClientConfig.REPLICATION_FACTOR, 3));
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                    WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                    WorkerConfig.TOPICS_PARTITIONS, 3, WorkerConfig.TOPICS_REPLICATION_FACTOR, 3,
                    WorkerConfig.CACHE_ENABLED, false)));
                 InferenceClient client = InferenceClient.create(new ClientConfig(clientSettings))) {
                await().atMost(Duration.ofSeconds(60)).until(worker::ready);

                List<CompletableFuture<InferenceReply>> calls = new ArrayList<>();
                for (int wave = 0; wave < 6; wave++) {
                    for (int i = 0; i < 50; i++) {
                        calls.add(client.request(request(wave * 50 + i), Duration.ofSeconds(60)));
                    }
                    if (wave == 2) {
                        kafka.stopBroker(1);
                    }
                    CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
                }
                assertThat(calls).hasSize(300).allMatch(c -> c.join().isSuccess());

                kafka.stopBroker(2);
                CompletableFuture<InferenceReply> stranded = client.request(request(999), Duration.ofSeconds(3));
                // With one in-sync replica left, acks=all cannot succeed: the call ends at its deadline.
                ExecutionException failure = org.assertj.core.api.Assertions.catchThrowableOfType(
                        () -> stranded.get(30, TimeUnit.SECONDS), ExecutionException.class);
                assertThat(failure).isNotNull();
                assertThat(failure.getCause()).isInstanceOfAny(InferenceException.DeadlineExceeded.class,
                        InferenceException.KafkaUnavailable.class);
            }
        }
    }

    private static InferenceRequest request(int i) {
        return InferenceRequest.ofTensors("r" + i, "gemm", List.of(Tensor.fp32("x", new long[] {1, 4},
                new float[] {i, 1, 0, 0})));
    }
}
