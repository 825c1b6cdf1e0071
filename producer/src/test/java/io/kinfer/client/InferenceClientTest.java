package io.kinfer.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Tensor;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

@WithKafka
class InferenceClientTest {

    private static FakeWorker worker;

    @BeforeAll
    static void start(EmbeddedKafka kafka) {
        kafka.createTopic("kinfer.requests.echo", 3);
        worker = new FakeWorker(kafka, "echo");
    }

    @AfterAll
    static void stop() {
        worker.close();
    }

    static ClientConfig config(EmbeddedKafka kafka, String clientId, Object... keyValues) {
        Map<String, Object> settings = new HashMap<>();
        kafka.clientProperties().forEach((k, v) -> settings.put("kafka." + k, v));
        settings.put(ClientConfig.CLIENT_ID, clientId);
        for (int i = 0; i < keyValues.length; i += 2) {
            settings.put((String) keyValues[i], String.valueOf(keyValues[i + 1]));
        }
        return new ClientConfig(settings);
    }

    private static InferenceRequest echo(String id, String text) {
        return InferenceRequest.ofTexts(id, "echo", List.of(text));
    }

    @Test
    void theFirstRequestRightAfterCreateGetsItsReply(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "first"))) {
            assertThat(client.ready()).isTrue();
            assertThat(client.replyTopic()).isEqualTo("kinfer.replies.first");

            InferenceReply reply = client.request(echo("r1", "hello")).get(30, TimeUnit.SECONDS);

            assertThat(reply.id()).isEqualTo("r1");
            assertThat(((Embedding) reply.outputs().get(0)).vector()).containsExactly(5f);
        }
    }

    @Test
    void eachInstanceReceivesOnlyItsOwnReplies(EmbeddedKafka kafka) throws Exception {
        SimpleMeterRegistry metricsA = new SimpleMeterRegistry();
        SimpleMeterRegistry metricsB = new SimpleMeterRegistry();
        try (InferenceClient a = InferenceClient.create(config(kafka, "inst-a"), metricsA);
             InferenceClient b = InferenceClient.create(config(kafka, "inst-b"), metricsB)) {
            List<CompletableFuture<InferenceReply>> calls = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                calls.add(a.request(echo("a" + i, "x".repeat(i + 1))));
                calls.add(b.request(echo("b" + i, "y".repeat(i + 1))));
            }
            CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);

            for (int i = 0; i < 100; i++) {
                InferenceReply reply = calls.get(i).get();
                assertThat(reply.id()).isEqualTo((i % 2 == 0 ? "a" : "b") + i / 2);
                assertThat(((Embedding) reply.outputs().get(0)).vector()[0]).isEqualTo(i / 2 + 1);
            }
            // Neither instance saw the other's replies.
            assertThat(metricsA.find("kinfer.client.replies.dropped").counters()).isEmpty();
            assertThat(metricsB.find("kinfer.client.replies.dropped").counters()).isEmpty();
        }
    }

    @Test
    void theTimeoutBecomesTheDeadlineAndALateReplyIsCountedAndDropped(EmbeddedKafka kafka) throws Exception {
        SimpleMeterRegistry metrics = new SimpleMeterRegistry();
        try (InferenceClient client = InferenceClient.create(config(kafka, "late"), metrics)) {
            long before = System.currentTimeMillis();
            CompletableFuture<InferenceReply> call = client.request(echo("hold-1", "slow"), Duration.ofMillis(500));

            assertThatThrownBy(() -> call.get(30, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(InferenceException.DeadlineExceeded.class);
            await().atMost(Duration.ofSeconds(10)).until(() -> worker.holds("hold-1"));
            var record = worker.received.stream().filter(r -> new String(r.value()).contains("hold-1")).findFirst()
                    .orElseThrow();
            long deadline = Long.parseLong(KinferHeaders.string(record.headers(), KinferHeaders.DEADLINE).orElseThrow());
            assertThat(deadline).isBetween(before + 500, System.currentTimeMillis() + 500);

            worker.release("hold-1");

            await().atMost(Duration.ofSeconds(10)).until(() ->
                    metrics.find("kinfer.client.replies.dropped").tag("reason", "late").counter() != null);
            assertThat(client.inFlight()).isZero();
        }
    }

    @Test
    void callsThatCannotBeSentFailWithoutTakingASlot(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "invalid", ClientConfig.MAX_IN_FLIGHT, 1))) {
            CompletableFuture<InferenceReply> badModel =
                    client.request(InferenceRequest.ofTexts("bad-1", "no such/model!", List.of("x")));
            CompletableFuture<InferenceReply> noTimeout =
                    client.request(echo("bad-2", "x"), new InferenceClient.RequestOptions(null, 0, null));

            assertThatThrownBy(() -> badModel.get(5, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> noTimeout.get(5, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(NullPointerException.class);
            assertThat(client.inFlight()).isZero();
            // With a limit of one, a leaked slot would refuse this call as overloaded.
            assertThat(client.request(echo("fine-1", "x")).get(30, TimeUnit.SECONDS).id()).isEqualTo("fine-1");
        }
    }

    @Test
    void everyCallWithATinyTimeoutEndsAndGivesItsSlotBack(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "tiny", ClientConfig.MAX_IN_FLIGHT, 500))) {
            List<CompletableFuture<InferenceReply>> calls = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                // Held by the fake worker: only the timer can end these calls.
                calls.add(client.request(echo("hold-tiny-" + i, "x"), Duration.ofNanos(1)));
            }

            CompletableFuture.allOf(calls.stream().map(call -> call.exceptionally(error -> null))
                    .toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
            for (CompletableFuture<InferenceReply> call : calls) {
                assertThatThrownBy(call::get).hasCauseInstanceOf(InferenceException.DeadlineExceeded.class);
            }
            // The slot comes back in the client's own completion stage, which may run just after the caller's.
            await().atMost(Duration.ofSeconds(10)).until(() -> client.inFlight() == 0);
        }
    }

    @Test
    void aSendToAMissingTopicDoesNotHoldUpOtherModels(EmbeddedKafka kafka) throws Exception {
        // The broker creates no topics on demand: a send to a missing one waits the whole max.block.ms.
        try (InferenceClient client = InferenceClient.create(config(kafka, "missing-topic",
                "kafka.producer.max.block.ms", 60_000))) {
            var ghost = client.request(InferenceRequest.ofTexts("g1", "ghost", List.of("x")), Duration.ofSeconds(1));

            // Sent right behind it: before, it waited out the ghost send's minute on the one send thread.
            InferenceReply echo = client.request(echo("e1", "abc"), Duration.ofSeconds(30)).get(40, TimeUnit.SECONDS);

            assertThat(echo.isSuccess()).isTrue();
            assertThatThrownBy(() -> ghost.get(30, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(InferenceException.DeadlineExceeded.class);
        }
    }

    @Test
    void aReplyLargerThanARequestMayBeIsStillRead(EmbeddedKafka kafka) throws Exception {
        // 300 000 elements: over the 262 144 a request tensor may have, in a 600 KB record.
        try (InferenceClient client = InferenceClient.create(config(kafka, "big-reply"))) {
            InferenceReply reply = client.request(echo("big-1", "zeros-300000")).get(30, TimeUnit.SECONDS);

            assertThat(reply.isSuccess()).isTrue();
            assertThat(((Tensor) reply.outputs().get(0)).int64()).hasSize(300_000);
        }
    }

    @Test
    void aRequestWhoseCallEndedWhileItQueuedIsNotSent(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "ended",
                "kafka.producer.max.block.ms", 60_000))) {
            // The first send waits for the missing topic; the second queues behind it and times out meanwhile.
            var first = client.request(InferenceRequest.ofTexts("late-1", "late", List.of("x")), Duration.ofSeconds(60));
            var second = client.request(InferenceRequest.ofTexts("late-2", "late", List.of("x")), Duration.ofMillis(100));
            assertThatThrownBy(() -> second.get(30, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(InferenceException.DeadlineExceeded.class);

            kafka.createTopic("kinfer.requests.late", 1);
            try (FakeWorker late = new FakeWorker(kafka, "late"); var admin = kafka.admin()) {
                assertThat(first.get(60, TimeUnit.SECONDS).isSuccess()).isTrue();
                // Had it been sent, it would have been written right behind the first, long before that one's
                // reply came back.
                TopicPartition partition = new TopicPartition("kinfer.requests.late", 0);
                assertThat(admin.listOffsets(Map.of(partition, OffsetSpec.latest())).partitionResult(partition)
                        .get(10, TimeUnit.SECONDS).offset()).as("records in the topic").isEqualTo(1);
            }
        }
    }

    @Test
    void twoLiveClientsCannotShareAnIdAndItsReplyTopic(EmbeddedKafka kafka) {
        ClientConfig shared = config(kafka, "twin");
        try (InferenceClient first = InferenceClient.create(shared)) {
            assertThatThrownBy(() -> InferenceClient.create(shared))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("twin");
            assertThat(first.ready()).isTrue();
        }
        InferenceClient.create(shared).close(); // free again once the first closed
    }

    @Test
    void aDuplicateReplyCompletesNothingTwice(EmbeddedKafka kafka) throws Exception {
        SimpleMeterRegistry metrics = new SimpleMeterRegistry();
        try (InferenceClient client = InferenceClient.create(config(kafka, "dups"), metrics)) {
            InferenceReply reply = client.request(echo("dup-1", "twice")).get(30, TimeUnit.SECONDS);

            assertThat(reply.id()).isEqualTo("dup-1");
            await().atMost(Duration.ofSeconds(10)).until(() ->
                    metrics.find("kinfer.client.replies.dropped").tag("reason", "duplicate").counter() != null);
        }
    }

    @Test
    void beyondTheInFlightLimitCallsFailFast(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "limited",
                ClientConfig.MAX_IN_FLIGHT, 2))) {
            CompletableFuture<InferenceReply> first = client.request(echo("hold-a", "1"), Duration.ofSeconds(30));
            CompletableFuture<InferenceReply> second = client.request(echo("hold-b", "2"), Duration.ofSeconds(30));

            CompletableFuture<InferenceReply> third = client.request(echo("c", "3"));

            assertThat(third).isCompletedExceptionally();
            assertThatThrownBy(third::get).hasCauseInstanceOf(InferenceException.Overloaded.class);
            assertThat(first).isNotDone();
            assertThat(second).isNotDone();
        }
    }

    @Test
    void closingFailsPendingCallsAtOnceAndRemovesItsReplyTopic(EmbeddedKafka kafka) throws Exception {
        InferenceClient client = InferenceClient.create(config(kafka, "closing"));
        CompletableFuture<InferenceReply> pending = client.request(echo("hold-close", "x"), Duration.ofMinutes(5));

        client.close();

        assertThatThrownBy(() -> pending.get(5, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .hasCauseInstanceOf(InferenceException.ClientClosed.class);
        assertThat(client.request(echo("after", "x"))).isCompletedExceptionally();
        try (var admin = kafka.admin()) {
            await().atMost(Duration.ofSeconds(30)).until(() -> !admin.listTopics().names().get(10, TimeUnit.SECONDS)
                    .contains("kinfer.replies.closing"));
        }
    }

    @Test
    void closingWithADrainRefusesNewCallsButLetsThoseInFlightBeAnswered(EmbeddedKafka kafka) throws Exception {
        InferenceClient client = InferenceClient.create(config(kafka, "draining"));
        CompletableFuture<InferenceReply> inFlight = client.request(echo("hold-drain", "x"), Duration.ofMinutes(5));
        await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-drain"));

        CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> client.close(Duration.ofMinutes(1)));
        await().atMost(Duration.ofSeconds(30)).until(() -> client.request(echo("refused", "x")).isCompletedExceptionally());
        assertThat(inFlight).isNotDone();
        assertThat(closing).isNotDone();

        worker.release("hold-drain");
        assertThat(inFlight.get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
        closing.get(30, TimeUnit.SECONDS);
    }

    @Test
    void fireAndForgetWritesTheRequestWithTheGivenReplyTopic(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("ff.replies", 1);
        try (InferenceClient client = InferenceClient.create(config(kafka, "ff"))) {
            client.submit(echo("ff-1", "abc"), "ff.replies", 0, Map.of("traceparent", "00-1-2-01"))
                    .get(30, TimeUnit.SECONDS);

            await().atMost(Duration.ofSeconds(10)).until(() -> worker.received.stream()
                    .anyMatch(r -> new String(r.value()).contains("ff-1")));
            var record = worker.received.stream().filter(r -> new String(r.value()).contains("ff-1")).findFirst()
                    .orElseThrow();
            assertThat(KinferHeaders.string(record.headers(), KinferHeaders.REPLY_TOPIC)).contains("ff.replies");
            assertThat(KinferHeaders.string(record.headers(), "traceparent")).contains("00-1-2-01");
            assertThat(KinferHeaders.string(record.headers(), KinferHeaders.PRIORITY)).as("default priority").isEmpty();

            client.submit(echo("ff-2", "urgent"), "ff.replies", 0, 7, Map.of()).get(30, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(10)).until(() -> worker.received.stream()
                    .anyMatch(r -> new String(r.value()).contains("ff-2")));
            var urgent = worker.received.stream().filter(r -> new String(r.value()).contains("ff-2")).findFirst()
                    .orElseThrow();
            assertThat(KinferHeaders.string(urgent.headers(), KinferHeaders.PRIORITY)).contains("7");
        }
    }

    @Test
    void aRequestTopicDeletedAfterItTookRecordsDoesNotHoldUpOtherModels(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.retired", 1);
        try (InferenceClient client = InferenceClient.create(config(kafka, "retired",
                "kafka.producer.max.block.ms", 3_000, "kafka.producer.delivery.timeout.ms", 3_000,
                "kafka.producer.request.timeout.ms", 1_500))) {
            // Both topics take a record: their sends now share one thread.
            client.request(echo("before-retired", "abc")).get(30, TimeUnit.SECONDS);
            InferenceRequest retired = InferenceRequest.ofTexts("t1", "retired", List.of("x"));
            client.submit(retired, null, 0, Map.of()).get(30, TimeUnit.SECONDS);
            try (var admin = kafka.admin()) {
                admin.deleteTopics(List.of("kinfer.requests.retired")).all().get(30, TimeUnit.SECONDS);
            }
            // Sent until the producer has forgotten the topic: from then on each send waits out max.block.ms.
            await().atMost(Duration.ofSeconds(90)).until(() -> client.submit(retired, null, 0, Map.of())
                    .handle((ok, error) -> error != null && String.valueOf(error.getMessage())
                            .contains("not present in metadata")).get(30, TimeUnit.SECONDS));

            // Ten such sends hold a thread for 30 s: it must not be the one every other model's requests share.
            for (int i = 0; i < 10; i++) {
                client.submit(retired, null, 0, Map.of());
            }
            InferenceReply echo = client.request(echo("after-retired", "abc"), Duration.ofSeconds(20))
                    .get(40, TimeUnit.SECONDS);

            assertThat(echo.isSuccess()).isTrue();
        }
    }

    @Test
    void aSubmittedRequestAWorkerWouldRefuseIsRefusedBeforeItIsSent(EmbeddedKafka kafka) {
        try (InferenceClient client = InferenceClient.create(config(kafka, "refusing"))) {
            assertThat(client.submit(echo("s1", "x"), "no spaces allowed", 0, Map.of()))
                    .failsWithin(Duration.ofSeconds(5)).withThrowableThat().withCauseInstanceOf(IllegalArgumentException.class)
                    .withMessageContaining("topic");
            assertThat(client.submit(echo("", "x"), null, 0, Map.of()))
                    .failsWithin(Duration.ofSeconds(5)).withThrowableThat().withCauseInstanceOf(IllegalArgumentException.class)
                    .withMessageContaining("id");
            assertThat(client.submit(echo("s2", "x"), null, -5, Map.of()))
                    .failsWithin(Duration.ofSeconds(5)).withThrowableThat().withCauseInstanceOf(IllegalArgumentException.class)
                    .withMessageContaining("deadline");
        }
    }

    @Test
    void aReplyPartitionTheSharedTopicLacksFailsCreateWithinSeconds(EmbeddedKafka kafka) {
        kafka.createTopic("shared.two", 2);
        assertThatThrownBy(() -> InferenceClient.create(config(kafka, "lacking",
                ClientConfig.REPLY_TOPIC, "shared.two", ClientConfig.REPLY_PARTITION, 5)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("reply.partition 5").hasMessageContaining("2 partition");
    }

    @Test
    void aSharedReplyTopicNeedsAPartitionPerInstance() {
        assertThatThrownBy(() -> new ClientConfig(Map.of(ClientConfig.REPLY_TOPIC, "shared.replies")))
                .hasMessageContaining("reply.partition");
    }
}
