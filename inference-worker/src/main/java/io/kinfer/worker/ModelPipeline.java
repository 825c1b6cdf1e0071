package io.kinfer.worker;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Predicate;
import java.util.stream.Stream;

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
import io.kinfer.worker.intake.Pipeline;
import io.kinfer.worker.intake.RecordHandle;
import io.kinfer.worker.model.BatchIsolation;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelConfig;
import io.kinfer.worker.model.ModelException;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.PreparedRequest;
import io.kinfer.worker.reply.ReplySender;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.config.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything between the consumer and the reply for one model: decode and validate each record, pick the version,
 * answer from the cache or queue it on that version's {@link Batcher}, run batches on ONNX Runtime, reply.
 * The latest version in the repository serves requests that name none; a new version is loaded beside the old
 * one, takes over, and the old one finishes what it had queued before it is closed.
 */
public final class ModelPipeline implements Pipeline, AutoCloseable {

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
    /**
     * Versions swapped out whose queues still finish. Counted in {@link #queued()} and reached by
     * {@link #abandonQueued}: a partition revoked during a swap leaves their requests to its next owner too.
     */
    private final Set<VersionRuntime> retiring = ConcurrentHashMap.newKeySet();
    /**
     * Set for good once a retired version's batch thread had failed in its own code: retiring the version must not
     * take the failure (and the restart it asks for) with it.
     */
    private volatile boolean retiredBatcherFailed;

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

    @Override
    public String model() {
        return model;
    }

