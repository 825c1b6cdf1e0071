package io.kinfer.jobs;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ProtocolLimits;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.TaskId;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.ProcessorSupplier;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka Streams topology that materializes job state:
 *
 * <pre>
 * kinfer.jobs (key jobId) ─────── decode ─┐
 *                                         ├─ merge ─► repartition "by-job" (key jobId) ─► job-state processor
 * kinfer.jobs.results (jobId:i) ─ rekey ──┘                                               │ stores: kinfer-jobs,
 *                                                                                         │ kinfer-jobs-items,
 *                                                          wall-clock punctuator ─────────┘ kinfer-jobs-expiry
 * </pre>
 *
 * Both inputs go through one repartition topic keyed by job id, so a job's metadata and all its results meet in
 * one task whatever the input topics' partition counts, and {@code queryMetadataForKey(store, jobId)} finds it.
 * Three persistent (RocksDB), changelogged stores: job records by id; item results by {@code <jobId>/<index>}
 * (zero-padded, so a range scan returns input order); and an expiry index by {@code <expiresMs>/<jobId>}, so the
 * punctuator reads only what is due instead of scanning every job. Retention is enforced on wall-clock time
 * because stream time does not advance on an idle system (windowed stores would then never drop anything), and
 * the deletes are tombstones in the changelogs, so a restored instance does not bring expired jobs back.
 */
final class JobsTopology {

    static final String JOBS_TOPIC = "kinfer.jobs";
    static final String RESULTS_TOPIC = "kinfer.jobs.results";
    static final String JOBS_STORE = "kinfer-jobs";
    static final String ITEMS_STORE = "kinfer-jobs-items";
    static final String EXPIRY_STORE = "kinfer-jobs-expiry";
    static final String REPARTITION = "by-job";

    /**
     * Deletes (jobs and their items) per punctuation at most, beyond the first due job, so one punctuation never
     * stalls processing for long; what is left is deleted by the next.
     */
    static final int EXPIRY_BATCH = 10_000;
    /** The expiry index writes times with 13 digits (until the year 2286): a later expiry would sort wrongly. */
    static final long MAX_EXPIRES_MS = 9_999_999_999_999L;
    /**
     * A result whose job id says it was created further ahead of this instance's clock is not a job of this
     * cluster's gateways (whose clocks differ by far less): it is dropped, not kept as a placeholder for ages.
     */
    static final long MAX_CLOCK_AHEAD_MS = 3_600_000;
    private static final int INDEX_DIGITS = Integer.toString(JobsConfig.MAX_ITEMS_LIMIT - 1).length();
    private static final byte[] EMPTY = new byte[0];
    private static final int RECOUNTED_KEPT = 100_000;
    private static final Logger log = LoggerFactory.getLogger(JobsTopology.class);

    /**
     * What the topology needs to know: how long jobs without metadata live, how often to expire, and how many
     * partitions hold job state ({@code jobs.topic.partitions}).
     */
    /** @param maxResultBytes the largest result taken as it came ({@link JobsConfig#maxResultBytes()}) */
    record Settings(long retentionMs, long expiryScanIntervalMs, int statePartitions, int maxResultBytes) {
    }

    private JobsTopology() {
    }

    static Topology build(Settings settings, JobsMetrics metrics) {
        StreamsBuilder builder = new StreamsBuilder();
        KStream<String, JobEvent> submitted = builder
                .stream(JOBS_TOPIC, Consumed.with(Serdes.String(), Serdes.ByteArray()).withName("jobs"))
                .flatMap((key, value) -> decodeSubmitted(key, value, metrics), Named.as("decode-jobs"));
        KStream<String, JobEvent> results = builder
                .stream(RESULTS_TOPIC, Consumed.with(Serdes.String(), Serdes.ByteArray()).withName("results"))
                .flatMap((key, value) -> keyResultByJob(key, value, metrics, settings.maxResultBytes()),
                        Named.as("key-by-job"));
        submitted.merge(results, Named.as("merge"))
                // A fixed count: left to Streams it would follow the larger input topic at the first start and
                // then refuse to run once someone added partitions to either (the stores' changelogs too).
                .repartition(Repartitioned.with(Serdes.String(), new JobEventSerde()).withName(REPARTITION)
                        .withNumberOfPartitions(settings.statePartitions()))
                .process(new JobStateSupplier(settings, metrics), Named.as("job-state"));
        return builder.build();
    }

