package io.kinfer.kafka.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

@WithKafka(brokerProperties = "num.partitions=7")
class KafkaExtensionTest {

    static EmbeddedKafka shared;

    @BeforeAll
    static void capture(EmbeddedKafka kafka) {
        shared = kafka;
    }

    @Test
    void injectsARunningBrokerWithTheGivenProperties(EmbeddedKafka kafka) throws Exception {
        assertThat(kafka).isSameAs(shared);
        try (var admin = kafka.admin()) {
            var config = admin.describeConfigs(List.of(new org.apache.kafka.common.config.ConfigResource(
                            org.apache.kafka.common.config.ConfigResource.Type.BROKER, "1")))
                    .all().get(30, TimeUnit.SECONDS).values().iterator().next();
            assertThat(config.get("num.partitions").value()).isEqualTo("7");
        }
    }

    @Test
    void oneClusterServesEveryTestOfTheClass(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("shared-topic", 1);
        EmbeddedKafkaTest.send(kafka, "shared-topic", List.of("v"));
        assertThat(EmbeddedKafkaTest.readAll(kafka, "shared-topic", 1)).containsExactly("v");
    }
}
