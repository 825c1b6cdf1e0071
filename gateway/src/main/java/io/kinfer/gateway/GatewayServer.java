package io.kinfer.gateway;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.config.LatencyBuckets;
import io.kinfer.config.LocalUrl;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.Redaction;
import io.kinfer.jobs.JobsConfig;
import io.kinfer.jobs.JobsService;
import io.kinfer.protocol.Topics;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP gateway: one route table, small handlers, one failure mapper. Handlers run on Vert.x event loops and
 * only parse, validate and hand requests to the {@link InferenceClient}; replies complete back on the same
 * context. Nothing here blocks and no inference runs here.
 */
public final class GatewayServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(GatewayServer.class);

    private final GatewayConfig config;
    private final PrometheusMeterRegistry registry;
    private final InferenceClient client;
    private final ModelCatalog catalog;
    private final Vertx vertx;
    private final List<byte[]> apiKeyDigests;
    private HttpServer server;
    private Router router;
    private LimitedBody body;
    private final JobsConfig jobsConfig;
    /** Null until the jobs start (their routes, mounted before, answer 503 meanwhile); read on the event loop. */
    private volatile JobsService jobs;
    private StatusPage status;
    private volatile boolean draining;

    private GatewayServer(GatewayConfig config, PrometheusMeterRegistry registry, InferenceClient client,
                          ModelCatalog catalog, Vertx vertx) {
        this.config = config;
        this.registry = registry;
        this.client = client;
        this.catalog = catalog;
        this.vertx = vertx;
        this.apiKeyDigests = config.apiKeys().stream().map(GatewayServer::digest).toList();
        this.jobsConfig = new JobsConfig(config.originals());
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** A setting of the gateway, its client or its jobs, whose value the start-up line may show unless secret. */
    private static boolean knownSetting(String key) {
        return GatewayConfig.DEFINITION.names().contains(key) || ClientConfig.DEFINITION.names().contains(key)
                || JobsConfig.DEFINITION.names().contains(key) || JobsConfig.isStreamsSetting(key);
    }

    /** Connects to Kafka, reads the model catalog, listens, and starts the jobs; returns once serving. */
    public static GatewayServer start(GatewayConfig config) {
        GatewayServer gateway = startListening(config);
        gateway.startJobs();
        return gateway;
    }

    /** As {@link #start}, but without the jobs yet: their routes answer 503 until {@link #startJobs()}. */
    static GatewayServer startListening(GatewayConfig config) {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry); // process_start_time_seconds: restarts show
        new ClassLoaderMetrics().bindTo(registry);
        log.info("gateway starting with settings {}", Redaction.redact(config.originals(), GatewayServer::knownSetting));
        int keys = config.apiKeys().size();
        String host = config.getString(GatewayConfig.HOST);
        if (keys == 0 && !isLoopback(host)) {
            // An empty KINFER_GATEWAY_API_KEYS (a Secret with an empty value) counts as unset: say so loudly.
            log.warn("authentication off on {}: every route is open to anyone who reaches this port (set "
                    + "gateway.api.keys or gateway.api.keys.file; an empty value counts as none)", host);
        } else {
            log.info(keys == 0 ? "authentication off: no API keys set" : "authentication on: {} API key(s){}", keys,
                    config.getBoolean(GatewayConfig.PUBLIC_OPS) ? "; /metrics, health and status stay open" : "");
        }
        String bootstrap = config.clientConfig().getString(KafkaClientProperties.BOOTSTRAP_SERVERS);
        log.info("connecting to Kafka at {}", bootstrap);
        Admin catalogAdmin = Admin.create(config.clientConfig().adminProperties());
        try {
            ensureCatalogTopic(catalogAdmin, bootstrap);
            catalogAdmin.close();
        } catch (RuntimeException e) {
            // Not the admin client's own wait for its pending call: that was a second silent half minute.
            catalogAdmin.close(Duration.ZERO);
            throw e;
        }
        InferenceClient client = InferenceClient.create(config.clientConfig(), registry);
        ModelCatalog catalog = null;
        Vertx vertx = null;
        try {
            catalog = new ModelCatalog(config.clientConfig().consumerProperties()).start(Duration.ofSeconds(30));
            VertxOptions options = new VertxOptions();
            if (config.getInt(GatewayConfig.EVENT_LOOPS) > 0) {
                options.setEventLoopPoolSize(config.getInt(GatewayConfig.EVENT_LOOPS));
            }
            vertx = Vertx.vertx(options);
            GatewayServer gateway = new GatewayServer(config, registry, client, catalog, vertx);
            gateway.listen();
            return gateway;
        } catch (RuntimeException e) {
            client.close();
            if (catalog != null) {
                catalog.close();
            }
            if (vertx != null) {
                vertx.close();
            }
            throw e;
        }
    }

    /**
     * Asynchronous jobs (POST/GET /v1/jobs), started once the port is known, because other gateway instances forward
     * job lookups to this one's advertised address.
     */
    void startJobs() {
        if (!jobsConfig.enabled()) {
            return;
        }
        try {
            jobs = JobsService.start(jobsConfig.withDefaultAdvertisedUrl(advertisedUrl()), client,
                    catalog::metadata, registry);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Where other instances reach this one: the bound host, or this machine's address when bound to all. */
    String advertisedUrl() {
        String machine;
        try {
            machine = InetAddress.getLocalHost().getHostAddress();
        } catch (UnknownHostException e) {
            machine = "127.0.0.1";
        }
        return LocalUrl.http(config.getString(GatewayConfig.HOST), port(), machine);
    }

    private static void ensureCatalogTopic(Admin admin, String bootstrap) {
        try {
            admin.createTopics(List.of(new NewTopic(Topics.CATALOG, Optional.of(1), Optional.empty())
                            .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT))))
                    .all().get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException("cannot create the catalog topic: " + e.getCause().getMessage(), e);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("Kafka at " + bootstrap + " (kafka.bootstrap.servers) did not answer "
                    + "within 30 s: is it running, and is that its address?", e);
        }
    }

    private void listen() {
        router = Router.router(vertx);
        status = new StatusPage(vertx, catalog, client::inFlight);
        Inference inference = new Inference(client, catalog, config);
        SimpleApi simple = new SimpleApi(inference);
        OipApi oip = new OipApi(inference, client, this::draining);

        router.route().handler(this::measure);
        router.route().handler(this::refuseWhileDraining);
        router.route().handler(this::authenticate);
        body = new LimitedBody(config.getLong(GatewayConfig.BODY_LIMIT_BYTES));

        // The route table.
        post(router, "/predict", body).handler(simple::handlePredict);
        post(router, "/predict_batch", body).handler(simple::handlePredictBatch);
        get(router, "/v2").handler(oip::handleServerMetadata);
        get(router, "/v2/health/live").handler(oip::handleLive);
        get(router, "/v2/health/ready").handler(oip::handleReady);
        get(router, "/v2/models/:model").handler(oip::handleModelMetadata);
        get(router, "/v2/models/:model/versions/:version").handler(oip::handleModelMetadata);
        get(router, "/v2/models/:model/config").handler(oip::handleModelConfig);
        get(router, "/v2/models/:model/versions/:version/config").handler(oip::handleModelConfig);
        get(router, "/v2/models/:model/ready").handler(oip::handleModelReady);
        get(router, "/v2/models/:model/versions/:version/ready").handler(oip::handleModelReady);
        post(router, "/v2/models/:model/infer", body).handler(oip::handleInfer);
        post(router, "/v2/models/:model/versions/:version/infer", body).handler(oip::handleInfer);
        get(router, "/metrics").handler(this::handleMetrics);
        get(router, "/").handler(status::handlePage);
        get(router, "/status.json").handler(status::handleJson);
        if (jobsConfig.enabled()) {
            // Mounted now, served once the jobs start (after the port opens: other instances forward to this one's
            // address); 503 with Retry-After until then.
            JobsService.mount(router, body, ctx -> LimitedBody.of(ctx).getBytes(), () -> jobs);
        }

        router.route().failureHandler(this::handleFailure);
        router.errorHandler(404, ctx -> Responses.error(ctx, 404, "not_found",
                "no route for " + ctx.request().method() + " " + safePath(ctx)));
        router.errorHandler(405, this::handleMethodNotAllowed);
        // Only reached when routing itself fails (a path or query Vert.x cannot decode) or the failure handler
        // throws: still the JSON error body, not Vert.x's text/plain one.
        router.errorHandler(400, ctx -> Responses.error(ctx, 400, "malformed", "the request line cannot be decoded"));
        router.errorHandler(500, ctx -> {
            log.error("unexpected failure on {} {}", ctx.request().method(), safePath(ctx), ctx.failure());
            Responses.error(ctx, 500, "internal", "internal error");
        });
        indexRoutes();

        HttpServerOptions options = new HttpServerOptions()
                .setHost(config.getString(GatewayConfig.HOST))
                .setPort(config.getInt(GatewayConfig.PORT))
                .setIdleTimeout(idleTimeoutSeconds(config))
                .setIdleTimeoutUnit(TimeUnit.SECONDS)
                // HTTP/1.1 only, as documented: Vert.x took the JDK client's h2c upgrade, and over HTTP/2 its
                // answers to HEAD carried the GET's body (a protocol error), an untested surface besides.
                .setHttp2ClearTextEnabled(false);
        try {
            server = vertx.createHttpServer(options).requestHandler(this::route)
                    .invalidRequestHandler(this::handleInvalidRequest).listen()
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("cannot listen on " + options.getHost() + ":" + options.getPort() + ": "
                    + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
        }
        log.info("gateway listening on http://{}:{}", options.getHost(), server.actualPort());
    }

    /**
     * Vert.x closes a connection idle this long even while a call on it waits for its reply, so it must outlast
     * the longest timeout a call may ask for (else the caller gets a closed connection instead of its 504).
     */
    static int idleTimeoutSeconds(GatewayConfig config) {
        return (int) Math.max(120, config.getLong(GatewayConfig.MAX_TIMEOUT_MS) / 1000 + 30);
    }

    private static Route post(Router router, String path, LimitedBody body) {
        router.post(path).handler(named(path)).handler(body);
        return router.post(path);
    }

    /** A read-only route: HEAD answers as GET does, without the body (Vert.x drops it for HEAD). */
    private static Route get(Router router, String path) {
        return router.route(path).method(HttpMethod.GET).method(HttpMethod.HEAD).handler(named(path));
    }

    /**
     * Remembers the route's template for the metrics: a handler that throws fails the context, and Vert.x runs the
     * failure handler with no current route.
     */
    private static Handler<RoutingContext> named(String template) {
        return ctx -> {
            ctx.put(ROUTE, template);
            ctx.next();
        };
    }

    /** 405 with the Allow header RFC 9110 requires: every method a route on this path takes. */
    private void handleMethodNotAllowed(RoutingContext ctx) {
        Set<String> allowed = new TreeSet<>();
        for (RouteTemplate route : routesFor(ctx.normalizedPath())) {
            allowed.addAll(route.methods());
        }
        if (!allowed.isEmpty()) {
            ctx.response().putHeader("Allow", String.join(", ", allowed));
        }
        Responses.error(ctx, 405, "method_not_allowed", ctx.request().method() + " is not allowed on " + safePath(ctx));
    }

    /** A route template, the pattern Vert.x matches it by, and the methods its routes take. */
    private record RouteTemplate(String template, Pattern pattern, Set<String> methods) {
    }

    /** Built once the route table is complete (the jobs' routes included), read on the event loop. */
    private volatile List<RouteTemplate> routeIndex = List.of();

    private void indexRoutes() {
        Map<String, Set<String>> methods = new java.util.LinkedHashMap<>();
        for (Route route : router.getRoutes()) {
            if (route.getPath() != null) { // a route with :params is a "regex path" too
                methods.computeIfAbsent(route.getPath(), t -> new TreeSet<>())
                        .addAll(route.methods().stream().map(HttpMethod::name).toList());
            }
        }
        routeIndex = methods.entrySet().stream()
                .map(e -> new RouteTemplate(e.getKey(), templatePattern(e.getKey()), Set.copyOf(e.getValue())))
                .toList();
    }

    /** The templates (the jobs' included) that match the path, as Vert.x matches: a trailing slash too. */
    private List<RouteTemplate> routesFor(String path) {
        return routeIndex.stream().filter(route -> route.pattern().matcher(path).matches()).toList();
    }

    private static Pattern templatePattern(String template) {
        String regex = Arrays.stream(template.split("/", -1))
                .map(segment -> segment.startsWith(":") ? "[^/]+" : Pattern.quote(segment))
                .collect(Collectors.joining("/"));
        return Pattern.compile(template.endsWith("/") ? regex : regex + "/?");
    }

    /** Once shutdown began, new calls get 503 at once (a load balancer retries them elsewhere); ops stay open. */
    private void refuseWhileDraining(RoutingContext ctx) {
        if (draining && !isOpsPath(ctx.normalizedPath())) {
            Responses.closingAfter(ctx);
            Responses.error(ctx, 503, "shutting_down", "the gateway is shutting down; retry on another instance");
            return;
        }
        ctx.next();
    }

    /** Whether shutdown has begun (readiness reports false then). */
    public boolean draining() {
        return draining;
    }

    private final ConcurrentHashMap<String, Timer> httpTimers = new ConcurrentHashMap<>();
    private static final Set<String> KNOWN_METHODS = Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
            "OPTIONS", "TRACE", "CONNECT");
    static final int CLIENT_CLOSED = 499;
    private static final String ROUTE = "kinfer.route";
    private static final String UNMATCHED = "unmatched";
    private static final String INVALID = "invalid";

    /**
     * HTTP requests by route and status, with a latency histogram. The first handler, so it also refuses a path
     * that cannot be decoded (a bad percent-escape), on which every later {@code normalizedPath()} would throw.
     */
    private void measure(RoutingContext ctx) {
        long started = System.nanoTime();
        String path;
        try {
            path = ctx.normalizedPath();
        } catch (IllegalArgumentException e) {
            path = null;
        }
        String decoded = path;
        boolean api = path == null || !isOpsPath(path);
        ctx.addEndHandler(done -> {
            // A caller who hung up got no answer: counted as 499 (nginx's "client closed request"), not as the
            // 200 a response not yet written still reads.
            int code = done.failed() && !ctx.response().ended() ? CLIENT_CLOSED : ctx.response().getStatusCode();
            if (api) {
                status.record(System.nanoTime() - started, code);
            }
            recordHttp(routeLabel(ctx, decoded, code), ctx.request(), code, started);
        });
        if (path == null) {
            Responses.error(ctx, 400, "malformed", "invalid percent-encoding in path " + safePath(ctx));
            return;
        }
        if (!queryDecodes(ctx.request())) {
            // Vert.x refuses such a query wherever it reads one (every route with a path parameter does): refused
            // on every route alike, as a bad escape in the path is, instead of on some routes only.
            Responses.error(ctx, 400, "malformed", "invalid percent-encoding in the query string");
            return;
        }
        ctx.next();
    }

    /** Whether the query string, if any, decodes (Vert.x parses it, once, into the request's params). */
    private static boolean queryDecodes(HttpServerRequest request) {
        if (request.query() == null) {
            return true;
        }
        try {
            request.params();
            return true;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Counts one answered request (latency from {@code started}, System.nanoTime) by route, method and status. */
    private void recordHttp(String route, HttpServerRequest request, int code, long started) {
        // Any token is a method to Vert.x: bounded here, or each made-up one would add a histogram.
        String method = KNOWN_METHODS.contains(request.method().name()) ? request.method().name() : "OTHER";
        // Looked up once per route, method and status, not built and registered on every request.
        httpTimers.computeIfAbsent(route + ' ' + method + ' ' + code, key -> Timer.builder("kinfer.http.requests")
                        .description("HTTP requests by route, method and status")
                        .tags("route", route, "method", method, "status", Integer.toString(code))
                        .serviceLevelObjectives(LatencyBuckets.bounds())
                        .register(registry))
                .record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    }

    /**
     * A request Vert.x could not decode, refused before the router (a request line over 4 KB: 414; headers over
     * 8 KB: 431; anything else, such as a Content-Length that is not a number: 400). The statuses are those of
     * Vert.x's {@code HttpServerRequest.DEFAULT_INVALID_REQUEST_HANDLER}, which answered them with an empty body;
     * here with the usual JSON error, counted under route {@code invalid}. The connection then closes, as there:
     * what follows on it cannot be framed.
     */
    private void handleInvalidRequest(HttpServerRequest request) {
        long started = System.nanoTime();
        Throwable cause = request.decoderResult().cause();
        int code;
        String errorCode;
        String message;
        if (cause instanceof TooLongHttpLineException) {
            code = 414;
            errorCode = "uri_too_long";
            message = "the request line is longer than " + HttpServerOptions.DEFAULT_MAX_INITIAL_LINE_LENGTH
                    + " bytes";
        } else if (cause instanceof TooLongHttpHeaderException) {
            code = 431;
            errorCode = "headers_too_large";
            message = "the request headers are larger than " + HttpServerOptions.DEFAULT_MAX_HEADER_SIZE + " bytes";
        } else {
            code = 400;
            errorCode = "malformed";
            message = "the request cannot be decoded as HTTP"
                    + (cause != null && cause.getMessage() != null ? ": " + Responses.cut(cause.getMessage(), 100)
                    : "");
        }
        refuse(request, code, errorCode, message, started);
    }

    /**
     * Hands a request to the router, except those Vert.x-web would refuse before any handler of ours runs, which are
     * answered as the undecodable ones are: one without a valid Host (HTTP/1.1 requires it; Vert.x-web failed it with
     * an exception, which read as a 500 and an ERROR line per request, from anyone, and went uncounted), and a target
     * that is not a path ({@code v2}, {@code *}: a bare 404). {@code OPTIONS *} asks what the server allows.
     */
    private void route(HttpServerRequest request) {
        String path = request.path();
        if (request.authority() == null && request.version() != HttpVersion.HTTP_1_0) {
            refuse(request, 400, "malformed", "a valid Host header is required", System.nanoTime());
        } else if (request.method() == HttpMethod.OPTIONS && "*".equals(request.uri())) {
            long started = System.nanoTime();
            request.response().setStatusCode(204).putHeader("Allow", "GET, HEAD, POST").end()
                    .onComplete(done -> recordHttp(UNMATCHED, request, 204, started));
        } else if (path == null || !path.startsWith("/")) {
            refuse(request, 400, "malformed", "the request target must be a path starting with /", System.nanoTime());
        } else {
            router.handle(request);
        }
    }

    /** The JSON error for a request no route saw, counted under route {@code invalid}; the connection then closes. */
    private void refuse(HttpServerRequest request, int code, String errorCode, String message, long started) {
        request.response().setStatusCode(code).putHeader("Content-Type", "application/json")
                .putHeader("Connection", "close")
                .end(Buffer.buffer(Responses.errorBody(errorCode, message)))
                .onComplete(done -> {
                    status.record(System.nanoTime() - started, code);
                    recordHttp(INVALID, request, code, started);
                    request.connection().close();
                });
    }


    /**
     * The route template a request reached; for an answer given before any route ran (401, 503 while draining,
     * 405) the template its path matches. A path no route has is "unmatched", so callers cannot add series.
     */
    private String routeLabel(RoutingContext ctx, String path, int code) {
        String route = ctx.get(ROUTE);
        if (route == null && ctx.currentRoute() != null) {
            route = ctx.currentRoute().getPath(); // the jobs' routes
        }
        if (route == null && path != null && code != 404) {
            route = routeIndex.stream().filter(r -> r.pattern().matcher(path).matches())
                    .map(RouteTemplate::template).findFirst().orElse(null);
        }
        return route == null ? UNMATCHED : route;
    }

    /** With API keys configured, every call but the public ops endpoints needs one (compared in constant time). */
    private void authenticate(RoutingContext ctx) {
        if (apiKeyDigests.isEmpty() || (config.getBoolean(GatewayConfig.PUBLIC_OPS) && isOpsPath(ctx.normalizedPath()))) {
            ctx.next();
            return;
        }
        String presented = ctx.request().getHeader("X-API-Key");
        String authorization = ctx.request().getHeader("Authorization");
        if (presented == null && authorization != null && authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            presented = authorization.substring(7).trim();
        }
        boolean valid = false;
        if (presented != null) {
            byte[] digest = digest(presented);
            for (byte[] key : apiKeyDigests) {
                // No early exit: the time taken does not depend on which key matched.
                valid |= MessageDigest.isEqual(digest, key);
            }
        }
        if (!valid) {
            ctx.response().putHeader("WWW-Authenticate", "Bearer");
            Responses.error(ctx, 401, "unauthorized", presented == null ? "an API key is required"
                    : "the API key is not valid");
            return;
        }
        ctx.next();
    }

    /** The ops endpoints, exactly: a prefix made {@code /statusXYZ} public too (a 404 without a key, not a 401). */
    static boolean isOpsPath(String path) {
        // With a trailing slash too, as Vert.x routes it (/v2/health/live/ is the live route).
        return OPS_PATHS.contains(path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1)
                : path);
    }

    private static final Set<String> OPS_PATHS = Set.of("/", "/metrics", "/status.json", "/v2/health/live",
            "/v2/health/ready");

    private void handleMetrics(RoutingContext ctx) {
        ctx.response().putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(registry.scrape());
    }

    private void handleFailure(RoutingContext ctx) {
        Throwable failure = ctx.failure();
        if (failure == null) {
            int status = ctx.statusCode();
            if (status == 413) {
                Responses.error(ctx, 413, "input_too_large", "the body is larger than "
                        + config.getLong(GatewayConfig.BODY_LIMIT_BYTES) + " bytes");
            } else {
                Responses.error(ctx, status, status == 405 ? "method_not_allowed" : "invalid_request",
                        "request failed with status " + status);
            }
            return;
        }
        Responses.failure(ctx, failure);
    }

    /** The path as sent (never normalised: that throws on a bad percent-escape), cut short for messages. */
    private static String safePath(RoutingContext ctx) {
        return Responses.cut(ctx.request().path(), 100);
    }

    private static byte[] digest(String key) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public int port() {
        return server.actualPort();
    }

    /** Where a process on this machine reaches the gateway (127.0.0.1 when it binds every address). */
    public String url() {
        return LocalUrl.http(config.getString(GatewayConfig.HOST), port());
    }

    public InferenceClient client() {
        return client;
    }

    public ModelCatalog catalog() {
        return catalog;
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /**
     * Drains like a good citizen of a rolling update: new calls get 503 and readiness turns false at once; calls in
     * flight get {@code gateway.shutdown.timeout.ms} (5 s) to be answered; whatever is still pending then fails with
     * 503 at once (callers get an error, not silence); then the server, the catalog and Vert.x close.
     */
    @Override
    public void close() {
        draining = true;
        // Calls in flight may still be answered until the shutdown timeout; then the rest fail.
        client.close(Duration.ofMillis(config.getLong(GatewayConfig.SHUTDOWN_TIMEOUT_MS)));
        try {
            if (server != null) {
                server.shutdown(5, TimeUnit.SECONDS).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            log.warn("closing the HTTP server: {}", e.toString());
        }
        if (jobs != null) {
            // Bounded like the drain: with Kafka gone, Streams would otherwise retry its group leave for 30 s.
            jobs.close(Duration.ofMillis(Math.max(1_000, config.getLong(GatewayConfig.SHUTDOWN_TIMEOUT_MS))));
        }
        catalog.close();
        try {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.warn("closing Vert.x: {}", e.toString());
        }
        registry.close();
    }
}