    static List<KeyValue<String, JobEvent>> decodeSubmitted(String key, byte[] value, JobsMetrics metrics) {
        if (value == null) {
            return List.of();
        }
        try {
            JobSubmitted job = JobSubmitted.fromJson(value);
            return List.of(KeyValue.pair(job.jobId(), job));
        } catch (IllegalArgumentException e) {
            log.warn("dropping an unreadable record on {} (key {}): {}", JOBS_TOPIC, key, e.getMessage());
            metrics.dropped("bad_job");
            return List.of();
        }
    }

    /**
     * {@code <jobId>:<index>} becomes key {@code jobId} and an {@link JobEvent.ItemResult} for {@code index}. A reply
     * larger than {@code maxResultBytes} becomes an {@code internal} error for its item, so that its job completes:
     * passed on as it came, Kafka refused it on the repartition topic and failed the stream thread.
     */
    static List<KeyValue<String, JobEvent>> keyResultByJob(String key, byte[] value, JobsMetrics metrics,
                                                           int maxResultBytes) {
        int colon = key == null ? -1 : key.lastIndexOf(':');
        String jobId = colon < 0 ? null : key.substring(0, colon);
        int index = colon < 0 ? -1 : parseIndex(key.substring(colon + 1));
        if (value == null || !JobIds.isValid(jobId) || index < 0) {
            metrics.dropped("bad_result");
            return List.of();
        }
        if (value.length > maxResultBytes) {
            log.warn("result {} has {} bytes, more than the job store takes ({}); stored as an internal error", key,
                    value.length, maxResultBytes);
            metrics.dropped("too_large");
            value = TOO_LARGE_CODEC.encodeReply(InferenceReply.failure(key, "", ErrorCode.INTERNAL, "the reply has "
                    + value.length + " bytes, more than the job store takes (" + maxResultBytes + "; raise "
                    + "jobs.streams.producer.max.request.size and jobs.streams.topic.max.message.bytes together)"));
        }
        return List.of(KeyValue.pair(jobId, new JobEvent.ItemResult(index, value)));
    }

    private static final JsonCodec TOO_LARGE_CODEC = new JsonCodec(ProtocolLimits.REPLIES);

