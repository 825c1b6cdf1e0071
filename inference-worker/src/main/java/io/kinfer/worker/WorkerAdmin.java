package io.kinfer.worker;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Admin calls a worker makes while it starts: creating topics, reading and setting a group's configuration,
 * reading a broker's. Each waits at most 30 s (reading a group's configuration only starts it: {@link #get}) and
 * throws what Kafka answered, for the caller to fail the start or warn; an interrupt is thrown as an
 * {@link IllegalStateException}. One per worker: the brokers' configuration is read once, on first use.
 */
public final class WorkerAdmin {

    private static final Logger log = LoggerFactory.getLogger(WorkerAdmin.class);
    private static final long TIMEOUT_S = 30;

    private final Admin admin;
    /** A broker's configuration, once read; empty when it could not be. */
    private Optional<Config> broker;

    public WorkerAdmin(Admin admin) {
        this.admin = admin;
    }

    /**
     * Creates the topics that do not exist yet; existing ones are left as they are. The first topic Kafka did not
     * create is named in the exception's message: "cannot create topic T: why" (its cause Kafka's error), or "Kafka
     * did not create topic T within 30 s".
     */
    public void ensureTopics(List<NewTopic> topics) throws ExecutionException, TimeoutException {
        for (var entry : admin.createTopics(topics).values().entrySet()) {
            try {
                get(entry.getValue());
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new ExecutionException("cannot create topic " + entry.getKey() + ": "
                            + e.getCause().getMessage(), e.getCause());
                }
            } catch (TimeoutException e) {
                TimeoutException named = new TimeoutException("Kafka did not create topic " + entry.getKey()
                        + " within " + TIMEOUT_S + " s");
                named.initCause(e);
                throw named;
            }
        }
    }

    /** Asks for group {@code groupId}'s configuration (its own values and the brokers' defaults); returns at once. */
    public KafkaFuture<Config> describeGroup(String groupId) {
        return describeGroup(admin, groupId);
    }

    /** Asks {@code admin} for group {@code groupId}'s configuration; returns at once. */
    public static KafkaFuture<Config> describeGroup(Admin admin, String groupId) {
        ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, groupId);
        return admin.describeConfigs(List.of(group)).values().get(group);
    }

    /** Sets {@code settings} on group {@code groupId}, in one request. */
    public void alterGroup(String groupId, Map<String, String> settings) throws ExecutionException, TimeoutException {
        alter(new ConfigResource(ConfigResource.Type.GROUP, groupId), settings);
    }

    /** Sets {@code settings} on topic {@code topic}, in one request. */
    public void alterTopic(String topic, Map<String, String> settings) throws ExecutionException, TimeoutException {
        alter(new ConfigResource(ConfigResource.Type.TOPIC, topic), settings);
    }

    /**
     * A broker setting, as one broker of the cluster describes it; empty when it has none, or when the brokers'
     * configuration cannot be read (no right to, say). Read once per worker.
     */
    public synchronized Optional<String> brokerConfig(String key) {
        if (broker == null) {
            broker = describeBroker();
        }
        return broker.map(config -> config.get(key)).map(ConfigEntry::value);
    }

    private Optional<Config> describeBroker() {
        try {
            Node node = get(admin.describeCluster().nodes()).stream().findFirst().orElse(null);
            if (node == null) {
                return Optional.empty();
            }
            ConfigResource resource = new ConfigResource(ConfigResource.Type.BROKER, node.idString());
            return Optional.of(get(admin.describeConfigs(List.of(resource)).values().get(resource)));
        } catch (ExecutionException | TimeoutException e) {
            log.debug("the brokers' configuration cannot be read: {}", cause(e));
            return Optional.empty();
        }
    }

    private void alter(ConfigResource resource, Map<String, String> settings)
            throws ExecutionException, TimeoutException {
        List<AlterConfigOp> ops = settings.entrySet().stream()
                .map(e -> new AlterConfigOp(new ConfigEntry(e.getKey(), e.getValue()), AlterConfigOp.OpType.SET))
                .toList();
        get(admin.incrementalAlterConfigs(Map.of(resource, ops)).all());
    }

    /** Waits for {@code future} as every call here does: at most 30 s; an interrupt is thrown as unchecked. */
    public static <T> T get(KafkaFuture<T> future) throws ExecutionException, TimeoutException {
        try {
            return future.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** What Kafka answered: an {@link ExecutionException}'s cause, else the exception itself, with its type. */
    public static String cause(Exception e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        return cause.getClass().getSimpleName() + ": " + cause.getMessage();
    }
}
