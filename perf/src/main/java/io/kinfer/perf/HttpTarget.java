package io.kinfer.perf;

import java.io.IOException;
import java.net.ConnectException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kinfer.protocol.Timings;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;

/**
 * The gateway over HTTP/1.1 with Vert.x's client on one event loop, as {@code wrk -t1}: the simple API
 * ({@code /predict} for one text, {@code /predict_batch} for more) or the Open Inference Protocol
 * ({@code /v2/models/m/infer}, texts as one BYTES tensor). Timings come from the responses ({@code timings}, or OIP
 * {@code parameters}).
 *
 * <p>Not the JDK's {@code HttpClient}: its {@code sendAsync} hands every response to the common fork-join pool,
 * which on a machine with two cores is a new thread per task, so the load generator started a thread per request
 * (JFR: 923 in a 15 s one-user run) and took a third of a core at 60 requests a second.
 */
final class HttpTarget implements Target {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** HTTP/1.1 without pipelining needs a connection per call in flight; open loop may have many. */
    private static final int MAX_CONNECTIONS = 4096;

    private final String baseUrl;
    private final String model;
    private final boolean oip;
    private final Duration timeout;
    /** The gateway's per-call timeout header (docs/GATEWAY.md). */
    static final String TIMEOUT_HEADER = "kinfer-timeout-ms";
    /** Sent as {@code Authorization: Bearer <key>} on every call when the gateway wants one; null: none. */
    private final String apiKey;
    private final Vertx vertx;
    private final HttpClientAgent http;

    HttpTarget(String baseUrl, String model, boolean oip, Duration timeout) {
        this(baseUrl, model, oip, timeout, null);
    }

