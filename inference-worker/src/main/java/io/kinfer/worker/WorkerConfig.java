package io.kinfer.worker;

import static org.apache.kafka.common.config.ConfigDef.Importance.HIGH;
import static org.apache.kafka.common.config.ConfigDef.Importance.LOW;
import static org.apache.kafka.common.config.ConfigDef.Importance.MEDIUM;
import static org.apache.kafka.common.config.ConfigDef.Range.atLeast;
import static org.apache.kafka.common.config.ConfigDef.Range.between;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.kinfer.config.KafkaClientProperties;
import io.kinfer.protocol.ProtocolLimits;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.batch.BatchSettings;
import io.kinfer.worker.model.ModelConfig;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef.ValidString;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;

/**
 * The inference worker's settings. Kafka client settings pass through under {@code kafka.}, {@code kafka.consumer.}
 * and {@code kafka.producer.} (see {@link KafkaClientProperties}); everything else is defined here, with the
 * defaults the docs' reference table is generated from.
 */
public final class WorkerConfig extends AbstractConfig {

    public static final String WORKER_ID = "worker.id";
    public static final String MODELS = "worker.models";
    public static final String MODEL_REPOSITORY = "model.repository";
    public static final String MODEL_POLL_INTERVAL_MS = "model.poll.interval.ms";
    public static final String MODEL_INSTANCES = "model.instances";
    public static final String GROUP_MODE = "group.mode";
    public static final String GROUP_ID_PREFIX = "group.id.prefix";
    public static final String GROUP_STATIC_MEMBERSHIP = "group.static.membership";
    public static final String SHARE_CONSUMERS = "share.consumers";
    public static final String SHARE_LOCK_DURATION_MS = "share.record.lock.duration.ms";
    public static final String SHARE_SESSION_TIMEOUT_MS = "share.session.timeout.ms";
    public static final String SHARE_DLQ_TOPIC = "share.dlq.topic";
    public static final String BATCH_MAX_SIZE = "batch.max.size";
    public static final String BATCH_MAX_QUEUE_DELAY_MS = "batch.max.queue.delay.ms";
    public static final String BATCH_MAX_QUEUE_SIZE = "batch.max.queue.size";
    public static final String BATCH_QUEUE_FULL_POLICY = "batch.queue.full.policy";
    public static final String BATCH_PRIORITY_LEVELS = "batch.priority.levels";
    public static final String BATCH_PAD_AWARE = "batch.pad.aware";
    public static final String CACHE_ENABLED = "cache.enabled";
    public static final String CACHE_MAX_BYTES = "cache.max.bytes";
    public static final String ONNX_INTRA_OP_THREADS = "onnx.intra.op.threads";
    public static final String ONNX_ALLOW_SPINNING = "onnx.allow.spinning";
    public static final String ONNX_SINGLE_THREAD_MAX_TOKENS = "onnx.single.thread.max.tokens";
    public static final String TOPICS_CREATE = "topics.create";
    public static final String TOPICS_PARTITIONS = "topics.partitions";
    public static final String TOPICS_REPLICATION_FACTOR = "topics.replication.factor";
    public static final String REPLY_DEFAULT_TOPIC = "reply.default.topic";
    public static final String DLQ_TOPIC = "dlq.topic";
    public static final String COMMIT_INTERVAL_MS = "commit.interval.ms";
    public static final String REPLY_FAILURE_LIMIT = "reply.failure.limit";
    public static final String SHUTDOWN_TIMEOUT_MS = "shutdown.timeout.ms";
    public static final String EXACTLY_ONCE = "exactly.once";
    public static final String METRICS_HOST = "metrics.host";
    public static final String METRICS_PORT = "metrics.port";
    public static final String ANNOUNCE_INTERVAL_MS = "announce.interval.ms";
    public static final String MAX_RECORD_BYTES = ProtocolLimits.MAX_RECORD_BYTES;
    public static final String MAX_INPUTS = ProtocolLimits.MAX_INPUTS;
    public static final String MAX_TEXT_CHARS = ProtocolLimits.MAX_TEXT_CHARS;
    public static final String MAX_TENSOR_ELEMENTS = ProtocolLimits.MAX_TENSOR_ELEMENTS;

