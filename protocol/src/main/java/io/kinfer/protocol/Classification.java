package io.kinfer.protocol;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/** The result of a {@code classify} model for one text: the best label and every label's score (summing to 1). */
public record Classification(String label, Map<String, Float> scores) implements Output {
    public Classification {
        Objects.requireNonNull(label, "label");
        scores = Collections.unmodifiableMap(new LinkedHashMap<>(scores));
    }
}
