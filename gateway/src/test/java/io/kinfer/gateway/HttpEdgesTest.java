package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The HTTP edges a load balancer, curl or a misbehaving worker brings: connections closed after a refused body,
 * Expect: 100-continue, callers who hang up, made-up methods, requests Kafka will not take, replies that carry
 * nothing or come from two model versions.
 */
@WithKafka
class HttpEdgesTest {

    private static FakeWorker worker;
    private static GatewayServer gateway;

    @BeforeAll
    static void start(EmbeddedKafka kafka) {
        worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 1);
        gateway = PipelineTestSupport.gatewayKnowing(kafka, "echo", GatewayConfig.BODY_LIMIT_BYTES, 64 * 1024,
                "kafka.producer.max.request.size", 4096);
    }

    @AfterAll
    static void stop() {
        gateway.close();
        worker.close();
    }

    @Test
    void aBodyRefusedForItsDeclaredLengthClosesTheConnection() throws Exception {
        try (Socket socket = socket()) {
            write(socket, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 10000000\r\n\r\n{\"text\":\"");
            BufferedReader in = reader(socket);
            assertThat(in.readLine()).startsWith("HTTP/1.1 413");
            // Read to the end: the server closes, instead of waiting for 10 MB it has refused.
            while (in.readLine() != null) {
                // headers and body of the 413
            }
        }
    }

    @Test
    void expectContinueIsAnsweredBeforeTheBodyIsSent() throws Exception {
        String body = "{\"text\":\"hello\"}";
        try (Socket socket = socket()) {
            write(socket, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                    + "Content-Length: " + body.length() + "\r\n\r\n");
            BufferedReader in = reader(socket);
            assertThat(in.readLine()).startsWith("HTTP/1.1 100");
            assertThat(in.readLine()).isEmpty();
            write(socket, body);
            assertThat(in.readLine()).startsWith("HTTP/1.1 200");
        }
    }

    @Test
    void aCallerWhoHangsUpIsCounted499NotASuccess() throws Exception {
        worker.holdAll(true);
        try {
            try (Socket socket = socket()) {
                String body = "{\"text\":\"never answered\"}";
                write(socket, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.length() + "\r\n\r\n" + body);
                await().atMost(Duration.ofSeconds(30)).until(() -> worker.held() > 0);
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> metrics().contains("status=\"499\""));
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
    }

    @Test
    void madeUpMethodsShareOneMetricSeries() throws Exception {
        for (String method : new String[] {"FROBNICATE", "XYZZY"}) {
            HttpResponse<String> response = PipelineTestSupport.HTTP.send(HttpRequest.newBuilder(
                    URI.create(gateway.url() + "/predict")).method(method, HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isBetween(400, 499);
        }
        assertThat(metrics()).contains("method=\"OTHER\"").doesNotContain("FROBNICATE").doesNotContain("XYZZY");
    }

    @Test
    void aRequestKafkaWillNotTakeIs413NotAnOutage() throws Exception {
        var response = post(gateway.url() + "/predict", "{\"text\":\"" + "a".repeat(5000) + "\"}");

        assertThat(response.status()).isEqualTo(413);
        assertThat(response.body().get("code").asText()).isEqualTo("input_too_large");
    }

    @Test
    void aSuccessReplyWithoutOutputsIs502() throws Exception {
        var simple = post(gateway.url() + "/predict", "{\"text\":\"no-outputs\"}");
        var batch = post(gateway.url() + "/predict_batch", "{\"texts\":[\"fine\",\"no-outputs\"]}");
        var oip = post(gateway.url() + "/v2/models/echo/infer", """
                {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["no-outputs"]}]}""");

        assertThat(simple.status()).isEqualTo(502);
        assertThat(batch.status()).isEqualTo(502);
        assertThat(oip.status()).isEqualTo(502);
        assertThat(simple.body().get("code").asText()).isEqualTo("bad_reply");
    }

    @Test
    void textsAnsweredByTwoModelVersionsAreNotMergedIntoOneTensor() throws Exception {
        var response = post(gateway.url() + "/v2/models/echo/infer", """
                {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "version-2"]}]}""");

        assertThat(response.status()).isEqualTo(503);
        assertThat(response.body().get("error").asText()).contains("retry");
    }

    @Test
    void anOipIdTheWireProtocolWouldRefuseIs400() throws Exception {
        var empty = post(gateway.url() + "/v2/models/echo/infer", """
                {"id": "", "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}""");
        var oddVersion = post(gateway.url() + "/predict", "{\"text\":\"a\",\"version\":{}}");

        assertThat(empty.status()).isEqualTo(400);
        assertThat(oddVersion.status()).isEqualTo(400);
    }

    @Test
    void idleConnectionsOutlastTheLongestTimeoutACallMayAskFor() {
        GatewayConfig config = new GatewayConfig(Map.of(GatewayConfig.MAX_TIMEOUT_MS, "600000",
                GatewayConfig.TIMEOUT_MS, "30000"));
        assertThat(GatewayServer.idleTimeoutSeconds(config)).isGreaterThan(600);
    }

    private static String metrics() throws Exception {
        return get(gateway.url() + "/metrics").raw().body();
    }

    private static Socket socket() throws Exception {
        URI uri = URI.create(gateway.url());
        Socket socket = new Socket(uri.getHost(), uri.getPort());
        socket.setSoTimeout(10_000);
        return socket;
    }

    private static void write(Socket socket, String text) throws Exception {
        OutputStream out = socket.getOutputStream();
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static BufferedReader reader(Socket socket) throws Exception {
        return new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
    }
}