    public static final String MODE_CONSUMER = "consumer";
    public static final String MODE_SHARE = "share";
    public static final String POLICY_PAUSE = "pause";
    public static final String POLICY_REJECT = "reject";
    /** Stands for the model's name in {@link #SHARE_DLQ_TOPIC}. */
    public static final String MODEL_PLACEHOLDER = "{model}";

    public static final ConfigDef DEFINITION = new ConfigDef()
            .define(KafkaClientProperties.BOOTSTRAP_SERVERS, Type.STRING, KafkaClientProperties.BOOTSTRAP_SERVERS_DEFAULT,
                    HIGH, "Kafka brokers to connect to. Any Kafka client setting passes through as kafka.<key> "
                            + "(all clients), kafka.consumer.<key> or kafka.producer.<key>.")
            .define(WORKER_ID, Type.STRING, "", LOW, "This worker's id in replies, metrics and logs; empty: host-pid.")
            .define(MODELS, Type.LIST, "sentiment,minilm", modelNames(), HIGH,
                    "Models this worker serves, each with its own consumer group; * for every model in the repository.")
            .define(MODEL_REPOSITORY, Type.STRING, "", HIGH, "Directory laid out as <model>/<version>/model.onnx "
                    + "(+ <model>/config.json); empty: the built-in models only. A path that is no directory is refused.")
            .define(MODEL_INSTANCES, Type.INT, 1, between(1, 64), MEDIUM, "Batches of one model version "
                    + "computed at once, each on its own thread taking the next batch from the version's one queue "
                    + "(Triton's instance_group count); a model's config may override it.")
            .define(MODEL_POLL_INTERVAL_MS, Type.LONG, 5000L, atLeast(0), LOW,
                    "How often the repository is scanned for new or removed versions (0: never).")
            .define(GROUP_MODE, Type.STRING, MODE_CONSUMER, ValidString.in(MODE_CONSUMER, MODE_SHARE), HIGH,
                    "consumer: a consumer group per model (replicas <= partitions, exactly-once possible); share: a "
                            + "share group per model (KIP-932; replicas not capped by partitions, per-record acks).")
            .define(GROUP_ID_PREFIX, Type.STRING, "kinfer-worker", MEDIUM,
                    "The group of model m is <prefix>.m; workers of the same model share it. A kafka.group.id or "
                    + "kafka.consumer.group.id is not used (warned at start).")
            .define(GROUP_STATIC_MEMBERSHIP, Type.BOOLEAN, false, MEDIUM, "Consumer-group modes: join with "
                    + "group.instance.id <worker.id>-<model>, so a restarted worker (same worker.id) gets its "
                    + "partitions back without a rebalance. Needs a stable worker.id.")
            .define(SHARE_CONSUMERS, Type.INT, 2, between(1, 64), MEDIUM, "Share-group mode: share consumers per "
                    + "model in this worker; one polls while another's batch computes.")
            .define(SHARE_LOCK_DURATION_MS, Type.INT, 15_000, between(1_000, 3_600_000), MEDIUM, "Share-group "
                    + "mode: how long a worker holds records before the broker gives them to another (set on the "
                    + "group; the broker bounds it, 15-60 s by default). Shorter: faster failover after a crash.")
            .define(SHARE_SESSION_TIMEOUT_MS, Type.INT, 10_000, between(1_000, 3_600_000), MEDIUM, "Share-group "
                    + "mode: how soon the broker gives a silent member's partitions to the others (set on the group; "
                    + "brokers allow 45-60 s by default, kinfer's embedded broker 6 s and up; refused values are "
                    + "logged and the broker's kept).")
            .define(SHARE_DLQ_TOPIC, Type.STRING, "dlq." + Topics.REQUEST_PREFIX + MODEL_PLACEHOLDER, MEDIUM,
                    "Share-group mode: the group's dead-letter topic (Kafka 4.4+, KIP-1191), where the broker copies "
                            + "a request whose deliveries ran out unanswered (released on its last delivery, or its "
                            + "worker crashed): key and value, with __dlq.errors.* headers saying where it was. "
                            + "{model} stands for the model's name. Created and set on the group at start unless the "
                            + "group names one already (an operator's choice wins); must start with the broker's "
                            + "errors.deadletterqueue.topic.name.prefix (dlq. by default). Empty: none set.")
            .define(BATCH_MAX_SIZE, Type.INT, 32, between(1, 4096), HIGH,
                    "Largest batch, in rows (texts or first-dimension rows); a model's config may override it.")
            .define(BATCH_MAX_QUEUE_DELAY_MS, Type.DOUBLE, 0.0, numberBetween(0, 60_000), HIGH,
                    "Wait for a fuller batch only while the oldest queued request has waited less than this. Under "
                            + "load batches form anyway while the previous batch computes.")
            .define(BATCH_MAX_QUEUE_SIZE, Type.INT, 256, between(1, 1_000_000), HIGH,
                    "Requests queued per model version before the queue is full (see batch.queue.full.policy).")
            .define(BATCH_QUEUE_FULL_POLICY, Type.STRING, POLICY_PAUSE, ValidString.in(POLICY_PAUSE, POLICY_REJECT),
                    MEDIUM, "pause: stop fetching (records wait in Kafka, lag grows, autoscalers see it); reject: "
                            + "answer overloaded beyond the queue size, as Triton does.")
            .define(BATCH_PRIORITY_LEVELS, Type.INT, 1, between(1, 16), LOW,
                    "Priority levels honoured from the kinfer-priority header (0..levels-1, higher first); 1: FIFO.")
            .define(BATCH_PAD_AWARE, Type.BOOLEAN, true, MEDIUM,
                    "Group texts of similar token length when more than a batch is queued, so short texts do not "
                            + "pay for the longest one; when fewer are queued, split them by length into two or more "
                            + "model calls if the cost learned from past batches says that is clearly cheaper.")
            .define(CACHE_ENABLED, Type.BOOLEAN, true, MEDIUM, "Answer identical inputs to the same model version "
                    + "from a bounded cache (models can turn it off in their config).")
            .define(CACHE_MAX_BYTES, Type.LONG, 64L * 1024 * 1024, atLeast(0), MEDIUM, "Result cache size per model "
                    + "version, in bytes (estimated: inputs and outputs held); 0: no cache.")
            .define(ONNX_INTRA_OP_THREADS, Type.INT, 0, between(0, 1024), MEDIUM,
                    "ONNX Runtime threads per model call; 0: the available processors shared among the model's "
                            + "instances (ONNX Runtime's own default picked 1 on a 2-vCPU machine, 33 % slower).")
            .define(ONNX_ALLOW_SPINNING, Type.BOOLEAN, false, LOW,
                    "Let idle ONNX Runtime threads spin (off: spinning next to Kafka on a small machine made "
                            + "latency 3-4x more spread, measured).")
            .define(ONNX_SINGLE_THREAD_MAX_TOKENS, Type.INT, OnnxSettings.DEFAULT_SINGLE_THREAD_MAX_TOKENS,
                    between(0, 1_000_000), LOW,
                    "Text model calls of at most this many padded tokens (rows x longest row) run on a second, "
                            + "single-threaded session of the model when calls get several threads: a lone short "
                            + "text ran about 1 ms faster on one thread than on two (measured on 2 vCPUs). 0: all "
                            + "calls on the one session.")
            .define(TOPICS_CREATE, Type.BOOLEAN, true, MEDIUM,
                    "Create missing request, reply and dead-letter topics at start.")
            .define(TOPICS_PARTITIONS, Type.INT, Topics.DEFAULT_REQUEST_PARTITIONS, between(1, 10_000), MEDIUM,
                    "Partitions of a request topic kinfer creates: the most consumer-group replicas per model.")
            .define(TOPICS_REPLICATION_FACTOR, Type.SHORT, (short) -1, LOW,
                    "Replication factor of topics kinfer creates; -1: the broker's default.")
            .define(REPLY_DEFAULT_TOPIC, Type.STRING, Topics.DEFAULT_REPLY_TOPIC, MEDIUM,
                    "Where replies go when a request names no reply topic.")
            .define(DLQ_TOPIC, Type.STRING, Topics.DEAD_LETTER, MEDIUM, "Dead-letter topic.")
            .define(COMMIT_INTERVAL_MS, Type.LONG, 200L, between(1, 60_000), LOW,
                    "How often offsets whose replies are all acknowledged are committed.")
            .define(REPLY_FAILURE_LIMIT, Type.INT, 5, between(1, 1_000), LOW, "Consumer-group modes: how many "
                    + "times a record's reply (or dead letter) may fail before the record is dead-lettered with reason "
                    + "reply_failed instead of being fetched and computed again (exactly-once: failures in "
                    + "transactions of its own); when that dead letter has failed as often, the record is given up "
                    + "unanswered (kinfer_records_given_up_total) so that its partition moves on. Share groups use the "
                    + "group's share.delivery.count.limit instead.")
            .define(SHUTDOWN_TIMEOUT_MS, Type.LONG, 30_000L, atLeast(0), MEDIUM,
                    "On SIGTERM: how long queued batches may take to finish before the rest is left uncommitted.")
            .define(EXACTLY_ONCE, Type.BOOLEAN, false, MEDIUM, "Consumer-group mode only: write replies and "
                    + "offsets in one Kafka transaction (readers use isolation.level=read_committed).")
            .define(METRICS_HOST, Type.STRING, "127.0.0.1", LOW, "Address of the /metrics and /health endpoint.")
            .define(METRICS_PORT, Type.INT, 9400, between(-1, 65535), MEDIUM,
                    "Port of the /metrics and /health endpoint; 0: any free port; -1: off.")
            .define(ANNOUNCE_INTERVAL_MS, Type.LONG, 5000L, atLeast(100), LOW,
                    "How often the worker announces its models on the catalog topic (gateways read it).")
            .define(MAX_RECORD_BYTES, Type.INT, ProtocolLimits.DEFAULTS.maxRecordBytes(), atLeast(1024), LOW,
                    "Largest request record accepted.")
            .define(MAX_INPUTS, Type.INT, ProtocolLimits.DEFAULTS.maxInputs(), atLeast(1), LOW,
                    "Most texts (or tensor rows) in one request.")
            .define(MAX_TEXT_CHARS, Type.INT, ProtocolLimits.DEFAULTS.maxTextChars(), atLeast(1), LOW,
                    "Longest text in characters.")
            .define(MAX_TENSOR_ELEMENTS, Type.LONG, ProtocolLimits.DEFAULTS.maxTensorElements(), atLeast(1), LOW,
                    "Most elements in one input tensor (a 3x512x512 image has 786 432; raise "
                    + "protocol.max.record.bytes and the topics' max.message.bytes with it).");

