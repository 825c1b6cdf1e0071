package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.intake.ShareDeadLetterQueue;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;

/**
 * Share groups and Kafka's dead-letter queues (KIP-1191, Kafka 4.4): the worker names a dead-letter topic on its
 * share group, so that a request whose deliveries run out unanswered is kept, whole, instead of archived without a
 * trace; a request the worker dead-letters itself is not copied there a second time. The group's delivery-count
 * limit is 2 (the broker's minimum), and requests are held unanswered by a queue delay longer than the test:
 * closing the worker (with no drain time) releases them, as a shutdown does with what it could not finish.
 */
@WithKafka
class ShareGroupDeadLetterQueueTest {

    @Test
    void aRequestReleasedOnItsLastDeliveryIsCopiedWholeToTheGroupsDeadLetterTopic(EmbeddedKafka kafka)
            throws Exception {
        String model = "held";
        Path repo = repository(model);
        limitDeliveries(kafka, model, 2);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            InferenceWorker first = InferenceWorker.start(config(kafka, repo, model, "held-a"));
            String dlq = "dlq.kinfer.requests.held";
            Config group = groupConfig(kafka, model);
            assertThat(group.get(ShareDeadLetterQueue.TOPIC_NAME).value()).isEqualTo(dlq);
            assertThat(group.get(ShareDeadLetterQueue.COPY_RECORD_ENABLE).value()).isEqualTo("true");
            assertThat(topicConfig(kafka, dlq).get(TopicConfig.ERRORS_DEADLETTERQUEUE_GROUP_ENABLE_CONFIG).value())
                    .isEqualTo("true");

            InferenceRequest request = request("h1", model);
            client.request(request, "held.replies", "c-h1", 0);
            holdThenStop(first); // delivery 1 of 2: released, delivered again
            holdThenStop(InferenceWorker.start(config(kafka, repo, model, "held-b"))); // the last: released, archived

            KafkaTestClient.Collector deadLetters = client.collect(dlq);
            await().atMost(Duration.ofSeconds(60)).until(() -> deadLetters.size() > 0);
            ConsumerRecord<byte[], byte[]> copy = deadLetters.records().get(0);
            assertThat(copy.value()).isEqualTo(client.codec().encodeRequest(request));
            // Kafka 4.4 copies the key and value but not the request's headers (its reply address): where the
            // request was is in the __dlq headers, and its original stays there while the topic's retention lasts.
            assertThat(copy.key()).isEqualTo("c-h1".getBytes(StandardCharsets.UTF_8));
            assertThat(header(copy, "__dlq.errors.topic")).isEqualTo(Topics.requestTopic(model));
            assertThat(header(copy, "__dlq.errors.partition")).isEqualTo("0");
            assertThat(header(copy, "__dlq.errors.offset")).isEqualTo("0");
            assertThat(header(copy, "__dlq.errors.group")).isEqualTo("kinfer-worker." + model);
            assertThat(header(copy, "__dlq.errors.delivery.count")).isEqualTo("2");
            assertThat(header(copy, "__dlq.errors.message")).containsIgnoringCase("delivery count");
        }
    }

    /**
     * Kafka copies a REJECTed record to the group's dead-letter topic as well ("Offset rejected by client."), so a
     * request the worker dead-letters itself (here a malformed one, on kinfer.dlq with its reason) is ACCEPTed where
     * the group has a dead-letter topic: one dead letter per request. A request released on its last delivery
     * afterwards shows that the broker's copies arrive.
     */
    @Test
    void aRequestTheWorkerDeadLettersItselfIsNotCopiedAgainByTheBroker(EmbeddedKafka kafka) throws Exception {
        String model = "poison";
        Path repo = repository(model);
        limitDeliveries(kafka, model, 2);
        // A reply topic that exists: one known missing would have the request dead-lettered at once, not held.
        kafka.createTopic("poison.replies", 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector kinferDeadLetters = client.collect(Topics.DEAD_LETTER);
            InferenceWorker first = InferenceWorker.start(config(kafka, repo, model, "poison-a"));
            byte[] malformed = "{not json".getBytes(StandardCharsets.UTF_8);
            client.send(Topics.requestTopic(model), "bad-1", malformed,
                    KafkaTestClient.replyTo("poison.replies", "c-bad-1"));
            await().atMost(Duration.ofSeconds(60)).until(() -> kinferDeadLetters.records().stream().anyMatch(r ->
                    Arrays.equals(r.value(), malformed)
                            && "malformed".equals(header(r, KinferHeaders.DLQ_REASON))));
            await().atMost(Duration.ofSeconds(30)).until(() -> first.intakes().get(0).inFlight() == 0);

            InferenceRequest request = request("p1", model);
            client.request(request, "poison.replies", "c-p1", 0);
            holdThenStop(first);
            holdThenStop(InferenceWorker.start(config(kafka, repo, model, "poison-b")));

            KafkaTestClient.Collector deadLetters = client.collect("dlq.kinfer.requests.poison");
            byte[] released = client.codec().encodeRequest(request);
            await().atMost(Duration.ofSeconds(60)).until(() -> deadLetters.records().stream()
                    .anyMatch(r -> Arrays.equals(r.value(), released)));
            assertThat(deadLetters.records()).extracting(r -> new String(r.value(), StandardCharsets.UTF_8))
                    .as("only the request that ran out of deliveries")
                    .containsExactly(new String(released, StandardCharsets.UTF_8));
        }
    }

    @Test
    void aDeadLetterTopicAnOperatorSetOnTheGroupIsKept(EmbeddedKafka kafka) throws Exception {
        String model = "chosen";
        Path repo = repository(model);
        kafka.createTopic("dlq.operators.choice", 1, (short) 1,
                Map.of(TopicConfig.ERRORS_DEADLETTERQUEUE_GROUP_ENABLE_CONFIG, "true"));
        alterGroup(kafka, model, ShareDeadLetterQueue.TOPIC_NAME, "dlq.operators.choice");

        try (InferenceWorker worker = InferenceWorker.start(config(kafka, repo, model, "chosen-a"))) {
            assertThat(groupConfig(kafka, model).get(ShareDeadLetterQueue.TOPIC_NAME).value())
                    .isEqualTo("dlq.operators.choice");
            try (Admin admin = kafka.admin()) {
                assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS))
                        .doesNotContain("dlq.kinfer.requests.chosen");
            }
        }
    }

    /** The broker takes group DLQ topics only under its prefix (dlq.); it would drop every copy to another name. */
    @Test
    void aDeadLetterTopicOutsideTheBrokersPrefixIsNotSetAndTheWorkerServesWithoutOne(EmbeddedKafka kafka)
            throws Exception {
        String model = "elsewhere";
        Path repo = repository(model);
        try (InferenceWorker worker = InferenceWorker.start(config(kafka, repo, model, "elsewhere-a",
                WorkerConfig.SHARE_DLQ_TOPIC, "dead.{model}"))) {
            await().atMost(Duration.ofSeconds(60)).until(worker::ready);
            assertThat(groupConfig(kafka, model).get(ShareDeadLetterQueue.TOPIC_NAME).value()).isEmpty();
        }
    }

    @Test
    void theDeadLetterTopicSettingNamesOneTopicPerModelOrNone() {
        assertThat(new WorkerConfig(Map.of()).shareDeadLetterTopic("sentiment"))
                .contains("dlq.kinfer.requests.sentiment");
        assertThat(new WorkerConfig(Map.of(WorkerConfig.SHARE_DLQ_TOPIC, "dlq.all")).shareDeadLetterTopic("sentiment"))
                .contains("dlq.all");
        assertThat(new WorkerConfig(Map.of(WorkerConfig.SHARE_DLQ_TOPIC, " ")).shareDeadLetterTopic("sentiment"))
                .isEmpty();
        for (String invalid : List.of("__dlq.{model}", "dlq/{model}", "dlq.{model}!")) {
            assertThatThrownBy(() -> new WorkerConfig(Map.of(WorkerConfig.SHARE_DLQ_TOPIC, invalid)))
                    .as(invalid).isInstanceOf(ConfigException.class).hasMessageContaining(WorkerConfig.SHARE_DLQ_TOPIC);
        }
    }

    /** Waits until the worker holds a request (queued, its batch not due for a minute), then closes it. */
    private static void holdThenStop(InferenceWorker worker) {
        try (worker) {
            await().atMost(Duration.ofSeconds(60)).until(() -> worker.intakes().get(0).inFlight() == 1);
        }
    }

    private static WorkerConfig config(EmbeddedKafka kafka, Path repo, String model, String id, Object... more) {
        List<Object> settings = new ArrayList<>(List.of(WorkerConfig.MODELS, model,
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1, WorkerConfig.WORKER_ID, id,
                WorkerConfig.GROUP_MODE, "share", WorkerConfig.SHARE_CONSUMERS, 1, WorkerConfig.TOPICS_PARTITIONS, 1,
                WorkerConfig.CACHE_ENABLED, false, WorkerConfig.BATCH_MAX_SIZE, 4,
                WorkerConfig.BATCH_MAX_QUEUE_DELAY_MS, 60_000, WorkerConfig.SHUTDOWN_TIMEOUT_MS, 0));
        settings.addAll(List.of(more));
        return new WorkerConfig(TestSettings.forKafka(kafka, settings.toArray()));
    }

    private static Path repository(String model) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, model, "1", OnnxModels.gemm(4, 3), null, null);
        return repo;
    }

    private static InferenceRequest request(String id, String model) {
        return InferenceRequest.ofTensors(id, model, List.of(Tensor.fp32("x", new long[] {1, 4},
                new float[] {1, 2, 3, 4})));
    }

    private static void limitDeliveries(EmbeddedKafka kafka, String model, int limit) throws Exception {
        alterGroup(kafka, model, "share.delivery.count.limit", Integer.toString(limit));
    }

    private static void alterGroup(EmbeddedKafka kafka, String model, String key, String value) throws Exception {
        try (Admin admin = kafka.admin()) {
            ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, "kinfer-worker." + model);
            admin.incrementalAlterConfigs(Map.of(group, List.of(new AlterConfigOp(new ConfigEntry(key, value),
                    AlterConfigOp.OpType.SET)))).all().get(30, TimeUnit.SECONDS);
        }
    }

    private static Config groupConfig(EmbeddedKafka kafka, String model) throws Exception {
        return describe(kafka, new ConfigResource(ConfigResource.Type.GROUP, "kinfer-worker." + model));
    }

    private static Config topicConfig(EmbeddedKafka kafka, String topic) throws Exception {
        return describe(kafka, new ConfigResource(ConfigResource.Type.TOPIC, topic));
    }

    private static Config describe(EmbeddedKafka kafka, ConfigResource resource) throws Exception {
        try (Admin admin = kafka.admin()) {
            return admin.describeConfigs(List.of(resource)).values().get(resource).get(30, TimeUnit.SECONDS);
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> record, String name) {
        return KinferHeaders.string(record.headers(), name).orElse(null);
    }
}
