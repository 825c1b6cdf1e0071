package io.kinfer.protocol;

/**
 * Size limits a decoder enforces before any model sees the input; each breach is an {@code input_too_large}
 * error (or {@code malformed} for nesting).
 *
 * @param maxRecordBytes    largest record value (Kafka's own default message limit is about 1 MiB)
 * @param maxInputs         most texts, or rows of the first tensor dimension, in one request
 * @param maxTextChars      longest text in characters (the model truncates far earlier; this stops abuse)
 * @param maxTensorElements most elements in one tensor
 * @param maxNestingDepth   deepest JSON nesting accepted
 */
public record ProtocolLimits(int maxRecordBytes, int maxInputs, int maxTextChars, long maxTensorElements,
                             int maxNestingDepth) {

    public static final ProtocolLimits DEFAULTS = new ProtocolLimits(1_048_576, 256, 10_000, 262_144, 32);

    public ProtocolLimits {
        if (maxRecordBytes < 1 || maxInputs < 1 || maxTextChars < 1 || maxTensorElements < 1 || maxNestingDepth < 4) {
            throw new IllegalArgumentException("protocol limits must be positive (nesting at least 4)");
        }
    }
}
