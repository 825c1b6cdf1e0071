package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.KinferHeaders;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/**
 * A caller's priority reaches Kafka as asked up to gateway.max.priority, and is lowered to it above; an OIP
 * call's parameters.priority has Triton's meaning; numbers too large for a long are capped, not refused.
 */
@WithKafka
class PriorityCapTest {

    @Test
    void prioritiesAboveTheCapAreLoweredToIt(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 1);
             GatewayServer gateway = PipelineTestSupport.gatewayKnowing(kafka, "echo", GatewayConfig.MAX_PRIORITY, 2)) {

            assertThat(post(gateway.url() + "/predict", "{\"text\":\"a\",\"priority\":1}").status()).isEqualTo(200);
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"b\",\"priority\":9}").status()).isEqualTo(200);
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"c\"}", KinferHeaders.PRIORITY, "15").status())
                    .isEqualTo(200);
            // On an OIP call the header keeps kinfer's meaning.
            assertThat(post(gateway.url() + "/v2/models/echo/infer", oip("d", ""), KinferHeaders.PRIORITY, "7")
                    .status()).isEqualTo(200);
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"e\"}").status()).isEqualTo(200);
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"f\"}", KinferHeaders.PRIORITY, "3000000000")
                    .status()).isEqualTo(200);
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"g\",\"priority\":99999999999999999999}")
                    .status()).isEqualTo(200);

            await().atMost(Duration.ofSeconds(30)).until(() -> worker.received.size() == 7);
            List<String> priorities = worker.received.stream().map(PriorityCapTest::priority).toList();
            assertThat(priorities).containsExactly("1", "2", "2", "2", "0", "2", "2");
        }
    }

    @Test
    void oipParametersPriorityFollowsTritonLowerNumberFirst(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "triton", 1);
             GatewayServer gateway = PipelineTestSupport.gatewayKnowing(kafka, "triton", GatewayConfig.MAX_PRIORITY, 3)) {
            String infer = gateway.url() + "/v2/models/triton/infer";
            // Triton: 1 is the highest, 0 the default; kinfer's highest here is gateway.max.priority, 3.
            for (String priority : List.of("1", "2", "3", "4", "0", "18446744073709551616")) {
                assertThat(post(infer, oip(priority, priority)).status()).as(priority).isEqualTo(200);
            }
            assertThat(post(infer, oip("neg", "-1")).status()).isEqualTo(400);
            assertThat(post(infer, oip("frac", "1.5")).status()).isEqualTo(400);

            await().atMost(Duration.ofSeconds(30)).until(() -> worker.received.size() == 6);
            assertThat(worker.received.stream().map(PriorityCapTest::priority).toList())
                    .containsExactly("3", "2", "1", "0", "0", "0");
        }
    }

    @Test
    void timeoutsTooLargeForALongAreCappedNotRefused(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "slow", 1);
             GatewayServer gateway = PipelineTestSupport.gatewayKnowing(kafka, "slow",
                     GatewayConfig.MAX_TIMEOUT_MS, 60_000)) {
            String predict = gateway.url() + "/predict";
            assertThat(post(predict, "{\"text\":\"a\"}", Inference.TIMEOUT_HEADER, "99999999999999999999").status())
                    .isEqualTo(200);
            assertThat(post(predict, "{\"text\":\"b\",\"timeout_ms\":9223372036854775808}").status()).isEqualTo(200);
            assertThat(post(gateway.url() + "/v2/models/slow/infer", """
                    {"parameters": {"timeout_ms": 99999999999999999999},
                     "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["c"]}]}""").status())
                    .isEqualTo(200);
            // Not numbers, or not positive, are still refused.
            assertThat(post(predict, "{\"text\":\"d\"}", Inference.TIMEOUT_HEADER, "-99999999999999999999").status())
                    .isEqualTo(400);
            assertThat(post(predict, "{\"text\":\"d\"}", Inference.TIMEOUT_HEADER, "1e99").status()).isEqualTo(400);
            assertThat(post(predict, "{\"text\":\"d\"}", Inference.TIMEOUT_HEADER, "0").status()).isEqualTo(400);

            await().atMost(Duration.ofSeconds(30)).until(() -> worker.received.size() == 3);
            for (ConsumerRecord<byte[], byte[]> record : worker.received) {
                long deadline = Long.parseLong(KinferHeaders.string(record.headers(), KinferHeaders.DEADLINE)
                        .orElseThrow());
                // The deadline was set before the record was made: at most the cap after its timestamp.
                assertThat(deadline - record.timestamp()).isPositive().isLessThanOrEqualTo(60_000);
            }
        }
    }

    private static String oip(String text, String priority) {
        return "{" + (priority.isEmpty() ? "" : "\"parameters\":{\"priority\":" + priority + "},")
                + "\"inputs\":[{\"name\":\"text\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"" + text
                + "\"]}]}";
    }

    private static String priority(ConsumerRecord<byte[], byte[]> record) {
        return KinferHeaders.string(record.headers(), KinferHeaders.PRIORITY).orElse("0");
    }
}
