package io.kinfer.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.apache.kafka.common.config.ConfigDef;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    @Test
    void flagsOverrideEnvironmentWhichOverridesTheFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("kinfer.properties");
        Files.writeString(file, "batch.max.size=4\nbatch.max.delay.ms=7\nworker.id=from-file\n");
        Map<String, String> env = Map.of("KINFER_BATCH_MAX_DELAY_MS", "9", "KINFER_WORKER_ID", "from-env",
                "PATH", "/usr/bin");

        Map<String, String> merged = ConfigLoader.load(file, env, Map.of("worker.id", "from-flag"));

        assertThat(merged).containsEntry("batch.max.size", "4")
                .containsEntry("batch.max.delay.ms", "9")
                .containsEntry("worker.id", "from-flag")
                .doesNotContainKey("path");
    }

    @Test
    void configFileCanBeNamedByTheEnvironment(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("other.properties");
        Files.writeString(file, "gateway.port=9999\n");

        Map<String, String> merged = ConfigLoader.load(null, Map.of("KINFER_CONFIG_FILE", file.toString()), Map.of());

        assertThat(merged).containsExactly(Map.entry("gateway.port", "9999"));
    }

    @Test
    void emptyEnvironmentValuesCountAsUnset(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("kinfer.properties");
        Files.writeString(file, "metrics.port=9500\n");
        Map<String, String> env = Map.of("KINFER_CONFIG_FILE", "", "KINFER_METRICS_PORT", "", "KINFER_WORKER_ID", " ",
                "KINFER_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "");

        // Kafka's own settings keep an empty value: it means something there (no host-name verification).
        assertThat(ConfigLoader.load(null, env, Map.of()))
                .containsExactly(Map.entry("kafka.ssl.endpoint.identification.algorithm", ""));
        assertThat(ConfigLoader.load(file, env, Map.of())).containsOnly(Map.entry("metrics.port", "9500"),
                Map.entry("kafka.ssl.endpoint.identification.algorithm", ""));
    }

    @Test
    void environmentNamesMapExactlyToKafkaKeys() {
        assertThat(ConfigLoader.envToKey("KINFER_KAFKA_CONSUMER_MAX_POLL_RECORDS"))
                .isEqualTo("kafka.consumer.max.poll.records");
        assertThat(ConfigLoader.keyToEnv("kafka.consumer.max.poll.records"))
                .isEqualTo("KINFER_KAFKA_CONSUMER_MAX_POLL_RECORDS");
    }

    @Test
    void kafkaPropertiesPassThroughWithTheSpecificPrefixWinning() {
        Map<String, String> settings = Map.of(
                "kafka.bootstrap.servers", "b:9092",
                "kafka.client.id", "common",
                "kafka.producer.client.id", "producer-only",
                "kafka.consumer.max.poll.records", "50",
                "batch.max.size", "8");

        assertThat(KafkaClientProperties.producer(settings))
                .containsOnly(Map.entry("bootstrap.servers", "b:9092"), Map.entry("client.id", "producer-only"));
        assertThat(KafkaClientProperties.consumer(settings)).containsOnly(Map.entry("bootstrap.servers", "b:9092"),
                Map.entry("client.id", "common"), Map.entry("max.poll.records", "50"));
        assertThat(KafkaClientProperties.admin(Map.of())).containsOnly(Map.entry("bootstrap.servers", "127.0.0.1:9092"));
    }

    @Test
    void secretsAreRedacted() {
        Map<String, Object> redacted = Redaction.redact(Map.of(
                "kafka.sasl.jaas.config", "PlainLoginModule required password=\"x\";",
                "gateway.api.keys", "k1,k2",
                "kafka.sasl.oauthbearer.assertion.private.key.passphrase", "p",
                // A PASSWORD-typed Kafka setting whose name says nothing secret.
                "kafka.consumer.ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----",
                "batch.max.size", 8));

        assertThat(redacted).containsEntry("kafka.sasl.jaas.config", "[hidden]")
                .containsEntry("gateway.api.keys", "[hidden]")
                .containsEntry("kafka.sasl.oauthbearer.assertion.private.key.passphrase", "[hidden]")
                .containsEntry("kafka.consumer.ssl.truststore.certificates", "[hidden]")
                .containsEntry("batch.max.size", 8);
    }

    @Test
    void docsTableListsEveryKeyWithItsDefaultAndEnvironmentName() {
        ConfigDef def = new ConfigDef()
                .define("batch.max.size", ConfigDef.Type.INT, 32, ConfigDef.Range.between(1, 1024),
                        ConfigDef.Importance.HIGH, "Largest batch.")
                .define("worker.id", ConfigDef.Type.STRING, ConfigDef.Importance.LOW, "Id | name.");

        String table = ConfigDocs.markdownTable(def);

        assertThat(table).contains("| `batch.max.size` | `KINFER_BATCH_MAX_SIZE` | int | `32` | [1,...,1024] | Largest batch. |")
                .contains("| `worker.id` | `KINFER_WORKER_ID` | string | (required) |  | Id \\| name. |");
    }
}
