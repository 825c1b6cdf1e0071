package io.kinfer.worker;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * The worker's own small HTTP endpoint: {@code /metrics} (Prometheus text), {@code /health/live} and
 * {@code /health/ready} (200 when every model is loaded and its consumer holds partitions, else 503). The JDK's
 * server is enough for a scrape every few seconds; the worker needs no HTTP framework.
 */
final class HealthServer implements AutoCloseable {

    static {
        // The JDK's server writes the headers and the body separately with Nagle on, so on a kept-alive connection
        // (Prometheus keeps its scrape connection) each answer waited for the client's delayed ACK: 44-52 ms per
        // request, measured. Read once, when the first server is made; an explicit setting wins.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    private final HttpServer server;

    HealthServer(String host, int port, Supplier<String> scrape, BooleanSupplier live, BooleanSupplier ready,
                 Supplier<String> status) throws IOException {
        server = HttpServer.create(new InetSocketAddress(host, port), 16);
        server.setExecutor(Executors.newSingleThreadExecutor(r -> {
            Thread thread = new Thread(r, "kinfer-worker-http");
            thread.setDaemon(true);
            return thread;
        }));
        // One context, matched on the exact path: the JDK matches contexts by prefix, so /metricsXYZ served the
        // metrics and /health/readyz the readiness.
        server.createContext("/", exchange -> {
            switch (exchange.getRequestURI().getPath()) {
                case "/metrics" -> respond(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", scrape.get());
                case "/health/live" -> {
                    boolean isLive = live.getAsBoolean();
                    respond(exchange, isLive ? 200 : 503, "application/json", "{\"live\":" + isLive + "}");
                }
                case "/health/ready" -> {
                    boolean isReady = ready.getAsBoolean();
                    respond(exchange, isReady ? 200 : 503, "application/json", status.get());
                }
                default -> respond(exchange, 404, "application/json",
                        "{\"error\":\"not found: try /metrics, /health/live or /health/ready\"}");
            }
        });
        server.start();
    }

    int port() {
        return server.getAddress().getPort();
    }

    private static void respond(HttpExchange exchange, int status, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        if ("HEAD".equals(exchange.getRequestMethod())) {
            // No body, and no length for one: given a length, the JDK logs a warning on every HEAD (a load
            // balancer's health probe), through java.util.logging, past the worker's own log format.
            exchange.sendResponseHeaders(status, -1);
            exchange.close();
            return;
        }
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
