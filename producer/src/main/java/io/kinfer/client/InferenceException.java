package io.kinfer.client;

import io.kinfer.protocol.ErrorInfo;

/**
 * Why an {@link InferenceClient} call failed before a reply came. Each kind maps to one HTTP status in the
 * gateway. A reply that carries an error is not an exception: it completes normally with
 * {@code reply.error()} set.
 */
public abstract sealed class InferenceException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    InferenceException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * The kind's name: the {@code outcome} it counts as in {@code kinfer.client.requests}, and in the summary of
     * {@code kinfer produce}.
     */
    public abstract String outcome();

    /** No reply before the deadline (HTTP 504). */
    public static final class DeadlineExceeded extends InferenceException {
        private static final long serialVersionUID = 1L;

        public DeadlineExceeded(String message) {
            super(message, null);
        }

        @Override
        public String outcome() {
            return InferenceClient.DEADLINE_EXCEEDED;
        }
    }

    /** A request larger than Kafka takes (the producer's max.request.size or the topic's limit; HTTP 413). */
    public static final class RequestTooLarge extends InferenceException {
        private static final long serialVersionUID = 1L;

        public RequestTooLarge(String message, Throwable cause) {
            super(message, cause);
        }

        @Override
        public String outcome() {
            return InferenceClient.TOO_LARGE;
        }
    }

    /** Too many requests in flight on this client (HTTP 429). */
    public static final class Overloaded extends InferenceException {
        private static final long serialVersionUID = 1L;

        public Overloaded(String message) {
            super(message, null);
        }

        @Override
        public String outcome() {
            return InferenceClient.OVERLOADED;
        }
    }

    /** Kafka cannot be reached or did not take the request (HTTP 503). */
    public static final class KafkaUnavailable extends InferenceException {
        private static final long serialVersionUID = 1L;

        public KafkaUnavailable(String message, Throwable cause) {
            super(message, cause);
        }

        @Override
        public String outcome() {
            return InferenceClient.KAFKA_UNAVAILABLE;
        }
    }

    /**
     * Kafka refused this client the request topic (an ACL): not an outage, and retrying cannot help until an
     * operator grants it (HTTP 500, logged by the gateway).
     */
    public static final class NotAuthorized extends InferenceException {
        private static final long serialVersionUID = 1L;

        public NotAuthorized(String message, Throwable cause) {
            super(message, cause);
        }

        @Override
        public String outcome() {
            return InferenceClient.NOT_AUTHORIZED;
        }
    }

    /** The client is closing or closed; pending calls fail with this at once (HTTP 503). */
    public static final class ClientClosed extends InferenceException {
        private static final long serialVersionUID = 1L;

        public ClientClosed(String message) {
            super(message, null);
        }

        @Override
        public String outcome() {
            return InferenceClient.CLIENT_CLOSED;
        }
    }

    /** A reply came but could not be decoded (HTTP 502). */
    public static final class BadReply extends InferenceException {
        private static final long serialVersionUID = 1L;

        public BadReply(ErrorInfo error) {
            super(error.message(), null);
        }

        @Override
        public String outcome() {
            return InferenceClient.BAD_REPLY;
        }
    }
}
