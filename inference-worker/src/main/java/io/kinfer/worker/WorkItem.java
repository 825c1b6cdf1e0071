package io.kinfer.worker;

import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.RequestEnvelope;
import io.kinfer.worker.batch.BatchItem;
import io.kinfer.worker.intake.RecordHandle;
import io.kinfer.worker.model.PreparedRequest;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A decoded, validated, tokenized request on its way through a model version's batcher; {@code request} names the
 * version that prepared it, {@code pinned} whether the caller asked for that version.
 */
record WorkItem(ConsumerRecord<byte[], byte[]> record, RecordHandle handle, RequestEnvelope envelope,
                InferenceRequest request, boolean pinned, PreparedRequest prepared, long arrivalNanos,
                long deadlineNanos, int priority) implements BatchItem {

    @Override
    public int items() {
        return prepared.items();
    }

    @Override
    public int length() {
        return prepared.length();
    }
}
