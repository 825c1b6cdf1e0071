package io.kinfer.worker.intake;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

import io.kinfer.worker.WorkerAdmin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.config.TopicConfig;
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

    private ShareDeadLetterQueue() {
    }

    /**
     * Makes {@code topic} the dead-letter queue of share group {@code groupId}, unless the group already names one.
     * Returns the group's configuration afterwards: {@code group} as it was read, with the dead-letter topic set
     * here; {@code group} itself when nothing was set (or it could not be read).
     *
     * @param group the group's configuration, as read once when the worker sets the group up
     * @param createTopic whether a missing topic is created (the worker's {@code topics.create})
     * @param replication the replication factor of a created topic; empty: the broker's default
     */
    public static KafkaFuture<Config> configure(WorkerAdmin admin, String groupId, KafkaFuture<Config> group,
                                                String topic, boolean createTopic, Optional<Short> replication) {
        Config groupConfig;
        try {
            groupConfig = WorkerAdmin.get(group);
        } catch (ExecutionException | TimeoutException e) {
            warn(groupId, topic, "its configuration cannot be read: " + WorkerAdmin.cause(e));
            return group;
        }
        ConfigEntry current = groupConfig.get(TOPIC_NAME);
        if (current == null) {
            warn(groupId, topic, "the broker has no share-group dead-letter queues (Kafka 4.4+, KIP-1191)");
            return group;
        }
        String existing = current.value() == null ? "" : current.value().strip();
        if (!existing.isEmpty() && !existing.equals(topic)) {
            log.info("share group {}: keeping its dead-letter topic {} (set on the group, it wins over "
                    + "share.dlq.topic={})", groupId, existing, topic);
            return group;
        }
        Optional<String> prefix = admin.brokerConfig(TOPIC_NAME_PREFIX);
        if (prefix.isPresent() && !topic.startsWith(prefix.get())) {
            warn(groupId, topic, "the broker takes only dead-letter topics whose names start with '" + prefix.get()
                    + "' (its " + TOPIC_NAME_PREFIX + "); set share.dlq.topic to such a name");
            return group;
        }
        try {
            if (createTopic) {
                // One partition, as kinfer's own dead-letter topic: the broker writes a record of request partition
                // p to partition p modulo the count, and dead letters are few.
                admin.ensureTopics(List.of(new NewTopic(topic, Optional.of(1), replication)
                        .configs(Map.of(TopicConfig.ERRORS_DEADLETTERQUEUE_GROUP_ENABLE_CONFIG, "true"))));
            }
            // The broker refuses to write to a topic not enabled as a DLQ; one created earlier without it is enabled.
            admin.alterTopic(topic, Map.of(TopicConfig.ERRORS_DEADLETTERQUEUE_GROUP_ENABLE_CONFIG, "true"));
            if (existing.isEmpty()) {
                admin.alterGroup(groupId, Map.of(TOPIC_NAME, topic, COPY_RECORD_ENABLE, "true"));
            }
        } catch (ExecutionException | TimeoutException e) {
            if (existing.isEmpty()) {
                warn(groupId, topic, WorkerAdmin.cause(e));
            } else {
                log.warn("share group {}: its dead-letter topic {} may not take dead letters: {}", groupId, topic,
                        WorkerAdmin.cause(e));
            }
            return group;
        }
        log.info("share group {}: records whose deliveries run out unanswered are copied to dead-letter topic {}",
                groupId, topic);
        return existing.isEmpty() ? KafkaFuture.completedFuture(withTopic(groupConfig, topic)) : group;
    }

    /** The group's dead-letter topic as {@code config} (the group's described configuration) names it, if any. */
    static Optional<String> topic(Config config) {
        ConfigEntry entry = config.get(TOPIC_NAME);
        return entry == null || entry.value() == null || entry.value().isBlank() ? Optional.empty()
                : Optional.of(entry.value().strip());
    }

    /** {@code config} with {@code topic} as its dead-letter topic, copying whole records, as set on the group. */
    private static Config withTopic(Config config, String topic) {
        List<ConfigEntry> entries = new ArrayList<>(config.entries());
        entries.removeIf(entry -> entry.name().equals(TOPIC_NAME) || entry.name().equals(COPY_RECORD_ENABLE));
        entries.add(new ConfigEntry(TOPIC_NAME, topic));
        entries.add(new ConfigEntry(COPY_RECORD_ENABLE, "true"));
        return new Config(entries);
    }

    private static void warn(String groupId, String topic, String why) {
        log.warn("share group {}: no dead-letter topic set ({}={}): {}. A record whose deliveries run out "
                + "unanswered is archived by the broker without a trace", groupId, TOPIC_NAME, topic, why);
    }
}
