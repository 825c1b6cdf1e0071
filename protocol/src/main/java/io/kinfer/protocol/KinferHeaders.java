package io.kinfer.protocol;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * Header names and their parsing. Every value is a UTF-8 string (numbers in decimal), so {@code kcat -H} can set
 * them. Requests carry the routing headers; replies carry the correlation id and, for errors, the error code;
 * dead letters carry the reason and the original record's coordinates.
 */
public final class KinferHeaders {

    public static final String CORRELATION_ID = "kinfer-correlation-id";
    public static final String REPLY_TOPIC = "kinfer-reply-topic";
    public static final String REPLY_PARTITION = "kinfer-reply-partition";
    public static final String DEADLINE = "kinfer-deadline";
    public static final String PRIORITY = "kinfer-priority";

    /** On replies: the error code, present only on error replies (so consumers can filter without parsing). */
    public static final String ERROR = "kinfer-error";

    /** On dead letters: why, where the record came from, and which worker gave up on it. */
    public static final String DLQ_REASON = "kinfer-dlq-reason";
    public static final String DLQ_MESSAGE = "kinfer-dlq-message";
    public static final String DLQ_TOPIC = "kinfer-dlq-topic";
    public static final String DLQ_PARTITION = "kinfer-dlq-partition";
    public static final String DLQ_OFFSET = "kinfer-dlq-offset";
    public static final String DLQ_WORKER = "kinfer-dlq-worker";
    /**
     * On a dead letter too large for Kafka with the record's own bytes: what was left out ({@code value}, or
     * {@code value,headers}, or {@code value,headers,key}) so that the dead letter is written at all.
     */
    public static final String DLQ_DROPPED = "kinfer-dlq-dropped";

    /** W3C trace context headers are copied from a request to its reply unchanged. */
    public static final List<String> PASSED_THROUGH = List.of("traceparent", "tracestate", "baggage");

    /** The pass-through headers of an incoming call, read with {@code lookup}; values over 1 KiB are dropped. */
    public static Map<String, String> passedThrough(Function<String, String> lookup) {
        Map<String, String> headers = new HashMap<>();
        for (String name : PASSED_THROUGH) {
            String value = lookup.apply(name);
            if (value != null && value.length() <= 1024) {
                headers.put(name, value);
            }
        }
        return headers;
    }

    /** The longest correlation id, in characters (UTF-16 code units). */
    public static final int MAX_CORRELATION_ID_CHARS = 256;

    private KinferHeaders() {
    }

    /**
     * Reads the routing headers. A missing correlation id falls back to {@code fallbackCorrelationId} (the request
     * id), a missing reply topic to {@code defaultReplyTopic}; present but invalid values are errors.
     */
    public static RequestEnvelope envelope(Headers headers, String fallbackCorrelationId, String defaultReplyTopic)
            throws ProtocolException {
        String correlationId = string(headers, CORRELATION_ID).orElse(fallbackCorrelationId);
        if (correlationId == null || correlationId.isEmpty() || correlationId.length() > MAX_CORRELATION_ID_CHARS) {
            throw new ProtocolException(ErrorCode.INVALID_REQUEST,
                    "header " + CORRELATION_ID + " must be 1 to " + MAX_CORRELATION_ID_CHARS + " characters");
        }
        String replyTopic = replyTopic(headers, defaultReplyTopic).orElseThrow(() -> new ProtocolException(
                ErrorCode.INVALID_REQUEST, "header " + REPLY_TOPIC + " is not a valid topic name, or is a request "
                        + "topic (" + Topics.REQUEST_PREFIX + "*), where the reply would be read as a request"));
        int partition = (int) number(headers, REPLY_PARTITION, 0, Integer.MAX_VALUE, RequestEnvelope.ANY_PARTITION);
        // 0 means no deadline, as absent does (and as RequestEnvelope.NO_DEADLINE and the Java client's submit do).
        long deadline = number(headers, DEADLINE, 0, Long.MAX_VALUE, RequestEnvelope.NO_DEADLINE);
        int priority = (int) number(headers, PRIORITY, Integer.MIN_VALUE, Integer.MAX_VALUE, 0);
        return new RequestEnvelope(correlationId, replyTopic, partition, deadline, priority);
    }

    /**
     * Where to send an error reply for a record whose other headers or body may be broken: the reply topic and
     * partition if they are usable, else empty (then only a dead letter is possible).
     */
    public static Optional<RequestEnvelope> bestEffortReplyAddress(Headers headers, String correlationId,
                                                                   String defaultReplyTopic) {
        Optional<String> topic = replyTopic(headers, defaultReplyTopic);
        if (topic.isEmpty()) {
            return Optional.empty();
        }
        String id = string(headers, CORRELATION_ID).filter(s -> !s.isEmpty() && s.length() <= MAX_CORRELATION_ID_CHARS)
                .orElse(correlationId);
        if (id == null) {
            return Optional.empty();
        }
        int partition;
        try {
            partition = (int) number(headers, REPLY_PARTITION, 0, Integer.MAX_VALUE, RequestEnvelope.ANY_PARTITION);
        } catch (ProtocolException e) {
            partition = RequestEnvelope.ANY_PARTITION;
        }
        return Optional.of(new RequestEnvelope(id, topic.get(), partition, RequestEnvelope.NO_DEADLINE, 0));
    }

    /** Writes the routing headers of {@code envelope}. */
    public static void write(RequestEnvelope envelope, Headers headers) {
        put(headers, CORRELATION_ID, envelope.correlationId());
        put(headers, REPLY_TOPIC, envelope.replyTopic());
        if (envelope.replyPartition() != RequestEnvelope.ANY_PARTITION) {
            put(headers, REPLY_PARTITION, Integer.toString(envelope.replyPartition()));
        }
        if (envelope.hasDeadline()) {
            put(headers, DEADLINE, Long.toString(envelope.deadlineEpochMs()));
        }
        if (envelope.priority() != 0) {
            put(headers, PRIORITY, Integer.toString(envelope.priority()));
        }
    }

    public static void put(Headers headers, String name, String value) {
        headers.remove(name);
        headers.add(name, value.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The last value of a header as a string, if present, exactly as sent: a correlation id is echoed byte for byte
     * (trimmed, " abc" would come back as "abc" and its caller never match it).
     */
    public static Optional<String> string(Headers headers, String name) {
        Header header = headers.lastHeader(name);
        if (header == null || header.value() == null) {
            return Optional.empty();
        }
        return Optional.of(new String(header.value(), StandardCharsets.UTF_8));
    }

    private static Optional<String> replyTopic(Headers headers, String defaultReplyTopic) {
        // Trimmed: a topic name has no spaces, and a stray one (a shell, kcat) should not cost the reply.
        Optional<String> topic = string(headers, REPLY_TOPIC).map(String::trim);
        if (topic.isEmpty()) {
            return Optional.ofNullable(defaultReplyTopic);
        }
        return topic.filter(Topics::isValidReplyTopic);
    }

    private static long number(Headers headers, String name, long min, long max, long absent)
            throws ProtocolException {
        Optional<String> text = string(headers, name);
        if (text.isEmpty()) {
            return absent;
        }
        try {
            long value = Long.parseLong(text.get().trim());
            if (value < min || value > max) {
                throw new NumberFormatException();
            }
            return value;
        } catch (NumberFormatException e) {
            throw new ProtocolException(ErrorCode.INVALID_REQUEST,
                    "header " + name + " must be an integer between " + min + " and " + max);
        }
    }
}
