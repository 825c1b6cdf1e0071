package io.kinfer.gateway;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import io.vertx.core.Future;
import io.vertx.ext.web.RoutingContext;

/**
 * The seed-compatible API: {@code POST /predict {"text": ..., "model"?}} and
 * {@code POST /predict_batch {"texts": [...], "model"?}}. Batch items go to Kafka as separate requests so they
 * batch with everyone else's; the response keeps the input order.
 */
final class SimpleApi {

    private final Inference inference;

    SimpleApi(Inference inference) {
        this.inference = inference;
    }

    void handlePredict(RoutingContext ctx) {
        JsonNode body = inference.body(ctx);
        String text = inference.text(body.get("text"), "field 'text'");
        Target target = target(body);
        Duration timeout = inference.timeout(ctx, body.path("timeout_ms"));
        int priority = inference.priority(ctx, body.path("priority"));
        Future<List<InferenceReply>> calls = inference.callEach(ctx, target.model.name(), target.version,
                List.of(text), i -> "field 'text'", timeout, priority);
        Inference.answer(ctx, calls, replies -> {
            InferenceReply reply = replies.get(0);
            Output prediction = Inference.prediction(reply);
            Responses.json(ctx, 200, gen -> {
                gen.writeStartObject();
                writePrediction(gen, prediction);
                gen.writeStringField("model", reply.model());
                gen.writeStringField("version", reply.version());
                JsonCodec.writeTimings(gen, "timings", reply.timings(), false);
                gen.writeEndObject();
            });
        });
    }

    void handlePredictBatch(RoutingContext ctx) {
        JsonNode body = inference.body(ctx);
        JsonNode textsNode = body.get("texts");
        if (textsNode == null || !textsNode.isArray()) {
            throw HttpError.badRequest("field 'texts' must be an array of strings");
        }
        inference.checkTextCount(textsNode.size(), "field 'texts'");
        List<String> texts = new ArrayList<>(textsNode.size());
        for (int i = 0; i < textsNode.size(); i++) {
            texts.add(inference.text(textsNode.get(i), "texts[" + i + "]"));
        }
        Target target = target(body);
        Duration timeout = inference.timeout(ctx, body.path("timeout_ms"));
        int priority = inference.priority(ctx, body.path("priority"));
        Future<List<InferenceReply>> calls = inference.callEach(ctx, target.model.name(), target.version, texts,
                i -> "texts[" + i + "]", timeout, priority);
        Inference.answer(ctx, calls, replies -> {
            replies.forEach(Inference::prediction); // every reply checked before anything is written
            Responses.json(ctx, 200, gen -> {
                gen.writeStartObject();
                gen.writeArrayFieldStart("predictions");
                for (InferenceReply reply : replies) {
                    gen.writeStartObject();
                    writePrediction(gen, reply.outputs().get(0));
                    JsonCodec.writeTimings(gen, "timings", reply.timings(), false);
                    gen.writeEndObject();
                }
                gen.writeEndArray();
                gen.writeStringField("model", replies.get(0).model());
                gen.writeStringField("version", replies.get(0).version());
                gen.writeEndObject();
            });
        });
    }

    private record Target(ModelMetadata model, String version) {
    }

    /** The model named in the body (or the default), checked to exist and to take text. */
    private Target target(JsonNode body) {
        JsonNode modelNode = body.get("model");
        if (modelNode != null && !modelNode.isNull() && !modelNode.isTextual()) {
            throw HttpError.badRequest("field 'model' must be a string");
        }
        String model = modelNode == null || modelNode.isNull() ? inference.defaultModel() : modelNode.textValue();
        String version;
        try {
            version = JsonCodec.optionalVersion(body.get("version"));
        } catch (ProtocolException e) {
            throw HttpError.badRequest(e.getMessage());
        }
        ModelMetadata metadata = inference.resolve(model, version);
        if (!metadata.isText()) {
            throw HttpError.badRequest("model '" + model + "' takes tensors; use POST /v2/models/" + model + "/infer");
        }
        return new Target(metadata, version);
    }

    /** Where the time went in the worker, for callers and the perf tool's server-side breakdown. */
    private static void writePrediction(JsonGenerator gen, Output output) throws IOException {
        if (output instanceof Classification c) {
            gen.writeStringField("label", c.label());
            gen.writeObjectFieldStart("scores");
            for (Map.Entry<String, Float> score : c.scores().entrySet()) {
                gen.writeNumberField(score.getKey(), score.getValue());
            }
            gen.writeEndObject();
        } else if (output instanceof Embedding e) {
            gen.writeArrayFieldStart("embedding");
            for (float v : e.vector()) {
                gen.writeNumber(v);
            }
            gen.writeEndArray();
        }
    }
}
