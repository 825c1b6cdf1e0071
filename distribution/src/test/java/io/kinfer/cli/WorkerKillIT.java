package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

/**
 * Workers are SIGKILLed five times in a row under steady load, always with another replica running (each killed
 * worker is restarted before the next kill): every request is answered exactly once to its caller, none is lost.
 * Duplicates from records redelivered after a kill reach the client and are dropped there, and counted.
 */
class WorkerKillIT {

    @Test
    void fiveSigkillsUnderSteadyLoadLoseNothing() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.startDefault()) {
            kafka.createTopic("kinfer.requests.sentiment", 4);
            String bootstrap = kafka.bootstrapServers();
            WorkerProcess[] workers = {WorkerProcess.start(bootstrap, "kill-a").awaitReady(),
                WorkerProcess.start(bootstrap, "kill-b").awaitReady()};
            SimpleMeterRegistry metrics = new SimpleMeterRegistry();
            Map<String, Object> settings = new HashMap<>();
            settings.put("kafka.bootstrap.servers", bootstrap);
            settings.put(ClientConfig.CLIENT_ID, "kill-test");
            List<CompletableFuture<InferenceReply>> calls = java.util.Collections.synchronizedList(new ArrayList<>());
            ScheduledExecutorService load = Executors.newSingleThreadScheduledExecutor();
            try (InferenceClient client = InferenceClient.create(new ClientConfig(settings), metrics)) {
                // Steady load: 20 requests a second, each waiting up to a minute.
                load.scheduleAtFixedRate(() -> calls.add(client.request(InferenceRequest.ofTexts("k" + calls.size(),
                        "sentiment", List.of("steady review number " + calls.size())), Duration.ofSeconds(60))),
                        0, 50, TimeUnit.MILLISECONDS);
                for (int kill = 0; kill < 5; kill++) {
                    int index = kill % 2;
                    int before = calls.size();
                    await().atMost(Duration.ofSeconds(60)).until(() -> calls.size() >= before + 60);
                    workers[index].kill();
                    workers[index] = WorkerProcess.start(bootstrap, workers[index].id).awaitReady();
                }
                int sent = calls.size();
                await().atMost(Duration.ofSeconds(60)).until(() -> calls.size() >= sent + 40);
                load.shutdown();
                assertThat(load.awaitTermination(10, TimeUnit.SECONDS)).isTrue();

                List<CompletableFuture<InferenceReply>> all = List.copyOf(calls);
                CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(3, TimeUnit.MINUTES);
                assertThat(all).allMatch(call -> call.join().isSuccess());
                double duplicates = metrics.find("kinfer.client.replies.dropped").counters().stream()
                        .mapToDouble(c -> c.count()).sum();
                System.out.printf("WorkerKillIT: 5 SIGKILLs, %d requests, 0 lost, %.0f duplicate replies dropped%n",
                        all.size(), duplicates);
            } finally {
                load.shutdownNow();
                for (WorkerProcess worker : workers) {
                    worker.close();
                }
            }
        }
    }
}
