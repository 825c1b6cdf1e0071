package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import io.kinfer.config.LatencyBuckets;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.TestSettings;
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
        worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka, WorkerConfig.MODELS, "sentiment",
                WorkerConfig.METRICS_PORT, 0, WorkerConfig.TOPICS_PARTITIONS, 3, WorkerConfig.ONNX_INTRA_OP_THREADS, 1)));
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
    void resultsMatchADirectInProcessRunOfTheSameModel() throws Exception {
        List<String> texts = List.of("I love this product", "It broke after a day", "Excellent service and very friendly staff",
                "Absolutely terrible support", "Wonderful, would buy again");
        for (int i = 0; i < texts.size(); i++) {
            InferenceRequest request = InferenceRequest.ofTexts("cmp-" + i, "sentiment", List.of(texts.get(i)));
            client.send(Topics.requestTopic("sentiment"), "cmp-" + i, client.codec().encodeRequest(request),
                    KafkaTestClient.replyTo("test.replies", "cmp-" + i));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> java.util.stream.IntStream.range(0, texts.size())
                .allMatch(i -> replies.reply("cmp-" + i) != null));

        try (LoadedModel direct = ModelRepository.builtInsOnly().load("sentiment", "1", OnnxSettings.DEFAULTS)) {
            for (int i = 0; i < texts.size(); i++) {
                Classification expected = (Classification) direct.infer(List.of(direct.prepare(
                        InferenceRequest.ofTexts("d", "sentiment", List.of(texts.get(i)))))).get(0).get(0);
                Classification viaKafka = (Classification) replies.reply("cmp-" + i).outputs().get(0);
                assertThat(viaKafka.label()).as(texts.get(i)).isEqualTo(expected.label());
                // int8 activations are quantized per batch, so batch-mates move scores slightly.
                assertThat(viaKafka.scores().get("positive")).isCloseTo(expected.scores().get("positive"),
                        org.assertj.core.api.Assertions.within(0.05f));
            }
        }
    }

    @Test
    void metricsCountRequestsByOutcome() {
        InferenceRequest request = InferenceRequest.ofTexts("r-3", "sentiment", List.of("Great value"));
        client.send(Topics.requestTopic("sentiment"), "r-3", client.codec().encodeRequest(request),
                KafkaTestClient.replyTo("test.replies", "corr-3"));
        await().atMost(Duration.ofSeconds(30)).until(() -> replies.reply("corr-3") != null);
        // Counted once Kafka has acknowledged the reply, which the reply's reader may see first.
        await().atMost(Duration.ofSeconds(30)).until(() -> worker.scrape()
                .contains("kinfer_requests_total{model=\"sentiment\",outcome=\"success\",version=\"1\""));

        assertThat(worker.scrape())
                .contains("kinfer_batch_size_bucket")
                .contains("kinfer_queue_time_seconds_bucket")
                .contains("kinfer_batch_call_cost_tokens{model=\"sentiment\",version=\"1\"");
        // The fixed buckets every kinfer latency histogram shares (plus +Inf).
        assertThat(worker.scrape().lines().filter(line -> line.startsWith("kinfer_inference_time_seconds_bucket{")))
                .hasSize(LatencyBuckets.bounds().length + 1);
        // Kafka's own client metrics, of its request consumer and reply producer (a worker cut off from Kafka
        // looked healthy in every signal without them), and the process's start time (restarts show).
        assertThat(worker.scrape().lines()).anyMatch(line -> line.startsWith("kafka_consumer_connection_count{"))
                .anyMatch(line -> line.startsWith("kafka_producer_connection_count{"))
                .anyMatch(line -> line.startsWith("process_start_time_seconds"));
    }
}
