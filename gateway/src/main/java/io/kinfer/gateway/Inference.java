package io.kinfer.gateway;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.IntFunction;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.client.InferenceClient;
import io.kinfer.client.InferenceException;
import io.kinfer.protocol.BlankText;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.ErrorInfo;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.ProtocolLimits;
import io.kinfer.protocol.Topics;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.ext.web.RoutingContext;

/**
 * What the HTTP handlers share: reading a JSON body with the protocol's limits, resolving a model through the
 * catalog, the per-call timeout and priority, and calling the {@link InferenceClient} so that its future
 * completes back on the request's own Vert.x context (the event loop never waits).
 */
final class Inference {

    static final String TIMEOUT_HEADER = "kinfer-timeout-ms";
    static final String PRIORITY_HEADER = KinferHeaders.PRIORITY;

    private final InferenceClient client;
    private final ModelCatalog catalog;
    private final GatewayConfig config;
    private final JsonCodec codec;
    private final String idPrefix;
    private final AtomicLong ids = new AtomicLong();
    private final int maxTexts;
    private final int maxRows;

    Inference(InferenceClient client, ModelCatalog catalog, GatewayConfig config) {
        this.client = client;
        this.catalog = catalog;
        this.config = config;
        int bodyLimit = (int) Math.min(Integer.MAX_VALUE, config.getLong(GatewayConfig.BODY_LIMIT_BYTES));
        // A text tensor's strings are the call's texts (gateway.max.batch.texts, checkTextCount), not rows of one
        // request: the codec lets either bound through, and checkRows holds a tensor's rows to protocol.max.inputs.
        this.maxTexts = config.getInt(GatewayConfig.MAX_BATCH_TEXTS);
        this.maxRows = config.getInt(GatewayConfig.MAX_INPUTS);
        this.codec = new JsonCodec(new ProtocolLimits(bodyLimit, Math.max(maxTexts, maxRows),
                config.getInt(GatewayConfig.MAX_TEXT_CHARS), config.getLong(GatewayConfig.MAX_TENSOR_ELEMENTS),
                ProtocolLimits.DEFAULTS.maxNestingDepth()));
        this.idPrefix = client.clientId() + "-";
    }

    JsonCodec codec() {
        return codec;
    }

    ModelCatalog catalog() {
        return catalog;
    }

    String defaultModel() {
        return config.getString(GatewayConfig.DEFAULT_MODEL);
    }

    String newId() {
        return idPrefix + Long.toString(ids.incrementAndGet(), 36);
    }

    /** The body as a JSON object, or a 400/413 that says what is wrong. */
    JsonNode body(RoutingContext ctx) {
        byte[] bytes = LimitedBody.of(ctx).getBytes();
        JsonNode node;
        try {
            node = codec.parse(bytes);
        } catch (ProtocolException e) {
            int status = e.code() == ErrorCode.INPUT_TOO_LARGE ? 413 : 400;
            throw new HttpError(status, e.code() == ErrorCode.INPUT_TOO_LARGE ? "input_too_large" : "malformed",
                    bytes.length == 0 ? "the request needs a JSON body" : e.getMessage());
        }
        if (!node.isObject()) {
            throw HttpError.badRequest("the body must be a JSON object");
        }
        return node;
    }

    /** The model's metadata, latest or the given version; 404 when it is not served. */
    ModelMetadata resolve(String model, String version) {
        if (!Topics.isValidModelName(model)) {
            throw HttpError.badRequest("invalid model name");
        }
        if (!catalog.known(model)) {
            throw HttpError.notFound("unknown model '" + model + "'; served: " + catalog.models());
        }
        return catalog.metadata(model, version).orElseThrow(() -> new HttpError(404, "unknown_version",
                "model '" + model + "' has no version '" + version + "'; served: "
                        + catalog.versions(model).stream().map(ModelMetadata::version).toList()));
    }

