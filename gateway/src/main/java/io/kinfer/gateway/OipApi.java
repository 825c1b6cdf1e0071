package io.kinfer.gateway;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Function;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import io.kinfer.client.InferenceClient;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.TensorMetadata;
import io.kinfer.protocol.Timings;
import io.vertx.core.Future;
import io.vertx.ext.web.RoutingContext;

/**
 * The Open Inference Protocol (KServe / Triton "v2") REST endpoints, as the specification defines them: health,
 * server and model metadata, model readiness, and infer with JSON tensors. Text models take one BYTES input of
 * shape [N] and answer {@code label} (BYTES [N]) and {@code scores} (FP32 [N, labels]) or {@code embedding}
 * (FP32 [N, dim]); tensor models take and return FP32/INT64 tensors. Errors are {@code {"error": "..."}}.
 * Triton's binary tensor extension is not supported and is refused with 400.
 */
final class OipApi {

    static final String SERVER_NAME = "kinfer";
    static final String SERVER_VERSION = "0.1.0";
    /** Triton's extension for GET .../config, named in the server metadata as Triton names it. */
    static final String MODEL_CONFIGURATION = "model_configuration";
    /** Triton's binary tensor extension: the length of the JSON header before the binary data. */
    static final String BINARY_HEADER = "Inference-Header-Content-Length";

    private final Inference inference;
    private final InferenceClient client;
    private final BooleanSupplier draining;

    OipApi(Inference inference, InferenceClient client, BooleanSupplier draining) {
        this.inference = inference;
        this.client = client;
        this.draining = draining;
    }

    void handleServerMetadata(RoutingContext ctx) {
        Responses.json(ctx, 200, gen -> {
            gen.writeStartObject();
            gen.writeStringField("name", SERVER_NAME);
            gen.writeStringField("version", SERVER_VERSION);
            gen.writeArrayFieldStart("extensions");
            gen.writeString(MODEL_CONFIGURATION);
            gen.writeEndArray();
            gen.writeEndObject();
        });
    }

    void handleLive(RoutingContext ctx) {
        Responses.json(ctx, 200, gen -> {
            gen.writeStartObject();
            gen.writeBooleanField("live", true);
            gen.writeEndObject();
        });
    }

    /** Ready when Kafka is reachable and the reply consumer is positioned. The spec answers false with a 4xx. */
    void handleReady(RoutingContext ctx) {
        boolean ready = client.ready() && !draining.getAsBoolean();
        Responses.json(ctx, ready ? 200 : 400, gen -> {
            gen.writeStartObject();
            gen.writeBooleanField("ready", ready);
            gen.writeEndObject();
        });
    }

    void handleModelMetadata(RoutingContext ctx) {
        String model = ctx.pathParam("model");
        ModelMetadata metadata = inference.resolve(model, ctx.pathParam("version"));
        List<String> versions = inference.catalog().versions(model).stream().map(ModelMetadata::version).toList();
        Responses.json(ctx, 200, gen -> {
            gen.writeStartObject();
            gen.writeStringField("name", metadata.name());
            gen.writeArrayFieldStart("versions");
            for (String version : versions) {
                gen.writeString(version);
            }
            gen.writeEndArray();
            gen.writeStringField("platform", ModelMetadata.PLATFORM);
            writeTensorMetadata(gen, "inputs", metadata.inputs());
            writeTensorMetadata(gen, "outputs", metadata.outputs());
            gen.writeEndObject();
        });
    }

