package io.kinfer.protocol;

import java.util.regex.Pattern;

/** Topic names of the protocol. One request topic per model, so each model's workers scale on their own. */
public final class Topics {

    /** Requests for model {@code m} go to {@code kinfer.requests.m}. */
    public static final String REQUEST_PREFIX = "kinfer.requests.";
    /** Where replies go when a request names no reply topic. */
    public static final String DEFAULT_REPLY_TOPIC = "kinfer.replies";
    /** Dead letters: the original bytes of records that could not be served, with the reason in headers. */
    public static final String DEAD_LETTER = "kinfer.dlq";
    /** The compacted catalog: workers announce the models they serve (see {@link ModelAnnouncement}). */
    public static final String CATALOG = "kinfer.models";
    /**
     * Partitions of a request topic when kinfer creates it. A consumer group uses at most this many worker
     * replicas per model; a share group is not capped by it.
     */
    public static final int DEFAULT_REQUEST_PARTITIONS = 12;

    private static final Pattern MODEL_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");
    private static final Pattern TOPIC_NAME = Pattern.compile("[A-Za-z0-9._-]{1,249}");

    private Topics() {
    }

    public static String requestTopic(String model) {
        if (!isValidModelName(model)) {
            throw new IllegalArgumentException("invalid model name: " + model);
        }
        return REQUEST_PREFIX + model;
    }

    /** Letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100 characters. */
    public static boolean isValidModelName(String model) {
        return model != null && MODEL_NAME.matcher(model).matches();
    }

    /**
     * A topic replies may go to: a valid name, and no request topic, where a worker would read its own reply as a
     * request and answer it again, with an error, under the same correlation id.
     */
    public static boolean isValidReplyTopic(String topic) {
        return isValidTopicName(topic) && !topic.startsWith(REQUEST_PREFIX);
    }

    /** Kafka's rule for topic names (minus "." and "..", which Kafka rejects). */
    public static boolean isValidTopicName(String topic) {
        return topic != null && TOPIC_NAME.matcher(topic).matches() && !topic.equals(".") && !topic.equals("..");
    }
}
