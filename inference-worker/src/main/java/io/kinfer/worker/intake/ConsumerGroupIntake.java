package io.kinfer.worker.intake;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import io.kinfer.worker.ModelPipeline;
import io.kinfer.worker.reply.ReplySender;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumer-group mode: one thread owns the {@link KafkaConsumer} of one model's request topic. It polls, hands
 * each poll's records to the {@link ModelPipeline} (which queues them for batching while the previous batch
 * computes), pauses fetching while the queue is full, and commits only offsets below which every record has its
 * reply acknowledged. On revocation it drops what it had queued for the lost partitions, waits briefly for their
 * running batches, and commits what is answered; the next owner computes the rest. A record left unanswered
 * while its partition stays here (a reply Kafka did not take within its delivery timeout) is fetched again: the
 * partition pauses until its other records are done, then seeks back to it, waiting longer each time the same
 * record failed again; the records after it that were answered already are not answered again. A record whose
 * reply failed {@code reply.failure.limit} times is dead-lettered (reason {@code reply_failed}) when next fetched,
 * and the partition moves on.
 */
public final class ConsumerGroupIntake implements Intake {

    private static final Logger log = LoggerFactory.getLogger(ConsumerGroupIntake.class);
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(100);

    private final Pipeline pipeline;
    private final Consumer<byte[], byte[]> consumer;
    /** The client.id kinfer gave its consumer (Kafka's settings may set another). */
    private final String clientId;
    private final String topic;
    /** Failed replies of one record after which it is dead-lettered instead of fetched again. */
    private final int failureLimit;
    private final OffsetTracker tracker = new OffsetTracker();
    private final long commitIntervalMs;
    private final long drainTimeoutMs;
    private final int resumeBelow;
    private final Thread thread;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean running = true;
    private volatile boolean crashed;
    /** The consumer thread died of an unexpected error. */
    private volatile boolean failed;
    /** Set once the shutdown drained and committed: the revocation that close() triggers has nothing left to do. */
    private volatile boolean drained;
    private volatile boolean assigned;
    private volatile long lag;
    private boolean paused;
    /** Partitions paused until their records in flight are done, to be fetched again from an abandoned one. */
    private final Set<TopicPartition> rewinding = new HashSet<>();
    /**
     * Per partition, the offset last fetched again and its failures in a row; its pause, which starts when it is
     * fetched again, delays fetching it again once more. From the fetch, not the failure: a reply that fails fast
     * cannot loop, and one that fails only after its delivery timeout is already that far apart from the last try.
     */
    private final Map<TopicPartition, RefetchBackoff<Long>> rewindBackoff = new HashMap<>();
    /** Per partition fetched again, what was unanswered then: records fetched again outside it are skipped. */
    private final Map<TopicPartition, OffsetTracker.Unanswered> refetching = new HashMap<>();
    private final AtomicLong refetched = new AtomicLong();
    private long lastCommitMs;

    public ConsumerGroupIntake(Pipeline pipeline, String topic, String groupId, String clientId,
                               Map<String, Object> consumerProperties, long commitIntervalMs, long drainTimeoutMs,
                               int maxQueueSize, int failureLimit) {
        this(pipeline, topic, clientId, new KafkaConsumer<>(properties(groupId, clientId, consumerProperties),
                new ByteArrayDeserializer(), new ByteArrayDeserializer()), commitIntervalMs, drainTimeoutMs,
                maxQueueSize, failureLimit);
    }

    /** With a consumer of the caller's (tests: a real consumer whose calls they observe). */
    ConsumerGroupIntake(Pipeline pipeline, String topic, String clientId, Consumer<byte[], byte[]> consumer,
                        long commitIntervalMs, long drainTimeoutMs, int maxQueueSize, int failureLimit) {
        this.pipeline = pipeline;
        this.topic = topic;
        this.clientId = clientId;
        this.commitIntervalMs = commitIntervalMs;
        this.drainTimeoutMs = drainTimeoutMs;
        this.resumeBelow = Math.max(1, maxQueueSize / 2);
        this.failureLimit = failureLimit;
        this.consumer = consumer;
        this.thread = new Thread(this::run, "kinfer-intake-" + pipeline.model());
    }

