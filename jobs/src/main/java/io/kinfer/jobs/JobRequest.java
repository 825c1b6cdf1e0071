package io.kinfer.jobs;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.protocol.BlankText;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.Topics;

/**
 * A job as asked for in the body of {@code POST /v1/jobs}: the /predict_batch form {@code {"texts": [...],
 * "model"}} or an Open Inference Protocol infer body {@code {"inputs": [{"name", "datatype": "BYTES", "shape":
 * [N], "data": [...]}], "model"}}; {@code model} is required in both, {@code version} and {@code callback} are
 * optional. Every text is checked as a worker would, so a bad item fails the call before anything is sent.
 */
record JobRequest(String model, String version, List<String> texts, String callback) {

    private static final int MAX_CALLBACK_CHARS = 2048;

    static JobRequest parse(byte[] body, JsonCodec codec, int maxItems) {
        if (body == null || body.length == 0) {
            throw new JobsHttpError(400, "malformed", "the request needs a JSON body");
        }
        JsonNode root;
        try {
            root = codec.parse(body);
        } catch (ProtocolException e) {
            boolean tooLarge = e.code() == ErrorCode.INPUT_TOO_LARGE;
            throw new JobsHttpError(tooLarge ? 413 : 400, tooLarge ? "input_too_large" : "malformed", e.getMessage());
        }
        if (!root.isObject()) {
            throw JobsHttpError.badRequest("the body must be a JSON object");
        }
        String model = model(root.get("model"));
        String version = version(root.get("version"));
        JsonNode texts = root.get("texts");
        JsonNode inputs = root.get("inputs");
        boolean hasTexts = texts != null && !texts.isNull();
        boolean hasInputs = inputs != null && !inputs.isNull();
        if (hasTexts == hasInputs) {
            throw JobsHttpError.badRequest("a job needs either 'texts' (an array of strings) or 'inputs' (one BYTES "
                    + "tensor of shape [N]), not " + (hasTexts ? "both" : "neither"));
        }
        List<String> items = hasTexts ? texts(texts, codec, maxItems) : tensorTexts(inputs, codec, maxItems);
        return new JobRequest(model, version, items, callback(root.get("callback")));
    }

    private static String model(JsonNode node) {
        if (node == null || node.isNull()) {
            throw JobsHttpError.badRequest("field 'model' is required");
        }
        if (!node.isTextual()) {
            throw JobsHttpError.badRequest("field 'model' must be a string");
        }
        if (!Topics.isValidModelName(node.textValue())) {
            throw JobsHttpError.badRequest("invalid model name: letters, digits, '.', '_' or '-' (at most 100)");
        }
        return node.textValue();
    }

    private static String version(JsonNode node) {
        try {
            return JsonCodec.optionalVersion(node);
        } catch (ProtocolException e) {
            throw JobsHttpError.badRequest(e.getMessage());
        }
    }

    private static List<String> texts(JsonNode node, JsonCodec codec, int maxItems) {
        if (!node.isArray()) {
            throw JobsHttpError.badRequest("field 'texts' must be an array of strings");
        }
        checkCount(node.size(), maxItems, "texts");
        List<String> texts = new ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            JsonNode text = node.get(i);
            if (!text.isTextual()) {
                throw JobsHttpError.badRequest("texts[" + i + "] must be a string");
            }
            texts.add(text(text.textValue(), "texts[" + i + "]", codec));
        }
        return texts;
    }

    private static List<String> tensorTexts(JsonNode inputs, JsonCodec codec, int maxItems) {
        if (!inputs.isArray() || inputs.size() != 1 || !inputs.get(0).isObject()) {
            throw JobsHttpError.badRequest("field 'inputs' must hold one BYTES tensor of shape [N] (the texts)");
        }
        JsonNode shape = inputs.get(0).get("shape");
        if (shape != null && shape.isArray() && !shape.isEmpty() && shape.get(0).canConvertToLong()
                && shape.get(0).longValue() > maxItems) {
            // Before decoding: a huge tensor is refused without reading its data.
            checkCount(shape.get(0).longValue(), maxItems, "texts");
        }
        Tensor tensor;
        try {
            tensor = codec.decodeTensor(inputs.get(0), "inputs[0]");
        } catch (ProtocolException e) {
            throw new JobsHttpError(e.code().httpStatus(), e.code().wireName(), e.getMessage());
        }
        long[] dims = tensor.shape();
        if (tensor.datatype() != DataType.BYTES || dims.length == 0 || dims.length > 2
                || (dims.length == 2 && dims[1] != 1)) {
            throw JobsHttpError.badRequest("jobs take one BYTES input of shape [N] or [N, 1] (the texts)");
        }
        checkCount(dims[0], maxItems, "texts");
        List<String> texts = new ArrayList<>(tensor.bytes().size());
        for (int i = 0; i < tensor.bytes().size(); i++) {
            texts.add(text(tensor.bytes().get(i), tensor.name() + "[" + i + "]", codec));
        }
        return texts;
    }

    private static void checkCount(long count, int maxItems, String what) {
        if (count == 0) {
            throw new JobsHttpError(400, "empty_input", "a job needs at least one text");
        }
        if (count > maxItems) {
            throw new JobsHttpError(413, "input_too_large", count + " " + what + "; at most " + maxItems + " per job");
        }
    }

    private static String text(String text, String where, JsonCodec codec) {
        // Blank as a model's tokenizer sees it, as the gateway checks /predict: a no-break or zero-width space
        // (U+00A0, U+200B) passes String.isBlank(), and its item would then fail as empty_input.
        if (BlankText.isBlank(text)) {
            throw new JobsHttpError(400, "empty_input", where + " is empty");
        }
        if (text.length() > codec.limits().maxTextChars()) {
            throw new JobsHttpError(413, "input_too_large", where + " has " + text.length()
                    + " characters; at most " + codec.limits().maxTextChars());
        }
        return text;
    }

    /** Accepted and kept with the job for a later version that calls it; nothing calls it yet. */
    private static String callback(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String text = node.isTextual() ? node.textValue() : "";
        URI uri = null;
        try {
            uri = text.isEmpty() || text.length() > MAX_CALLBACK_CHARS ? null : URI.create(text);
        } catch (IllegalArgumentException e) {
            // refused below
        }
        if (uri == null || uri.getHost() == null || uri.getPort() > 65_535
                || !("http".equalsIgnoreCase(uri.getScheme()) || "https".equalsIgnoreCase(uri.getScheme()))) {
            throw JobsHttpError.badRequest("field 'callback' must be an http(s) URL of at most " + MAX_CALLBACK_CHARS
                    + " characters");
        }
        if (uri.getRawUserInfo() != null) {
            // GET echoes the callback to anyone who holds the job id: no credentials in it.
            throw JobsHttpError.badRequest("field 'callback' must not carry credentials (user:password@); they "
                    + "would be shown to anyone who reads the job");
        }
        return text;
    }
}
