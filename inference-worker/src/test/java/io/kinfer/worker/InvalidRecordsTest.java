package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.reply.ReplySender;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Each kind of invalid record gets its specific error reply (where it has a usable address) and a dead letter,
 * valid records around them all succeed, and the committed offsets reach the end of the topic.
 */
@WithKafka
class InvalidRecordsTest {

    private static final String REPLIES = "invalid.replies";
    private static InferenceWorker worker;
    private static KafkaTestClient client;
    private static KafkaTestClient.Collector replies;
    private static KafkaTestClient.Collector deadLetters;

    @BeforeAll
    static void start(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        // 20 000 outputs a row: a reply of about 150 KB, over the 64 KB the reply producer may send.
        OnnxModels.writeVersion(repo, "wide", "1", OnnxModels.gemm(4, 20_000), null, null);
        worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                WorkerConfig.MODELS, "gemm,wide", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                WorkerConfig.BATCH_MAX_SIZE, 4, WorkerConfig.TOPICS_PARTITIONS, 1, WorkerConfig.MAX_TEXT_CHARS, 100,
                "kafka.producer.max.request.size", 65_536)));
        kafka.createTopic(REPLIES, 1);
        client = new KafkaTestClient(kafka);
        replies = client.collect(REPLIES);
        deadLetters = client.collect(Topics.DEAD_LETTER);
    }

    @AfterAll
    static void stop() {
        client.close();
        worker.close();
    }

    private static byte[] json(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static byte[] validRequest(String id) {
        return client.codec().encodeRequest(InferenceRequest.ofTensors(id, "gemm",
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {1, 2, 3, 4}))));
    }

    @Test
    void everyKindOfInvalidRecordGetsItsErrorAndADeadLetterWhileValidOnesSucceed(EmbeddedKafka kafka) throws Exception {
        Map<String, byte[]> bad = new LinkedHashMap<>();
        Map<String, ErrorCode> expected = new HashMap<>();
        bad.put("random-bytes", new byte[] {(byte) 0xff, 0x00, 0x13, (byte) 0xfe});
        expected.put("random-bytes", ErrorCode.MALFORMED);
        bad.put("wrong-types", json("{\"id\":7,\"model\":\"gemm\",\"inputs\":[]}"));
        expected.put("wrong-types", ErrorCode.INVALID_REQUEST);
        bad.put("unknown-version", json("{\"id\":\"u\",\"model\":\"gemm\",\"version\":\"9\",\"inputs\":"
                + "[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]}]}"));
        expected.put("unknown-version", ErrorCode.UNKNOWN_VERSION);
        bad.put("empty-inputs", json("{\"id\":\"e\",\"model\":\"gemm\",\"inputs\":[]}"));
        expected.put("empty-inputs", ErrorCode.EMPTY_INPUT);
        bad.put("too-many-rows", json("{\"id\":\"o\",\"model\":\"gemm\",\"inputs\":[{\"name\":\"x\",\"datatype\":"
                + "\"FP32\",\"shape\":[5,4],\"data\":[" + "1,".repeat(19) + "1]}]}"));
        expected.put("too-many-rows", ErrorCode.INPUT_TOO_LARGE);
        bad.put("wrong-shape", json("{\"id\":\"s\",\"model\":\"gemm\",\"inputs\":[{\"name\":\"x\",\"datatype\":"
                + "\"FP32\",\"shape\":[1,3],\"data\":[1,2,3]}]}"));
        expected.put("wrong-shape", ErrorCode.INVALID_TENSOR);
        bad.put("texts-for-tensor-model", json("{\"id\":\"t\",\"model\":\"gemm\",\"inputs\":[\"hello\"]}"));
        expected.put("texts-for-tensor-model", ErrorCode.INVALID_TENSOR);
        bad.put("other-model", json("{\"id\":\"m\",\"model\":\"sentiment\",\"inputs\":[\"hello\"]}"));
        expected.put("other-model", ErrorCode.INVALID_REQUEST);

        int i = 0;
        for (Map.Entry<String, byte[]> record : bad.entrySet()) {
            client.send(Topics.requestTopic("gemm"), record.getKey(), record.getValue(),
                    KafkaTestClient.replyTo(REPLIES, record.getKey()));
            client.send(Topics.requestTopic("gemm"), "valid-" + i, validRequest("valid-" + i),
                    KafkaTestClient.replyTo(REPLIES, "valid-" + i));
            i++;
        }
        Map<String, String> badDeadline = KafkaTestClient.replyTo(REPLIES, "bad-deadline");
        badDeadline.put(KinferHeaders.DEADLINE, "soon");
        client.send(Topics.requestTopic("gemm"), "bad-deadline", validRequest("bd"), badDeadline);

        await().atMost(Duration.ofSeconds(30)).until(() -> bad.keySet().stream().allMatch(k -> replies.reply(k) != null)
                && replies.reply("bad-deadline") != null);
        for (Map.Entry<String, ErrorCode> e : expected.entrySet()) {
            assertThat(replies.reply(e.getKey()).error()).as(e.getKey()).isNotNull();
            assertThat(replies.reply(e.getKey()).error().code()).as(e.getKey()).isEqualTo(e.getValue());
        }
        assertThat(replies.reply("bad-deadline").error().code()).isEqualTo(ErrorCode.INVALID_REQUEST);
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            for (int v = 0; v < bad.size(); v++) {
                if (replies.reply("valid-" + v) == null) {
                    return false;
                }
            }
            return true;
        });
        for (int v = 0; v < bad.size(); v++) {
            assertThat(replies.reply("valid-" + v).isSuccess()).isTrue();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> deadLetterKeys().containsAll(bad.keySet()));
        ConsumerRecord<byte[], byte[]> dead = deadLetter("random-bytes");
        assertThat(dead.value()).containsExactly(bad.get("random-bytes"));
        assertThat(KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_REASON)).contains("malformed");
        assertThat(KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_OFFSET)).isPresent();
        assertThat(KinferHeaders.string(dead.headers(), KinferHeaders.REPLY_TOPIC)).contains(REPLIES);

        await().atMost(Duration.ofSeconds(30)).until(() -> committedOffset(kafka, "gemm") == endOffset(kafka, "gemm"));
    }

    @Test
    void aReplyThatCannotBeDeliveredIsDeadLettered() {
        client.send(Topics.requestTopic("gemm"), "no-such-topic", validRequest("n"),
                KafkaTestClient.replyTo("topic.that.does.not.exist", "no-such-topic"));
        client.send(Topics.requestTopic("gemm"), "bad-partition", validRequest("p"),
                Map.of(KinferHeaders.REPLY_TOPIC, REPLIES, KinferHeaders.CORRELATION_ID, "bad-partition",
                        KinferHeaders.REPLY_PARTITION, "7"));

        await().atMost(Duration.ofSeconds(30)).until(() -> deadLetterKeys().containsAll(Set.of("no-such-topic",
                "bad-partition")));
        assertThat(KinferHeaders.string(deadLetter("no-such-topic").headers(), KinferHeaders.DLQ_REASON))
                .contains(ReplySender.REPLY_UNDELIVERABLE);
        assertThat(KinferHeaders.string(deadLetter("bad-partition").headers(), KinferHeaders.DLQ_MESSAGE).orElse(""))
                .contains("partition 7");
    }

    @Test
    void aReplyTooLargeForKafkaBecomesAShortErrorReplyAndADeadLetter(EmbeddedKafka kafka) throws Exception {
        byte[] wide = client.codec().encodeRequest(InferenceRequest.ofTensors("wide-id", "wide",
                List.of(Tensor.fp32("x", new long[] {1, 4}, new float[] {1, 2, 3, 4}))));
        client.send(Topics.requestTopic("wide"), "wide", wide, KafkaTestClient.replyTo(REPLIES, "wide"));

        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("wide") != null);
        assertThat(replies.reply("wide").error().code()).isEqualTo(ErrorCode.INTERNAL);
        assertThat(replies.reply("wide").error().message()).contains("max.request.size");
        await().atMost(Duration.ofSeconds(30)).until(() -> deadLetterKeys().contains("wide"));
        assertThat(KinferHeaders.string(deadLetter("wide").headers(), KinferHeaders.DLQ_REASON))
                .contains(ReplySender.REPLY_TOO_LARGE);
        await().atMost(Duration.ofSeconds(30)).until(() -> committedOffset(kafka, "wide") == endOffset(kafka, "wide"));
    }

    @Test
    void theFarthestDeadlineIsNoDeadlineNotAnExpiredOne() {
        Map<String, String> never = KafkaTestClient.replyTo(REPLIES, "never");
        never.put(KinferHeaders.DEADLINE, Long.toString(Long.MAX_VALUE));
        client.send(Topics.requestTopic("gemm"), "never", validRequest("never-id"), never);

        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("never") != null);
        assertThat(replies.reply("never").error()).isNull();
    }

    @Test
    void aRequestWithoutHeadersIsAnsweredOnTheDefaultReplyTopic() {
        KafkaTestClient.Collector defaults = client.collect(Topics.DEFAULT_REPLY_TOPIC);
        client.send(Topics.requestTopic("gemm"), "plain", validRequest("plain-id"), Map.of());

        await().atMost(Duration.ofSeconds(30)).until(() -> defaults.reply("plain-id") != null);
        assertThat(defaults.reply("plain-id").isSuccess()).isTrue();
    }

    private static Set<String> deadLetterKeys() {
        return Set.copyOf(deadLetters.records().stream()
                .map(r -> r.key() == null ? "" : new String(r.key(), StandardCharsets.UTF_8)).toList());
    }

    private static ConsumerRecord<byte[], byte[]> deadLetter(String key) {
        return deadLetters.records().stream()
                .filter(r -> r.key() != null && key.equals(new String(r.key(), StandardCharsets.UTF_8)))
                .findFirst().orElseThrow();
    }

    private static long committedOffset(EmbeddedKafka kafka, String model) throws Exception {
        try (var admin = kafka.admin()) {
            OffsetAndMetadata offset = admin.listConsumerGroupOffsets("kinfer-worker." + model)
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS)
                    .get(new TopicPartition(Topics.requestTopic(model), 0));
            return offset == null ? -1 : offset.offset();
        }
    }

    private static long endOffset(EmbeddedKafka kafka, String model) throws Exception {
        try (var admin = kafka.admin()) {
            TopicPartition partition = new TopicPartition(Topics.requestTopic(model), 0);
            return admin.listOffsets(Map.of(partition, org.apache.kafka.clients.admin.OffsetSpec.latest()))
                    .partitionResult(partition).get(10, TimeUnit.SECONDS).offset();
        }
    }
}
