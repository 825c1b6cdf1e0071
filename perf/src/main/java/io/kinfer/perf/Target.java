package io.kinfer.perf;

import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import io.kinfer.protocol.Timings;

/** What a load is sent to: the gateway over HTTP (simple API or OIP), or Kafka through the Java client. */
interface Target extends AutoCloseable {

    /** How one call ended: texts answered, or why not, plus the workers' timings per text when reported. */
    record Outcome(int items, String failure, List<Timings> timings) {
        static Outcome ok(int items, List<Timings> timings) {
            return new Outcome(items, null, timings);
        }

        static Outcome failed(String kind) {
            return new Outcome(0, kind, List.of());
        }

        boolean ok() {
            return failure == null;
        }

        /**
         * Whether the call failed by running out of time rather than being refused: this generator's own timeout,
         * the gateway's 504 (its deadline passed with no reply) or a Kafka reply saying the request expired before
         * it was computed. Such a call took (at least) its timeout, so its time belongs in the latency's tail.
         */
        boolean timedOut() {
            return failure != null && TIMEOUTS.contains(failure);
        }
    }

    /** The failure kinds that mean a call ran out of time: see {@link Outcome#timedOut()}. */
    Set<String> TIMEOUTS = Set.of("timeout", "http_504", "error_expired");

    String name();

    /** A short description of where calls go, e.g. {@code POST http://127.0.0.1:8080/predict}. */
    String endpoint(int batchSize);

    /** Why no load can reach this target at all (nothing listens there), checked once before a load; or empty. */
    default Optional<String> unreachable() {
        return Optional.empty();
    }

    /** Sends one call carrying these texts; never completes exceptionally (failures are outcomes). */
    CompletableFuture<Outcome> call(List<String> texts);

    @Override
    void close();
}
