package io.kinfer.worker.intake;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import io.kinfer.worker.reply.ReplySender;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exactly-once mode: consumer group, with every poll's replies, dead letters and consumed offsets written in one
 * Kafka transaction ({@code sendOffsetsToTransaction} with the group's metadata, so a zombie worker is fenced).
 * Readers with {@code isolation.level=read_committed} (the gateway and the Java client use it) see each reply
 * exactly once: a crash before the commit aborts the transaction, and the next owner computes the records again
 * into a new one. A poll is settled as a whole before the next one, so batches form within a poll
 * ({@code max.poll.records}) rather than across polls.
 *
 * <p>A record whose reply fails dooms its whole transaction (Kafka then refuses every later send in it, dead letters
 * included), so one such record would abort its poll again and again. After such an abort the records left
 * unanswered are suspects: each is next taken into a transaction of its own, where a failure is its own; one that
 * failed alone {@code reply.failure.limit} times is dead-lettered (reason {@code reply_failed}) in a transaction of
 * its own instead of computed again. Aborts of transactions that start at the same record wait longer each time
 * (1 s, doubling to 30 s), as the consumer-group mode does before fetching a record again.
 */
public final class TransactionalIntake implements Intake {

    private static final Logger log = LoggerFactory.getLogger(TransactionalIntake.class);
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(100);

    private final Pipeline pipeline;
    private final KafkaConsumer<byte[], byte[]> consumer;
    /** The client.id kinfer gave its consumer (Kafka's settings may set another). */
    private final String clientId;
    private final Producer<byte[], byte[]> producer;
    private final String topic;
    private final long drainTimeoutMs;
    private final Thread thread;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong rewinds = new AtomicLong();
    /** How long a poll may take to be answered before its transaction is aborted and the poll done again. */
    private final long settleTimeoutMs;
    /** Records one transaction takes at most; lowered after a poll outlasted its transaction. Intake thread only. */
    private int cap = Integer.MAX_VALUE;
    /** Failures of one record, alone in its transaction, after which it is dead-lettered instead. */
    private final int failureLimit;
    /**
     * Records left unanswered by an aborted transaction, each with how often it failed alone in one: taken alone
     * next, until committed (or their partition leaves). Intake thread only.
     */
    private final Map<RecordId, Suspect> suspects = new HashMap<>();
    /**
     * The first record of the last aborted transaction, and the pause after that abort: none after the first abort
     * at a record, 1 s after the second, doubling. Intake thread only.
     */
    private final RefetchBackoff<RecordId> abortBackoff = new RefetchBackoff<>(0);
    /** Whether the intake paused its partitions to wait out an abort's backoff. Intake thread only. */
    private boolean backingOff;
    private volatile boolean running = true;
    /** The consumer thread died of an unexpected error, or its producer can no longer commit. */
    private volatile boolean failed;
    /** Its producer was fenced or refused: it stops receiving, but a restart would not help. */
    private volatile boolean fenced;
    private volatile boolean crashed;
    private volatile boolean assigned;
    private volatile long lag;

    /**
     * @param producer a transactional producer on which {@code initTransactions()} has been called
     * @param transactionTimeoutMs its {@code transaction.timeout.ms}: a poll must be answered well within it
     */
    public TransactionalIntake(Pipeline pipeline, String topic, String groupId, String clientId,
                               Map<String, Object> consumerProperties, Producer<byte[], byte[]> producer,
                               long transactionTimeoutMs, long drainTimeoutMs, int failureLimit) {
        this.pipeline = pipeline;
        this.failureLimit = failureLimit;
        // Within the transaction's timeout, and within the consumer's max.poll.interval.ms, past which the group
        // would drop this member in the middle of a poll.
        Object pollInterval = consumerProperties.getOrDefault(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 300_000);
        this.settleTimeoutMs = Math.min(transactionTimeoutMs, Long.parseLong(pollInterval.toString().trim())) * 3 / 4;
        this.topic = topic;
        this.producer = producer;
        this.drainTimeoutMs = drainTimeoutMs;
        Map<String, Object> props = new HashMap<>(ConsumerGroupIntake.properties(groupId, clientId, consumerProperties));
        // Requests written in transactions count only once committed.
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        this.consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.clientId = clientId;
        this.thread = new Thread(this::run, "kinfer-eos-intake-" + pipeline.model());
    }

    @Override
    public TransactionalIntake start() {
        thread.start();
        return this;
    }

    @Override
    public boolean ready() {
        return assigned && !failed && !fenced;
    }

    @Override
    public boolean alive() {
        return !failed;
    }

    @Override
    public long lag() {
        return lag;
    }

    @Override
    public Map<String, Supplier<Map<MetricName, ? extends Metric>>> kafkaMetrics() {
        return Map.of(clientId, consumer::metrics);
    }

    @Override
    public int inFlight() {
        return inFlight.get();
    }

    /** Times a poll's transaction was aborted and the poll fetched again from the committed offsets. */
    @Override
    public long refetched() {
        return rewinds.get();
    }

    private void run() {
        try {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    // Nothing is in flight between polls: every poll was committed or aborted already. Suspects
                    // of other owners' partitions are theirs to find again.
                    suspects.keySet().removeIf(id -> partitions.contains(id.partition()));
                    RecordId lastAbortStart = abortBackoff.key();
                    if (lastAbortStart != null && partitions.contains(lastAbortStart.partition())) {
                        abortBackoff.forget();
                    }
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    if (backingOff) {
                        consumer.pause(partitions);
                    }
                    assigned = !consumer.assignment().isEmpty();
                }
            });
            while (running) {
                holdDuringBackoff();
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL_TIMEOUT);
                updateLag();
                if (!records.isEmpty()) {
                    cycle(records);
                }
            }
        } catch (WakeupException e) {
            // close()
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ProducerFencedException | OutOfOrderSequenceException | AuthorizationException e) {
            // Unready but still live: a fenced worker is a zombie whose id another took; restarting it would only
            // fence that one in turn.
            fenced = true;
            log.error("{}: transactional producer can no longer commit ({}); stopping this intake", topic, e.toString());
        } catch (RuntimeException | Error e) {
            if (!crashed && running) {
                failed = true;
                log.error("exactly-once intake of {} failed; stopping it", topic, e);
            }
        } finally {
            try {
                // A crash stops heartbeats too: leave at once, so the group moves the partitions on.
                consumer.close(crashed ? Duration.ZERO : Duration.ofSeconds(10));
            } catch (RuntimeException e) {
                log.warn("closing the consumer of {}: {}", topic, e.toString());
            }
            stopped.countDown();
        }
    }

    /**
     * Waits out an abort's backoff without blocking: the partitions are paused (polling goes on, so the group keeps
     * this member) until the pause ends.
     */
    private void holdDuringBackoff() {
        boolean wait = abortBackoff.waiting(System.nanoTime());
        if (wait && !backingOff) {
            consumer.pause(consumer.assignment());
            backingOff = true;
        } else if (!wait && backingOff) {
            consumer.resume(consumer.paused());
            backingOff = false;
        }
    }

    /** One transaction: the poll's replies and dead letters, then its offsets, committed together. */
    private void cycle(ConsumerRecords<byte[], byte[]> records) throws InterruptedException {
        List<ConsumerRecord<byte[], byte[]>> list = new ArrayList<>(records.count());
        records.forEach(list::add);
        int take = Math.min(cap, list.size());
        for (int i = 0; i < take && !suspects.isEmpty(); i++) { // none, but after a failed transaction
            if (suspects.containsKey(RecordId.of(list.get(i)))) {
                // A suspect goes alone, so that a failure of its transaction is its own; those before it go first.
                take = i == 0 ? 1 : i;
                break;
            }
        }
        if (list.size() > take) {
            // Fewer than the poll brought, after a poll outlasted its transaction or around a suspect: the rest are
            // fetched again, each partition from its first record not taken (a poll holds each partition's records
            // in order).
            Map<TopicPartition, Long> firstNotTaken = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> record : list.subList(take, list.size())) {
                firstNotTaken.merge(new TopicPartition(record.topic(), record.partition()), record.offset(), Math::min);
            }
            firstNotTaken.forEach(consumer::seek);
            list = new ArrayList<>(list.subList(0, take));
        }
        boolean alone = list.size() == 1;
        Suspect suspect = alone && !suspects.isEmpty() ? suspects.getOrDefault(RecordId.of(list.get(0)), Suspect.NONE)
                : Suspect.NONE;
        int failures = suspect.failures();
        PollCycle cycle = new PollCycle(list);
        inFlight.addAndGet(list.size());
        try {
            producer.beginTransaction();
            if (failures >= 2 * failureLimit) {
                // Its dead letter failed as often too, in transactions of its own (Kafka refuses the dead-letter
                // topic for good: an ACL, its max.message.bytes): given up, so that the partition moves on. Only
                // its offset is committed, in this transaction.
                ConsumerRecord<byte[], byte[]> record = list.get(0);
                log.error("{}: {}-{}@{} could not even be dead-lettered ({} failed transactions of its own; the last: "
                        + "{}); giving it up unanswered so that the records after it are served: fix the dead-letter "
                        + "topic", topic, record.topic(), record.partition(), record.offset(), failures,
                        suspect.lastFailure());
                RecordHandle handle = cycle.incoming().get(0).handle();
                handle.whenFinal(() -> pipeline.givenUp(record)); // counted once its offset's commit is in
                handle.answered();
            } else if (failures >= failureLimit) {
                ConsumerRecord<byte[], byte[]> record = list.get(0);
                log.warn("{}: the reply to {}-{}@{} failed in {} transactions of its own (reply.failure.limit {});"
                        + " dead-lettering it as {}", topic, record.topic(), record.partition(), record.offset(),
                        failures, failureLimit, ReplySender.REPLY_FAILED);
                pipeline.deadLetter(cycle.incoming().get(0), ReplySender.REPLY_FAILED, ReplySender.replyFailedMessage(
                        "its reply failed in " + failures + " transactions of its own (reply.failure.limit); given up"
                        + " instead of computed again", suspect.lastFailure()));
            } else {
                pipeline.accept(cycle.incoming());
            }
            boolean finished = cycle.await(settleTimeoutMs);
            if (crashed) {
                return; // a crash leaves the transaction open: the broker aborts it when the next owner fences us
            }
            if (!finished) {
                // Nothing of this poll may reach the next transaction beside its recomputed copy: its queued
                // requests leave the queue, and those computing are waited for, so their replies land in this
                // transaction, aborted only then. (Aborted first, a reply sent after the abort fails, but Kafka's
                // producer has already queued it, and the next transaction would carry it.) The next transactions
                // take as many records as this one answered in time, doubling back after each commit: a poll too
                // slow for its transaction would otherwise be aborted and fetched again whole, forever.
                if (list.size() == 1) {
                    // Nothing smaller to try: one record alone outlasts the transaction, again and again.
                    log.error("{}: a single record ({}-{}@{}) is not answered within {} ms, so its transaction is "
                            + "aborted each time; raise kafka.producer.transaction.timeout.ms above its computing time",
                            topic, list.get(0).topic(), list.get(0).partition(), list.get(0).offset(), settleTimeoutMs);
                }
                cap = Math.max(1, list.size() - cycle.unfinished());
                Set<ConsumerRecord<byte[], byte[]>> mine = Collections.newSetFromMap(new IdentityHashMap<>());
                mine.addAll(list);
                pipeline.abandonQueued(mine::contains);
                while (!cycle.await(1_000)) {
                    if (crashed) {
                        return;
                    }
                }
                abort("the poll was not answered within " + settleTimeoutMs + " ms; the next transactions take "
                        + cap + " record(s)");
                rewind(list);
                return;
            }
            if (cycle.anyAbandoned()) {
                suspect(cycle, alone);
                abort("some replies of the poll were not written");
                backOff(list.get(0));
                rewind(list);
                return;
            }
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> record : list) {
                offsets.merge(new TopicPartition(record.topic(), record.partition()),
                        new OffsetAndMetadata(record.offset() + 1),
                        (a, b) -> a.offset() >= b.offset() ? a : b);
            }
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            if (!commit()) {
                return; // closing while Kafka did not say how the commit ended: the next owner reads what it did
            }
            cycle.committed();
            cap = cap > Integer.MAX_VALUE / 2 ? Integer.MAX_VALUE : cap * 2;
            suspects.keySet().removeIf(id -> {
                OffsetAndMetadata committed = offsets.get(id.partition());
                return committed != null && id.offset() < committed.offset();
            });
            abortBackoff.reset();
        } catch (ProducerFencedException | OutOfOrderSequenceException | AuthorizationException | WakeupException e) {
            throw e; // fenced: stop; woken up: close() (the open transaction is aborted by the producer's close)
        } catch (KafkaException e) {
            abort(e.toString());
            // No record said its send failed, yet the transaction did (a dead letter Kafka refused for good, after
            // its record counted as answered): the same records would abort it again and again. Isolated as after
            // an abandoned reply, so that one failing alone meets reply.failure.limit.
            for (ConsumerRecord<byte[], byte[]> record : list) {
                if (alone) {
                    suspects.merge(RecordId.of(record), new Suspect(1, "its transaction failed: "
                            + ReplySender.describe(e)), Suspect::add);
                } else {
                    suspects.putIfAbsent(RecordId.of(record), Suspect.NONE);
                }
            }
            backOff(list.get(0));
            rewind(list);
        } finally {
            inFlight.addAndGet(-list.size());
        }
    }

    /**
     * Commits the open transaction. A commit that timed out must be retried (Kafka refuses to abort it, and its
     * outcome is not known), so it is, until it ends; returns false when the intake stops meanwhile.
     */
    private boolean commit() {
        while (true) {
            try {
                producer.commitTransaction();
                return true;
            } catch (TimeoutException e) {
                if (!running || crashed) {
                    return false;
                }
                log.warn("{}: committing a transaction timed out; trying again, as Kafka requires: {}", topic,
                        e.toString());
            }
        }
    }

    /** The records an aborted transaction left unanswered become suspects; a failure alone counts against one. */
    private void suspect(PollCycle cycle, boolean alone) {
        for (int i = 0; i < cycle.size(); i++) {
            if (cycle.outcome(i) == PollCycle.Outcome.ABANDONED) {
                RecordId id = RecordId.of(cycle.record(i));
                if (alone) {
                    suspects.merge(id, new Suspect(1, cycle.whyAbandoned(i)), Suspect::add);
                } else {
                    suspects.putIfAbsent(id, Suspect.NONE);
                }
            }
        }
    }

    /**
     * After an abort: the next transaction starting at the same record waits, 1 s, then twice as long each time it
     * aborts again, up to 30 s; a transaction that starts elsewhere, or any commit, starts over.
     */
    private void backOff(ConsumerRecord<byte[], byte[]> first) {
        RecordId start = RecordId.of(first);
        long pauseMs = abortBackoff.failed(start, System.nanoTime());
        if (pauseMs > 0) {
            log.warn("{}: a transaction starting at {}@{} was aborted again; the next try waits {} ms", topic,
                    start.partition(), start.offset(), pauseMs);
        }
    }

    /**
     * Aborts the open transaction: its replies are never visible. An abort that timed out is tried again (Kafka
     * allows it); any other failure means the producer can no longer transact, and stops the intake (thrown).
     */
    private void abort(String why) {
        rewinds.incrementAndGet();
        log.warn("{}: aborting a transaction and reprocessing from the last commit: {}", topic, why);
        while (true) {
            try {
                producer.abortTransaction();
                return;
            } catch (TimeoutException e) {
                if (!running || crashed) {
                    return; // closing: the producer's close aborts it
                }
                log.warn("{}: aborting a transaction timed out; trying again: {}", topic, e.toString());
            }
        }
    }

    /**
     * Goes back to the first record the aborted transaction took in each partition: where its partitions stood,
     * since every earlier record was committed. Local seeks, with no broker to wait for (asking Kafka for the
     * committed offsets could time out right after a successful abort).
     */
    private void rewind(List<ConsumerRecord<byte[], byte[]>> taken) {
        Map<TopicPartition, Long> first = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> record : taken) {
            first.merge(new TopicPartition(record.topic(), record.partition()), record.offset(), Math::min);
        }
        first.forEach(consumer::seek);
    }

    /** A record's place: its partition and offset. */
    private record RecordId(TopicPartition partition, long offset) {
        static RecordId of(ConsumerRecord<byte[], byte[]> record) {
            return new RecordId(new TopicPartition(record.topic(), record.partition()), record.offset());
        }
    }

    /** A suspect's failures alone in a transaction, and the last one's cause where known (for its dead letter). */
    private record Suspect(int failures, String lastFailure) {
        static final Suspect NONE = new Suspect(0, null);

        static Suspect add(Suspect before, Suspect now) {
            return new Suspect(before.failures + now.failures,
                    now.lastFailure != null ? now.lastFailure : before.lastFailure);
        }
    }

    private void updateLag() {
        long total = 0;
        for (TopicPartition partition : consumer.assignment()) {
            total += consumer.currentLag(partition).orElse(0);
        }
        lag = total;
    }

    @Override
    public void crash() {
        crashed = true;
        running = false;
        thread.interrupt();
        try {
            stopped.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            // A poll may take its settle timeout, then its running batch, before this intake sees it is closing.
            stopped.await(Math.max(drainTimeoutMs, settleTimeoutMs) + 70_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
