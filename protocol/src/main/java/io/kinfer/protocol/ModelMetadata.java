package io.kinfer.protocol;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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

    /**
     * Checks a tensor model's request against its inputs as a worker does: every input present with its datatype
     * and rank, each dimension equal to the model's where that is not -1, and no other tensor. Returns the tensors
     * in the order of the model's inputs.
     */
    public List<Tensor> checkInputs(List<Tensor> tensors) throws ProtocolException {
        Map<String, Tensor> byName = new HashMap<>();
        for (Tensor tensor : tensors) {
            byName.put(tensor.name(), tensor);
        }
        Tensor[] ordered = new Tensor[inputs.size()];
        for (int i = 0; i < inputs.size(); i++) {
            TensorMetadata spec = inputs.get(i);
            Tensor tensor = byName.remove(spec.name());
            if (tensor == null) {
                throw new ProtocolException(ErrorCode.INVALID_TENSOR, "missing input tensor " + spec);
            }
            if (tensor.datatype() != spec.datatype()) {
                throw new ProtocolException(ErrorCode.INVALID_TENSOR, "input " + spec.name() + " must be "
                        + spec.datatype() + ", not " + tensor.datatype());
            }
            long[] expected = spec.shape();
            long[] actual = tensor.shape();
            boolean matches = expected.length == actual.length;
            for (int d = 0; matches && d < expected.length; d++) {
                matches = expected[d] < 0 || expected[d] == actual[d];
            }
            if (!matches) {
                throw new ProtocolException(ErrorCode.INVALID_TENSOR, "input " + spec.name() + " has shape "
                        + Arrays.toString(actual) + "; the model takes " + Arrays.toString(expected)
                        + " (-1: any size)");
            }
            ordered[i] = tensor;
        }
        if (!byName.isEmpty()) {
            throw new ProtocolException(ErrorCode.INVALID_TENSOR, "unknown input tensor(s) " + byName.keySet()
                    + "; the model takes " + inputs);
        }
        return List.of(ordered);
    }

    public ModelMetadata withMaxBatchSize(int size) {
        return new ModelMetadata(name, version, kind, postprocessing, inputs, outputs, labels, size, description);
    }
}
