package io.kinfer.worker.intake;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

import io.kinfer.worker.ModelPipeline;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Answers every record at once, except those at offsets it is told to leave unanswered. */
final class TestPipeline implements Pipeline {
    final Predicate<Long> failing;
    final Map<Long, Integer> accepted = new ConcurrentHashMap<>();
    final List<Long> deadLettered = new CopyOnWriteArrayList<>();
    final List<String> reasons = new CopyOnWriteArrayList<>();
    final List<String> messages = new CopyOnWriteArrayList<>();

    TestPipeline(Predicate<Long> failing) {
        this.failing = failing;
    }

    @Override
    public String model() {
        return "m";
    }

    @Override
    public void accept(List<ModelPipeline.Incoming> records) {
        for (ModelPipeline.Incoming incoming : records) {
            long offset = incoming.record().offset();
            accepted.merge(offset, 1, Integer::sum);
            if (failing.test(offset)) {
                incoming.handle().abandoned("its reply failed (test) at offset " + offset);
            } else {
                incoming.handle().answered();
            }
        }
    }

    @Override
    public void deadLetter(ModelPipeline.Incoming record, String reason, String message) {
        deadLettered.add(record.record().offset());
        reasons.add(reason);
        messages.add(message);
        record.handle().deadLettered();
    }

    @Override
    public void givenUp(org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> record) {
    }

    @Override
    public boolean full() {
        return false;
    }

    @Override
    public int queued() {
        return 0;
    }

    @Override
    public int abandonQueued(Predicate<ConsumerRecord<byte[], byte[]>> condition) {
        return 0;
    }

    @Override
    public void drain(long timeoutMs) {
    }
}