    static Map<String, Object> properties(String groupId, String clientId, Map<String, Object> overrides) {
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Requests written before the group first joined must still be answered.
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.putAll(overrides);
        Object protocol = props.getOrDefault(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        if ("classic".equalsIgnoreCase(String.valueOf(protocol))) {
            // Incremental rebalances: a joining replica takes partitions without stopping the others.
            props.putIfAbsent(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                    CooperativeStickyAssignor.class.getName());
            // A dead replica's partitions move after the session timeout; Kafka's 45 s default would stall its
            // callers past their deadlines. 10 s with 3 s heartbeats fails over well inside a 30 s timeout.
            // Classic protocol only: with group.protocol=consumer the broker owns these and the client refuses them.
            props.putIfAbsent(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
            props.putIfAbsent(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 3_000);
        }
        return props;
    }

    @Override
    public ConsumerGroupIntake start() {
        thread.start();
        return this;
    }

    /** Whether the consumer holds at least one partition (the worker's readiness). */
    @Override
    public boolean ready() {
        return assigned && !failed;
    }

    @Override
    public boolean alive() {
        return !failed;
    }

    /** Records behind the log end over this consumer's partitions, as of the last poll. */
    @Override
    public long lag() {
        return lag;
    }

    @Override
    public Map<String, Supplier<Map<MetricName, ? extends Metric>>> kafkaMetrics() {
        return Map.of(clientId, consumer::metrics);
    }

    /** Records received and not yet answered. */
    @Override
    public int inFlight() {
        return tracker.pending();
    }

    /** How often a partition was fetched again from a record whose reply failed. */
    @Override
    public long refetched() {
        return refetched.get();
    }

    private void run() {
        try {
            consumer.subscribe(List.of(topic), new Rebalance());
            while (running) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL_TIMEOUT);
                if (!records.isEmpty()) {
                    take(records);
                }
                applyBackpressure();
                rewindAbandoned();
                commitIfDue(false);
                updateLag();
            }
        } catch (WakeupException e) {
            // close() woke us up: fall through to the drain.
        } catch (RuntimeException | Error e) {
            failed = true;
            log.error("consumer of {} failed; stopping this intake (the worker reports itself not live)", topic, e);
        } finally {
            shutdown();
            stopped.countDown();
        }
    }

    /**
     * Hands a poll's records to the pipeline, except those fetched again that were answered already (done at once)
     * and one whose replies failed too often (dead-lettered).
     */
    private void take(ConsumerRecords<byte[], byte[]> records) {
        List<ModelPipeline.Incoming> incoming = new ArrayList<>(records.count());
        // Each with its dead letter's message.
        List<Map.Entry<ModelPipeline.Incoming, String>> givenUp = List.of();
        // By partition, as the poll holds them: the refetch state is looked up once per partition, not per record.
        for (TopicPartition partition : records.partitions()) {
            OffsetTracker.Unanswered redo = refetching.get(partition);
            RefetchBackoff<Long> backoff = rewindBackoff.get(partition);
            // Its record whose reply failed reply.failure.limit times, if any: dead-lettered instead of computed;
            // once that dead letter failed as often too, given up (else it would be fetched again without end).
            long overLimit = backoff != null && backoff.key() != null && backoff.failures() >= failureLimit
                    ? backoff.key() : -1;
            boolean deadLetterFailed = overLimit >= 0 && backoff.failures() >= 2 * failureLimit;
            for (ConsumerRecord<byte[], byte[]> record : records.records(partition)) {
                RecordHandle handle = tracker.register(partition, record.offset());
                if (redo != null && record.offset() >= redo.until()) {
                    refetching.remove(partition); // past what was fetched before: new records
                    redo = null;
                } else if (redo != null && redo.answered(record.offset())) {
                    handle.answered(); // its reply was acknowledged before the partition was fetched again
                    continue;
                }
                if (record.offset() == overLimit && deadLetterFailed) {
                    // As exactly-once mode does: only its offset is committed, so the records after it are served.
                    log.error("{}: {}-{}@{} could not even be dead-lettered ({} failed tries; the last: {}); giving it "
                            + "up unanswered so that the records after it are served: fix the dead-letter topic", topic,
                            record.topic(), record.partition(), record.offset(), backoff.failures(),
                            backoff.lastFailure());
                    handle.whenFinal(() -> pipeline.givenUp(record));
                    handle.answered();
                } else if (record.offset() == overLimit) {
                    log.warn("{}: the reply to {}-{}@{} failed {} times (reply.failure.limit {}); dead-lettering it "
                            + "as {}", topic, record.topic(), record.partition(), record.offset(), backoff.failures(),
                            failureLimit, ReplySender.REPLY_FAILED);
                    if (givenUp.isEmpty()) {
                        givenUp = new ArrayList<>();
                    }
                    givenUp.add(Map.entry(new ModelPipeline.Incoming(record, handle), ReplySender.replyFailedMessage(
                            "its reply failed " + failureLimit + " times or more (reply.failure.limit); given up "
                            + "instead of fetched again", backoff.lastFailure())));
                } else {
                    incoming.add(new ModelPipeline.Incoming(record, handle));
                }
            }
        }
        if (!incoming.isEmpty()) {
            pipeline.accept(incoming);
        }
        for (Map.Entry<ModelPipeline.Incoming, String> record : givenUp) {
            pipeline.deadLetter(record.getKey(), ReplySender.REPLY_FAILED, record.getValue());
        }
    }

