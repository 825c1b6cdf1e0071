package io.kinfer.worker.intake;

import java.util.Map;
import java.util.function.Supplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;

/** Where a model's requests come from: a consumer group, a share group, or a transactional consumer group. */
public interface Intake extends AutoCloseable {

    Intake start();

    /** Whether it is receiving: partitions assigned (groups) or subscribed and polling (share groups). */
    boolean ready();

    /**
     * False once a consumer thread died of an error it could not handle: the intake receives nothing more, so the
     * worker is neither ready nor live (an orchestrator restarts it) instead of looking healthy while idle.
     */
    boolean alive();

    /**
     * Records behind the log end on what this intake reads: this member's partitions in a consumer group; in a share
     * group, the whole group's backlog (the same figure on every member, so aggregate it with max, not sum).
     */
    long lag();

    /** Asks Kafka for what is not known locally (share groups: the lag, the delivery limit); returns at once. */
    default void refresh(Admin admin) {
    }

    /**
     * Kafka's own metrics of each of its consumers (a share-group intake has several), by the client id kinfer gave
     * the consumer: what the worker exports as kafka_consumer_* meters.
     */
    default Map<String, Supplier<Map<MetricName, ? extends Metric>>> kafkaMetrics() {
        return Map.of();
    }

    /** Records received and not yet finished. */
    int inFlight();

    /**
     * Times records were fetched again by this intake itself: from a record whose reply Kafka did not take
     * (consumer groups), or from the committed offsets after an aborted transaction (exactly-once).
     */
    default long refetched() {
        return 0;
    }

    /** Stops at once, finishing nothing and committing nothing more, as a crash would. For tests. */
    void crash();

    /** Stops receiving, finishes what it holds within the drain timeout, commits or acknowledges, closes. */
    @Override
    void close();
}
