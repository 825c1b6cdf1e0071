package io.kinfer.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Optional;

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

    /** A file saved with a byte-order mark (Windows editors, PowerShell): the first key must not carry it. */
    @Test
    void aByteOrderMarkIsNotPartOfTheFirstKey(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("bom.properties");
        Files.writeString(file, "\uFEFFgateway.port=9999\nbatch.max.size=4\n");

        assertThat(ConfigLoader.load(file, Map.of(), Map.of())).containsOnly(Map.entry("gateway.port", "9999"),
                Map.entry("batch.max.size", "4"));
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
    void theScriptsOwnVariablesAreNotSettings() {
        Map<String, String> env = Map.of("KINFER_JAR", "/tmp/old/kinfer.jar", "KINFER_REPEAT", "1", "KINFER_OIP", "1",
                "KINFER_TEXTS", "texts.txt", "KINFER_MODEL", "sentiment", "KINFER_UNIQUE_TEXTS", "0",
                "KINFER_HOME", "/tmp/home", "KINFER_GATEWAY_PORT", "9999");

        assertThat(ConfigLoader.load(null, env, Map.of())).containsExactly(Map.entry("gateway.port", "9999"));
    }

    @Test
    void anEmptyBootstrapServersVariableCountsAsUnset(@TempDir Path dir) throws Exception {
        // What compose's KINFER_KAFKA_BOOTSTRAP_SERVERS=${KAFKA:-} gives when KAFKA is not set: no address at all,
        // which no client can connect to; the file's address (or the default) applies instead.
        Path file = dir.resolve("kinfer.properties");
        Files.writeString(file, "kafka.bootstrap.servers=kafka:9092\n");
        Map<String, String> env = Map.of("KINFER_KAFKA_BOOTSTRAP_SERVERS", "",
                "KINFER_KAFKA_CONSUMER_BOOTSTRAP_SERVERS", " ");

        assertThat(ConfigLoader.load(null, env, Map.of())).isEmpty();
        assertThat(ConfigLoader.load(file, env, Map.of())).containsExactly(Map.entry("kafka.bootstrap.servers",
                "kafka:9092"));
    }

    @Test
    void everyValueRemembersWhereItCameFrom(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("kinfer.properties");
        Files.writeString(file, "batch.max.size=4\nworker.id=from-file\ngateway.port=1\n");
        Map<String, String> env = Map.of("KINFER_BATCH_MAX_SIZE", "0");

        ConfigLoader.Loaded loaded = ConfigLoader.loadTracked(file, env,
                Map.of("gateway.port", "2", "worker.models", "m"), Map.of("gateway.port", "--set gateway.port"));

        assertThat(loaded.settings()).containsEntry("batch.max.size", "0").containsEntry("gateway.port", "2");
        assertThat(loaded.sourceOf("batch.max.size")).contains("environment variable KINFER_BATCH_MAX_SIZE");
        assertThat(loaded.sourceOf("worker.id")).contains("config file " + file);
        assertThat(loaded.sourceOf("gateway.port")).contains("--set gateway.port");
        assertThat(loaded.sourceOf("worker.models")).contains("a command-line option");
        assertThat(loaded.sourceOf("batch.max.delay.ms")).isEmpty();
    }

    @Test
    void aMissingConfigFileIsNamedWithWhatNamedIt(@TempDir Path dir) {
        Path missing = dir.resolve("nope.properties");

        assertThatThrownBy(() -> ConfigLoader.load(missing, Map.of(), Map.of()))
                .isInstanceOf(UncheckedIOException.class)
                .hasMessage("cannot read config file " + missing + " (--config): no such file");
        assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("KINFER_CONFIG_FILE", missing.toString()), Map.of()))
                .hasMessage("cannot read config file " + missing + " (KINFER_CONFIG_FILE): no such file");
    }

    @Test
    void aSettingTravelsAsAnEnvironmentVariableOnlyWhereItMapsBackExactly() {
        assertThat(ConfigLoader.environmentVariable("gateway.api.keys", "k1")).contains("KINFER_GATEWAY_API_KEYS");
        assertThat(ConfigLoader.environmentVariable("kafka.ssl.endpoint.identification.algorithm", ""))
                .contains("KINFER_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM");
        // Blank would read as unset; underscores, hyphens and upper case do not map back; reserved names are not settings.
        assertThat(ConfigLoader.environmentVariable("worker.id", "")).isEmpty();
        assertThat(ConfigLoader.environmentVariable("jobs.streams.some_key", "1")).isEmpty();
        assertThat(ConfigLoader.environmentVariable("kafka.x-y", "1")).isEmpty();
        assertThat(ConfigLoader.environmentVariable("kafka.Upper", "1")).isEmpty();
        assertThat(ConfigLoader.environmentVariable("log.level", "DEBUG")).isEqualTo(Optional.empty());
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

    /** A misspelt secret matches no marker: a key the part does not know is logged by name only. */
    @Test
    void valuesOfUnknownKeysAreLeftOutOfTheLogLine() {
        Map<String, Object> redacted = Redaction.redact(Map.of(
                "gateway.api.kyes", "sekrit",
                "kafka.sasl.jass.config", "PlainLoginModule required password=\"x\";",
                "kafka.producer.linger.ms", "5",
                "batch.max.size", 8), "batch.max.size"::equals);

        assertThat(redacted).containsEntry("gateway.api.kyes", "[unknown key]")
                .containsEntry("kafka.sasl.jass.config", "[unknown key]")
                .containsEntry("kafka.producer.linger.ms", "5")
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
