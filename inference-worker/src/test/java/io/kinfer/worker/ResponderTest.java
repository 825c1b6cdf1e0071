package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.RequestEnvelope;
import io.kinfer.worker.intake.RecordHandle;
import io.kinfer.worker.reply.ReplySender;
import io.kinfer.worker.reply.TopicChecker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * How a failed reply ends, with Kafka's own producer mock completing each send as the test says: every record gets
 * exactly one outcome, and the one its failure calls for.
 */
class ResponderTest {

    private final MockProducer<byte[], byte[]> producer =
            new MockProducer<>(false, null, new ByteArraySerializer(), new ByteArraySerializer());
    private final Responder responder = new Responder(new ReplySender(producer, new JsonCodec(),
            new TopicChecker(topic -> CompletableFuture.completedFuture(new TopicChecker.TopicState(1)),
                    Duration.ofSeconds(10), System::nanoTime),
            "kinfer.dlq", "w-1", 1_048_576, Runnable::run), new WorkerMetrics(new SimpleMeterRegistry()));
    private final ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>("kinfer.requests.m", 0, 7L,
            "k".getBytes(StandardCharsets.UTF_8), "{}".getBytes(StandardCharsets.UTF_8));
    private final RequestEnvelope to = new RequestEnvelope("c", "replies", -1, 0, 0);

    /** Records each outcome it is given (more than one would be a bug). */
    private static class Outcomes implements RecordHandle {
        final List<String> seen = new CopyOnWriteArrayList<>();
        final boolean last;

        Outcomes(boolean last) {
            this.last = last;
        }

        @Override
        public void answered() {
            seen.add("answered");
        }

        @Override
        public void deadLettered() {
            seen.add("deadLettered");
        }

        @Override
        public void abandoned() {
            seen.add("abandoned");
        }

        @Override
        public boolean lastDelivery() {
            return last;
        }

        /** The answer's outcome counted: once its reply is acknowledged, and only then. */
        void replied() {
            seen.add("counted");
        }
    }

    @Test
    void aReplyKafkaRefusesForGoodIsDeadLetteredNotFetchedAgain() {
        Outcomes handle = new Outcomes(false);
        responder.answer("m", record, handle, to, InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), handle::replied);

        producer.errorNext(new InvalidTopicException("The request attempted to perform an operation on an invalid topic."));
        await().atMost(Duration.ofSeconds(10)).until(() -> producer.history().size() == 2);
        ProducerRecord<byte[], byte[]> dead = producer.history().get(1);
        producer.completeNext();

