package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.settings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.kinfer.client.ClientConfig;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerConfig;
import org.junit.jupiter.api.Test;

/**
 * The single broker stops under load and comes back: during the outage every call ends with 503 or at its deadline
 * (504), none hangs; afterwards the same worker and gateway serve again without a restart.
 */
@WithKafka
class BrokerOutageTest {

    @Test
    void callersGet503Or504DuringAnOutageAndThePipelineResumesAfterIt(EmbeddedKafka kafka) throws Exception {
        try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(settings(kafka, WorkerConfig.MODELS,
                "sentiment", WorkerConfig.METRICS_PORT, -1, WorkerConfig.TOPICS_PARTITIONS, 2,
                WorkerConfig.ONNX_INTRA_OP_THREADS, 1)));
             GatewayServer gateway = GatewayServer.start(new GatewayConfig(settings(kafka, GatewayConfig.PORT, 0,
                     GatewayConfig.TIMEOUT_MS, 4000, ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 300)))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.ready() && gateway.catalog().ready("sentiment", null));
            assertThat(call(gateway).get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);

            // Calls in flight when the broker goes, and calls made while it is gone.
            List<CompletableFuture<HttpResponse<String>>> during = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                during.add(call(gateway));
            }
            kafka.stopBroker(0);
            for (int i = 0; i < 10; i++) {
                during.add(call(gateway));
            }
            for (CompletableFuture<HttpResponse<String>> call : during) {
                // Within the 4 s deadline plus slack: a result if it made it before the stop, else 503 or 504.
                int status = call.get(20, TimeUnit.SECONDS).statusCode();
                assertThat(status).isIn(200, 503, 504);
            }
            // Once the gateway noticed, calls fail at once with 503 and readiness is false.
            await().atMost(Duration.ofSeconds(30)).until(() -> PipelineTestSupport.get(gateway.url()
                    + "/v2/health/ready").status() == 400);
            assertThat(call(gateway).get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(503);

            kafka.startBroker(0);
            await().atMost(Duration.ofSeconds(90)).until(() -> call(gateway).get(30, TimeUnit.SECONDS).statusCode() == 200);
            List<CompletableFuture<HttpResponse<String>>> after = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                after.add(call(gateway));
            }
            for (CompletableFuture<HttpResponse<String>> call : after) {
                assertThat(call.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            }
        }
    }

    private static CompletableFuture<HttpResponse<String>> call(GatewayServer gateway) {
        return PipelineTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(URI.create(gateway.url() + "/predict"))
                .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(
                        "{\"text\":\"Works well " + System.nanoTime() + "\"}")).build(), HttpResponse.BodyHandlers.ofString());
    }

}
