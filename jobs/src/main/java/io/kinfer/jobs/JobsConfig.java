package io.kinfer.jobs;

import static org.apache.kafka.common.config.ConfigDef.Importance.HIGH;
import static org.apache.kafka.common.config.ConfigDef.Importance.LOW;
import static org.apache.kafka.common.config.ConfigDef.Importance.MEDIUM;
import static org.apache.kafka.common.config.ConfigDef.Range.atLeast;
import static org.apache.kafka.common.config.ConfigDef.Range.between;

import java.net.URI;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.Redaction;
import io.kinfer.protocol.ProtocolLimits;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;

/**
 * Settings of the jobs service. It reads the same settings map as the gateway: Kafka client settings pass through
 * under {@code kafka.*} (as for every kinfer part), and Kafka Streams settings under {@code jobs.streams.*}
 * ({@code jobs.streams.num.standby.replicas=1}, {@code jobs.streams.commit.interval.ms=1000}, ...).
 */
public final class JobsConfig extends AbstractConfig {

    public static final String ENABLED = "jobs.enabled";
    public static final String RETENTION_MS = "jobs.retention.ms";
    public static final String EXPIRY_SCAN_INTERVAL_MS = "jobs.expiry.scan.interval.ms";
    public static final String STATE_DIR = "jobs.state.dir";
    public static final String ADVERTISED_URL = "jobs.advertised.url";
    public static final String MAX_ITEMS = "jobs.max.items";
    public static final String APPLICATION_ID = "jobs.application.id";
    public static final String TOPIC_PARTITIONS = "jobs.topic.partitions";
    public static final String REPLICATION_FACTOR = "jobs.topics.replication.factor";
    public static final String FORWARD_TIMEOUT_MS = "jobs.forward.timeout.ms";
    public static final String SUBMIT_TIMEOUT_MS = "jobs.submit.timeout.ms";
    public static final String MAX_TEXT_CHARS = ProtocolLimits.MAX_TEXT_CHARS;
    /**
     * Room a result record leaves under the Streams producer's max.request.size for what Streams adds on its way
     * to the job store (the repartition topic's key and framing, the reply's headers, the changelog's key).
     */
    static final int RESULT_HEADROOM_BYTES = 16 * 1024;
    /** Prefix of Kafka Streams settings passed through unchanged ({@code jobs.streams.<streams key>}). */
    public static final String STREAMS_PREFIX = "jobs.streams.";

    /** Most items a job may hold; item keys in the store are zero-padded to this many digits. */
    static final int MAX_ITEMS_LIMIT = 100_000;

    public static final ConfigDef DEFINITION = new ConfigDef()
            .define(ENABLED, Type.BOOLEAN, true, HIGH, "Serve asynchronous jobs (POST /v1/jobs, GET /v1/jobs/{id}), "
                    + "materialized by Kafka Streams.")
            .define(RETENTION_MS, Type.LONG, 86_400_000L, between(1, 366L * 86_400_000L), HIGH,
                    "How long a job and its results are kept after it is created; then GET answers 404 and the "
                    + "results are deleted from the state store and its changelog.")
            .define(EXPIRY_SCAN_INTERVAL_MS, Type.LONG, 60_000L, between(10, 3_600_000), LOW,
                    "How often (wall-clock) each store partition deletes its expired jobs.")
            .define(STATE_DIR, Type.STRING, "", MEDIUM, "Directory of the local RocksDB state (rebuilt from the "
                    + "changelog when missing); empty: <java.io.tmpdir>/kinfer-jobs/<advertised host>-<port>. Two "
                    + "instances on one host need different directories.")
            .define(ADVERTISED_URL, Type.STRING, "", HIGH, "This instance's base URL as other gateway instances reach "
                    + "it (e.g. http://10.0.0.7:8080): a GET for a job held by another instance is forwarded there. "
                    + "Empty: derived from gateway.host and gateway.port.")
            .define(MAX_ITEMS, Type.INT, 256, between(1, MAX_ITEMS_LIMIT), MEDIUM,
                    "Most texts in one job (413 beyond).")
            .define(APPLICATION_ID, Type.STRING, "kinfer-jobs", MEDIUM, "Kafka Streams application.id, the same on "
                    + "every gateway instance: they share the work and the state.")
            .define(TOPIC_PARTITIONS, Type.INT, 6, between(1, 10_000), LOW,
                    "Partitions of kinfer.jobs and kinfer.jobs.results when this service creates them. The job "
                    + "state takes as many partitions as the larger of the two has at the application's first start "
                    + "and keeps them: the most gateway instances that hold job state.")
            .define(REPLICATION_FACTOR, Type.SHORT, (short) -1, LOW,
                    "Replication factor of the topics this service creates; -1: the broker's default.")
            .define(FORWARD_TIMEOUT_MS, Type.LONG, 5_000L, between(100, 600_000), LOW,
                    "Time to wait for another instance answering a forwarded GET (then 503).")
            .define(SUBMIT_TIMEOUT_MS, Type.LONG, 30_000L, between(100, 600_000), MEDIUM,
                    "How long POST /v1/jobs waits for Kafka to take the job's items (then 503, and no job is created: "
                    + "items already written only fill a placeholder that expires). The job's own record, sent once "
                    + "they are in, is waited for until Kafka answers it.")
            .define(MAX_TEXT_CHARS, Type.INT, ProtocolLimits.DEFAULTS.maxTextChars(), atLeast(1), MEDIUM,
                    "Longest text in characters (413 beyond); the same key the workers read, so one setting raises "
                    + "both.");