    /**
     * Triton's model configuration extension ({@code GET .../config}), which tritonclient's {@code get_model_config}
     * and perf_analyzer read before they send: the version's {@code ModelConfig} as far as kinfer knows it. As in
     * Triton, a {@code max_batch_size} above 0 means the first dimension of every input and output is the batch,
     * left out of {@code dims}; 0 (a text model, whose texts batch one by one, or a tensor model with no announced
     * limit or a fixed first dimension) gives the full shapes.
     */
    void handleModelConfig(RoutingContext ctx) {
        ModelMetadata metadata = inference.resolve(ctx.pathParam("model"), ctx.pathParam("version"));
        boolean batched = !metadata.isText() && metadata.maxBatchSize() > 0
                && metadata.inputs().stream().allMatch(OipApi::batchFirst)
                && metadata.outputs().stream().allMatch(OipApi::batchFirst);
        Responses.json(ctx, 200, gen -> {
            gen.writeStartObject();
            gen.writeStringField("name", metadata.name());
            gen.writeStringField("platform", ModelMetadata.PLATFORM);
            gen.writeStringField("backend", "onnxruntime");
            gen.writeNumberField("max_batch_size", batched ? metadata.maxBatchSize() : 0);
            writeTensorConfig(gen, "input", metadata.inputs(), batched);
            writeTensorConfig(gen, "output", metadata.outputs(), batched);
            if (batched) {
                gen.writeObjectFieldStart("dynamic_batching"); // the workers batch every tensor model's requests
                gen.writeEndObject();
            }
            gen.writeEndObject();
        });
    }

    private static boolean batchFirst(TensorMetadata tensor) {
        return tensor.shape().length > 0 && tensor.shape()[0] < 0;
    }

    /** Triton's {@code ModelInput}/{@code ModelOutput}: {@code data_type} as {@code TYPE_*}, BYTES as TYPE_STRING. */
    private static void writeTensorConfig(JsonGenerator gen, String field, List<TensorMetadata> tensors,
                                          boolean batched) throws IOException {
        gen.writeArrayFieldStart(field);
        for (TensorMetadata tensor : tensors) {
            gen.writeStartObject();
            gen.writeStringField("name", tensor.name());
            gen.writeStringField("data_type", tensor.datatype() == DataType.BYTES ? "TYPE_STRING"
                    : "TYPE_" + tensor.datatype().name());
            gen.writeArrayFieldStart("dims");
            long[] shape = tensor.shape();
            for (int d = batched ? 1 : 0; d < shape.length; d++) {
                gen.writeNumber(shape[d]);
            }
            gen.writeEndArray();
            gen.writeEndObject();
        }
        gen.writeEndArray();
    }

    void handleModelReady(RoutingContext ctx) {
        String model = ctx.pathParam("model");
        String version = ctx.pathParam("version");
        ModelMetadata metadata = inference.resolve(model, version);
        boolean ready = client.ready() && inference.catalog().ready(model, version);
        Responses.json(ctx, ready ? 200 : 400, gen -> {
            gen.writeStartObject();
            gen.writeStringField("name", metadata.name());
            gen.writeBooleanField("ready", ready);
            gen.writeEndObject();
        });
    }

