package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.reply.ReplySender;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.Test;

/**
 * A reply Kafka does not take within the producer's delivery timeout leaves its record unanswered; the worker
 * fetches it again while it still owns the partition, instead of waiting for a rebalance that may never come, and
 * in a share group dead-letters it rather than let the broker archive it unanswered. Two brokers: the request
 * topic lives on one, the reply topic on the other, which is stopped for a while.
 */
class ReplyRetryTest {

    private static final String REPLIES = "retry.replies";
    private static final String LIVE = "retry.live";

    @Test
    void aReplyThatTimedOutIsComputedAndSentAgainOnceItsBrokerIsBack() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().brokers(2).start()) {
            TopicPartition requests = new TopicPartition(Topics.requestTopic("gemm"), 0);
            try (Admin admin = kafka.admin()) {
                admin.createTopics(List.of(new NewTopic(requests.topic(), Map.of(0, List.of(1))),
                        new NewTopic(REPLIES, Map.of(0, List.of(2))))).all().get(30, TimeUnit.SECONDS);
            }
            Path repo = Files.createTempDirectory("repo");
            OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                    WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                    WorkerConfig.CACHE_ENABLED, false,
                    "kafka.producer.request.timeout.ms", 1_500, "kafka.producer.delivery.timeout.ms", 3_000)));
                 KafkaTestClient client = new KafkaTestClient(kafka)) {
                await().atMost(Duration.ofSeconds(60)).until(worker::ready);
                KafkaTestClient.Collector replies = client.collect(REPLIES);

                kafka.stopBroker(1); // node 2: the reply topic's only replica
                client.request(InferenceRequest.ofTensors("r1", "gemm", List.of(Tensor.fp32("x", new long[] {1, 4},
                        new float[] {1, 2, 3, 4}))), REPLIES, "c1", 0);
                await().atMost(Duration.ofSeconds(60)).until(() -> worker.scrape().contains("kinfer_replies_failed_total"));
                assertThat(committed(kafka, requests)).isLessThan(1);

                kafka.startBroker(1);
                await().atMost(Duration.ofSeconds(60)).until(() -> replies.reply("c1") != null);
                assertThat(replies.reply("c1").isSuccess()).isTrue();
                // Fetched again by this consumer, not by a rebalance.
                assertThat(worker.scrape()).containsPattern("kinfer_records_refetched_total\\{[^}]*\\} [1-9]");
                await().atMost(Duration.ofSeconds(30)).until(() -> committed(kafka, requests) == end(kafka, requests));
            }
        }
    }

    /**
     * A reply whose broker stays away is not retried forever: after {@code reply.failure.limit} failed tries its
     * record is dead-lettered ({@code reply_failed}) and the partition moves on. The request after it, answered the
     * first time, is not answered again when the partition is fetched again from the failing one.
     */
    @Test
    void aReplyThatKeepsTimingOutIsDeadLetteredAfterTheFailureLimitAndTheRequestAfterItAnsweredOnce() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().brokers(2).start()) {
            TopicPartition requests = new TopicPartition(Topics.requestTopic("gemm"), 0);
            try (InferenceWorker worker = limitedWorker(kafka, 1);
                 KafkaTestClient client = new KafkaTestClient(kafka)) {
                await().atMost(Duration.ofSeconds(60)).until(worker::ready);
                KafkaTestClient.Collector live = client.collect(LIVE);
                KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);

                kafka.stopBroker(1); // node 2: the reply topic's only replica, for the whole test
                lostThenAfter(client);

                await().atMost(Duration.ofSeconds(90)).until(() -> committed(kafka, requests) == end(kafka, requests));
                assertThat(deadLetters.records()).filteredOn(r -> KinferHeaders.string(r.headers(),
                        KinferHeaders.CORRELATION_ID).orElse("").equals("lost"))
                        .extracting(r -> KinferHeaders.string(r.headers(), KinferHeaders.DLQ_REASON).orElse(""))
                        .containsExactly(ReplySender.REPLY_FAILED);
                // ...saying why its replies failed.
                assertThat(deadLetters.records()).filteredOn(r -> KinferHeaders.string(r.headers(),
                        KinferHeaders.CORRELATION_ID).orElse("").equals("lost"))
                        .extracting(r -> KinferHeaders.string(r.headers(), KinferHeaders.DLQ_MESSAGE).orElse(""))
                        .singleElement().asString()
                        .contains("the last failure: its reply to " + REPLIES + " failed: ")
                        .contains("TimeoutException");
                await().atMost(Duration.ofSeconds(30)).until(() -> live.reply("after") != null);
                assertThat(live.replies("after")).hasSize(1);
                assertThat(worker.scrape()).containsPattern("kinfer_records_refetched_total\\{[^}]*\\} 2\\.0");
            }
        }
    }

    /**
     * A record whose reply and then whose dead letter keep failing (the dead-letter topic's broker is down, or it was
     * deleted under topics.create=false) is given up once its reply_failed dead letter failed too, as exactly-once
     * mode does: before, it was fetched again every 30 s without end, its partition's offset stuck behind it.
     */
    @Test
    void aRecordWhoseDeadLetterFailsTooIsGivenUpAndThePartitionMovesOn() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().brokers(2).start()) {
            TopicPartition requests = new TopicPartition(Topics.requestTopic("gemm"), 0);
            try (InferenceWorker worker = limitedWorker(kafka, 2);
                 KafkaTestClient client = new KafkaTestClient(kafka)) {
                await().atMost(Duration.ofSeconds(60)).until(worker::ready);
                KafkaTestClient.Collector live = client.collect(LIVE);

                kafka.stopBroker(1); // node 2: the reply topic's and the dead-letter topic's only replica
                lostThenAfter(client);

                await().atMost(Duration.ofSeconds(120)).until(() -> committed(kafka, requests) == end(kafka, requests));
                await().atMost(Duration.ofSeconds(30)).until(() -> live.reply("after") != null);
                assertThat(live.replies("after")).hasSize(1);
                assertThat(worker.ready()).isTrue();
                // The one outcome that loses a request is counted, not only logged.
                assertThat(worker.scrape()).containsPattern("kinfer_records_given_up_total\\{[^}]*\\} 1\\.0");
            }
        }
    }

    /**
     * Share groups: a record is delivered at most {@code share.delivery.count.limit} times. Released after its last
     * delivery, the broker archives it with no answer and no trace; the worker dead-letters it instead.
     */
    @Test
    void aShareGroupRecordWhoseReplyFailsOnItsLastDeliveryIsDeadLettered() throws Exception {
        // The share-group state topic must stay writable with one broker of two down.
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().brokers(2)
                .brokerProperty("share.coordinator.state.topic.min.isr", "1").start()) {
            String requests = Topics.requestTopic("gemm");
            try (Admin admin = kafka.admin()) {
                admin.createTopics(List.of(new NewTopic(requests, Map.of(0, List.of(1))),
                        new NewTopic(REPLIES, Map.of(0, List.of(2))),
                        new NewTopic(Topics.DEAD_LETTER, Map.of(0, List.of(1))))).all().get(30, TimeUnit.SECONDS);
                ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, "kinfer-worker.gemm");
                admin.incrementalAlterConfigs(Map.of(group, List.of(new AlterConfigOp(
                        new ConfigEntry("share.delivery.count.limit", "2"), AlterConfigOp.OpType.SET))))
                        .all().get(30, TimeUnit.SECONDS);
            }
            Path repo = Files.createTempDirectory("repo");
            OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                    WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                    WorkerConfig.CACHE_ENABLED, false, WorkerConfig.GROUP_MODE, "share",
                    "kafka.producer.request.timeout.ms", 1_500, "kafka.producer.delivery.timeout.ms", 3_000)));
                 KafkaTestClient client = new KafkaTestClient(kafka)) {
                await().atMost(Duration.ofSeconds(60)).until(worker::ready);
                KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);

                kafka.stopBroker(1); // node 2: the reply topic's only replica
                client.request(InferenceRequest.ofTensors("s1", "gemm", List.of(Tensor.fp32("x", new long[] {1, 4},
                        new float[] {1, 2, 3, 4}))), REPLIES, "c1", 0);

                await().atMost(Duration.ofSeconds(90)).until(() -> deadLetters.records().stream().anyMatch(r ->
                        KinferHeaders.string(r.headers(), KinferHeaders.DLQ_REASON).orElse("").equals("delivery_limit")));
                // Delivered twice (the limit), its reply failing each time.
                assertThat(worker.scrape()).containsPattern("kinfer_replies_failed_total\\{[^}]*\\} [2-9]");
            }
        }
    }

    /**
     * The gemm request topic and LIVE on node 1, REPLIES on node 2, kinfer.dlq on {@code deadLetterNode}; a worker
     * whose replies fail within 3 s and whose records are dead-lettered after 2 failed tries.
     */
    private static InferenceWorker limitedWorker(EmbeddedKafka kafka, int deadLetterNode) throws Exception {
        try (Admin admin = kafka.admin()) {
            admin.createTopics(List.of(new NewTopic(Topics.requestTopic("gemm"), Map.of(0, List.of(1))),
                    new NewTopic(REPLIES, Map.of(0, List.of(2))), new NewTopic(LIVE, Map.of(0, List.of(1))),
                    new NewTopic(Topics.DEAD_LETTER, Map.of(0, List.of(deadLetterNode))))).all()
                    .get(30, TimeUnit.SECONDS);
        }
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        return InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                WorkerConfig.CACHE_ENABLED, false, WorkerConfig.REPLY_FAILURE_LIMIT, 2,
                "kafka.producer.request.timeout.ms", 1_500, "kafka.producer.delivery.timeout.ms", 3_000)));
    }

    /** "lost", whose reply goes to REPLIES, then "after", whose reply goes to LIVE, on the same partition. */
    private static void lostThenAfter(KafkaTestClient client) {
        client.request(InferenceRequest.ofTensors("lost", "gemm", List.of(Tensor.fp32("x", new long[] {1, 4},
                new float[] {1, 2, 3, 4}))), REPLIES, "lost", 0);
        client.request(InferenceRequest.ofTensors("after", "gemm", List.of(Tensor.fp32("x", new long[] {1, 4},
                new float[] {4, 3, 2, 1}))), LIVE, "after", 0);
    }

    private static long committed(EmbeddedKafka kafka, TopicPartition partition) throws Exception {
        try (Admin admin = kafka.admin()) {
            OffsetAndMetadata offset = admin.listConsumerGroupOffsets("kinfer-worker.gemm")
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS).get(partition);
            return offset == null ? -1 : offset.offset();
        }
    }

    private static long end(EmbeddedKafka kafka, TopicPartition partition) throws Exception {
        try (Admin admin = kafka.admin()) {
            return admin.listOffsets(Map.of(partition, OffsetSpec.latest())).partitionResult(partition)
                    .get(10, TimeUnit.SECONDS).offset();
        }
    }
}