    /** Loads the latest version; fails if the model has none that loads. */
    void start() throws ModelException {
        String version = repository.latestVersion(model)
                .orElseThrow(() -> new ModelException("model " + model + " has no version in the repository"));
        VersionRuntime runtime;
        try {
            runtime = load(version);
        } catch (ModelException e) {
            // The worker stops on it (as Triton does by default): the line must say which model and version.
            throw new ModelException("model " + model + " version " + version + ": " + e.getMessage(), e.getCause());
        }
        versions.put(version, runtime);
        latest = runtime;
        log.info("model {} version {} ready (max batch {}, queue delay {} us, {} instance(s))", model, version,
                runtime.model.batches() ? runtime.settings.maxBatchSize() : "none: each request alone",
                TimeUnit.NANOSECONDS.toMicros(runtime.settings.maxQueueDelayNanos()), runtime.settings.instances());
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
            VersionRuntime next;
            // Under the lock a retiring version takes to let go of its meters: a version rolled back to while
            // its old runtime still retires shares those meters (one per model and version), which must stay.
            synchronized (versions) {
                next = load(newest.get());
                versions.put(next.version, next);
            }
            latest = next;
            log.info("model {}: switched from version {} to {}", model, previous.version, next.version);
        } catch (ModelException | RuntimeException e) {
            log.error("model {}: version {} failed to load; staying on {}: {}", model, newest.get(), previous.version,
                    e.getMessage());
            return;
        }
        previous.keepFailure(); // before it leaves the served versions, so that alive() never misses it
        retiring.add(previous); // before it leaves the served versions, so that abandonQueued() never misses it
        versions.remove(previous.version);
        previous.retire(config.getLong(WorkerConfig.SHUTDOWN_TIMEOUT_MS));
    }

    private VersionRuntime load(String version) throws ModelException {
        ModelConfig modelConfig = repository.config(model);
        BatchSettings settings;
        try {
            settings = config.batchSettings(modelConfig.batching());
        } catch (ConfigException e) {
            // Not kept as the cause: the CLI's error line would show the bare setting, without the model.
            throw new ModelException("config.json: " + e.getMessage());
        }
        if (modelConfig.isText() && modelConfig.batching().unbatched()) {
            throw new ModelException("config.json: batching.max_batch_size 0 (no batching) is for tensor models; a "
                    + "text model's texts always batch");
        }
        LoadedModel loaded = repository.load(model, version, config.onnxSettings(settings.instances()));
        try {
            loaded.checkMaxBatchSize(settings.maxBatchSize());
        } catch (ModelException e) {
            loaded.close();
            throw e;
        }
        boolean cache = config.getBoolean(WorkerConfig.CACHE_ENABLED) && config.getLong(WorkerConfig.CACHE_MAX_BYTES) > 0;
        return new VersionRuntime(loaded, settings, modelConfig.batching().maxBatchSize(),
                cache ? config.getLong(WorkerConfig.CACHE_MAX_BYTES) : 0);
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

    /**
     * False once a batch thread met an error of its own (not the model's), in a version served now or retired
     * since: the worker should be restarted.
     */
    public boolean alive() {
        return !retiredBatcherFailed && versions.values().stream().allMatch(v -> v.batcher.alive());
    }

    /** Current levels and running totals over every served version, for the catalog announcement. */
    public Map<String, Double> stats() {
        Map<String, Double> stats = new TreeMap<>();
        stats.put("queue_depth", (double) queued());
        versions.values().forEach(v -> v.meters.addTotals(stats));
        return stats;
    }

    /**
     * What the latest version's result cache holds in estimated bytes, once its pending evictions are done; empty
     * when it has no cache. For tests.
     */
    OptionalLong cacheBytes() {
        VersionRuntime current = latest;
        if (current == null || current.cache == null) {
            return OptionalLong.empty();
        }
        current.cache.cleanUp();
        return OptionalLong.of(current.cacheBytes());
    }

    /** Requests queued over all versions, retiring ones included. */
    @Override
    public int queued() {
        return withRetiring().mapToInt(v -> v.batcher.queued()).sum();
    }

    /** The served versions and those retiring, each once (a version is briefly in both while it is swapped out). */
    private Stream<VersionRuntime> withRetiring() {
        return Stream.concat(versions.values().stream(), retiring.stream()).distinct();
    }

    /**
     * Whether the consumer should pause fetching: the latest version's queue is full and the policy is to pause.
     * Under {@code batch.queue.full.policy=reject} it never is: requests beyond the queue size are answered
     * {@code overloaded} instead.
     */
    @Override
    public boolean full() {
        VersionRuntime current = latest;
        return current != null && current.batcher.full();
    }

    /**
     * Takes one poll's records: decodes, validates, tokenizes and queues them, answering at once those that are
     * invalid, expired or cached. Runs on the consumer thread while batches compute on theirs.
     */
    @Override
    public void accept(List<Incoming> records) {
        long nowNanos = System.nanoTime();
        long nowMs = System.currentTimeMillis();
        Map<VersionRuntime, List<WorkItem>> queued = new IdentityHashMap<>();
        for (Incoming incoming : records) {
            try {
                admit(incoming, nowNanos, nowMs, queued);
            } catch (RuntimeException e) {
                // One record's unexpected failure (a native tokenizer error, a bug) must cost neither its poll-mates
                // their place in the queue nor the intake its thread: that record alone is answered internal.
                refuse(incoming, e);
            }
        }
        queued.forEach(this::enqueue);
    }

    private void refuse(Incoming incoming, RuntimeException e) {
        ConsumerRecord<byte[], byte[]> record = incoming.record();
        log.warn("model {}: preparing {}-{}@{} failed unexpectedly; answering it internal", model, record.topic(),
                record.partition(), record.offset(), e);
        try {
            reject(incoming, fallbackId(record), null, new ProtocolException(ErrorCode.INTERNAL,
                    "the worker failed to prepare this request"));
        } catch (RuntimeException again) {
            incoming.handle().abandoned(); // not even an error reply could be started: left for redelivery
        }
    }

    /** The record's key as the request id when its body cannot be read, else its position. */
    private static String fallbackId(ConsumerRecord<byte[], byte[]> record) {
        return record.key() != null && record.key().length > 0 && record.key().length <= 256
                ? new String(record.key(), StandardCharsets.UTF_8)
                : record.topic() + "-" + record.partition() + "@" + record.offset();
    }

    @Override
    public void deadLetter(Incoming incoming, String reason, String message) {
        responder.deadLetter(model, incoming.record(), incoming.handle(), reason, message);
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
                Incoming incoming = new Incoming(rejected.record(), rejected.handle());
                try {
                    admit(incoming, System.nanoTime(), System.currentTimeMillis(), again);
                } catch (RuntimeException e) {
                    // As in accept(): one record's unexpected failure must not kill the consumer thread.
                    refuse(incoming, e);
                }
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
        InferenceRequest request;
        try {
            request = codec.decodeRequest(record.value());
        } catch (ProtocolException e) {
            reject(incoming, fallbackId(record), null, e);
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
        Optional<String> undeliverable = responder.knownUndeliverable(envelope, ReplySender.writtenAt(record));
        if (undeliverable.isPresent()) {
            // Not computed: its answer could only be dead-lettered (as it would be after computing it). Sent from
            // here, as an invalid record's dead letter is: a full producer buffer then slows this consumer, the
            // backpressure a backlog of such records needs (from another thread, an unbounded queue of them grew).
            responder.deadLetter(model, record, incoming.handle(), ReplySender.REPLY_UNDELIVERABLE,
                    undeliverable.get());
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
                WorkerMetrics.VersionMeters meters = runtime.meters;
                responder.answer(model, record, incoming.handle(), envelope, InferenceReply.failure(request.id(),
                        model, runtime.version, new ErrorInfo(ErrorCode.EXPIRED, "the deadline passed "
                                + (nowMs - envelope.deadlineEpochMs()) + " ms before the worker received the request"
                                + secondsHint(envelope.deadlineEpochMs())),
                        new Timings(0, 0, 0, workerId, false)), () -> meters.outcome(ErrorCode.EXPIRED.wireName()));
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
                if (runtime.rowLimit > 0 && prepared.items() > runtime.rowLimit) {
                    refused = new ProtocolException(ErrorCode.INPUT_TOO_LARGE, "the request has " + prepared.items()
                            + " rows; model " + model + " takes at most " + runtime.rowLimit + " per call");
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
                responder.answer(model, record, incoming.handle(), envelope, InferenceReply.success(request.id(),
                        model, runtime.version, cached, new Timings(0, 0, 0, workerId, true)), runtime.countSuccess);
                return;
            }
        }
        long deadlineNanos = envelope.hasDeadline()
                ? deadlineNanos(nowNanos, envelope.deadlineEpochMs() - nowMs) : Long.MAX_VALUE;
        queued.computeIfAbsent(runtime, v -> new ArrayList<>()).add(new WorkItem(record, incoming.handle(), envelope,
                request.withVersion(runtime.version), request.version() != null, prepared, nowNanos, deadlineNanos,
                envelope.priority()));
    }

    /**
     * A deadline before 1973 in epoch milliseconds is one in epoch seconds (until the year 5138): said so, since
     * "the deadline passed 1794177222190 ms before" does not tell the sender what it got wrong.
     */
    static String secondsHint(long deadlineEpochMs) {
        return deadlineEpochMs < 100_000_000_000L ? " (kinfer-deadline is in epoch milliseconds; " + deadlineEpochMs
                + " looks like seconds)" : "";
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
        String outcome = e.code().wireName();
        VersionRuntime runtime = version == null ? null : versions.get(version);
        // Counted once its error reply is acknowledged, as every answer is; with no reply address it is only a
        // dead letter (kinfer_dlq_records_total).
        Runnable replied = runtime != null ? () -> runtime.meters.outcome(outcome)
                : () -> metrics.unroutedRequest(model, outcome);
        InferenceReply reply = InferenceReply.failure(id, model, version, e.toErrorInfo(),
                new Timings(0, 0, 0, workerId, false));
        responder.reject(model, record, incoming.handle(),
                KinferHeaders.bestEffortReplyAddress(record.headers(), id, defaultReplyTopic), reply, replied);
    }

    private void fail(VersionRuntime runtime, WorkItem item, ErrorCode code, String message) {
        responder.answer(model, item.record(), item.handle(), item.envelope(), InferenceReply.failure(
                item.request().id(), model, runtime.version, new ErrorInfo(code, message),
                new Timings(0, 0, 0, workerId, false)), () -> runtime.meters.outcome(code.wireName()));
    }

    @Override
    public void givenUp(ConsumerRecord<byte[], byte[]> record) {
        metrics.givenUp(model);
    }

    /**
     * Removes queued (not yet running) requests whose record matches, e.g. those of revoked partitions, and marks
     * them abandoned: the partition's next owner computes them.
     */
    @Override
    public int abandonQueued(Predicate<ConsumerRecord<byte[], byte[]>> condition) {
        int removed = 0;
        for (VersionRuntime runtime : withRetiring().toList()) {
            for (WorkItem item : runtime.batcher.remove(w -> condition.test(w.record()))) {
                item.handle().abandoned();
                removed++;
            }
        }
        return removed;
    }

    /** Finishes what is queued (up to the timeout) and abandons the rest; for shutdown. */
    @Override
    public void drain(long timeoutMs) {
        for (VersionRuntime runtime : versions.values()) {
            runtime.drain(timeoutMs);
        }
    }

    /**
     * How long closing waits for a batch that outlasted the drain (a slow model; share mode, where an intake waits
     * only for its own poll; {@link InferenceWorker#crash()}) before leaving its session open instead.
     */
    static final long CLOSE_WAIT_MS = 5_000;

    @Override
    public void close() {
        for (VersionRuntime runtime : versions.values()) {
            runtime.drain(0);
            if (!runtime.closeModel(CLOSE_WAIT_MS)) {
                // Freeing the session under a running batch crashes the JVM (onnxruntime#21812); the process is
                // stopping, and its exit frees the memory anyway.
                log.warn("model {} version {}: a batch still runs {} ms after the drain; leaving its ONNX Runtime "
                        + "session open", model, runtime.version, CLOSE_WAIT_MS);
            }
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
        /** Rows one request may have (0: any): the batch bound, or for a model that runs alone its explicit one. */
        final int rowLimit;
        final Batcher<WorkItem> batcher;
        final Cache<Object, List<Output>> cache;
        final WorkerMetrics.VersionMeters meters;
        /** Counts a success once its reply is acknowledged (Responder.answer); one instance for every reply. */
        final Runnable countSuccess;
        volatile boolean retired;
        /** Set, under the write lock, when the model is closed; preparing checks it under the read lock. */
        volatile boolean closed;
        final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();

        /** @param cacheBytes the result cache's bound in estimated bytes ({@link CacheWeigher}); 0: no cache */
        VersionRuntime(LoadedModel model, BatchSettings settings, Integer explicitMaxBatchSize, long cacheBytes) {
            this.model = model;
            this.version = model.metadata().version();
            // A model that runs each request alone keeps a max_batch_size its config names (a row limit per
            // request), else has none: 0, as Triton says of a model without batching. Its batcher takes one request
            // per call, so that a request is dispatched at once and each instance takes its own.
            this.rowLimit = model.batches() ? settings.maxBatchSize()
                    : explicitMaxBatchSize != null && explicitMaxBatchSize > 0 ? explicitMaxBatchSize : 0;
            this.metadata = model.metadata().withMaxBatchSize(rowLimit);
            this.settings = model.batches() ? settings : settings.withMaxBatchSize(1);
            this.cache = cacheBytes > 0
                    ? Caffeine.newBuilder().maximumWeight(cacheBytes).weigher(new CacheWeigher()).build() : null;
            this.meters = metrics.version(ModelPipeline.this.model, version);
            this.countSuccess = () -> meters.outcome(WorkerMetrics.SUCCESS);
            if (cache != null) {
                metrics.gauge("kinfer.cache.bytes", "What the result cache holds, in estimated bytes of inputs and "
                        + "outputs (bounded by cache.max.bytes)", meters.tags(), this::cacheBytes);
            }
            this.batcher = new Batcher<>(ModelPipeline.this.model + "-" + version, settings, System::nanoTime, this);
            metrics.gauge("kinfer.queue.depth", "Requests queued for a batch", meters.tags(), batcher::queued);
            metrics.gauge("kinfer.batch.call.cost.tokens", "What one model call costs in padded tokens, learned "
                    + "from past batches (NaN until known); pad-aware splitting uses it", meters.tags(),
                    batcher::callCostTokens);
            batcher.start();
        }

        /** The cache's estimated bytes as last counted; evictions still pending may leave it above the bound. */
        long cacheBytes() {
            return cache == null ? 0 : cache.policy().eviction().orElseThrow().weightedSize().orElse(0);
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
            boolean computed = true;
            // Held while computing too: closing the model waits until no batch runs on it.
            inUse.readLock().lock();
            try {
                outputs = model.infer(prepared);
            } catch (ModelException | RuntimeException e) {
                outputs = isolate(prepared, e);
                computed = outputs.stream().anyMatch(o -> o != null);
            } finally {
                inUse.readLock().unlock();
            }
            long took = System.nanoTime() - started;
            if (computed) {
                meters.batch(rows, took);
            }
            double inferenceMs = took / 1e6;
            for (int i = 0; i < batch.size(); i++) {
                WorkItem item = batch.get(i);
                List<Output> output = outputs.get(i);
                if (output == null) {
                    fail(this, item, ErrorCode.INTERNAL, "the model failed on this request");
                    answered[0]++;
                    continue;
                }
                long waited = started - item.arrivalNanos();
                meters.queued(waited);
                if (cache != null && item.prepared().cacheKey() != null) {
                    cache.put(item.prepared().cacheKey(), output);
                }
                responder.answer(ModelPipeline.this.model, item.record(), item.handle(), item.envelope(),
                        InferenceReply.success(item.request().id(), ModelPipeline.this.model, version, output,
                                new Timings(waited / 1e6, inferenceMs, rows, workerId, false)), countSuccess);
                answered[0]++;
            }
        }

        /**
         * A model call failed: finds the requests that fail on their own ({@link BatchIsolation}), so that one
         * caller's bad input fails only its own request. Returns each request's outputs, null where it failed.
         * Called under the read lock.
         */
        private List<List<Output>> isolate(List<PreparedRequest> prepared, Exception failure) {
            List<List<Output>> outputs = BatchIsolation.isolate(model, prepared, failure);
            long failed = outputs.stream().filter(o -> o == null).count();
            log.warn("model {} version {}: a call of {} requests failed ({}); {} of them failed alone or were not "
                    + "cleared within {} more calls", ModelPipeline.this.model, version, prepared.size(),
                    failure.getMessage(), failed, BatchIsolation.maxCalls(prepared.size()));
            return outputs;
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
                try {
                    fail(this, item, ErrorCode.EXPIRED, "the deadline passed " + Math.max(0,
                            now - item.envelope().deadlineEpochMs()) + " ms ago, before the request was computed");
                } catch (RuntimeException | Error e) {
                    // As in run(): one reply that cannot be started must not leave the others unanswered.
                    log.warn("model {} version {}: answering an expired request failed; left for redelivery",
                            ModelPipeline.this.model, version, e);
                    item.handle().abandoned();
                }
            }
        }

        @Override
        public void failed(List<WorkItem> requests) {
            for (WorkItem item : requests) {
                failOrAbandon(item);
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

        /** Leaves this version's batch-thread failure with the pipeline, which outlives the version. */
        private void keepFailure() {
            if (!batcher.alive()) {
                retiredBatcherFailed = true;
            }
        }

        /**
         * Closes the model once no batch or preparation uses it (the write lock), waiting at most {@code waitMs};
         * returns false, leaving it open, when one still does then.
         */
        boolean closeModel(long waitMs) {
            try {
                if (!inUse.writeLock().tryLock(waitMs, TimeUnit.MILLISECONDS)) {
                    return false;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
            try {
                closed = true;
                model.close();
                return true;
            } finally {
                inUse.writeLock().unlock();
            }
        }

        /** Finishes its queue on a background thread, then closes the model and lets go of all it holds. */
        void retire(long timeoutMs) {
            retired = true;
            Thread thread = new Thread(() -> {
                drain(timeoutMs);
                ModelPipeline.this.retiring.remove(this);
                keepFailure(); // or failed while draining
                closeModel(Long.MAX_VALUE); // not exiting: wait however long the last batch takes
                // The gauges hold the batcher (and through it this runtime, its closed model and its buffers) and
                // would export stale values; the cache holds results nobody can be served any more.
                synchronized (versions) {
                    if (!versions.containsKey(version)) { // not loaded again meanwhile (a quick rollback)
                        metrics.removeVersion(ModelPipeline.this.model, version);
                    }
                }
                if (cache != null) {
                    cache.invalidateAll();
                }
                log.info("model {} version {} retired", ModelPipeline.this.model, version);
            }, "kinfer-retire-" + ModelPipeline.this.model + "-" + version);
            thread.setDaemon(true);
            thread.start();
        }
    }
}