    HttpTarget(String baseUrl, String model, boolean oip, Duration timeout, String apiKey) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.model = model;
        this.oip = oip;
        this.timeout = timeout;
        this.apiKey = apiKey == null || apiKey.isBlank() ? null : apiKey.trim();
        this.vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1)
                .setInternalBlockingPoolSize(1));
        this.http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setConnectTimeout(5000),
                new PoolOptions().setHttp1MaxSize(MAX_CONNECTIONS));
    }

    @Override
    public String name() {
        return oip ? "oip" : "http";
    }

    @Override
    public String endpoint(int batchSize) {
        return "POST " + baseUrl + path(batchSize);
    }

    private String path(int batchSize) {
        if (oip) {
            return "/v2/models/" + model + "/infer";
        }
        return batchSize == 1 ? "/predict" : "/predict_batch";
    }

    @Override
    public CompletableFuture<Outcome> call(List<String> texts) {
        byte[] body;
        try {
            body = body(texts);
        } catch (IOException e) {
            return CompletableFuture.completedFuture(Outcome.failed("client_error"));
        }
        RequestOptions request = new RequestOptions().setMethod(HttpMethod.POST)
                .setAbsoluteURI(baseUrl + path(texts.size()))
                .putHeader("Content-Type", "application/json")
                // The call's deadline, as the Kafka target's client sets it: without it, the workers computed calls
                // this load had given up on (under the gateway's 30 s default), stealing capacity from the next.
                .putHeader(TIMEOUT_HEADER, Long.toString(timeout.toMillis()))
                // The gateway answers in one write, so no data for this long means no answer.
                .setIdleTimeout(timeout.toMillis());
        if (apiKey != null) {
            request.putHeader("Authorization", "Bearer " + apiKey);
        }
        CompletableFuture<Outcome> outcome = new CompletableFuture<>();
        http.request(request)
                .compose(call -> call.send(Buffer.buffer(body)))
                .compose(response -> response.body().map(bytes -> outcome(response.statusCode(), bytes, texts.size())))
                .onComplete(done -> outcome.complete(done.succeeded() ? done.result() : failure(done.cause())));
        return outcome;
    }

    /**
     * One GET of the gateway's liveness path before a load: a gateway that is not there fails the command at once
     * instead of being hammered with connection attempts for the whole duration.
     */
    @Override
    public Optional<String> unreachable() {
        RequestOptions request = new RequestOptions().setMethod(HttpMethod.GET)
                .setAbsoluteURI(baseUrl + "/v2/health/live").setIdleTimeout(timeout.toMillis());
        if (apiKey != null) {
            request.putHeader("Authorization", "Bearer " + apiKey);
        }
        CompletableFuture<Outcome> outcome = new CompletableFuture<>();
        http.request(request)
                .compose(call -> call.send())
                .compose(response -> response.body().map(bytes -> Outcome.ok(0, List.of())))
                .onComplete(done -> outcome.complete(done.succeeded() ? done.result() : failure(done.cause())));
        Outcome probe = outcome.join();
        if (probe.ok() || !probe.failure().startsWith("connection_")) {
            return Optional.empty(); // an answer of any kind, or a slow one: something is there
        }
        return Optional.of("cannot connect to " + baseUrl + " (" + probe.failure().replace('_', ' ')
                + "): is the gateway running? (./kinfer up starts one; --url names another)");
    }

    private byte[] body(List<String> texts) throws IOException {
        return JsonBodies.json(gen -> {
            gen.writeStartObject();
            if (oip) {
                gen.writeArrayFieldStart("inputs");
                gen.writeStartObject();
                gen.writeStringField("name", "text");
                gen.writeStringField("datatype", "BYTES");
                gen.writeArrayFieldStart("shape");
                gen.writeNumber(texts.size());
                gen.writeEndArray();
                writeTexts(gen, "data", texts);
                gen.writeEndObject();
                gen.writeEndArray();
            } else if (texts.size() == 1) {
                gen.writeStringField("text", texts.get(0));
                gen.writeStringField("model", model);
            } else {
                writeTexts(gen, "texts", texts);
                gen.writeStringField("model", model);
            }
            gen.writeEndObject();
        });
    }

    private static void writeTexts(JsonGenerator gen, String field, List<String> texts) throws IOException {
        gen.writeArrayFieldStart(field);
        for (String text : texts) {
            gen.writeString(text);
        }
        gen.writeEndArray();
    }

    private Outcome outcome(int status, Buffer response, int items) {
        if (status != 200) {
            return Outcome.failed("http_" + status);
        }
        try {
            JsonNode body = JSON.readTree(response.getBytes());
            List<Timings> timings = new ArrayList<>(items);
            if (oip) {
                // An OIP answer has one parameters block per call: the slowest text's times and the largest batch
                // (docs/GATEWAY.md). It describes a lone text exactly, a call of several only as a maximum, which
                // the per-text breakdown must not count as one text (a batch of 8 contributes 8).
                if (items == 1) {
                    timings(body.path("parameters"), timings);
                }
            } else if (items == 1) {
                timings(body.path("timings"), timings);
            } else {
                for (JsonNode prediction : body.path("predictions")) {
                    timings(prediction.path("timings"), timings);
                }
            }
            return Outcome.ok(items, timings);
        } catch (IOException e) {
            return Outcome.failed("bad_response");
        }
    }

    private static void timings(JsonNode node, List<Timings> into) {
        if (node.isObject() && node.has("batch_size")) {
            into.add(new Timings(node.path("queue_ms").asDouble(), node.path("inference_ms").asDouble(),
                    node.path("batch_size").asInt(), null, node.path("cached").asBoolean(false)));
        }
    }

    static Outcome failure(Throwable error) {
        if (error instanceof TimeoutException) {
            return Outcome.failed("timeout");
        }
        if (error instanceof ConnectException) {
            return Outcome.failed("connection_refused");
        }
        return Outcome.failed("connection_error");
    }

    @Override
    public void close() {
        try {
            vertx.close().await(10, TimeUnit.SECONDS);
        } catch (TimeoutException | RuntimeException e) {
            // Stopping the load generator's event loop; nothing left to measure.
        }
    }
}
