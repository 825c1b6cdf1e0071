package io.kinfer.kafka.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedKafkaTest {

    @Test
    void producesAndConsumesOnARealBroker() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.startDefault()) {
            assertThat(kafka.bootstrapServers()).matches("127\\.0\\.0\\.1:\\d+").doesNotEndWith(":0");
            kafka.createTopic("round-trip", 3);

            send(kafka, "round-trip", List.of("a", "b", "c"));

            assertThat(readAll(kafka, "round-trip", 3)).containsExactlyInAnyOrder("a", "b", "c");
        }
    }

    @Test
    void restartsOnExistingDataAndKeepsRecords(@TempDir Path dir) throws Exception {
        int port;
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(dir).start()) {
            kafka.createTopic("durable", 1);
            send(kafka, "durable", List.of("before-restart"));
            port = Integer.parseInt(kafka.bootstrapServers().split(":")[1]);
            // What a second broker's --fresh checks before it deletes the directory: this broker's locks.
            assertThatThrownBy(() -> EmbeddedKafka.requireUnused(dir)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("in use by a running broker");
        }
        assertThat(dir).isDirectory(); // a caller-given directory is kept
        EmbeddedKafka.requireUnused(dir); // free once that broker is closed

        try (EmbeddedKafka kafka = EmbeddedKafka.builder().dataDir(dir).port(port).start()) {
            send(kafka, "durable", List.of("after-restart"));
            assertThat(readAll(kafka, "durable", 2)).containsExactly("before-restart", "after-restart");
        }
    }

    @Test
    void stopAndStartBrokerKeepsPortAndData() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.startDefault()) {
            String before = kafka.bootstrapServers();
            kafka.createTopic("outage", 1);
            send(kafka, "outage", List.of("one"));

            kafka.stopBroker(0);
            assertThat(kafka.bootstrapServers()).isEmpty();
            kafka.startBroker(0);

            assertThat(kafka.bootstrapServers()).isEqualTo(before);
            send(kafka, "outage", List.of("two"));
            assertThat(readAll(kafka, "outage", 2)).containsExactly("one", "two");
        }
    }

    @Test
    void temporaryDataIsDeletedOnClose() {
        Path data;
        try (EmbeddedKafka kafka = EmbeddedKafka.startDefault()) {
            data = kafka.dataDir();
            assertThat(data).isDirectory();
        }
        assertThat(Files.exists(data)).isFalse();
    }

    @Test
    void threeBrokerClusterReplicatesAndSurvivesOneBrokerLoss() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().brokers(3).start()) {
            assertThat(kafka.bootstrapServers().split(",")).hasSize(3);
            kafka.createTopic("replicated", 2, (short) 3, Map.of("min.insync.replicas", "2"));
            try (var admin = kafka.admin()) {
                var description = admin.describeTopics(List.of("replicated")).allTopicNames().get(30, TimeUnit.SECONDS);
                assertThat(description.get("replicated").partitions())
                        .allSatisfy(p -> assertThat(p.replicas()).hasSize(3));
            }

            kafka.stopBroker(1);
            send(kafka, "replicated", List.of("x", "y"));

            assertThat(readAll(kafka, "replicated", 2)).containsExactlyInAnyOrder("x", "y");
        }
    }

    static void send(EmbeddedKafka kafka, String topic, List<String> values) throws Exception {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
        try (KafkaProducer<String, String> producer =
                     new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
            for (String value : values) {
                RecordMetadata ignored = producer.send(new ProducerRecord<>(topic, value)).get(30, TimeUnit.SECONDS);
            }
        }
    }

    static List<String> readAll(EmbeddedKafka kafka, String topic, int expected) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "reader-" + topic + "-" + System.nanoTime());
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer =
                     new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (values.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                    values.add(record.value());
                }
            }
        }
        return values;
    }
}
