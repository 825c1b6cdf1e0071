package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * How the HTTP load generator names a call that got no answer, and that a long run of calls gets every answer;
 * answers from a real gateway are in PerfAgainstPipelineTest.
 */
class HttpTargetTest {

    private final Vertx vertx = Vertx.vertx();

    @Test
    void aPortWithNothingListeningIsConnectionRefused() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        try (HttpTarget target = new HttpTarget("http://127.0.0.1:" + port, "sentiment", false, Duration.ofSeconds(5))) {
            Target.Outcome outcome = target.call(List.of("hello")).get(30, TimeUnit.SECONDS);

            assertThat(outcome.failure()).isEqualTo("connection_refused");
        }
    }

    @Test
    void aServerThatNeverAnswersIsATimeout() throws Exception {
        // The kernel completes the connection into the backlog; nobody ever reads the request or answers it.
        try (ServerSocket silent = new ServerSocket(0, 10, InetAddress.getLoopbackAddress());
             HttpTarget target = new HttpTarget("http://127.0.0.1:" + silent.getLocalPort(), "sentiment", false,
                     Duration.ofMillis(300))) {
            Target.Outcome outcome = target.call(List.of("hello")).get(30, TimeUnit.SECONDS);

            assertThat(outcome.failure()).isEqualTo("timeout");
        }
    }

    @Test
    void everyCallOfALongSequenceGetsItsAnswer() throws Exception {
        // Vert.x 5.0.7's client could lose the end of a response that arrived before the caller asked for its body
        // (vert.x#6038): the call never completed, and a closed-loop user silently stopped. Under the full JIT every
        // run of 2000 quick calls here hung, after 90 to 1753 of them; 5.1.6 fixed it.
        int port = serve(request -> request.response().putHeader("Content-Type", "application/json")
                .end("{\"label\":\"positive\",\"scores\":{\"positive\":0.9}}"));
        try (HttpTarget target = new HttpTarget("http://127.0.0.1:" + port, "sentiment", false, Duration.ofSeconds(5))) {
            for (int i = 0; i < 3000; i++) {
                Target.Outcome outcome = target.call(List.of("hello")).get(30, TimeUnit.SECONDS);

                assertThat(outcome.ok()).as("call %d: %s", i, outcome.failure()).isTrue();
            }
        }
    }

    @Test
    void aStatusOtherThan200IsCountedByItsCode() throws Exception {
        int port = serve(request -> request.response().setStatusCode(429).end("{\"error\":\"busy\"}"));
        try (HttpTarget target = new HttpTarget("http://127.0.0.1:" + port, "sentiment", true, Duration.ofSeconds(5))) {
            Target.Outcome outcome = target.call(List.of("a", "b")).get(30, TimeUnit.SECONDS);

            assertThat(outcome.ok()).isFalse();
            assertThat(outcome.failure()).isEqualTo("http_429");
        }
    }

    @Test
    void eachCallCarriesItsTimeoutToTheGatewayAsItsDeadline() throws Exception {
        // Without it the gateway gave every call its 30 s default: workers computed calls this load had given up on.
        java.util.concurrent.CompletableFuture<String> header = new java.util.concurrent.CompletableFuture<>();
        int port = serve(request -> {
            header.complete(request.getHeader(HttpTarget.TIMEOUT_HEADER));
            request.response().putHeader("Content-Type", "application/json")
                    .end("{\"label\":\"positive\",\"scores\":{\"positive\":0.9}}");
        });
        try (HttpTarget target = new HttpTarget("http://127.0.0.1:" + port, "sentiment", false,
                Duration.ofMillis(1234))) {
            assertThat(target.call(List.of("hello")).get(30, TimeUnit.SECONDS).ok()).isTrue();

            assertThat(header.get(30, TimeUnit.SECONDS)).isEqualTo("1234");
        }
    }

    @Test
    void anOipAnswerOfSeveralTextsAddsNoPerTextTimings() throws Exception {
        // One parameters block per call (the slowest text, the largest batch): counted as one text's timings, a
        // call of 3 texts made the batch histogram and mean batch count calls instead of texts.
        int port = serve(request -> request.response().putHeader("Content-Type", "application/json")
                .end("{\"model_name\":\"sentiment\",\"outputs\":[],\"parameters\":{\"queue_ms\":1.5,"
                        + "\"inference_ms\":4.0,\"batch_size\":3,\"cached\":false}}"));
        try (HttpTarget target = new HttpTarget("http://127.0.0.1:" + port, "sentiment", true, Duration.ofSeconds(5))) {
            Target.Outcome several = target.call(List.of("a", "b", "c")).get(30, TimeUnit.SECONDS);
            Target.Outcome one = target.call(List.of("a")).get(30, TimeUnit.SECONDS);

            assertThat(several.ok()).isTrue();
            assertThat(several.timings()).isEmpty();
            assertThat(one.timings()).singleElement().satisfies(t -> assertThat(t.batchSize()).isEqualTo(3));
        }
    }

    /** A real Vert.x server on a free local port, answering every request with {@code handler}; returns the port. */
    private int serve(Handler<HttpServerRequest> handler) throws Exception {
        return vertx.createHttpServer().requestHandler(handler).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS)
                .actualPort();
    }

    @AfterEach
    void closeServers() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }
}