    /** Consumer settings of the gateway that must not reach the Streams consumers (Streams owns them). */
    private static final Set<String> STREAMS_OWNED = Set.of("group.id", "group.instance.id", "enable.auto.commit",
            "auto.offset.reset", "isolation.level", "client.id");

    private final URI advertised;

    public JobsConfig(Map<String, ?> settings) {
        super(DEFINITION, settings, false);
        String url = getString(ADVERTISED_URL).trim();
        this.advertised = url.isEmpty() ? null : parseUrl(url);
    }

    /** A copy whose advertised URL is {@code url} unless one is configured: how the gateway fills in its own. */
    public JobsConfig withDefaultAdvertisedUrl(String url) {
        if (advertised != null) {
            return this;
        }
        Map<String, Object> settings = new HashMap<>(originals());
        settings.put(ADVERTISED_URL, url);
        return new JobsConfig(settings);
    }

    public boolean enabled() {
        return getBoolean(ENABLED);
    }

    public long retentionMs() {
        return getLong(RETENTION_MS);
    }

    /**
     * Whether the key is {@code jobs.streams.<a setting of Kafka Streams>}, or of one of its clients under Streams'
     * own prefixes ({@code producer.}, {@code main.consumer.}, ...): a setting whose value a log line may show.
     */
    public static boolean isStreamsSetting(String key) {
        if (!key.startsWith(STREAMS_PREFIX)) {
            return false;
        }
        String name = key.substring(STREAMS_PREFIX.length());
        if (STREAMS_SETTINGS.contains(name)) {
            return true;
        }
        for (String prefix : List.of(StreamsConfig.PRODUCER_PREFIX, StreamsConfig.MAIN_CONSUMER_PREFIX,
                StreamsConfig.RESTORE_CONSUMER_PREFIX, StreamsConfig.GLOBAL_CONSUMER_PREFIX,
                StreamsConfig.CONSUMER_PREFIX, StreamsConfig.ADMIN_CLIENT_PREFIX, StreamsConfig.TOPIC_PREFIX)) {
            if (name.startsWith(prefix)) {
                return Redaction.isKafkaClientSetting(KafkaClientProperties.PREFIX + name.substring(prefix.length()))
                        || prefix.equals(StreamsConfig.TOPIC_PREFIX);
            }
        }
        return Redaction.isKafkaClientSetting(KafkaClientProperties.PREFIX + name);
    }

    private static final Set<String> STREAMS_SETTINGS = StreamsConfig.configDef().names();

    /** Kafka Streams' own settings, without a prefix. */
    public static Set<String> streamsSettings() {
        return STREAMS_SETTINGS;
    }

    public int maxItems() {
        return getInt(MAX_ITEMS);
    }

    /**
     * The largest result the job store takes as it came: the Streams producer's max.request.size (or the internal
     * topics' max.message.bytes, when set and smaller) less {@link #RESULT_HEADROOM_BYTES}. A larger one became a
     * repartition record Kafka refused, which failed the stream thread again after every replacement until the
     * record left the topic (a day, by default).
     */
    public int maxResultBytes() {
        Map<String, Object> props = streamsProperties();
        String key = StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG);
        Object size = props.getOrDefault(key, props.getOrDefault(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 1_048_576));
        // Parsed as Kafka would, so that a bad value is refused naming the setting, not as a bare number error.
        int bytes = (Integer) ConfigDef.parseType(STREAMS_PREFIX + key, size, Type.INT);
        // The internal topics' own limit, when set: a request the producer sends, the broker can still refuse.
        String topicKey = StreamsConfig.topicPrefix(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
        Object topicLimit = props.get(topicKey);
        if (topicLimit != null) {
            bytes = Math.min(bytes, (Integer) ConfigDef.parseType(STREAMS_PREFIX + topicKey, topicLimit, Type.INT));
        }
        return Math.max(1024, bytes - RESULT_HEADROOM_BYTES);
    }

    /** This instance's base URL; an error when none is configured. */
    public URI advertisedUrl() {
        if (advertised == null) {
            throw new ConfigException(ADVERTISED_URL, "", "this instance's URL is needed so other instances can "
                    + "forward job queries to it");
        }
        return advertised;
    }

