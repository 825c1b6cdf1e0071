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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
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
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
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
 * <p>Nothing here blocks the caller: sends run on a dedicated thread (a Kafka send can block on metadata),
 * replies complete futures on the reply thread (use the {@code *Async} stages for heavy follow-up work), and a
 * call beyond {@code max.in.flight.requests} or while Kafka is unreachable fails at once.
 */
public final class InferenceClient implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(InferenceClient.class);
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /** A failed reply consumer retries after 100 ms, doubling up to 10 s, as Kafka's own reconnect backoff does. */
    private static final long REPLY_RETRY_INITIAL_MS = 100;
    private static final long REPLY_RETRY_MAX_MS = 10_000;

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

        Pending(CompletableFuture<InferenceReply> future, long startedNanos) {
            this.future = future;
            this.startedNanos = startedNanos;
        }

        CompletableFuture<InferenceReply> future() {
            return future;
        }

        void timer(ScheduledFuture<?> timer) {
            this.timer = timer;
            if (future.isDone()) {
                timer.cancel(false); // answered before the timer was set
            }
        }

        void cancelTimer() {
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

    private final ClientConfig config;
    private final String clientId;
    private final String replyTopic;
    private final String incarnation;
    /** Replies are read with their own limits: a model's outputs may be far larger than any request. */
    private final JsonCodec codec = new JsonCodec(ProtocolLimits.REPLIES);
    private final Producer<byte[], byte[]> producer;
    private final Consumer<byte[], byte[]> replyConsumer;
    private final Admin admin;
    private final LongSupplier clock;
    private final ExecutorService sender;
    /** Per topic not yet sendable: its first sends wait for its metadata there, apart from every other topic's. */
    private final ConcurrentHashMap<String, ExecutorService> firstSenders = new ConcurrentHashMap<>();
    /** Topics that took a record: their metadata is known, so a send to them does not block. */
    private final Set<String> sendableTopics = ConcurrentHashMap.newKeySet();
    private final ScheduledThreadPoolExecutor scheduler;
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
    /** start() completed: its reply topic (created or reused) is this instance's, whatever the consumer's state. */
    private volatile boolean started;
    private volatile boolean reachable;
    private volatile boolean closed;
    /** Set by {@link #close(Duration)}: no new calls, while those in flight may still be answered. */
    private volatile boolean draining;
    private List<TopicPartition> replyPartitions = List.of();
    /** The reply partition every request names, set once the reply consumer is positioned. */
    private int envelopePartition = RequestEnvelope.ANY_PARTITION;

    private InferenceClient(ClientConfig config, MeterRegistry registry) {
        this.config = config;
        this.clientId = config.clientId();
        this.replyTopic = config.replyTopic();
        this.incarnation = randomToken();
        this.clock = System::currentTimeMillis;
        this.maxInFlight = config.getInt(ClientConfig.MAX_IN_FLIGHT);
        this.defaultTimeout = Duration.ofMillis(config.getLong(ClientConfig.REQUEST_TIMEOUT_MS));
        this.metrics = new ClientMetrics(registry, clientId, inFlight);
        // A client whose settings Kafka refuses (say acks=1 with idempotence) must not leave the others running.
        Admin madeAdmin = Admin.create(config.adminProperties());
        KafkaProducer<byte[], byte[]> madeProducer = null;
        try {
            madeProducer = new KafkaProducer<>(producerProperties(config, clientId), new ByteArraySerializer(),
                    new ByteArraySerializer());
            this.replyConsumer = new KafkaConsumer<>(consumerProperties(config, clientId),
                    new ByteArrayDeserializer(), new ByteArrayDeserializer());
        } catch (RuntimeException e) {
            if (madeProducer != null) {
                madeProducer.close(Duration.ZERO);
            }
            madeAdmin.close(Duration.ZERO);
            throw e;
        }
        this.admin = madeAdmin;
        this.producer = madeProducer;
        this.sender = Executors.newSingleThreadExecutor(daemon("kinfer-client-send-" + clientId));
        this.scheduler = new ScheduledThreadPoolExecutor(1, daemon("kinfer-client-timer-" + clientId));
        this.scheduler.setRemoveOnCancelPolicy(true);
        this.replyThread = daemon("kinfer-client-replies-" + clientId).newThread(this::readReplies);
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
            client = new InferenceClient(config, registry);
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

    static Map<String, Object> producerProperties(ClientConfig config, String clientId) {
        Map<String, Object> props = new HashMap<>();
        props.put(ProducerConfig.CLIENT_ID_CONFIG, clientId + "-requests");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        // Kafka's 5 ms default linger adds its full length to every lone request (measured).
        props.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        // The send thread must not hang for a minute when Kafka is gone; the caller's deadline governs.
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000);
        props.putAll(config.producerProperties());
        return props;
    }

    static Map<String, Object> consumerProperties(ClientConfig config, String clientId) {
        Map<String, Object> props = new HashMap<>();
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId + "-replies");
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
                admin.createTopics(List.of(topic)).all().get(START_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                createdReplyTopic = true;
            } catch (ExecutionException e) {
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
                throw new InferenceException.KafkaUnavailable("Kafka did not answer within " + START_TIMEOUT, e);
            }
        }
        List<TopicPartition> partitions = new ArrayList<>();
        int only = config.getInt(ClientConfig.REPLY_PARTITION);
        long missingSince = 0;
        while (partitions.isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new InferenceException.KafkaUnavailable("reply topic " + replyTopic + " has no partitions", null);
            }
            List<PartitionInfo> infos = replyConsumer.partitionsFor(replyTopic, Duration.ofSeconds(5));
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
        positionAtEnd(Duration.ofSeconds(30));
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
     * (an invalid model name, a null timeout), before it takes an in-flight slot. Timeouts above a year are
     * capped. Futures complete on the client's threads (reply, timer, Kafka's producer): hand slow work in
     * callbacks to an executor of your own.
     */
    public CompletableFuture<InferenceReply> request(InferenceRequest request, RequestOptions options) {
        CompletableFuture<InferenceReply> future = new CompletableFuture<>();
        if (closed || draining) {
            return failed(future, new InferenceException.ClientClosed("the inference client is closed"));
        }
        if (!replyConsumerReady) {
            return failed(future, new InferenceException.KafkaUnavailable("the reply consumer is not running", null));
        }
        if (!reachable) {
            return failed(future, new InferenceException.KafkaUnavailable("Kafka is unreachable", null));
        }
        // Everything that can fail on the caller's input comes before a slot is taken, so nothing leaks one.
        String correlationId = clientId + "-" + incarnation + "-" + Long.toString(sequence.incrementAndGet(), 36);
        long timeoutMs;
        ProducerRecord<byte[], byte[]> record;
        try {
            Objects.requireNonNull(request, "request");
            Objects.requireNonNull(options.timeout(), "timeout");
            timeoutMs = Math.max(1, (options.timeout().compareTo(MAX_TIMEOUT) > 0 ? MAX_TIMEOUT : options.timeout())
                    .toMillis());
            RequestEnvelope envelope = new RequestEnvelope(correlationId, replyTopic, envelopePartition,
                    clock.getAsLong() + timeoutMs, options.priority());
            record = requestRecord(request, envelope, options.headers());
        } catch (RuntimeException e) {
            metrics.outcome("invalid_request");
            return failed(future, e);
        }
        if (inFlight.incrementAndGet() > maxInFlight) {
            inFlight.decrementAndGet();
            metrics.outcome("overloaded");
            return failed(future, new InferenceException.Overloaded(maxInFlight + " requests already in flight"));
        }
        Pending call = new Pending(future, System.nanoTime());
        pending.put(correlationId, call);
        future.whenComplete((reply, error) -> {
            // Also runs when the caller cancels: forget the call either way.
            Pending done = pending.remove(correlationId);
            if (done != null) {
                done.cancelTimer();
                inFlight.decrementAndGet();
                finished.put(correlationId, error == null);
            }
        });
        // Registered first, timed second: a timer that fired before the call was registered would find nothing,
        // and the call would then wait for a reply forever.
        try {
            call.timer(scheduler.schedule(() -> expire(correlationId, timeoutMs), timeoutMs, TimeUnit.MILLISECONDS));
        } catch (RejectedExecutionException e) {
            return failed(future, new InferenceException.ClientClosed("the inference client is closed"));
        }
        if (closed) {
            // close() may have failed the pending calls just before this one was registered.
            return failed(future, new InferenceException.ClientClosed("the inference client is closed"));
        }
        if (!replyConsumerReady) {
            // Likewise a failing reply consumer, which then skips to the end of its partitions past this reply.
            return failed(future, new InferenceException.KafkaUnavailable("the reply consumer is not running", null));
        }
        publish(record, future).whenComplete((ok, error) -> {
            if (error == null) {
                return;
            }
            if (error instanceof RecordTooLargeException) {
                // Not a Kafka outage: retrying the same request can only fail again.
                if (future.completeExceptionally(new InferenceException.RequestTooLarge("the request is larger "
                        + "than Kafka takes (" + error.getMessage() + ")", error))) {
                    metrics.outcome("too_large");
                }
            } else if (error instanceof AuthorizationException) {
                // Nor is a missing grant: calling it an outage would send callers into retries and operators
                // looking at the brokers.
                if (future.completeExceptionally(new InferenceException.NotAuthorized("Kafka refused this client "
                        + record.topic() + ": " + error.getMessage(), error))) {
                    metrics.outcome("not_authorized");
                }
            } else if (future.completeExceptionally(new InferenceException.KafkaUnavailable(
                    "Kafka did not take the request: " + error.getMessage(), error))) {
                metrics.outcome("kafka_unavailable");
            }
        });
        return future;
    }

    /**
     * Fire-and-forget: writes the request and completes once Kafka acknowledged it. Its reply goes to
     * {@code replyTopic} (null: the workers' default reply topic) under the request id, and nothing here waits
     * for it. A deadline of 0 means none.
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
        if (!Topics.isValidTopicName(topic)) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("reply topic '" + topic
                    + "' is not a valid Kafka topic name"));
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
        return publish(record);
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
     * has not given yet blocks up to max.block.ms (a missing topic: all of it), so it runs on a first-send thread
     * of that topic's own, and topics that took a record share the sender thread: one missing topic cannot hold
     * up every other model's requests.
     */
    public CompletableFuture<Void> publish(ProducerRecord<byte[], byte[]> record) {
        return publish(record, null);
    }

    /** As {@link #publish(ProducerRecord)}; not sent at all if {@code call} has ended before its turn comes. */
    private CompletableFuture<Void> publish(ProducerRecord<byte[], byte[]> record, CompletableFuture<?> call) {
        Send send = new Send(record, call, new CompletableFuture<>());
        try {
            (sendableTopics.contains(record.topic()) ? sender : firstSender(record.topic())).execute(send);
        } catch (RejectedExecutionException e) {
            send.acked().completeExceptionally(new InferenceException.ClientClosed("the inference client is closed"));
        }
        return send.acked();
    }

    /** A queued send and the future it completes: a send dropped at close can still complete it. */
    private final class Send implements Runnable {
        private final ProducerRecord<byte[], byte[]> record;
        /** The request-reply call it belongs to, or null (fire-and-forget, or another service's record). */
        private final CompletableFuture<?> call;
        private final CompletableFuture<Void> acked;

        Send(ProducerRecord<byte[], byte[]> record, CompletableFuture<?> call, CompletableFuture<Void> acked) {
            this.record = record;
            this.call = call;
            this.acked = acked;
        }

        CompletableFuture<Void> acked() {
            return acked;
        }

        @Override
        public void run() {
            if (call != null && call.isDone()) {
                // Its caller timed out or the client closed while it queued (behind a send waiting for a missing
                // topic's metadata, say): sent now, it would only be computed for nobody, or twice if retried.
                acked.completeExceptionally(new CancellationException("the call ended before its request was sent"));
                return;
            }
            try {
                producer.send(record, (metadata, error) -> {
                    if (error == null) {
                        sendableTopics.add(record.topic());
                        acked.complete(null);
                    } else {
                        if (error instanceof org.apache.kafka.common.errors.TimeoutException
                                || error instanceof UnknownTopicOrPartitionException) {
                            // Perhaps deleted since: its next sends may wait out max.block.ms for metadata, so
                            // they go back to a thread of the topic's own, off the shared one.
                            sendableTopics.remove(record.topic());
                        }
                        acked.completeExceptionally(error);
                    }
                });
            } catch (RuntimeException e) {
                acked.completeExceptionally(e);
            }
        }
    }

    /** A thread that ends after a minute idle: a topic that became sendable no longer needs it. */
    private ExecutorService firstSender(String topic) {
        return firstSenders.computeIfAbsent(topic, t -> {
            ThreadPoolExecutor executor = new ThreadPoolExecutor(1, 1, 60, TimeUnit.SECONDS,
                    new LinkedBlockingQueue<>(), daemon("kinfer-client-first-send-" + clientId + "-" + t));
            executor.allowCoreThreadTimeOut(true);
            return executor;
        });
    }

    private void expire(String correlationId, long timeoutMs) {
        Pending call = pending.get(correlationId);
        if (call != null && call.future.completeExceptionally(new InferenceException.DeadlineExceeded(
                "no reply within " + timeoutMs + " ms"))) {
            metrics.outcome("deadline_exceeded");
        }
    }

    /**
     * Reads replies until close. A poll that throws (say an ACL change denies reading the reply topic) fails the
     * calls in flight at once and makes the client unready (new calls fail fast); the consumer then retries with
     * backoff, and once a poll succeeds again from the end of its partitions, the client is ready again. Replies
     * written meanwhile belong to calls already failed, so skipping them to the end loses nothing.
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
                }
            } catch (WakeupException e) {
                // close() woke us up; the loop ends on closed.
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
                    return;
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
            if (call.future.completeExceptionally(new InferenceException.BadReply(e.toErrorInfo()))) {
                metrics.outcome("bad_reply");
            }
            return;
        }
        long took = System.nanoTime() - call.startedNanos;
        // A timeout may have settled the call a moment ago: then this reply is late, and counted so.
        if (call.future.complete(reply)) {
            metrics.latency(took);
            metrics.outcome(reply.error() == null ? "success" : reply.error().code().wireName());
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

    /** Ready when the reply consumer is positioned and Kafka answered the last check. */
    public boolean ready() {
        return replyConsumerReady && reachable && !closed;
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

    public String replyTopic() {
        return replyTopic;
    }

    /**
     * Refuses new calls, gives those in flight up to {@code drain} to be answered, then closes as {@link #close()}.
     * Closing with calls in flight deletes the reply topic under replies still on their way, which workers then
     * have to dead-letter; a short drain avoids that wherever the calls are about to finish anyway.
     */
    public void close(Duration drain) {
        draining = true;
        CompletableFuture<?>[] inFlight = pending.values().stream().map(Pending::future)
                .toArray(CompletableFuture[]::new);
        try {
            CompletableFuture.allOf(inFlight).get(drain.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // a call failed, or the drain ran out: close() fails what is left
        }
        close();
    }

    /** Fails every pending call at once (callers see an error, not silence), then closes the Kafka clients. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        failAll(new InferenceException.ClientClosed("the inference client is shutting down"));
        closeSignal.countDown();
        replyConsumer.wakeup();
        scheduler.shutdownNow();
        sender.shutdown();
        // A first send may be waiting out max.block.ms for a topic that never comes: interrupted, and the sends
        // queued behind it fail (a submit or publish, which failAll does not reach, must still complete).
        for (ExecutorService first : firstSenders.values()) {
            for (Runnable dropped : first.shutdownNow()) {
                if (dropped instanceof Send send) {
                    send.acked().completeExceptionally(new InferenceException.ClientClosed(
                            "the inference client is closed"));
                }
            }
        }
        try {
            if (replyThread.isAlive()) {
                replyThread.join(5_000);
            }
            sender.awaitTermination(5, TimeUnit.SECONDS);
            for (ExecutorService first : firstSenders.values()) {
                first.awaitTermination(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeQuietly(() -> producer.close(Duration.ofSeconds(5)));
        closeQuietly(() -> replyConsumer.close(Duration.ofSeconds(5)));
        boolean brokerAnswered = true;
        // Also a topic that existed (left by this id's previous, crashed incarnation, as a restarted pod's is):
        // deleting only what it created would leave one topic behind per restart. Two live processes must
        // therefore not share an id (refused in one JVM; across processes, see GATEWAY.md).
        if (config.ownReplyTopic() && config.getBoolean(ClientConfig.REPLY_TOPIC_DELETE_ON_CLOSE)
                && (started || createdReplyTopic)) {
            brokerAnswered = closeQuietly(() -> admin.deleteTopics(List.of(replyTopic)).all().get(5, TimeUnit.SECONDS));
        }
        // When Kafka did not answer the deletion, waiting for the admin client's pending calls would only wait again.
        Duration adminClose = brokerAnswered ? Duration.ofSeconds(5) : Duration.ZERO;
        closeQuietly(() -> admin.close(adminClose));
        if (config.ownReplyTopic()) {
            LIVE_IDS.remove(clientId);
        }
    }

    private void failAll(InferenceException error) {
        for (Pending call : new ArrayList<>(pending.values())) {
            call.future.completeExceptionally(error);
        }
    }

    private <T> CompletableFuture<T> failed(CompletableFuture<T> future, Throwable error) {
        future.completeExceptionally(error);
        return future;
    }

    private interface Action {
        void run() throws Exception;
    }

    /** Runs a closing step; returns whether it succeeded (a failure is logged at debug and otherwise ignored). */
    private static boolean closeQuietly(Action action) {
        try {
            action.run();
            return true;
        } catch (Exception e) {
            log.debug("ignored while closing: {}", e.toString());
            return false;
        }
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return runnable -> {
            Thread thread = new Thread(runnable, name);
            thread.setDaemon(true);
            return thread;
        };
    }

    private static String randomToken() {
        SecureRandom random = new SecureRandom();
        return Long.toString(random.nextLong() & Long.MAX_VALUE, 36).substring(0, 6);
    }

    /** The client's meters. */
    private static final class ClientMetrics {
        private final MeterRegistry registry;
        private final ConcurrentHashMap<String, Counter> outcomes = new ConcurrentHashMap<>();
        private final ConcurrentHashMap<String, Counter> drops = new ConcurrentHashMap<>();
        private final io.micrometer.core.instrument.Timer latency;
        private final Counter replyConsumerFailures;
        private final Tags client;

        ClientMetrics(MeterRegistry registry, String clientId, AtomicInteger inFlight) {
            this.registry = registry;
            // Tagged by client, as Kafka's own client metrics are: two clients on one registry would otherwise
            // share one gauge, which Micrometer binds to the first client's count only.
            this.client = Tags.of("client", clientId);
            Gauge.builder("kinfer.client.inflight", inFlight, AtomicInteger::get).tags(client)
                    .description("Requests awaiting their reply").register(registry);
            this.latency = io.micrometer.core.instrument.Timer.builder("kinfer.client.latency").tags(client)
                    .description("From send to reply, as the client sees it")
                    .serviceLevelObjectives(LatencyBuckets.bounds())
                    .register(registry);
            this.replyConsumerFailures = Counter.builder("kinfer.client.reply.consumer.failures").tags(client)
                    .description("Polls of the reply consumer that threw; it retries with backoff")
                    .register(registry);
        }

        void outcome(String outcome) {
            outcomes.computeIfAbsent(outcome, o -> Counter.builder("kinfer.client.requests").tags(client)
                    .description("Calls finished, by outcome").tag("outcome", o).register(registry)).increment();
        }

        void dropped(String reason) {
            drops.computeIfAbsent(reason, r -> Counter.builder("kinfer.client.replies.dropped").tags(client)
                    .description("Replies that completed nothing: late, duplicate or unknown")
                    .tag("reason", r).register(registry)).increment();
        }

        void replyConsumerFailure() {
            replyConsumerFailures.increment();
        }

        void latency(long nanos) {
            latency.record(nanos, TimeUnit.NANOSECONDS);
        }
    }
}
