package io.kinfer.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.net.ServerSocket;
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
    void clientsSharingAKafkaClientIdOnOneRegistryEachExportTheirKafkaMeters(EmbeddedKafka kafka) throws Exception {
        // kafka.client.id passes through unchanged, so every client's producer (and consumer) carries one client.id.
        // Without a tag of their own, Micrometer told them apart only by chance (Kafka's version tag reads "unknown"
        // for all but the first), and from the third client on bound each Kafka meter to an earlier client.
        SimpleMeterRegistry metrics = new SimpleMeterRegistry();
        try (InferenceClient a = InferenceClient.create(config(kafka, "shared-a", "kafka.client.id", "shared"), metrics);
             InferenceClient b = InferenceClient.create(config(kafka, "shared-b", "kafka.client.id", "shared"), metrics);
             InferenceClient c = InferenceClient.create(config(kafka, "shared-c", "kafka.client.id", "shared"),
                     metrics)) {
            assertThat(metrics.find("kafka.producer.connection.count").tag("client.id", "shared").gauges()
                    .stream().map(g -> g.getId().getTag(InferenceClient.KAFKA_CLIENT_TAG)))
                    .containsExactlyInAnyOrder("shared-a-requests", "shared-b-requests", "shared-c-requests");
            assertThat(metrics.find("kafka.consumer.connection.count").tag("client.id", "shared").gauges()
                    .stream().map(g -> g.getId().getTag(InferenceClient.KAFKA_CLIENT_TAG)))
                    .containsExactlyInAnyOrder("shared-a-replies", "shared-b-replies", "shared-c-replies");
        }
    }

    @Test
    void aClientInterruptedWhileItsReplyTopicIsCreatedDeletesTheTopicTheBrokerMadeAnyway(EmbeddedKafka kafka)
            throws Exception {
        // A signal to kinfer produce while it connects: the interrupt ends create()'s wait for the topic, which the
        // broker goes on creating. Interrupted before create(), its wait ends at once, every time.
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        Thread creating = new Thread(() -> {
            Thread.currentThread().interrupt();
            try (InferenceClient client = InferenceClient.create(config(kafka, "interrupted-start"))) {
                failure.set(new AssertionError("created: " + client.replyTopic()));
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        creating.start();
        creating.join(60_000);

        assertThat(failure.get()).isInstanceOf(InferenceException.ClientClosed.class);
        try (org.apache.kafka.clients.admin.Admin admin = kafka.admin()) {
            // Before, it stayed: one topic left behind per interrupted start. (Awaited: a topic just deleted may be
            // listed for a moment.)
            await().atMost(Duration.ofSeconds(30)).until(() -> !admin.listTopics().names().get(30, TimeUnit.SECONDS)
                    .contains("kinfer.replies.interrupted-start"));
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
            // Each slot came back before its call's future completed.
            assertThat(client.inFlight()).isZero();
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
    void ordinaryProducerSettingsThatRuleOutIdempotenceAreTakenAsKafkaTakesThem(EmbeddedKafka kafka) throws Exception {
        // Before, the client's own enable.idempotence=true made Kafka refuse each of them at create(); plain Kafka
        // turns idempotence off for them, unasked.
        try (InferenceClient client = InferenceClient.create(config(kafka, "acks-one", "kafka.producer.acks", 1,
                "kafka.producer.retries", 0))) {
            assertThat(client.request(echo("acks-1", "abc")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
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
        assertThat(client.ready()).as("not ready while draining").isFalse();
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
    void sendsQueuedForADeletedRequestTopicHoldUpOnlyThatTopic(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.retiring", 1);
        // A send waiting for a missing topic's metadata waits the whole max.block.ms: a minute, far beyond the test.
        try (InferenceClient client = InferenceClient.create(config(kafka, "retiring",
                "kafka.producer.max.block.ms", 60_000, "kafka.producer.metadata.max.age.ms", 500,
                "kafka.producer.delivery.timeout.ms", 3_000, "kafka.producer.request.timeout.ms", 1_500))) {
            // Both topics take a record: before, their sends then shared one thread.
            assertThat(client.request(echo("before-retiring", "abc")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
            InferenceRequest retired = InferenceRequest.ofTexts("t1", "retiring", List.of("x"));
            client.submit(retired, null, 0, Map.of()).get(30, TimeUnit.SECONDS);
            try (var admin = kafka.admin()) {
                admin.deleteTopics(List.of("kinfer.requests.retiring")).all().get(30, TimeUnit.SECONDS);
            }
            // Sent until one waits in Kafka's send for the topic's metadata (the producer's next refresh finds the
            // topic gone); the sends before it went into Kafka's buffer at once. Then more queue behind it, as
            // requests for a retired model keep coming.
            List<CompletableFuture<Void>> retiredSends = new ArrayList<>();
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                retiredSends.add(client.submit(retired, null, 0, Map.of()));
                return Threads.waitingInKafkaSendForMetadata("kinfer-client-send-retiring");
            });
            for (int i = 0; i < 5; i++) {
                retiredSends.add(client.submit(retired, null, 0, Map.of()));
            }

            // Before, this request queued behind them on the one thread every topic that took a record shared.
            InferenceReply echo = client.request(echo("after-retiring", "abc"), Duration.ofSeconds(30))
                    .get(40, TimeUnit.SECONDS);

            assertThat(echo.isSuccess()).isTrue();
            assertThat(retiredSends.get(retiredSends.size() - 1))
                    .as("the retired topic's last send, queued behind one that waits out max.block.ms").isNotDone();
        }
    }

    @Test
    void aTopicWithoutMetadataFailsItsQueuedSendsAtOnceInsteadOfEachWaitingMaxBlock(EmbeddedKafka kafka)
            throws Exception {
        // A long window, so that however slowly this machine runs, no send after the first tries again.
        try (InferenceClient client = InferenceClient.createFireAndForget(config(kafka, "ff-missing",
                "kafka.producer.max.block.ms", 1_000, ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 600_000))) {
            InferenceRequest missing = InferenceRequest.ofTexts("m", "not-created", List.of("x"));
            List<CompletableFuture<Void>> sends = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                sends.add(client.submit(missing, null, 0, Map.of()));
            }

            List<Throwable> failures = new ArrayList<>();
            for (CompletableFuture<Void> send : sends) {
                failures.add(assertThatThrownBy(() -> send.get(60, TimeUnit.SECONDS))
                        .isInstanceOf(ExecutionException.class).actual().getCause());
            }
            // Before, each of the 20 waited out max.block.ms in turn (produce: 80 minutes for a 1000-line file).
            assertThat(failures).allMatch(f -> f instanceof InferenceException.KafkaUnavailable);
            assertThat(failures).filteredOn(f -> f.getCause() instanceof org.apache.kafka.common.errors.TimeoutException)
                    .as("sends that waited for the topic's metadata").hasSize(1);
        }
    }

    @Test
    void aTopicsSendsTryAgainAfterTheWindowAndGoThroughOnceItExists(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.createFireAndForget(config(kafka, "ff-late-topic",
                "kafka.producer.max.block.ms", 1_000, ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 100))) {
            InferenceRequest late = InferenceRequest.ofTexts("l", "created-late", List.of("x"));
            assertThatThrownBy(() -> client.submit(late, null, 0, Map.of()).get(60, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(InferenceException.KafkaUnavailable.class);

            kafka.createTopic("kinfer.requests.created-late", 1);

            await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                    .until(() -> client.submit(late, null, 0, Map.of()).get(10, TimeUnit.SECONDS) == null);
        }
    }

    @Test
    void aCallMadeWhenTheLastOneIsAnsweredFindsItsSlotFree(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "chained", ClientConfig.MAX_IN_FLIGHT, 1))) {
            // The next call starts in the first one's callback, on the reply thread, as a caller keeping one call
            // outstanding does; before, the slot came back only after the caller's callbacks had run.
            CompletableFuture<InferenceReply> next = client.request(echo("chain-1", "a"))
                    .thenCompose(reply -> client.request(echo("chain-2", "bb")));

            assertThat(next.get(30, TimeUnit.SECONDS).id()).isEqualTo("chain-2");
            assertThat(client.inFlight()).isZero();
        }
    }

    @Test
    void aCallMadeWhenTheLastOneTimedOutFindsItsSlotFree(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "chained-timeout",
                ClientConfig.MAX_IN_FLIGHT, 1))) {
            // Held by the fake worker: the timer thread ends it, and the next call starts in its callback there.
            CompletableFuture<InferenceReply> next = client.request(echo("hold-chain", "a"), Duration.ofMillis(200))
                    .handle((reply, error) -> error)
                    .thenCompose(error -> client.request(echo("chain-after-timeout", "bb")));

            assertThat(next.get(30, TimeUnit.SECONDS).id()).isEqualTo("chain-after-timeout");
            assertThat(client.inFlight()).isZero();
        }
    }

    @Test
    void aTimeoutOfZeroOrLessIsRefusedBeforeItTakesASlot(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.create(config(kafka, "zero-timeout"))) {
            CompletableFuture<InferenceReply> zero = client.request(echo("zero-1", "x"), Duration.ZERO);
            CompletableFuture<InferenceReply> negative = client.request(echo("zero-2", "x"), Duration.ofMillis(-5));

            assertThatThrownBy(() -> zero.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("timeout");
            assertThatThrownBy(() -> negative.get(5, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(IllegalArgumentException.class);
            assertThat(client.inFlight()).isZero();
            // A positive timeout under a millisecond is still a timeout: one millisecond.
            assertThatThrownBy(() -> client.request(echo("hold-zero-3", "x"), Duration.ofNanos(1)).get(30, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(InferenceException.DeadlineExceeded.class);
        }
    }

    @Test
    void aFireAndForgetClientSendsWithoutAReplyTopicOrConsumer(EmbeddedKafka kafka) throws Exception {
        try (InferenceClient client = InferenceClient.createFireAndForget(config(kafka, "ff-only"));
             var admin = kafka.admin()) {
            client.submit(echo("ff-only-1", "abc"), null, 0, Map.of()).get(30, TimeUnit.SECONDS);

            await().atMost(Duration.ofSeconds(10)).until(() -> worker.received.stream()
                    .anyMatch(r -> new String(r.value()).contains("ff-only-1")));
            assertThat(client.replyTopic()).isNull();
            assertThat(client.ready()).isTrue();
            assertThat(admin.listTopics().names().get(10, TimeUnit.SECONDS)).doesNotContain("kinfer.replies.ff-only");
            assertThat(Threads.kafkaConsumerOpen("ff-only-replies")).isFalse();
            assertThatThrownBy(() -> client.request(echo("ff-only-2", "x")).get(5, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void theLongestClientIdStillGetsItsReplies(EmbeddedKafka kafka) throws Exception {
        String longest = "l".repeat(ClientConfig.MAX_CLIENT_ID_CHARS);
        try (InferenceClient client = InferenceClient.create(config(kafka, longest))) {
            InferenceReply reply = client.request(echo("long-id-1", "abc")).get(30, TimeUnit.SECONDS);

            assertThat(reply.isSuccess()).isTrue();
            assertThat(client.replyTopic()).hasSize(249);
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
    void aKafkaThatDoesNotAnswerFailsCreateWithASharedReplyTopicAsUnavailable() throws Exception {
        int port = portNothingAnswersOn();
        ClientConfig config = new ClientConfig(Map.of("kafka.bootstrap.servers", "127.0.0.1:" + port,
                ClientConfig.CLIENT_ID, "unanswered", ClientConfig.REPLY_TOPIC, "shared.replies",
                ClientConfig.REPLY_PARTITION, "0"));

        // Before, Kafka's own TimeoutException, which no caller handling the client's exceptions expects.
        assertThatThrownBy(() -> InferenceClient.create(config))
                .isInstanceOf(InferenceException.KafkaUnavailable.class).hasMessageContaining("127.0.0.1:" + port);
    }

    @Test
    void aKafkaThatDoesNotAnswerIsNamedWhenTheAdminClientsOwnTimeoutEndsTheReplyTopicsCreation() throws Exception {
        int port = portNothingAnswersOn();
        // Kafka's default.api.timeout.ms (60 s by default) ends the creation before create()'s own wait: before,
        // "cannot create reply topic ...: Timed out waiting for a node assignment", with no address.
        ClientConfig config = new ClientConfig(Map.of("kafka.bootstrap.servers", "127.0.0.1:" + port,
                ClientConfig.CLIENT_ID, "unanswered-own", "kafka.admin.default.api.timeout.ms", "1500",
                "kafka.admin.request.timeout.ms", "1000"));

        assertThatThrownBy(() -> InferenceClient.create(config))
                .isInstanceOf(InferenceException.KafkaUnavailable.class)
                .hasMessageContaining("Kafka at 127.0.0.1:" + port + " did not answer");
    }

    private static int portNothingAnswersOn() throws java.io.IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort(); // closed again: nothing answers there
        }
    }

    @Test
    void aSharedReplyTopicNeedsAPartitionPerInstance() {
        assertThatThrownBy(() -> new ClientConfig(Map.of(ClientConfig.REPLY_TOPIC, "shared.replies")))
                .hasMessageContaining("reply.partition");
    }
}
