package io.kinfer.worker;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Predicate;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.ErrorInfo;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.RequestEnvelope;
import io.kinfer.protocol.Timings;
import io.kinfer.worker.batch.BatchSettings;
import io.kinfer.worker.batch.Batcher;
import io.kinfer.worker.intake.RecordHandle;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelConfig;
import io.kinfer.worker.model.ModelException;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.PreparedRequest;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything between the consumer and the reply for one model: decode and validate each record, pick the version,
 * answer from the cache or queue it on that version's {@link Batcher}, run batches on ONNX Runtime, reply.
 * The latest version in the repository serves requests that name none; a new version is loaded beside the old
 * one, takes over, and the old one finishes what it had queued before it is closed.
 */
public final class ModelPipeline implements AutoCloseable {

    /** A record fresh from Kafka and how to report it finished. */
    public record Incoming(ConsumerRecord<byte[], byte[]> record, RecordHandle handle) {
    }

    private static final Logger log = LoggerFactory.getLogger(ModelPipeline.class);

    private final String model;
    private final ModelRepository repository;
    private final WorkerConfig config;
    private final JsonCodec codec;
    private final Responder responder;
    private final WorkerMetrics metrics;
    private final String workerId;
    private final String defaultReplyTopic;
    private final ConcurrentHashMap<String, VersionRuntime> versions = new ConcurrentHashMap<>();
    private volatile VersionRuntime latest;

    ModelPipeline(String model, ModelRepository repository, WorkerConfig config, JsonCodec codec, Responder responder,
                  WorkerMetrics metrics, String workerId) {
        this.model = model;
        this.repository = repository;
        this.config = config;
        this.codec = codec;
        this.responder = responder;
        this.metrics = metrics;
        this.workerId = workerId;
        this.defaultReplyTopic = config.getString(WorkerConfig.REPLY_DEFAULT_TOPIC);
    }

    public String model() {
        return model;
    }

    /** Loads the latest version; fails if the model has none that loads. */
    void start() throws ModelException {
        String version = repository.latestVersion(model)
                .orElseThrow(() -> new ModelException("model " + model + " has no version in the repository"));
        VersionRuntime runtime = load(version);
        versions.put(version, runtime);
        latest = runtime;
        log.info("model {} version {} ready (max batch {}, queue delay {} us, {} instance(s))", model, version,
                runtime.settings.maxBatchSize(), TimeUnit.NANOSECONDS.toMicros(runtime.settings.maxQueueDelayNanos()),
                runtime.settings.instances());
    }

    /**
     * Checks the repository: loads a newer version and switches to it, and retires versions that are gone.
     * Runs on the worker's scheduler thread, never on the consumer thread.
     */
    void refresh() {
        Optional<String> newest = repository.latestVersion(model);
        if (newest.isEmpty() || latest == null || newest.get().equals(latest.version)) {
            return;
        }
        VersionRuntime previous = latest;
        try {
            VersionRuntime next = load(newest.get());
            versions.put(next.version, next);
            latest = next;
            log.info("model {}: switched from version {} to {}", model, previous.version, next.version);
        } catch (ModelException | RuntimeException e) {
            log.error("model {}: version {} failed to load; staying on {}: {}", model, newest.get(), previous.version,
                    e.getMessage());
            return;
        }
        versions.remove(previous.version);
        previous.retire(config.getLong(WorkerConfig.SHUTDOWN_TIMEOUT_MS));
    }

    private VersionRuntime load(String version) throws ModelException {
        ModelConfig modelConfig = repository.config(model);
        BatchSettings settings = config.batchSettings(modelConfig.batching());
        LoadedModel loaded = repository.load(model, version, config.onnxSettings(settings.instances()));
        boolean cache = config.getBoolean(WorkerConfig.CACHE_ENABLED) && config.getLong(WorkerConfig.CACHE_MAX_ENTRIES) > 0;
        return new VersionRuntime(loaded, settings, cache ? config.getLong(WorkerConfig.CACHE_MAX_ENTRIES) : 0);
    }

    /** The versions being served, for the catalog. */
    public List<ModelMetadata> metadata() {
        List<ModelMetadata> list = new ArrayList<>();
        versions.values().forEach(v -> list.add(v.metadata));
        list.sort((a, b) -> Long.compare(Long.parseLong(a.version()), Long.parseLong(b.version())));
        return list;
    }

    public boolean ready() {
        return latest != null;
    }

    /** Current levels and running totals over every served version, for the catalog announcement. */
    public Map<String, Double> stats() {
        Map<String, Double> stats = new TreeMap<>();
        stats.put("queue_depth", (double) queued());
        versions.values().forEach(v -> v.meters.addTotals(stats));
        return stats;
    }

