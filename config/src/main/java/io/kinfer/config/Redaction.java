package io.kinfer.config;

import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;

import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;

/** Secrets never reach a log line: values of keys that look secret are replaced before anything is printed. */
public final class Redaction {

    private static final String[] SECRET_MARKERS = {"password", "secret", "jaas", "api.key", "api.keys", "token",
            "credential", "ssl.key", "passphrase", "private.key"};

    /** Every setting Kafka's own clients type as PASSWORD, whatever its name says (new ones come with upgrades). */
    private static final Set<String> KAFKA_PASSWORDS = kafkaPasswords();

    private Redaction() {
    }

    public static boolean isSecret(String key) {
        String lower = key.toLowerCase(Locale.ROOT);
        for (String marker : SECRET_MARKERS) {
            if (lower.contains(marker)) {
                return true;
            }
        }
        // kafka.<key>, kafka.producer.<key> and the like: the Kafka key is what follows any prefix.
        for (int dot = lower.indexOf('.'); dot >= 0; dot = lower.indexOf('.', dot + 1)) {
            if (KAFKA_PASSWORDS.contains(lower.substring(dot + 1))) {
                return true;
            }
        }
        return KAFKA_PASSWORDS.contains(lower);
    }

    /** Every setting of Kafka's producer, consumer and admin client. */
    private static final Set<String> KAFKA_SETTINGS = kafkaSettings();

    private static Set<String> kafkaSettings() {
        Set<String> keys = new HashSet<>();
        for (ConfigDef definition : List.of(ProducerConfig.configDef(), ConsumerConfig.configDef(),
                AdminClientConfig.configDef())) {
            keys.addAll(definition.names());
        }
        return Set.copyOf(keys);
    }

    private static Set<String> kafkaPasswords() {
        Set<String> keys = new HashSet<>();
        for (ConfigDef definition : List.of(ProducerConfig.configDef(), ConsumerConfig.configDef(),
                AdminClientConfig.configDef())) {
            definition.configKeys().forEach((name, key) -> {
                if (key.type() == ConfigDef.Type.PASSWORD) {
                    keys.add(name.toLowerCase(Locale.ROOT));
                }
            });
        }
        return Set.copyOf(keys);
    }

    /** A sorted copy with secret values replaced by {@code [hidden]}. */
    public static Map<String, Object> redact(Map<String, ?> settings) {
        return redact(settings, key -> true);
    }

    /**
     * A sorted copy for a log line: secret values replaced by {@code [hidden]}, and the values of keys that are
     * neither {@code known} nor a Kafka client's setting under a {@code kafka.} prefix replaced by
     * {@code [unknown key]}. A misspelt secret ({@code gateway.api.kyes}, {@code kafka.sasl.jass.config}) matches no
     * marker, and was printed in clear.
     */
    public static Map<String, Object> redact(Map<String, ?> settings, Predicate<String> known) {
        Map<String, Object> copy = new TreeMap<>();
        settings.forEach((key, value) -> copy.put(key, isSecret(key) ? "[hidden]"
                : known.test(key) || isKafkaClientSetting(key) ? value : "[unknown key]"));
        return copy;
    }

    /** Every setting Kafka's producer, consumer and admin client define, without a prefix. */
    public static Set<String> kafkaClientSettings() {
        return KAFKA_SETTINGS;
    }

    /** Whether the key is {@code kafka.[producer.|consumer.|admin.]<a setting of Kafka's clients>}. */
    public static boolean isKafkaClientSetting(String key) {
        for (String prefix : KafkaClientProperties.PREFIXES) {
            if (key.startsWith(prefix)) {
                return KAFKA_SETTINGS.contains(key.substring(prefix.length()));
            }
        }
        return false;
    }
}
