package io.kinfer.worker.intake;

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
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A share group's dead-letter queue (Kafka 4.4+, KIP-1191): the broker copies there every record it archives
 * because its deliveries ran out (released on its last delivery, or its holder crashed) or because a consumer
 * rejected it, with {@code __dlq.errors.*} headers saying where it came from and why. Without one such a record
 * is archived with no answer and no trace. Set up at a share intake's start: an operator's choice on the group wins;
 * otherwise the topic is created (enabled for dead letters, which the broker requires of a DLQ topic) and named on
 * the group, copying the whole record so that it can be replayed. Everything here only warns when refused (an
 * older broker, another name prefix, missing rights): the worker serves without a dead-letter queue then.
 */
public final class ShareDeadLetterQueue {

    private static final Logger log = LoggerFactory.getLogger(ShareDeadLetterQueue.class);

    /** Group config: the group's DLQ topic; blank, none (Kafka's {@code GroupConfig}). */
    public static final String TOPIC_NAME = "errors.deadletterqueue.topic.name";
    /** Group config: copy the original record, or write only the context headers. */
    public static final String COPY_RECORD_ENABLE = "errors.deadletterqueue.copy.record.enable";
    /** Broker config: the prefix every DLQ topic name must have ({@code dlq.} by default). */
    static final String TOPIC_NAME_PREFIX = "errors.deadletterqueue.topic.name.prefix";
    private static final long TIMEOUT_S = 30;

    private ShareDeadLetterQueue() {
    }

    /**
     * Makes {@code topic} the dead-letter queue of share group {@code groupId}, unless the group already names one.
     * Returns the group's dead-letter topic afterwards, if it has one.
     *
     * @param createTopic whether a missing topic is created (the worker's {@code topics.create})
     * @param replication the replication factor of a created topic; empty: the broker's default
     */
    public static Optional<String> configure(Admin admin, String groupId, String topic, boolean createTopic,
                                             Optional<Short> replication) {
        ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, groupId);
        Config groupConfig;
        try {
            groupConfig = get(admin.describeConfigs(List.of(group)).values().get(group));
        } catch (ExecutionException | TimeoutException e) {
            warn(groupId, topic, "its configuration cannot be read: " + cause(e));
            return Optional.empty();
        }
        ConfigEntry current = groupConfig.get(TOPIC_NAME);
        if (current == null) {
            warn(groupId, topic, "the broker has no share-group dead-letter queues (Kafka 4.4+, KIP-1191)");
            return Optional.empty();
        }
        String existing = current.value() == null ? "" : current.value().strip();
        if (!existing.isEmpty() && !existing.equals(topic)) {
            log.info("share group {}: keeping its dead-letter topic {} (set on the group, it wins over "
                    + "share.dlq.topic={})", groupId, existing, topic);
            return Optional.of(existing);
        }
        Optional<String> prefix = brokerPrefix(admin);
        if (prefix.isPresent() && !topic.startsWith(prefix.get())) {
            warn(groupId, topic, "the broker takes only dead-letter topics whose names start with '" + prefix.get()
                    + "' (its " + TOPIC_NAME_PREFIX + "); set share.dlq.topic to such a name");
            return Optional.empty();
        }
        try {
            if (createTopic) {
                createTopic(admin, topic, replication);
            }
            // The broker refuses to write to a topic not enabled as a DLQ; one created earlier without it is enabled.
            ConfigResource dlq = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            get(admin.incrementalAlterConfigs(Map.of(dlq, List.of(set(
                    TopicConfig.ERRORS_DEADLETTERQUEUE_GROUP_ENABLE_CONFIG, "true")))).all());
            if (existing.isEmpty()) {
                get(admin.incrementalAlterConfigs(Map.of(group, List.of(set(TOPIC_NAME, topic),
                        set(COPY_RECORD_ENABLE, "true")))).all());
            }
        } catch (ExecutionException | TimeoutException e) {
            if (!existing.isEmpty()) {
                log.warn("share group {}: its dead-letter topic {} may not take dead letters: {}", groupId, topic,
                        cause(e));
                return Optional.of(existing);
            }
            warn(groupId, topic, cause(e));
            return Optional.empty();
        }
        log.info("share group {}: records whose deliveries run out unanswered are copied to dead-letter topic {}",
                groupId, topic);
        return Optional.of(topic);
    }

    /** The group's dead-letter topic as {@code config} (the group's described configuration) names it, if any. */
    static Optional<String> topic(Config config) {
        ConfigEntry entry = config.get(TOPIC_NAME);
        return entry == null || entry.value() == null || entry.value().isBlank() ? Optional.empty()
                : Optional.of(entry.value().strip());
    }

    private static void createTopic(Admin admin, String topic, Optional<Short> replication)
            throws ExecutionException, TimeoutException {
        // One partition, as kinfer's own dead-letter topic: the broker writes a record of request partition p to
        // partition p modulo the count, and dead letters are few.
        NewTopic dlq = new NewTopic(topic, Optional.of(1), replication)
                .configs(Map.of(TopicConfig.ERRORS_DEADLETTERQUEUE_GROUP_ENABLE_CONFIG, "true"));
        try {
            get(admin.createTopics(List.of(dlq)).all());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
    }

    /** The prefix the brokers require of DLQ topic names; empty when it cannot be read (no right to, say). */
    private static Optional<String> brokerPrefix(Admin admin) {
        try {
            Node node = get(admin.describeCluster().nodes()).stream().findFirst().orElse(null);
            if (node == null) {
                return Optional.empty();
            }
            ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, node.idString());
            ConfigEntry entry = get(admin.describeConfigs(List.of(broker)).values().get(broker)).get(TOPIC_NAME_PREFIX);
            return entry == null || entry.value() == null ? Optional.empty() : Optional.of(entry.value());
        } catch (ExecutionException | TimeoutException e) {
            log.debug("the brokers' {} cannot be read: {}", TOPIC_NAME_PREFIX, cause(e));
            return Optional.empty();
        }
    }

    private static AlterConfigOp set(String key, String value) {
        return new AlterConfigOp(new ConfigEntry(key, value), AlterConfigOp.OpType.SET);
    }

    private static <T> T get(KafkaFuture<T> future) throws ExecutionException, TimeoutException {
        try {
            return future.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static String cause(Exception e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        return cause.getClass().getSimpleName() + ": " + cause.getMessage();
    }

    private static void warn(String groupId, String topic, String why) {
        log.warn("share group {}: no dead-letter topic set ({}={}): {}. A record whose deliveries run out "
                + "unanswered is archived by the broker without a trace", groupId, TOPIC_NAME, topic, why);
    }
}
