package io.kinfer.gateway;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.InflaterInputStream;

import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.RoutingContext;

/**
 * Reads a request body as raw bytes up to a limit, whatever its Content-Type: curl's default
 * {@code application/x-www-form-urlencoded} (and any multipart claim) must not send a JSON body through a form
 * decoder, which failed on long fields (found by {@code HttpFuzzTest}). A declared length over the limit is refused
 * before anything is read; a chunked body is cut off with 413 as soon as it passes the limit, never buffered whole.
 * A gzip or deflate body is decompressed, the limit holding for its decompressed bytes too.
 */
final class LimitedBody implements Handler<RoutingContext> {

    static final String KEY = "kinfer.body";
    /** Set once this handler told an {@code Expect: 100-continue} client to send its body. */
    static final String CONTINUED = "kinfer.continued";

    private final long limit;

    LimitedBody(long limit) {
        this.limit = limit;
    }

    /** The body read by this handler (empty when there was none). */
    static Buffer of(RoutingContext ctx) {
        Buffer body = ctx.get(KEY);
        return body == null ? Buffer.buffer() : body;
    }

    @Override
    public void handle(RoutingContext ctx) {
        HttpServerRequest request = ctx.request();
        String declared = request.getHeader("Content-Length");
        if (declared != null) {
            try {
                if (Long.parseLong(declared.trim()) > limit) {
                    tooLarge(ctx);
                    return;
                }
            } catch (NumberFormatException e) {
                Responses.error(ctx, 400, "invalid_request", "Content-Length is not a number");
                return;
            }
        }
        String encoding = contentEncoding(request.getHeader("Content-Encoding"));
        if (encoding == null) {
            Responses.closingAfter(ctx);
            Responses.error(ctx, 415, "unsupported_encoding", "Content-Encoding "
                    + Responses.cut(request.getHeader("Content-Encoding"), 40)
                    + " is not supported: send the body uncompressed, gzip or deflate");
            return;
        }
        if (request.version() == HttpVersion.HTTP_1_1 && "100-continue".equalsIgnoreCase(request.getHeader("Expect"))) {
            // curl asks before sending a body over 1 KB and, unanswered, waits a second before sending it anyway.
            // (HTTP/1.0 has no 100 Continue; HTTP/2 streams need none.)
            ctx.response().writeContinue();
            ctx.put(CONTINUED, Boolean.TRUE);
        }
        Buffer body = Buffer.buffer();
        boolean[] refused = {false};
        request.handler(chunk -> {
            if (refused[0]) {
                return;
            }
            if (body.length() + chunk.length() > limit) {
                refused[0] = true;
                tooLarge(ctx);
                return;
            }
            body.appendBuffer(chunk);
        });
        request.exceptionHandler(error -> {
            if (!refused[0] && !ctx.response().ended()) {
                refused[0] = true;
                Responses.error(ctx, 400, "invalid_request", "the request body could not be read");
            }
        });
        request.endHandler(done -> {
            if (refused[0]) {
                return;
            }
            Buffer decoded = body;
            if (!encoding.equals(IDENTITY)) {
                try {
                    decoded = decompress(body, encoding);
                } catch (IOException e) {
                    Responses.error(ctx, 400, "malformed", "the " + encoding + " body cannot be decompressed");
                    return;
                }
                if (decoded == null) {
                    tooLarge(ctx);
                    return;
                }
            }
            ctx.put(KEY, decoded);
            ctx.next();
        });
        request.resume();
    }

    private static final String IDENTITY = "identity";

    /**
     * The body's coding: {@code identity}, {@code gzip} or {@code deflate} (x-gzip and x-deflate too, as HTTP/1.1
     * allows), as Triton takes them (tritonclient's request_compression_algorithm); null for any other.
     */
    static String contentEncoding(String header) {
        String coding = header == null ? "" : header.trim().toLowerCase(Locale.ROOT);
        return switch (coding) {
            case "", IDENTITY -> IDENTITY;
            case "gzip", "x-gzip" -> "gzip";
            case "deflate", "x-deflate" -> "deflate";
            default -> null;
        };
    }

    /**
     * Decompresses a body read whole (so at most the limit in compressed bytes), stopping at the limit: null when
     * it inflates beyond it. Done here, not by the HTTP server's decompressor, whose each 8 KB chunk could inflate to
     * megabytes before any limit saw it.
     */
    private Buffer decompress(Buffer body, String encoding) throws IOException {
        try (InputStream in = encoding.equals("gzip")
                ? new GZIPInputStream(new ByteArrayInputStream(body.getBytes()))
                : new InflaterInputStream(new ByteArrayInputStream(body.getBytes()))) {
            byte[] out = in.readNBytes((int) Math.min(limit + 1, Integer.MAX_VALUE - 8));
            return out.length > limit ? null : Buffer.buffer(out);
        }
    }

    private void tooLarge(RoutingContext ctx) {
        // Close the connection after answering, so the client stops sending the rest of the body.
        Responses.closingAfter(ctx);
        Responses.error(ctx, 413, "input_too_large", "the body is larger than " + limit + " bytes");
    }
}
