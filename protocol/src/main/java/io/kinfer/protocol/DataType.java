package io.kinfer.protocol;

import java.util.Optional;

/** Tensor element types, named as in the Open Inference Protocol. */
public enum DataType {
    FP32,
    INT64,
    /** UTF-8 strings: how text travels in an OIP request. */
    BYTES;

    public static Optional<DataType> fromName(String name) {
        for (DataType type : values()) {
            if (type.name().equals(name)) {
                return Optional.of(type);
            }
        }
        return Optional.empty();
    }
}
