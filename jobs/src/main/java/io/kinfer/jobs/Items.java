package io.kinfer.jobs;

import java.io.IOException;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ProtocolException;

/**
 * One item's result as stored and served: the worker's reply without the fields the job already says (id,
 * model), with its index first: {@code {"index", "version", "outputs", "timings"}} or {@code {"index", "error":
 * {"code", "message"}, ...}}. Replies are decoded and re-encoded once, when they arrive, so what the store holds
 * is always well-formed JSON the HTTP side can copy into a response without parsing it again.
 */
final class Items {

    record Item(byte[] json, boolean failed) {
    }

    private Items() {
    }

    static Item normalize(JsonCodec codec, int index, byte[] reply) {
        InferenceReply decoded;
        try {
            decoded = codec.decodeReply(reply);
        } catch (ProtocolException e) {
            decoded = InferenceReply.failure("unreadable", "", ErrorCode.INTERNAL,
                    "the worker's reply could not be read: " + e.getMessage());
        }
        ObjectNode item = Json.MAPPER.createObjectNode();
        item.put("index", index);
        try {
            JsonNode encoded = Json.MAPPER.readTree(codec.encodeReply(decoded));
            for (Map.Entry<String, JsonNode> field : encoded.properties()) {
                if (!field.getKey().equals("id") && !field.getKey().equals("model")) {
                    item.set(field.getKey(), field.getValue());
                }
            }
            return new Item(Json.MAPPER.writeValueAsBytes(item), decoded.error() != null);
        } catch (IOException e) {
            throw new IllegalStateException("re-encoding a reply failed", e);
        }
    }

    /** An item that failed with {@code unavailable}: transient by its meaning, so a later success may replace it. */
    static boolean isUnavailable(byte[] item) {
        try {
            return ErrorCode.UNAVAILABLE.wireName().equals(Json.readObject(item).path("error").path("code").asText());
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    static boolean isError(byte[] item) {
        try {
            return Json.readObject(item).has("error");
        } catch (IllegalArgumentException e) {
            return true;
        }
    }
}