    /**
     * The call's timeout: the header, else the body field, else the default; capped (a number too large for a long
     * too); 400 when not a positive whole number.
     */
    Duration timeout(RoutingContext ctx, JsonNode field) {
        long value = config.getLong(GatewayConfig.TIMEOUT_MS);
        String header = ctx.request().getHeader(TIMEOUT_HEADER);
        if (header != null) {
            try {
                value = parseWhole(header);
            } catch (NumberFormatException e) {
                throw HttpError.badRequest("header " + TIMEOUT_HEADER + " must be a whole number of milliseconds");
            }
        } else if (field != null && !field.isMissingNode() && !field.isNull()) {
            if (!field.isIntegralNumber()) {
                throw HttpError.badRequest("timeout_ms must be a whole number of milliseconds");
            }
            value = wholeValue(field);
        }
        if (value <= 0) {
            throw HttpError.badRequest("the timeout must be positive");
        }
        return Duration.ofMillis(Math.min(value, config.getLong(GatewayConfig.MAX_TIMEOUT_MS)));
    }

    /**
     * An OIP call's timeout: the kinfer-timeout-ms header, else {@code parameters.timeout_ms}, else Triton's
     * {@code parameters.timeout} in microseconds (what tritonclient sends), rounded up to whole milliseconds and
     * capped as the others; 0 there is Triton's "no timeout of its own", the default. Else the default.
     */
    Duration oipTimeout(RoutingContext ctx, JsonNode parameters) {
        JsonNode millis = parameters.path("timeout_ms");
        JsonNode micros = parameters.path("timeout");
        if (ctx.request().getHeader(TIMEOUT_HEADER) != null || present(millis) || !present(micros)) {
            return timeout(ctx, millis);
        }
        if (!micros.isIntegralNumber() || micros.bigIntegerValue().signum() < 0) {
            throw HttpError.badRequest("parameters.timeout must be a whole number of microseconds of at least 0 "
                    + "(Triton's meaning; 0: the default timeout)");
        }
        long value = wholeValue(micros);
        if (value == 0) {
            return timeout(ctx, null);
        }
        long rounded = value / 1000 + (value % 1000 == 0 ? 0 : 1);
        return Duration.ofMillis(Math.min(rounded, config.getLong(GatewayConfig.MAX_TIMEOUT_MS)));
    }

    private static boolean present(JsonNode field) {
        return field != null && !field.isMissingNode() && !field.isNull();
    }

    /** The call's priority, capped by gateway.max.priority: any caller may ask, so the operator sets how high. */
    int priority(RoutingContext ctx, JsonNode field) {
        return Math.min(askedPriority(ctx, field), config.getInt(GatewayConfig.MAX_PRIORITY));
    }

    private static int askedPriority(RoutingContext ctx, JsonNode field) {
        Integer header = priorityHeader(ctx);
        if (header != null) {
            return header;
        }
        if (field != null && !field.isMissingNode() && !field.isNull()) {
            if (!field.isIntegralNumber()) {
                throw HttpError.badRequest("priority must be an integer");
            }
            return toInt(wholeValue(field));
        }
        return 0;
    }

    private static Integer priorityHeader(RoutingContext ctx) {
        String header = ctx.request().getHeader(PRIORITY_HEADER);
        try {
            return header == null ? null : toInt(parseWhole(header));
        } catch (NumberFormatException e) {
            throw HttpError.badRequest("header " + PRIORITY_HEADER + " must be an integer");
        }
    }

    /**
     * An OIP call's priority. The kinfer-priority header keeps kinfer's meaning (higher first); {@code
     * parameters.priority} has Triton's, so that an unchanged tritonclient is not served in reverse: 0 is the
     * default, 1 the highest, each larger number one level lower. 1 maps to gateway.max.priority, 2 to one below,
     * and so on down to 0, kinfer's default and lowest level (kinfer has no level below the default).
     */
    int tritonPriority(RoutingContext ctx, JsonNode field) {
        int max = config.getInt(GatewayConfig.MAX_PRIORITY);
        Integer header = priorityHeader(ctx);
        if (header != null) {
            return Math.min(header, max);
        }
        if (field == null || field.isMissingNode() || field.isNull()) {
            return 0;
        }
        if (!field.isIntegralNumber() || field.bigIntegerValue().signum() < 0) {
            throw HttpError.badRequest("parameters.priority must be a whole number of at least 0 "
                    + "(Triton's meaning: 1 is the highest, 0 the default)");
        }
        long level = wholeValue(field);
        return level == 0 ? 0 : (int) Math.max(0, max + 1 - level);
    }

