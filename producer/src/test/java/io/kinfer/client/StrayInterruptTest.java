package io.kinfer.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A caller's callback runs on the client's own threads, and may leave the thread's interrupt flag set (a task that
 * was cancelled, a library that restores the flag it caught). The flag is the callback's, not the thread's: the
 * client's threads go on working as before.
 */
@WithKafka
class StrayInterruptTest {

    private static FakeWorker worker;

    @BeforeAll
    static void start(EmbeddedKafka kafka) {
        kafka.createTopic("kinfer.requests.stray", 1);
        worker = new FakeWorker(kafka, "stray");
    }

    @AfterAll
    static void stop() {
        worker.close();
    }

    private static InferenceRequest stray(String id) {
        return InferenceRequest.ofTexts(id, "stray", List.of("text of " + id));
    }

    /** Interrupts the thread the callback runs on, and says which, unless it is the test's own. */
    private static Runnable interruptingCallback(Thread test, CompletableFuture<Thread> ranOn) {
        return () -> {
            if (Thread.currentThread() != test) {
                Thread.currentThread().interrupt();
            }
            ranOn.complete(Thread.currentThread());
        };
    }

    @Test
    void anInterruptLeftByAReplyCallbackDoesNotStopTheReplyConsumer(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(InferenceClientTest.config(kafka, "stray-reply"))) {
            CompletableFuture<Thread> ranOn = new CompletableFuture<>();
            // Held until the callback is attached, so that it runs on the reply thread.
            CompletableFuture<?> held = client.request(stray("hold-stray"))
                    .thenRun(interruptingCallback(Thread.currentThread(), ranOn));
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-stray"));
            worker.release("hold-stray");
            held.get(30, TimeUnit.SECONDS);
            assertThat(ranOn.get().getName()).startsWith("kinfer-client-replies-");

            // Before, the next poll threw on the flag, the backoff ended the reply thread on it, and every later
            // call failed with "the reply consumer is not running".
            assertThat(client.request(stray("after-1")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
            assertThat(client.request(stray("after-2")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
            assertThat(client.ready()).isTrue();
        }
    }

    @Test
    void anInterruptLeftByACallbackOnASendThreadDoesNotReachTheNextSendsCallback(EmbeddedKafka kafka)
            throws Exception {
        // A long window: the sends queued behind the first all fail at once, one after the other, on its thread.
        try (InferenceClient client = InferenceClient.create(InferenceClientTest.config(kafka, "stray-send",
                "kafka.producer.max.block.ms", 1_000, ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 600_000))) {
            InferenceRequest missing = InferenceRequest.ofTexts("m", "stray-missing", List.of("x"));
            var first = client.request(missing);
            CompletableFuture<Thread> interrupted = new CompletableFuture<>();
            Runnable interrupting = interruptingCallback(Thread.currentThread(), interrupted);
            var second = client.request(missing).whenComplete((reply, error) -> interrupting.run());
            CompletableFuture<Boolean> flagSeenByTheNext = new CompletableFuture<>();
            var third = client.request(missing).whenComplete((reply, error) ->
                    flagSeenByTheNext.complete(Thread.currentThread().isInterrupted()));

            assertThat(CompletableFuture.allOf(first, second, third)).failsWithin(Duration.ofSeconds(60));
            assertThat(interrupted.get().getName()).startsWith("kinfer-client-send-");
            assertThat(flagSeenByTheNext.get()).as("the next call's callback, on the same thread").isFalse();
        }
    }

    @Test
    void anInterruptLeftByACallbackOnKafkasProducerThreadIsCleared(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.createFireAndForget(
                InferenceClientTest.config(kafka, "stray-io"))) {
            CompletableFuture<Thread> ranOn = new CompletableFuture<>();
            client.submit(stray("io-1"), null, 0, Map.of())
                    .thenRun(interruptingCallback(Thread.currentThread(), ranOn)).get(30, TimeUnit.SECONDS);
            Thread thread = ranOn.get();
            // Acknowledged before the callback was attached, it ran on this thread: nothing to check then.
            assumeThat(thread).isNotSameAs(Thread.currentThread());
            assertThat(thread.getName()).startsWith("kafka-producer-network-thread");

            // Left set, Kafka's selector returns at once on every poll: the thread spins for good.
            await().atMost(Duration.ofSeconds(10)).until(() -> !thread.isInterrupted());
            client.submit(stray("io-2"), null, 0, Map.of()).get(30, TimeUnit.SECONDS);
        }
    }
}
