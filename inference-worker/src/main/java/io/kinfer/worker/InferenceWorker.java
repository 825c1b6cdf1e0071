package io.kinfer.worker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.Redaction;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ModelAnnouncement;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.batch.BatchSettings;
import io.kinfer.worker.intake.ConsumerGroupIntake;
import io.kinfer.worker.intake.Intake;
import io.kinfer.worker.intake.ShareDeadLetterQueue;
import io.kinfer.worker.intake.ShareGroupIntake;
import io.kinfer.worker.intake.TransactionalIntake;
import io.kinfer.worker.model.ModelException;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.reply.ReplySender;
import io.kinfer.worker.reply.TopicChecker;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One worker process: for each model it serves, a {@link ModelPipeline} fed by its own consumer group, all
 * replying through one idempotent producer. Also announces its models on the catalog topic, reloads new model
 * versions, and serves {@code /metrics} and {@code /health}. {@link #close()} drains like Kafka's Sender: stop
 * taking requests, finish what is queued within the timeout, commit, then close resources one by one.
 */
public final class InferenceWorker implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(InferenceWorker.class);

    private final WorkerConfig config;
    private final String workerId;
    private final PrometheusMeterRegistry registry;
    private final WorkerMetrics metrics;
    private final JsonCodec codec;
    private final ModelRepository repository;
    private final Admin admin;
    /** The calls made while starting, through {@link #admin}; reads the brokers' configuration once. */
    private final WorkerAdmin workerAdmin;
    private final KafkaProducer<byte[], byte[]> producer;
    private final List<ModelPipeline> pipelines = new ArrayList<>();
    private final List<Intake> intakes = new ArrayList<>();
    private final List<KafkaClientMetrics> kafkaMetrics = new CopyOnWriteArrayList<>();
    /** False while announcements fail (logged once per run of failures). */
    private final AtomicBoolean announcing = new AtomicBoolean(true);
    private final List<KafkaProducer<byte[], byte[]>> transactionalProducers = new ArrayList<>();
    private final ScheduledExecutorService scheduler;
    private HealthServer health;

    private InferenceWorker(WorkerConfig config) {
        this.config = config;
        this.workerId = config.workerId();
        this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        registry.config().commonTags("worker", workerId);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry); // process_start_time_seconds: restarts show
        new ClassLoaderMetrics().bindTo(registry);
        this.metrics = new WorkerMetrics(registry);
        this.codec = new JsonCodec(config.protocolLimits());
        this.repository = config.modelRepository();
        this.admin = Admin.create(config.adminProperties());
        this.workerAdmin = new WorkerAdmin(admin);
        this.producer = new KafkaProducer<>(producerProperties(config), new ByteArraySerializer(),
                new ByteArraySerializer());
        bindKafkaMetrics(new KafkaClientMetrics(producer, kinferClient(replyProducerId(workerId))));
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "kinfer-worker-scheduler");
            thread.setDaemon(true);
            return thread;
        });
    }

    /**
     * Exports a Kafka client's own metrics (kafka_consumer_*, kafka_producer_*: connections, request latency, fetch
     * and records lag), as Spring Boot does: without them a worker cut off from Kafka looked healthy in every signal.
     */
    private void bindKafkaMetrics(KafkaClientMetrics clientMetrics) {
        clientMetrics.bindTo(registry);
        kafkaMetrics.add(clientMetrics);
    }

    /** Starts a worker: topics, models, consumers, metrics endpoint, announcements. */
    public static InferenceWorker start(WorkerConfig config) throws ModelException {
        InferenceWorker worker = new InferenceWorker(config);
        try {
            worker.startUp();
            return worker;
        } catch (ModelException | RuntimeException e) {
            worker.close();
            throw e;
        }
    }

    static Map<String, Object> producerProperties(WorkerConfig config) {
        Map<String, Object> props = new HashMap<>();
        props.put(ProducerConfig.CLIENT_ID_CONFIG, replyProducerId(config.workerId()));
        // acks=all with idempotence is Kafka's own default, so not set here: set explicitly, it made Kafka refuse an
        // ordinary kafka.producer.acks=1 instead of turning idempotence off for it. Kafka's settings pass through.
        // Kafka's 5 ms default linger costs about 10 ms per request-reply round trip (measured); replies of
        // one batch are sent back to back and still share produce requests.
        props.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        // Never block a batch thread long on metadata; unknown reply topics are checked first anyway.
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
        // A reply nobody can receive (its topic deleted, its broker gone) fails within 30 s instead of Kafka's
        // 120 s default, so a share-group member waiting for its poll's replies is not stalled for two minutes.
        Map<String, Object> user = config.producerProperties();
        Integer userDelivery = intOrNull(user, ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG);
        int delivery = userDelivery != null ? userDelivery : 30_000;
        if (config.shareGroups() && userDelivery == null) {
            // A share-group record is this worker's only while its acquisition lock lasts: a reply that fails must
            // fail within it, so that the record is released (or, on its last delivery, dead-lettered) by its holder.
            delivery = Math.min(delivery, Math.max(5_000, config.getInt(WorkerConfig.SHARE_LOCK_DURATION_MS) * 2 / 3));
        }
        Integer userRequest = intOrNull(user, ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG);
        int request = userRequest != null ? userRequest : Math.min(15_000, delivery / 2);
        Integer userLinger = intOrNull(user, ProducerConfig.LINGER_MS_CONFIG);
        if (userDelivery == null) {
            // Kafka refuses a delivery timeout below linger + request timeout: a user's longer request timeout wins.
            delivery = Math.max(delivery, request + (userLinger == null ? 0 : userLinger));
        }
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, request);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, delivery);
        props.putAll(user);
        if (props.remove(ProducerConfig.TRANSACTIONAL_ID_CONFIG) != null) {
            // A transactional id makes every send outside a transaction fail; the replies of exactly-once mode
            // go through producers of their own, named after it (transactionalId).
            log.warn("{} is not used by the reply producer; with {}=true each model's transactional producer is "
                    + "named after it (<id>-<model>)", ProducerConfig.TRANSACTIONAL_ID_CONFIG, WorkerConfig.EXACTLY_ONCE);
        }
        return props;
    }

    /**
     * The transactional id of a model's exactly-once producer: stable per worker and model when {@code worker.id}
     * is, so that a restarted worker fences its previous incarnation's transactions; a user's id is the stem, since
     * producers sharing one id fence each other.
     */
    static String transactionalId(WorkerConfig config, String model) {
        Object user = config.producerProperties().get(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
        String stem = user == null || user.toString().isBlank() ? "kinfer-" + config.workerId() : user.toString();
        return stem + "-" + model;
    }

    /**
     * The warning for exactly-once mode without a stable transactional id: with the default worker.id (host-pid) a
     * replacement process gets a new id, so it does not fence its predecessor, whose open transaction then pins the
     * reply partitions' last stable offset (read_committed readers see nothing past it) until the broker aborts it
     * at transaction.timeout.ms. Empty when there is nothing to warn of.
     */
    static Optional<String> unstableTransactionalIdWarning(WorkerConfig config) {
        if (!config.getBoolean(WorkerConfig.EXACTLY_ONCE) || !config.getString(WorkerConfig.WORKER_ID).isBlank()) {
            return Optional.empty();
        }
        Object user = config.producerProperties().get(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
        if (user != null && !user.toString().isBlank()) {
            return Optional.empty(); // the user's stem is stable
        }
        return Optional.of(WorkerConfig.EXACTLY_ONCE + "=true without an explicit " + WorkerConfig.WORKER_ID
                + ": the transactional ids (kinfer-" + config.workerId() + "-<model>) change with every process, so a "
                + "restarted or replacement worker does not fence its predecessor, and an open transaction it left "
                + "holds back read_committed readers of its reply partitions for up to transaction.timeout.ms (60 s "
                + "by default, longer than the gateway's timeout); set " + WorkerConfig.WORKER_ID + " (or "
                + "kafka.producer.transactional.id) to a name that a replacement keeps");
    }

    private static Integer intOrNull(Map<String, Object> settings, String key) {
        Object value = settings.get(key);
        return value == null ? null : (Integer) ConfigDef.parseType(key, value, ConfigDef.Type.INT);
    }

    /** The reply producer's max.request.size, as Kafka reads it (default 1 MiB). */
    static int maxRequestSize(WorkerConfig config) {
        return producerInt(config, ProducerConfig.MAX_REQUEST_SIZE_CONFIG);
    }

    /** An int setting of the reply producer as Kafka reads it: the worker's value, the user's, or Kafka's default. */
    private static int producerInt(WorkerConfig config, String key) {
        Integer value = intOrNull(producerProperties(config), key);
        return value != null ? value : (Integer) ProducerConfig.configDef().defaultValues().get(key);
    }

    private void startUp() throws ModelException {
        List<String> models = resolveModels();
        log.info("worker {} starting: models {}, settings {}", workerId, models,
                Redaction.redact(config.originals(), WorkerConfig.DEFINITION.names()::contains));
        config.ignoredGroupId().ifPresent(group -> log.warn("group.id {} (kafka.group.id or kafka.consumer.group.id) is "
                + "not used: the group of model m is {}.m; set {} to change it", group,
                config.getString(WorkerConfig.GROUP_ID_PREFIX), WorkerConfig.GROUP_ID_PREFIX));
        if (config.getBoolean(WorkerConfig.TOPICS_CREATE)) {
            createTopics(workerAdmin, config, models);
        }
        TopicChecker topics = new TopicChecker(admin, Duration.ofSeconds(10));
        if (!config.getBoolean(WorkerConfig.TOPICS_CREATE)) {
            // Said at start rather than found out from the first record that has to be dead-lettered.
            String deadLetters = config.getString(WorkerConfig.DLQ_TOPIC);
            topics.check(deadLetters).thenAccept(state -> {
                if (state.missing()) {
                    log.warn("dead-letter topic {} ({}) does not exist, and topics.create is false: records that "
                            + "cannot be answered are given up unanswered (consumer groups: after 2 x reply.failure.limit "
                            + "tries) instead of kept there; create it", deadLetters, WorkerConfig.DLQ_TOPIC);
                }
            });
        }
        int maxRecordBytes = maxRequestSize(config);
        Responder shared = new Responder(new ReplySender(producer, codec, topics,
                config.getString(WorkerConfig.DLQ_TOPIC), workerId, maxRecordBytes, Responder.FOLLOW_UPS), metrics);
        boolean exactlyOnce = config.getBoolean(WorkerConfig.EXACTLY_ONCE);
        unstableTransactionalIdWarning(config).ifPresent(log::warn);
        for (String model : models) {
            Responder responder = shared;
            KafkaProducer<byte[], byte[]> transactional = null;
            if (exactlyOnce) {
                // One transactional producer per model: its replies and that model's offsets commit together.
                transactional = transactionalProducer(model);
                responder = new Responder(new ReplySender(transactional, codec, topics,
                        config.getString(WorkerConfig.DLQ_TOPIC), workerId, maxRecordBytes, Responder.FOLLOW_UPS), metrics);
            }
            ModelPipeline pipeline = new ModelPipeline(model, repository, config, codec, responder, metrics, workerId);
            pipelines.add(pipeline);
            pipeline.start();
            Intake intake = intake(pipeline, transactional).start();
            intakes.add(intake);
            intake.kafkaMetrics().forEach((id, consumerMetrics) -> bindKafkaMetrics(new KafkaClientMetrics(
                    metricsOnly(consumerMetrics), kinferClient(id))));
        }
        for (int i = 0; i < pipelines.size(); i++) {
            Intake intake = intakes.get(i);
            Tags tags = Tags.of("model", pipelines.get(i).model());
            metrics.gauge("kinfer.consumer.lag", "Records behind the log end on this worker's partitions", tags,
                    intake::lag);
            metrics.gauge("kinfer.requests.inflight", "Records received and not yet answered", tags, intake::inFlight);
            FunctionCounter.builder("kinfer.records.refetched", intake, Intake::refetched).tags(tags)
                    .description("Times records were fetched again: from a record whose reply Kafka did not take, or"
                            + " after an aborted transaction")
                    .register(registry);
        }
        int port = config.getInt(WorkerConfig.METRICS_PORT);
        if (port >= 0) {
            try {
                health = new HealthServer(config.getString(WorkerConfig.METRICS_HOST), port, registry::scrape,
                        this::live, this::ready, this::status);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot serve metrics on port " + port, e);
            }
        }
        long announceMs = config.getLong(WorkerConfig.ANNOUNCE_INTERVAL_MS);
        scheduler.scheduleWithFixedDelay(this::announce, 0, announceMs, TimeUnit.MILLISECONDS);
        long pollMs = config.getLong(WorkerConfig.MODEL_POLL_INTERVAL_MS);
        if (pollMs > 0 && repository.directory().isPresent()) {
            scheduler.scheduleWithFixedDelay(this::refreshModels, pollMs, pollMs, TimeUnit.MILLISECONDS);
        }
        log.info("worker {} serving {} (metrics: {})", workerId, models, metricsUrl().orElse("off"));
    }

    private static String replyProducerId(String workerId) {
        return workerId + "-replies";
    }

    /** The client.id of a model's request consumer, unless kafka.client.id or kafka.consumer.client.id is set. */
    private String clientId(String model) {
        return workerId + "-" + model;
    }

    /**
     * Tells apart the Kafka meters of clients that share a client.id. With kafka.client.id set (as Kafka's settings
     * pass through unchanged), every consumer and producer of the worker has it, and Micrometer would bind each Kafka
     * meter to the first of them only. Spring Kafka adds its spring.id tag for the same reason.
     */
    static Tags kinferClient(String id) {
        return Tags.of(KafkaClientProperties.METER_CLIENT_TAG, id);
    }

    /**
     * A Consumer that answers only metrics(), the one call Micrometer's KafkaClientMetrics makes of it: a share
     * consumer is no Consumer, and Micrometer has no binder for it, so its Kafka meters are bound through this.
     */
    @SuppressWarnings("unchecked")
    static Consumer<byte[], byte[]> metricsOnly(Supplier<Map<MetricName, ? extends Metric>> metrics) {
        return (Consumer<byte[], byte[]>) Proxy.newProxyInstance(Consumer.class.getClassLoader(),
                new Class<?>[] {Consumer.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "metrics" -> metrics.get();
                    case "toString" -> "metrics of a Kafka consumer";
                    case "hashCode" -> System.identityHashCode(proxy);
                    case "equals" -> proxy == args[0];
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    private Intake intake(ModelPipeline pipeline, KafkaProducer<byte[], byte[]> transactional) {
        String model = pipeline.model();
        String topic = Topics.requestTopic(model);
        String clientId = clientId(model);
        long drainMs = config.getLong(WorkerConfig.SHUTDOWN_TIMEOUT_MS);
        BatchSettings batching = config.batchSettings(repository.config(model).batching());
        if (config.shareGroups()) {
            String groupId = config.groupId(model);
            applyShareGroupSettings(groupId);
            // Read once, after those settings: the dead-letter queue's setup starts from it, and the intake's first
            // poll works with its delivery-count limit.
            KafkaFuture<Config> group = workerAdmin.describeGroup(groupId);
            Optional<String> deadLetterTopic = config.shareDeadLetterTopic(model);
            if (deadLetterTopic.isPresent()) {
                group = ShareDeadLetterQueue.configure(workerAdmin, groupId, group, deadLetterTopic.get(),
                        config.getBoolean(WorkerConfig.TOPICS_CREATE), replication(config));
            }
            return new ShareGroupIntake(pipeline, topic, groupId, clientId, config.consumerProperties(model),
                    config.getInt(WorkerConfig.SHARE_CONSUMERS), batching.maxBatchSize(), drainMs, group);
        }
        if (transactional != null) {
            return new TransactionalIntake(pipeline, topic, config.groupId(model), clientId,
                    config.consumerProperties(model), transactional, producerInt(config,
                    ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), drainMs,
                    config.getInt(WorkerConfig.REPLY_FAILURE_LIMIT));
        }
        return new ConsumerGroupIntake(pipeline, topic, config.groupId(model), clientId,
                config.consumerProperties(model), config.getLong(WorkerConfig.COMMIT_INTERVAL_MS), drainMs,
                batching.maxQueueSize(), config.getInt(WorkerConfig.REPLY_FAILURE_LIMIT));
    }

    private KafkaProducer<byte[], byte[]> transactionalProducer(String model) {
        Map<String, Object> props = producerProperties(config);
        String clientId = clientId(model) + "-tx";
        props.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId(config, model));
        KafkaProducer<byte[], byte[]> transactional = new KafkaProducer<>(props, new ByteArraySerializer(),
                new ByteArraySerializer());
        transactional.initTransactions();
        transactionalProducers.add(transactional);
        bindKafkaMetrics(new KafkaClientMetrics(transactional, kinferClient(clientId)));
        return transactional;
    }

    /**
     * A share group starts at the log end by default, so records written before its first member joined would
     * never be served; its record lock decides how soon a crashed member's records go to another, and its session
     * timeout how soon that member's partitions do. Kafka 4.x sets these per group, through the Admin client.
     */
    private void applyShareGroupSettings(String groupId) {
        alterGroup(groupId, "share.auto.offset.reset", "earliest", true);
        alterGroup(groupId, "share.record.lock.duration.ms",
                Integer.toString(config.getInt(WorkerConfig.SHARE_LOCK_DURATION_MS)), false);
        int session = config.getInt(WorkerConfig.SHARE_SESSION_TIMEOUT_MS);
        alterGroup(groupId, "share.session.timeout.ms", Integer.toString(session), false);
        alterGroup(groupId, "share.heartbeat.interval.ms", Integer.toString(Math.max(1_000, session / 3)), false);
    }

    /** One setting per request, so that the broker refusing one (a value outside its bounds) keeps the others. */
    private void alterGroup(String groupId, String key, String value, boolean required) {
        try {
            workerAdmin.alterGroup(groupId, Map.of(key, value));
        } catch (ExecutionException | TimeoutException e) {
            if (required) {
                throw new IllegalStateException("cannot set " + key + " on share group " + groupId + ": "
                        + e.getMessage(), e);
            }
            log.warn("share group {}: {}={} refused by the broker ({}); keeping the broker's value", groupId,
                    key, value, e.getCause() != null ? e.getCause().getMessage() : e.getMessage());
        }
    }

    private List<String> resolveModels() {
        return resolveModels(config, repository);
    }

    /** {@code worker.models} with {@code *} expanded to every model of the repository; unknown names refused. */
    public static List<String> resolveModels(WorkerConfig config, ModelRepository repository) {
        List<String> wanted = config.models();
        if (wanted.contains("*")) {
            return repository.modelNames();
        }
        for (String model : wanted) {
            if (!repository.contains(model)) {
                throw new IllegalArgumentException("model " + model + " is not in the repository; known: "
                        + repository.modelNames());
            }
        }
        return wanted;
    }

    /**
     * Creates the topics a worker of {@code models} reads and writes, as its settings name and size them (existing
     * ones are left as they are). Also used by {@code kinfer up} before it starts several workers.
     */
    public static void createTopics(Admin admin, WorkerConfig config, List<String> models) {
        createTopics(new WorkerAdmin(admin), config, models);
    }

    private static void createTopics(WorkerAdmin admin, WorkerConfig config, List<String> models) {
        int partitions = config.getInt(WorkerConfig.TOPICS_PARTITIONS);
        Optional<Short> replication = replication(config);
        List<NewTopic> topics = new ArrayList<>();
        for (String model : models) {
            topics.add(new NewTopic(Topics.requestTopic(model), Optional.of(partitions), replication));
        }
        topics.add(new NewTopic(config.getString(WorkerConfig.REPLY_DEFAULT_TOPIC), Optional.of(partitions), replication));
        topics.add(new NewTopic(config.getString(WorkerConfig.DLQ_TOPIC), Optional.of(1), replication));
        topics.add(new NewTopic(Topics.CATALOG, Optional.of(1), replication)
                .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)));
        try {
            admin.ensureTopics(topics);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getMessage(), e.getCause());
        } catch (TimeoutException e) {
            // No answer at all reads as a topic problem unless the address is named.
            throw new IllegalStateException(e.getMessage() + ": no answer from Kafka at " + config.adminProperties()
                    .get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG) + " (kafka.bootstrap.servers); is it running, "
                    + "and is that its address?", e.getCause());
        }
    }

    /** The replication factor of topics the worker creates; empty: the broker's default. */
    private static Optional<Short> replication(WorkerConfig config) {
        short factor = config.getShort(WorkerConfig.TOPICS_REPLICATION_FACTOR);
        return factor > 0 ? Optional.of(factor) : Optional.empty();
    }

    private void announce() {
        intakes.forEach(intake -> intake.refresh(admin)); // asynchronous: the next announcement carries it
        long now = System.currentTimeMillis();
        long interval = config.getLong(WorkerConfig.ANNOUNCE_INTERVAL_MS);
        for (int i = 0; i < pipelines.size(); i++) {
            ModelPipeline pipeline = pipelines.get(i);
            Map<String, Double> stats = new HashMap<>(pipeline.stats());
            if (i < intakes.size()) {
                stats.put("consumer_lag", (double) intakes.get(i).lag());
                stats.put("inflight", (double) intakes.get(i).inFlight());
            }
            ModelAnnouncement announcement = new ModelAnnouncement(pipeline.model(), workerId, now, interval,
                    pipeline.metadata(), stats);
            producer.send(new ProducerRecord<>(Topics.CATALOG, key(announcement.key()),
                    codec.encodeAnnouncement(announcement)), (metadata, error) -> {
                        // Once per run of failures, and once when they end: gateways count a worker whose
                        // announcements stop as gone after three intervals, and this is the worker's first sign
                        // that it has lost Kafka (its consumers only log once their session expires).
                        if (error != null && !announcing.compareAndSet(true, false)) {
                            log.debug("announcement of {} failed: {}", pipeline.model(), error.toString());
                        } else if (error != null) {
                            log.warn("announcing model {} on {} failed ({}): Kafka unreachable? Gateways count this "
                                    + "worker gone after three announce intervals without one", pipeline.model(),
                                    Topics.CATALOG, error.toString());
                        } else if (announcing.compareAndSet(false, true)) {
                            log.info("announcements go through again");
                        }
                    });
        }
    }

    private void refreshModels() {
        for (ModelPipeline pipeline : pipelines) {
            try {
                pipeline.refresh();
            } catch (RuntimeException e) {
                log.error("refreshing model {} failed", pipeline.model(), e);
            }
        }
    }

    /**
     * Live unless a model's intake died of an error it could not handle (then nothing more is received), or a batch
     * thread failed in its own code (it answered what it held and serves on, but the process is suspect).
     */
    public boolean live() {
        return intakes.stream().allMatch(Intake::alive) && pipelines.stream().allMatch(ModelPipeline::alive);
    }

    /** Ready when every model is loaded and each consumer holds at least one partition. */
    public boolean ready() {
        return !pipelines.isEmpty() && pipelines.stream().allMatch(ModelPipeline::ready)
                && intakes.size() == pipelines.size() && intakes.stream().allMatch(Intake::ready);
    }

    private String status() {
        StringBuilder json = new StringBuilder("{\"worker\":\"").append(workerId).append("\",\"ready\":")
                .append(ready()).append(",\"models\":[");
        for (int i = 0; i < pipelines.size(); i++) {
            ModelPipeline pipeline = pipelines.get(i);
            if (i > 0) {
                json.append(',');
            }
            json.append("{\"model\":\"").append(pipeline.model()).append("\",\"loaded\":").append(pipeline.ready())
                    .append(",\"receiving\":").append(intakes.size() > i && intakes.get(i).ready())
                    .append(",\"queued\":").append(pipeline.queued()).append('}');
        }
        return json.append("]}").toString();
    }

    public String workerId() {
        return workerId;
    }

    public WorkerMetrics metrics() {
        return metrics;
    }

    public String scrape() {
        return registry.scrape();
    }

    /** The metrics URL, when the endpoint is on. */
    public Optional<String> metricsUrl() {
        return health == null ? Optional.empty()
                : Optional.of("http://" + config.getString(WorkerConfig.METRICS_HOST) + ":" + health.port() + "/metrics");
    }

    public List<ModelPipeline> pipelines() {
        return List.copyOf(pipelines);
    }

    List<Intake> intakes() {
        return List.copyOf(intakes);
    }

    /** Stops as a crash would for each consumer: no drain, no further commits. For tests. */
    public void crash() {
        scheduler.shutdownNow();
        kafkaMetrics.forEach(KafkaClientMetrics::close);
        intakes.forEach(Intake::crash);
        pipelines.forEach(ModelPipeline::close);
        producer.close(Duration.ZERO);
        transactionalProducers.forEach(p -> p.close(Duration.ZERO));
        admin.close(Duration.ZERO);
        registry.close();
        if (health != null) {
            health.close();
        }
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        kafkaMetrics.forEach(KafkaClientMetrics::close); // their refresh reads the clients closed below
        List<RuntimeException> errors = new CopyOnWriteArrayList<>(); // added to from parallel closes
        // Admission first (stop polling), then drain and commit inside each intake, then the rest.
        // An interrupt while waiting is restored only at the end: restored at once, every later step (the model's
        // close, the producer's) would fail on it and leave its part open.
        boolean interrupted = closeSideBySide(intakes, "kinfer-close-intake", Intake::close, errors);
        for (ModelPipeline pipeline : pipelines) {
            run(errors, () -> producer.send(new ProducerRecord<>(Topics.CATALOG,
                    key(ModelAnnouncement.key(pipeline.model(), workerId)), null)));
            run(errors, pipeline::close);
        }
        // Side by side: one after another, each model's producer added its 10 s to what the grace period must cover.
        interrupted |= closeSideBySide(transactionalProducers, "kinfer-close-tx", p -> p.close(Duration.ofSeconds(10)),
                errors);
        run(errors, () -> producer.close(Duration.ofSeconds(10)));
        run(errors, () -> admin.close(Duration.ofSeconds(5)));
        if (health != null) {
            run(errors, health::close);
        }
        run(errors, registry::close);
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (!errors.isEmpty()) {
            RuntimeException first = errors.get(0);
            errors.subList(1, errors.size()).forEach(first::addSuppressed);
            throw first;
        }
        log.info("worker {} stopped", workerId);
    }

    /**
     * Closes each item on a thread of its own and waits for all. A parallel stream ran on the common pool, which has
     * one thread beside the caller on two cores: three models' drains, each up to shutdown.timeout.ms, ran partly one
     * after another, past what the grace period covers. Returns whether the caller was interrupted while it waited
     * (it still waits for every close, each bounded by its own timeout), for the caller to restore once done.
     */
    static <T> boolean closeSideBySide(List<T> items, String name, java.util.function.Consumer<T> close,
                                       List<RuntimeException> errors) {
        List<Thread> threads = new ArrayList<>(items.size());
        for (T item : items) {
            Thread thread = new Thread(() -> run(errors, () -> close.accept(item)), name);
            thread.start();
            threads.add(thread);
        }
        boolean interrupted = false;
        for (Thread thread : threads) {
            while (true) {
                try {
                    thread.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // every close still ends: each is bounded by its own timeout
                }
            }
        }
        return interrupted;
    }

    private static void run(List<RuntimeException> errors, Runnable action) {
        try {
            action.run();
        } catch (RuntimeException e) {
            errors.add(e);
        }
    }

    private static byte[] key(String key) {
        return key.getBytes(StandardCharsets.UTF_8);
    }
}
