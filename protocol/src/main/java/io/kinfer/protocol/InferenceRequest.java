package io.kinfer.protocol;

import java.util.List;
import java.util.Objects;

/**
 * A prediction request, the value of a record on {@code kinfer.requests.<model>}. It holds either texts (for text
 * models) or named tensors (for numeric models), never both. {@code version} is null for "the latest".
 * Routing and deadline travel in headers ({@link KinferHeaders}), not here.
 */
public record InferenceRequest(String id, String model, String version, List<String> texts, List<Tensor> tensors) {

    public InferenceRequest {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(model, "model");
        texts = texts == null ? List.of() : List.copyOf(texts);
        tensors = tensors == null ? List.of() : List.copyOf(tensors);
        if (!texts.isEmpty() && !tensors.isEmpty()) {
            throw new IllegalArgumentException("a request holds texts or tensors, not both");
        }
    }

    public static InferenceRequest ofTexts(String id, String model, List<String> texts) {
        return new InferenceRequest(id, model, null, texts, List.of());
    }

    public static InferenceRequest ofTensors(String id, String model, List<Tensor> tensors) {
        return new InferenceRequest(id, model, null, List.of(), tensors);
    }

    public InferenceRequest withVersion(String newVersion) {
        return new InferenceRequest(id, model, newVersion, texts, tensors);
    }

    public boolean isText() {
        return !texts.isEmpty();
    }

    /** How many rows this request adds to a batch: its texts, or its tensors' first dimension. */
    public int itemCount() {
        if (isText()) {
            return texts.size();
        }
        return tensors.isEmpty() ? 0 : (int) tensors.get(0).batchSize();
    }
}
