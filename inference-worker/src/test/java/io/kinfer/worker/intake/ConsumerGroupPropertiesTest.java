package io.kinfer.worker.intake;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;

import io.kinfer.worker.WorkerConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;

/** The consumer settings the worker adds must be ones the chosen group protocol accepts. */
class ConsumerGroupPropertiesTest {

    private static Map<String, Object> withBootstrap(Map<String, Object> overrides) {
        Map<String, Object> all = new HashMap<>(overrides);
        all.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:1");
        return all;
    }

    @Test
    void theClassicProtocolGetsShortSessionsAndCooperativeRebalancesUnlessTold() {
        Map<String, Object> props = ConsumerGroupIntake.properties("g", "c", withBootstrap(Map.of(
                ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 20_000)));

        assertThat(props).containsEntry(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 20_000)
                .containsEntry(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 3_000)
                .containsKey(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer()).close();
    }

    @Test
    void theConsumerProtocolGetsNoSettingItRefuses() {
        Map<String, Object> props = ConsumerGroupIntake.properties("g", "c", withBootstrap(Map.of(
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer")));

        assertThat(props).doesNotContainKeys(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG,
                ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
        // Kafka's own validation: a ConfigException here is what stopped such workers from starting.
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer()).close();
    }

    /**
     * A kafka.group.id shared with other Kafka applications' config put every model's consumers in that one group:
     * group.id.prefix was ignored and KEDA watched groups nobody joined. Each model keeps its own group.
     */
    @Test
    void aKafkaGroupIdSettingDoesNotReplaceTheModelsGroup() {
        WorkerConfig config = new WorkerConfig(Map.of("kafka.group.id", "shared-app",
                "kafka.consumer.group.id", "shared-consumers"));

        assertThat(config.ignoredGroupId()).contains("shared-consumers");
        Map<String, Object> consumer = config.consumerProperties("sentiment");
        assertThat(consumer).doesNotContainKey(ConsumerConfig.GROUP_ID_CONFIG);
        assertThat(ConsumerGroupIntake.properties(config.groupId("sentiment"), "c", consumer))
                .containsEntry(ConsumerConfig.GROUP_ID_CONFIG, "kinfer-worker.sentiment");
        assertThat(ShareGroupIntake.properties(config.groupId("minilm"), "c", 8, consumer))
                .containsEntry(ConsumerConfig.GROUP_ID_CONFIG, "kinfer-worker.minilm");
        assertThat(new WorkerConfig(Map.of()).ignoredGroupId()).isEmpty();
    }
}
