package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import io.kinfer.worker.testing.KafkaTestClient;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/**
 * {@code model.instances=2}: two batch threads share one queue and one ONNX Runtime session (the shipped sentiment
 * model) over a real broker. Every request is answered once, correctly, in batches no larger than the maximum.
 * That two batches really run at once is proven without timing in {@code BatcherTest}.
 */
@WithKafka
class ModelInstancesTest {

    private static final List<String> TEXTS = List.of("I love this product", "It broke after a day",
            "Excellent service and very friendly staff", "Absolutely terrible support", "Wonderful, would buy again",
            "The worst purchase I have made in years, it stopped working within a week and nobody answered");

    @Test
    void twoInstancesAnswerEveryRequestAsOneWould(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("instances.replies", 1);
        kafka.createTopic("kinfer.requests.sentiment", 2);
        List<InferenceRequest> requests = new ArrayList<>();
        for (int i = 0; i < 120; i++) {
            requests.add(InferenceRequest.ofTexts("i-" + i, "sentiment", List.of(TEXTS.get(i % TEXTS.size()))));
        }
        try (KafkaTestClient client = new KafkaTestClient(kafka);
             KafkaTestClient.Collector replies = client.collect("instances.replies")) {
            // Written before the worker starts, so its queue holds many batches and both instances take them.
            client.requestAll(requests, "instances.replies", "");
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                    WorkerConfig.MODELS, "sentiment", WorkerConfig.METRICS_PORT, 0, WorkerConfig.TOPICS_PARTITIONS, 2,
                    WorkerConfig.MODEL_INSTANCES, 2, WorkerConfig.BATCH_MAX_SIZE, 4,
                    WorkerConfig.CACHE_ENABLED, false)))) {
                assertThat(batcherThreads("sentiment")).hasSize(2);
                await().atMost(Duration.ofSeconds(120)).until(() -> replies.replyCounts().size() == requests.size());

                Map<String, Classification> expected = new HashMap<>();
                try (LoadedModel direct = ModelRepository.builtInsOnly().load("sentiment", "1",
                        new OnnxSettings(1, false))) {
                    for (String text : TEXTS) {
                        expected.put(text, (Classification) direct.infer(List.of(direct.prepare(
                                InferenceRequest.ofTexts("d", "sentiment", List.of(text))))).get(0).get(0));
                    }
                }
                for (int i = 0; i < requests.size(); i++) {
                    String text = TEXTS.get(i % TEXTS.size());
                    assertThat(replies.replies("i-" + i)).as("replies to i-%d", i).hasSize(1);
                    InferenceReply reply = replies.reply("i-" + i);
                    assertThat(reply.isSuccess()).as("i-%d", i).isTrue();
                    assertThat(reply.timings().batchSize()).isBetween(1, 4);
                    Classification got = (Classification) reply.outputs().get(0);
                    assertThat(got.label()).as(text).isEqualTo(expected.get(text).label());
                    // int8 activations are quantized per batch, so batch-mates move scores slightly.
                    assertThat(got.scores().get("positive")).isCloseTo(expected.get(text).scores().get("positive"),
                            within(0.05f));
                }
                assertThat(worker.metrics().version("sentiment", "1").maxBatch()).isLessThanOrEqualTo(4);
            }
        }
    }

    private static List<String> batcherThreads(String model) {
        return Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                .filter(name -> name.startsWith("kinfer-batcher-" + model + "-")).toList();
    }
}