    /** Requests queued over all versions. */
    public int queued() {
        return versions.values().stream().mapToInt(v -> v.batcher.queued()).sum();
    }

    /** Whether the latest version's queue is full (the consumer then pauses fetching). */
    public boolean full() {
        VersionRuntime current = latest;
        return current != null && current.batcher.full();
    }

    /**
     * Takes one poll's records: decodes, validates, tokenizes and queues them, answering at once those that are
     * invalid, expired or cached. Runs on the consumer thread while batches compute on theirs.
     */
    public void accept(List<Incoming> records) {
        long nowNanos = System.nanoTime();
        long nowMs = System.currentTimeMillis();
        Map<VersionRuntime, List<WorkItem>> queued = new IdentityHashMap<>();
        for (Incoming incoming : records) {
            admit(incoming, nowNanos, nowMs, queued);
        }
        queued.forEach(this::enqueue);
    }

    private void enqueue(VersionRuntime runtime, List<WorkItem> items) {
        for (WorkItem rejected : runtime.batcher.enqueue(items)) {
            if (runtime.retired && rejected.pinned()) {
                fail(runtime, rejected, ErrorCode.UNAVAILABLE, "model " + model + " version " + runtime.version
                        + " was retired; retry");
            } else if (runtime.retired) {
                // Switched versions between admission and queueing: admitted again from the record, the request
                // is prepared by (and queued for) the new latest version, not sent there with the old one's tokens.
                Map<VersionRuntime, List<WorkItem>> again = new IdentityHashMap<>();
                admit(new Incoming(rejected.record(), rejected.handle()), System.nanoTime(),
                        System.currentTimeMillis(), again);
                again.forEach(this::enqueue);
            } else {
                fail(runtime, rejected, ErrorCode.OVERLOADED, "the queue of model " + model + " is full ("
                        + runtime.settings.maxQueueSize() + " requests); retry later");
            }
        }
    }

    /**
     * Adds the record's work item to {@code queued} under the version that prepared it, or answers (or
     * dead-letters) the record at once.
     */
    private void admit(Incoming incoming, long nowNanos, long nowMs, Map<VersionRuntime, List<WorkItem>> queued) {
        ConsumerRecord<byte[], byte[]> record = incoming.record();
        String fallbackId = record.key() != null && record.key().length > 0 && record.key().length <= 256
                ? new String(record.key(), StandardCharsets.UTF_8)
                : record.topic() + "-" + record.partition() + "@" + record.offset();
        InferenceRequest request;
        try {
            request = codec.decodeRequest(record.value());
        } catch (ProtocolException e) {
            reject(incoming, fallbackId, null, e);
            return;
        }
        RequestEnvelope envelope;
        try {
            envelope = KinferHeaders.envelope(record.headers(), request.id(), defaultReplyTopic);
        } catch (ProtocolException e) {
            reject(incoming, request.id(), request, e);
            return;
        }
        if (!request.model().equals(model)) {
            reject(incoming, request.id(), request, new ProtocolException(ErrorCode.INVALID_REQUEST,
                    "this topic serves model " + model + ", the request names " + request.model()));
            return;
        }
        VersionRuntime runtime;
        PreparedRequest prepared = null;
        while (true) {
            runtime = request.version() == null ? latest : versions.get(request.version());
            if (runtime == null) {
                reject(incoming, request.id(), request, new ProtocolException(ErrorCode.UNKNOWN_VERSION,
                        "model " + model + " has no version " + request.version() + "; served: " + versions.keySet()));
                return;
            }
            if (envelope.expiredAt(nowMs)) {
                runtime.meters.outcome(ErrorCode.EXPIRED.wireName());
                responder.answer(model, record, incoming.handle(), envelope, InferenceReply.failure(request.id(),
                        model, runtime.version, new ErrorInfo(ErrorCode.EXPIRED, "the deadline passed "
                                + (nowMs - envelope.deadlineEpochMs()) + " ms before the worker received the request"),
                        new Timings(0, 0, 0, workerId, false)));
                return;
            }
            // A retired version closes its model (tokenizer, session) once its queue is done; preparing on it
            // meanwhile would use freed native memory. The read lock keeps it open for this call; one closed
            // already sends the request to whatever now serves it.
            ProtocolException refused = null;
            runtime.inUse.readLock().lock();
            try {
                if (runtime.closed) {
                    continue;
                }
                prepared = runtime.model.prepare(request);
                if (prepared.items() > runtime.settings.maxBatchSize()) {
                    refused = new ProtocolException(ErrorCode.INPUT_TOO_LARGE, "the request has " + prepared.items()
                            + " rows; model " + model + " takes at most " + runtime.settings.maxBatchSize()
                            + " per call");
                }
            } catch (ProtocolException e) {
                refused = e;
            } finally {
                runtime.inUse.readLock().unlock();
            }
            if (refused != null) {
                // Answered outside the lock: the reply and the dead letter may wait on Kafka.
                reject(incoming, request.id(), request.withVersion(runtime.version), refused);
                return;
            }
            break;
        }
        if (runtime.cache != null && prepared.cacheKey() != null) {
            List<Output> cached = runtime.cache.getIfPresent(prepared.cacheKey());
            runtime.meters.cache(cached != null);
            if (cached != null) {
                runtime.meters.outcome(WorkerMetrics.SUCCESS);
                responder.answer(model, record, incoming.handle(), envelope, InferenceReply.success(request.id(),
                        model, runtime.version, cached, new Timings(0, 0, 0, workerId, true)));
                return;
            }
        }
        long deadlineNanos = envelope.hasDeadline()
                ? deadlineNanos(nowNanos, envelope.deadlineEpochMs() - nowMs) : Long.MAX_VALUE;
        queued.computeIfAbsent(runtime, v -> new ArrayList<>()).add(new WorkItem(record, incoming.handle(), envelope,
                request.withVersion(runtime.version), request.version() != null, prepared, nowNanos, deadlineNanos,
                envelope.priority()));
    }

