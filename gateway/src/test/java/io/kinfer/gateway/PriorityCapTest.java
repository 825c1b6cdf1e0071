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

/** A caller's priority reaches Kafka as asked up to gateway.max.priority, and is lowered to it above. */
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
            assertThat(post(gateway.url() + "/v2/models/echo/infer", """
                    {"parameters": {"priority": 7},
                     "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["d"]}]}""").status())
                    .isEqualTo(200);
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"e\"}").status()).isEqualTo(200);

            await().atMost(Duration.ofSeconds(30)).until(() -> worker.received.size() == 5);
            List<String> priorities = worker.received.stream().map(PriorityCapTest::priority).toList();
            assertThat(priorities).containsExactly("1", "2", "2", "2", "0");
        }
    }

    private static String priority(ConsumerRecord<byte[], byte[]> record) {
        return KinferHeaders.string(record.headers(), KinferHeaders.PRIORITY).orElse("0");
    }
}