    private void applyBackpressure() {
        if (!paused && pipeline.full()) {
            consumer.pause(consumer.assignment());
            paused = true;
        } else if (paused && pipeline.queued() < resumeBelow) {
            Set<TopicPartition> resume = new HashSet<>(consumer.paused());
            resume.removeAll(rewinding);
            consumer.resume(resume);
            paused = false;
        }
    }

    /**
     * Fetches abandoned records again while this consumer owns their partition; otherwise the partition's
     * commits would stop at the first one until the next rebalance, and its caller would never be answered.
     * Records after it that were answered already are skipped when they come again ({@link #take}).
     */
    private void rewindAbandoned() {
        for (TopicPartition partition : tracker.withAbandoned()) {
            if (!consumer.assignment().contains(partition)) {
                continue;
            }
            if (rewinding.add(partition)) {
                consumer.pause(List.of(partition));
            }
            if (tracker.inFlight(List.of(partition)) > 0) {
                continue; // seeking now would deliver records still being computed a second time
            }
            OptionalLong from = tracker.lowestPending(partition);
            long now = System.nanoTime();
            RefetchBackoff<Long> backoff = rewindBackoff.computeIfAbsent(partition,
                    p -> new RefetchBackoff<>(RefetchBackoff.MIN_PAUSE_MS));
            if (from.isPresent() && backoff.waiting(from.getAsLong(), now)) {
                continue; // the same record failed again: wait before computing it (and those after it) again
            }
            OffsetTracker.Unanswered unanswered = tracker.unanswered(partition);
            String why = from.isPresent() ? tracker.whyAbandoned(partition, from.getAsLong()) : null;
            tracker.forget(List.of(partition));
            rewinding.remove(partition);
            if (from.isPresent()) {
                // A reply that fails fast would otherwise recompute the partition's tail in a tight loop.
                long pauseMs = backoff.failed(from.getAsLong(), now, why);
                int failures = backoff.failures();
                refetching.put(partition, unanswered);
                consumer.seek(partition, from.getAsLong());
                refetched.incrementAndGet();
                if (failures >= failureLimit) {
                    log.warn("{}: fetching {} again from offset {}, whose reply failed {} times: it is dead-lettered "
                            + "when fetched (reply.failure.limit)", topic, partition, from.getAsLong(), failures);
                } else {
                    log.warn("{}: fetching {} again from offset {}, left unanswered (its reply failed); if it fails "
                            + "again, the next try waits {} ms", topic, partition, from.getAsLong(), pauseMs);
                }
            }
            if (!paused) {
                consumer.resume(List.of(partition));
            }
        }
    }

    private void commitIfDue(boolean now) {
        long nowMs = System.currentTimeMillis();
        if (!now && nowMs - lastCommitMs < commitIntervalMs) {
            return;
        }
        lastCommitMs = nowMs;
        Map<TopicPartition, OffsetAndMetadata> offsets = tracker.committable();
        offsets.keySet().retainAll(consumer.assignment());
        if (offsets.isEmpty()) {
            return;
        }
        consumer.commitAsync(offsets, (committed, error) -> {
            if (error == null) {
                tracker.markCommitted(committed);
            } else {
                log.debug("offset commit for {} failed (will retry): {}", topic, error.toString());
            }
        });
    }

    private void updateLag() {
        long total = 0;
        for (TopicPartition partition : consumer.assignment()) {
            OptionalLong partitionLag = consumer.currentLag(partition);
            if (partitionLag.isPresent()) {
                total += partitionLag.getAsLong();
            }
        }
        lag = total;
    }

