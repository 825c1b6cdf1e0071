package io.kinfer.protocol;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;

/**
 * JSON for requests and replies (see {@code docs/protocol.md}). Decoding never throws an unchecked exception for
 * bad input: every problem is a {@link ProtocolException} with a specific {@link ErrorCode}. Unknown fields are
 * ignored, so newer producers can talk to older workers. Thread-safe.
 */
public final class JsonCodec {

    /** The longest request id the wire protocol takes. */
    public static final int MAX_ID_CHARS = 256;
    private static final int MAX_SHAPE_DIMS = 8;
    private static final int MAX_MESSAGE_ECHO = 160;
    /**
     * JSON has no NaN or infinity; Jackson writes them as these strings (a model may well output them), so FP32
     * data takes them back, in requests and replies alike.
     */
    private static final Map<String, Float> NON_FINITE = Map.of("NaN", Float.NaN, "Infinity", Float.POSITIVE_INFINITY,
            "-Infinity", Float.NEGATIVE_INFINITY);

    private final ProtocolLimits limits;
    private final JsonFactory factory;
    private final ObjectReader reader;

    public JsonCodec() {
        this(ProtocolLimits.DEFAULTS);
    }

    public JsonCodec(ProtocolLimits limits) {
        this.limits = limits;
        this.factory = JsonFactory.builder()
                .streamReadConstraints(StreamReadConstraints.builder()
                        .maxNestingDepth(limits.maxNestingDepth())
                        .maxStringLength(Math.max(limits.maxRecordBytes(), 1024))
                        .maxNumberLength(64)
                        .build())
                .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .build();
        ObjectMapper mapper = new ObjectMapper(factory)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        this.reader = mapper.reader();
    }

    public ProtocolLimits limits() {
        return limits;
    }

    // ---------------------------------------------------------------------------------------------- requests

