package io.kinfer.protocol;

import java.util.List;
import java.util.Objects;

/**
 * What a served model version is: its inputs and outputs as clients send and receive them (a text model has one
 * BYTES input), its labels (classifiers), its largest batch, and what it is. Workers announce it on the catalog
 * topic; gateways answer the Open Inference Protocol's metadata endpoint and validate requests with it.
 *
 * @param kind           {@code text} or {@code tensor}
 * @param postprocessing {@code classify}, {@code embedding} or {@code none}
 */
public record ModelMetadata(String name, String version, String kind, String postprocessing,
                            List<TensorMetadata> inputs, List<TensorMetadata> outputs, List<String> labels,
                            int maxBatchSize, String description) {

    public static final String TEXT = "text";
    public static final String TENSOR = "tensor";
    public static final String PLATFORM = "onnxruntime_onnx";

    public ModelMetadata {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(version, "version");
        Objects.requireNonNull(kind, "kind");
        postprocessing = postprocessing == null ? "none" : postprocessing;
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        labels = labels == null ? List.of() : List.copyOf(labels);
        description = description == null ? "" : description;
    }

    public boolean isText() {
        return TEXT.equals(kind);
    }

    public ModelMetadata withMaxBatchSize(int size) {
        return new ModelMetadata(name, version, kind, postprocessing, inputs, outputs, labels, size, description);
    }
}
