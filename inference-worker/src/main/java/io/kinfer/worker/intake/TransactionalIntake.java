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

import io.kinfer.worker.ModelPipeline;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
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
 */
public final class TransactionalIntake implements Intake {

    private static final Logger log = LoggerFactory.getLogger(TransactionalIntake.class);
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(100);

    private final ModelPipeline pipeline;
    private final KafkaConsumer<byte[], byte[]> consumer;
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
    public TransactionalIntake(ModelPipeline pipeline, String topic, String groupId, String clientId,
                               Map<String, Object> consumerProperties, Producer<byte[], byte[]> producer,
                               long transactionTimeoutMs, long drainTimeoutMs) {
        this.pipeline = pipeline;
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
                    // Nothing is in flight between polls: every poll was committed or aborted already.
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    assigned = !consumer.assignment().isEmpty();
                }
            });
            while (running) {
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
            if (!crashed) {
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

    /** One transaction: the poll's replies and dead letters, then its offsets, committed together. */
    private void cycle(ConsumerRecords<byte[], byte[]> records) throws InterruptedException {
        List<ConsumerRecord<byte[], byte[]>> list = new ArrayList<>(records.count());
        records.forEach(list::add);
        if (list.size() > cap) {
            // Fewer than the poll brought, after a poll outlasted its transaction: the rest are fetched again,
            // each partition from its first record not taken (a poll holds each partition's records in order).
            Map<TopicPartition, Long> firstNotTaken = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> record : list.subList(cap, list.size())) {
                firstNotTaken.merge(new TopicPartition(record.topic(), record.partition()), record.offset(), Math::min);
            }
            firstNotTaken.forEach(consumer::seek);
            list = new ArrayList<>(list.subList(0, cap));
        }
        PollCycle cycle = new PollCycle(list);
        inFlight.addAndGet(list.size());
        try {
            producer.beginTransaction();
            pipeline.accept(cycle.incoming());
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
                rewind();
                return;
            }
            if (cycle.anyAbandoned()) {
                abort("some replies of the poll were not written");
                rewind();
                return;
            }
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> record : list) {
                offsets.merge(new TopicPartition(record.topic(), record.partition()),
                        new OffsetAndMetadata(record.offset() + 1),
                        (a, b) -> a.offset() >= b.offset() ? a : b);
            }
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            producer.commitTransaction();
            cap = cap > Integer.MAX_VALUE / 2 ? Integer.MAX_VALUE : cap * 2;
        } catch (ProducerFencedException | OutOfOrderSequenceException | AuthorizationException | WakeupException e) {
            throw e; // fenced: stop; woken up: close() (the open transaction is aborted by the producer's close)
        } catch (KafkaException e) {
            abort(e.toString());
            rewind();
        } finally {
            inFlight.addAndGet(-list.size());
        }
    }

    /** Aborts the open transaction: its replies are never visible. */
    private void abort(String why) {
        rewinds.incrementAndGet();
        log.warn("{}: aborting a transaction and reprocessing from the last commit: {}", topic, why);
        try {
            producer.abortTransaction();
        } catch (KafkaException e) {
            log.warn("{}: abort failed: {}", topic, e.toString());
        }
    }

    /** Goes back to the committed offsets. */
    private void rewind() {
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(consumer.assignment(),
                Duration.ofSeconds(10));
        for (TopicPartition partition : consumer.assignment()) {
            OffsetAndMetadata offset = committed.get(partition);
            if (offset != null) {
                consumer.seek(partition, offset);
            } else {
                consumer.seekToBeginning(List.of(partition));
            }
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
