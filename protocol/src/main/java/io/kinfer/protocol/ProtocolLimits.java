package io.kinfer.protocol;

/**
 * Size limits a decoder enforces before any model sees the input; each breach is an {@code input_too_large}
 * error (or {@code malformed} for nesting).
 *
 * @param maxRecordBytes    largest record value (Kafka's own default message limit is about 1 MiB)
 * @param maxInputs         most texts, or rows of the first tensor dimension, in one request
 * @param maxTextChars      longest text in characters, also each string of a BYTES tensor (the model truncates far
 *                          earlier; this stops abuse)
 * @param maxTensorElements most elements in one tensor
 * @param maxNestingDepth   deepest JSON nesting accepted
 */
public record ProtocolLimits(int maxRecordBytes, int maxInputs, int maxTextChars, long maxTensorElements,
                             int maxNestingDepth) {

    public static final ProtocolLimits DEFAULTS = new ProtocolLimits(1_048_576, 256, 10_000, 262_144, 32);

    /** The settings of these limits: one set of keys for the workers, the gateway and {@code kinfer produce}. */
    public static final String MAX_RECORD_BYTES = "protocol.max.record.bytes";
    public static final String MAX_INPUTS = "protocol.max.inputs";
    public static final String MAX_TEXT_CHARS = "protocol.max.text.chars";
    public static final String MAX_TENSOR_ELEMENTS = "protocol.max.tensor.elements";

    /**
     * For reading replies. A reply is as large as its model's outputs, which the request limits do not bound (a
     * 300 000-element mask answers a small image), and a worker may be allowed records over 1 MiB
     * ({@code kafka.producer.max.request.size}): only a ceiling against hostile records remains, 64 MiB and as many
     * elements as fit in it (each takes at least two bytes of JSON). A string in a reply's BYTES tensor is a model's
     * output, not a caller's text, so it too is bounded by the record only.
     */
    public static final ProtocolLimits REPLIES = new ProtocolLimits(64 << 20, DEFAULTS.maxInputs(),
            64 << 20, 32L << 20, DEFAULTS.maxNestingDepth());

    public ProtocolLimits {
        if (maxRecordBytes < 1 || maxInputs < 1 || maxTextChars < 1 || maxTensorElements < 1 || maxNestingDepth < 4) {
            throw new IllegalArgumentException("protocol limits must be positive (nesting at least 4)");
        }
    }
}
