package io.kinfer.perf;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.client.InferenceException;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;

/**
 * Kafka directly, as an upstream system would: the Java {@link InferenceClient}, one request per call carrying
 * the call's texts, replies on the client's own reply topic. No HTTP in the path.
 */
final class KafkaTarget implements Target {

    private final InferenceClient client;
    private final String model;
    private final Duration timeout;
    private final AtomicLong ids = new AtomicLong();

    KafkaTarget(Map<String, Object> clientSettings, String model, Duration timeout) {
        this.client = InferenceClient.create(new ClientConfig(clientSettings));
        this.model = model;
        this.timeout = timeout;
    }

    @Override
    public String name() {
        return "kafka";
    }

    @Override
    public String endpoint(int batchSize) {
        return "kinfer.requests." + model + " (replies on " + client.replyTopic() + ")";
    }

    @Override
    public CompletableFuture<Outcome> call(List<String> texts) {
        InferenceRequest request = InferenceRequest.ofTexts("perf-" + ids.incrementAndGet(), model, texts);
        return client.request(request, timeout).thenApply(KafkaTarget::outcome)
                .exceptionally(KafkaTarget::failure);
    }

    private static Outcome outcome(InferenceReply reply) {
        if (reply.error() != null) {
            return Outcome.failed("error_" + reply.error().code().wireName());
        }
        return Outcome.ok(reply.outputs().size(), reply.timings() == null ? List.of() : List.of(reply.timings()));
    }

    private static Outcome failure(Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (cause instanceof InferenceException.DeadlineExceeded) {
            return Outcome.failed("timeout");
        }
        if (cause instanceof InferenceException.Overloaded) {
            return Outcome.failed("client_overloaded");
        }
        if (cause instanceof InferenceException.KafkaUnavailable) {
            return Outcome.failed("kafka_unavailable");
        }
        return Outcome.failed("client_error");
    }

    @Override
    public void close() {
        // Calls still in flight at the end of a run are answered before the reply topic goes away.
        client.close(Duration.ofSeconds(10));
    }
}