    public WorkerConfig(Map<String, ?> settings) {
        super(DEFINITION, settings, false);
        String repository = getString(MODEL_REPOSITORY).strip();
        if (!repository.isEmpty() && !Files.isDirectory(Path.of(repository))) {
            // A typo in a volume path served the built-in models alone, and --models '*' started without a word.
            throw new ConfigException(MODEL_REPOSITORY, repository, "is not a directory; empty serves the built-in "
                    + "models only");
        }
        if (getBoolean(GROUP_STATIC_MEMBERSHIP) && getString(WORKER_ID).isBlank()) {
            throw new ConfigException(GROUP_STATIC_MEMBERSHIP, true, "static membership needs a stable worker.id "
                    + "(the default host-pid changes on every restart)");
        }
        if (getBoolean(EXACTLY_ONCE) && MODE_SHARE.equals(getString(GROUP_MODE))) {
            throw new ConfigException(EXACTLY_ONCE, true, "exactly-once needs group.mode=consumer: share groups have "
                    + "no transactions");
        }
        if (!Topics.isValidReplyTopic(getString(REPLY_DEFAULT_TOPIC))) {
            // A request topic here would have the workers read their replies as requests and answer them again.
            throw new ConfigException(REPLY_DEFAULT_TOPIC, getString(REPLY_DEFAULT_TOPIC), "not a topic name, or a "
                    + "request topic (" + Topics.REQUEST_PREFIX + "*)");
        }
        String dlq = getString(SHARE_DLQ_TOPIC).strip();
        if (!dlq.isEmpty() && (dlq.startsWith("__") || !Topics.isValidTopicName(dlq.replace(MODEL_PLACEHOLDER, "m")))) {
            throw new ConfigException(SHARE_DLQ_TOPIC, dlq, "not a topic name (letters, digits, '.', '_', '-', "
                    + MODEL_PLACEHOLDER + " for the model's name; not starting with __)");
        }
    }

