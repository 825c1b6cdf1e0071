package io.kinfer.gateway;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kinfer.kafka.embedded.EmbeddedKafka;
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

    record Response(int status, JsonNode body, HttpResponse<String> raw) {
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
