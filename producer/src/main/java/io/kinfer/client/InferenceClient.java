package io.kinfer.client;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.LatencyBuckets;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.ProtocolLimits;
import io.kinfer.protocol.RequestEnvelope;
import io.kinfer.protocol.Topics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Request-reply over Kafka for upstream Java systems and the gateway. Each call registers a future under a fresh
 * correlation id before the request is sent, and the future completes when the reply arrives on this instance's
 * own reply topic (or its own partition of a shared one), or fails at the call's deadline, which also travels to
 * the workers so they skip work nobody waits for. Late and duplicate replies are counted and dropped.
 *
 * <p>Nothing here blocks the caller: sends run off the caller's thread, in order per topic, each topic on a thread
 * of a shared pool (a Kafka send blocks while its topic's metadata is missing, so a missing or deleted topic holds
 * up only its own sends), replies complete futures on the reply thread (use the {@code *Async} stages for heavy
 * follow-up work), and a call beyond {@code max.in.flight.requests} or while Kafka is unreachable fails at once. A
 * call's in-flight slot is free before its future completes, so a callback may start the next call at once.
 *
 * <p>{@link #createFireAndForget} makes a client without replies: no reply topic, no reply consumer, no admin
 * client, for {@link #submit} and {@link #publish} only.
 */
public final class InferenceClient implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(InferenceClient.class);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /** A failed reply consumer retries after 100 ms, doubling up to 10 s, as Kafka's own reconnect backoff does. */
    private static final long REPLY_RETRY_INITIAL_MS = 100;
    private static final long REPLY_RETRY_MAX_MS = 10_000;
    /** The client.id suffixes of the request producer and reply consumer, unless Kafka's settings set client.id. */
    private static final String REQUESTS_SUFFIX = "-requests";
    private static final String REPLIES_SUFFIX = "-replies";
    /** Tells apart the Kafka meters of clients that share a client.id (see ClientMetrics). */
    static final String KAFKA_CLIENT_TAG = KafkaClientProperties.METER_CLIENT_TAG;
    /** Each step of close (sends draining, the reply thread ending, each Kafka client closing) waits at most this. */
    private static final Duration CLOSE_STEP = Duration.ofSeconds(5);
    /** A close() while another runs waits for it at most this (the first one's steps are bounded by CLOSE_STEP). */
    private static final Duration CONCURRENT_CLOSE_WAIT = Duration.ofSeconds(30);

    /**
     * Outcomes of {@code kinfer.client.requests} the client itself decides; a reply counts as {@code success} or
     * its error code ({@code expired}, {@code internal}, ...).
     */
    static final String INVALID_REQUEST = "invalid_request";
    static final String OVERLOADED = "overloaded";
    static final String DEADLINE_EXCEEDED = "deadline_exceeded";
    static final String BAD_REPLY = "bad_reply";
    static final String TOO_LARGE = "too_large";
    static final String NOT_AUTHORIZED = "not_authorized";
    static final String KAFKA_UNAVAILABLE = "kafka_unavailable";
    static final String CLIENT_CLOSED = "client_closed";
    static final String CANCELLED = "cancelled";

    /** Per-call settings: the timeout (the request's deadline), priority, and headers to pass along. */
    public record RequestOptions(Duration timeout, int priority, Map<String, String> headers) {
        public RequestOptions {
            headers = headers == null ? Map.of() : Map.copyOf(headers);
        }

        public static RequestOptions timeout(Duration timeout) {
            return new RequestOptions(timeout, 0, Map.of());
        }
    }

    /** A call waiting for its reply. Its timer is set after it is registered, so that no timeout can miss it. */
    private static final class Pending {
        final CompletableFuture<InferenceReply> future;
        final long startedNanos;
        private volatile ScheduledFuture<?> timer;
        private volatile boolean released;

        Pending(CompletableFuture<InferenceReply> future, long startedNanos) {
            this.future = future;
            this.startedNanos = startedNanos;
        }

        CompletableFuture<InferenceReply> future() {
            return future;
        }

        void timer(ScheduledFuture<?> timer) {
            this.timer = timer;
            if (released) {
                timer.cancel(false); // ended before the timer was set
            }
        }

        void release() {
            released = true;
            ScheduledFuture<?> current = timer;
            if (current != null) {
                current.cancel(false);
            }
        }
    }

    /** Client ids with their own reply topic that a live client in this JVM uses. */
    private static final Set<String> LIVE_IDS = ConcurrentHashMap.newKeySet();

    /** The longest timeout a call may ask for; more would overflow its deadline. */
    private static final Duration MAX_TIMEOUT = Duration.ofDays(365);

    private enum Role { SEND, TIMER, REPLY }

    private final ClientConfig config;
    private final String clientId;
    /** Null for a fire-and-forget client. */
    private final String replyTopic;
    private final String incarnation;
    /** Replies are read with their own limits: a model's outputs may be far larger than any request. */
    private final JsonCodec codec = new JsonCodec(ProtocolLimits.REPLIES);
    private final Producer<byte[], byte[]> producer;
    /** Null for a fire-and-forget client; else owned by the reply thread once it started (it closes it). */
    private final Consumer<byte[], byte[]> replyConsumer;
    /** Null for a fire-and-forget client. */
    private final Admin admin;
    private final LongSupplier clock;
    /** How long a topic's sends fail at once after one waited max.block.ms: the reachability check's interval. */
    private final long failFastMs;
    /**
     * Kafka's producer I/O thread, which completes the sends it acknowledges or fails (their futures, with the
     * callers' stages): taken from inside the first such callback, before anything it completes can call close().
     * One of this client's own threads for close(), as those of {@link OwnThread} are.
     */
    private volatile Thread producerThread;
    /** Runs each topic's sends; grows a thread per topic sending at once (one blocked topic holds one). */
    private final ThreadPoolExecutor sendPool;
    private final ConcurrentHashMap<String, TopicSender> topicSenders = new ConcurrentHashMap<>();
    private final ScheduledThreadPoolExecutor scheduler;
    /** Null for a fire-and-forget client. */
    private final Thread replyThread;
    private final ConcurrentHashMap<String, Pending> pending = new ConcurrentHashMap<>();
    // Ids answered recently, only to tell a duplicate reply from a late one in the metrics. Redelivered duplicates
    // arrive within a failover (seconds, measured at most 14 s); two minutes covers that while keeping the memory
    // at rate x 2 min (a 10-minute window showed as 15 MB of steadily growing heap in a 10-minute soak).
    private final Cache<String, Boolean> finished = Caffeine.newBuilder()
            .maximumSize(100_000).expireAfterWrite(Duration.ofMinutes(2)).build();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong sequence = new AtomicLong();
    private final int maxInFlight;
    private final Duration defaultTimeout;
    private final ClientMetrics metrics;
    private volatile boolean replyConsumerReady;
    /** Counted down by close, to end a failed reply consumer's backoff at once. */
    private final CountDownLatch closeSignal = new CountDownLatch(1);
    /** This start created the own reply topic: close deletes it even if the start failed after that. */
    private volatile boolean createdReplyTopic;
    /**
     * start()'s creation of the reply topic, once asked for: an interrupt may end start()'s wait while the broker
     * still creates it, and close() then waits for it, so as to delete a topic made after all.
     */
    private volatile KafkaFuture<Void> replyTopicCreation;
    /** start() completed: its reply topic (created or reused) is this instance's, whatever the consumer's state. */
    private volatile boolean started;
    private volatile boolean reachable;
    /** Set as close begins: no new calls or sends. */
    private volatile boolean closed;
    /** Only the first close() runs the closing steps. */
    private final AtomicBoolean closing = new AtomicBoolean();
    /** The thread running the closing steps: a close() from a callback they run returns at once. */
    private volatile Thread closer;
    /** Counted down when the closing steps are done: a concurrent close() waits for it. */
    private final CountDownLatch closedFully = new CountDownLatch(1);
    /** Set by a closing step that was interrupted: the flag is restored when close returns. */
    private volatile boolean interruptedWhileClosing;
    /** Set by {@link #close(Duration)}: no new calls, while those in flight may still be answered. */
    private volatile boolean draining;
    private List<TopicPartition> replyPartitions = List.of();
    /** The reply partition every request names, set once the reply consumer is positioned. */
    private int envelopePartition = RequestEnvelope.ANY_PARTITION;

    private InferenceClient(ClientConfig config, MeterRegistry registry, boolean withReplies) {
        this.config = config;
        this.clientId = config.clientId();
        this.replyTopic = withReplies ? config.replyTopic() : null;
        this.incarnation = randomToken();
        this.clock = System::currentTimeMillis;
        this.failFastMs = config.getLong(ClientConfig.CLUSTER_CHECK_INTERVAL_MS);
        this.maxInFlight = config.getInt(ClientConfig.MAX_IN_FLIGHT);
        this.defaultTimeout = Duration.ofMillis(config.getLong(ClientConfig.REQUEST_TIMEOUT_MS));
        // A client whose settings Kafka refuses (say acks=1 with enable.idempotence=true) must not leave the others
        // running.
        Admin madeAdmin = withReplies ? Admin.create(config.adminProperties()) : null;
        KafkaProducer<byte[], byte[]> madeProducer = null;
        try {
            madeProducer = new KafkaProducer<>(producerProperties(config, clientId), new ByteArraySerializer(),
                    new ByteArraySerializer());
            this.replyConsumer = withReplies ? new KafkaConsumer<>(consumerProperties(config, clientId),
                    new ByteArrayDeserializer(), new ByteArrayDeserializer()) : null;
        } catch (RuntimeException e) {
            if (madeProducer != null) {
                madeProducer.close(Duration.ZERO);
            }
            if (madeAdmin != null) {
                madeAdmin.close(Duration.ZERO);
            }
            throw e;
        }
        this.admin = madeAdmin;
        this.producer = madeProducer;
        this.metrics = new ClientMetrics(registry, clientId, inFlight, producer, replyConsumer);
        this.sendPool = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS, new SynchronousQueue<>(),
                threads("kinfer-client-send-" + clientId + "-", Role.SEND, true));
        this.scheduler = new ScheduledThreadPoolExecutor(1, threads("kinfer-client-timer-" + clientId, Role.TIMER,
                false));
        this.scheduler.setRemoveOnCancelPolicy(true);
        // close() shuts the timer down without interrupting it (it may be the thread closing): the timers of the
        // calls it failed are dropped instead.
        this.scheduler.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        this.replyThread = withReplies
                ? threads("kinfer-client-replies-" + clientId, Role.REPLY, false).newThread(this::readReplies)
                : null;
    }

    /** Creates the reply topic if it is this instance's own, positions the reply consumer, then accepts calls. */
    public static InferenceClient create(ClientConfig config) {
        return create(config, new SimpleMeterRegistry());
    }

    public static InferenceClient create(ClientConfig config, MeterRegistry registry) {
        // Two live clients with one id would share a reply topic, and the first to close would delete it under the
        // other (one ClientConfig without a client.id makes one generated id).
        String id = config.clientId();
        if (config.ownReplyTopic() && !LIVE_IDS.add(id)) {
            throw new IllegalStateException("client.id " + id + " is already used by a live inference client in this "
                    + "JVM; give each client its own ClientConfig or client.id");
        }
        InferenceClient client;
        try {
            client = new InferenceClient(config, registry, true);
        } catch (RuntimeException e) {
            LIVE_IDS.remove(id);
            throw e;
        }
        try {
            client.start();
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    /**
     * A client for fire-and-forget only ({@link #submit}, {@link #publish}): it creates no reply topic and no reply
     * consumer, so it needs only the right to write the request topics. {@link #request} fails at once with an
     * {@link IllegalStateException}. The reply settings of {@code config} are ignored.
     */
    public static InferenceClient createFireAndForget(ClientConfig config) {
        return createFireAndForget(config, new SimpleMeterRegistry());
    }

    public static InferenceClient createFireAndForget(ClientConfig config, MeterRegistry registry) {
        InferenceClient client = new InferenceClient(config, registry, false);
        client.started = true;
        client.reachable = true;
        return client;
    }

    static Map<String, Object> producerProperties(ClientConfig config, String clientId) {
        Map<String, Object> props = new HashMap<>();
        props.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + REQUESTS_SUFFIX);
        // acks=all with idempotence is Kafka's own default, so not set here: set explicitly, it made Kafka refuse
        // an ordinary acks=1 or retries=0 instead of turning idempotence off for it, as Kafka does when nobody
        // asked for idempotence. Kafka's settings pass through as they are.
        // Kafka's 5 ms default linger adds its full length to every lone request (measured).
        props.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        // The send thread must not hang for a minute when Kafka is gone; the caller's deadline governs.
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000);
        props.putAll(config.producerProperties());
        // A settings file shared with exactly-once workers may carry their transactional id: sends outside a
        // transaction would all fail with it, and this producer never starts one.
        props.remove(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
        return props;
    }

    static Map<String, Object> consumerProperties(ClientConfig config, String clientId) {
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId + REPLIES_SUFFIX);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Replies are wanted the moment they are written, not batched by the broker.
        props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        // Exactly-once workers write replies in transactions; only committed ones count.
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.putAll(config.consumerProperties());
        // No group: this instance reads its own partitions by assignment, never rebalanced away.
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        props.remove(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
        return props;
    }

    private void start() {
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        if (config.ownReplyTopic()) {
            short replication = config.getShort(ClientConfig.REPLICATION_FACTOR);
            NewTopic topic = new NewTopic(replyTopic, Optional.of(config.getInt(ClientConfig.REPLY_TOPIC_PARTITIONS)),
                    replication > 0 ? Optional.of(replication) : Optional.empty());
            try {
                replyTopicCreation = admin.createTopics(List.of(topic)).all();
                replyTopicCreation.get(START_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                createdReplyTopic = true;
            } catch (ExecutionException e) {
                if (e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException) {
                    // The admin client's own default.api.timeout.ms (60 s) ends first: no answer, as below.
                    throw new InferenceException.KafkaUnavailable("Kafka at "
                            + config.getString(KafkaClientProperties.BOOTSTRAP_SERVERS) + " did not answer: cannot "
                            + "create reply topic " + replyTopic, e.getCause());
                }
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new InferenceException.KafkaUnavailable("cannot create reply topic " + replyTopic, e.getCause());
                }
                log.info("reply topic {} exists already: reusing it (left by a stopped instance with client.id {}; "
                        + "if another live process uses this id, give each its own: the first to close deletes it)",
                        replyTopic, clientId);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InferenceException.ClientClosed("interrupted while starting");
            } catch (TimeoutException e) {
                throw new InferenceException.KafkaUnavailable("Kafka at "
                        + config.getString(KafkaClientProperties.BOOTSTRAP_SERVERS) + " did not answer within "
                        + START_TIMEOUT.toSeconds() + " s", e);
            }
        }
        List<TopicPartition> partitions = new ArrayList<>();
        int only = config.getInt(ClientConfig.REPLY_PARTITION);
        long missingSince = 0;
        while (partitions.isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new InferenceException.KafkaUnavailable("reply topic " + replyTopic + " has no partitions", null);
            }
            List<PartitionInfo> infos = startStep(() -> replyConsumer.partitionsFor(replyTopic, Duration.ofSeconds(5)),
                    Duration.ofSeconds(5));
            infos = infos == null ? List.of() : infos;
            for (PartitionInfo info : infos) {
                if (only < 0 || info.partition() == only) {
                    partitions.add(new TopicPartition(replyTopic, info.partition()));
                }
            }
            if (partitions.isEmpty() && !infos.isEmpty()) {
                // The topic is there, the partition is not: after a few seconds (a partition just added may be
                // missing from a broker's metadata for a moment), waiting cannot help.
                missingSince = missingSince == 0 ? System.nanoTime() : missingSince;
                if (System.nanoTime() - missingSince > TimeUnit.SECONDS.toNanos(5)) {
                    throw new IllegalArgumentException("reply.partition " + only + " does not exist: reply topic "
                            + replyTopic + " has " + infos.size() + " partition(s)");
                }
            }
            if (partitions.isEmpty()) {
                // A topic just created may take a moment to appear in metadata; ask again shortly, not in a spin.
                try {
                    closeSignal.await(REPLY_RETRY_INITIAL_MS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InferenceException.ClientClosed("interrupted while starting");
                }
            }
        }
        // Assigned and positioned before the first request is sent, so no early reply is missed (the pitfall of
        // reply containers that start listening after the first send).
        replyConsumer.assign(partitions);
        replyPartitions = List.copyOf(partitions);
        startStep(() -> {
            positionAtEnd(Duration.ofSeconds(30));
            return null;
        }, Duration.ofSeconds(30));
        envelopePartition = only >= 0 ? only
                : replyPartitions.size() == 1 ? replyPartitions.get(0).partition() : RequestEnvelope.ANY_PARTITION;
        replyConsumerReady = true;
        started = true;
        reachable = true;
        replyThread.start();
        long interval = config.getLong(ClientConfig.CLUSTER_CHECK_INTERVAL_MS);
        scheduler.scheduleWithFixedDelay(this::checkCluster, interval, interval, TimeUnit.MILLISECONDS);
        log.info("inference client {} ready: replies on {}", clientId, partitions);
    }

    /**
     * A blocking step of start() on the reply consumer. Kafka's exceptions for a Kafka that does not answer and for
     * an interrupt become the client's, as where start() creates the reply topic: a shared reply topic has no such
     * step, and Kafka's TimeoutException came out of create() raw.
     */
    private <T> T startStep(java.util.function.Supplier<T> step, Duration timeout) {
        try {
            return step.get();
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
            throw new InferenceException.KafkaUnavailable("Kafka at "
                    + config.getString(KafkaClientProperties.BOOTSTRAP_SERVERS) + " did not answer within "
                    + timeout.toSeconds() + " s", e);
        } catch (org.apache.kafka.common.errors.InterruptException e) {
            throw new InferenceException.ClientClosed("interrupted while starting"); // Kafka's exception set the flag
        }
    }

    /** Sends a request and completes with its reply (a result or an error reply), using the default timeout. */
    public CompletableFuture<InferenceReply> request(InferenceRequest request) {
        return request(request, RequestOptions.timeout(defaultTimeout));
    }

    public CompletableFuture<InferenceReply> request(InferenceRequest request, Duration timeout) {
        return request(request, RequestOptions.timeout(timeout));
    }

    /**
     * Sends a request; the future completes with the reply, or fails with an {@link InferenceException}:
     * {@code DeadlineExceeded} at the timeout, {@code Overloaded} at once beyond the in-flight limit,
     * {@code KafkaUnavailable} when Kafka is unreachable or refuses the record, {@code NotAuthorized} when an ACL
     * denies the request topic, {@code RequestTooLarge}, {@code ClientClosed} on close; or
     * with the {@link IllegalArgumentException} or {@link NullPointerException} of a request that cannot be sent
     * (an invalid model name, a null, zero or negative timeout), before it takes an in-flight slot. Timeouts above
     * a year are capped, and a positive one below a millisecond is one millisecond. The call's slot is free before
     * its future completes: a callback may make the next call at once. Futures complete on the client's threads
     * (reply, timer, send, Kafka's producer): hand slow work in callbacks to an executor of your own. An interrupt
     * a callback leaves on one of those threads is cleared: it is not the thread's.
     */
    public CompletableFuture<InferenceReply> request(InferenceRequest request, RequestOptions options) {
        CompletableFuture<InferenceReply> future = new CompletableFuture<>();
        if (closed || draining) {
            metrics.outcome(CLIENT_CLOSED);
            return failed(future, new InferenceException.ClientClosed("the inference client is closed"));
        }
        if (replyTopic == null) {
            metrics.outcome(INVALID_REQUEST);
            return failed(future, new IllegalStateException("this client was created for fire-and-forget only "
                    + "(createFireAndForget): it reads no replies"));
        }
        if (!replyConsumerReady) {
            metrics.outcome(KAFKA_UNAVAILABLE);
            return failed(future, new InferenceException.KafkaUnavailable("the reply consumer is not running", null));
        }
        if (!reachable) {
            metrics.outcome(KAFKA_UNAVAILABLE);
            return failed(future, new InferenceException.KafkaUnavailable("Kafka is unreachable", null));
        }
        // Everything that can fail on the caller's input comes before a slot is taken, so nothing leaks one.
        String correlationId = clientId + "-" + incarnation + "-" + Long.toString(sequence.incrementAndGet(), 36);
        long timeoutMs;
        ProducerRecord<byte[], byte[]> record;
        try {
            Objects.requireNonNull(request, "request");
            Duration timeout = Objects.requireNonNull(options.timeout(), "timeout");
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("the timeout must be positive, not " + timeout);
            }
            timeoutMs = Math.max(1, (timeout.compareTo(MAX_TIMEOUT) > 0 ? MAX_TIMEOUT : timeout).toMillis());
            RequestEnvelope envelope = new RequestEnvelope(correlationId, replyTopic, envelopePartition,
                    clock.getAsLong() + timeoutMs, options.priority());
            record = requestRecord(request, envelope, options.headers());
        } catch (RuntimeException e) {
            metrics.outcome(INVALID_REQUEST);
            return failed(future, e);
        }
        if (inFlight.incrementAndGet() > maxInFlight) {
            inFlight.decrementAndGet();
            metrics.outcome(OVERLOADED);
            return failed(future, new InferenceException.Overloaded(maxInFlight + " requests already in flight"));
        }
        Pending call = new Pending(future, System.nanoTime());
        pending.put(correlationId, call);
        // Every path of the client's own frees the slot before it completes the future (end()); this stage only
        // catches the caller's own completion (a cancel, say), which would otherwise keep the slot forever.
        future.whenComplete((reply, error) -> {
            // Ended by the client itself (the usual case): released already, no second map removal needed.
            if (!call.released && release(correlationId, call, false)) {
                metrics.outcome(CANCELLED);
            }
        });
        // Registered first, timed second: a timer that fired before the call was registered would find nothing,
        // and the call would then wait for a reply forever.
        try {
            call.timer(scheduler.schedule(() -> expire(correlationId, timeoutMs), timeoutMs, TimeUnit.MILLISECONDS));
        } catch (RejectedExecutionException e) {
            fail(correlationId, call, new InferenceException.ClientClosed("the inference client is closed"));
            return future;
        }
        if (closed) {
            // close() may have failed the pending calls just before this one was registered.
            fail(correlationId, call, new InferenceException.ClientClosed("the inference client is closed"));
            return future;
        }
        if (!replyConsumerReady) {
            // Likewise a failing reply consumer, which then skips to the end of its partitions past this reply.
            fail(correlationId, call, new InferenceException.KafkaUnavailable("the reply consumer is not running",
                    null));
            return future;
        }
        publish(record, future).whenComplete((ok, error) -> {
            if (error != null) {
                fail(correlationId, call, sendFailure(error, record.topic()));
            }
        });
        return future;
    }

    /** What a request Kafka did not take means for its caller, for request-reply calls and submits alike. */
    private static InferenceException sendFailure(Throwable error, String topic) {
        if (error instanceof RecordTooLargeException) {
            // Not a Kafka outage: retrying the same request can only fail again.
            return new InferenceException.RequestTooLarge("the request is larger than Kafka takes ("
                    + error.getMessage() + ")", error);
        }
        if (error instanceof AuthorizationException) {
            // Nor is a missing grant: calling it an outage would send callers into retries and operators looking
            // at the brokers.
            return new InferenceException.NotAuthorized("Kafka refused this client " + topic + ": "
                    + error.getMessage(), error);
        }
        if (error instanceof InferenceException known) {
            return known; // ClientClosed, or KafkaUnavailable while a topic's sends fail at once
        }
        return new InferenceException.KafkaUnavailable("Kafka did not take the request: " + error.getMessage(), error);
    }

    /**
     * Frees the call's in-flight slot and forgets it, once: true for the one caller that did so, which then owns
     * the call's ending (its outcome and its future). Before the future completes, so that callbacks find the slot
     * free; once, so that no slot is freed twice however many paths race to end the call.
     */
    private boolean release(String correlationId, Pending call, boolean answered) {
        if (!pending.remove(correlationId, call)) {
            return false;
        }
        call.release();
        inFlight.decrementAndGet();
        finished.put(correlationId, answered);
        return true;
    }

    /** Ends a call with an error, counted as the error's outcome, unless another path ended it first. */
    private void fail(String correlationId, Pending call, InferenceException error) {
        if (release(correlationId, call, false)) {
            metrics.outcome(error.outcome());
            call.future.completeExceptionally(error);
        }
    }

    /**
     * Fire-and-forget: writes the request and completes once Kafka acknowledged it. Its reply goes to
     * {@code replyTopic} (null: the workers' default reply topic) under the request id, and nothing here waits
     * for it. A deadline of 0 means none. Fails with {@code RequestTooLarge}, {@code NotAuthorized},
     * {@code ClientClosed}, or else {@code KafkaUnavailable}: at once, for {@code cluster.check.interval.ms}, once a
     * send to the same topic waited all of max.block.ms for its metadata.
     */
    public CompletableFuture<Void> submit(InferenceRequest request, String replyTopic, long deadlineEpochMs,
                                          Map<String, String> headers) {
        return submit(request, replyTopic, deadlineEpochMs, 0, headers);
    }

    /** As {@link #submit(InferenceRequest, String, long, Map)}, with a priority (higher is served first; 0 default). */
    public CompletableFuture<Void> submit(InferenceRequest request, String replyTopic, long deadlineEpochMs,
                                          int priority, Map<String, String> headers) {
        if (closed || draining) {
            return CompletableFuture.failedFuture(new InferenceException.ClientClosed("the inference client is closed"));
        }
        String topic = replyTopic == null ? Topics.DEFAULT_REPLY_TOPIC : replyTopic;
        // What a worker would refuse, refused here: such a request could only be dead-lettered, never answered.
        if (!Topics.isValidReplyTopic(topic)) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("reply topic '" + topic
                    + "' is not a valid Kafka topic name, or is a request topic (" + Topics.REQUEST_PREFIX + "*)"));
        }
        if (request == null || request.id() == null || request.id().isEmpty()
                || request.id().length() > KinferHeaders.MAX_CORRELATION_ID_CHARS) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("a submitted request's id is its "
                    + "correlation id: 1 to " + KinferHeaders.MAX_CORRELATION_ID_CHARS + " characters"));
        }
        if (deadlineEpochMs < 0) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("deadline " + deadlineEpochMs
                    + " is negative (0: none)"));
        }
        RequestEnvelope envelope = new RequestEnvelope(request.id(), topic, RequestEnvelope.ANY_PARTITION,
                deadlineEpochMs, priority);
        return send(request, envelope, headers == null ? Map.of() : headers);
    }

    private CompletableFuture<Void> send(InferenceRequest request, RequestEnvelope envelope,
                                         Map<String, String> extraHeaders) {
        ProducerRecord<byte[], byte[]> record;
        try {
            record = requestRecord(request, envelope, extraHeaders);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        CompletableFuture<Void> sent = new CompletableFuture<>();
        publish(record).whenComplete((ok, error) -> {
            if (error == null) {
                sent.complete(null);
            } else {
                sent.completeExceptionally(sendFailure(error, record.topic()));
            }
        });
        return sent;
    }

    /** The request as a record on its model's topic; throws on a request that cannot be encoded or routed. */
    private ProducerRecord<byte[], byte[]> requestRecord(InferenceRequest request, RequestEnvelope envelope,
                                                         Map<String, String> extraHeaders) {
        byte[] value = codec.encodeRequest(request);
        Headers headers = new RecordHeaders();
        extraHeaders.forEach((name, text) -> headers.add(name, text.getBytes(StandardCharsets.UTF_8)));
        KinferHeaders.write(envelope, headers);
        return new ProducerRecord<>(Topics.requestTopic(request.model()), null,
                envelope.correlationId().getBytes(StandardCharsets.UTF_8), value, headers);
    }

    /**
     * Writes any record with this client's producer, off the caller's thread; completes once Kafka acknowledged
     * it. For services built on the client that write their own records. A send to a topic whose metadata Kafka
     * does not have blocks up to max.block.ms (a missing or deleted topic: all of it), so each topic's sends run
     * in order on a thread of their own from a shared pool: one such topic holds up its own sends only.
     */
    public CompletableFuture<Void> publish(ProducerRecord<byte[], byte[]> record) {
        return publish(record, null);
    }

    /** As {@link #publish(ProducerRecord)}; not sent at all if {@code call} has ended before its turn comes. */
    private CompletableFuture<Void> publish(ProducerRecord<byte[], byte[]> record, CompletableFuture<?> call) {
        if (closed) {
            return CompletableFuture.failedFuture(new InferenceException.ClientClosed("the inference client is closed"));
        }
        TopicSender sender = topicSenders.computeIfAbsent(record.topic(), topic -> new TopicSender());
        Send send = new Send(record, call, sender);
        sender.add(send);
        return send.acked;
    }

    /**
     * The sends of one topic, in order, run by one thread of the shared pool at a time. A send blocks while Kafka
     * lacks its topic's metadata (a topic not created yet, or deleted after it took records): then only this topic's
     * later sends wait behind it, never another topic's, whichever topic took records before.
     */
    private final class TopicSender implements Runnable {
        private final ConcurrentLinkedQueue<Send> queue = new ConcurrentLinkedQueue<>();
        private final AtomicBoolean scheduled = new AtomicBoolean();
        /** Kafka acknowledged this topic's last send: its metadata is known, so its sends do not block. */
        private volatile boolean delivering;
        /** Set at close: what is still queued fails with ClientClosed instead of being sent. */
        private volatile boolean abandoned;
        /**
         * Until when (System.nanoTime) this topic's sends fail at once: a send waited all of max.block.ms for its
         * metadata (Kafka unreachable, or no such topic). Without it every queued send would wait that long in
         * turn: a file of 1000 lines, 80 minutes (measured with produce). The first send after it tries again.
         */
        private volatile long failFastUntil;
        private volatile boolean failingFast;

        boolean failingFast() {
            if (failingFast && System.nanoTime() - failFastUntil >= 0) {
                failingFast = false;
            }
            return failingFast;
        }

        void failFast() {
            failFastUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(failFastMs);
            failingFast = true;
        }
        /** The pool thread running this topic's sends now, if any (guarded by this). */
        private Thread runner;

        void add(Send send) {
            queue.add(send);
            schedule();
        }

        private void schedule() {
            if (!queue.isEmpty() && scheduled.compareAndSet(false, true)) {
                try {
                    sendPool.execute(this);
                } catch (RejectedExecutionException e) {
                    // The client closed meanwhile: nothing queued here will be sent.
                    scheduled.set(false);
                    failQueued();
                }
            }
        }

        @Override
        public void run() {
            synchronized (this) {
                runner = Thread.currentThread();
            }
            try {
                for (Send send = queue.poll(); send != null; send = queue.poll()) {
                    // A caller's callback run here by the last send (one that failed at once) may have left the
                    // interrupt flag set: not meant for this send, whose metadata wait would end on it. Clearing one
                    // from abandon() loses nothing: abandon() sets abandoned before it interrupts, so it is read
                    // below. No lock: this runs once per send.
                    Thread.interrupted();
                    if (abandoned) {
                        send.failClosed();
                    } else {
                        send.run();
                    }
                }
            } finally {
                synchronized (this) {
                    runner = null;
                    Thread.interrupted(); // an interrupt from abandon() was meant for this topic's send only
                }
                scheduled.set(false);
            }
            schedule(); // a send added after the last poll, before scheduled was cleared
        }

        /** Fails what is queued, and interrupts a send waiting for metadata (Kafka's send ends with an error). */
        synchronized void abandon() {
            abandoned = true;
            if (runner != null) {
                runner.interrupt();
            }
        }

        void failQueued() {
            for (Send send = queue.poll(); send != null; send = queue.poll()) {
                send.failClosed();
            }
        }
    }

    /** A queued send and the future it completes: a send dropped at close still completes it. */
    private final class Send {
        private final ProducerRecord<byte[], byte[]> record;
        /** The request-reply call it belongs to, or null (fire-and-forget, or another service's record). */
        private final CompletableFuture<?> call;
        private final TopicSender sender;
        private final CompletableFuture<Void> acked = new CompletableFuture<>();

        Send(ProducerRecord<byte[], byte[]> record, CompletableFuture<?> call, TopicSender sender) {
            this.record = record;
            this.call = call;
            this.sender = sender;
        }

        void failClosed() {
            acked.completeExceptionally(new InferenceException.ClientClosed("the inference client is closed"));
        }

        void run() {
            if (call != null && call.isDone()) {
                // Its caller timed out or the client closed while it queued (behind a send waiting for a missing
                // topic's metadata, say): sent now, it would only be computed for nobody, or twice if retried.
                acked.completeExceptionally(new CancellationException("the call ended before its request was sent"));
                return;
            }
            if (sender.failingFast()) {
                acked.completeExceptionally(new InferenceException.KafkaUnavailable("Kafka has no metadata for topic "
                        + record.topic() + " (" + noMetadataReason(record.topic()) + "): its sends fail at once for "
                        + failFastMs + " ms after one waited max.block.ms", null));
                return;
            }
            Thread sending = Thread.currentThread();
            try {
                producer.send(record, (metadata, error) -> {
                    // Kafka runs this on its I/O thread, or at once on this send thread when the send fails
                    // before it is queued: only the first is not known as the client's own yet.
                    if (producerThread == null && ownRole() == null) {
                        producerThread = Thread.currentThread();
                    }
                    if (error == null) {
                        sender.delivering = true;
                        acked.complete(null);
                    } else {
                        boolean timedOut = error instanceof org.apache.kafka.common.errors.TimeoutException;
                        if (timedOut || error instanceof UnknownTopicOrPartitionException) {
                            // Perhaps deleted: close() need not wait for this topic's sends.
                            sender.delivering = false;
                        }
                        Throwable failure = error;
                        if (timedOut && Thread.currentThread() == sending) {
                            // Failed inside send(), before it was queued: max.block.ms spent waiting for metadata
                            // (or buffer space Kafka is not draining). The sends queued behind it would wait as long.
                            sender.failFast();
                            if (!(error instanceof org.apache.kafka.clients.producer.BufferExhaustedException)) {
                                failure = new InferenceException.KafkaUnavailable("Kafka did not take the request: "
                                        + error.getMessage() + " (" + noMetadataReason(record.topic()) + ")", error);
                            }
                        }
                        acked.completeExceptionally(failure);
                    }
                    if (Thread.currentThread() != sending) {
                        // Kafka's I/O thread just ran the callers' callbacks: an interrupt one of them left would
                        // make each of its selects return at once, for good (it spins).
                        Thread.interrupted();
                    }
                });
            } catch (RuntimeException e) {
                if (sender.abandoned) {
                    failClosed(); // interrupted by close() while it waited for metadata
                } else {
                    acked.completeExceptionally(e);
                }
            }
        }
    }

    /**
     * Why Kafka has no metadata for a topic, as far as this client can tell: Kafka's own timeout reads the same for
     * a missing topic and an unreachable Kafka, while a client with replies knows whether Kafka answers its checks.
     */
    private String noMetadataReason(String topic) {
        return admin != null && reachable
                ? "Kafka answers, so most likely there is no topic " + topic + ": a worker serving the model creates it"
                : "Kafka unreachable, or no topic " + topic;
    }

    private void expire(String correlationId, long timeoutMs) {
        Pending call = pending.get(correlationId);
        if (call != null) {
            fail(correlationId, call, new InferenceException.DeadlineExceeded("no reply within " + timeoutMs + " ms"));
        }
    }

    /**
     * Reads replies until close, then closes the reply consumer (a KafkaConsumer is not safe for use by two
     * threads, and this one may be inside a caller's slow callback when close() comes). A poll that throws (say an
     * ACL change denies reading the reply topic) fails the calls in flight at once and makes the client unready
     * (new calls fail fast); the consumer then retries with backoff, and once a poll succeeds again from the end of
     * its partitions, the client is ready again. Replies written meanwhile belong to calls already failed, so
     * skipping them to the end loses nothing.
     */
    private void readReplies() {
        try {
            readRepliesUntilClosed();
        } finally {
            if (!closed) {
                // Only an Error gets here (say OutOfMemoryError): the client must not look ready without a reader.
                replyConsumerReady = false;
                failAll(new InferenceException.KafkaUnavailable("the reply consumer stopped", null));
            }
            try {
                replyConsumer.close(CLOSE_STEP);
            } catch (RuntimeException e) {
                log.debug("ignored while closing the reply consumer: {}", e.toString());
            }
        }
    }

    /** Seeks the reply partitions to their end and resolves the positions, so no later reply is missed. */
    private void positionAtEnd(Duration timeout) {
        replyConsumer.seekToEnd(replyPartitions);
        replyPartitions.forEach(p -> replyConsumer.position(p, timeout));
    }

    private void readRepliesUntilClosed() {
        long backoffMs = REPLY_RETRY_INITIAL_MS;
        while (!closed) {
            // A caller's callback run on this thread (a call failed here) may have left the interrupt flag set: it
            // is not this thread's, and the poll would throw on it.
            Thread.interrupted();
            try {
                if (!replyConsumerReady) {
                    positionAtEnd(Duration.ofSeconds(5));
                }
                ConsumerRecords<byte[], byte[]> records = replyConsumer.poll(Duration.ofMillis(500));
                if (!replyConsumerReady) {
                    replyConsumerReady = true;
                    backoffMs = REPLY_RETRY_INITIAL_MS;
                    log.info("reply consumer of {} reads again; accepting calls", clientId);
                }
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    onReply(record);
                    Thread.interrupted(); // likewise from the reply's callbacks, before the next reply's run
                }
            } catch (WakeupException e) {
                // close() woke us up; the loop ends on closed.
            } catch (org.apache.kafka.common.errors.InterruptException e) {
                // Interrupted from outside while it polled (close() wakes it, never interrupts it): the consumer is
                // intact, so no call fails for it. The flag is cleared as the loop goes round.
            } catch (RuntimeException e) {
                if (closed) {
                    return;
                }
                if (replyConsumerReady) {
                    log.error("reply consumer of {} failed; failing pending calls and retrying", clientId, e);
                    replyConsumerReady = false;
                    failAll(new InferenceException.KafkaUnavailable("reply consumer failed: " + e.getMessage(), e));
                } else {
                    log.warn("reply consumer of {} still fails, next try in {} ms: {}", clientId, backoffMs,
                            e.toString());
                }
                metrics.replyConsumerFailure();
                try {
                    closeSignal.await(backoffMs, TimeUnit.MILLISECONDS);
                } catch (InterruptedException interrupted) {
                    // Not close(), which counts closeSignal down: ending here would leave the client without a
                    // reader for good. Retry now instead.
                }
                backoffMs = Math.min(backoffMs * 2, REPLY_RETRY_MAX_MS);
            }
        }
    }

    private void onReply(ConsumerRecord<byte[], byte[]> record) {
        String correlationId = KinferHeaders.string(record.headers(), KinferHeaders.CORRELATION_ID)
                .orElse(record.key() == null ? "" : new String(record.key(), StandardCharsets.UTF_8));
        Pending call = pending.get(correlationId);
        if (call == null) {
            // Late (its caller gave up), a duplicate (at-least-once redelivery), or not ours at all.
            Boolean answered = finished.getIfPresent(correlationId);
            metrics.dropped(answered == null ? "unknown" : answered ? "duplicate" : "late");
            return;
        }
        InferenceReply reply;
        try {
            reply = codec.decodeReply(record.value());
        } catch (ProtocolException e) {
            fail(correlationId, call, new InferenceException.BadReply(e.toErrorInfo()));
            return;
        }
        long took = System.nanoTime() - call.startedNanos;
        // A timeout may have settled the call a moment ago: then this reply is late, and counted so.
        if (release(correlationId, call, true)) {
            metrics.latency(took);
            metrics.outcome(reply.error() == null ? "success" : reply.error().code().wireName());
            call.future.complete(reply);
        } else {
            metrics.dropped("late");
        }
    }

    private void checkCluster() {
        long interval = config.getLong(ClientConfig.CLUSTER_CHECK_INTERVAL_MS);
        admin.describeCluster(new DescribeClusterOptions().timeoutMs((int) Math.max(1000, interval)))
                .nodes().whenComplete((nodes, error) -> {
                    boolean now = error == null && !nodes.isEmpty();
                    if (now != reachable) {
                        log.warn("Kafka is {}", now ? "reachable again" : "unreachable: calls fail fast until it is back");
                    }
                    reachable = now;
                });
    }

    /**
     * Ready when calls are accepted: not closing or draining, and (with replies) the reply consumer is positioned
     * and Kafka answered the last check.
     */
    public boolean ready() {
        return !closed && !draining && (replyTopic == null || (replyConsumerReady && reachable));
    }

    public boolean kafkaReachable() {
        return reachable;
    }

    public int inFlight() {
        return inFlight.get();
    }

    public String clientId() {
        return clientId;
    }

    /** The topic replies come on; null for a client made by {@link #createFireAndForget}. */
    public String replyTopic() {
        return replyTopic;
    }

    /**
     * Refuses new calls, gives those in flight up to {@code drain} to be answered (at most a year; zero or negative:
     * none), then closes as {@link #close()}. Closing with calls in flight deletes the reply topic under replies
     * still on their way, which workers then have to dead-letter; a short drain avoids that wherever the calls are
     * about to finish anyway. Called on one of the client's own threads (from a callback), it does not wait: the
     * replies it would wait for arrive on those threads.
     */
    public void close(Duration drain) {
        draining = true;
        try {
            if (!closed && !onOwnThread()) {
                long drainMs = drain == null || drain.isNegative() ? 0
                        : (drain.compareTo(MAX_TIMEOUT) > 0 ? MAX_TIMEOUT : drain).toMillis();
                CompletableFuture<?>[] inFlight = pending.values().stream().map(Pending::future)
                        .toArray(CompletableFuture[]::new);
                CompletableFuture.allOf(inFlight).get(drainMs, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // close() carries on and restores it
        } catch (ExecutionException | TimeoutException e) {
            // a call failed, or the drain ran out: close() fails what is left
        } finally {
            close();
        }
    }

    /**
     * Fails every pending call at once (callers see an error, not silence), then closes the Kafka clients and
     * deletes the own reply topic, each step bounded. Safe from any thread, the client's own included (a callback
     * may close the client: it is neither interrupted nor waited for), and idempotent: a close() while another runs
     * returns once that one is done (at once on the client's own threads). An interrupt of the closing thread does
     * not cut the steps short; it is restored when close() returns.
     */
    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            if (Thread.currentThread() != closer && !onOwnThread()) {
                try {
                    closedFully.await(CONCURRENT_CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return;
        }
        closer = Thread.currentThread();
        // Waits below must not end at once on an interrupt that came before (a caller's cancelled task, say).
        interruptedWhileClosing = Thread.interrupted();
        try {
            closeSteps();
        } finally {
            closedFully.countDown();
            closer = null;
            if (interruptedWhileClosing || Thread.interrupted()) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void closeSteps() {
        closed = true;
        metrics.closeKafka();
        failAll(new InferenceException.ClientClosed("the inference client is shutting down"));
        closeSignal.countDown();
        if (replyConsumer != null) {
            replyConsumer.wakeup();
        }
        // Not shutdownNow(): the timer thread may be this one (a callback of a timed-out call closing the client).
        scheduler.shutdown();
        closeSends();
        if (replyThread != null) {
            if (replyThread.isAlive() && Thread.currentThread() != replyThread) {
                // It closes its consumer as it ends. Inside a caller's slow callback it ends only after that
                // returns: then its consumer closes later, on that thread (never from here: not thread-safe).
                step(() -> replyThread.join(CLOSE_STEP.toMillis()));
            } else if (replyThread.getState() == Thread.State.NEW) {
                step(() -> replyConsumer.close(CLOSE_STEP)); // no reader was started to own it
            }
        }
        step(() -> producer.close(CLOSE_STEP));
        if (admin != null) {
            boolean brokerAnswered = true;
            // Also a topic that existed (left by this id's previous, crashed incarnation, as a restarted pod's is):
            // deleting only what it created would leave one topic behind per restart. Two live processes must
            // therefore not share an id (refused in one JVM; across processes, see GATEWAY.md).
            if (config.ownReplyTopic() && config.getBoolean(ClientConfig.REPLY_TOPIC_DELETE_ON_CLOSE)
                    && (started || replyTopicMade())) {
                brokerAnswered = step(() -> admin.deleteTopics(List.of(replyTopic)).all()
                        .get(CLOSE_STEP.toMillis(), TimeUnit.MILLISECONDS));
                if (!brokerAnswered) {
                    // Left behind, it costs a broker partition until deleted; a client with this id reuses it.
                    log.warn("reply topic {} was not deleted (Kafka did not confirm within {} s): delete it by hand, "
                            + "or start a client with client.id {} to reuse it", replyTopic, CLOSE_STEP.toSeconds(),
                            clientId);
                }
            }
            // When Kafka did not answer the deletion, waiting for the admin client's pending calls would only wait again.
            Duration adminClose = brokerAnswered ? CLOSE_STEP : Duration.ZERO;
            step(() -> admin.close(adminClose));
        }
        metrics.remove();
        if (replyTopic != null && config.ownReplyTopic()) {
            LIVE_IDS.remove(clientId);
        }
    }

    /**
     * Whether start() made the reply topic: also when an interrupt (a signal to kinfer produce while it connects)
     * ended start()'s wait while the broker went on creating it, which left the topic behind.
     */
    private boolean replyTopicMade() {
        KafkaFuture<Void> creation = replyTopicCreation;
        if (createdReplyTopic || creation == null) {
            return createdReplyTopic;
        }
        // Fails (not made: it existed, or Kafka refused) or times out: nothing of ours to delete.
        return step(() -> creation.get(CLOSE_STEP.toMillis(), TimeUnit.MILLISECONDS));
    }

    /**
     * Sends already queued to topics whose sends go through are sent (Kafka's producer then flushes them as it
     * closes), up to one close step; sends to topics that may be waiting for metadata (never delivered, or failed
     * for lack of it since) fail with ClientClosed at once, and so does whatever is left after the step.
     */
    private void closeSends() {
        for (TopicSender sender : topicSenders.values()) {
            if (!sender.delivering) {
                sender.abandon();
            }
        }
        sendPool.shutdown();
        if (ownRole() != Role.SEND) {
            step(() -> sendPool.awaitTermination(CLOSE_STEP.toMillis(), TimeUnit.MILLISECONDS));
        }
        for (TopicSender sender : topicSenders.values()) {
            sender.abandon();
            sender.failQueued();
        }
    }

    private void failAll(InferenceException error) {
        for (Map.Entry<String, Pending> call : List.copyOf(pending.entrySet())) {
            fail(call.getKey(), call.getValue(), error);
        }
    }

    private <T> CompletableFuture<T> failed(CompletableFuture<T> future, Throwable error) {
        future.completeExceptionally(error);
        return future;
    }

    /**
     * Whether this thread is one of those that complete this client's futures (its send, timer and reply threads,
     * and Kafka's producer I/O thread): a close() there must not wait for what only this thread would do.
     */
    private boolean onOwnThread() {
        return ownRole() != null || Thread.currentThread() == producerThread;
    }

    /** The role of this thread if it is one of this client's own, else null. */
    private Role ownRole() {
        return Thread.currentThread() instanceof OwnThread own && own.client == this ? own.role : null;
    }

    private interface Action {
        void run() throws Exception;
    }

    /**
     * Runs a closing step; returns whether it succeeded (a failure is logged at debug and otherwise ignored). An
     * interrupt during it is remembered for close() to restore, and cleared so the next step still runs.
     */
    private boolean step(Action action) {
        try {
            action.run();
            return true;
        } catch (InterruptedException e) {
            interruptedWhileClosing = true;
            return false;
        } catch (Exception e) {
            log.debug("ignored while closing: {}", e.toString());
            return false;
        } finally {
            if (Thread.interrupted()) {
                interruptedWhileClosing = true; // set by a Kafka client's InterruptException
            }
        }
    }

    /** A thread of a client's own, known by its type: no registry to keep, nothing to look up per call. */
    private static final class OwnThread extends Thread {
        final InferenceClient client;
        final Role role;

        OwnThread(Runnable task, String name, InferenceClient client, Role role) {
            super(task, name);
            this.client = client;
            this.role = role;
            setDaemon(true);
        }
    }

    /** A factory of this client's daemon threads, each known as its own by its role. */
    private java.util.concurrent.ThreadFactory threads(String name, Role role, boolean numbered) {
        AtomicInteger count = new AtomicInteger();
        return runnable -> new OwnThread(runnable, numbered ? name + count.incrementAndGet() : name, this, role);
    }

    private static String randomToken() {
        SecureRandom random = new SecureRandom();
        // Six base-36 digits, always (from 100000 to zzzzzz): a correlation id's length is client.id's plus a fixed
        // overhead (ClientConfig.MAX_CLIENT_ID_CHARS counts on it).
        long sixDigits = 36L * 36 * 36 * 36 * 36;
        return Long.toString(sixDigits + Math.floorMod(random.nextLong(), 35 * sixDigits), 36);
    }

    /** The client's meters, removed from the registry on close (a later client with the same id gets its own). */
    private static final class ClientMetrics {
        private final MeterRegistry registry;
        private final ConcurrentHashMap<String, Counter> outcomes = new ConcurrentHashMap<>();
        private final ConcurrentHashMap<String, Counter> drops = new ConcurrentHashMap<>();
        private final List<Meter> fixed;
        private final io.micrometer.core.instrument.Timer latency;
        private final Counter replyConsumerFailures;
        private final Tags client;
        private final List<KafkaClientMetrics> kafka;
        /** Guarded by this: once removed, no meter is registered again. */
        private boolean removed;

        ClientMetrics(MeterRegistry registry, String clientId, AtomicInteger inFlight,
                      Producer<byte[], byte[]> producer, Consumer<byte[], byte[]> replyConsumer) {
            this.registry = registry;
            // Kafka's own client metrics (kafka_producer_*, kafka_consumer_*), as Spring Boot exports them.
            List<KafkaClientMetrics> bound = new ArrayList<>();
            // Tagged with the id kinfer gives each client: with kafka.client.id set, clients on one registry share it,
            // and Micrometer would bind each Kafka meter to the first client only (Spring Kafka's spring.id, likewise).
            bound.add(new KafkaClientMetrics(producer, Tags.of(KAFKA_CLIENT_TAG, clientId + REQUESTS_SUFFIX)));
            if (replyConsumer != null) {
                bound.add(new KafkaClientMetrics(replyConsumer, Tags.of(KAFKA_CLIENT_TAG, clientId + REPLIES_SUFFIX)));
            }
            bound.forEach(binder -> binder.bindTo(registry));
            this.kafka = List.copyOf(bound);
            // Tagged by client, as Kafka's own client metrics are: two clients on one registry would otherwise
            // share one gauge, which Micrometer binds to the first client's count only.
            this.client = Tags.of("client", clientId);
            Gauge gauge = Gauge.builder("kinfer.client.inflight", inFlight, AtomicInteger::get).tags(client)
                    .description("Requests awaiting their reply").register(registry);
            this.latency = io.micrometer.core.instrument.Timer.builder("kinfer.client.latency").tags(client)
                    .description("From send to reply, as the client sees it")
                    .serviceLevelObjectives(LatencyBuckets.bounds())
                    .register(registry);
            this.replyConsumerFailures = Counter.builder("kinfer.client.reply.consumer.failures").tags(client)
                    .description("Polls of the reply consumer that threw; it retries with backoff")
                    .register(registry);
            this.fixed = List.of(gauge, latency, replyConsumerFailures);
        }

        void outcome(String outcome) {
            counter(outcomes, outcome, o -> Counter.builder("kinfer.client.requests").tags(client)
                    .description("Calls finished, by outcome").tag("outcome", o)).increment();
        }

        void dropped(String reason) {
            counter(drops, reason, r -> Counter.builder("kinfer.client.replies.dropped").tags(client)
                    .description("Replies that completed nothing: late, duplicate or unknown")
                    .tag("reason", r)).increment();
        }

        private Counter counter(ConcurrentHashMap<String, Counter> counters, String tag,
                                java.util.function.Function<String, Counter.Builder> builder) {
            Counter counter = counters.get(tag);
            if (counter != null) {
                return counter;
            }
            synchronized (this) {
                if (removed) {
                    return NOT_REGISTERED; // after close: counted nowhere, and no meter left behind
                }
                return counters.computeIfAbsent(tag, t -> builder.apply(t).register(registry));
            }
        }

        void replyConsumerFailure() {
            replyConsumerFailures.increment();
        }

        void latency(long nanos) {
            latency.record(nanos, TimeUnit.NANOSECONDS);
        }

        /** Stops reading the Kafka clients' metrics and removes them: first, before the clients close. */
        void closeKafka() {
            kafka.forEach(KafkaClientMetrics::close);
        }

        synchronized void remove() {
            removed = true;
            fixed.forEach(registry::remove);
            outcomes.values().forEach(registry::remove);
            drops.values().forEach(registry::remove);
        }

        private static final Counter NOT_REGISTERED = Counter.builder("kinfer.client.unregistered")
                .register(new SimpleMeterRegistry());
    }
}
