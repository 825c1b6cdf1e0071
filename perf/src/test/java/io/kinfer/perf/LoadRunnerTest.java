package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The generator's bookkeeping at the window's end, against stand-in targets whose answers come late or never
 * (the real pipeline is in {@link PerfAgainstPipelineTest}): a call belongs to the window it started in, however
 * late it is answered, and one never answered is a timeout, not silently gone.
 */
class LoadRunnerTest {

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

    @AfterEach
    void stop() {
        timer.shutdownNow();
    }

    /** Answers every call after {@code delayMs}, or never when negative. */
    private Target target(long delayMs, AtomicInteger calls) {
        return new Target() {
            @Override
            public String name() {
                return "fake";
            }

            @Override
            public String endpoint(int batchSize) {
                return "fake";
            }

            @Override
            public CompletableFuture<Outcome> call(List<String> texts) {
                calls.incrementAndGet();
                CompletableFuture<Outcome> answer = new CompletableFuture<>();
                if (delayMs >= 0) {
                    timer.schedule(() -> answer.complete(Outcome.ok(texts.size(), List.of())), delayMs,
                            TimeUnit.MILLISECONDS);
                }
                return answer;
            }

            @Override
            public void close() {
            }
        };
    }

    @Test
    void callsAnsweredAfterTheWindowClosedStillCountWithTheirLatency() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        LoadRunner runner = new LoadRunner(target(1_500, calls), Corpus.builtIn().unique(),
                (p, e, r, q, f, w) -> { }, Duration.ofSeconds(5));

        // Ten calls planned inside a one-second window, each answered 1.5 s later: all after the window.
        PerfReport.RunResult r = runner.run(new LoadRunner.Plan("rate=10", 0, 10, false, 1, Duration.ZERO,
                Duration.ofSeconds(1)));

        assertThat(r.requests()).isBetween(9L, 10L).isEqualTo(calls.get());
        assertThat(r.failures()).isZero();
        assertThat(r.latency().count()).isEqualTo(r.requests());
        assertThat(r.latency().p50()).isGreaterThanOrEqualTo(1_500);
        // Nothing was served inside the window: ten offered calls a second are not ten served.
        assertThat(r.requestsPerSecond()).isZero();
        assertThat(r.itemsPerSecond()).isZero();
    }

    @Test
    void callsNeverAnsweredAreCountedAsTimeoutsAndLeaveThePercentilesAlone() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        LoadRunner runner = new LoadRunner(target(-1, calls), Corpus.builtIn().unique(),
                (p, e, r, q, f, w) -> { }, Duration.ofMillis(200));

        PerfReport.RunResult r = runner.run(new LoadRunner.Plan("rate=10", 0, 10, false, 1, Duration.ZERO,
                Duration.ofSeconds(1)));

        assertThat(r.requests()).isBetween(9L, 10L).isEqualTo(calls.get());
        assertThat(r.failures()).isEqualTo(r.requests());
        assertThat(r.failuresByKind()).containsOnlyKeys("timeout");
        assertThat(r.latency().count()).isZero();
        assertThat(PerfCommand.exitCode(new PerfReport(null, null, null, List.of(r), null, null))).isEqualTo(1);
    }
}