    /** {@code host:port} for Kafka Streams' {@code application.server}. */
    public String applicationServer() {
        URI url = advertisedUrl();
        return url.getHost() + ":" + port(url);
    }

    public Path stateDir() {
        String dir = getString(STATE_DIR).trim();
        if (!dir.isEmpty()) {
            return Path.of(dir);
        }
        URI url = advertisedUrl();
        String instance = (url.getHost() + "-" + port(url)).replaceAll("[^A-Za-z0-9._-]", "_");
        return Path.of(System.getProperty("java.io.tmpdir"), "kinfer-jobs", instance);
    }

    public Map<String, Object> adminProperties() {
        return KafkaClientProperties.admin(originals());
    }

    public Map<String, Object> producerProperties() {
        return KafkaClientProperties.producer(originals());
    }

    /**
     * Kafka Streams settings: the common {@code kafka.*} client settings, {@code kafka.producer.*},
     * {@code kafka.consumer.*} and {@code kafka.admin.*} under Streams' own prefixes, then ours, then
     * {@code jobs.streams.*} over everything.
     */
    public Map<String, Object> streamsProperties() {
        Map<String, Object> props = new HashMap<>();
        Map<String, ?> originals = originals();
        originals.forEach((key, value) -> {
            if (key.startsWith(KafkaClientProperties.PRODUCER_PREFIX)) {
                props.put(StreamsConfig.producerPrefix(key.substring(KafkaClientProperties.PRODUCER_PREFIX.length())),
                        value);
            } else if (key.startsWith(KafkaClientProperties.CONSUMER_PREFIX)) {
                String name = key.substring(KafkaClientProperties.CONSUMER_PREFIX.length());
                if (!STREAMS_OWNED.contains(name)) {
                    props.put(StreamsConfig.consumerPrefix(name), value);
                }
            } else if (key.startsWith(KafkaClientProperties.ADMIN_PREFIX)) {
                props.put(StreamsConfig.adminClientPrefix(key.substring(KafkaClientProperties.ADMIN_PREFIX.length())),
                        value);
            } else if (key.startsWith(KafkaClientProperties.PREFIX)) {
                String name = key.substring(KafkaClientProperties.PREFIX.length());
                if (!STREAMS_OWNED.contains(name)) {
                    props.put(name, value);
                }
            }
        });
        props.putIfAbsent(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, KafkaClientProperties.BOOTSTRAP_SERVERS_DEFAULT);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, getString(APPLICATION_ID));
        props.put(StreamsConfig.APPLICATION_SERVER_CONFIG, applicationServer());
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir().toString());
        // Streams lingers 100 ms by default; a result should reach its job store without that wait.
        props.putIfAbsent(StreamsConfig.producerPrefix("linger.ms"), 5);
        // Replies of exactly-once workers are written in transactions: only committed ones are results, as the
        // request-reply client reads them (Streams' at-least-once consumer reads uncommitted by default).
        props.putIfAbsent(StreamsConfig.mainConsumerPrefix(ConsumerConfig.ISOLATION_LEVEL_CONFIG), "read_committed");
        // A record Kafka refuses as too large (a changelog write of a result just under the limit) is skipped with
        // a warning: failing the thread on it would meet it again after every replacement.
        props.putIfAbsent(StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG,
                SkipTooLargeHandler.class.getName());
        // Source values are bytes and parsed inside the topology; should a record still fail to deserialize, skip
        // it rather than fail the thread on it forever (the thread is replaced, and meets it again).
        props.putIfAbsent(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG,
                LogAndContinueExceptionHandler.class.getName());
        // There is no global store; this only stops Streams warning about it at every start. Streams' partition
        // assignor builds a second StreamsConfig from the main consumer's settings alone (Kafka 4.4), which warns
        // unless the consumer's settings carry the key too.
        props.putIfAbsent(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG, true);
        props.putIfAbsent(StreamsConfig.mainConsumerPrefix(
                StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG), true);
        short replication = getShort(REPLICATION_FACTOR);
        if (replication > 0) {
            props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, (int) replication);
        }
        originals.forEach((key, value) -> {
            if (key.startsWith(STREAMS_PREFIX)) {
                props.put(key.substring(STREAMS_PREFIX.length()), value);
            }
        });
        return props;
    }

    private static URI parseUrl(String url) {
        URI uri;
        try {
            uri = URI.create(url);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(ADVERTISED_URL, url, "not a URL: " + e.getMessage());
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
            throw new ConfigException(ADVERTISED_URL, url, "must start with http:// or https://");
        }
        if (uri.getHost() == null || uri.getHost().equals("0.0.0.0")) {
            throw new ConfigException(ADVERTISED_URL, url, "needs a host other instances can reach");
        }
        return uri;
    }

    static int port(URI url) {
        if (url.getPort() > 0) {
            return url.getPort();
        }
        return "https".equals(url.getScheme()) ? 443 : 80;
    }
}