    public String workerId() {
        String id = getString(WORKER_ID);
        if (!id.isBlank()) {
            return id;
        }
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            host = "worker";
        }
        return host + "-" + ManagementFactory.getRuntimeMXBean().getPid();
    }

    /**
     * At least one name, none blank: an empty list made a worker that announced nothing and was never ready, and
     * {@code a,,b} an empty model name.
     */
    private static ConfigDef.Validator modelNames() {
        return new ConfigDef.Validator() {
            @Override
            public void ensureValid(String name, Object value) {
                List<?> names = (List<?>) value;
                if (names == null || names.isEmpty()) {
                    throw new ConfigException(name, value, "name at least one model, or * for every model");
                }
                if (names.stream().anyMatch(model -> model.toString().isBlank())) {
                    throw new ConfigException(name, value, "a model name is empty");
                }
            }

            @Override
            public String toString() {
                return "one or more model names, or *";
            }
        };
    }

    /** {@link ConfigDef.Range#between} for a double, NaN refused (every comparison with NaN is false, so it passed). */
    private static ConfigDef.Validator numberBetween(double min, double max) {
        ConfigDef.Range range = between(min, max);
        return new ConfigDef.Validator() {
            @Override
            public void ensureValid(String name, Object value) {
                if (value instanceof Double number && number.isNaN()) {
                    throw new ConfigException(name, value, "not a number");
                }
                range.ensureValid(name, value);
            }

            @Override
            public String toString() {
                return range.toString();
            }
        };
    }

    public List<String> models() {
        return getList(MODELS);
    }

    /** The model repository named by {@code model.repository}, or the built-in models alone when it is blank. */
    public ModelRepository modelRepository() {
        String repo = getString(MODEL_REPOSITORY);
        return new ModelRepository(repo.isBlank() ? null : Path.of(repo));
    }

    public boolean shareGroups() {
        return MODE_SHARE.equals(getString(GROUP_MODE));
    }

    public String groupId(String model) {
        return getString(GROUP_ID_PREFIX) + "." + model;
    }

    /** The dead-letter topic of the model's share group ({@code share.dlq.topic}); empty when none is wanted. */
    public Optional<String> shareDeadLetterTopic(String model) {
        String topic = getString(SHARE_DLQ_TOPIC).strip();
        return topic.isEmpty() ? Optional.empty() : Optional.of(topic.replace(MODEL_PLACEHOLDER, model));
    }

    /**
     * The worker-wide batching defaults with a model's overrides applied. An override is held to the range of the
     * worker setting it replaces (but max_batch_size 0, Triton's "no batching") (a ConfigException naming the config.json field): priority_levels of 2e9 would
     * allocate that many queues at load, and instances start that many threads.
     */
    public BatchSettings batchSettings(ModelConfig.BatchingOverrides overrides) {
        // 0 is Triton's "no batching": each request runs alone (TensorModel), one per call (ModelPipeline); 1 here,
        // so that a share consumer fetches as few records as such a model takes at once.
        boolean unbatched = overrides.unbatched();
        if (!unbatched) {
            checkOverride("batching.max_batch_size", BATCH_MAX_SIZE, overrides.maxBatchSize());
        }
        checkOverride("batching.max_queue_delay_ms", BATCH_MAX_QUEUE_DELAY_MS, overrides.maxQueueDelayMs());
        checkOverride("batching.max_queue_size", BATCH_MAX_QUEUE_SIZE, overrides.maxQueueSize());
        checkOverride("batching.priority_levels", BATCH_PRIORITY_LEVELS, overrides.priorityLevels());
        checkOverride("batching.instances", MODEL_INSTANCES, overrides.instances());
        return new BatchSettings(
                unbatched ? 1 : overrides.maxBatchSize() != null ? overrides.maxBatchSize() : getInt(BATCH_MAX_SIZE),
                Math.round((overrides.maxQueueDelayMs() != null ? overrides.maxQueueDelayMs()
                        : getDouble(BATCH_MAX_QUEUE_DELAY_MS)) * 1_000_000),
                overrides.maxQueueSize() != null ? overrides.maxQueueSize() : getInt(BATCH_MAX_QUEUE_SIZE),
                overrides.priorityLevels() != null ? overrides.priorityLevels() : getInt(BATCH_PRIORITY_LEVELS),
                overrides.padAware() != null ? overrides.padAware() : getBoolean(BATCH_PAD_AWARE),
                POLICY_REJECT.equals(getString(BATCH_QUEUE_FULL_POLICY)),
                overrides.instances() != null ? overrides.instances() : getInt(MODEL_INSTANCES));
    }

    private static void checkOverride(String field, String key, Object value) {
        ConfigDef.Validator validator = DEFINITION.configKeys().get(key).validator;
        if (value == null || validator == null) {
            return;
        }
        try {
            validator.ensureValid(key, value);
        } catch (ConfigException e) {
            throw new ConfigException(field, value, "out of range " + validator + " (as " + key + ")");
        }
    }

    /** Session settings for a model run by {@code instances} threads at once: 0 threads shares the processors. */
    public OnnxSettings onnxSettings(int instances) {
        return OnnxSettings.forInstances(getInt(ONNX_INTRA_OP_THREADS), getBoolean(ONNX_ALLOW_SPINNING),
                getInt(ONNX_SINGLE_THREAD_MAX_TOKENS), instances);
    }

    public ProtocolLimits protocolLimits() {
        return new ProtocolLimits(getInt(MAX_RECORD_BYTES), getInt(MAX_INPUTS), getInt(MAX_TEXT_CHARS),
                getLong(MAX_TENSOR_ELEMENTS), ProtocolLimits.DEFAULTS.maxNestingDepth());
    }

    /** A group.id given as a Kafka setting (kafka.group.id, kafka.consumer.group.id), which the worker does not use. */
    public Optional<Object> ignoredGroupId() {
        return Optional.ofNullable(KafkaClientProperties.consumer(originals()).get(ConsumerConfig.GROUP_ID_CONFIG));
    }

    /** The consumer settings of a model's intake: passthrough, plus the static member id when asked for. */
    public Map<String, Object> consumerProperties(String model) {
        Map<String, Object> props = KafkaClientProperties.consumer(originals());
        // Each model's group is the worker's to name: a kafka.group.id from a config shared with other Kafka
        // applications put every model in one group (KEDA then watched groups nobody joined). Warned at start.
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        if (getBoolean(GROUP_STATIC_MEMBERSHIP) && !shareGroups()) {
            props.putIfAbsent("group.instance.id", workerId() + "-" + model);
        }
        return props;
    }

    public Map<String, Object> producerProperties() {
        return KafkaClientProperties.producer(originals());
    }

    public Map<String, Object> adminProperties() {
        return KafkaClientProperties.admin(originals());
    }
}