    /**
     * A whole number as sent; one too large for a long (all digits) reads as Long.MAX_VALUE (or MIN_VALUE), so
     * that the caps apply to it as to any other large value.
     */
    static long parseWhole(String text) {
        String trimmed = text.trim();
        try {
            return Long.parseLong(trimmed);
        } catch (NumberFormatException e) {
            if (trimmed.matches("[+-]?[0-9]+")) {
                return trimmed.startsWith("-") ? Long.MIN_VALUE : Long.MAX_VALUE;
            }
            throw e;
        }
    }

    /** An integral JSON number, beyond the range of a long read as its bound (as {@link #parseWhole}). */
    private static long wholeValue(JsonNode field) {
        if (field.canConvertToLong()) {
            return field.longValue();
        }
        return field.bigIntegerValue().signum() < 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
    }

    private static int toInt(long value) {
        return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, value));
    }

    /**
     * Answers a call once its replies are in: a failure or the first error reply with its status, else
     * {@code answer} writes the response. Vert.x only logs what a success handler throws, and the caller would
     * then wait for an answer that never comes: anything thrown is answered instead.
     */
    static void answer(RoutingContext ctx, Future<List<InferenceReply>> replies,
                       Consumer<List<InferenceReply>> answer) {
        replies.onComplete(done -> {
            try {
                if (done.failed()) {
                    Responses.failure(ctx, done.cause());
                    return;
                }
                for (InferenceReply reply : done.result()) {
                    if (reply.error() != null) {
                        Responses.error(ctx, reply.error());
                        return;
                    }
                }
                answer.accept(done.result());
            } catch (RuntimeException e) {
                Responses.failure(ctx, e);
            }
        });
    }

    /** A call's texts must number 1 to protocol.max.inputs: each becomes a Kafka request of its own. */
    void checkTextCount(int count, String what) {
        if (count == 0) {
            throw new HttpError(400, "empty_input", what + " holds no texts");
        }
        if (count > maxTexts) {
            throw new HttpError(413, "input_too_large", count + " texts in " + what + "; at most " + maxTexts
                    + " per call");
        }
    }

    /** A tensor request's rows against protocol.max.inputs, as the workers check them. */
    void checkRows(long rows) {
        if (rows > maxRows) {
            throw new HttpError(413, "input_too_large", "first dimension " + rows + "; at most " + maxRows
                    + " rows per request");
        }
    }

    /** A text model's answer in a success reply: a label with scores, or an embedding; anything else is 502. */
    static Output prediction(InferenceReply reply) {
        Output output = reply.outputs().isEmpty() ? null : reply.outputs().get(0);
        if (output instanceof Classification || output instanceof Embedding) {
            return output;
        }
        throw new HttpError(502, "bad_reply", "the worker's reply for model " + reply.model() + " carries "
                + (output == null ? "no output" : "a " + output.getClass().getSimpleName()
                + " where a label or an embedding was expected"));
    }

    /** Sends one request; the future completes on the caller's Vert.x context. */
    Future<InferenceReply> call(RoutingContext ctx, InferenceRequest request, Duration timeout, int priority) {
        CompletableFuture<InferenceReply> pending = send(ctx, request, timeout, priority);
        cancelOnHangUp(ctx, List.of(pending));
        return Future.fromCompletionStage(pending, ctx.vertx().getOrCreateContext());
    }

    private CompletableFuture<InferenceReply> send(RoutingContext ctx, InferenceRequest request, Duration timeout,
                                                   int priority) {
        return client.request(request, new InferenceClient.RequestOptions(timeout, priority, trace(ctx)));
    }

    /**
     * A caller that hung up no longer wants its answers: cancelling gives their in-flight slots back now rather
     * than at the deadline (the workers still compute what was sent; its replies are counted late).
     */
    private static void cancelOnHangUp(RoutingContext ctx, List<CompletableFuture<InferenceReply>> calls) {
        ctx.response().closeHandler(closed -> {
            if (!ctx.response().ended()) {
                calls.forEach(call -> call.cancel(false));
            }
        });
    }

    /**
     * Sends each text as its own request, so the items of one HTTP call batch with everyone else's, and completes
     * with the replies in input order. {@code itemName} names an item as the caller sent it ({@code texts[5]}):
     * each request holds one text, so a worker's error names it {@code inputs[0]} whatever its place in the call,
     * and that name is put right in the reply.
     */
    Future<List<InferenceReply>> callEach(RoutingContext ctx, String model, String version, List<String> texts,
                                          IntFunction<String> itemName, Duration timeout, int priority) {
        Context context = ctx.vertx().getOrCreateContext();
        List<CompletableFuture<InferenceReply>> pending = new ArrayList<>(texts.size());
        List<Future<InferenceReply>> calls = new ArrayList<>(texts.size());
        boolean several = texts.size() > 1;
        for (int i = 0; i < texts.size(); i++) {
            InferenceRequest request = new InferenceRequest(newId(), model, version, List.of(texts.get(i)), null);
            CompletableFuture<InferenceReply> item = send(ctx, request, timeout, priority);
            pending.add(item);
            calls.add(Future.fromCompletionStage(item, context));
        }
        cancelOnHangUp(ctx, pending);
        // The call answers with its first failure (429, 503, 504): the other items' answers are not wanted then,
        // and cancelling them frees their in-flight slots now. Not at a deadline, though: the other items share it,
        // their own timers end them a moment later, and each is then counted as the deadline_exceeded it is, not
        // as cancelled.
        return Future.all(calls).onFailure(error -> {
            if (!(unwrap(error) instanceof InferenceException.DeadlineExceeded)) {
                pending.forEach(item -> item.cancel(false));
            }
        }).map(all -> {
            List<InferenceReply> replies = new ArrayList<>(calls.size());
            for (int i = 0; i < calls.size(); i++) {
                InferenceReply reply = calls.get(i).result();
                // The item's name is built only for an error reply, not for every text of every call.
                replies.add(reply.error() == null ? reply : named(reply, itemName.apply(i), several));
            }
            return replies;
        });
    }

    private static Throwable unwrap(Throwable error) {
        return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    }

    /** The one text of a request is {@code inputs[0]} to a worker; its error message is about the item. */
    private static final String WIRE_ITEM = "inputs[0]";

    /**
     * An error reply's message with the item named as the caller sent it: "inputs[0] is empty" becomes "texts[5] is
     * empty"; any other message of a call with several texts is prefixed with the item's name.
     */
    private static InferenceReply named(InferenceReply reply, String item, boolean several) {
        String message = reply.error().message();
        String named = message.startsWith(WIRE_ITEM) ? item + message.substring(WIRE_ITEM.length())
                : several ? item + ": " + message : message;
        return InferenceReply.failure(reply.id(), reply.model(), reply.version(),
                new ErrorInfo(reply.error().code(), named), reply.timings());
    }

    /** Checks one text as the workers would, so a bad item fails the call before anything is sent. */
    String text(JsonNode node, String where) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            throw HttpError.badRequest(where + " is required");
        }
        if (!node.isTextual()) {
            throw HttpError.badRequest(where + " must be a string");
        }
        String text = node.textValue();
        // As a model's tokenizer sees it: no-break and zero-width spaces, controls and the like are blank too.
        if (BlankText.isBlank(text)) {
            throw new HttpError(400, "empty_input", where + " is empty (only whitespace, control or invisible "
                    + "characters)");
        }
        if (text.length() > codec.limits().maxTextChars()) {
            throw new HttpError(413, "input_too_large", where + " has " + text.length() + " characters; at most "
                    + codec.limits().maxTextChars());
        }
        return text;
    }

    private static Map<String, String> trace(RoutingContext ctx) {
        return KinferHeaders.passedThrough(ctx.request()::getHeader);
    }
}
