package io.kinfer.gateway;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ModelAnnouncement;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What models exist, read from the workers' announcements on the compacted catalog topic. A model is known once
 * any worker announced it (known models stay known while the gateway runs, so a rolling restart of the last
 * worker does not turn into 404s); it is ready while a fresh heartbeat exists. The latest version is the highest
 * one any live worker serves.
 */
public final class ModelCatalog implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ModelCatalog.class);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final JsonCodec codec = new JsonCodec();
    private final LongSupplier clock;
    private final ConcurrentHashMap<String, ModelAnnouncement> announcements = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, List<ModelMetadata>> lastKnown = new ConcurrentHashMap<>();
    private final CountDownLatch caughtUp = new CountDownLatch(1);
    /** Counted down on close, to end a failed reader's pause at once. */
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Thread thread;
    private volatile boolean running = true;

    public ModelCatalog(Map<String, Object> consumerProperties) {
        this(consumerProperties, System::currentTimeMillis);
    }

    ModelCatalog(Map<String, Object> consumerProperties, LongSupplier clock) {
        Map<String, Object> props = new HashMap<>(consumerProperties);
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // A kafka.client.id passes through here too (quotas, ACL audits), as on every other client.
        props.putIfAbsent(ConsumerConfig.CLIENT_ID_CONFIG, "kinfer-catalog-" + Long.toString(System.nanoTime(), 36));
        this.consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.clock = clock;
        this.thread = new Thread(this::run, "kinfer-catalog");
        this.thread.setDaemon(true);
    }

    /** Starts reading from the beginning; returns once caught up with what was written so far (or the timeout). */
    public ModelCatalog start(Duration waitForCatchUp) {
        thread.start();
        try {
            if (!caughtUp.await(waitForCatchUp.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("model catalog not caught up within {}; models may be reported unknown for a moment",
                        waitForCatchUp);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return this;
    }

    /**
     * Reads the catalog until closed. A Kafka call that gives up (a broker down while the reader starts or catches
     * up: partitionsFor, endOffsets and position time out) starts the reading over after a pause; the reader must
     * not end, or the gateway would answer 404 for every model until restarted.
     */
    private void run() {
        long backoffMs = 500;
        try {
            while (running) {
                try {
                    read();
                } catch (WakeupException e) {
                    return;
                } catch (RuntimeException e) {
                    if (!running) {
                        return;
                    }
                    log.warn("model catalog reader failed, reading again in {} ms: {}", backoffMs, e.toString());
                    closed.await(backoffMs, TimeUnit.MILLISECONDS);
                    backoffMs = Math.min(backoffMs * 2, 10_000);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            caughtUp.countDown();
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** Assigns the catalog's partitions, reads them from the beginning, and goes on reading. */
    private void read() {
        List<TopicPartition> partitions = new ArrayList<>();
        while (running && partitions.isEmpty()) {
            List<PartitionInfo> infos = consumer.partitionsFor(Topics.CATALOG, Duration.ofSeconds(5));
            if (infos != null) {
                infos.forEach(info -> partitions.add(new TopicPartition(Topics.CATALOG, info.partition())));
            }
        }
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
        while (running) {
            for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                apply(record);
            }
            if (caughtUp.getCount() > 0 && end.entrySet().stream()
                    .allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
                caughtUp.countDown();
            }
        }
    }

    private void apply(ConsumerRecord<byte[], byte[]> record) {
        String key = record.key() == null ? "" : new String(record.key(), StandardCharsets.UTF_8);
        if (record.value() == null) {
            announcements.remove(key);
            return;
        }
        try {
            ModelAnnouncement announcement = codec.decodeAnnouncement(record.value());
            announcements.put(key, announcement);
            if (!announcement.versions().isEmpty()) {
                lastKnown.put(announcement.model(), announcement.versions());
            }
        } catch (ProtocolException e) {
            log.debug("ignoring an unreadable catalog record {}: {}", key, e.getMessage());
        }
    }

    /** Whether any worker ever announced the model. */
    public boolean known(String model) {
        return lastKnown.containsKey(model);
    }

    /** Whether a worker with a fresh heartbeat serves the model (and the version, when given). */
    public boolean ready(String model, String version) {
        long now = clock.getAsLong();
        return announcements.values().stream()
                .filter(a -> a.model().equals(model) && a.aliveAt(now))
                .anyMatch(a -> version == null || a.versions().stream().anyMatch(v -> v.version().equals(version)));
    }

    /** The metadata of a version (or of the latest one, for null). */
    public Optional<ModelMetadata> metadata(String model, String version) {
        List<ModelMetadata> versions = versions(model);
        if (version == null) {
            return versions.isEmpty() ? Optional.empty() : Optional.of(versions.get(versions.size() - 1));
        }
        return versions.stream().filter(v -> v.version().equals(version)).findFirst();
    }

    /**
     * Versions served by live workers (or, when none is live, the last ones announced), oldest first. Where workers
     * serve a version with different {@code max_batch_size}s, the largest (0, not announced, counts as no limit):
     * the gateway refuses only what every worker would refuse.
     */
    public List<ModelMetadata> versions(String model) {
        long now = clock.getAsLong();
        TreeMap<Long, ModelMetadata> byVersion = new TreeMap<>();
        announcements.values().stream()
                .filter(a -> a.model().equals(model) && a.aliveAt(now))
                .flatMap(a -> a.versions().stream())
                .forEach(v -> byVersion.merge(versionNumber(v.version()), v,
                        (one, other) -> batchLimit(other) > batchLimit(one) ? other : one));
        if (byVersion.isEmpty()) {
            lastKnown.getOrDefault(model, List.of()).forEach(v -> byVersion.put(versionNumber(v.version()), v));
        }
        return List.copyOf(byVersion.values());
    }

    /** The announcements of live workers, for the status page. */
    public List<ModelAnnouncement> liveAnnouncements() {
        long now = clock.getAsLong();
        return announcements.values().stream().filter(a -> a.aliveAt(now)).toList();
    }

    /** Every known model, sorted. */
    public List<String> models() {
        return lastKnown.keySet().stream().sorted().toList();
    }

    /** Live workers per model, for the status page. */
    public Map<String, List<String>> workers() {
        long now = clock.getAsLong();
        Map<String, List<String>> workers = new TreeMap<>();
        announcements.values().stream()
                .filter(a -> a.aliveAt(now))
                .sorted(Comparator.comparing(ModelAnnouncement::worker))
                .forEach(a -> workers.computeIfAbsent(a.model(), m -> new ArrayList<>()).add(a.worker()));
        return workers;
    }

    private static long batchLimit(ModelMetadata version) {
        return version.maxBatchSize() <= 0 ? Long.MAX_VALUE : version.maxBatchSize();
    }

    private static long versionNumber(String version) {
        try {
            return Long.parseLong(version);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    @Override
    public void close() {
        running = false;
        closed.countDown();
        consumer.wakeup();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
