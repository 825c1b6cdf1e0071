package io.kinfer.protocol;

import java.util.Arrays;
import java.util.Objects;

/** The result of an {@code embedding} model for one text: an L2-normalized vector. */
public record Embedding(float[] vector) implements Output {
    public Embedding {
        Objects.requireNonNull(vector, "vector");
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Embedding that && Arrays.equals(vector, that.vector);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(vector);
    }

    @Override
    public String toString() {
        return "Embedding[" + vector.length + " floats]";
    }
}
