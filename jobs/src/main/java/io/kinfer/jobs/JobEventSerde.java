package io.kinfer.jobs;

import java.nio.ByteBuffer;
import java.util.Arrays;

import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The repartition topic's values: a tag byte, then the job's JSON metadata ({@code S}) or a 4-byte item index
 * and the reply's bytes unchanged ({@code R}), so a result is not parsed until its job's task handles it.
 */
final class JobEventSerde implements Serde<JobEvent> {

    private static final byte SUBMITTED = 'S';
    private static final byte RESULT = 'R';

    @Override
    public Serializer<JobEvent> serializer() {
        return (topic, event) -> {
            if (event == null) {
                return null;
            }
            if (event instanceof JobSubmitted job) {
                byte[] json = job.toJson();
                return ByteBuffer.allocate(1 + json.length).put(SUBMITTED).put(json).array();
            }
            JobEvent.ItemResult result = (JobEvent.ItemResult) event;
            return ByteBuffer.allocate(5 + result.reply().length).put(RESULT).putInt(result.index())
                    .put(result.reply()).array();
        };
    }

    @Override
    public Deserializer<JobEvent> deserializer() {
        return (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            if (bytes.length >= 1 && bytes[0] == SUBMITTED) {
                try {
                    return JobSubmitted.fromJson(Arrays.copyOfRange(bytes, 1, bytes.length));
                } catch (IllegalArgumentException e) {
                    throw new SerializationException("bad job metadata: " + e.getMessage(), e);
                }
            }
            if (bytes.length >= 5 && bytes[0] == RESULT) {
                ByteBuffer buffer = ByteBuffer.wrap(bytes);
                buffer.get();
                int index = buffer.getInt();
                return new JobEvent.ItemResult(index, Arrays.copyOfRange(bytes, 5, bytes.length));
            }
            throw new SerializationException("not a job event");
        };
    }
}
