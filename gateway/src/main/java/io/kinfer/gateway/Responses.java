package io.kinfer.gateway;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import io.kinfer.client.InferenceException;
import io.kinfer.protocol.ErrorInfo;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes JSON responses, and maps every failure to one status and one body, {@code {"error": "...", "code":
 * "..."}} (the Open Inference Protocol's error shape plus a machine-readable code). Never a stack trace.
 */
final class Responses {

    private static final Logger log = LoggerFactory.getLogger(Responses.class);
    private static final AtomicLong lastNotAuthorizedLog = new AtomicLong(System.nanoTime() - TimeUnit.MINUTES.toNanos(1));
    private static final JsonFactory JSON = new JsonFactory();
    private static final String CLOSE_AFTER = "kinfer.close.after";

    @FunctionalInterface
    interface JsonWriter {
        void write(JsonGenerator gen) throws IOException;
    }

    private Responses() {
    }

    static void json(RoutingContext ctx, int status, JsonWriter writer) {
        if (ctx.response().ended() || ctx.response().closed()) {
            return;
        }
        if (awaitsContinue(ctx)) {
            // Answered before the body was asked for (a 401, a bad query): the client may send it now or never,
            // so the next bytes on this connection are not known to be a request. Closing is what RFC 9110 10.1.1
            // leaves a server that will not read the body.
            closingAfter(ctx);
        }
        Future<Void> written = ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json")
                .end(Buffer.buffer(bytes(writer)));
        if (Boolean.TRUE.equals(ctx.get(CLOSE_AFTER))) {
            written.onComplete(done -> ctx.request().connection().close());
        }
    }

    private static boolean awaitsContinue(RoutingContext ctx) {
        return ctx.request().version() == HttpVersion.HTTP_1_1
                && "100-continue".equalsIgnoreCase(ctx.request().getHeader("Expect"))
                && ctx.get(LimitedBody.CONTINUED) == null;
    }

    /**
     * Closes an HTTP/1 connection once the response is written. A {@code Connection: close} header alone does not:
     * Vert.x keeps a connection open unless the request asked otherwise, and would read the rest of a refused body.
     */
    static void closingAfter(RoutingContext ctx) {
        // HTTP/2 multiplexes other callers' streams over the connection: there the stream ends alone.
        if (ctx.request().version() == HttpVersion.HTTP_1_0 || ctx.request().version() == HttpVersion.HTTP_1_1) {
            ctx.response().putHeader("Connection", "close");
            ctx.put(CLOSE_AFTER, Boolean.TRUE);
        }
    }

    static byte[] bytes(JsonWriter writer) {
        try (ByteArrayBuilder out = new ByteArrayBuilder(256)) {
            try (JsonGenerator gen = JSON.createGenerator(out, JsonEncoding.UTF8)) {
                writer.write(gen);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void error(RoutingContext ctx, int status, String code, String message) {
        if (status == 429 && !ctx.response().ended() && !ctx.response().closed()) {
            ctx.response().putHeader("Retry-After", "1");
        }
        json(ctx, status, errorWriter(code, message));
    }

    /** A caller's text echoed in a message, shortened to {@code max} characters, so that it cannot bloat the answer. */
    static String cut(String text, int max) {
        return text.length() > max ? text.substring(0, max) + "..." : text;
    }

    /** The JSON error body, {"error": message, "code": code}, for an answer written without a RoutingContext. */
    static byte[] errorBody(String code, String message) {
        return bytes(errorWriter(code, message));
    }

    private static JsonWriter errorWriter(String code, String message) {
        return gen -> {
            gen.writeStartObject();
            gen.writeStringField("error", message);
            gen.writeStringField("code", code);
            gen.writeEndObject();
        };
    }

    static void error(RoutingContext ctx, ErrorInfo error) {
        error(ctx, error.code().httpStatus(), error.code().wireName(), error.message());
    }

    /** One mapping from failure to status: validation, client and Kafka failures, and anything unexpected. */
    static void failure(RoutingContext ctx, Throwable failure) {
        Throwable error = failure instanceof CompletionException && failure.getCause() != null
                ? failure.getCause() : failure;
        if (ctx.response().ended() || ctx.response().closed()) {
            // Answered already (a batch's first failure), or the caller hung up, which cancels its calls.
            log.debug("not answering {} {} again: {}", ctx.request().method(), ctx.request().path(), error.toString());
            return;
        }
        if (error instanceof HttpError http) {
            error(ctx, http.status(), http.code(), http.getMessage());
        } else if (error instanceof InferenceException.DeadlineExceeded) {
            error(ctx, 504, "deadline_exceeded", "no reply before the deadline: " + error.getMessage());
        } else if (error instanceof InferenceException.Overloaded) {
            error(ctx, 429, "overloaded", "too many requests in flight; retry later");
        } else if (error instanceof InferenceException.KafkaUnavailable) {
            error(ctx, 503, "kafka_unavailable", "Kafka is unavailable; retry later");
        } else if (error instanceof InferenceException.NotAuthorized) {
            // The caller can do nothing about it; the operator must, so it is logged (at most every 10 s).
            long now = System.nanoTime();
            long last = lastNotAuthorizedLog.get();
            if (now - last > TimeUnit.SECONDS.toNanos(10) && lastNotAuthorizedLog.compareAndSet(last, now)) {
                log.error("Kafka refuses the gateway a request topic; grant its principal WRITE on it: {}",
                        error.getMessage());
            }
            error(ctx, 500, "kafka_not_authorized", "the gateway may not write this model's requests to Kafka");
        } else if (error instanceof InferenceException.ClientClosed) {
            error(ctx, 503, "shutting_down", "the gateway is shutting down");
        } else if (error instanceof InferenceException.RequestTooLarge) {
            error(ctx, 413, "input_too_large", error.getMessage());
        } else if (error instanceof InferenceException.BadReply) {
            error(ctx, 502, "bad_reply", "the worker's reply could not be read");
        } else {
            log.error("unexpected failure on {} {}", ctx.request().method(), ctx.request().path(), error);
            error(ctx, 500, "internal", "internal error");
        }
    }
}
