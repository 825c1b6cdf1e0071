package io.kinfer.worker.reply;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.RequestEnvelope;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Ordering with Kafka's own mocks: a reply counts as sent only once the broker acknowledged it. */
class ReplySenderTest {

    private final MockProducer<byte[], byte[]> producer =
            new MockProducer<>(false, null, new ByteArraySerializer(), new ByteArraySerializer());
    private final Map<String, Integer> topics = new java.util.concurrent.ConcurrentHashMap<>();
    private final TopicChecker checker = new TopicChecker(topic -> topics.containsKey(topic)
            ? CompletableFuture.completedFuture(new TopicChecker.TopicState(topics.get(topic)))
            : topic.startsWith("slow")
            ? CompletableFuture.failedFuture(new org.apache.kafka.common.errors.TimeoutException("no answer"))
            : CompletableFuture.failedFuture(new UnknownTopicOrPartitionException(topic)),
            Duration.ofSeconds(10), System::nanoTime);
    private final ReplySender sender = new ReplySender(producer, new JsonCodec(), checker, "kinfer.dlq", "w-1",
            1_048_576, Runnable::run);

    @AfterEach
    void stopExecutor() {
        afterLookup.shutdownNow();
    }

    private final ExecutorService afterLookup = Executors.newSingleThreadExecutor(r -> new Thread(r, "after-lookup"));

