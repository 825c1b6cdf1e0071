package io.kinfer.protocol;

import java.util.Objects;

/**
 * The routing part of a request, carried in record headers: who waits for the answer and until when.
 *
 * @param correlationId   what the reply carries back so the caller can match it (defaults to the request id)
 * @param replyTopic      where the reply goes
 * @param replyPartition  the reply's partition, or -1 to let the producer choose by the correlation id
 * @param deadlineEpochMs when the caller stops waiting (epoch milliseconds); 0 for no deadline
 * @param priority        higher is served first within a model version; 0 by default
 */
public record RequestEnvelope(String correlationId, String replyTopic, int replyPartition, long deadlineEpochMs,
                              int priority) {

    public static final int ANY_PARTITION = -1;
    public static final long NO_DEADLINE = 0L;

    public RequestEnvelope {
        Objects.requireNonNull(correlationId, "correlationId");
        Objects.requireNonNull(replyTopic, "replyTopic");
    }

    public boolean hasDeadline() {
        return deadlineEpochMs != NO_DEADLINE;
    }

    public boolean expiredAt(long nowEpochMs) {
        return hasDeadline() && nowEpochMs >= deadlineEpochMs;
    }
}
