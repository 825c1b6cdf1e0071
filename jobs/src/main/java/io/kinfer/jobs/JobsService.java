package io.kinfer.jobs;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.Supplier;

import io.kinfer.client.InferenceClient;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.ProtocolLimits;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyQueryMetadata;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.state.HostInfo;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asynchronous jobs: {@code POST /v1/jobs} writes the job's metadata to {@code kinfer.jobs} and each text as its
 * own fire-and-forget request (reply topic {@code kinfer.jobs.results}, correlation id {@code <jobId>:<index>});
 * Kafka Streams ({@link JobsTopology}) materializes job state by id; {@code GET /v1/jobs/{id}} reads it on
 * whichever instance holds the id, found with interactive queries, and forwards the GET there over HTTP when
 * that is another instance. Every instance shares one application.id, so they share the work and any of them
 * answers any job. Nothing here blocks an event loop: Kafka sends run on a sender thread, store reads on Vert.x
 * worker threads, forwards on Vert.x's HTTP client on the caller's event loop.
 */
public final class JobsService implements AutoCloseable {

    public static final String JOBS_PATH = "/v1/jobs";
    public static final String INTERNAL_PATH = "/internal/jobs";
    /** Set on forwarded GETs: which instance forwarded it (for logs; the internal route never forwards again). */
    static final String FORWARDED_HEADER = "kinfer-forwarded-by";
    /**
     * Set on every answer of the internal route: a forwarded GET answered 404 without it came from something else
     * at that address (an instance starting, its jobs routes not mounted yet, answering "no route"), which must
     * not be relayed as "no such job".
     */
    static final String ANSWERED_BY_HEADER = "kinfer-jobs-answered-by";
    /** Headers of the caller's GET a forward carries along: credentials (instances share their API keys), traces. */
    private static final List<String> FORWARDED_REQUEST_HEADERS = List.of("Authorization", "X-API-Key",
            "traceparent", "tracestate", "baggage");
    private static final Serializer<String> KEYS = new StringSerializer();
    private static final Logger log = LoggerFactory.getLogger(JobsService.class);

    private final JobsConfig config;
    private final InferenceClient client;
    private final BiFunction<String, String, Optional<ModelMetadata>> models;
    private final JobsMetrics metrics;
    private final JsonCodec codec;
    private final JobIds ids = new JobIds();
    private final HostInfo self;
    private final URI advertised;
    /** Forwards GETs; made on the first forward from the host's Vert.x, whose close closes it too. */
    private volatile HttpClientAgent http;
    private final Duration forwardTimeout;
    private final KafkaStreams streams;
    private volatile boolean everRunning;
    private volatile boolean closed;

    private JobsService(JobsConfig config, InferenceClient client, BiFunction<String, String, Optional<ModelMetadata>> models,
                        MeterRegistry registry, int statePartitions) {
        this.config = config;
        this.client = client;
        this.models = models;
        this.advertised = config.advertisedUrl();
        this.self = HostInfo.buildFromEndpoint(config.applicationServer());
        // The body's size is the HTTP body limit's business; this codec only parses and checks items.
        this.codec = new JsonCodec(new ProtocolLimits(256 << 20, config.maxItems(),
                config.getInt(JobsConfig.MAX_TEXT_CHARS), ProtocolLimits.DEFAULTS.maxTensorElements(),
                ProtocolLimits.DEFAULTS.maxNestingDepth()));
        this.metrics = new JobsMetrics(registry);
        this.forwardTimeout = Duration.ofMillis(config.getLong(JobsConfig.FORWARD_TIMEOUT_MS));
        JobsTopology.Settings settings = new JobsTopology.Settings(config.retentionMs(),
                config.getLong(JobsConfig.EXPIRY_SCAN_INTERVAL_MS), statePartitions, config.maxResultBytes());
        Properties props = new Properties();
        props.putAll(config.streamsProperties());
        try {
            this.streams = new KafkaStreams(JobsTopology.build(settings, metrics), props);
        } catch (RuntimeException e) {
            metrics.close();
            throw e;
        }
    }

