package io.kinfer.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Generated HTTP cases against every endpoint (seeded, so a failure can be replayed): methods, paths, headers and
 * bodies from valid to hostile. Bad requests must get a 4xx, never a 5xx and never a dropped connection; valid ones
 * a 2xx. The seed and case count can be raised for a longer run: -Dkinfer.fuzz.cases=100000 -Dkinfer.fuzz.seed=N.
 */
@WithKafka
class HttpFuzzTest {

    private static final int CASES = Integer.getInteger("kinfer.fuzz.cases", 10_000);
    private static final long SEED = Long.getLong("kinfer.fuzz.seed", 20261128L);
    private static final int BODY_LIMIT = 64 * 1024;

    private static FakeWorker worker;
    private static GatewayServer gateway;

    @BeforeAll
    static void start(EmbeddedKafka kafka) {
        worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 2);
        gateway = PipelineTestSupport.gatewayKnowing(kafka, "echo", GatewayConfig.BODY_LIMIT_BYTES, BODY_LIMIT);
    }

    @AfterAll
    static void stop() {
        gateway.close();
        worker.close();
    }

    private record Case(int index, String method, String path, Map<String, String> headers, byte[] body) {
        @Override
        public String toString() {
            String text = new String(body, StandardCharsets.UTF_8);
            return "#" + index + " " + method + " " + path + " " + headers + " "
                    + (text.length() > 200 ? text.substring(0, 200) + "..." : text);
        }
    }

    @Test
    void generatedRequestsGetNo5xxAndNoDroppedConnection() throws Exception {
        Random random = new Random(SEED);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        Semaphore window = new Semaphore(8);
        List<String> problems = new ArrayList<>();
        Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
        List<CompletableFuture<Void>> calls = new ArrayList<>();
        for (int i = 0; i < CASES; i++) {
            Case c = generate(i, random);
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(gateway.url() + c.path()))
                    .timeout(Duration.ofSeconds(30))
                    .method(c.method(), c.body().length == 0 && !c.method().equals("POST")
                            ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(c.body()));
            c.headers().forEach(request::header);
            window.acquire();
            calls.add(http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString())
                    .handle((response, error) -> {
                        window.release();
                        if (error != null) {
                            synchronized (problems) {
                                problems.add("dropped: " + error + " for " + c);
                            }
                            return null;
                        }
                        statuses.computeIfAbsent(response.statusCode(), s -> new AtomicInteger()).incrementAndGet();
                        if (response.statusCode() >= 500 || response.body().contains("Exception")
                                || response.body().contains("\tat ")) {
                            synchronized (problems) {
                                problems.add(response.statusCode() + " " + response.body() + " for " + c);
                            }
                        }
                        return null;
                    }));
        }
        CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).get(10, TimeUnit.MINUTES);

        assertThat(problems).as("statuses seen: %s", statuses).isEmpty();
        assertThat(statuses.keySet()).contains(200, 400, 404, 405, 413);
    }

    @Test
    void anOversizedBodyIsRefusedBeforeItIsSent() throws Exception {
        URI uri = URI.create(gateway.url());
        try (Socket socket = new Socket(uri.getHost(), uri.getPort())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            // Announce 100 MB and send only the headers and a few bytes: the answer must not wait for the rest.
            out.write(("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 104857600\r\n\r\n{\"text\":\"").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String status = readStatusLine(socket.getInputStream());
            assertThat(status).startsWith("HTTP/1.1 413");
        }
    }

    @Test
    void aChunkedBodyPastTheLimitIsCutOffWith413() throws Exception {
        URI uri = URI.create(gateway.url());
        try (Socket socket = new Socket(uri.getHost(), uri.getPort())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write("POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            byte[] chunk = "x".repeat(8192).getBytes(StandardCharsets.US_ASCII);
            String status = null;
            try {
                for (int i = 0; i < 64 && status == null; i++) { // up to 512 KiB, the limit is 64 KiB
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    if (socket.getInputStream().available() > 0) {
                        status = readStatusLine(socket.getInputStream());
                    }
                }
            } catch (IOException closedByServer) {
                // the server may close the connection after answering; the answer is what counts
            }
            if (status == null) {
                status = readStatusLine(socket.getInputStream());
            }
            assertThat(status).startsWith("HTTP/1.1 413");
        }
    }

    private static String readStatusLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        int b;
        while ((b = in.read()) != -1 && b != '\n') {
            line.append((char) b);
        }
        return line.toString().trim();
    }

    // ------------------------------------------------------------------------------------------- generation

    private static final String[] PATHS = {"/predict", "/predict_batch", "/v2", "/v2/health/live", "/v2/health/ready",
        "/v2/models/echo", "/v2/models/echo/ready", "/v2/models/echo/versions/1", "/v2/models/echo/config", "/v2/models/echo/infer",
        "/v2/models/echo/versions/1/infer", "/v2/models/echo/versions/9/infer", "/v2/models/nope/infer",
        "/metrics", "/", "/predict/", "/v2/models/", "/v2/models//infer", "/nope"};
    private static final String[] METHODS = {"POST", "POST", "POST", "GET", "GET", "PUT", "DELETE", "PATCH", "OPTIONS"};
    private static final String[] CONTENT_TYPES = {"application/json", "application/x-www-form-urlencoded",
        "text/plain", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "garbage/\u00e9"};

    private static Case generate(int index, Random random) {
        String path = random.nextInt(20) == 0 ? randomPath(random) : PATHS[random.nextInt(PATHS.length)];
        String method = METHODS[random.nextInt(METHODS.length)];
        Map<String, String> headers = new java.util.LinkedHashMap<>();
        if (random.nextInt(3) > 0) {
            headers.put("Content-Type", CONTENT_TYPES[random.nextInt(CONTENT_TYPES.length)]);
        }
        if (random.nextInt(10) == 0) {
            headers.put(Inference.TIMEOUT_HEADER, pick(random, "-1", "0", "abc", "99999999999999999999", "1e3",
                    "60000", " 500 "));
        }
        if (random.nextInt(10) == 0) {
            headers.put("kinfer-priority", pick(random, "high", "-3", "2147483648", "1"));
        }
        if (random.nextInt(20) == 0) {
            headers.put("traceparent", "00-" + "f".repeat(random.nextInt(2000)) + "-01");
        }
        return new Case(index, method, path, headers, body(path, random));
    }

    private static byte[] body(String path, Random random) {
        int kind = random.nextInt(12);
        String json = switch (kind) {
            case 0 -> "{\"text\":\"" + text(random) + "\"}";
            case 1 -> "{\"texts\":[" + String.join(",", java.util.Collections.nCopies(1 + random.nextInt(5),
                    "\"" + text(random) + "\"")) + "],\"model\":\"echo\"}";
            case 2 -> "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"" + pick(random, "BYTES", "FP32", "INT64",
                    "UINT32", "BOOL", "") + "\",\"shape\":[" + pick(random, "1", "2", "-1", "1,1", "", "0", "999999999999")
                    + "],\"data\":" + pick(random, "[\"hello\"]", "[1]", "[[\"a\"]]", "[]", "null", "{}", "[true]")
                    + "}]" + pick(random, "", ",\"outputs\":[{\"name\":\"label\"}]", ",\"outputs\":[{}]",
                    ",\"id\":7", ",\"parameters\":{\"timeout_ms\":\"x\"}") + "}";
            case 3 -> mutate("{\"text\":\"" + text(random) + "\",\"model\":\"echo\"}", random);
            case 4 -> "{\"text\":" + pick(random, "42", "null", "[]", "{}", "true", "\"\"", "\"   \"", "1e999") + "}";
            case 5 -> "{\"texts\":" + pick(random, "[]", "\"x\"", "[1,2]", "[null]", "[[\"a\"]]",
                    "[" + "\"a\",".repeat(300) + "\"a\"]") + "}";
            case 6 -> "[".repeat(random.nextInt(2000)) + "]".repeat(random.nextInt(2000));
            case 7 -> "{\"text\":\"" + "w".repeat(random.nextInt(20_000)) + "\"}";
            case 8 -> "{\"text\":\"" + text(random) + "\",\"model\":\"" + pick(random, "nope", "../x", "", "e cho",
                    "x".repeat(300)) + "\"}";
            case 9 -> "";
            case 10 -> "{\"text\":\"" + text(random) + "\",\"timeout_ms\":" + pick(random, "-5", "\"soon\"", "1.5",
                    "99999999999") + "}";
            default -> null;
        };
        if (json == null) {
            byte[] bytes = new byte[random.nextInt(random.nextInt(10) == 0 ? BODY_LIMIT * 2 : 500)];
            random.nextBytes(bytes);
            return bytes;
        }
        return json.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(Random random) {
        String[] words = {"great", "awful", "ünïcödé", "\\u0000", "emoji \uD83D\uDE00", "tab\\t", "quote \\\"",
            "long" + "g".repeat(50), "\\ud800"};
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 1 + random.nextInt(6); i++) {
            s.append(words[random.nextInt(words.length)]).append(' ');
        }
        return s.toString();
    }

    private static String mutate(String json, Random random) {
        StringBuilder s = new StringBuilder(json);
        for (int i = 0; i < 1 + random.nextInt(3); i++) {
            int at = random.nextInt(s.length());
            switch (random.nextInt(3)) {
                case 0 -> s.deleteCharAt(at);
                case 1 -> s.insert(at, "{}[]\",:\\\u0000".charAt(random.nextInt(9)));
                default -> s.setCharAt(at, (char) random.nextInt(0x3000));
            }
        }
        return s.toString();
    }

    private static String randomPath(Random random) {
        StringBuilder path = new StringBuilder("/");
        String alphabet = "abcv2/_-.%~";
        for (int i = 0; i < random.nextInt(300); i++) {
            char c = alphabet.charAt(random.nextInt(alphabet.length()));
            path.append(c == '%' ? "%" + Integer.toHexString(0x10 + random.nextInt(0xef)) : String.valueOf(c));
        }
        return path.toString();
    }

    private static String pick(Random random, String... options) {
        return options[random.nextInt(options.length)];
    }
}
