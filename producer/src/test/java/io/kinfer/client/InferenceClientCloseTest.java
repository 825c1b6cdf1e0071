package io.kinfer.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** close() from any thread, the client's own included, and what it leaves behind: nothing, not even meters. */
@WithKafka
class InferenceClientCloseTest {

    private static FakeWorker worker;

    @BeforeAll
    static void start(EmbeddedKafka kafka) {
        kafka.createTopic("kinfer.requests.echo", 1);
        worker = new FakeWorker(kafka, "echo");
    }

    @AfterAll
    static void stop() {
        worker.close();
    }

    private static ClientConfig config(EmbeddedKafka kafka, String clientId) {
        return InferenceClientTest.config(kafka, clientId);
    }

    private static InferenceRequest echo(String id) {
        return InferenceRequest.ofTexts(id, "echo", List.of("text of " + id));
    }

    private static void awaitTopicGone(EmbeddedKafka kafka, String topic) {
        try (Admin admin = kafka.admin()) {
            await().atMost(Duration.ofSeconds(30)).until(() -> !admin.listTopics().names().get(10, TimeUnit.SECONDS)
                    .contains(topic));
        }
    }

    /** Closes the client in the callback of a call that times out (on the timer thread); true if interrupted. */
    private static CompletableFuture<Boolean> closeOnTimeout(InferenceClient client, String heldId) {
        CompletableFuture<Boolean> interruptedAfterClose = new CompletableFuture<>();
        client.request(echo(heldId), Duration.ofMillis(200)).whenComplete((reply, error) -> {
            client.close(); // say, giving up at the first timeout
            interruptedAfterClose.complete(Thread.currentThread().isInterrupted());
        });
        return interruptedAfterClose;
    }

    @Test
    void closingFromACallbackOnTheTimerThreadInterruptsNothing(EmbeddedKafka kafka) throws Exception {
        // Kept topic: no deletion whose interrupted wait would clear the flag again.
        InferenceClient client = InferenceClient.create(InferenceClientTest.config(kafka, "close-timer-kept",
                ClientConfig.REPLY_TOPIC_DELETE_ON_CLOSE, false));

        // Before, close() interrupted the timer thread, its own, with shutdownNow(), and left the flag set.
        assertThat(closeOnTimeout(client, "hold-timer-kept").get(60, TimeUnit.SECONDS)).isFalse();
    }

    @Test
    void closingFromACallbackOnTheTimerThreadRunsEveryStep(EmbeddedKafka kafka) throws Exception {
        InferenceClient client = InferenceClient.create(config(kafka, "close-timer"));
        CompletableFuture<Boolean> consumerOpenAfterClose = new CompletableFuture<>();
        client.request(echo("hold-timer"), Duration.ofMillis(200)).whenComplete((reply, error) -> {
            client.close();
            consumerOpenAfterClose.complete(Threads.kafkaConsumerOpen("close-timer-replies"));
        });

        // The reply thread was waited for (it closes its consumer), not skipped on an interrupt.
        assertThat(consumerOpenAfterClose.get(60, TimeUnit.SECONDS)).isFalse();
        awaitTopicGone(kafka, "kinfer.replies.close-timer");
        InferenceClient.create(config(kafka, "close-timer")).close(); // and its id is free again
    }

    @Test
    void closingFromACallbackOnTheReplyThreadDoesNotWaitForItself(EmbeddedKafka kafka) throws Exception {
        InferenceClient client = InferenceClient.create(config(kafka, "close-reply"));
        AtomicReference<Thread> replyThread = new AtomicReference<>();
        CompletableFuture<Void> closed = new CompletableFuture<>();
        client.request(echo("close-reply-1")).thenAccept(reply -> {
            replyThread.set(Thread.currentThread());
            client.close();
            closed.complete(null);
        });

        // Before, close() joined the reply thread from the reply thread itself, and sat out the join's 5 s there.
        await().atMost(Duration.ofSeconds(30)).until(() -> closed.isDone()
                || (replyThread.get() != null && Threads.joiningFrom(replyThread.get(), InferenceClient.class)));
        assertThat(closed).as("close() returned without joining its own thread").isDone();
        awaitTopicGone(kafka, "kinfer.replies.close-reply");
        await().atMost(Duration.ofSeconds(30)).until(() -> !Threads.kafkaConsumerOpen("close-reply-replies"));
    }

    /**
     * Holds a send with a {@code test-hold} header in Kafka's send(), on the client's send thread, until the test
     * lets it go: a stage the test attaches to its call meanwhile is sure to run where the call ends.
     */
    public static final class HoldSends implements ProducerInterceptor<byte[], byte[]> {
        private static final Map<String, CountDownLatch> HELD = new ConcurrentHashMap<>();

