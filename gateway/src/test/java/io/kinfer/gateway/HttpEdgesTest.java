package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

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

    /**
     * Answered before its body was asked for (here a bad query escape; a 401 alike), a 100-continue client may send
     * the body or not: the connection is closed, where it stayed open and the next request was read from the body.
     */
    @Test
    void aRequestAnsweredBeforeItsBodyWasAskedForClosesTheConnection() throws Exception {
        try (Socket socket = socket()) {
            write(socket, "POST /predict?x=%zz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Expect: 100-continue\r\nContent-Length: 14\r\n\r\n");
            BufferedReader in = reader(socket);
            assertThat(in.readLine()).startsWith("HTTP/1.1 400");
            List<String> rest = new java.util.ArrayList<>();
            for (String line = in.readLine(); line != null; line = in.readLine()) { // to the end: closed, not waiting
                rest.add(line.toLowerCase(java.util.Locale.ROOT));
            }
            assertThat(rest).contains("connection: close");
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
    void aVersionThatIsNotAStringIs400() throws Exception {
        var oddVersion = post(gateway.url() + "/predict", "{\"text\":\"a\",\"version\":{}}");

        assertThat(oddVersion.status()).isEqualTo(400);
    }

    @Test
    void aBatchThatTimesOutCountsEveryItemAsDeadlineExceeded() throws Exception {
        double deadlines = clientRequests("deadline_exceeded");
        double cancelled = clientRequests("cancelled");
        worker.holdAll(true);
        try {
            // Many texts, so that their sends (and so their timers) spread out: the first to time out cancelled the
            // others a moment before their own timers fired.
            int n = 256;
            String texts = java.util.stream.IntStream.range(0, n).mapToObj(i -> "\"t" + i + "\"")
                    .collect(java.util.stream.Collectors.joining(","));
            var response = post(gateway.url() + "/predict_batch", "{\"texts\":[" + texts + "]}",
                    Inference.TIMEOUT_HEADER, "300");

            assertThat(response.status()).isEqualTo(504);
            assertThat(response.body().get("code").asText()).isEqualTo("deadline_exceeded");
            await().atMost(Duration.ofSeconds(30)).until(() -> clientRequests("deadline_exceeded")
                    + clientRequests("cancelled") >= deadlines + cancelled + n);
            assertThat(clientRequests("deadline_exceeded")).isEqualTo(deadlines + n);
            assertThat(clientRequests("cancelled")).isEqualTo(cancelled);
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
    }

    /** The gateway's client's calls that ended with this outcome. */
    private static double clientRequests(String outcome) {
        var counter = gateway.registry().find("kinfer.client.requests").tag("outcome", outcome).counter();
        return counter == null ? 0 : counter.count();
    }

    @Test
    void tritonsTimeoutParameterIsInMicroseconds() throws Exception {
        worker.holdAll(true);
        try {
            // 1.5 ms, rounded up to 2; timeout_ms wins over it, and the kinfer-timeout-ms header over both.
            var micros = infer("{\"timeout\":1500}");
            var both = infer("{\"timeout\":1500,\"timeout_ms\":3}");
            var header = infer("{\"timeout\":1500}", Inference.TIMEOUT_HEADER, "4");

            assertThat(micros.status()).isEqualTo(504);
            assertThat(micros.body().get("error").asText()).endsWith("no reply within 2 ms");
            assertThat(both.body().get("error").asText()).endsWith("no reply within 3 ms");
            assertThat(header.body().get("error").asText()).endsWith("no reply within 4 ms");
            assertThat(infer("{\"timeout\":-1}").status()).isEqualTo(400);
            assertThat(infer("{\"timeout\":\"soon\"}").status()).isEqualTo(400);
        } finally {
            worker.holdAll(false);
            worker.releaseAll();
        }
        // 0 is Triton's "no timeout of its own": the default one.
        assertThat(infer("{\"timeout\":0}").status()).isEqualTo(200);
    }

    private static PipelineTestSupport.Response infer(String parameters, String... headers) throws Exception {
        return post(gateway.url() + "/v2/models/echo/infer", "{\"parameters\":" + parameters + ",\"inputs\":"
                + "[{\"name\":\"text\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"a\"]}]}", headers);
    }

    @Test
    void requestsVertxCannotDecodeGetTheJsonErrorAndAreCounted() throws Exception {
        long before = PipelineTestSupport.httpRequests(gateway, "route", "invalid");
        Map<String, String> requests = new LinkedHashMap<>();
        requests.put("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "400 malformed");
        requests.put("GET /" + "a".repeat(9 * 1024) + " HTTP/1.1\r\nHost: x\r\n\r\n", "414 uri_too_long");
        requests.put("GET /v2 HTTP/1.1\r\nHost: x\r\nX-Big: " + "b".repeat(9 * 1024) + "\r\n\r\n",
                "431 headers_too_large");
        for (Map.Entry<String, String> request : requests.entrySet()) {
            String[] expected = request.getValue().split(" ");
            try (Socket socket = socket()) {
                write(socket, request.getKey());
                RawResponse response = readResponse(socket.getInputStream());

                // A request line Netty could not read is answered in HTTP/1.0 (it stands in a request of its own).
                assertThat(response.statusLine()).as(request.getValue())
                        .matches("HTTP/1\\.[01] " + expected[0] + " .*");
                assertThat(response.headers().get("content-type")).as(request.getValue())
                        .isEqualTo("application/json");
                assertThat(response.body()).as(request.getValue()).contains("\"code\":\"" + expected[1] + "\"")
                        .contains("\"error\":");
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() ->
                PipelineTestSupport.httpRequests(gateway, "route", "invalid") == before + 3);
        assertThat(metrics()).contains("route=\"invalid\",status=\"431\"");
    }

    /**
     * Requests Vert.x-web refuses before any handler runs: without a valid Host (HTTP/1.1), it failed them with an
     * exception that read as a 500 with an ERROR log line per request, uncounted; a target that is not a path got a
     * bare 404 coded invalid_request, uncounted. Now both are the JSON 400 of an undecodable request.
     */
    @Test
    void aRequestWithoutAValidHostOrWithATargetThatIsNoPathIs400AndCounted() throws Exception {
        long before = PipelineTestSupport.httpRequests(gateway, "route", "invalid", "status", "400");
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        root.addAppender(logged);
        try {
            for (String request : List.of("GET /v2 HTTP/1.1\r\n\r\n", "GET /v2/health/live HTTP/1.1\r\nHost: a b\r\n\r\n",
                    "POST /predict HTTP/1.1\r\nHost: [::1\r\nContent-Length: 2\r\n\r\n{}",
                    "GET v2 HTTP/1.1\r\nHost: x\r\n\r\n")) {
                try (Socket socket = socket()) {
                    write(socket, request);
                    RawResponse response = readResponse(socket.getInputStream());

                    assertThat(response.statusLine()).as(request).startsWith("HTTP/1.1 400");
                    assertThat(response.headers().get("content-type")).as(request).isEqualTo("application/json");
                    assertThat(response.body()).as(request).contains("\"code\":\"malformed\"");
                }
            }
        } finally {
            root.detachAppender(logged);
        }
        assertThat(logged.list).noneMatch(e -> e.getLevel().isGreaterOrEqual(Level.ERROR));
        await().atMost(Duration.ofSeconds(10)).until(() ->
                PipelineTestSupport.httpRequests(gateway, "route", "invalid", "status", "400") == before + 4);
        // HTTP/1.0 needs no Host; OPTIONS * asks what the server allows.
        try (Socket socket = socket()) {
            write(socket, "GET /v2/health/live HTTP/1.0\r\n\r\n");
            assertThat(readResponse(socket.getInputStream()).statusLine()).startsWith("HTTP/1.0 200");
        }
        try (Socket socket = socket()) {
            write(socket, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
            RawResponse response = readResponse(socket.getInputStream());
            assertThat(response.statusLine()).startsWith("HTTP/1.1 204");
            assertThat(response.headers().get("allow")).isEqualTo("GET, HEAD, POST");
        }
    }

    /**
     * Triton takes gzip and deflate request bodies (tritonclient's request_compression_algorithm): so does the
     * gateway, the body limit holding for the decompressed bytes. Before, they were read as JSON and refused as
     * "not UTF-8". Another encoding is 415.
     */
    @Test
    void gzipAndDeflateBodiesAreDecompressedWithinTheBodyLimitAndOtherEncodingsAre415() throws Exception {
        byte[] body = "{\"text\":\"compressed\"}".getBytes(StandardCharsets.UTF_8);
        assertThat(compressedPost("gzip", gzip(body)).statusCode()).isEqualTo(200);
        assertThat(compressedPost("deflate", deflate(body)).statusCode()).isEqualTo(200);
        // The echo worker answers the text's length: "compressed" was read whole, decompressed.
        assertThat(compressedPost("gzip", gzip(body)).body()).contains("\"embedding\":[10.0]");

        // 1 MB of spaces inside the JSON compresses to about 1 KB: over the 64 KiB limit once decompressed.
        byte[] bomb = ("{\"text\":\"x\"" + " ".repeat(1_000_000) + "}").getBytes(StandardCharsets.UTF_8);
        HttpResponse<String> tooLarge = compressedPost("gzip", gzip(bomb));
        assertThat(tooLarge.statusCode()).isEqualTo(413);
        assertThat(tooLarge.body()).contains("\"code\":\"input_too_large\"");

        assertThat(compressedPost("X-GZIP", gzip(body)).statusCode()).isEqualTo(200); // any case, x- as HTTP allows
        byte[] corrupt = gzip(body);
        corrupt[corrupt.length / 2] ^= 0x55;
        HttpResponse<String> broken = compressedPost("gzip", corrupt);
        assertThat(broken.statusCode()).isEqualTo(400);
        assertThat(broken.body()).contains("\"code\":\"malformed\"").contains("cannot be decompressed");

        HttpResponse<String> unknown = compressedPost("compress", body);
        assertThat(unknown.statusCode()).isEqualTo(415);
        assertThat(unknown.body()).contains("\"code\":\"unsupported_encoding\"").contains("gzip");
    }

    private static HttpResponse<String> compressedPost(String encoding, byte[] body) throws Exception {
        return PipelineTestSupport.HTTP.send(HttpRequest.newBuilder(URI.create(gateway.url() + "/predict"))
                .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json")
                .header("Content-Encoding", encoding).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static byte[] gzip(byte[] data) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream zip = new java.util.zip.GZIPOutputStream(out)) {
            zip.write(data);
        }
        return out.toByteArray();
    }

    private static byte[] deflate(byte[] data) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (java.util.zip.DeflaterOutputStream zip = new java.util.zip.DeflaterOutputStream(out)) {
            zip.write(data);
        }
        return out.toByteArray();
    }

    @Test
    void aBadPercentEscapeInTheQueryIs400OnEveryRoute() throws Exception {
        String body = "{\"text\":\"a\"}";
        for (String requestLine : List.of("POST /predict?x=%zz", "GET /v2/models/echo?x=%zz",
                "GET /v2/health/live?%")) {
            try (Socket socket = socket()) {
                write(socket, requestLine + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length() + "\r\n\r\n" + body);
                RawResponse response = readResponse(socket.getInputStream());

                assertThat(response.statusLine()).as(requestLine).startsWith("HTTP/1.1 400");
                assertThat(response.body()).as(requestLine).contains("\"code\":\"malformed\"")
                        .contains("query");
            }
        }
    }

    @Test
    void idleConnectionsOutlastTheLongestTimeoutACallMayAskFor() {
        GatewayConfig config = new GatewayConfig(Map.of(GatewayConfig.MAX_TIMEOUT_MS, "600000",
                GatewayConfig.TIMEOUT_MS, "30000"));
        assertThat(GatewayServer.idleTimeoutSeconds(config)).isGreaterThan(600);
    }

    @Test
    void aBadPercentEscapeInThePathIs400InTheUsualJsonAndCounted() throws Exception {
        long before = PipelineTestSupport.httpRequests(gateway, "route", "unmatched", "status", "400");
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        Logger vertx = (Logger) LoggerFactory.getLogger("io.vertx");
        Level vertxLevel = vertx.getLevel();
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        root.addAppender(logged);
        vertx.setLevel(Level.INFO); // Vert.x logs "Unhandled exception in router" at INFO
        try {
            // Sent raw: an HTTP client would encode the '%' (as curl does without --path-as-is).
            for (String requestLine : List.of("GET /v2/models/a%zz", "GET /%", "POST /predict%G1")) {
                try (Socket socket = socket()) {
                    write(socket, requestLine + " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
                    RawResponse response = readResponse(socket.getInputStream());

                    assertThat(response.statusLine()).as(requestLine).startsWith("HTTP/1.1 400");
                    assertThat(response.headers().get("content-type")).isEqualTo("application/json");
                    assertThat(response.body()).contains("invalid percent-encoding in path")
                            .contains("\"code\":\"malformed\"");
                }
            }
            await().atMost(Duration.ofSeconds(10)).until(() ->
                    PipelineTestSupport.httpRequests(gateway, "route", "unmatched", "status", "400") == before + 3);
        } finally {
            vertx.setLevel(vertxLevel);
            root.detachAppender(logged);
        }
        assertThat(logged.list).noneMatch(event -> event.getLevel().isGreaterOrEqual(Level.ERROR)
                || event.getFormattedMessage().contains("Unhandled exception"));
    }

    @Test
    void headAnswersAsGetWithoutABody() throws Exception {
        for (String path : List.of("/v2/health/live", "/v2/health/ready", "/metrics", "/v2/models/echo", "/v2")) {
            HttpResponse<String> get = PipelineTestSupport.HTTP.send(HttpRequest.newBuilder(
                    URI.create(gateway.url() + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
            try (Socket socket = socket()) {
                // Then a GET on the same connection: its status line comes next only if HEAD sent no body.
                write(socket, "HEAD " + path + " HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/health/live HTTP/1.1\r\n"
                        + "Host: x\r\n\r\n");
                InputStream in = socket.getInputStream();
                RawResponse head = readHead(in);
                assertThat(head.statusLine()).as(path).isEqualTo("HTTP/1.1 " + get.statusCode() + " OK");
                assertThat(head.headers().get("content-type")).isEqualTo(get.headers().firstValue("Content-Type")
                        .orElseThrow());
                assertThat(readHead(in).statusLine()).as("the next response, right after HEAD's headers")
                        .isEqualTo("HTTP/1.1 200 OK");
            }
            // The JDK's client asks to upgrade to HTTP/2 (h2c), over which Vert.x sent HEAD the GET's body: the
            // gateway stays on HTTP/1.1.
            HttpResponse<String> head = PipelineTestSupport.HTTP.send(HttpRequest.newBuilder(
                    URI.create(gateway.url() + path)).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(head.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
            assertThat(head.statusCode()).isEqualTo(get.statusCode());
            assertThat(head.body()).as(path).isEmpty();
        }
    }

    @Test
    void methodNotAllowedSaysWhichMethodsThePathTakes() throws Exception {
        Map<String, String> allowed = Map.of("/predict", "POST", "/v2/health/live", "GET, HEAD",
                "/v2/models/echo", "GET, HEAD", "/v2/models/echo/infer", "POST", "/", "GET, HEAD");
        for (Map.Entry<String, String> path : allowed.entrySet()) {
            HttpResponse<String> response = PipelineTestSupport.HTTP.send(HttpRequest.newBuilder(
                    URI.create(gateway.url() + path.getKey())).method("DELETE", HttpRequest.BodyPublishers.noBody())
                    .build(), HttpResponse.BodyHandlers.ofString());

            assertThat(response.statusCode()).isEqualTo(405);
            assertThat(response.headers().firstValue("Allow")).as(path.getKey()).contains(path.getValue());
            assertThat(response.body()).contains("method_not_allowed");
        }
    }

    private record RawResponse(String statusLine, Map<String, String> headers, String body) {
    }

    /** The status line and headers (names in lower case) of the next response on a connection. */
    private static RawResponse readHead(InputStream in) throws Exception {
        String status = readLine(in);
        Map<String, String> headers = new LinkedHashMap<>();
        for (String line = readLine(in); !line.isEmpty(); line = readLine(in)) {
            int colon = line.indexOf(':');
            headers.put(line.substring(0, colon).trim().toLowerCase(java.util.Locale.ROOT),
                    line.substring(colon + 1).trim());
        }
        return new RawResponse(status, headers, "");
    }

    /** A whole response with a Content-Length body. */
    private static RawResponse readResponse(InputStream in) throws Exception {
        RawResponse head = readHead(in);
        int length = Integer.parseInt(head.headers().getOrDefault("content-length", "0"));
        return new RawResponse(head.statusLine(), head.headers(),
                new String(in.readNBytes(length), StandardCharsets.UTF_8));
    }

    private static String readLine(InputStream in) throws Exception {
        StringBuilder line = new StringBuilder();
        for (int b = in.read(); b != -1 && b != '\n'; b = in.read()) {
            line.append((char) b);
        }
        return line.toString().trim();
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
