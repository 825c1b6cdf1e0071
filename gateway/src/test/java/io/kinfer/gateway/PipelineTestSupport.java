package io.kinfer.gateway;

import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.testing.TestSettings;

/** Settings and an HTTP client for tests that run the whole pipeline. */
final class PipelineTestSupport {

    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private PipelineTestSupport() {
    }

    /** The Kafka client settings of {@code kafka} under the kafka. prefix, plus the given settings. */
    static Map<String, Object> settings(EmbeddedKafka kafka, Object... keyValues) {
        return TestSettings.forKafka(kafka, keyValues);
    }

    /** A stand-in worker for {@code model} (its request topic made), announced on the catalog as a worker does. */
    static FakeWorker announcedFakeWorker(EmbeddedKafka kafka, String model, int partitions) {
        kafka.createTopic(Topics.requestTopic(model), partitions);
        kafka.createTopic(Topics.CATALOG, 1, (short) 1, Map.of("cleanup.policy", "compact"));
        FakeWorker worker = new FakeWorker(kafka, model);
        worker.announce(model);
        return worker;
    }

    /** A gateway on any free port with {@code model} as its default, returned once its catalog knows the model. */
    static GatewayServer gatewayKnowing(EmbeddedKafka kafka, String model, Object... keyValues) {
        List<Object> all = new ArrayList<>(List.of(GatewayConfig.PORT, 0, GatewayConfig.DEFAULT_MODEL, model));
        all.addAll(List.of(keyValues));
        GatewayServer gateway = GatewayServer.start(new GatewayConfig(settings(kafka, all.toArray())));
        await().atMost(Duration.ofSeconds(30)).until(() -> gateway.catalog().known(model));
        return gateway;
    }

    record Response(int status, JsonNode body, HttpResponse<String> raw) {
    }

    /** How many HTTP requests the gateway counted with these tags (route, method, status). */
    static long httpRequests(GatewayServer gateway, String... tags) {
        return gateway.registry().find("kinfer.http.requests").tags(tags).timers().stream()
                .mapToLong(io.micrometer.core.instrument.Timer::count).sum();
    }

    static Response post(String url, String body, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            request.headers(headers);
        }
        return send(request.build());
    }

    static Response get(String url, String... headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).GET();
        if (headers.length > 0) {
            request.headers(headers);
        }
        return send(request.build());
    }

    private static Response send(HttpRequest request) throws Exception {
        HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        JsonNode body = null;
        String text = response.body();
        if (text != null && !text.isEmpty() && response.headers().firstValue("Content-Type").orElse("")
                .startsWith("application/json")) {
            body = JSON.readTree(text);
        }
        return new Response(response.statusCode(), body, response);
    }
}