    /** On this thread, after the loop: finish queued batches, wait for their replies, commit, close. */
    private void shutdown() {
        if (crashed) {
            pipeline.abandonQueued(r -> true);
            consumer.close(Duration.ZERO);
            return;
        }
        // One deadline for the whole drain, so a dead broker cannot stretch shutdown past what an orchestrator
        // waits (kinfer up: 45 s; Kubernetes: terminationGracePeriodSeconds).
        long deadline = System.currentTimeMillis() + drainTimeoutMs;
        try {
            pipeline.drain(drainTimeoutMs);
            while (tracker.inFlight(consumer.assignment()) > 0 && System.currentTimeMillis() < deadline) {
                TimeUnit.MILLISECONDS.sleep(10);
            }
            Map<TopicPartition, OffsetAndMetadata> offsets = tracker.committable();
            offsets.keySet().retainAll(consumer.assignment());
            if (!offsets.isEmpty()) {
                commitSync(offsets, Duration.ofSeconds(5));
                tracker.markCommitted(offsets);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            log.warn("final commit of {} failed; uncommitted records will be delivered again: {}", topic, e.toString());
        } finally {
            drained = true;
            try {
                consumer.close(Duration.ofSeconds(5));
            } catch (RuntimeException e) {
                log.warn("closing the consumer of {} failed: {}", topic, e.toString());
            }
        }
    }

    /**
     * Commits even with a wakeup pending: close() wakes the consumer up to end a poll, but when the thread was not
     * polling (handing a poll to the pipeline, say) the wakeup waits for the next blocking call, which is this one.
     * The first try then throws it, which uses it up, and the second commits.
     */
    private void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        try {
            consumer.commitSync(offsets, timeout);
        } catch (WakeupException e) {
            consumer.commitSync(offsets, timeout);
        }
    }

    /** Stops polling, finishes queued work, commits and closes; returns once done (or after the drain timeout). */
    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            stopped.await(drainTimeoutMs + 30_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops at once without finishing queued work or committing anything more, as a crash would; queued records
     * are abandoned. For tests of what a crash loses (real crashes are tested with killed processes).
     */
    @Override
    public void crash() {
        crashed = true;
        running = false;
        consumer.wakeup();
        try {
            stopped.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static List<String> sorted(Collection<TopicPartition> partitions) {
        return partitions.stream().map(TopicPartition::toString).sorted().toList();
    }

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (paused && !partitions.isEmpty()) {
                // Taken while the queue is full: they wait like the others, or they would fill it past its bound.
                consumer.pause(partitions);
            }
            assigned = !consumer.assignment().isEmpty();
            if (!partitions.isEmpty()) {
                log.info("{}: assigned {} (now holds {})", topic, partitions, sorted(consumer.assignment()));
            }
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            Set<TopicPartition> revoked = new HashSet<>(partitions);
            rewinding.removeAll(revoked);
            rewindBackoff.keySet().removeAll(revoked);
            refetching.keySet().removeAll(revoked);
            if (crashed || drained) {
                tracker.forget(revoked);
                return;
            }
            int dropped = pipeline.abandonQueued(r -> revoked.contains(new TopicPartition(r.topic(), r.partition())));
            long deadline = System.currentTimeMillis() + Math.min(drainTimeoutMs, 10_000);
            try {
                while (tracker.inFlight(revoked) > 0 && System.currentTimeMillis() < deadline) {
                    TimeUnit.MILLISECONDS.sleep(5);
                }
                Map<TopicPartition, OffsetAndMetadata> offsets = tracker.committable(revoked);
                if (!offsets.isEmpty()) {
                    commitSync(offsets, Duration.ofSeconds(10));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                log.warn("{}: commit on revocation failed; the next owner repeats those records: {}", topic,
                        e.toString());
            }
            tracker.forget(revoked);
            assigned = !consumer.assignment().isEmpty() && !revoked.containsAll(consumer.assignment());
            log.info("{}: revoked {} ({} queued requests left to the next owner; now holds {})", topic, partitions,
                    dropped, sorted(consumer.assignment().stream().filter(p -> !revoked.contains(p)).toList()));
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            Set<TopicPartition> lost = new HashSet<>(partitions);
            rewinding.removeAll(lost);
            rewindBackoff.keySet().removeAll(lost);
            refetching.keySet().removeAll(lost);
            pipeline.abandonQueued(r -> lost.contains(new TopicPartition(r.topic(), r.partition())));
            tracker.forget(lost);
            assigned = false;
            log.warn("{}: lost {} (session expired?)", topic, partitions);
        }
    }
}
