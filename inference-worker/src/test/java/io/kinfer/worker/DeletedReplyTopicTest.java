package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.reply.ReplySender;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * A client closed with calls in flight deletes its reply topic while replies are on their way to it. The worker
 * has already seen the topic exist, so it sends; the send fails only at the producer's delivery timeout. Such a
 * reply is dead-lettered (nobody can receive it) instead of left uncommitted, and the worker serves on.
 */
@WithKafka
class DeletedReplyTopicTest {

    private static final String MODEL = "deleted";
    private static final String GONE = "client.that.left";
    private static final String LIVE = "client.that.stays";

    @Test
    void aReplyToADeletedTopicIsDeadLetteredAndTheRecordIsDone(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, MODEL, "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic(GONE, 1);
        kafka.createTopic(LIVE, 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, MODEL, WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                     WorkerConfig.TOPICS_PARTITIONS, 1,
                     // Short producer timeouts keep the test short; the default delivery timeout is 30 s.
                     "kafka.producer.request.timeout.ms", 1_000, "kafka.producer.delivery.timeout.ms", 2_000)))) {
            KafkaTestClient.Collector live = client.collect(LIVE);
            KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);
            try (KafkaTestClient.Collector gone = client.collect(GONE)) {
                client.send(Topics.requestTopic(MODEL), "first", request(client, "first"),
                        KafkaTestClient.replyTo(GONE, "first"));
                await().atMost(Duration.ofSeconds(60)).until(() -> gone.reply("first") != null);
            }

            try (var admin = kafka.admin()) {
                admin.deleteTopics(List.of(GONE)).all().get(30, TimeUnit.SECONDS);
                await().atMost(Duration.ofSeconds(30)).until(() -> !admin.listTopics().names().get().contains(GONE));
            }
            client.send(Topics.requestTopic(MODEL), "orphan", request(client, "orphan"),
                    KafkaTestClient.replyTo(GONE, "orphan"));
            client.send(Topics.requestTopic(MODEL), "after", request(client, "after"),
                    KafkaTestClient.replyTo(LIVE, "after"));

            await().atMost(Duration.ofSeconds(60)).until(() -> deadLetters.records().stream()
                    .anyMatch(r -> r.key() != null && "orphan".equals(new String(r.key(), StandardCharsets.UTF_8))));
            var orphan = deadLetters.records().stream()
                    .filter(r -> r.key() != null && "orphan".equals(new String(r.key(), StandardCharsets.UTF_8)))
                    .findFirst().orElseThrow();
            assertThat(KinferHeaders.string(orphan.headers(), KinferHeaders.DLQ_REASON))
                    .contains(ReplySender.REPLY_UNDELIVERABLE);
            await().atMost(Duration.ofSeconds(60)).until(() -> live.reply("after") != null);
            assertThat(live.reply("after").isSuccess()).isTrue();
            // Nothing left uncommitted: a restart would not deliver the orphan again.
            await().atMost(Duration.ofSeconds(30)).until(() -> committed(kafka) == end(kafka));
            assertThat(worker.ready()).isTrue();
        }
    }

    private static byte[] request(KafkaTestClient client, String id) {
        return client.codec().encodeRequest(InferenceRequest.ofTensors(id, MODEL,
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {1, 2, 3, 4}))));
    }

    private static long committed(EmbeddedKafka kafka) throws Exception {
        try (var admin = kafka.admin()) {
            OffsetAndMetadata offset = admin.listConsumerGroupOffsets("kinfer-worker." + MODEL)
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS)
                    .get(new TopicPartition(Topics.requestTopic(MODEL), 0));
            return offset == null ? -1 : offset.offset();
        }
    }

    private static long end(EmbeddedKafka kafka) throws Exception {
        try (var admin = kafka.admin()) {
            TopicPartition partition = new TopicPartition(Topics.requestTopic(MODEL), 0);
            return admin.listOffsets(Map.of(partition, OffsetSpec.latest())).partitionResult(partition)
                    .get(10, TimeUnit.SECONDS).offset();
        }
    }
}
