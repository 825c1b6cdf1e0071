package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.TestSettings;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * A seeded corpus of several hundred hostile records written straight to the request topic, interleaved with valid
 * requests: every hostile record ends in a dead letter (and an error reply where it has a usable address), every
 * valid request succeeds, the worker stays up, and the committed offsets reach the end of the topic.
 */
@WithKafka
class HostileInputTest {

    private static final String REPLIES = "hostile.replies";
    private static final String VALID = "{\"id\":\"%s\",\"model\":\"sentiment\",\"inputs\":[\"Great value for money\"]}";

    private record Bad(String kind, byte[] value, Map<String, String> headers) {
    }

    @Test
    void everyHostileRecordIsDeadLetteredAndEveryValidOneSucceeds(EmbeddedKafka kafka) throws Exception {
        List<Bad> corpus = corpus(new Random(20261128));
        assertThat(corpus).hasSizeGreaterThanOrEqualTo(200);
        kafka.createTopic(REPLIES, 1);
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                     WorkerConfig.MODELS, "sentiment", WorkerConfig.METRICS_PORT, -1, WorkerConfig.TOPICS_PARTITIONS, 2,
                     WorkerConfig.ONNX_INTRA_OP_THREADS, 1)))) {
            KafkaTestClient.Collector replies = client.collect(REPLIES);
            KafkaTestClient.Collector deadLetters = client.collect(Topics.DEAD_LETTER);
            int valid = 0;
            for (int i = 0; i < corpus.size(); i++) {
                Bad bad = corpus.get(i);
                client.send(Topics.requestTopic("sentiment"), "bad-" + i, bad.value(), bad.headers());
                if (i % 2 == 0) {
                    String id = "valid-" + valid++;
                    client.send(Topics.requestTopic("sentiment"), id, String.format(VALID, id)
                            .getBytes(StandardCharsets.UTF_8), KafkaTestClient.replyTo(REPLIES, id));
                }
            }
            int validCount = valid;

            await().atMost(Duration.ofSeconds(120)).until(() -> deadLetterKeys(deadLetters).size() >= corpus.size());
            Set<String> dead = deadLetterKeys(deadLetters);
            List<String> missing = new ArrayList<>();
            for (int i = 0; i < corpus.size(); i++) {
                if (!dead.contains("bad-" + i)) {
                    missing.add(i + ":" + corpus.get(i).kind());
                }
            }
            assertThat(missing).as("hostile records without a dead letter").isEmpty();

            await().atMost(Duration.ofSeconds(60)).until(() -> java.util.stream.IntStream.range(0, validCount)
                    .allMatch(v -> replies.reply("valid-" + v) != null));
            for (int v = 0; v < validCount; v++) {
                InferenceReply reply = replies.reply("valid-" + v);
                assertThat(reply.isSuccess()).as("valid-%d", v).isTrue();
            }
            // Hostile records with a usable reply address also got an error reply.
            long errorReplies = replies.replyCounts().keySet().stream().filter(id -> id.startsWith("bad-")).count();
            assertThat(errorReplies).isGreaterThan(corpus.size() / 3);
            assertThat(replies.replyCounts().keySet().stream().filter(id -> id.startsWith("bad-"))
                    .map(replies::reply)).allMatch(r -> !r.isSuccess());

            assertThat(worker.ready()).isTrue();
            await().atMost(Duration.ofSeconds(30)).until(() -> committedReachesEnd(kafka));
            Map<String, Long> reasons = deadLetters.records().stream().collect(Collectors.groupingBy(
                    r -> KinferHeaders.string(r.headers(), KinferHeaders.DLQ_REASON).orElse("?"), Collectors.counting()));
            assertThat(reasons).containsKeys("malformed", "invalid_request", "input_too_large", "reply_undeliverable");
        }
    }

    private static Set<String> deadLetterKeys(KafkaTestClient.Collector deadLetters) {
        return deadLetters.records().stream().filter(r -> r.key() != null)
                .map(r -> new String(r.key(), StandardCharsets.UTF_8)).collect(Collectors.toSet());
    }

    private static boolean committedReachesEnd(EmbeddedKafka kafka) throws Exception {
        try (var admin = kafka.admin()) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets("kinfer-worker.sentiment")
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < 2; p++) {
                latest.put(new TopicPartition(Topics.requestTopic("sentiment"), p), OffsetSpec.latest());
            }
            var ends = admin.listOffsets(latest).all().get(10, TimeUnit.SECONDS);
            return ends.entrySet().stream().allMatch(e -> committed.get(e.getKey()) != null
                    && committed.get(e.getKey()).offset() == e.getValue().offset());
        }
    }

    /** Seeded, so a failure names a record that can be produced again. */
    private static List<Bad> corpus(Random random) {
        List<Bad> bad = new ArrayList<>();
        String valid = String.format(VALID, "x");
        for (int i = 0; i < 25; i++) {
            byte[] bytes = new byte[random.nextInt(300)];
            random.nextBytes(bytes);
            bad.add(new Bad("random-bytes", bytes, replyTo(bad.size())));
        }
        for (int i = 0; i < 25; i++) {
            bad.add(new Bad("truncated-json", utf8(valid.substring(0, 1 + random.nextInt(valid.length() - 2))),
                    replyTo(bad.size())));
        }
        String[] wrongTypes = {
            "{\"id\":1,\"model\":\"sentiment\",\"inputs\":[\"a\"]}",
            "{\"id\":\"a\",\"model\":[\"sentiment\"],\"inputs\":[\"a\"]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":{\"text\":\"a\"}}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[1,2,3]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[\"a\",null]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[true]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"version\":{},\"inputs\":[\"a\"]}",
            "{\"id\":null,\"model\":\"sentiment\",\"inputs\":[\"a\"]}",
            "[\"a\",\"b\"]", "42", "\"just a string\"", "null", "{}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1,2],\"data\":[1,2]}]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[\"   \"]}",
            "{\"id\":\"\",\"model\":\"sentiment\",\"inputs\":[\"a\"]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[\"a\"]}garbage",
            "{\"id\":\"a\",\"id\":\"b\",\"model\":\"sentiment\",\"inputs\":[\"a\"]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[\"a\"],\"inputs\":[\"b\"]}",
            "{\"id\":\"a\",\"model\":\"sentiment\",\"inputs\":[\"a\"" + ",\"b\"".repeat(300) + "]}"};
        for (int i = 0; i < wrongTypes.length; i++) {
            bad.add(new Bad("wrong-types", utf8(wrongTypes[i]), replyTo(bad.size())));
        }
        for (int i = 0; i < 12; i++) {
            int size = 10_001 + random.nextInt(300_000);
            bad.add(new Bad("huge-text", utf8("{\"id\":\"h\",\"model\":\"sentiment\",\"inputs\":[\"" + "w".repeat(size)
                    + "\"]}"), replyTo(bad.size())));
        }
        bad.add(new Bad("huge-id", utf8("{\"id\":\"" + "i".repeat(5000) + "\",\"model\":\"sentiment\",\"inputs\":[\"a\"]}"),
                replyTo(bad.size())));
        for (int i = 0; i < 15; i++) {
            int depth = 33 + random.nextInt(500);
            bad.add(new Bad("deep-nesting", utf8("{\"id\":\"d\",\"model\":\"sentiment\",\"inputs\":[\"a\"],\"x\":"
                    + "[".repeat(depth) + "]".repeat(depth) + "}"), replyTo(bad.size())));
        }
        for (int i = 0; i < 20; i++) {
            byte[] bytes = utf8(String.format(VALID, "u"));
            int at = bytes.length - 6 - random.nextInt(10);
            bytes[at] = (byte) (0xC0 | random.nextInt(0x20));
            bytes[at + 1] = (byte) random.nextInt(0x40);
            bad.add(new Bad("bad-utf8", bytes, replyTo(bad.size())));
        }
        for (int i = 0; i < 20; i++) {
            byte[] value = random.nextBoolean() ? utf8("{\"id\":\"m\",\"model\":\"sentiment\"}") : new byte[0];
            bad.add(new Bad("missing-fields-no-headers", value, Map.of()));
        }
        String[] bogusTopics = {"has space", "slash/topic", "..", "x".repeat(300), "ünïcode", "no.such.topic.1",
            "no.such.topic.2", "", "tab\ttopic", "no-such-topic-3"};
        for (int i = 0; i < bogusTopics.length * 2; i++) {
            Map<String, String> headers = new LinkedHashMap<>();
            headers.put(KinferHeaders.REPLY_TOPIC, bogusTopics[i % bogusTopics.length]);
            headers.put(KinferHeaders.CORRELATION_ID, "bogus-" + i);
            bad.add(new Bad("bogus-reply-topic", utf8(String.format(VALID, "b" + i)), headers));
        }
        String[] models = {"nope", "minilm", "sentiment2", "../etc", "", "SENTIMENT", "a b"};
        for (int i = 0; i < models.length * 2; i++) {
            bad.add(new Bad("unknown-model", utf8("{\"id\":\"m\",\"model\":\"" + models[i % models.length]
                    + "\",\"inputs\":[\"a\"]}"), replyTo(bad.size())));
        }
        String[][] badHeaders = {{KinferHeaders.DEADLINE, "tomorrow"}, {KinferHeaders.DEADLINE, "-5"},
            {KinferHeaders.REPLY_PARTITION, "-1"}, {KinferHeaders.REPLY_PARTITION, "x"},
            {KinferHeaders.PRIORITY, "high"}, {KinferHeaders.CORRELATION_ID, "c".repeat(300)}};
        for (int i = 0; i < badHeaders.length * 3; i++) {
            Map<String, String> headers = new LinkedHashMap<>(replyTo(bad.size()));
            headers.put(badHeaders[i % badHeaders.length][0], badHeaders[i % badHeaders.length][1]);
            bad.add(new Bad("bad-header", utf8(String.format(VALID, "hd" + i)), headers));
        }
        for (int i = 0; i < 15; i++) {
            StringBuilder s = new StringBuilder(valid);
            for (int m = 0; m < 1 + random.nextInt(4); m++) {
                int at = random.nextInt(s.length());
                s.setCharAt(at, "{}[]\",:\\".charAt(random.nextInt(8)));
            }
            byte[] mutated = utf8(s.toString());
            if (!decodes(mutated)) { // a mutation inside the text can leave a valid request: not hostile
                bad.add(new Bad("mutated-json", mutated, replyTo(bad.size())));
            }
        }
        return bad;
    }

    private static boolean decodes(byte[] value) {
        try {
            new JsonCodec().decodeRequest(value);
            return true;
        } catch (ProtocolException e) {
            return false;
        }
    }

    private static Map<String, String> replyTo(int i) {
        return KafkaTestClient.replyTo(REPLIES, "bad-" + i + "-" + Integer.toHexString(i * 7919));
    }

    private static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }
}
