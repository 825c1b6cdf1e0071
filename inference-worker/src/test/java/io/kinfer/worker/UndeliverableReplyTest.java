package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
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
import io.kinfer.worker.reply.ReplySender;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;

/**
 * A reply that can never be sent must end in a dead letter, not in a loop. A request names a reply topic that
 * exists but takes no reply: {@code __consumer_offsets} (a valid name, which Kafka describes as existing and
 * refuses every client write to), or a topic whose records may not exceed 100 bytes. It is written between valid
 * requests, all before the worker starts, so that one poll takes them together.
 */
@WithKafka(brokerProperties = "transaction.abort.timed.out.transaction.cleanup.interval.ms=500")
class UndeliverableReplyTest {

    private static final String LIVE = "undeliverable.replies";

    @Test
    void aReplyToKafkasOwnTopicIsDeadLetteredAndTheRecordsAroundItAnsweredOnce(EmbeddedKafka kafka) throws Exception {
        poisonedPoll(kafka, "internal", "__consumer_offsets", false, ReplySender.REPLY_UNDELIVERABLE);
    }

    @Test
    void exactlyOnceDeadLettersAReplyToKafkasOwnTopicWithinTheTransaction(EmbeddedKafka kafka) throws Exception {
        poisonedPoll(kafka, "internaleos", "__consumer_offsets", true, ReplySender.REPLY_UNDELIVERABLE);
    }