    /**
     * Creates the topics {@code kinfer.jobs} and {@code kinfer.jobs.results} if missing, and starts Kafka Streams
     * (which restores this instance's stores from their changelogs first). Returns without waiting for Streams to
     * be running: until it is, GETs answer 503 with Retry-After, and {@link #ready()} is false.
     */
    public static JobsService start(JobsConfig config, InferenceClient client,
                                    BiFunction<String, String, Optional<ModelMetadata>> models, MeterRegistry registry) {
        int statePartitions;
        try (Admin admin = Admin.create(config.adminProperties())) {
            ensureTopics(admin, config);
            statePartitions = statePartitions(admin, config);
        }
        JobsService service = new JobsService(config, client, models, registry, statePartitions);
        try {
            service.startStreams();
            return service;
        } catch (RuntimeException e) {
            service.close();
            throw e;
        }
    }

    private static void ensureTopics(Admin admin, JobsConfig config) {
        int partitions = config.getInt(JobsConfig.TOPIC_PARTITIONS);
        short replication = config.getShort(JobsConfig.REPLICATION_FACTOR);
        Optional<Short> factor = replication > 0 ? Optional.of(replication) : Optional.empty();
        String retention = Long.toString(config.retentionMs());
        // Kafka deletes whole segments, rolled every 7 days by default: without a shorter roll, records would
        // stay up to a week past a one-day retention.
        String segment = Long.toString(Math.min(config.retentionMs(), TimeUnit.DAYS.toMillis(7)));
        // Job ids are unique, so compaction alone would keep every job forever: records also go after the
        // retention, when their jobs are expired anyway (the state lives in the changelogs).
        NewTopic jobs = new NewTopic(JobsTopology.JOBS_TOPIC, Optional.of(partitions), factor).configs(Map.of(
                TopicConfig.CLEANUP_POLICY_CONFIG,
                TopicConfig.CLEANUP_POLICY_COMPACT + "," + TopicConfig.CLEANUP_POLICY_DELETE,
                TopicConfig.RETENTION_MS_CONFIG, retention, TopicConfig.SEGMENT_MS_CONFIG, segment));
        NewTopic results = new NewTopic(JobsTopology.RESULTS_TOPIC, Optional.of(partitions), factor).configs(Map.of(
                TopicConfig.RETENTION_MS_CONFIG, retention, TopicConfig.SEGMENT_MS_CONFIG, segment));
        for (NewTopic topic : List.of(jobs, results)) {
            try {
                admin.createTopics(List.of(topic)).all().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new IllegalStateException("cannot create topic " + topic.name() + ": "
                            + e.getCause().getMessage(), e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while creating topic " + topic.name(), e);
            } catch (TimeoutException e) {
                throw new IllegalStateException("Kafka did not answer within 30 s", e);
            }
        }
    }

    /**
     * How many partitions hold job state: as many as the existing repartition topic has (Kafka Streams refuses any
     * other count for the life of the state), or at the first start as many as the larger input topic has (what
     * Streams chose by itself before the count was fixed, so existing deployments keep theirs). Fixed rather than
     * left to Streams, which would follow the inputs and refuse to start once partitions were added to either.
     */
    private static int statePartitions(Admin admin, JobsConfig config) {
        // The id Streams runs with (jobs.streams.application.id may override jobs.application.id).
        String repartition = config.streamsProperties().get(StreamsConfig.APPLICATION_ID_CONFIG) + "-"
                + JobsTopology.REPARTITION + "-repartition";
        Map<String, KafkaFuture<TopicDescription>> topics = admin.describeTopics(List.of(repartition,
                JobsTopology.JOBS_TOPIC, JobsTopology.RESULTS_TOPIC)).topicNameValues();
        Integer existing = partitions(topics.get(repartition));
        if (existing != null) {
            return existing;
        }
        // An input not described yet was created a moment ago (the broker answering may not know it yet): with
        // the configured count.
        int created = config.getInt(JobsConfig.TOPIC_PARTITIONS);
        Integer jobs = partitions(topics.get(JobsTopology.JOBS_TOPIC));
        Integer results = partitions(topics.get(JobsTopology.RESULTS_TOPIC));
        return Math.max(jobs == null ? created : jobs, results == null ? created : results);
    }

    /** A topic's partition count, or null when it does not exist. */
    private static Integer partitions(KafkaFuture<TopicDescription> topic) {
        try {
            return topic.get(30, TimeUnit.SECONDS).partitions().size();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                return null;
            }
            throw new IllegalStateException("cannot describe topics: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while describing topics", e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("Kafka did not answer within 30 s", e);
        }
    }

    private void startStreams() {
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                everRunning = true;
            }
            log.info("jobs streams {} -> {}", before, now);
        });
        streams.setUncaughtExceptionHandler(error -> {
            log.error("a jobs stream thread failed; replacing it", error);
            return StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        streams.start();
        log.info("jobs service started: application.id {}, this instance {}, state in {}",
                config.getString(JobsConfig.APPLICATION_ID), advertised, config.stateDir());
    }

    /**
     * Registers {@code POST /v1/jobs}, {@code GET /v1/jobs/:id} and the internal {@code GET /internal/jobs/:id}.
     * {@code bodyReader} reads the POST body (with the host's size limit) and {@code body} returns what it read, so
     * the host keeps one body policy for all its routes.
     */
    public void mount(Router router, Handler<RoutingContext> bodyReader, Function<RoutingContext, byte[]> body) {
        mount(router, bodyReader, body, () -> this);
    }

    /**
     * As {@link #mount(Router, Handler, Function)}, served by whatever service {@code service} gives at each call:
     * 503 with Retry-After while it gives none. A host mounts them before its jobs start (it listens first, since
     * other instances forward to its address): mounted only once started, they answered 404 "no route" meanwhile,
     * which says "no such job" of jobs that exist.
     */
    public static void mount(Router router, Handler<RoutingContext> bodyReader, Function<RoutingContext, byte[]> body,
                             Supplier<JobsService> service) {
        router.post(JOBS_PATH).handler(bodyReader).handler(ctx -> serve(ctx, service, jobs -> jobs.handleCreate(ctx,
                body)));
        // HEAD as GET (the status and headers, no body), as the gateway's other read-only routes.
        router.route(JOBS_PATH + "/:id").method(HttpMethod.GET).method(HttpMethod.HEAD)
                .handler(ctx -> serve(ctx, service, jobs -> jobs.handleGet(ctx, true)));
        router.get(INTERNAL_PATH + "/:id").handler(ctx -> serve(ctx, service, jobs -> jobs.handleGet(ctx, false)));
    }

    private static void serve(RoutingContext ctx, Supplier<JobsService> service, Consumer<JobsService> handler) {
        JobsService jobs = service.get();
        if (jobs == null) {
            write(ctx, Answer.unavailable("the jobs service is starting; retry"));
        } else {
            handler.accept(jobs);
        }
    }

    /**
     * True once Kafka Streams has been running and still is (also while it rebalances, which is brief and during
     * which GETs answer 503 with Retry-After; gating a readiness probe on every rebalance would make it flap).
     */
    public boolean ready() {
        if (closed) {
            return false;
        }
        KafkaStreams.State state = streams.state();
        return state == KafkaStreams.State.RUNNING || (everRunning && state == KafkaStreams.State.REBALANCING);
    }

    // ------------------------------------------------------------------------------------------------ submit

    private void handleCreate(RoutingContext ctx, Function<RoutingContext, byte[]> body) {
        long now = System.currentTimeMillis();
        JobRequest request;
        try {
            request = JobRequest.parse(body.apply(ctx), codec, config.maxItems());
            ModelMetadata model = models.apply(request.model(), null).orElseThrow(() -> new JobsHttpError(404,
                    "unknown_model", "unknown model '" + request.model() + "'"));
            if (request.version() != null) {
                // As /predict and /v2 do: a version no worker serves is refused now, not failed item by item later.
                model = models.apply(request.model(), request.version()).orElseThrow(() -> new JobsHttpError(404,
                        "unknown_version", "model '" + request.model() + "' has no version '" + request.version() + "'"));
            }
            if (!model.isText()) {
                throw JobsHttpError.badRequest("model '" + request.model() + "' takes tensors; jobs take texts");
            }
        } catch (JobsHttpError e) {
            write(ctx, e.answer());
            return;
        }
        if (closed) {
            write(ctx, Answer.error(503, "shutting_down", "the gateway is shutting down"));
            return;
        }
        if (!client.kafkaReachable()) {
            // As /predict does: at once, not after every item's send has waited out its delivery timeout.
            write(ctx, Answer.error(503, "kafka_unavailable", "Kafka is unreachable; retry later"));
            return;
        }
        String jobId = ids.next(now);
        JobSubmitted job = new JobSubmitted(jobId, request.model(), request.version(), request.texts().size(), now,
                now + config.retentionMs(), request.callback());
        Map<String, String> trace = traceHeaders(ctx);
        // The items first, the metadata once Kafka holds them all: a POST that fails part-way (503) then leaves
        // no job, only results in a placeholder that GET answers 404 once the creation grace is over and that
        // expires like a job. (Metadata first left a job pending for its whole retention, its missing items
        // never coming.) Results that come before the metadata are what placeholders are for.
        // The items are bounded by jobs.submit.timeout.ms: Kafka going away mid-POST otherwise held the caller for
        // the producer's delivery timeout (2 minutes) and could make the job after the caller had given up. The
        // metadata, which makes the job, is sent only if the POST has not given up by then; once sent, its own
        // outcome is the answer (a single record: it fails at its delivery timeout at worst).
        AtomicBoolean decided = new AtomicBoolean();
        CompletableFuture<Void> accepted = submitItems(job, request.texts(), trace)
                .thenCompose(ok -> decided.compareAndSet(false, true)
                        ? send(JobsTopology.JOBS_TOPIC, jobId, job.toJson())
                        : CompletableFuture.failedFuture(new TimeoutException("gave up before the job was made")));
        long timeoutMs = config.getLong(JobsConfig.SUBMIT_TIMEOUT_MS);
        long timer = ctx.vertx().setTimer(timeoutMs, id -> {
            if (decided.compareAndSet(false, true)) {
                accepted.completeExceptionally(new TimeoutException("Kafka did not take the job's items within "
                        + timeoutMs + " ms"));
            }
        });
        Future.fromCompletionStage(accepted, ctx.vertx().getOrCreateContext())
                .onComplete(done -> ctx.vertx().cancelTimer(timer))
                .onSuccess(ok -> {
                    metrics.submitted();
                    String location = JOBS_PATH + "/" + jobId;
                    byte[] answer = Json.write(gen -> {
                        gen.writeStartObject();
                        gen.writeStringField("job_id", jobId);
                        gen.writeStringField("status", "pending");
                        gen.writeStringField("location", location);
                        gen.writeNumberField("total", job.total());
                        gen.writeNumberField("created_ms", job.createdMs());
                        gen.writeNumberField("expires_ms", job.expiresMs());
                        gen.writeEndObject();
                    });
                    write(ctx, new Answer(202, answer, null, location));
                })
                .onFailure(error -> {
                    log.warn("job {} could not be submitted: {}", jobId, error.toString());
                    write(ctx, Answer.error(503, "kafka_unavailable", "Kafka did not take the job; retry later"));
                });
    }

    /**
     * Sends every item as its own request. An item Kafka refuses gets an error result in its place, so the job
     * still completes (with that item failed) instead of staying pending until it expires.
     */
    private CompletableFuture<Void> submitItems(JobSubmitted job, List<String> texts, Map<String, String> headers) {
        List<CompletableFuture<Void>> sends = new ArrayList<>(texts.size());
        for (int i = 0; i < texts.size(); i++) {
            InferenceRequest item = new InferenceRequest(job.jobId() + ":" + i, job.model(), job.version(),
                    List.of(texts.get(i)), null);
            sends.add(client.submit(item, JobsTopology.RESULTS_TOPIC, job.expiresMs(), headers)
                    .exceptionallyCompose(error -> send(JobsTopology.RESULTS_TOPIC, item.id(), codec.encodeReply(
                            InferenceReply.failure(item.id(), job.model(), ErrorCode.UNAVAILABLE,
                                    "the request could not be written to Kafka: " + rootMessage(error))))));
        }
        return CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new));
    }

    /** Written with the inference client's producer, off the event loop; completes once Kafka acknowledged it. */
    private CompletableFuture<Void> send(String topic, String key, byte[] value) {
        return client.publish(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value));
    }

    // --------------------------------------------------------------------------------------------------- query

    /** Where a job is answered: here (the answer itself), or on another instance. */
    private sealed interface Lookup permits Local, Remote {
    }

    private record Local(Answer answer) implements Lookup {
    }

    private record Remote(HostInfo host) implements Lookup {
    }

    private void handleGet(RoutingContext ctx, boolean mayForward) {
        String jobId = ctx.pathParam("id");
        if (!JobIds.isValid(jobId)) {
            write(ctx, Answer.error(400, "invalid_request", "invalid job id '" + shorten(jobId) + "': job ids are "
                    + JobIds.describeFormat()));
            return;
        }
        // Metadata lookups and RocksDB reads are fast but may block briefly: never on the event loop.
        ctx.vertx().executeBlocking(() -> locate(jobId, mayForward), false)
                .onSuccess(lookup -> {
                    if (lookup instanceof Remote remote) {
                        forward(ctx, remote.host(), jobId);
                    } else {
                        metrics.query(mayForward ? "local" : "internal");
                        if (!mayForward) {
                            ctx.response().putHeader(ANSWERED_BY_HEADER, self.host() + ":" + self.port());
                        }
                        write(ctx, ((Local) lookup).answer());
                    }
                })
                .onFailure(error -> {
                    log.error("reading job {} failed", jobId, error);
                    write(ctx, Answer.error(500, "internal", "internal error"));
                });
    }

    private Lookup locate(String jobId, boolean mayForward) {
        if (closed) {
            return new Local(Answer.error(503, "shutting_down", "the gateway is shutting down"));
        }
        KeyQueryMetadata where;
        try {
            where = streams.queryMetadataForKey(JobsTopology.JOBS_STORE, jobId, KEYS);
        } catch (RuntimeException e) {
            return new Local(Answer.unavailable("job state is not available yet (" + e.getClass().getSimpleName()
                    + "); retry"));
        }
        if (where == null || KeyQueryMetadata.NOT_AVAILABLE.equals(where) || where.activeHost() == null
                || where.activeHost().port() < 0) {
            return new Local(Answer.unavailable("job state is being assigned to instances (rebalancing); retry"));
        }
        if (!where.activeHost().equals(self)) {
            return mayForward ? new Remote(where.activeHost())
                    : new Local(Answer.unavailable("job " + jobId + " is no longer held here (rebalancing); retry"));
        }
        try {
            ReadOnlyKeyValueStore<String, JobRecord> jobs = streams.store(StoreQueryParameters
                    .fromNameAndType(JobsTopology.JOBS_STORE, QueryableStoreTypes.<String, JobRecord>keyValueStore())
                    .withPartition(where.partition()));
            ReadOnlyKeyValueStore<String, byte[]> items = streams.store(StoreQueryParameters
                    .fromNameAndType(JobsTopology.ITEMS_STORE, QueryableStoreTypes.<String, byte[]>keyValueStore())
                    .withPartition(where.partition()));
            long now = System.currentTimeMillis();
            return new Local(Answer.job(jobId, JobViews.read(jobs, items, jobId, now), now, config.retentionMs()));
        } catch (InvalidStateStoreException e) {
            return new Local(Answer.unavailable("job state is being restored or moved (rebalancing); retry"));
        }
    }

    /** Asks the instance holding the job (its internal route reads only its own store) and relays the answer. */
    private void forward(RoutingContext ctx, HostInfo host, String jobId) {
        String authority = host.host().contains(":") && !host.host().startsWith("[")
                ? "[" + host.host() + "]:" + host.port() : host.host() + ":" + host.port();
        RequestOptions request = new RequestOptions().setMethod(HttpMethod.GET)
                .setAbsoluteURI(advertised.getScheme() + "://" + authority + INTERNAL_PATH + "/" + jobId)
                .setConnectTimeout(forwardTimeout.toMillis())
                .setIdleTimeout(forwardTimeout.toMillis())
                .putHeader(FORWARDED_HEADER, self.host() + ":" + self.port());
        for (String name : FORWARDED_REQUEST_HEADERS) {
            String value = ctx.request().getHeader(name);
            if (value != null) {
                request.putHeader(name, value);
            }
        }
        forwarder(ctx.vertx()).request(request)
                .compose(call -> call.send())
                // Unmarked, only a JSON answer other than 404 and 503 is relayed (an instance of an older version);
                // a 404, a 503 (that gateway starting its jobs, or shutting down: its words, relayed, would say this
                // healthy one is) or anything not JSON came from something other than a jobs route there.
                .compose(answer -> answer.body().map(bytes -> answer.getHeader(ANSWERED_BY_HEADER) == null
                        && (answer.statusCode() == 404 || answer.statusCode() == 503
                        || !String.valueOf(answer.getHeader("Content-Type")).startsWith("application/json")) ? null
                        : new Answer(answer.statusCode(), bytes.getBytes(), answer.getHeader("Retry-After"), null)))
                .onSuccess(answer -> {
                    if (answer == null) {
                        metrics.query("remote_failed");
                        write(ctx, Answer.unavailable("the instance at " + authority + " holding job " + jobId
                                + " does not serve jobs now (starting or stopping); retry"));
                        return;
                    }
                    metrics.query("remote");
                    write(ctx, answer);
                })
                .onFailure(error -> {
                    metrics.query("remote_failed");
                    log.warn("forwarding job {} to {} failed: {}", jobId, authority, error.toString());
                    write(ctx, Answer.unavailable("the instance holding job " + jobId + " did not answer; retry"));
                });
    }

    /**
     * Vert.x's client rather than the JDK's: the JDK's {@code sendAsync} hands each response to the common
     * fork-join pool, which on one or two cores (a small pod) means a new thread per response.
     */
    private synchronized HttpClientAgent forwarder(Vertx vertx) {
        if (http == null) {
            http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true));
        }
        return http;
    }

    private static void write(RoutingContext ctx, Answer answer) {
        if (ctx.response().ended() || ctx.response().closed()) {
            return;
        }
        ctx.response().setStatusCode(answer.status()).putHeader("Content-Type", "application/json");
        if (answer.retryAfter() != null) {
            ctx.response().putHeader("Retry-After", answer.retryAfter());
        }
        if (answer.location() != null) {
            ctx.response().putHeader("Location", answer.location());
        }
        ctx.response().end(Buffer.buffer(answer.body()));
    }

    private static Map<String, String> traceHeaders(RoutingContext ctx) {
        return KinferHeaders.passedThrough(ctx.request()::getHeader);
    }

    private static String shorten(String text) {
        return text == null ? "" : text.length() <= 64 ? text : text.substring(0, 64) + "...";
    }

    private static String rootMessage(Throwable error) {
        Throwable cause = error;
        while (cause.getCause() != null && cause.getCause() != cause) {
            cause = cause.getCause();
        }
        return cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
    }

    // --------------------------------------------------------------------------------------------- for tests

    KafkaStreams streams() {
        return streams;
    }

    JobsMetrics metrics() {
        return metrics;
    }

    /** Whether this instance holds {@code jobId} right now (Streams' metadata). */
    boolean holds(String jobId) {
        KeyQueryMetadata where = streams.queryMetadataForKey(JobsTopology.JOBS_STORE, jobId, KEYS);
        return where != null && self.equals(where.activeHost());
    }

    /**
     * Stops Kafka Streams, leaving its group at once so another instance takes this one's jobs over in one
     * rebalance (not after the session timeout); the local state stays on disk for a quick restart.
     */
    @Override
    public void close() {
        close(Duration.ofSeconds(30));
    }

    /**
     * As {@link #close()}, waiting at most {@code timeout} for Kafka Streams: with Kafka gone its threads would
     * retry the group leave and the last commit for the whole timeout, and nothing is lost by not waiting (the
     * results are in Kafka; uncommitted input is read again by the next owner).
     */
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        HttpClientAgent client = http;
        if (client != null) {
            client.close();
        }
        boolean stopped = streams.close(CloseOptions.groupMembershipOperation(
                CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(timeout));
        metrics.close();
        if (stopped) {
            log.info("jobs service stopped");
        } else {
            log.warn("jobs service: Kafka Streams did not stop within {} ms; leaving it behind", timeout.toMillis());
        }
    }
}