    public byte[] encodeRequest(InferenceRequest request) {
        return write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("id", request.id());
            gen.writeStringField("model", request.model());
            if (request.version() != null) {
                gen.writeStringField("version", request.version());
            }
            gen.writeArrayFieldStart("inputs");
            if (request.isText()) {
                for (String text : request.texts()) {
                    gen.writeString(text);
                }
            } else {
                for (Tensor tensor : request.tensors()) {
                    writeTensor(gen, tensor);
                }
            }
            gen.writeEndArray();
            gen.writeEndObject();
        });
    }

    /** Parses and validates a request record's value. */
    public InferenceRequest decodeRequest(byte[] value) throws ProtocolException {
        JsonNode root = parse(value);
        if (!root.isObject()) {
            throw invalid("a request must be a JSON object");
        }
        String id = requiredString(root, "id", MAX_ID_CHARS);
        String model = requiredString(root, "model", 100);
        if (!Topics.isValidModelName(model)) {
            throw invalid("model name must be letters, digits, '.', '_' or '-' (at most 100)");
        }
        String version = optionalVersion(root.get("version"));
        JsonNode inputs = root.get("inputs");
        if (inputs == null || inputs.isNull()) {
            throw invalid("field 'inputs' is required");
        }
        if (!inputs.isArray()) {
            throw invalid("field 'inputs' must be an array of texts or of tensor objects");
        }
        if (inputs.isEmpty()) {
            throw new ProtocolException(ErrorCode.EMPTY_INPUT, "field 'inputs' is empty");
        }
        JsonNode first = inputs.get(0);
        if (first.isTextual()) {
            return new InferenceRequest(id, model, version, decodeTexts(inputs), List.of());
        }
        if (first.isObject()) {
            return new InferenceRequest(id, model, version, List.of(), decodeTensors(inputs));
        }
        throw invalid("field 'inputs' must be an array of texts or of tensor objects");
    }

    private List<String> decodeTexts(JsonNode inputs) throws ProtocolException {
        if (inputs.size() > limits.maxInputs()) {
            throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE,
                    inputs.size() + " inputs; at most " + limits.maxInputs() + " per request");
        }
        List<String> texts = new ArrayList<>(inputs.size());
        for (int i = 0; i < inputs.size(); i++) {
            JsonNode node = inputs.get(i);
            if (!node.isTextual()) {
                throw invalid("inputs[" + i + "] must be a string like inputs[0]");
            }
            String text = node.textValue();
            if (text.isBlank()) {
                throw new ProtocolException(ErrorCode.EMPTY_INPUT, "inputs[" + i + "] is empty");
            }
            if (text.length() > limits.maxTextChars()) {
                throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE, "inputs[" + i + "] has " + text.length()
                        + " characters; at most " + limits.maxTextChars());
            }
            texts.add(text);
        }
        return texts;
    }

    /**
     * A request's input tensors with the checks a worker makes before any model sees them: each tensor as
     * {@link #decodeTensor}, at most 64, none a scalar or named twice, one first dimension of 1 to
     * {@code maxInputs} shared by all. Public so that a gateway refuses what a worker would.
     */
    public List<Tensor> decodeTensors(JsonNode inputs) throws ProtocolException {
        if (inputs.size() > 64) {
            throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE, "at most 64 input tensors");
        }
        List<Tensor> tensors = new ArrayList<>(inputs.size());
        long batch = -1;
        for (int i = 0; i < inputs.size(); i++) {
            JsonNode node = inputs.get(i);
            if (!node.isObject()) {
                throw invalid("inputs[" + i + "] must be a tensor object like inputs[0]");
            }
            Tensor tensor = decodeTensor(node, "inputs[" + i + "]");
            if (tensor.shape().length == 0) {
                throw new ProtocolException(ErrorCode.INVALID_TENSOR,
                        "tensor " + tensor.name() + " needs a batch dimension first in its shape");
            }
            if (batch >= 0 && tensor.batchSize() != batch) {
                throw new ProtocolException(ErrorCode.INVALID_TENSOR, "all input tensors must have the same first "
                        + "dimension; " + tensor.name() + " has " + tensor.batchSize() + ", not " + batch);
            }
            batch = tensor.batchSize();
            if (tensors.stream().anyMatch(t -> t.name().equals(tensor.name()))) {
                throw new ProtocolException(ErrorCode.INVALID_TENSOR, "tensor " + tensor.name() + " appears twice");
            }
            tensors.add(tensor);
        }
        if (batch == 0) {
            throw new ProtocolException(ErrorCode.EMPTY_INPUT, "input tensors have a first dimension of 0");
        }
        if (batch > limits.maxInputs()) {
            throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE,
                    "first dimension " + batch + "; at most " + limits.maxInputs() + " rows per request");
        }
        return tensors;
    }

    /** Decodes one OIP-style tensor object: name, datatype, shape, data (flat or nested, row-major). */
    public Tensor decodeTensor(JsonNode node, String where) throws ProtocolException {
        String name = requiredString(node, "name", 256, where);
        JsonNode typeNode = node.get("datatype");
        if (typeNode == null || !typeNode.isTextual()) {
            throw invalid(where + ".datatype is required (FP32, INT64 or BYTES)");
        }
        DataType type = DataType.fromName(typeNode.textValue()).orElseThrow(() -> new ProtocolException(
                ErrorCode.INVALID_TENSOR, where + ".datatype " + echo(typeNode.textValue())
                + " is not supported; use FP32, INT64 or BYTES"));
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw invalid(where + ".shape must be an array of non-negative integers");
        }
        if (shapeNode.size() > MAX_SHAPE_DIMS) {
            throw new ProtocolException(ErrorCode.INVALID_TENSOR, where + ".shape has more than " + MAX_SHAPE_DIMS
                    + " dimensions");
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode dim = shapeNode.get(i);
            if (!dim.isIntegralNumber() || !dim.canConvertToLong() || dim.longValue() < 0) {
                throw invalid(where + ".shape must be an array of non-negative integers");
            }
            shape[i] = dim.longValue();
        }
        long count;
        boolean overflow = false;
        try {
            count = Tensor.elementCount(shape);
        } catch (ArithmeticException e) {
            count = Long.MAX_VALUE;
            overflow = true;
        }
        if (count > limits.maxTensorElements()) {
            // Checked before the data, whatever its length: what the shape declares is what the model would get.
            throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE, where + ".shape " + Arrays.toString(shape)
                    + " declares " + (overflow ? "more elements than a 64-bit count holds" : count + " elements")
                    + "; at most " + limits.maxTensorElements());
        }
        JsonNode dataNode = node.get("data");
        if (dataNode == null || !dataNode.isArray()) {
            throw invalid(where + ".data must be an array");
        }
        List<JsonNode> flat = flatten(dataNode, shape, count, where);
        switch (type) {
            case FP32: {
                float[] values = new float[flat.size()];
                String data = where + ".data";
                for (int i = 0; i < values.length; i++) {
                    values[i] = fp32(flat.get(i), ErrorCode.INVALID_TENSOR, data, i);
                }
                return Tensor.fp32(name, shape, values);
            }
            case INT64: {
                long[] values = new long[flat.size()];
                for (int i = 0; i < values.length; i++) {
                    JsonNode element = flat.get(i);
                    if (!element.isIntegralNumber() || !element.canConvertToLong()) {
                        throw new ProtocolException(ErrorCode.INVALID_TENSOR,
                                where + ".data[" + i + "] is not a 64-bit integer");
                    }
                    values[i] = element.longValue();
                }
                return Tensor.int64(name, shape, values);
            }
            default: {
                List<String> values = new ArrayList<>(flat.size());
                for (int i = 0; i < flat.size(); i++) {
                    JsonNode element = flat.get(i);
                    if (!element.isTextual()) {
                        throw new ProtocolException(ErrorCode.INVALID_TENSOR, where + ".data[" + i + "] is not a string");
                    }
                    // The text limit holds for strings in tensors as for texts: a BYTES input is the same text.
                    if (element.textValue().length() > limits.maxTextChars()) {
                        throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE, where + ".data[" + i + "] has "
                                + element.textValue().length() + " characters; at most " + limits.maxTextChars());
                    }
                    values.add(element.textValue());
                }
                return Tensor.bytes(name, shape, values);
            }
        }
    }

    /**
     * A number in FP32 data: a JSON number within FP32's range (one beyond it would silently become infinity, so it
     * is refused; one too small for FP32 rounds to zero or a subnormal, as any decimal rounds to the nearest float),
     * or one of the strings "NaN", "Infinity", "-Infinity".
     */
    private static float fp32(JsonNode element, ErrorCode code, String array, int index) throws ProtocolException {
        try {
            return fp32(element, code);
        } catch (ProtocolException e) { // the element's name built only now
            throw new ProtocolException(code, array + "[" + index + "] " + e.getMessage());
        }
    }

    private static float fp32(JsonNode element, ErrorCode code, String object, String key) throws ProtocolException {
        try {
            return fp32(element, code);
        } catch (ProtocolException e) {
            throw new ProtocolException(code, object + "." + echo(key) + " " + e.getMessage());
        }
    }

    /**
     * The element's value, read once: this runs for every element of every FP32 tensor and embedding. A failure
     * says only what is wrong; the callers above name the element.
     */
    private static float fp32(JsonNode element, ErrorCode code) throws ProtocolException {
        if (element.isNumber()) {
            float value = element.floatValue();
            if (Float.isInfinite(value)) {
                throw new ProtocolException(code, "is outside the FP32 range (magnitude at most " + Float.MAX_VALUE
                        + ")");
            }
            return value;
        }
        Float nonFinite = element.isTextual() ? NON_FINITE.get(element.textValue()) : null;
        if (nonFinite == null) {
            throw new ProtocolException(code, "is not a number");
        }
        return nonFinite;
    }

    /**
     * OIP data is flat (row-major, any shape) or nested exactly as the shape: one array level per dimension, each
     * as long as its dimension. Either becomes one row-major list; anything else (ragged rows, a level too many or
     * too few) is {@code invalid_tensor}, never a guess at what was meant.
     */
    private static List<JsonNode> flatten(JsonNode data, long[] shape, long count, String where)
            throws ProtocolException {
        boolean nested = false;
        for (int i = 0; i < data.size() && !nested; i++) {
            nested = data.get(i).isArray();
        }
        if (!nested) {
            if (data.size() != count) {
                throw new ProtocolException(ErrorCode.INVALID_TENSOR, where + ".data has " + data.size()
                        + " elements but shape " + Arrays.toString(shape) + " needs " + count);
            }
            return new java.util.AbstractList<>() { // flat data as it is, not copied
                @Override
                public JsonNode get(int index) {
                    return data.get(index);
                }

                @Override
                public int size() {
                    return data.size();
                }
            };
        }
        // Grown as the data is read: a shape alone (perhaps a hostile one) allocates nothing.
        List<JsonNode> flat = new ArrayList<>((int) Math.min(count, 4096));
        flattenNested(data, shape, 0, flat, where + ".data", where);
        return flat;
    }

    private static void flattenNested(JsonNode node, long[] shape, int depth, List<JsonNode> out, String path,
                                      String where) throws ProtocolException {
        if (depth >= shape.length) {
            throw new ProtocolException(ErrorCode.INVALID_TENSOR, where + ".data is nested deeper than its shape "
                    + Arrays.toString(shape) + " (at " + path + ")");
        }
        if (!node.isArray() || node.size() != shape[depth]) {
            throw new ProtocolException(ErrorCode.INVALID_TENSOR, where + ".data is nested unlike its shape "
                    + Arrays.toString(shape) + ": " + path + " must be an array of " + shape[depth]
                    + (node.isArray() ? ", not " + node.size() : ""));
        }
        boolean last = depth == shape.length - 1;
        for (int i = 0; i < node.size(); i++) {
            JsonNode element = node.get(i);
            if (last) {
                if (element.isArray()) {
                    throw new ProtocolException(ErrorCode.INVALID_TENSOR, where + ".data is nested deeper than its "
                            + "shape " + Arrays.toString(shape) + " (at " + path + "[" + i + "])");
                }
                out.add(element);
            } else {
                flattenNested(element, shape, depth + 1, out, path + "[" + i + "]", where);
            }
        }
    }

    // ----------------------------------------------------------------------------------------------- replies

    public byte[] encodeReply(InferenceReply reply) {
        return write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("id", reply.id());
            gen.writeStringField("model", reply.model());
            if (reply.version() != null) {
                gen.writeStringField("version", reply.version());
            }
            if (reply.error() != null) {
                gen.writeObjectFieldStart("error");
                gen.writeStringField("code", reply.error().code().wireName());
                gen.writeStringField("message", reply.error().message());
                gen.writeEndObject();
            } else {
                gen.writeArrayFieldStart("outputs");
                for (Output output : reply.outputs()) {
                    writeOutput(gen, output);
                }
                gen.writeEndArray();
            }
            writeTimings(gen, "timings", reply.timings(), true);
            gen.writeEndObject();
        });
    }

    public InferenceReply decodeReply(byte[] value) throws ProtocolException {
        JsonNode root = parse(value);
        if (!root.isObject()) {
            throw invalid("a reply must be a JSON object");
        }
        String id = requiredString(root, "id", MAX_ID_CHARS);
        String model = root.path("model").asText("");
        String version = optionalVersion(root.get("version"));
        Timings timings = null;
        JsonNode t = root.get("timings");
        if (t != null && t.isObject()) {
            timings = new Timings(t.path("queue_ms").asDouble(), t.path("inference_ms").asDouble(),
                    t.path("batch_size").asInt(), t.hasNonNull("worker") ? t.get("worker").asText() : null,
                    t.path("cached").asBoolean(false));
        }
        JsonNode error = root.get("error");
        if (error != null && !error.isNull()) {
            if (!error.isObject() || !error.path("code").isTextual()) {
                throw invalid("a reply's 'error' must be an object with a string 'code'");
            }
            String codeName = error.path("code").asText("");
            ErrorCode code = ErrorCode.fromWireName(codeName).orElse(ErrorCode.INTERNAL);
            String message = error.path("message").asText("");
            if (ErrorCode.fromWireName(codeName).isEmpty()) {
                message = "unknown error code " + echo(codeName) + ": " + message;
            }
            return InferenceReply.failure(id, model, version, new ErrorInfo(code, message), timings);
        }
        JsonNode outputs = root.get("outputs");
        if (outputs == null || !outputs.isArray()) {
            throw invalid("a reply needs 'outputs' or 'error'");
        }
        List<Output> decoded = new ArrayList<>(outputs.size());
        for (int i = 0; i < outputs.size(); i++) {
            decoded.add(decodeOutput(outputs.get(i), "outputs[" + i + "]"));
        }
        return InferenceReply.success(id, model, version, decoded, timings);
    }

    private Output decodeOutput(JsonNode node, String where) throws ProtocolException {
        if (!node.isObject()) {
            throw invalid(where + " must be an object");
        }
        if (node.has("datatype")) {
            return decodeTensor(node, where);
        }
        if (node.has("embedding")) {
            JsonNode vector = node.get("embedding");
            if (!vector.isArray()) {
                throw invalid(where + ".embedding must be an array");
            }
            float[] values = new float[vector.size()];
            String embedding = where + ".embedding";
            for (int i = 0; i < values.length; i++) {
                values[i] = fp32(vector.get(i), ErrorCode.INVALID_REQUEST, embedding, i);
            }
            return new Embedding(values);
        }
        if (node.has("label")) {
            // A reply is decoded as strictly as a request: a null label or a score that is not a number is a
            // broken worker, not something to turn into the string "null" or the number 0.
            if (!node.get("label").isTextual()) {
                throw invalid(where + ".label must be a string");
            }
            JsonNode scoreNode = node.get("scores");
            if (scoreNode != null && !scoreNode.isNull() && !scoreNode.isObject()) {
                throw invalid(where + ".scores must be an object of numbers");
            }
            Map<String, Float> scores = new LinkedHashMap<>();
            Iterator<Map.Entry<String, JsonNode>> fields = node.path("scores").fields();
            while (fields.hasNext()) {
                Map.Entry<String, JsonNode> field = fields.next();
                scores.put(field.getKey(), fp32(field.getValue(), ErrorCode.INVALID_REQUEST, where + ".scores",
                        field.getKey()));
            }
            return new Classification(node.get("label").textValue(), scores);
        }
        throw invalid(where + " is neither a tensor, an embedding nor a classification");
    }

    private static void writeOutput(JsonGenerator gen, Output output) throws IOException {
        if (output instanceof Classification c) {
            gen.writeStartObject();
            gen.writeStringField("label", c.label());
            gen.writeObjectFieldStart("scores");
            for (Map.Entry<String, Float> score : c.scores().entrySet()) {
                gen.writeNumberField(score.getKey(), score.getValue());
            }
            gen.writeEndObject();
            gen.writeEndObject();
        } else if (output instanceof Embedding e) {
            gen.writeStartObject();
            gen.writeFieldName("embedding");
            writeFloats(gen, e.vector());
            gen.writeEndObject();
        } else if (output instanceof Tensor t) {
            writeTensor(gen, t);
        }
    }

    /**
     * A reply's timings as an object field (nothing when null), milliseconds rounded to microseconds: the one
     * writer for Kafka replies and the gateway's answers. The worker's id is left out of HTTP answers.
     */
    public static void writeTimings(JsonGenerator gen, String field, Timings timings, boolean withWorker)
            throws IOException {
        if (timings == null) {
            return;
        }
        gen.writeObjectFieldStart(field);
        gen.writeNumberField("queue_ms", round3(timings.queueMs()));
        gen.writeNumberField("inference_ms", round3(timings.inferenceMs()));
        gen.writeNumberField("batch_size", timings.batchSize());
        if (withWorker && timings.worker() != null) {
            gen.writeStringField("worker", timings.worker());
        }
        if (timings.cached()) {
            gen.writeBooleanField("cached", true);
        }
        gen.writeEndObject();
    }

    /** Writes a tensor in OIP form (flat row-major data). Public for the gateway's OIP responses. */
    public static void writeTensor(JsonGenerator gen, Tensor tensor) throws IOException {
        gen.writeStartObject();
        gen.writeStringField("name", tensor.name());
        gen.writeStringField("datatype", tensor.datatype().name());
        gen.writeArrayFieldStart("shape");
        for (long dim : tensor.shape()) {
            gen.writeNumber(dim);
        }
        gen.writeEndArray();
        gen.writeFieldName("data");
        switch (tensor.datatype()) {
            case FP32 -> writeFloats(gen, tensor.fp32());
            case INT64 -> {
                gen.writeStartArray();
                for (long v : tensor.int64()) {
                    gen.writeNumber(v);
                }
                gen.writeEndArray();
            }
            case BYTES -> {
                gen.writeStartArray();
                for (String v : tensor.bytes()) {
                    gen.writeString(v);
                }
                gen.writeEndArray();
            }
        }
        gen.writeEndObject();
    }

    private static void writeFloats(JsonGenerator gen, float[] values) throws IOException {
        gen.writeStartArray();
        for (float v : values) {
            gen.writeNumber(v);
        }
        gen.writeEndArray();
    }

    // ------------------------------------------------------------------------------------------------ catalog

    public byte[] encodeAnnouncement(ModelAnnouncement announcement) {
        return write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("model", announcement.model());
            gen.writeStringField("worker", announcement.worker());
            gen.writeNumberField("timestamp_ms", announcement.timestampMs());
            gen.writeNumberField("interval_ms", announcement.intervalMs());
            gen.writeArrayFieldStart("versions");
            for (ModelMetadata version : announcement.versions()) {
                writeMetadata(gen, version);
            }
            gen.writeEndArray();
            if (!announcement.stats().isEmpty()) {
                gen.writeObjectFieldStart("stats");
                for (Map.Entry<String, Double> stat : new TreeMap<>(announcement.stats()).entrySet()) {
                    gen.writeNumberField(stat.getKey(), stat.getValue());
                }
                gen.writeEndObject();
            }
            gen.writeEndObject();
        });
    }

    public ModelAnnouncement decodeAnnouncement(byte[] value) throws ProtocolException {
        JsonNode root = parse(value);
        if (!root.isObject()) {
            throw invalid("an announcement must be a JSON object");
        }
        List<ModelMetadata> versions = new ArrayList<>();
        for (JsonNode version : root.path("versions")) {
            versions.add(decodeMetadata(version));
        }
        Map<String, Double> stats = new LinkedHashMap<>();
        root.path("stats").fields().forEachRemaining(field -> {
            if (field.getValue().isNumber()) {
                stats.put(field.getKey(), field.getValue().doubleValue());
            }
        });
        return new ModelAnnouncement(requiredString(root, "model", 100), requiredString(root, "worker", 256),
                root.path("timestamp_ms").asLong(), root.path("interval_ms").asLong(5000), versions, stats);
    }

    private static void writeMetadata(JsonGenerator gen, ModelMetadata metadata) throws IOException {
        gen.writeStartObject();
        gen.writeStringField("name", metadata.name());
        gen.writeStringField("version", metadata.version());
        gen.writeStringField("kind", metadata.kind());
        gen.writeStringField("postprocessing", metadata.postprocessing());
        gen.writeFieldName("inputs");
        writeTensorMetadata(gen, metadata.inputs());
        gen.writeFieldName("outputs");
        writeTensorMetadata(gen, metadata.outputs());
        gen.writeArrayFieldStart("labels");
        for (String label : metadata.labels()) {
            gen.writeString(label);
        }
        gen.writeEndArray();
        gen.writeNumberField("max_batch_size", metadata.maxBatchSize());
        gen.writeStringField("description", metadata.description());
        gen.writeEndObject();
    }

    private static void writeTensorMetadata(JsonGenerator gen, List<TensorMetadata> tensors) throws IOException {
        gen.writeStartArray();
        for (TensorMetadata tensor : tensors) {
            gen.writeStartObject();
            gen.writeStringField("name", tensor.name());
            gen.writeStringField("datatype", tensor.datatype().name());
            gen.writeArrayFieldStart("shape");
            for (long dim : tensor.shape()) {
                gen.writeNumber(dim);
            }
            gen.writeEndArray();
            gen.writeEndObject();
        }
        gen.writeEndArray();
    }

    private static ModelMetadata decodeMetadata(JsonNode node) throws ProtocolException {
        List<String> labels = new ArrayList<>();
        node.path("labels").forEach(label -> labels.add(label.asText()));
        return new ModelMetadata(requiredString(node, "name", 100), requiredString(node, "version", 64),
                requiredString(node, "kind", 16), node.path("postprocessing").asText("none"),
                decodeTensorMetadata(node.path("inputs")), decodeTensorMetadata(node.path("outputs")), labels,
                node.path("max_batch_size").asInt(0), node.path("description").asText(""));
    }

    private static List<TensorMetadata> decodeTensorMetadata(JsonNode array) throws ProtocolException {
        List<TensorMetadata> tensors = new ArrayList<>();
        for (JsonNode node : array) {
            DataType type = DataType.fromName(node.path("datatype").asText())
                    .orElseThrow(() -> invalid("unknown datatype in model metadata"));
            long[] shape = new long[node.path("shape").size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = node.path("shape").get(i).asLong();
            }
            tensors.add(new TensorMetadata(requiredString(node, "name", 256), type, shape));
        }
        return tensors;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /**
     * JSON starts with an ASCII character, which UTF-16 and UTF-32 write with a zero byte beside it (UTF-8 never has
     * one outside an escape); their byte-order marks start with FE FF or FF FE.
     */
    private static boolean utf16or32(byte[] value) {
        for (int i = 0; i < Math.min(4, value.length); i++) {
            if (value[i] == 0) {
                return true;
            }
        }
        return value.length >= 2 && ((value[0] == (byte) 0xFE && value[1] == (byte) 0xFF)
                || (value[0] == (byte) 0xFF && value[1] == (byte) 0xFE));
    }

    /** Parses bytes into a tree, mapping every failure to {@code malformed} or {@code input_too_large}. */
    public JsonNode parse(byte[] value) throws ProtocolException {
        if (value == null || value.length == 0) {
            throw new ProtocolException(ErrorCode.MALFORMED, "the JSON document is empty");
        }
        if (value.length > limits.maxRecordBytes()) {
            throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE,
                    "the JSON document has " + value.length + " bytes; at most " + limits.maxRecordBytes());
        }
        if (utf16or32(value)) {
            // Jackson would detect and read them; the protocol is UTF-8, and a producer should learn so here.
            throw new ProtocolException(ErrorCode.MALFORMED,
                    "the JSON document is not UTF-8 (it looks like UTF-16 or UTF-32)");
        }
        try (JsonParser parser = factory.createParser(value)) {
            JsonNode root = reader.readTree(parser);
            if (root == null || root.isMissingNode()) {
                throw new ProtocolException(ErrorCode.MALFORMED, "the JSON document holds no value");
            }
            return root;
        } catch (StreamConstraintsException e) {
            throw new ProtocolException(ErrorCode.MALFORMED, "JSON exceeds a limit: " + jsonProblem(e));
        } catch (JsonProcessingException e) {
            throw new ProtocolException(ErrorCode.MALFORMED, "not valid JSON: " + jsonProblem(e));
        } catch (IOException | RuntimeException e) {
            // Jackson reports bad UTF-8 and a few other input faults as plain IOExceptions or runtime errors.
            throw new ProtocolException(ErrorCode.MALFORMED, "not valid UTF-8 JSON");
        }
    }

    private static String requiredString(JsonNode node, String field, int maxChars) throws ProtocolException {
        return requiredString(node, field, maxChars, null);
    }

    private static String requiredString(JsonNode node, String field, int maxChars, String where)
            throws ProtocolException {
        String path = where == null ? "field '" + field + "'" : where + "." + field;
        JsonNode value = node.get(field);
        if (value == null || value.isNull()) {
            throw invalid(path + " is required");
        }
        if (!value.isTextual()) {
            throw invalid(path + " must be a string");
        }
        String text = value.textValue();
        if (text.isEmpty() || text.length() > maxChars) {
            throw invalid(path + " must be 1 to " + maxChars + " characters");
        }
        return text;
    }

    /** A request's optional {@code version} field: null, a non-empty string, or a non-negative integer. */
    public static String optionalVersion(JsonNode node) throws ProtocolException {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual() && !node.textValue().isEmpty() && node.textValue().length() <= 64) {
            return node.textValue();
        }
        if (node.isIntegralNumber() && node.canConvertToLong() && node.longValue() >= 0) {
            return Long.toString(node.longValue());
        }
        throw invalid("field 'version' must be a non-empty string (or a non-negative integer)");
    }

    private static ProtocolException invalid(String message) {
        return new ProtocolException(ErrorCode.INVALID_REQUEST, message);
    }

    /** What Jackson says of a caller's JSON that means nothing to the caller: Java types and parser settings. */
    private static final Pattern JACKSON_INTERNALS = Pattern.compile(" \\(bound as `[^`]*`\\)"
            + "|: not allowed as per `[^`]*`|: enable `[^`]*` to allow|, from `[^`]*`"
            + "|Source: REDACTED \\(`[^`]*` disabled\\); "
            + "| \\(not recognized as one since Feature '[^']*' not enabled for parser\\)");

    /**
     * Jackson's account of bad JSON, for the caller who sent it: without the Java types and parser settings it
     * names (which the caller can neither see nor set), with where it went wrong, and what to send instead of
     * NaN or infinity, which JSON has no number for (Python's {@code json.dumps} writes them bare).
     */
    static String jsonProblem(JsonProcessingException e) {
        String message = e.getOriginalMessage() == null ? "" : e.getOriginalMessage();
        // Any other setting Jackson names (`Type.method()`), but not a token of the caller's that holds backticks.
        message = JACKSON_INTERNALS.matcher(message).replaceAll("")
                .replaceAll("`[A-Za-z_$][\\w$]*(\\.[\\w$]+)+(\\(\\))?`", "a parser limit");
        if (message.startsWith("Non-standard token '")) {
            message += "; JSON has no NaN or infinity: send them as the strings \"NaN\", \"Infinity\", \"-Infinity\"";
        }
        JsonLocation at = e.getLocation();
        // Shortened before the location is added, so that a long token cannot cut it off.
        return echo(message) + (at != null && at.getLineNr() > 0
                ? " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")" : "");
    }

    /** Input echoed into an error message is shortened, so a huge bogus value cannot bloat the reply. */
    private static String echo(String text) {
        if (text == null) {
            return "";
        }
        String oneLine = text.replaceAll("[\\r\\n\\t]+", " ");
        return oneLine.length() <= MAX_MESSAGE_ECHO ? oneLine : oneLine.substring(0, MAX_MESSAGE_ECHO) + "...";
    }

    private static double round3(double value) {
        return Math.round(value * 1000.0) / 1000.0;
    }

    @FunctionalInterface
    private interface JsonWriter {
        void write(JsonGenerator gen) throws IOException;
    }

    private byte[] write(JsonWriter writer) {
        try (ByteArrayBuilder out = new ByteArrayBuilder(512)) {
            try (JsonGenerator gen = factory.createGenerator(out, JsonEncoding.UTF8)) {
                writer.write(gen);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException("JSON encoding failed", e);
        }
    }
}