        static CountDownLatch hold(String name) {
            return HELD.computeIfAbsent(name, n -> new CountDownLatch(1));
        }

        static Map<String, String> header(String name) {
            return Map.of("test-hold", name);
        }

        @Override
        public ProducerRecord<byte[], byte[]> onSend(ProducerRecord<byte[], byte[]> record) {
            Header held = record.headers().lastHeader("test-hold");
            if (held != null) {
                try {
                    hold(new String(held.value(), StandardCharsets.UTF_8)).await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return record;
        }

        @Override
        public void onAcknowledgement(RecordMetadata metadata, Exception exception) {
        }

        @Override
        public void close() {
        }

        @Override
        public void configure(Map<String, ?> configs) {
        }
    }

    @Test
    void closingFromACallbackOnASendThreadDoesNotWaitForItsOwnPool(EmbeddedKafka kafka) throws Exception {
        InferenceClient client = InferenceClient.create(InferenceClientTest.config(kafka, "close-send",
                "kafka.producer.max.request.size", 2048,
                "kafka.producer.interceptor.classes", HoldSends.class.getName()));
        // A topic that took a send: close() lets its queued sends go out (a topic never delivered to is abandoned).
        assertThat(client.request(echo("close-send-0")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
        CountDownLatch letGo = HoldSends.hold("close-send");
        AtomicReference<Thread> sendThread = new AtomicReference<>();
        CompletableFuture<Void> closed = new CompletableFuture<>();
        // Kafka refuses a record over max.request.size at once, inside send(): the call fails on the send thread.
        client.request(InferenceRequest.ofTexts("close-send-1", "echo", List.of("x".repeat(5000))),
                        new InferenceClient.RequestOptions(Duration.ofMinutes(1), 0, HoldSends.header("close-send")))
                .whenComplete((reply, error) -> {
                    sendThread.set(Thread.currentThread());
                    client.close();
                    closed.complete(null);
                });
        letGo.countDown();

        await().atMost(Duration.ofSeconds(30)).until(() -> closed.isDone() || (sendThread.get() != null
                && Threads.waitingIn(sendThread.get(), ThreadPoolExecutor.class, "awaitTermination",
                InferenceClient.class)));
        assertThat(closed).as("close() returned without waiting for its own send pool").isDone();
        assertThat(sendThread.get().getName()).startsWith("kinfer-client-send-close-send-");
        awaitTopicGone(kafka, "kinfer.replies.close-send");
    }

    @Test
    void closingWithADrainFromASendCallbackOnKafkasThreadDoesNotWaitThere(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("close-io-records", 1);
        InferenceClient client = InferenceClient.create(InferenceClientTest.config(kafka, "close-io",
                "kafka.producer.interceptor.classes", HoldSends.class.getName()));
        CompletableFuture<InferenceReply> held = client.request(echo("hold-io"), Duration.ofMinutes(5));
        await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-io"));
        CountDownLatch letGo = HoldSends.hold("close-io");
        CompletableFuture<String> closedOn = new CompletableFuture<>();
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>("close-io-records", new byte[] {1});
        HoldSends.header("close-io").forEach((name, value) -> record.headers().add(name,
                value.getBytes(StandardCharsets.UTF_8)));

        client.publish(record).thenRun(() -> {
            // The drain would wait for the held call: on Kafka's producer thread, which acknowledges the sends of
            // any call that it waits for, it must not.
            client.close(Duration.ofDays(1));
            closedOn.complete(Thread.currentThread().getName());
        });
        letGo.countDown();

        assertThat(closedOn.get(60, TimeUnit.SECONDS)).startsWith("kafka-producer-network-thread");
        assertThatThrownBy(() -> held.get(30, TimeUnit.SECONDS))
                .hasCauseInstanceOf(InferenceException.ClientClosed.class);
        awaitTopicGone(kafka, "kinfer.replies.close-io");
    }

    @Test
    void aSecondCloseReturnsOnlyOnceTheFirstIsDone(EmbeddedKafka kafka) throws Exception {
        ClientConfig config = config(kafka, "close-twice");
        InferenceClient client = InferenceClient.create(config);
        CountDownLatch letFirstCloseGoOn = new CountDownLatch(1);
        CompletableFuture<InferenceReply> held = client.request(echo("hold-twice"), Duration.ofMinutes(5));
        // Failed by the first close, whose thread runs this callback: that close stays in it until released.
        held.whenComplete((reply, error) -> {
            try {
                letFirstCloseGoOn.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        CompletableFuture<Void> first = CompletableFuture.runAsync(client::close);
        await().atMost(Duration.ofSeconds(30)).until(held::isDone);

        CompletableFuture<Void> second = new CompletableFuture<>();
        Thread secondCloser = new Thread(() -> {
            client.close();
            // Once close() returned, the client is closed: its id is free for a new client.
            InferenceClient.create(config).close();
            second.complete(null);
        });
        secondCloser.start();
        await().atMost(Duration.ofSeconds(30)).until(() -> second.isDone()
                || secondCloser.getState() == Thread.State.WAITING || secondCloser.getState() == Thread.State.TIMED_WAITING);
        assertThat(second).as("the second close() waits while the first is still closing").isNotDone();

        letFirstCloseGoOn.countDown();
        first.get(60, TimeUnit.SECONDS);
        second.get(60, TimeUnit.SECONDS);
    }

    @Test
    void aReplyThreadInASlowCallbackClosesItsOwnConsumerWhenTheCallbackReturns(EmbeddedKafka kafka)
            throws Exception {
        InferenceClient client = InferenceClient.create(config(kafka, "close-slow"));
        CountDownLatch inCallback = new CountDownLatch(1);
        CountDownLatch letCallbackReturn = new CountDownLatch(1);
        client.request(echo("close-slow-1")).thenAccept(reply -> {
            inCallback.countDown();
            try {
                letCallbackReturn.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertThat(inCallback.await(30, TimeUnit.SECONDS)).isTrue();

        client.close(); // gives the reply thread its 5 s, then goes on without it

        awaitTopicGone(kafka, "kinfer.replies.close-slow");
        letCallbackReturn.countDown();
        // Before, close() closed the consumer from its own thread while the reply thread held it: Kafka refused
        // (ConcurrentModificationException, swallowed) and the consumer was never closed.
        await().atMost(Duration.ofSeconds(30)).until(() -> !Threads.kafkaConsumerOpen("close-slow-replies"));
    }

    @Test
    void aDrainTooLongForMillisecondsStillCloses(EmbeddedKafka kafka) {
        InferenceClient client = InferenceClient.create(config(kafka, "close-forever"));

        client.close(Duration.ofSeconds(Long.MAX_VALUE));

        assertThatThrownBy(() -> client.request(echo("after-forever")).get(5, TimeUnit.SECONDS))
                .hasCauseInstanceOf(InferenceException.ClientClosed.class);
        awaitTopicGone(kafka, "kinfer.replies.close-forever");
    }

    @Test
    void closingCountsTheCallsItFailsAndRemovesTheClientsMeters(EmbeddedKafka kafka) {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Map<String, Double> finalCounts = new ConcurrentHashMap<>();
        registry.config().onMeterRemoved(meter -> {
            if (meter instanceof Counter counter && meter.getId().getName().equals("kinfer.client.requests")) {
                finalCounts.put(meter.getId().getTag("outcome"), counter.count());
            }
        });
        InferenceClient client = InferenceClient.create(config(kafka, "close-metered"), registry);
        client.request(echo("hold-metered-1"), Duration.ofMinutes(5));
        client.request(echo("hold-metered-2"), Duration.ofMinutes(5));

        client.close();

        assertThat(finalCounts).containsEntry("client_closed", 2.0);
        assertThat(registry.getMeters()).noneMatch(meter -> "close-metered".equals(meter.getId().getTag("client")));
    }

    @Test
    void callsRefusedWhileDrainingAreCounted(EmbeddedKafka kafka) throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        InferenceClient client = InferenceClient.create(config(kafka, "close-refusing"), registry);
        CompletableFuture<InferenceReply> inFlight = client.request(echo("hold-refusing"), Duration.ofMinutes(5));
        await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-refusing"));
        CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> client.close(Duration.ofMinutes(1)));

        await().atMost(Duration.ofSeconds(30)).until(() -> client.request(echo("refused-while-draining"))
                .isCompletedExceptionally());

        assertThat(registry.get("kinfer.client.requests").tag("client", "close-refusing")
                .tag("outcome", "client_closed").counter().count()).isGreaterThanOrEqualTo(1);
        worker.release("hold-refusing");
        assertThat(inFlight.get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
        closing.get(30, TimeUnit.SECONDS);
    }

    @Test
    void aNewClientWithAClosedOnesIdReportsItsOwnInFlightCalls(EmbeddedKafka kafka) throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        InferenceClient.create(config(kafka, "close-reborn"), registry).close();

        try (InferenceClient second = InferenceClient.create(config(kafka, "close-reborn"), registry)) {
            second.request(echo("hold-reborn"), Duration.ofMinutes(5));

            // Before, the registry kept the closed client's gauge, bound to its count (0) or to nothing (NaN).
            assertThat(registry.get("kinfer.client.inflight").tag("client", "close-reborn").gauge().value())
                    .isEqualTo(1.0);
        }
    }
}
