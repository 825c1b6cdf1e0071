package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.testing.KafkaTestClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The shipped sentiment model served by a real worker on a real broker, driven through raw Kafka records. */
@WithKafka
class WorkerEndToEndTest {

    private static InferenceWorker worker;
    private static KafkaTestClient client;
    private static KafkaTestClient.Collector replies;
    private static KafkaTestClient.Collector deadLetters;

    @BeforeAll
    static void startWorker(EmbeddedKafka kafka) throws Exception {
        Map<String, Object> settings = new HashMap<>(kafka.clientProperties().entrySet().stream()
                .collect(java.util.stream.Collectors.toMap(e -> "kafka." + e.getKey(), Map.Entry::getValue)));
        settings.put(WorkerConfig.MODELS, "sentiment");
        settings.put(WorkerConfig.METRICS_PORT, "0");
        settings.put(WorkerConfig.TOPICS_PARTITIONS, "3");
        settings.put(WorkerConfig.ONNX_INTRA_OP_THREADS, "1");
        worker = InferenceWorker.start(new WorkerConfig(settings));
        kafka.createTopic("test.replies", 1);
        client = new KafkaTestClient(kafka);
        replies = client.collect("test.replies");
        deadLetters = client.collect(Topics.DEAD_LETTER);
        await().atMost(Duration.ofSeconds(30)).until(worker::ready);
    }

    @AfterAll
    static void stop() {
        client.close();
        worker.close();
    }

    @Test
    void predictsSentimentFromARawKafkaRecord() {
        InferenceRequest request = InferenceRequest.ofTexts("r-1", "sentiment", List.of("I love this product"));
        client.send(Topics.requestTopic("sentiment"), "r-1", client.codec().encodeRequest(request),
                KafkaTestClient.replyTo("test.replies", "corr-1"));

        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("corr-1") != null);

        InferenceReply reply = replies.reply("corr-1");
        assertThat(reply.isSuccess()).isTrue();
        assertThat(reply.id()).isEqualTo("r-1");
        assertThat(reply.version()).isEqualTo("1");
        assertThat(((Classification) reply.outputs().get(0)).label()).isEqualTo("positive");
        assertThat(reply.timings().worker()).isEqualTo(worker.workerId());
        assertThat(reply.timings().batchSize()).isGreaterThanOrEqualTo(1);
    }

    @Test
    void malformedRecordGetsAnErrorReplyAndADeadLetterAndTheWorkerGoesOn() {
        client.send(Topics.requestTopic("sentiment"), "bad-1", "{not json".getBytes(StandardCharsets.UTF_8),
                KafkaTestClient.replyTo("test.replies", "corr-bad"));
        InferenceRequest valid = InferenceRequest.ofTexts("r-2", "sentiment", List.of("Terrible, it broke at once"));
        client.send(Topics.requestTopic("sentiment"), "r-2", client.codec().encodeRequest(valid),
                KafkaTestClient.replyTo("test.replies", "corr-after-bad"));

        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("corr-bad") != null
                && replies.reply("corr-after-bad") != null);

        assertThat(replies.reply("corr-bad").error().code()).isEqualTo(ErrorCode.MALFORMED);
        assertThat(((Classification) replies.reply("corr-after-bad").outputs().get(0)).label()).isEqualTo("negative");
        await().atMost(Duration.ofSeconds(30)).until(() -> deadLetters.records().stream()
                .anyMatch(r -> "{not json".equals(new String(r.value(), StandardCharsets.UTF_8))));
        ConsumerRecord<byte[], byte[]> dead = deadLetters.records().stream()
                .filter(r -> "{not json".equals(new String(r.value(), StandardCharsets.UTF_8))).findFirst().orElseThrow();
        assertThat(KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_REASON)).contains("malformed");
        assertThat(KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_TOPIC)).contains("kinfer.requests.sentiment");
    }

    @Test
    void metricsCountRequestsByOutcome() {
        InferenceRequest request = InferenceRequest.ofTexts("r-3", "sentiment", List.of("Great value"));
        client.send(Topics.requestTopic("sentiment"), "r-3", client.codec().encodeRequest(request),
                KafkaTestClient.replyTo("test.replies", "corr-3"));
        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("corr-3") != null);

        assertThat(worker.scrape())
                .contains("kinfer_requests_total{model=\"sentiment\",outcome=\"success\",version=\"1\"")
                .contains("kinfer_batch_size_bucket")
                .contains("kinfer_queue_time_seconds_bucket");
    }
}
