package io.kinfer.config;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Kafka client settings pass through unchanged under prefixes, as Seldon does: {@code kafka.<any client key>}
 * applies to every client kinfer creates, and {@code kafka.producer.}, {@code kafka.consumer.},
 * {@code kafka.admin.} to one kind only (the more specific prefix wins). {@code kafka.bootstrap.servers} is thus
 * the one address everything connects to.
 */
public final class KafkaClientProperties {

    public static final String PREFIX = "kafka.";
    public static final String PRODUCER_PREFIX = "kafka.producer.";
    public static final String CONSUMER_PREFIX = "kafka.consumer.";
    public static final String ADMIN_PREFIX = "kafka.admin.";
    /** Every prefix a Kafka client setting travels under, the most specific first (kafka. itself last). */
    public static final List<String> PREFIXES = List.of(PRODUCER_PREFIX, CONSUMER_PREFIX, ADMIN_PREFIX, PREFIX);
    public static final String BOOTSTRAP_SERVERS = "kafka.bootstrap.servers";
    public static final String BOOTSTRAP_SERVERS_DEFAULT = "127.0.0.1:9092";
    /**
     * The meter tag that tells apart the Kafka client meters (Micrometer's KafkaClientMetrics) of a process's
     * clients: the id kinfer gives each client, since a kafka.client.id passed through is shared by all of them.
     */
    public static final String METER_CLIENT_TAG = "kinfer.client";

    private KafkaClientProperties() {
    }

    public static Map<String, Object> producer(Map<String, ?> originals) {
        return select(originals, PRODUCER_PREFIX);
    }

    public static Map<String, Object> consumer(Map<String, ?> originals) {
        return select(originals, CONSUMER_PREFIX);
    }

    public static Map<String, Object> admin(Map<String, ?> originals) {
        return select(originals, ADMIN_PREFIX);
    }

    private static Map<String, Object> select(Map<String, ?> originals, String specificPrefix) {
        Map<String, Object> common = new HashMap<>();
        Map<String, Object> specific = new HashMap<>();
        originals.forEach((key, value) -> {
            if (key.startsWith(specificPrefix)) {
                specific.put(key.substring(specificPrefix.length()), value);
            } else if (key.startsWith(PREFIX) && !key.startsWith(PRODUCER_PREFIX)
                    && !key.startsWith(CONSUMER_PREFIX) && !key.startsWith(ADMIN_PREFIX)) {
                common.put(key.substring(PREFIX.length()), value);
            }
        });
        common.putIfAbsent("bootstrap.servers", BOOTSTRAP_SERVERS_DEFAULT);
        common.putAll(specific);
        return common;
    }
}
