package io.kinfer.config;

import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

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
        Map<String, Object> copy = new TreeMap<>();
        settings.forEach((key, value) -> copy.put(key, isSecret(key) ? "[hidden]" : value));
        return copy;
    }
}