    /**
     * A lookup completes on the Admin client's thread; a send there could block it for max.block.ms while every
     * other lookup waits. The reply goes out from the worker's executor instead.
     */
    @Test
    void aReplyThatWaitedForItsTopicsLookupIsSentFromTheWorkersExecutorNotTheAdminThread() throws Exception {
        CompletableFuture<TopicChecker.TopicState> lookup = new CompletableFuture<>();
        TopicChecker pending = new TopicChecker(topic -> lookup, Duration.ofSeconds(10), System::nanoTime);
        Map<String, String> sentOn = new java.util.concurrent.ConcurrentHashMap<>();
        MockProducer<byte[], byte[]> recording = new MockProducer<>(true, null, new ByteArraySerializer(),
                new ByteArraySerializer()) {
            @Override
            public synchronized java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> send(
                    ProducerRecord<byte[], byte[]> record, org.apache.kafka.clients.producer.Callback callback) {
                sentOn.put(record.topic(), Thread.currentThread().getName());
                return super.send(record, callback);
            }
        };
        ReplySender waiting = new ReplySender(recording, new JsonCodec(), pending, "kinfer.dlq", "w-1", 1_048_576,
                afterLookup);

        var acked = waiting.reply(new RequestEnvelope("c", "new.replies", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();
        Thread admin = new Thread(() -> lookup.complete(new TopicChecker.TopicState(1)), "fake-admin-thread");
        admin.start();
        admin.join();

        assertThat(acked).succeedsWithin(Duration.ofSeconds(10));
        assertThat(sentOn).containsEntry("new.replies", "after-lookup");
    }

    @Test
    void kafkasInternalTopicsAreUndeliverableReplyTopics() {
        topics.put("__consumer_offsets", 50);
        TopicChecker describedInternal = new TopicChecker(topic -> CompletableFuture.completedFuture(
                new TopicChecker.TopicState(3, true)), Duration.ofSeconds(10), System::nanoTime);
        ReplySender toInternal = new ReplySender(producer, new JsonCodec(), describedInternal, "kinfer.dlq", "w-1",
                1_048_576, Runnable::run);

        var byName = sender.reply(new RequestEnvelope("c1", "__consumer_offsets", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();
        var byDescription = toInternal.reply(new RequestEnvelope("c2", "internal.by.flag", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();

        assertThat(byName).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(ReplySender.UndeliverableReplyException.class);
        assertThat(byDescription).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(ReplySender.UndeliverableReplyException.class);
        assertThat(producer.history()).isEmpty();
    }

    @Test
    void completesOnlyWhenTheBrokerAcknowledgesAndCarriesTheCorrelationId() throws Exception {
        topics.put("replies", 2);
        RequestEnvelope to = new RequestEnvelope("corr-1", "replies", 1, 0, 0);

        CompletableFuture<Void> acked = sender.reply(to, InferenceReply.failure("r", "m", ErrorCode.EXPIRED, "late"),
                new RecordHeaders().add("traceparent", "00-abc-def-01".getBytes(StandardCharsets.UTF_8)), Long.MIN_VALUE).toCompletableFuture();

        assertThat(producer.history()).hasSize(1);
        assertThat(acked).isNotDone();
        producer.completeNext();
        assertThat(acked).isCompleted();
        ProducerRecord<byte[], byte[]> sent = producer.history().get(0);
        assertThat(sent.topic()).isEqualTo("replies");
        assertThat(sent.partition()).isEqualTo(1);
        assertThat(new String(sent.key(), StandardCharsets.UTF_8)).isEqualTo("corr-1");
        assertThat(KinferHeaders.string(sent.headers(), KinferHeaders.ERROR)).contains("expired");
        assertThat(KinferHeaders.string(sent.headers(), "traceparent")).contains("00-abc-def-01");
    }

    @Test
    void aMissingTopicOrPartitionFailsAtOnceWithoutTouchingTheProducer() throws Exception {
        topics.put("replies", 1);

        var missingTopic = sender.reply(new RequestEnvelope("c", "nope", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();
        var missingPartition = sender.reply(new RequestEnvelope("c", "replies", 3, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();

        assertThat(missingTopic).isCompletedExceptionally();
        assertThat(missingPartition).isCompletedExceptionally();
        assertThat(producer.history()).isEmpty();
    }

    @Test
    void aPartitionAddedAfterTheCountWasRememberedIsFound() {
        topics.put("growing", 1);
        sender.reply(new RequestEnvelope("c1", "growing", 0, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE);
        topics.put("growing", 3);

        var toNewPartition = sender.reply(new RequestEnvelope("c2", "growing", 2, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();

        assertThat(toNewPartition).isNotCompletedExceptionally();
        assertThat(producer.history()).hasSize(2);
        assertThat(producer.history().get(1).partition()).isEqualTo(2);
    }

    @Test
    void aTopicKafkaCouldNotLookUpIsRetriedNotDeadLettered() {
        var missing = sender.reply(new RequestEnvelope("c", "nope", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();
        var unknown = sender.reply(new RequestEnvelope("c", "slow.replies", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();

        assertThat(missing).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(ReplySender.UndeliverableReplyException.class);
        assertThat(unknown).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(org.apache.kafka.common.errors.TimeoutException.class);
        assertThat(producer.history()).isEmpty();
    }

    @Test
    void aSendThatTimesOutToATopicDeletedMeanwhileIsUndeliverableButOtherFailuresStand() {
        topics.put("gone", 1);
        topics.put("kept", 1);
        var toGone = sender.reply(new RequestEnvelope("c1", "gone", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();
        var toKept = sender.reply(new RequestEnvelope("c2", "kept", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();
        var tooLarge = sender.reply(new RequestEnvelope("c3", "kept", -1, 0, 0),
                InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), null, Long.MIN_VALUE).toCompletableFuture();
        topics.remove("gone");

        producer.errorNext(new org.apache.kafka.common.errors.TimeoutException("Expiring 1 record(s)"));
        producer.errorNext(new org.apache.kafka.common.errors.TimeoutException("Expiring 1 record(s)"));
        producer.errorNext(new org.apache.kafka.common.errors.RecordTooLargeException("too large"));

        assertThat(toGone).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(ReplySender.UndeliverableReplyException.class);
        assertThat(toKept).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(org.apache.kafka.common.errors.TimeoutException.class);
        assertThat(tooLarge).failsWithin(Duration.ofSeconds(5)).withThrowableOfType(ExecutionException.class)
                .withCauseInstanceOf(org.apache.kafka.common.errors.RecordTooLargeException.class);
    }

    @Test
    void deadLettersKeepTheOriginalBytesAndSayWhy() {
        ConsumerRecord<byte[], byte[]> original = new ConsumerRecord<>("kinfer.requests.m", 4, 42L,
                "k".getBytes(StandardCharsets.UTF_8), new byte[] {1, 2, 3});

        var acked = sender.deadLetter(original, ErrorCode.MALFORMED, "not JSON").toCompletableFuture();
        producer.errorNext(new org.apache.kafka.common.errors.TimeoutException("broker gone"));

        assertThat(acked).isCompletedExceptionally();
        ProducerRecord<byte[], byte[]> dead = producer.history().get(0);
        assertThat(dead.topic()).isEqualTo("kinfer.dlq");
        assertThat(dead.value()).containsExactly(1, 2, 3);
        assertThat(Map.of(
                "reason", KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_REASON).orElseThrow(),
                "offset", KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_OFFSET).orElseThrow(),
                "partition", KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_PARTITION).orElseThrow()))
                .containsEntry("reason", "malformed").containsEntry("offset", "42").containsEntry("partition", "4");
    }
}