    void handleInfer(RoutingContext ctx) {
        // As Triton decides: binary tensor data only with this header; the Content-Type does not say (a JSON body
        // sent as application/octet-stream is JSON to Triton, and so here).
        if (ctx.request().getHeader(BINARY_HEADER) != null) {
            throw HttpError.badRequest("binary tensor data is not supported; send JSON tensors (binary_data=False)");
        }
        JsonNode body = inference.body(ctx);
        String model = ctx.pathParam("model");
        String requestedVersion = ctx.pathParam("version");
        ModelMetadata metadata = inference.resolve(model, requestedVersion);
        JsonNode idNode = body.get("id");
        if (idNode != null && !idNode.isNull() && !idNode.isTextual()) {
            throw HttpError.badRequest("field 'id' must be a string");
        }
        // The OIP's id is any string (the specification sets no length), echoed in the answer.
        String id = idNode == null || idNode.isNull() ? inference.newId() : idNode.textValue();
        JsonNode parameters = parameters(body, "field 'parameters'");
        Duration timeout = inference.oipTimeout(ctx, parameters);
        int priority = inference.tritonPriority(ctx, parameters.path("priority"));
        Set<String> requested = requestedOutputs(body, metadata);
        List<Tensor> inputs = inputs(body);
        if (metadata.isText()) {
            inferText(ctx, metadata, requestedVersion, id, inputs, requested, timeout, priority);
        } else {
            inference.checkRows(inputs.get(0).batchSize());
            checkInputs(metadata, requestedVersion, inputs);
            // The caller's id names the Kafka request too (the workers' logs and dead letters show it), where the
            // wire protocol takes it: 1 to 256 characters. Any other is only echoed; the request gets one made up.
            // (Replies are matched by the client's own correlation id either way.)
            String wireId = id.isEmpty() || id.length() > JsonCodec.MAX_ID_CHARS ? inference.newId() : id;
            InferenceRequest request = new InferenceRequest(wireId, model, requestedVersion, null, inputs);
            Future<List<InferenceReply>> replies = inference.call(ctx, request, timeout, priority).map(List::of);
            Inference.answer(ctx, replies, answered -> {
                InferenceReply reply = answered.get(0);
                List<Tensor> outputs = new ArrayList<>();
                for (Output output : reply.outputs()) {
                    if (output instanceof Tensor t && (requested.isEmpty() || requested.contains(t.name()))) {
                        outputs.add(t);
                    }
                }
                respond(ctx, reply.model(), reply.version(), reply.timings(), id, outputs);
            });
        }
    }

    private void inferText(RoutingContext ctx, ModelMetadata metadata, String version, String id, List<Tensor> inputs,
                           Set<String> requested, Duration timeout, int priority) {
        if (inputs.size() != 1 || inputs.get(0).datatype() != DataType.BYTES) {
            throw HttpError.badRequest("model '" + metadata.name() + "' takes one BYTES input of shape [N] (the texts)");
        }
        Tensor input = inputs.get(0);
        long[] shape = input.shape();
        if (shape.length == 0 || shape.length > 2 || (shape.length == 2 && shape[1] != 1)) {
            throw HttpError.badRequest("the BYTES input must have shape [N] or [N, 1]");
        }
        inference.checkTextCount(input.bytes().size(), "input '" + input.name() + "'");
        List<String> texts = new ArrayList<>(input.bytes().size());
        for (int i = 0; i < input.bytes().size(); i++) {
            texts.add(inference.text(com.fasterxml.jackson.databind.node.TextNode.valueOf(input.bytes().get(i)),
                    input.name() + "[" + i + "]"));
        }
        Inference.answer(ctx, inference.callEach(ctx, metadata.name(), version, texts,
                        i -> input.name() + "[" + i + "]", timeout, priority),
                replies -> respond(ctx, replies.get(0).model(), replies.get(0).version(), slowest(replies), id,
                        textOutputs(metadata,
                        answered -> labels(metadata.name(), answered), replies, requested)));
    }

    /** A version's labels from the catalog; none for a version it does not know (or a reply without one). */
    private List<String> labels(String model, String version) {
        return version == null ? List.of()
                : inference.catalog().metadata(model, version).map(ModelMetadata::labels).orElse(List.of());
    }

    /**
     * A tensor model's inputs checked as its worker will check them, so a request it could only refuse (and
     * dead-letter) is not sent. Without a version, any version served may take it (a rollout may change inputs).
     */
    private void checkInputs(ModelMetadata metadata, String requestedVersion, List<Tensor> inputs) {
        try {
            checkTakes(metadata, inputs);
        } catch (ProtocolException e) {
            List<ModelMetadata> others = requestedVersion != null ? List.of()
                    : inference.catalog().versions(metadata.name());
            for (ModelMetadata other : others) {
                try {
                    checkTakes(other, inputs);
                    return;
                } catch (ProtocolException ignored) {
                    // the resolved (latest) version's error is the one reported
                }
            }
            throw new HttpError(e.code().httpStatus(), e.code().wireName(), e.getMessage());
        }
    }