    /**
     * Exactly-once: the broker refuses the reply only once it is sent, which dooms the transaction (its dead letter
     * is refused too), so every try aborts. The records left unanswered are then taken alone; the one whose own
     * transaction keeps failing is dead-lettered after {@code reply.failure.limit} such tries, in a transaction of
     * its own, and the others are answered once.
     */
    @Test
    void exactlyOnceDeadLettersARecordWhoseReplyAbortsEveryTransactionItIsIn(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("tiny.replies", 1, (short) 1, Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "100"));
        poisonedPoll(kafka, "tiny", "tiny.replies", true, ReplySender.REPLY_FAILED);
    }

    /**
     * A request Kafka took at just under its 1 MiB limit, but no valid request (not JSON): its dead letter, with
     * the {@code kinfer-dlq-*} headers added, is over the limit, and Kafka refuses that send for good. Before, that
     * record was never finished: refetched forever in consumer groups (the partition's later records never
     * answered), its transaction aborted forever in exactly-once mode. Now the dead letter leaves the value out
     * and says so, and the records after it are answered.
     */
    @Test
    void aRecordTooLargeToDeadLetterWholeIsDeadLetteredWithoutItsValue(EmbeddedKafka kafka) throws Exception {
        oversizedPoll(kafka, "bigcg", false, LIVE);
    }

    @Test
    void exactlyOnceDeadLettersARecordTooLargeToDeadLetterWhole(EmbeddedKafka kafka) throws Exception {
        oversizedPoll(kafka, "bigeos", true, LIVE);
    }

    /** With no reply address either, the dead letter is all there is: it must be written. */
    @Test
    void aRecordTooLargeToDeadLetterWholeWithNoReplyAddressIsDeadLettered(EmbeddedKafka kafka) throws Exception {
        oversizedPoll(kafka, "bignoreply", false, "not a topic!");
    }

    /**
     * A dead-letter topic that refuses every dead letter for good (its max.message.bytes, as an ACL would): a record
     * that can only be dead-lettered is given up, loudly, and the records after it are served. Before, it was fetched
     * again forever and every record after it in its partition waited unanswered.
     */
    @Test
    void aDeadLetterKafkaRefusesForGoodDoesNotStallThePartition(EmbeddedKafka kafka) throws Exception {
        refusedDeadLetter(kafka, "refused", false);
    }

    /**
     * Exactly-once: the refused dead letter dooms its transaction. The records are then taken alone; the one whose
     * own transactions keep failing is dead-lettered at reply.failure.limit, and when that fails too it is given up
     * and only its offset committed. Before, its poll's transaction was aborted forever.
     */
    @Test
    void exactlyOnceGivesUpARecordWhoseDeadLetterKafkaRefusesForGood(EmbeddedKafka kafka) throws Exception {
        refusedDeadLetter(kafka, "refusedeos", true);
    }

    /**
     * Requests addressed to a reply topic known to be missing since before they were written are dead-lettered
     * without being computed: a backlog written by clients long gone (a fresh group reading from the earliest offset)
     * was computed in full before. A request written after that lookup is computed, and its reply looked up again
     * (the topic may have been made since: a client restarted under its id).
     */
    @Test
    void requestsToAReplyTopicKnownMissingAreDeadLetteredWithoutBeingComputed(EmbeddedKafka kafka) throws Exception {
        Path repo = setUp(kafka, "skip");
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = worker(kafka, "skip", repo, false)) {
            KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);
            KafkaTestClient.Collector replies = client.collect(LIVE);
            await().atMost(Duration.ofSeconds(60)).until(worker::ready);
            request(client, "skip", "first-gone", "gone.replies");
            await().atMost(Duration.ofSeconds(30)).until(() -> deadLetters.records().stream().anyMatch(r -> r.key() != null
                    && "first-gone".equals(new String(r.key(), StandardCharsets.UTF_8))));
            double rows = rowsComputed(worker);

            // Written a minute ago: the backlog of a client long gone.
            long aMinuteAgo = System.currentTimeMillis() - 60_000;
            for (int i = 0; i < 20; i++) {
                client.send(Topics.requestTopic("skip"), "gone-" + i, client.codec().encodeRequest(InferenceRequest
                        .ofTensors("gone-" + i, "skip", List.of(Tensor.fp32("x", new long[] {1, 4},
                                new float[] {1, 2, 3, 4})))), KafkaTestClient.replyTo("gone.replies", "gone-" + i),
                        aMinuteAgo);
            }
            request(client, "skip", "live", LIVE);
            // Written after the lookup, to a topic made since: computed and answered.
            kafka.createTopic("gone.replies", 1);
            KafkaTestClient.Collector back = client.collect("gone.replies");
            request(client, "skip", "back", "gone.replies");

            await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("live") != null);
            await().atMost(Duration.ofSeconds(30)).until(() -> back.reply("back") != null);
            assertThat(back.reply("back").isSuccess()).isTrue();
            await().atMost(Duration.ofSeconds(30)).until(() -> deadLetters.records().stream().filter(r -> r.key() != null
                    && new String(r.key(), StandardCharsets.UTF_8).startsWith("gone-")).count() == 20);
            assertThat(deadLetters.records()).filteredOn(r -> r.key() != null
                    && new String(r.key(), StandardCharsets.UTF_8).startsWith("gone-"))
                    .allMatch(r -> KinferHeaders.string(r.headers(), KinferHeaders.DLQ_REASON)
                            .orElse("").equals(ReplySender.REPLY_UNDELIVERABLE));
            // Only the two requests written after the lookup were computed.
            assertThat(rowsComputed(worker)).isEqualTo(rows + 2);
        }
    }

    private static double rowsComputed(InferenceWorker worker) {
        Map<String, Double> totals = new java.util.HashMap<>();
        worker.metrics().version("skip", "1").addTotals(totals);
        return totals.get("batch_rows_total");
    }

    private static void refusedDeadLetter(EmbeddedKafka kafka, String model, boolean exactlyOnce) throws Exception {
        Path repo = setUp(kafka, model);
        String dlq = model + ".dlq";
        kafka.createTopic(dlq, 1, (short) 1, Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, "100"));
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect(LIVE);
            client.send(Topics.requestTopic(model), "no-address", "not json".getBytes(StandardCharsets.UTF_8),
                    KafkaTestClient.replyTo("not a topic!", "no-address"));
            request(client, model, model + "-after", LIVE);

            try (InferenceWorker worker = worker(kafka, model, repo, exactlyOnce, WorkerConfig.DLQ_TOPIC, dlq)) {
                await().atMost(Duration.ofSeconds(90)).until(() -> replies.reply(model + "-after") != null);
                assertThat(replies.reply(model + "-after").isSuccess()).isTrue();
                await().atMost(Duration.ofSeconds(30)).until(() -> committed(kafka, model) == end(kafka, model));
                assertThat(replies.replies(model + "-after")).as("answered once").hasSize(1);
                assertThat(worker.live()).isTrue();
                assertThat(worker.scrape()).containsPattern("kinfer_records_given_up_total\\{[^}]*\\} 1\\.0");
            }
        }
    }

    private static void oversizedPoll(EmbeddedKafka kafka, String model, boolean exactlyOnce, String bigReplyTopic)
            throws Exception {
        Path repo = setUp(kafka, model);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect(LIVE);
            KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);
            String big = model + "-big";
            request(client, model, model + "-0", LIVE);
            byte[] notJson = new byte[1_048_400];
            Arrays.fill(notJson, (byte) 'x');
            client.send(Topics.requestTopic(model), big, notJson, KafkaTestClient.replyTo(bigReplyTopic, big));
            request(client, model, model + "-1", LIVE);

            try (InferenceWorker worker = worker(kafka, model, repo, exactlyOnce)) {
                await().atMost(Duration.ofSeconds(90)).until(() -> committed(kafka, model) == end(kafka, model));

                List<ConsumerRecord<byte[], byte[]>> dead = deadLetters.records().stream()
                        .filter(r -> big.equals(KinferHeaders.string(r.headers(), KinferHeaders.CORRELATION_ID)
                                .orElse(null)))
                        .toList();
                assertThat(dead).as("the big request's dead letters").hasSize(1);
                assertThat(dead.get(0).value()).as("left out").isNull();
                assertThat(KinferHeaders.string(dead.get(0).headers(), KinferHeaders.DLQ_DROPPED)).contains("value");
                assertThat(KinferHeaders.string(dead.get(0).headers(), KinferHeaders.DLQ_OFFSET)).contains("1");
                await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply(model + "-1") != null);
                assertThat(List.of(model + "-0", model + "-1")).allSatisfy(id -> {
                    assertThat(replies.replies(id)).as(id + "'s replies").hasSize(1);
                    assertThat(replies.reply(id).isSuccess()).isTrue();
                });
                if (LIVE.equals(bigReplyTopic)) {
                    assertThat(replies.replies(big)).as("the big request's error reply").hasSize(1);
                    assertThat(replies.reply(big).error().code().wireName()).isEqualTo("malformed");
                }
                assertThat(worker.live()).isTrue();
            }
        }
    }

    private static void poisonedPoll(EmbeddedKafka kafka, String model, String poisonReplyTopic, boolean exactlyOnce,
                                     String reason) throws Exception {
        Path repo = setUp(kafka, model);
        try (KafkaTestClient client = new KafkaTestClient(kafka)) {
            KafkaTestClient.Collector replies = client.collect(LIVE);
            KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);
            String poison = model + "-poison";
            List<String> valid = List.of(model + "-0", model + "-1", model + "-2");
            request(client, model, valid.get(0), LIVE);
            request(client, model, poison, poisonReplyTopic);
            request(client, model, valid.get(1), LIVE);
            request(client, model, valid.get(2), LIVE);

            try (InferenceWorker worker = worker(kafka, model, repo, exactlyOnce)) {
                await().atMost(Duration.ofSeconds(90)).until(() -> committed(kafka, model) == end(kafka, model));

                List<ConsumerRecord<byte[], byte[]>> dead = deadLetters.records().stream()
                        .filter(r -> r.key() != null && poison.equals(new String(r.key(), StandardCharsets.UTF_8)))
                        .toList();
                assertThat(dead).as("the poisoned request's dead letters").hasSize(1);
                assertThat(KinferHeaders.string(dead.get(0).headers(), KinferHeaders.DLQ_REASON)).contains(reason);
                if (reason.equals(ReplySender.REPLY_FAILED)) {
                    // It says why its transactions failed, not only that they did.
                    assertThat(KinferHeaders.string(dead.get(0).headers(), KinferHeaders.DLQ_MESSAGE).orElse(""))
                            .as("the dead letter's message").contains("; the last failure: ")
                            .contains("RecordTooLargeException"); // what doomed its transactions
                }
                await().atMost(Duration.ofSeconds(30)).until(() -> valid.stream().allMatch(id -> replies.reply(id) != null));
                assertThat(valid).allSatisfy(id -> {
                    assertThat(replies.replies(id)).as(id + "'s replies").hasSize(1);
                    assertThat(replies.reply(id).isSuccess()).isTrue();
                });
                // Successes are replies Kafka acknowledged: counted when computed, the dead-lettered one was a fourth.
                // Exactly-once counts them when their transaction commits (just after its offsets show): counted
                // when written, the replies of the transactions that aborted counted too, 5 and more in all.
                await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(worker.scrape())
                        .containsPattern("kinfer_requests_total\\{model=\"" + model
                                + "\",outcome=\"success\",version=\"1\"[^}]*\\} 3\\.0")
                        .containsPattern("kinfer_dlq_records_total\\{model=\"" + model + "\",reason=\"" + reason
                                + "\"[^}]*\\} 1\\.0"));
                assertThat(worker.live()).isTrue();
            }
        }
    }

    /** The model's repository (a small Gemm), with its request topic and the live reply topic made. */
    private static Path setUp(EmbeddedKafka kafka, String model) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, model, "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic(LIVE, 1);
        kafka.createTopic(Topics.requestTopic(model), 1);
        return repo;
    }

    /** A worker serving the model, with no cache and a reply failure limit of 2, and {@code more} settings. */
    private static InferenceWorker worker(EmbeddedKafka kafka, String model, Path repo, boolean exactlyOnce,
                                          Object... more) throws Exception {
        List<Object> settings = new ArrayList<>(List.of(WorkerConfig.MODELS, model,
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1, WorkerConfig.WORKER_ID,
                "undeliverable-" + model, WorkerConfig.EXACTLY_ONCE, exactlyOnce, WorkerConfig.CACHE_ENABLED, false,
                WorkerConfig.REPLY_FAILURE_LIMIT, 2, "kafka.producer.transaction.timeout.ms", 10_000));
        settings.addAll(List.of(more));
        return InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka, settings.toArray())));
    }

    private static void request(KafkaTestClient client, String model, String id, String replyTopic) {
        client.request(InferenceRequest.ofTensors(id, model, List.of(Tensor.fp32("x", new long[] {1, 4},
                new float[] {1, 2, 3, 4}))), replyTopic, id, 0);
    }

    private static long committed(EmbeddedKafka kafka, String model) throws Exception {
        try (var admin = kafka.admin()) {
            OffsetAndMetadata offset = admin.listConsumerGroupOffsets("kinfer-worker." + model)
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS)
                    .get(new TopicPartition(Topics.requestTopic(model), 0));
            return offset == null ? -1 : offset.offset();
        }
    }

    private static long end(EmbeddedKafka kafka, String model) throws Exception {
        try (var admin = kafka.admin()) {
            TopicPartition partition = new TopicPartition(Topics.requestTopic(model), 0);
            return admin.listOffsets(Map.of(partition, OffsetSpec.latest())).partitionResult(partition)
                    .get(10, TimeUnit.SECONDS).offset();
        }
    }
}
