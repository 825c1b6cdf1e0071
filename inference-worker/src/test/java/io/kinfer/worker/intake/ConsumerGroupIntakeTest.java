package io.kinfer.worker.intake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.worker.reply.ReplySender;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * The consumer-group intake on its own, against the real broker: a pipeline of the test's answers each record at
 * once (or leaves chosen ones unanswered, as a failed reply does), so commits, rewinds and shutdown are seen
 * without a model.
 */
@WithKafka
class ConsumerGroupIntakeTest {

    /**
     * close() wakes the consumer up to end its poll. When the consumer thread is not polling then (it is handing a
     * poll's records to the pipeline), the wakeup stays pending until the next blocking call: the final commit.
     * Here close() comes exactly then: the consumer holds a poll's records, not returning them, until close() has
     * called wakeup(). Whether the commit is then lost depends on the consumer's network state: with its coordinator
     * connection ready it sends the commit before it throws the wakeup (and the broker applies it); when it must
     * poll first (its coordinator being looked up, as under load in the reproduction: 139 replies acknowledged,
     * offset 107 committed) it throws before sending. The consumer here always does the latter: a commit first asks
     * the broker for the committed offsets, a blocking call that throws a pending wakeup.
     */
    @Test
    void theFinalCommitSurvivesAWakeupThatCameWhileTheThreadWasNotPolling(EmbeddedKafka kafka) throws Exception {
        String topic = "intake.wakeup";
        kafka.createTopic(topic, 1);
        CountDownLatch wokenUp = new CountDownLatch(1);
        AtomicBoolean holding = new AtomicBoolean();
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(ConsumerGroupIntake.properties(
                "intake-wakeup", "c", new HashMap<>(kafka.clientProperties())), new ByteArrayDeserializer(),
                new ByteArrayDeserializer()) {
            @Override
            public ConsumerRecords<byte[], byte[]> poll(Duration timeout) {
                ConsumerRecords<byte[], byte[]> records = super.poll(timeout);
                if (!records.isEmpty() && holding.compareAndSet(false, true)) {
                    try {
                        wokenUp.await(60, TimeUnit.SECONDS); // out of poll() when close() wakes the consumer up
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return records;
            }

            @Override
            public void wakeup() {
                super.wakeup();
                wokenUp.countDown();
            }

            @Override
            public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
                super.committed(offsets.keySet(), timeout); // polls first, as a coordinator lookup would
                super.commitSync(offsets, timeout);
            }
        };
        TestPipeline pipeline = new TestPipeline(offset -> false);
        // No periodic commit in the test's time: only the final one can commit.
        ConsumerGroupIntake intake = new ConsumerGroupIntake(pipeline, topic, "c", consumer, 600_000, 5_000, 100, 5).start();
        await().atMost(Duration.ofSeconds(60)).until(intake::ready);

        write(kafka, topic, 10);
        await().atMost(Duration.ofSeconds(60)).until(holding::get);
        intake.close();

        // The held poll's records (all or the first of them) were answered: the final commit covers them.
        assertThat(pipeline.accepted).isNotEmpty();
        assertThat(committed(kafka, "intake-wakeup", topic)).isEqualTo(pipeline.accepted.size());
    }

    /**
     * A record whose reply keeps failing is fetched again a limited number of times, then dead-lettered
     * ({@code reply_failed}) when next fetched, and the partition moves on. The records after it, answered the first
     * time, are not answered again when the partition is fetched again from it.
     */
    @Test
    void aRecordWhoseReplyKeepsFailingIsDeadLetteredAfterTheLimitAndTheRecordsAfterItAreAnsweredOnce(
            EmbeddedKafka kafka) throws Exception {
        String topic = "intake.failing";
        kafka.createTopic(topic, 1);
        write(kafka, topic, 10);
        TestPipeline pipeline = new TestPipeline(offset -> offset == 3);
        ConsumerGroupIntake intake = new ConsumerGroupIntake(pipeline, topic, "intake-failing", "c",
                new HashMap<>(kafka.clientProperties()), 50, 5_000, 100, 2).start();
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> committed(kafka, "intake-failing", topic) == 10);

            assertThat(pipeline.deadLettered).containsExactly(3L);
            assertThat(pipeline.reasons).containsExactly(ReplySender.REPLY_FAILED);
            // The dead letter says why the replies failed, not only that they did.
            assertThat(pipeline.messages).singleElement().asString()
                    .endsWith("; the last failure: its reply failed (test) at offset 3");
            assertThat(pipeline.accepted.get(3L)).as("computed twice: the limit").isEqualTo(2);
            Map<Long, Integer> others = new HashMap<>(pipeline.accepted);
            others.remove(3L);
            assertThat(others).as("each other record computed once").hasSize(9).allSatisfy((offset, times) ->
                    assertThat(times).isEqualTo(1));
            assertThat(intake.refetched()).isEqualTo(2);
        } finally {
            intake.close();
        }
    }

    private static void write(EmbeddedKafka kafka, String topic, int count) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(new HashMap<>(kafka.clientProperties()),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, 0, null, ("r" + i).getBytes(StandardCharsets.UTF_8)));
            }
            producer.flush();
        }
    }

    private static long committed(EmbeddedKafka kafka, String group, String topic) throws Exception {
        try (var admin = kafka.admin()) {
            OffsetAndMetadata offset = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                    .get(10, TimeUnit.SECONDS).get(new TopicPartition(topic, 0));
            return offset == null ? -1 : offset.offset();
        }
    }
}