    /** A far deadline (Long.MAX_VALUE ms, a natural "never") saturates instead of overflowing into the past. */
    static long deadlineNanos(long nowNanos, long remainingMs) {
        try {
            return Math.addExact(nowNanos, TimeUnit.MILLISECONDS.toNanos(remainingMs));
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    private void reject(Incoming incoming, String id, InferenceRequest request, ProtocolException e) {
        ConsumerRecord<byte[], byte[]> record = incoming.record();
        String version = request == null ? null : request.version();
        if (version != null && versions.containsKey(version)) {
            versions.get(version).meters.outcome(e.code().wireName());
        } else {
            metrics.unroutedRequest(model, e.code().wireName());
        }
        InferenceReply reply = InferenceReply.failure(id, model, version, e.toErrorInfo(),
                new Timings(0, 0, 0, workerId, false));
        responder.reject(model, record, incoming.handle(),
                KinferHeaders.bestEffortReplyAddress(record.headers(), id, defaultReplyTopic), reply);
    }

    private void fail(VersionRuntime runtime, WorkItem item, ErrorCode code, String message) {
        runtime.meters.outcome(code.wireName());
        responder.answer(model, item.record(), item.handle(), item.envelope(), InferenceReply.failure(
                item.request().id(), model, runtime.version, new ErrorInfo(code, message),
                new Timings(0, 0, 0, workerId, false)));
    }

    /**
     * Removes queued (not yet running) requests whose record matches, e.g. those of revoked partitions, and marks
     * them abandoned: the partition's next owner computes them.
     */
    public int abandonQueued(Predicate<ConsumerRecord<byte[], byte[]>> condition) {
        int removed = 0;
        for (VersionRuntime runtime : versions.values()) {
            for (WorkItem item : runtime.batcher.remove(w -> condition.test(w.record()))) {
                item.handle().abandoned();
                removed++;
            }
        }
        return removed;
    }

    /** Finishes what is queued (up to the timeout) and abandons the rest; for shutdown. */
    public void drain(long timeoutMs) {
        for (VersionRuntime runtime : versions.values()) {
            runtime.drain(timeoutMs);
        }
    }

    @Override
    public void close() {
        for (VersionRuntime runtime : versions.values()) {
            runtime.drain(0);
            runtime.model.close();
        }
        versions.clear();
        latest = null;
    }

    /** One loaded version: its model, batcher, cache and meters. */
    private final class VersionRuntime implements Batcher.Runner<WorkItem> {
        final String version;
        final LoadedModel model;
        final ModelMetadata metadata;
        final BatchSettings settings;
        final Batcher<WorkItem> batcher;
        final Cache<Object, List<Output>> cache;
        final WorkerMetrics.VersionMeters meters;
        volatile boolean retired;
        /** Set, under the write lock, when the model is closed; preparing checks it under the read lock. */
        volatile boolean closed;
        final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();

        VersionRuntime(LoadedModel model, BatchSettings settings, long cacheEntries) {
            this.model = model;
            this.version = model.metadata().version();
            this.metadata = model.metadata().withMaxBatchSize(settings.maxBatchSize());
            this.settings = settings;
            this.cache = cacheEntries > 0 ? Caffeine.newBuilder().maximumSize(cacheEntries).build() : null;
            this.meters = metrics.version(ModelPipeline.this.model, version);
            this.batcher = new Batcher<>(ModelPipeline.this.model + "-" + version, settings, System::nanoTime, this);
            metrics.gauge("kinfer.queue.depth", "Requests queued for a batch", meters.tags(), batcher::queued);
            metrics.gauge("kinfer.batch.call.cost.tokens", "What one model call costs in padded tokens, learned "
                    + "from past batches (NaN until known); pad-aware splitting uses it", meters.tags(),
                    batcher::callCostTokens);
            batcher.start();
        }

        @Override
        public void run(List<WorkItem> batch) {
            int[] answered = {0};
            try {
                runAndAnswer(batch, answered);
            } catch (Throwable e) {
                // Whatever broke (an OutOfMemoryError on a large batch, a bug in splitting outputs), every request
                // not yet answered gets an error reply: none is left waiting for a redelivery that never comes.
                log.error("model {} version {}: a batch of {} requests failed", ModelPipeline.this.model, version,
                        batch.size(), e);
                for (WorkItem item : batch.subList(answered[0], batch.size())) {
                    failOrAbandon(item);
                }
            }
        }

        /** Computes and answers the batch, counting in answered[0] the requests answered so far. */
        private void runAndAnswer(List<WorkItem> batch, int[] answered) {
            long started = System.nanoTime();
            List<PreparedRequest> prepared = new ArrayList<>(batch.size());
            int rows = 0;
            for (WorkItem item : batch) {
                prepared.add(item.prepared());
                rows += item.items();
            }
            List<List<Output>> outputs;
            // Held while computing too: retiring closes the model only once no batch runs on it.
            inUse.readLock().lock();
            try {
                outputs = model.infer(prepared);
            } catch (ModelException | RuntimeException e) {
                log.warn("model {} version {}: a batch of {} rows failed: {}", ModelPipeline.this.model, version, rows,
                        e.getMessage());
                for (WorkItem item : batch) {
                    fail(this, item, ErrorCode.INTERNAL, "the model failed on this batch");
                    answered[0]++;
                }
                return;
            } finally {
                inUse.readLock().unlock();
            }
            long took = System.nanoTime() - started;
            meters.batch(rows, took);
            double inferenceMs = took / 1e6;
            for (int i = 0; i < batch.size(); i++) {
                WorkItem item = batch.get(i);
                long waited = started - item.arrivalNanos();
                meters.queued(waited);
                meters.outcome(WorkerMetrics.SUCCESS);
                if (cache != null && item.prepared().cacheKey() != null) {
                    cache.put(item.prepared().cacheKey(), outputs.get(i));
                }
                responder.answer(ModelPipeline.this.model, item.record(), item.handle(), item.envelope(),
                        InferenceReply.success(item.request().id(), ModelPipeline.this.model, version, outputs.get(i),
                                new Timings(waited / 1e6, inferenceMs, rows, workerId, false)));
                answered[0]++;
            }
        }

        private void failOrAbandon(WorkItem item) {
            try {
                fail(this, item, ErrorCode.INTERNAL, "the worker failed on this batch");
            } catch (Throwable again) {
                // Not even an error reply could be started: leave the record for redelivery.
                item.handle().abandoned();
            }
        }

        @Override
        public void expired(List<WorkItem> requests) {
            long now = System.currentTimeMillis();
            for (WorkItem item : requests) {
                fail(this, item, ErrorCode.EXPIRED, "the deadline passed "
                        + Math.max(0, now - item.envelope().deadlineEpochMs()) + " ms ago, before the request was computed");
            }
        }

        void drain(long timeoutMs) {
            try {
                for (WorkItem left : batcher.drain(timeoutMs, TimeUnit.MILLISECONDS)) {
                    left.handle().abandoned();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** Finishes its queue on a background thread, then closes the model. */
        void retire(long timeoutMs) {
            retired = true;
            Thread retiring = new Thread(() -> {
                drain(timeoutMs);
                inUse.writeLock().lock();
                try {
                    closed = true;
                    model.close();
                } finally {
                    inUse.writeLock().unlock();
                }
                metrics.registry().find("kinfer.queue.depth").tags(meters.tags()).meters()
                        .forEach(metrics.registry()::remove);
                log.info("model {} version {} retired", ModelPipeline.this.model, version);
            }, "kinfer-retire-" + ModelPipeline.this.model + "-" + version);
            retiring.setDaemon(true);
            retiring.start();
        }
    }
}
