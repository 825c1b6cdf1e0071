package io.kinfer.client;

import static org.apache.kafka.common.config.ConfigDef.Importance.HIGH;
import static org.apache.kafka.common.config.ConfigDef.Importance.LOW;
import static org.apache.kafka.common.config.ConfigDef.Importance.MEDIUM;
import static org.apache.kafka.common.config.ConfigDef.Range.atLeast;
import static org.apache.kafka.common.config.ConfigDef.Range.between;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.Redaction;
import io.kinfer.protocol.Topics;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Settings of an {@link InferenceClient}; Kafka client settings pass through under {@code kafka.*}. */
public final class ClientConfig extends AbstractConfig {

    public static final String CLIENT_ID = "client.id";
    public static final String REPLY_TOPIC = "reply.topic";
    public static final String REPLY_PARTITION = "reply.partition";
    public static final String REPLY_TOPIC_PARTITIONS = "reply.topic.partitions";
    public static final String REPLY_TOPIC_DELETE_ON_CLOSE = "reply.topic.delete.on.close";
    public static final String REQUEST_TIMEOUT_MS = "request.timeout.ms";
    public static final String MAX_IN_FLIGHT = "max.in.flight.requests";
    public static final String CLUSTER_CHECK_INTERVAL_MS = "cluster.check.interval.ms";
    public static final String REPLICATION_FACTOR = "topics.replication.factor";

    public static final ConfigDef DEFINITION = new ConfigDef()
            .define(KafkaClientProperties.BOOTSTRAP_SERVERS, Type.STRING, KafkaClientProperties.BOOTSTRAP_SERVERS_DEFAULT,
                    HIGH, "Kafka brokers to connect to (any Kafka client setting passes through as kafka.<key>).")
            .define(CLIENT_ID, Type.STRING, "", MEDIUM, "This client instance's id: it names the reply topic and the "
                    + "Kafka clients; empty: host-pid. Keep it stable (e.g. the pod name) to reuse the reply topic.")
            .define(REPLY_TOPIC, Type.STRING, "", HIGH, "Where this instance's replies come: empty (default) creates "
                    + "its own topic kinfer.replies.<client.id>; set a shared topic only with reply.partition.")
            .define(REPLY_PARTITION, Type.INT, -1, atLeast(-1), MEDIUM, "With a shared reply.topic: the one partition "
                    + "this instance owns (every instance a different one); -1 with an own topic.")
            .define(REPLY_TOPIC_PARTITIONS, Type.INT, 1, between(1, 1000), LOW,
                    "Partitions of the reply topic this instance creates.")
            .define(REPLY_TOPIC_DELETE_ON_CLOSE, Type.BOOLEAN, true, LOW,
                    "Delete the reply topic this instance created when it closes cleanly.")
            .define(REQUEST_TIMEOUT_MS, Type.LONG, 30_000L, between(1, 3_600_000), HIGH,
                    "Default time a caller waits for a reply; it becomes the request's deadline for the workers. The "
                    + "gateway passes its own per call (gateway.timeout.ms), so this is for kinfer produce and the "
                    + "Java client.")
            .define(MAX_IN_FLIGHT, Type.INT, 10_000, between(1, 10_000_000), MEDIUM,
                    "Requests awaiting replies at once; beyond it calls fail fast with an overload error.")
            .define(CLUSTER_CHECK_INTERVAL_MS, Type.LONG, 2_000L, between(100, 600_000), LOW,
                    "How often Kafka's reachability is checked; while unreachable, calls fail fast.")
            .define(REPLICATION_FACTOR, Type.SHORT, (short) -1, LOW,
                    "Replication factor of the reply topic this instance creates; -1: the broker's default.");

    /**
     * The longest client.id: it names the own reply topic {@code kinfer.replies.<client.id>} (a topic name has at
     * most 249 characters) and starts every correlation id, {@code <client.id>-<6 characters>-<up to 13>} (at
     * most 256 characters, or the workers refuse the request under an id the client cannot match).
     */
    public static final int MAX_CLIENT_ID_CHARS = 249 - (Topics.DEFAULT_REPLY_TOPIC + ".").length();