    private static int parseIndex(String text) {
        if (text.isEmpty() || text.length() > INDEX_DIGITS) {
            return -1;
        }
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) < '0' || text.charAt(i) > '9') {
                return -1;
            }
        }
        return Integer.parseInt(text);
    }

    static String itemKey(String jobId, int index) {
        String digits = Integer.toString(index);
        return jobId + "/" + "0".repeat(INDEX_DIGITS - digits.length()) + digits;
    }

    static String itemsFrom(String jobId) {
        return jobId + "/";
    }

    /** Inclusive upper bound of a job's item keys: '~' sorts after every digit. */
    static String itemsTo(String jobId) {
        return jobId + "/~";
    }

    static String expiryKey(long expiresMs, String jobId) {
        return String.format("%013d/%s", expiresMs, jobId);
    }

    static StoreBuilder<KeyValueStore<String, JobRecord>> jobsStore(Settings settings) {
        return Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(JOBS_STORE), Serdes.String(),
                JobRecord.serde()).withCachingDisabled().withLoggingEnabled(changelogConfig(settings));
    }

    static StoreBuilder<KeyValueStore<String, byte[]>> bytesStore(String name, Settings settings) {
        // No cache: interactive queries then see every write at once, and items are written before their
        // job record, so a record that says "done" always finds all its items.
        return Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(name), Serdes.String(), Serdes.ByteArray())
                .withCachingDisabled().withLoggingEnabled(changelogConfig(settings));
    }

    /**
     * The stores' changelog topics: compacted, as Streams makes them, but in segments no longer than the retention
     * (at most a day). Compaction never touches the open segment, and Kafka's default of 7 days kept every expired
     * result and every rewrite of a job record on disk, and replayed them into a restoring instance, for a week.
     */
    static Map<String, String> changelogConfig(Settings settings) {
        long segmentMs = Math.max(60_000L, Math.min(settings.retentionMs(), 86_400_000L));
        return Map.of(TopicConfig.SEGMENT_MS_CONFIG, Long.toString(segmentMs),
                TopicConfig.MIN_CLEANABLE_DIRTY_RATIO_CONFIG, "0.1");
    }

    private static final class JobStateSupplier implements ProcessorSupplier<String, JobEvent, Void, Void> {

        private final Settings settings;
        private final JobsMetrics metrics;

        JobStateSupplier(Settings settings, JobsMetrics metrics) {
            this.settings = settings;
            this.metrics = metrics;
        }

        @Override
        public Processor<String, JobEvent, Void, Void> get() {
            return new JobStateProcessor(settings, metrics);
        }

        @Override
        public Set<StoreBuilder<?>> stores() {
            return Set.of(jobsStore(settings), bytesStore(ITEMS_STORE, settings), bytesStore(EXPIRY_STORE, settings));
        }
    }

    /** Keeps one task's jobs: merges metadata and results (in any order), completes jobs, expires them. */
    static final class JobStateProcessor implements Processor<String, JobEvent, Void, Void> {

        private final Settings settings;
        private final JobsMetrics metrics;
        private final JsonCodec codec = new JsonCodec(ProtocolLimits.REPLIES);
        private ProcessorContext<Void, Void> context;
        private KeyValueStore<String, JobRecord> jobs;
        private KeyValueStore<String, byte[]> items;
        private KeyValueStore<String, byte[]> expiry;
        private TaskId taskId;
        /**
         * Jobs recounted on a duplicate result since this task started here. A lost count can only come from
         * before that (a crash between two stores' writes), so one recount per job is enough, and a replay of
         * a large job's results after a crash costs one scan per job, not one per result.
         */
        private final Set<String> recounted = new HashSet<>();

        JobStateProcessor(Settings settings, JobsMetrics metrics) {
            this.settings = settings;
            this.metrics = metrics;
        }

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            this.context = context;
            this.jobs = context.getStateStore(JOBS_STORE);
            this.items = context.getStateStore(ITEMS_STORE);
            this.expiry = context.getStateStore(EXPIRY_STORE);
            this.taskId = context.taskId();
            // Streams may init a processor again (a task revived after its state was found corrupt and restored):
            // what was recounted before is to be recounted again.
            recounted.clear();
            context.schedule(Duration.ofMillis(settings.expiryScanIntervalMs()), PunctuationType.WALL_CLOCK_TIME,
                    this::expire);
            metrics.storeSize(taskId, jobs.approximateNumEntries());
        }

        @Override
        public void process(Record<String, JobEvent> record) {
            String jobId = record.key();
            long now = context.currentSystemTimeMs();
            if (record.value() instanceof JobSubmitted job) {
                onSubmitted(job, now);
            } else if (record.value() instanceof JobEvent.ItemResult result) {
                onResult(jobId, result, now);
            }
        }

        private void onSubmitted(JobSubmitted job, long now) {
            JobRecord existing = jobs.get(job.jobId());
            if (existing != null && existing.known()) {
                // The same metadata again (at least once): nothing new, but its expiry entry is written again.
                // A crash between the two stores' writes may have kept the record and lost the entry, and
                // without it the job would never be deleted.
                expiry.put(expiryEntry(existing), EMPTY);
                return;
            }
            if (job.expiresMs() <= now) {
                metrics.dropped("expired"); // replayed (an offset reset) or written late: do not bring it back
                return;
            }
            if (existing != null) {
                expiry.delete(expiryEntry(existing));
            }
            // Always counted from the items store, not only when a placeholder exists: results that came first
            // may have kept their items through a crash that lost their placeholder (two stores).
            JobRecord state = recount(JobRecord.of(job));
            expiry.put(expiryEntry(state), EMPTY);
            if (state.complete()) {
                state = state.completedAt(now);
                metrics.completed();
            }
            jobs.put(job.jobId(), state);
        }

        private JobRecord recount(JobRecord state) {
            int done = 0;
            int failed = 0;
            List<String> beyond = new ArrayList<>();
            try (KeyValueIterator<String, byte[]> it = items.range(itemsFrom(state.jobId()), itemsTo(state.jobId()))) {
                while (it.hasNext()) {
                    KeyValue<String, byte[]> item = it.next();
                    int index = Integer.parseInt(item.key.substring(item.key.indexOf('/') + 1));
                    if (state.known() && index >= state.total()) {
                        beyond.add(item.key);
                    } else {
                        done++;
                        failed += Items.isError(item.value) ? 1 : 0;
                    }
                }
            }
            beyond.forEach(items::delete);
            return state.withCounts(done, failed);
        }

        private void onResult(String jobId, JobEvent.ItemResult result, long now) {
            JobRecord state = jobs.get(jobId);
            if (state != null && state.expiresMs() <= now) {
                metrics.dropped("expired"); // kept only to answer 404 until deleteAt: nothing is added to it
                return;
            }
            if (state != null && state.known() && result.index() >= state.total()) {
                metrics.dropped("bad_result");
                return;
            }
            String key = itemKey(jobId, result.index());
            byte[] stored = items.get(key);
            if (stored != null && state != null && Items.isUnavailable(stored)) {
                Items.Item item = Items.normalize(codec, result.index(), result.reply());
                if (!item.failed()) {
                    // An `unavailable` item is the gateway's stand-in for a send it saw fail; when the failure
                    // was ambiguous (a delivery timeout after the broker wrote the request) the worker still
                    // answers, and its real answer is the better one. The job keeps its count and completion.
                    items.put(key, item.json());
                    jobs.put(jobId, state.withCounts(state.done(), Math.max(0, state.failed() - 1)));
                    metrics.replaced();
                    return;
                }
            }
            if (stored != null) {
                metrics.dropped("duplicate"); // at-least-once delivery: the first reply stands
                if (state == null) {
                    // The item outlived its placeholder (a crash between the two stores' writes): rebuild it,
                    // or the job's metadata would later start counting from zero and never complete.
                    state = placeholder(jobId, now);
                    if (state != null) {
                        recounted.add(jobId);
                        jobs.put(jobId, recount(state));
                    }
                } else if (state.known() && (!state.complete() || state.failed() > 0) && recounted.add(jobId)) {
                    // Redelivered after a crash that came between the item's write and its count's (at least
                    // once, the item and the count are two stores): count again, or the job never completes.
                    // A complete job with failures is recounted too: a crash between a success replacing an
                    // `unavailable` stand-in and the count's decrement leaves it complete with one failure too
                    // many, and the redelivered success finds a real answer stored and lands here.
                    JobRecord counted = recount(state);
                    if (counted.done() != state.done() || counted.failed() != state.failed()) {
                        jobs.put(jobId, completeIfDone(counted, now));
                    }
                }
                if (recounted.size() > RECOUNTED_KEPT) {
                    recounted.clear(); // a bound on memory; at worst a job is recounted once more
                }
                return;
            }
            if (state == null) {
                state = placeholder(jobId, now);
                if (state == null) {
                    return;
                }
            }
            Items.Item item = Items.normalize(codec, result.index(), result.reply());
            // The item first: a reader that sees the record's new count then always finds the item.
            items.put(key, item.json());
            state = state.withCounts(state.done() + 1, state.failed() + (item.failed() ? 1 : 0));
            jobs.put(jobId, completeIfDone(state, now));
        }

        /**
         * A placeholder for results that came before their job's metadata, its expiry entry written; null (and
         * the result dropped) for a job that has certainly expired or whose id is not one of this cluster's.
         */
        private JobRecord placeholder(String jobId, long now) {
            long created = JobIds.createdMs(jobId);
            long expires = created + settings.retentionMs();
            if (expires <= now) {
                metrics.dropped("expired"); // a very late reply for a job already deleted: do not bring it back
                return null;
            }
            if (created > now + MAX_CLOCK_AHEAD_MS || expires > MAX_EXPIRES_MS) {
                metrics.dropped("bad_result");
                return null;
            }
            JobRecord state = JobRecord.placeholder(jobId, created, expires);
            expiry.put(expiryEntry(state), EMPTY);
            return state;
        }

        private JobRecord completeIfDone(JobRecord state, long now) {
            if (state.complete() && state.completedMs() == 0) {
                // Counted up one by one, a count can run ahead of the items after a crash (the count's write
                // reached its changelog, the item's did not): one scan when the job seems done confirms it.
                JobRecord confirmed = recount(state);
                if (!confirmed.complete()) {
                    return confirmed;
                }
                metrics.completed();
                return confirmed.completedAt(now);
            }
            return state;
        }

        /**
         * When a job's record is deleted: at its expiry, but never within the creation grace, during which a missing
         * record reads as "pending" (its metadata may be on its way; {@link Answer#pendingGraceMs}). Deleted sooner
         * (a job written straight to Kafka with an expiry shorter than the grace), an expired job answered 404, then
         * "pending" again until the grace was over. Past its expiry the record answers 404 and takes no more results.
         */
        private long deleteAt(JobRecord job) {
            return Math.max(job.expiresMs(), job.createdMs() + Answer.pendingGraceMs(settings.retentionMs()));
        }

        /** The job's entry in the expiry index, at {@link #deleteAt}. */
        private String expiryEntry(JobRecord job) {
            return expiryKey(deleteAt(job), job.jobId());
        }

        /**
         * Deletes the jobs whose time is up (their items and index entries too), at most about
         * {@link #EXPIRY_BATCH} deletes at a time (counting items: a job may have 100 000).
         */
        void expire(long now) {
            List<String> due = new ArrayList<>();
            try (KeyValueIterator<String, byte[]> it = expiry.range(expiryKey(0, ""), expiryKey(now, "~"))) {
                while (it.hasNext() && due.size() < EXPIRY_BATCH) {
                    due.add(it.next().key);
                }
            }
            int deletes = 0;
            int expired = 0;
            for (String key : due) {
                if (deletes >= EXPIRY_BATCH) {
                    break; // the rest stays due for the next punctuation
                }
                String jobId = key.substring(key.indexOf('/') + 1);
                JobRecord state = jobs.get(jobId);
                long deleteAt = state == null ? now : deleteAt(state);
                if (deleteAt > now) {
                    // Indexed at an earlier time (its expiry before the record was kept to deleteAt, or a
                    // placeholder its metadata replaced): kept until its own time, indexed again.
                    expiry.put(expiryKey(deleteAt, jobId), EMPTY);
                } else {
                    // Without a record the items are deleted too: they outlived a placeholder lost in a crash.
                    List<String> itemKeys = new ArrayList<>();
                    try (KeyValueIterator<String, byte[]> it = items.range(itemsFrom(jobId), itemsTo(jobId))) {
                        it.forEachRemaining(item -> itemKeys.add(item.key));
                    }
                    itemKeys.forEach(items::delete);
                    deletes += itemKeys.size();
                    if (state != null) {
                        jobs.delete(jobId);
                        deletes++;
                        if (state.known()) { // a placeholder whose metadata never came was not a job
                            metrics.expired();
                            expired++;
                        }
                    }
                }
                expiry.delete(key);
                deletes++;
            }
            if (expired > 0) {
                log.debug("task {} expired {} job(s)", taskId, expired);
            }
            metrics.storeSize(taskId, jobs.approximateNumEntries());
        }

        @Override
        public void close() {
            metrics.removeTask(taskId);
        }
    }
}
