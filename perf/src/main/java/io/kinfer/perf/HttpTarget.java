package io.kinfer.perf;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kinfer.protocol.Timings;

/**
 * The gateway over HTTP/1.1 with the JDK's asynchronous client: the simple API ({@code /predict} for one text,
 * {@code /predict_batch} for more) or the Open Inference Protocol ({@code /v2/models/m/infer}, texts as one BYTES
 * tensor). Timings come from the responses ({@code timings}, or OIP {@code parameters}).
 */
final class HttpTarget implements Target {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String baseUrl;
    private final String model;
    private final boolean oip;
    private final Duration timeout;
    private final ExecutorService executor;
    private final HttpClient http;

    HttpTarget(String baseUrl, String model, boolean oip, Duration timeout) {
        this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
        this.model = model;
        this.oip = oip;
        this.timeout = timeout;
        this.executor = Executors.newFixedThreadPool(2, r -> {
            Thread thread = new Thread(r, "perf-http");
            thread.setDaemon(true);
            return thread;
        });
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(executor)
                .connectTimeout(Duration.ofSeconds(5)).build();
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
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + path(texts.size())))
                .timeout(timeout)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                .build();
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
                .thenApply(response -> outcome(response, texts.size()))
                .exceptionally(HttpTarget::failure);
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

    private Outcome outcome(HttpResponse<byte[]> response, int items) {
        if (response.statusCode() != 200) {
            return Outcome.failed("http_" + response.statusCode());
        }
        try {
            JsonNode body = JSON.readTree(response.body());
            List<Timings> timings = new ArrayList<>(items);
            if (oip) {
                timings(body.path("parameters"), timings);
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

    private static Outcome failure(Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof HttpTimeoutException) {
            return Outcome.failed("timeout");
        }
        if (cause instanceof ConnectException) {
            return Outcome.failed("connection_refused");
        }
        return Outcome.failed("connection_error");
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
