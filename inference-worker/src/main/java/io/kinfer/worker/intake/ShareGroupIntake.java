package io.kinfer.worker.intake;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import io.kinfer.worker.WorkerAdmin;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Share-group mode (KIP-932, Kafka queues): several {@link KafkaShareConsumer}s of one share group per model, each
 * on its own thread. Records are acknowledged one by one: ACCEPT once the reply is acknowledged by the broker,
 * REJECT once the dead letter is (ACCEPT when the group has a dead-letter topic of its own: the broker would copy
 * a rejected record there too, a second dead letter of the same request), RELEASE when neither happened (the
 * broker then delivers it again, to any member, up to the group's delivery-count limit, which ends poison loops).
 * A consumer that dies holding records loses them only until their acquisition lock expires. On a record's last
 * allowed delivery a failed reply is dead-lettered rather than released: released, the broker would archive it
 * with no answer, and only a group with a dead-letter topic ({@link ShareDeadLetterQueue}) keeps a copy of it.
 *
 * <p>In explicit mode every record of a poll must be acknowledged before that consumer polls again, and only on
 * its thread; so each consumer settles its poll as a whole, and polling overlaps computing across the consumers:
 * while one waits for its batch, another fetches the next. Replicas are not capped by the partition count.
 */
public final class ShareGroupIntake implements Intake {

    private static final Logger log = LoggerFactory.getLogger(ShareGroupIntake.class);
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(100);
    /** The group setting that caps deliveries per record (KIP-932; per group since KIP-1240). */
    static final String DELIVERY_COUNT_LIMIT = "share.delivery.count.limit";
    /** Kafka's default for it ({@code group.share.delivery.count.limit}), until the group's own value is read. */
    static final int DEFAULT_DELIVERY_COUNT_LIMIT = 5;

    private final Pipeline pipeline;
    private final String topic;
    private final String groupId;
    private volatile long backlog;
    /** Whether the last lag refresh failed (set from the admin client's callbacks, one refresh at a time). */
    private volatile boolean lagUnknown;
    private volatile int deliveryLimit;
    /** Whether the group has a dead-letter topic (KIP-1191), as last read with its delivery-count limit. */
    private volatile boolean groupDeadLetterQueue;
    private volatile boolean limitUnreadableLogged;
    private final List<Member> members = new ArrayList<>();
    private final long drainTimeoutMs;
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile boolean running = true;
    /** A member's thread died of an unexpected error. */
    private volatile boolean failed;
    private volatile boolean crashed;
    private volatile boolean polled;

    /**
     * @param group the group's configuration as the worker read it when it set the group up, with what it set then
     *              ({@link ShareDeadLetterQueue#configure}); waited for here
     */
    public ShareGroupIntake(Pipeline pipeline, String topic, String groupId, String clientId,
                            Map<String, Object> consumerProperties, int consumers, int recordsPerPoll,
                            long drainTimeoutMs, KafkaFuture<Config> group) {
        this.pipeline = pipeline;
        this.topic = topic;
        this.groupId = groupId;
        readGroupConfig(group);
        this.drainTimeoutMs = drainTimeoutMs;
        for (int i = 0; i < consumers; i++) {
            members.add(new Member(i, clientId + "-" + i, properties(groupId, clientId + "-" + i, recordsPerPoll,
                    consumerProperties)));
        }
    }

    static Map<String, Object> properties(String groupId, String clientId, int recordsPerPoll,
                                          Map<String, Object> overrides) {
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        props.put("share.acknowledgement.mode", "explicit");
        // At most a poll's worth of records under lock per consumer, none prefetched with a running lock.
        props.put("share.acquire.mode", "record_limit");
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, recordsPerPoll);
        props.putAll(overrides);
        // Settings of the classic consumer that a share consumer rejects.
        for (String key : List.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, ConsumerConfig.GROUP_INSTANCE_ID_CONFIG,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, ConsumerConfig.GROUP_PROTOCOL_CONFIG)) {
            props.remove(key);
        }
        return props;
    }

    @Override
    public ShareGroupIntake start() {
        members.forEach(member -> member.thread.start());
        return this;
    }

    @Override
    public boolean ready() {
        return polled && running && !failed;
    }

    @Override
    public boolean alive() {
        return !failed;
    }

    @Override
    public Map<String, Supplier<Map<MetricName, ? extends Metric>>> kafkaMetrics() {
        Map<String, Supplier<Map<MetricName, ? extends Metric>>> metrics = new LinkedHashMap<>();
        members.forEach(member -> metrics.put(member.clientId, member.consumer::metrics));
        return metrics;
    }

    /** The group's backlog as the broker last reported it (see {@link #refresh}); the same on every member. */
    @Override
    public long lag() {
        return backlog;
    }

    /**
     * Share groups have no per-member partitions, so no consumer lag; the broker reports each share-partition's lag
     * instead (records from its start offset not yet acknowledged, Admin.listShareGroupOffsets). Their sum over the
     * request topic is what a queue-length autoscaler needs. The group's delivery-count limit and dead-letter topic
     * are read along with it, since an operator may change them at any time.
     */
    @Override
    public void refresh(Admin admin) {
        admin.listShareGroupOffsets(Map.of(groupId, new ListShareGroupOffsetsSpec()))
                .partitionsToOffsetInfo(groupId)
                .whenComplete((offsets, error) -> {
                    if (error != null) {
                        // Once per run of failures: the lag then stays at its last value (0 at first), and an
                        // autoscaler reading it (deploy/k8s-share-group) would never scale up without a word.
                        if (!lagUnknown) {
                            lagUnknown = true;
                            log.warn("share-group lag of {} unknown, kinfer_consumer_lag keeps its last value ({}) "
                                    + "until Kafka reports it (Admin.listShareGroupOffsets; an ACL needs DESCRIBE on "
                                    + "the group): {}", groupId, backlog, error.toString());
                        }
                        return;
                    }
                    if (lagUnknown) {
                        lagUnknown = false;
                        log.info("share-group lag of {} known again", groupId);
                    }
                    backlog = offsets.entrySet().stream()
                            .filter(e -> e.getKey().topic().equals(topic) && e.getValue() != null)
                            .mapToLong(e -> e.getValue().lag().orElse(0L))
                            .sum();
                });
        WorkerAdmin.describeGroup(admin, groupId).whenComplete((config, error) -> {
            if (error != null) {
                limitUnreadable(error);
                return;
            }
            groupConfig(config);
        });
    }

    private void groupConfig(Config config) {
        deliveryLimit = deliveryLimit(config);
        groupDeadLetterQueue = ShareDeadLetterQueue.topic(config).isPresent();
    }

    /**
     * Read once, before the first poll, so that no poll works with a guessed limit (refreshed afterwards): from the
     * group's configuration as the worker read it when it set the group up.
     */
    private void readGroupConfig(KafkaFuture<Config> group) {
        try {
            groupConfig(WorkerAdmin.get(group));
        } catch (ExecutionException | TimeoutException e) {
            deliveryLimit = DEFAULT_DELIVERY_COUNT_LIMIT;
            limitUnreadable(e.getCause() != null ? e.getCause() : e);
        }
    }

    /** Said once: the limit in use stays the last one read, or Kafka's default. */
    private void limitUnreadable(Throwable error) {
        if (!limitUnreadableLogged) {
            limitUnreadableLogged = true;
            log.warn("{} of share group {} cannot be read ({}); using {} until it can", DELIVERY_COUNT_LIMIT, groupId,
                    error.toString(), deliveryLimit > 0 ? deliveryLimit : DEFAULT_DELIVERY_COUNT_LIMIT);
        }
    }

    /** The group's limit as the broker describes it (its own or the broker's default), else Kafka's default. */
    static int deliveryLimit(Config config) {
        ConfigEntry entry = config.get(DELIVERY_COUNT_LIMIT);
        try {
            return entry == null || entry.value() == null ? DEFAULT_DELIVERY_COUNT_LIMIT
                    : Integer.parseInt(entry.value());
        } catch (NumberFormatException e) {
            return DEFAULT_DELIVERY_COUNT_LIMIT;
        }
    }

    @Override
    public int inFlight() {
        return inFlight.get();
    }

    @Override
    public void crash() {
        crashed = true;
        running = false;
        members.forEach(member -> member.thread.interrupt());
        for (Member member : members) {
            try {
                member.stopped.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void close() {
        running = false;
        members.forEach(member -> member.consumer.wakeup());
        for (Member member : members) {
            try {
                member.stopped.await(drainTimeoutMs + 30_000, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private final class Member {
        final KafkaShareConsumer<byte[], byte[]> consumer;
        final String clientId;
        final Thread thread;
        final CountDownLatch stopped = new CountDownLatch(1);

        Member(int index, String clientId, Map<String, Object> props) {
            this.clientId = clientId;
            this.consumer = new KafkaShareConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            this.thread = new Thread(this::run, "kinfer-share-" + pipeline.model() + "-" + index);
        }

        private void run() {
            PollCycle current = null;
            try {
                consumer.subscribe(List.of(topic));
                while (running) {
                    ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL_TIMEOUT);
                    polled = true;
                    if (records.isEmpty()) {
                        continue;
                    }
                    List<ConsumerRecord<byte[], byte[]>> list = new ArrayList<>(records.count());
                    records.forEach(list::add);
                    current = new PollCycle(list, deliveryLimit);
                    inFlight.addAndGet(list.size());
                    pipeline.accept(current.incoming());
                    // Waits for this poll's replies; the other consumers keep fetching meanwhile.
                    while (!current.await(100) && !crashed) {
                        if (!running && current.unfinished() > 0) {
                            current.await(drainTimeoutMs);
                            break;
                        }
                    }
                    if (crashed) {
                        return;
                    }
                    settle(current);
                    current = null;
                    consumer.commitAsync();
                }
            } catch (WakeupException e) {
                // close(): settle what we hold below
            } catch (InterruptedException e) {
                // crash(): leave everything unacknowledged; the locks expire and the broker redelivers
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException | Error e) {
                if (!crashed) {
                    failed = true;
                    log.error("share consumer of {} failed; stopping it (the worker reports itself not live)",
                            topic, e);
                }
            } finally {
                if (crashed) {
                    // A crashed process's connections drop; nothing more is acknowledged.
                    closeQuietly(Duration.ZERO);
                } else {
                    shutdown(current);
                }
                stopped.countDown();
            }
        }

        /**
         * ACCEPT what was answered, REJECT what was dead-lettered, RELEASE the rest for redelivery. A dead letter is
         * ACCEPTed where the group has a dead-letter topic: the broker copies every rejected record there, and the
         * request already has its dead letter, with the reason, on kinfer's own topic.
         */
        private void settle(PollCycle cycle) {
            AcknowledgeType deadLettered = groupDeadLetterQueue ? AcknowledgeType.ACCEPT : AcknowledgeType.REJECT;
            for (int i = 0; i < cycle.size(); i++) {
                PollCycle.Outcome outcome = cycle.outcome(i);
                AcknowledgeType type = outcome == PollCycle.Outcome.ANSWERED ? AcknowledgeType.ACCEPT
                        : outcome == PollCycle.Outcome.DEAD_LETTERED ? deadLettered : AcknowledgeType.RELEASE;
                consumer.acknowledge(cycle.record(i), type);
            }
            inFlight.addAndGet(-cycle.size());
        }

        private void closeQuietly(Duration timeout) {
            try {
                consumer.close(timeout);
            } catch (RuntimeException e) {
                log.debug("closing a share consumer of {}: {}", topic, e.toString());
            }
        }

        private void shutdown(PollCycle current) {
            try {
                if (current != null) {
                    // Queued batches still run during the drain; what is unfinished after it is released.
                    current.await(drainTimeoutMs);
                    settle(current);
                }
                consumer.close(Duration.ofSeconds(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                log.warn("closing the share consumer of {} failed; its records are redelivered: {}", topic,
                        e.toString());
            }
        }
    }
}