    /** Instances created in this JVM so far: the second one on a host gets a distinct default id. */
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    private static final Logger log = LoggerFactory.getLogger(ClientConfig.class);

    private final String defaultId;

    public ClientConfig(Map<String, ?> settings) {
        super(DEFINITION, settings, false);
        this.defaultId = getString(CLIENT_ID).isBlank() ? generatedId(INSTANCES.incrementAndGet()) : null;
        String id = getString(CLIENT_ID);
        if (!id.isBlank() && (id.length() > MAX_CLIENT_ID_CHARS || !Topics.isValidTopicName(id))) {
            // Refused here, with the reason: a space made create() fail as "Kafka unavailable", and a long id made
            // every request be refused by the workers under a correlation id the client could not match.
            throw new ConfigException(CLIENT_ID, id, "must be 1 to " + MAX_CLIENT_ID_CHARS + " characters of "
                    + "A-Z a-z 0-9 . _ - (it names the reply topic kinfer.replies.<client.id> and starts every "
                    + "correlation id)");
        }
        // A Kafka setting without its kafka. prefix (Map.of("bootstrap.servers", ...) from a Kafka habit) is not
        // passed on: the client then tried 127.0.0.1:9092 and failed a minute later without naming the cause.
        settings.keySet().stream().filter(key -> Redaction.kafkaClientSettings().contains(key)
                && !DEFINITION.names().contains(key)).sorted().forEach(key -> log.warn("{} is a setting of Kafka's "
                        + "clients, not of kinfer's: it is ignored; pass it as {}{}", key, KafkaClientProperties.PREFIX,
                        key));
        if (!getString(REPLY_TOPIC).isBlank() && getInt(REPLY_PARTITION) < 0) {
            throw new ConfigException(REPLY_PARTITION, -1, "a shared reply.topic needs reply.partition: each instance "
                    + "must own its partition, or instances would read each other's replies");
        }
        if (!getString(REPLY_TOPIC).isBlank() && !Topics.isValidReplyTopic(getString(REPLY_TOPIC))) {
            throw new ConfigException(REPLY_TOPIC, getString(REPLY_TOPIC), "not a valid topic name, or a request topic ("
                    + Topics.REQUEST_PREFIX + "*), where the workers would read the replies as requests");
        }
    }

    public String clientId() {
        String id = getString(CLIENT_ID);
        return id.isBlank() ? defaultId : id;
    }

    /**
     * host-pid (stable for a pod whose process is pid 1, so a restart reuses its reply topic), with a suffix for
     * every further client in the same JVM so two never share a reply topic.
     */
    private static String generatedId(int instance) {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            host = "client";
        }
        String suffix = "-" + ManagementFactory.getRuntimeMXBean().getPid() + (instance > 1 ? "-" + instance : "");
        // A host name may have up to 253 characters: shortened so the id stays within MAX_CLIENT_ID_CHARS.
        host = host.substring(0, Math.min(host.length(), MAX_CLIENT_ID_CHARS - suffix.length()));
        return (host + suffix).replaceAll("[^A-Za-z0-9._-]", "-");
    }

    /** The reply topic: the configured shared one, or this instance's own. */
    public String replyTopic() {
        String topic = getString(REPLY_TOPIC);
        return topic.isBlank() ? Topics.DEFAULT_REPLY_TOPIC + "." + clientId() : topic;
    }

    public boolean ownReplyTopic() {
        return getString(REPLY_TOPIC).isBlank();
    }

    public Map<String, Object> producerProperties() {
        return KafkaClientProperties.producer(originals());
    }

    public Map<String, Object> consumerProperties() {
        return KafkaClientProperties.consumer(originals());
    }

    public Map<String, Object> adminProperties() {
        return KafkaClientProperties.admin(originals());
    }
}