        await().atMost(Duration.ofSeconds(10)).until(() -> !handle.seen.isEmpty());
        assertThat(dead.topic()).isEqualTo("kinfer.dlq");
        assertThat(KinferHeaders.string(dead.headers(), KinferHeaders.DLQ_REASON))
                .contains(ReplySender.REPLY_UNDELIVERABLE);
        assertThat(handle.seen).containsExactly("deadLettered");
    }

    @Test
    void aReplyThatTimedOutIsLeftForRedelivery() {
        Outcomes handle = new Outcomes(false);
        responder.answer("m", record, handle, to, InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), handle::replied);

        producer.errorNext(new TimeoutException("Expiring 1 record(s)"));

        await().atMost(Duration.ofSeconds(10)).until(() -> !handle.seen.isEmpty());
        assertThat(handle.seen).containsExactly("abandoned");
    }

    /**
     * The caller of an invalid request is owed its specific error: an error reply that may still arrive leaves the
     * record for redelivery (and writes no dead letter yet) instead of being done with a dead letter alone, which
     * had the caller wait to its deadline.
     */
    @Test
    void anErrorReplyThatFailedRetriablyLeavesTheRecordForRedeliveryWithoutADeadLetter() {
        Outcomes handle = new Outcomes(false);
        responder.reject("m", record, handle, Optional.of(to),
                InferenceReply.failure("r", "m", ErrorCode.INVALID_REQUEST, "bad"), handle::replied);
        producer.errorNext(new TimeoutException("Expiring 1 record(s)"));
        // Had the dead letter gone out beside the reply, it would now be acknowledged.
        producer.completeNext();

        await().atMost(Duration.ofSeconds(10)).until(() -> !handle.seen.isEmpty());
        assertThat(handle.seen).containsExactly("abandoned");
        assertThat(producer.history()).extracting(ProducerRecord::topic).containsExactly("replies");
    }

    @Test
    void onTheLastAllowedDeliveryAFailedErrorReplyLeavesItsDeadLetterAlone() {
        Outcomes handle = new Outcomes(true);
        responder.reject("m", record, handle, Optional.of(to),
                InferenceReply.failure("r", "m", ErrorCode.INVALID_REQUEST, "bad"), handle::replied);
        producer.errorNext(new TimeoutException("Expiring 1 record(s)"));
        await().atMost(Duration.ofSeconds(10)).until(() -> producer.history().size() == 2);
        producer.completeNext();

        await().atMost(Duration.ofSeconds(10)).until(() -> !handle.seen.isEmpty());
        assertThat(handle.seen).containsExactly("deadLettered");
        assertThat(producer.history()).extracting(ProducerRecord::topic).containsExactly("replies", "kinfer.dlq");
    }

    @Test
    void anAcknowledgedErrorReplyIsFollowedByItsDeadLetter() {
        Outcomes handle = new Outcomes(false);
        responder.reject("m", record, handle, Optional.of(to),
                InferenceReply.failure("r", "m", ErrorCode.INVALID_REQUEST, "bad"), handle::replied);
        producer.completeNext();
        await().atMost(Duration.ofSeconds(10)).until(() -> producer.history().size() == 2);
        producer.completeNext();

        await().atMost(Duration.ofSeconds(10)).until(() -> handle.seen.contains("deadLettered"));
        assertThat(handle.seen).containsExactly("counted", "deadLettered");
    }

    @Test
    void anAnswerIsCountedOnceItsReplyIsAcknowledgedAndNeverWhenItFails() {
        Outcomes acked = new Outcomes(false);
        responder.answer("m", record, acked, to, InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"),
                acked::replied);
        assertThat(acked.seen).as("not before Kafka acknowledges it").isEmpty();
        producer.completeNext();
        await().atMost(Duration.ofSeconds(10)).until(() -> !acked.seen.isEmpty());
        assertThat(acked.seen).containsExactly("counted", "answered");

        // Before, counted when computed: a reply dead-lettered as undeliverable read as answered.
        Outcomes refused = new Outcomes(false);
        responder.answer("m", record, refused, to, InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"),
                refused::replied);
        producer.errorNext(new InvalidTopicException("invalid topic"));
        await().atMost(Duration.ofSeconds(10)).until(() -> producer.history().size() == 3);
        producer.completeNext();
        await().atMost(Duration.ofSeconds(10)).until(() -> !refused.seen.isEmpty());
        assertThat(refused.seen).containsExactly("deadLettered");
    }

    /** A bug in a failure's follow-up must not leave the record unfinished: that would stop its partition for good. */
    @Test
    void aFollowUpThatThrowsLeavesTheRecordForRedeliveryInsteadOfUnfinished() {
        Outcomes handle = new Outcomes(false) {
            @Override
            public boolean lastDelivery() {
                throw new IllegalStateException("a bug");
            }
        };
        responder.answer("m", record, handle, to, InferenceReply.failure("r", "m", ErrorCode.INTERNAL, "x"), handle::replied);

        producer.errorNext(new TimeoutException("Expiring 1 record(s)"));

        await().atMost(Duration.ofSeconds(10)).until(() -> !handle.seen.isEmpty());
        assertThat(handle.seen).containsExactly("abandoned");
    }
}
