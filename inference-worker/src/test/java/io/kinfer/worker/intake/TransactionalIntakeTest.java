package io.kinfer.worker.intake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.concurrent.atomic.AtomicInteger;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * The exactly-once intake's own handling of Kafka's transaction calls, with a real consumer on the real broker and
 * Kafka's producer mock, whose transaction calls fail as the test says.
 */
@WithKafka
class TransactionalIntakeTest {

    /**
     * Kafka: a commitTransaction that timed out must be retried (its outcome is unknown, and the real producer then
     * refuses abortTransaction with an IllegalStateException). Retried, the poll commits once and nothing is
     * fetched again; before, the intake aborted it (which the real producer refuses, failing the intake).
     */
    @Test
    void aCommitThatTimedOutIsTriedAgainNotAborted(EmbeddedKafka kafka) throws Exception {
        String topic = "eos.commit.timeout";
        kafka.createTopic(topic, 1);
        AtomicInteger commits = new AtomicInteger();
        MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(),
                new ByteArraySerializer()) {
            @Override
            public void commitTransaction() {
                if (commits.incrementAndGet() == 1) {
                    throw new TimeoutException("Timeout expired after 10000ms while awaiting EndTxn(true)");
                }
                super.commitTransaction();
            }

            @Override
            public void abortTransaction() {
                throw new IllegalStateException("Cannot attempt operation `abortTransaction` because the previous "
                        + "call to `commitTransaction` timed out and must be retried");
            }
        };
        producer.initTransactions();
        try (KafkaProducer<byte[], byte[]> writer = new KafkaProducer<>(new HashMap<>(kafka.clientProperties()),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < 5; i++) {
                writer.send(new ProducerRecord<>(topic, 0, null, ("r" + i).getBytes(StandardCharsets.UTF_8)));
            }
        }
        TestPipeline pipeline = new TestPipeline(offset -> false);
        TransactionalIntake intake = new TransactionalIntake(pipeline, topic, "eos-commit-timeout", "c",
                new HashMap<>(kafka.clientProperties()), producer, 60_000, 5_000, 5).start();
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> producer.consumerGroupOffsetsHistory().stream()
                    .flatMap(offsets -> offsets.values().stream())
                    .anyMatch(offsets -> offsets.get(new TopicPartition(topic, 0)) != null
                            && offsets.get(new TopicPartition(topic, 0)).offset() == 5));

            assertThat(intake.alive()).isTrue();
            assertThat(intake.refetched()).as("transactions aborted").isZero();
            assertThat(pipeline.accepted).hasSize(5).allSatisfy((offset, times) -> assertThat(times).isEqualTo(1));
        } finally {
            intake.close();
        }
    }
}
