package io.kinfer.jobs;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.TensorMetadata;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.handler.BodyHandler;

/** A jobs service behind its own Vert.x HTTP server, as the gateway will mount it, and an HTTP client for tests. */
final class JobsTestSupport {

    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    /** The models the tests' gateway knows: {@code echo} (text, served by the FakeWorker) and a tensor model. */
    static final BiFunction<String, String, Optional<ModelMetadata>> MODELS = (name, version) ->
            version != null && !version.equals("1") ? Optional.empty() : switch (name) {
        case "echo" -> Optional.of(new ModelMetadata("echo", "1", ModelMetadata.TEXT, "embedding",
                List.of(new TensorMetadata("text", DataType.BYTES, new long[] {-1})),
                List.of(new TensorMetadata("embedding", DataType.FP32, new long[] {-1, 1})), List.of(), 8, "fake"));
        case "gemm" -> Optional.of(new ModelMetadata("gemm", "1", ModelMetadata.TENSOR, "none",
                List.of(new TensorMetadata("x", DataType.FP32, new long[] {-1, 4})),
                List.of(new TensorMetadata("y", DataType.FP32, new long[] {-1, 2})), List.of(), 8, "tensor"));
        default -> Optional.empty();
    };

    private JobsTestSupport() {
    }

    static Map<String, Object> kafkaSettings(EmbeddedKafka kafka) {
        Map<String, Object> settings = new HashMap<>();
        kafka.clientProperties().forEach((k, v) -> settings.put("kafka." + k, v));
        return settings;
    }

    static InferenceClient client(EmbeddedKafka kafka, String clientId) {
        Map<String, Object> settings = kafkaSettings(kafka);
        settings.put(ClientConfig.CLIENT_ID, clientId);
        return InferenceClient.create(new ClientConfig(settings));
    }

    record Response(int status, JsonNode json, HttpResponse<String> raw) {
        String header(String name) {
            return raw.headers().firstValue(name).orElse(null);
        }
    }

    static Response get(String url) {
        return send(HttpRequest.newBuilder(URI.create(url)).GET());
    }

    static Response post(String url, String body) {
        return send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    static Response send(HttpRequest.Builder request) {
        try {
            HttpResponse<String> response = HTTP.send(request.timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString());
            JsonNode json = response.body().isEmpty() ? null : Json.MAPPER.readTree(response.body());
            return new Response(response.statusCode(), json, response);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** One gateway-like instance: Vert.x, an HTTP server on a free port, and a jobs service mounted on it. */
    static final class Instance implements AutoCloseable {

        final Vertx vertx;
        final Router router;
        final HttpServer server;
        final JobsService jobs;
        final SimpleMeterRegistry registry;
        final String url;

        private Instance(Vertx vertx, Router router, HttpServer server, JobsService jobs, SimpleMeterRegistry registry,
                         String url) {
            this.vertx = vertx;
            this.router = router;
            this.server = server;
            this.jobs = jobs;
            this.registry = registry;
            this.url = url;
        }

        /**
         * Listens first (port 0), so the service can advertise the real port; routes added to the router later
         * serve at once. {@code keyValues} are settings over the test defaults.
         */
        static Instance start(EmbeddedKafka kafka, InferenceClient client, String applicationId, Path stateDir,
                              Object... keyValues) {
            Vertx vertx = Vertx.vertx();
            Router router = Router.router(vertx);
            HttpServer server;
            try {
                server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1")
                        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                vertx.close();
                throw new IllegalStateException(e);
            }
            String url = "http://127.0.0.1:" + server.actualPort();
            Map<String, Object> settings = kafkaSettings(kafka);
            settings.put(JobsConfig.APPLICATION_ID, applicationId);
            settings.put(JobsConfig.STATE_DIR, stateDir.toString());
            settings.put(JobsConfig.ADVERTISED_URL, url);
            settings.put(JobsConfig.TOPIC_PARTITIONS, 4);
            settings.put(JobsConfig.EXPIRY_SCAN_INTERVAL_MS, 200);
            settings.put(JobsConfig.STREAMS_PREFIX + "commit.interval.ms", 100);
            settings.put(JobsConfig.STREAMS_PREFIX + "num.standby.replicas", 0);
            for (int i = 0; i < keyValues.length; i += 2) {
                settings.put((String) keyValues[i], keyValues[i + 1]);
            }
            Instance instance = null;
            try {
                SimpleMeterRegistry registry = new SimpleMeterRegistry();
                JobsService jobs = JobsService.start(new JobsConfig(settings), client, MODELS, registry);
                instance = new Instance(vertx, router, server, jobs, registry, url);
                jobs.mount(router, BodyHandler.create(false).setBodyLimit(1 << 20),
                        ctx -> ctx.body() == null || ctx.body().buffer() == null ? null : ctx.body().buffer().getBytes());
                await().atMost(Duration.ofSeconds(60)).until(jobs::ready);
                return instance;
            } catch (RuntimeException e) {
                if (instance != null) {
                    instance.close();
                } else {
                    vertx.close();
                }
                throw e;
            }
        }

        /** POSTs a job and returns its id. */
        String submit(String body) {
            Response created = post(url + JobsService.JOBS_PATH, body);
            if (created.status() != 202) {
                throw new AssertionError("expected 202, got " + created.status() + " " + created.json());
            }
            return created.json().get("job_id").asText();
        }

        Response job(String jobId) {
            return get(url + JobsService.JOBS_PATH + "/" + jobId);
        }

        @Override
        public void close() {
            jobs.close();
            try {
                vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                // best effort in tests
            }
        }
    }
}