    /**
     * What a worker serving the version refuses: inputs it does not take, and more rows than its
     * {@code max_batch_size} (0: not announced, so not checked). The message is the worker's own.
     */
    private static void checkTakes(ModelMetadata metadata, List<Tensor> inputs) throws ProtocolException {
        metadata.checkInputs(inputs);
        long rows = inputs.get(0).batchSize(); // one first dimension, shared by all (decodeTensors)
        if (metadata.maxBatchSize() > 0 && rows > metadata.maxBatchSize()) {
            throw new ProtocolException(ErrorCode.INPUT_TOO_LARGE, "the request has " + rows + " rows; model "
                    + metadata.name() + " takes at most " + metadata.maxBatchSize() + " per call");
        }
    }

    /**
     * The answer tensors of a text model. A classifier's scores are in the label order of the version that
     * answered ({@code labelsOf} a version, from the catalog), not the version resolved before sending: during a
     * rollout the two may differ. A version the catalog no longer knows gives the reply's own label order.
     */
    static List<Tensor> textOutputs(ModelMetadata metadata, Function<String, List<String>> labelsOf,
                                    List<InferenceReply> replies, Set<String> requested) {
        int n = replies.size();
        List<Tensor> outputs = new ArrayList<>();
        Output first = Inference.prediction(replies.get(0));
        for (InferenceReply reply : replies.subList(1, n)) {
            Output output = Inference.prediction(reply);
            // One answer tensor holds every text's row: rows from two model versions (a rollout under way)
            // need not even have the same width, and the answer can name only one version.
            if (!Objects.equals(reply.version(), replies.get(0).version()) || output.getClass() != first.getClass()
                    || (output instanceof Embedding e && e.vector().length != ((Embedding) first).vector().length)) {
                throw new HttpError(503, "unavailable", "the texts were computed by different versions of model "
                        + metadata.name() + " (" + replies.get(0).version() + ", " + reply.version()
                        + "): a rollout is under way; retry");
            }
        }
        if (first instanceof Classification firstClassification) {
            List<String> labels = labelsOf.apply(replies.get(0).version());
            if (labels.isEmpty()) {
                labels = List.copyOf(firstClassification.scores().keySet());
            }
            Set<String> named = Set.copyOf(labels);
            List<String> best = new ArrayList<>(n);
            float[] scores = new float[n * labels.size()];
            for (int i = 0; i < n; i++) {
                Classification c = (Classification) replies.get(i).outputs().get(0);
                // A made-up 0 or a dropped label would be wrong data; the version's labels are all scored.
                if (!c.scores().keySet().equals(named)) {
                    throw new HttpError(502, "bad_reply", "the reply of model " + metadata.name() + " version "
                            + replies.get(i).version() + " scores " + c.scores().keySet() + ", not its labels "
                            + labels);
                }
                best.add(c.label());
                for (int l = 0; l < labels.size(); l++) {
                    scores[i * labels.size() + l] = c.scores().get(labels.get(l));
                }
            }
            outputs.add(Tensor.bytes("label", new long[] {n}, best));
            outputs.add(Tensor.fp32("scores", new long[] {n, labels.size()}, scores));
        } else if (first instanceof Embedding e) {
            int dim = e.vector().length;
            float[] data = new float[n * dim];
            for (int i = 0; i < n; i++) {
                System.arraycopy(((Embedding) replies.get(i).outputs().get(0)).vector(), 0, data, i * dim, dim);
            }
            outputs.add(Tensor.fp32("embedding", new long[] {n, dim}, data));
        }
        outputs.removeIf(t -> !requested.isEmpty() && !requested.contains(t.name()));
        return outputs;
    }

    private static void respond(RoutingContext ctx, String model, String version, Timings timings, String id,
                                List<Tensor> outputs) {
        Responses.json(ctx, 200, gen -> {
            gen.writeStartObject();
            gen.writeStringField("model_name", model);
            if (version != null) {
                gen.writeStringField("model_version", version);
            }
            gen.writeStringField("id", id);
            // OIP allows response parameters; these say where the time went in the worker.
            JsonCodec.writeTimings(gen, "parameters", timings, false);
            gen.writeArrayFieldStart("outputs");
            for (Tensor tensor : outputs) {
                JsonCodec.writeTensor(gen, tensor);
            }
            gen.writeEndArray();
            gen.writeEndObject();
        });
    }

