package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The gateway's concurrency, limits and shutdown, with a stand-in worker that can hold every request (a model
 * that takes as long as the test wants): what is observed is how many requests reached Kafka at once, never how
 * long anything took.
 */
@WithKafka
class GatewayConcurrencyTest {

    private static FakeWorker worker;

    @BeforeAll
    static void start(EmbeddedKafka kafka) {
        worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 2);
    }

    @AfterAll
    static void stop() {
        worker.close();
    }

    private static GatewayServer gateway(EmbeddedKafka kafka, Object... extra) {
        return PipelineTestSupport.gatewayKnowing(kafka, "echo", extra);
    }

    private static CompletableFuture<HttpResponse<String>> predictAsync(String url, String text) {
        return PipelineTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url + "/predict"))
                .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(
                        "{\"text\":\"" + text + "\"}")).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void concurrentRequestsAreAllInFlightAtOnceWhileTheModelIsBusy(EmbeddedKafka kafka) throws Exception {
        try (GatewayServer gateway = gateway(kafka, GatewayConfig.EVENT_LOOPS, 1)) {
            worker.holdAll(true);
            List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                calls.add(predictAsync(gateway.url(), "text number " + i));
            }
            // With one event loop, all 24 reached Kafka while none was answered: nothing waited for the model.
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.held() == 24);
            assertThat(calls).noneMatch(CompletableFuture::isDone);
            assertThat(gateway.client().inFlight()).isEqualTo(24);

            worker.holdAll(false);
            worker.releaseAll();

            for (int i = 0; i < 24; i++) {
                HttpResponse<String> response = calls.get(i).get(30, TimeUnit.SECONDS);
                assertThat(response.statusCode()).isEqualTo(200);
                assertThat(response.body()).contains("\"embedding\":[" + ("text number " + i).length() + ".0]");
            }
        } finally {
            worker.holdAll(false);
        }
    }

    @Test
    void beyondTheInFlightLimitCallsGet429WithRetryAfter(EmbeddedKafka kafka) throws Exception {
        try (GatewayServer gateway = gateway(kafka, ClientConfig.MAX_IN_FLIGHT, 3)) {
            worker.holdAll(true);
            List<CompletableFuture<HttpResponse<String>>> held = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                held.add(predictAsync(gateway.url(), "held " + i));
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> gateway.client().inFlight() == 3);

            var refused = post(gateway.url() + "/predict", "{\"text\":\"one too many\"}");

            assertThat(refused.status()).isEqualTo(429);
            assertThat(refused.raw().headers().firstValue("Retry-After")).contains("1");
            worker.holdAll(false);
            worker.releaseAll();
            for (var call : held) {
                assertThat(call.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            }
        } finally {
            worker.holdAll(false);
        }
    }

    @Test
    void aBatchRefusedPartWayAndACallerWhoHangsUpGiveTheirSlotsBack(EmbeddedKafka kafka) throws Exception {
        // Held calls would keep their slots until this deadline; the awaits below end long before it.
        try (GatewayServer gateway = gateway(kafka, ClientConfig.MAX_IN_FLIGHT, 3,
                GatewayConfig.TIMEOUT_MS, 300_000, GatewayConfig.MAX_TIMEOUT_MS, 300_000)) {
            worker.holdAll(true);
            // Five texts against three slots: three are sent, two refused, and the call answers 429 ...
            var refused = post(gateway.url() + "/predict_batch", "{\"texts\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}");
            assertThat(refused.status()).isEqualTo(429);
            // ... giving up the three it sent, whose answers nobody will read.
            await().atMost(Duration.ofSeconds(20)).until(() -> gateway.client().inFlight() == 0);

            URI uri = URI.create(gateway.url());
            try (Socket caller = new Socket(uri.getHost(), uri.getPort())) {
                byte[] body = "{\"text\":\"hang up\"}".getBytes(StandardCharsets.UTF_8);
                caller.getOutputStream().write(("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                caller.getOutputStream().write(body);
                caller.getOutputStream().flush();
                await().atMost(Duration.ofSeconds(20)).until(() -> gateway.client().inFlight() == 1);
            }
            // The caller hung up: its call gives its slot back without waiting for the reply or the deadline.
            await().atMost(Duration.ofSeconds(20)).until(() -> gateway.client().inFlight() == 0);
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
    }

    @Test
    void shutdownFailsPendingCallsWith503InsteadOfHanging(EmbeddedKafka kafka) throws Exception {
        GatewayServer gateway = gateway(kafka, GatewayConfig.SHUTDOWN_TIMEOUT_MS, 0);
        worker.holdAll(true);
        try {
            CompletableFuture<HttpResponse<String>> pending = predictAsync(gateway.url(), "never answered");
            await().atMost(Duration.ofSeconds(30)).until(() -> gateway.client().inFlight() == 1);

            gateway.close();

            HttpResponse<String> response = pending.get(30, TimeUnit.SECONDS);
            assertThat(response.statusCode()).isEqualTo(503);
            assertThat(response.body()).contains("shutting down");
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
    }

    @Test
    void shutdownLetsCallsInFlightFinishAndRefusesNewOnes(EmbeddedKafka kafka) throws Exception {
        GatewayServer gateway = gateway(kafka, GatewayConfig.SHUTDOWN_TIMEOUT_MS, 60_000);
        worker.holdAll(true);
        try {
            CompletableFuture<HttpResponse<String>> inFlight = predictAsync(gateway.url(), "answered while draining");
            await().atMost(Duration.ofSeconds(30)).until(() -> gateway.client().inFlight() == 1);

            CompletableFuture<Void> closing = CompletableFuture.runAsync(gateway::close);
            await().atMost(Duration.ofSeconds(30)).until(gateway::draining);
            var refused = post(gateway.url() + "/predict", "{\"text\":\"too late\"}");
            assertThat(refused.status()).isEqualTo(503);
            assertThat(get(gateway.url() + "/v2/health/ready").status()).isEqualTo(400);
            // Refused before any route ran, yet counted under the route of its path.
            await().atMost(Duration.ofSeconds(10)).until(() -> PipelineTestSupport.httpRequests(gateway,
                    "route", "/predict", "status", "503") == 1);
            worker.holdAll(false);
            worker.releaseAll();

            assertThat(inFlight.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            closing.get(60, TimeUnit.SECONDS);
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
    }

    @Test
    void stoppingOneInstanceFailsOnlyItsOwnPendingCallsTheOtherServesOn(EmbeddedKafka kafka) throws Exception {
        GatewayServer stopped = gateway(kafka, GatewayConfig.SHUTDOWN_TIMEOUT_MS, 0);
        try (GatewayServer survivor = gateway(kafka)) {
            worker.holdAll(true);
            List<CompletableFuture<HttpResponse<String>>> onStopped = new ArrayList<>();
            List<CompletableFuture<HttpResponse<String>>> onSurvivor = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                onStopped.add(predictAsync(stopped.url(), "to the stopped one " + i));
                onSurvivor.add(predictAsync(survivor.url(), "to the survivor " + i));
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.held() == 10);

            stopped.close();
            for (var call : onStopped) {
                assertThat(call.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(503);
            }
            assertThat(onSurvivor).noneMatch(CompletableFuture::isDone);
            worker.holdAll(false);
            worker.releaseAll();

            for (int i = 0; i < 5; i++) {
                HttpResponse<String> response = onSurvivor.get(i).get(30, TimeUnit.SECONDS);
                assertThat(response.statusCode()).isEqualTo(200);
                assertThat(response.body()).contains("[" + ("to the survivor " + i).length() + ".0]");
            }
            assertThat(post(survivor.url() + "/predict", "{\"text\":\"after\"}").status()).isEqualTo(200);
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
    }

    @Test
    void twoGatewayInstancesEachGetExactlyTheirOwnReplies(EmbeddedKafka kafka) throws Exception {
        try (GatewayServer a = gateway(kafka); GatewayServer b = gateway(kafka)) {
            assertThat(a.client().replyTopic()).isNotEqualTo(b.client().replyTopic());
            List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                String text = "x".repeat(i + 1);
                texts.add(text);
                calls.add(predictAsync((i % 2 == 0 ? a : b).url(), text));
            }
            for (int i = 0; i < 60; i++) {
                HttpResponse<String> response = calls.get(i).get(60, TimeUnit.SECONDS);
                assertThat(response.statusCode()).isEqualTo(200);
                assertThat(response.body()).contains("\"embedding\":[" + texts.get(i).length() + ".0]");
            }
            for (GatewayServer gateway : List.of(a, b)) {
                assertThat(gateway.registry().find("kinfer.client.replies.dropped").counters())
                        .as("no instance saw another's replies").isEmpty();
            }
        }
    }

    @Test
    void apiKeysAreRequiredWhenConfiguredButOpsEndpointsStayOpen(EmbeddedKafka kafka) throws Exception {
        try (GatewayServer gateway = gateway(kafka, GatewayConfig.API_KEYS, "k-one,k-two")) {
            var missing = post(gateway.url() + "/predict", "{\"text\":\"hi\"}");
            assertThat(missing.status()).isEqualTo(401);
            assertThat(missing.body().get("error").asText()).isEqualTo("an API key is required");
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"hi\"}", "X-API-Key", "wrong").status())
                    .isEqualTo(401);

            assertThat(post(gateway.url() + "/predict", "{\"text\":\"hi\"}", "X-API-Key", "k-two").status())
                    .isEqualTo(200);
            assertThat(post(gateway.url() + "/predict", "{\"text\":\"hi\"}", "Authorization", "Bearer k-one").status())
                    .isEqualTo(200);
            assertThat(get(gateway.url() + "/v2/health/ready").status()).isEqualTo(200);
            assertThat(get(gateway.url() + "/v2/health/ready/").status()).isEqualTo(200); // as Vert.x routes it
            assertThat(get(gateway.url() + "/metrics").status()).isEqualTo(200);
            assertThat(get(gateway.url() + "/v2/models/echo").status()).isEqualTo(401);
            assertThat(get(gateway.url() + "/nope").status()).isEqualTo(401);
            // Public are the ops endpoints exactly, not whatever starts like one.
            assertThat(get(gateway.url() + "/statusXYZ").status()).isEqualTo(401);
            assertThat(get(gateway.url() + "/v2/health/foo").status()).isEqualTo(401);
            await().atMost(Duration.ofSeconds(10)).until(() -> PipelineTestSupport.httpRequests(gateway,
                    "route", "/predict", "status", "401") == 2
                    && PipelineTestSupport.httpRequests(gateway, "route", "/v2/models/:model", "status", "401") == 1
                    && PipelineTestSupport.httpRequests(gateway, "route", "unmatched", "status", "401") == 3);
        }
    }
}
