package io.kinfer.worker.intake;

import java.util.List;
import java.util.function.Predicate;

import io.kinfer.worker.ModelPipeline;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * What an intake hands its records to: a model's {@link ModelPipeline}. An interface so that an intake's own logic
 * (commits, rewinds, transactions) can be tested against a real broker without a model.
 */
public interface Pipeline {

    String model();

    /** Takes one poll's records; each record's handle is finished exactly once, now or later. */
    void accept(List<ModelPipeline.Incoming> records);

    /**
     * Dead-letters a record without computing or answering it (its replies failed on every try it was allowed);
     * its handle is finished once the dead letter is acknowledged, or abandoned if it fails.
     */
    void deadLetter(ModelPipeline.Incoming record, String reason, String message);

    /**
     * Counts a record the intake gives up unanswered (its reply and its dead letter failed on every try); the intake
     * then finishes its handle as answered, so that the records after it are served.
     */
    void givenUp(ConsumerRecord<byte[], byte[]> record);

    /** Whether the intake should pause fetching (the queue is full and the policy is to pause). */
    boolean full();

    /** Requests queued and not yet computing. */
    int queued();

    /** Removes queued requests whose record matches and abandons them; returns how many. */
    int abandonQueued(Predicate<ConsumerRecord<byte[], byte[]>> condition);

    /** Finishes what is queued (up to the timeout) and abandons the rest; for shutdown. */
    void drain(long timeoutMs);
}
