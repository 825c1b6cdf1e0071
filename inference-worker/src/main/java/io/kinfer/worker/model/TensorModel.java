package io.kinfer.worker.model;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.TensorMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Any ONNX model with FP32/INT64 tensor inputs: requests name their tensors, which must match the model's inputs
 * in name, datatype and every dimension but the first; a batch concatenates requests along the first dimension,
 * runs once, and splits each output back along it. Requests that cannot share a tensor run in separate calls of
 * one batch: those whose other dimensions differ where the model allows any size (one call per shape). A model that
 * cannot batch at all runs each request alone and answers its outputs whole ({@link #runsAlone}).
 */
final class TensorModel implements LoadedModel {

    private static final Logger log = LoggerFactory.getLogger(TensorModel.class);

    private final ModelMetadata metadata;
    private final OnnxSession session;
    private final List<TensorMetadata> inputs;
    private final boolean cacheable;
    /** Some input has a variable dimension besides the first: only requests of equal shapes share a call. */
    private final boolean variableInnerDimensions;
    /**
     * Each request runs alone: some input has a fixed first dimension (each request fills it), some output a fixed
     * first dimension above 1 (a sum over the rows, say, which would mix requests), or the config says so
     * (max_batch_size 0, Triton's "no batching", for a model that works across its first dimension, such as a
     * softmax over it, which no shape reveals). An output declared {@code [1, C]} does not count: exporters write
     * the traced batch of 1 where no dynamic axis was named, and such models batch (the actual shape is checked on
     * every call), nor does an output of no declared rank.
     */
    private final boolean runsAlone;

    private TensorModel(String name, String version, ModelConfig config, OnnxSession session) throws ModelException {
        this.session = session;
        this.inputs = new ArrayList<>();
        for (Map.Entry<String, TensorInfo> input : session.inputs().entrySet()) {
            TensorInfo info = input.getValue();
            DataType type = switch (info.type) {
                case FLOAT -> DataType.FP32;
                case INT64 -> DataType.INT64;
                default -> throw new ModelException("input " + input.getKey() + " is " + info.type
                        + "; tensor models take FLOAT or INT64 inputs");
            };
            long[] shape = info.getShape();
            if (shape.length == 0) {
                throw new ModelException("input " + input.getKey() + " is a scalar; a batch dimension is needed");
            }
            inputs.add(new TensorMetadata(input.getKey(), type, shape));
        }
        List<TensorMetadata> outputs = new ArrayList<>();
        for (Map.Entry<String, TensorInfo> output : session.outputs().entrySet()) {
            TensorInfo info = output.getValue();
            DataType type = switch (info.type) {
                case FLOAT, DOUBLE -> DataType.FP32;
                case INT64, INT32 -> DataType.INT64;
                default -> throw new ModelException("output " + output.getKey() + " is " + info.type
                        + "; tensor models return FLOAT, DOUBLE, INT32 or INT64");
            };
            outputs.add(new TensorMetadata(output.getKey(), type, info.getShape()));
        }
        this.variableInnerDimensions = inputs.stream()
                .anyMatch(input -> Arrays.stream(input.shape()).skip(1).anyMatch(d -> d < 0));
        String alone = config.batching().unbatched() ? "its config's max_batch_size 0"
                : inputs.stream().filter(input -> input.shape()[0] >= 0).findFirst()
                        .map(input -> "input " + input.name() + " has a fixed first dimension")
                .or(() -> outputs.stream().filter(output -> output.shape().length > 0 && output.shape()[0] > 1)
                        .findFirst().map(output -> "output " + output.name() + " has no batch dimension (shape "
                                + Arrays.toString(output.shape()) + ")"))
                .orElse(null);
        this.runsAlone = alone != null;
        if (runsAlone) {
            log.info("model {} version {} runs each request alone: {}", name, version, alone);
        }
        // Outputs of a numeric model are a pure function of its inputs unless the config says otherwise.
        this.cacheable = Boolean.TRUE.equals(config.cache().enabled());
        this.metadata = new ModelMetadata(name, version, ModelConfig.TENSOR, ModelConfig.PostProcessing.NONE,
                inputs, outputs, List.of(), 0, config.description());
    }

    static TensorModel load(String name, String version, ModelConfig config, byte[] onnx, OnnxSettings settings)
            throws ModelException {
        OnnxSession session = OnnxSession.create(onnx, settings, false);
        try {
            return new TensorModel(name, version, config, session);
        } catch (ModelException | RuntimeException e) {
            session.close();
            throw e;
        }
    }

    @Override
    public ModelMetadata metadata() {
        return metadata;
    }

    @Override
    public boolean batches() {
        return !runsAlone;
    }

    @Override
    public PreparedRequest prepare(InferenceRequest request) throws ProtocolException {
        if (request.isText()) {
            throw new ProtocolException(ErrorCode.INVALID_TENSOR, "model " + metadata.name()
                    + " takes tensors " + inputs + " in 'inputs', not texts");
        }
        // The protocol's own check, the one the gateway makes before sending: every input present with its
        // datatype and rank, each fixed dimension matching, nothing else.
        List<Tensor> ordered = metadata.checkInputs(request.tensors());
        return new Prepared(ordered, (int) ordered.get(0).batchSize(), cacheable ? ordered : null);
    }

    @Override
    public List<List<Output>> infer(List<PreparedRequest> batch) throws ModelException {
        if (batch.size() == 1 || !(variableInnerDimensions || runsAlone)) {
            return inferTogether(batch);
        }
        // Concatenating [1, 8] and [1, 4] would misalign every row after the first, silently.
        Map<Object, List<Integer>> groups = new LinkedHashMap<>();
        for (int i = 0; i < batch.size(); i++) {
            Object key = runsAlone ? Integer.valueOf(i) : innerShapes((Prepared) batch.get(i));
            groups.computeIfAbsent(key, k -> new ArrayList<>()).add(i);
        }
        if (groups.size() == 1) {
            return inferTogether(batch);
        }
        List<List<Output>> outputs = new ArrayList<>(Collections.nCopies(batch.size(), null));
        Exception firstFailure = null;
        BitSet failedAlone = new BitSet();
        for (List<Integer> group : groups.values()) {
            List<List<Output>> answers;
            try {
                answers = inferTogether(group.stream().map(batch::get).toList());
            } catch (ModelException | RuntimeException e) {
                // One shape's failure (a request of width 5 where the model needs 4) keeps the other shapes'
                // answers: only this group's requests are retried or failed.
                firstFailure = firstFailure == null ? e : firstFailure;
                if (group.size() == 1) {
                    failedAlone.set(group.get(0));
                }
                continue;
            }
            for (int j = 0; j < group.size(); j++) {
                outputs.set(group.get(j), answers.get(j));
            }
        }
        if (firstFailure != null) {
            throw new PartialBatchException(firstFailure.getMessage(), firstFailure, outputs, failedAlone);
        }
        return outputs;
    }

    /** Every input's dimensions after the first. */
    private static List<List<Long>> innerShapes(Prepared request) {
        List<List<Long>> shapes = new ArrayList<>(request.tensors.size());
        for (Tensor tensor : request.tensors) {
            shapes.add(Arrays.stream(tensor.shape()).skip(1).boxed().toList());
        }
        return shapes;
    }

    /** One model call for requests whose tensors differ only in their first dimension. */
    private List<List<Output>> inferTogether(List<PreparedRequest> batch) throws ModelException {
        int rows = 0;
        for (PreparedRequest request : batch) {
            rows += request.items();
        }
        Map<String, OnnxTensor> feeds = new HashMap<>();
        try {
            for (int i = 0; i < inputs.size(); i++) {
                feeds.put(inputs.get(i).name(), concat(batch, i, rows));
            }
            try (OrtSession.Result result = session.run(feeds)) {
                List<List<Output>> outputs = new ArrayList<>(batch.size());
                for (int r = 0; r < batch.size(); r++) {
                    outputs.add(new ArrayList<>());
                }
                for (TensorMetadata spec : metadata.outputs()) {
                    OnnxTensor tensor = (OnnxTensor) result.get(spec.name())
                            .orElseThrow(() -> new ModelException("no output " + spec.name()));
                    split(tensor, spec, batch, rows, outputs, runsAlone);
                }
                return outputs;
            }
        } catch (OrtException e) {
            throw new ModelException("ONNX Runtime failed: " + e.getMessage(), e);
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
    }

    private OnnxTensor concat(List<PreparedRequest> batch, int input, int rows) throws OrtException {
        Tensor first = ((Prepared) batch.get(0)).tensors.get(input);
        long[] shape = first.shape().clone();
        shape[0] = rows;
        int total = (int) Tensor.elementCount(shape);
        if (first.datatype() == DataType.FP32) {
            float[] data = new float[total];
            int at = 0;
            for (PreparedRequest request : batch) {
                float[] part = ((Prepared) request).tensors.get(input).fp32();
                System.arraycopy(part, 0, data, at, part.length);
                at += part.length;
            }
            return OnnxTensor.createTensor(session.env(), FloatBuffer.wrap(data), shape);
        }
        long[] data = new long[total];
        int at = 0;
        for (PreparedRequest request : batch) {
            long[] part = ((Prepared) request).tensors.get(input).int64();
            System.arraycopy(part, 0, data, at, part.length);
            at += part.length;
        }
        return OnnxTensor.createTensor(session.env(), LongBuffer.wrap(data), shape);
    }

    /** @param whole a model that runs each request alone: its one request gets the outputs as they are */
    private static void split(OnnxTensor tensor, TensorMetadata spec, List<PreparedRequest> batch, int rows,
                              List<List<Output>> outputs, boolean whole) throws ModelException {
        long[] shape = tensor.getInfo().getShape();
        // Checked on every call of a batching model, one request or many: an output that is not batch-first would
        // otherwise be cut across the requests of a shared call.
        if (!whole && (shape.length == 0 || shape[0] != rows)) {
            throw new ModelException("output " + spec.name() + " has shape " + Arrays.toString(shape)
                    + "; its first dimension must be the batch size " + rows);
        }
        OnnxJavaType type = tensor.getInfo().type;
        float[] floats = null;
        long[] longs = null;
        switch (type) {
            case FLOAT -> {
                FloatBuffer buffer = tensor.getFloatBuffer();
                floats = new float[buffer.remaining()];
                buffer.get(floats);
            }
            case DOUBLE -> {
                DoubleBuffer buffer = tensor.getDoubleBuffer();
                floats = new float[buffer.remaining()];
                for (int i = 0; i < floats.length; i++) {
                    floats[i] = (float) buffer.get(i);
                }
            }
            case INT64 -> {
                LongBuffer buffer = tensor.getLongBuffer();
                longs = new long[buffer.remaining()];
                buffer.get(longs);
            }
            case INT32 -> {
                IntBuffer buffer = tensor.getIntBuffer();
                longs = new long[buffer.remaining()];
                for (int i = 0; i < longs.length; i++) {
                    longs[i] = buffer.get(i);
                }
            }
            default -> throw new ModelException("unsupported output type " + type);
        }
        if (whole) {
            outputs.get(0).add(floats != null ? Tensor.fp32(spec.name(), shape, floats)
                    : Tensor.int64(spec.name(), shape, longs));
            return;
        }
        int perRow = (int) (Tensor.elementCount(shape) / rows);
        int row = 0;
        for (int r = 0; r < batch.size(); r++) {
            int items = batch.get(r).items();
            long[] partShape = shape.clone();
            partShape[0] = items;
            int from = row * perRow;
            int to = (row + items) * perRow;
            outputs.get(r).add(floats != null
                    ? Tensor.fp32(spec.name(), partShape, Arrays.copyOfRange(floats, from, to))
                    : Tensor.int64(spec.name(), partShape, Arrays.copyOfRange(longs, from, to)));
            row += items;
        }
    }

    @Override
    public void close() {
        session.close();
    }

    private record Prepared(List<Tensor> tensors, int items, Object cacheKey) implements PreparedRequest {
        @Override
        public int length() {
            return 0;
        }
    }
}