    /**
     * The timings of a text call, whose texts were requests of their own: the longest queue and inference times
     * and the largest batch among them (what the call waited for), cached only when every text was.
     */
    static Timings slowest(List<InferenceReply> replies) {
        double queue = 0;
        double inference = 0;
        int batch = 0;
        boolean cached = true;
        String worker = null;
        boolean any = false;
        for (InferenceReply reply : replies) {
            Timings t = reply.timings();
            if (t == null) {
                continue; // a reply without timings (the wire protocol makes them optional) adds nothing
            }
            any = true;
            if (worker == null || t.queueMs() + t.inferenceMs() > queue + inference) {
                worker = t.worker(); // the worker of the slowest text, beside its times
            }
            queue = Math.max(queue, t.queueMs());
            inference = Math.max(inference, t.inferenceMs());
            batch = Math.max(batch, t.batchSize());
            cached &= t.cached();
        }
        return any ? new Timings(queue, inference, batch, worker, cached) : null;
    }

    /** The input tensors, with the checks a worker makes on a request's tensors (the protocol's own). */
    private List<Tensor> inputs(JsonNode body) {
        JsonNode inputs = body.get("inputs");
        if (inputs == null || !inputs.isArray() || inputs.isEmpty()) {
            throw HttpError.badRequest("field 'inputs' must be a non-empty array of tensors");
        }
        for (int i = 0; i < inputs.size(); i++) {
            parameters(inputs.get(i), "inputs[" + i + "].parameters");
        }
        try {
            return inference.codec().decodeTensors(inputs);
        } catch (ProtocolException e) {
            throw new HttpError(e.code().httpStatus(), e.code().wireName(), e.getMessage());
        }
    }

    private static Set<String> requestedOutputs(JsonNode body, ModelMetadata metadata) {
        Set<String> names = new LinkedHashSet<>();
        JsonNode outputs = body.get("outputs");
        if (outputs == null || outputs.isNull()) {
            return names;
        }
        if (!outputs.isArray()) {
            throw HttpError.badRequest("field 'outputs' must be an array of {\"name\": ...}");
        }
        Set<String> known = new LinkedHashSet<>();
        metadata.outputs().forEach(o -> known.add(o.name()));
        for (JsonNode output : outputs) {
            String name = output.path("name").asText("");
            if (!known.contains(name)) {
                throw HttpError.badRequest("unexpected inference output '" + name + "' for model '" + metadata.name()
                        + "'; outputs: " + known);
            }
            // Triton's classification extension turns the output into "score:index:label" strings; answering the
            // raw tensor instead would hand the caller another type and meaning without a word.
            if (parameters(output, "output '" + name + "' parameters").has("classification")) {
                throw HttpError.badRequest("output '" + name + "' asks for classification, an extension kinfer does "
                        + "not have; ask for the tensor itself (a text classifier's 'label' and 'scores' outputs are "
                        + "its classes)");
            }
            names.add(name);
        }
        return names;
    }

    /**
     * The {@code parameters} object of a request, an input or an output (the specification's {@code $parameters}),
     * empty when absent; 400 when it is there but not an object, which a client written from the spec never sends.
     */
    private static JsonNode parameters(JsonNode owner, String where) {
        JsonNode parameters = owner.path("parameters");
        if (parameters.isMissingNode() || parameters.isNull()) {
            return MissingNode.getInstance();
        }
        if (!parameters.isObject()) {
            throw HttpError.badRequest(where + " must be an object");
        }
        return parameters;
    }

    private static void writeTensorMetadata(JsonGenerator gen, String field, List<TensorMetadata> tensors)
            throws IOException {
        gen.writeArrayFieldStart(field);
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
}
