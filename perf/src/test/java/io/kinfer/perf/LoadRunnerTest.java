package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
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
        return fake(texts -> {
            calls.incrementAndGet();
            CompletableFuture<Target.Outcome> answer = new CompletableFuture<>();
            if (delayMs >= 0) {
                timer.schedule(() -> answer.complete(Target.Outcome.ok(texts.size(), List.of())), delayMs,
                        TimeUnit.MILLISECONDS);
            }
            return answer;
        });
    }

    private static Target fake(java.util.function.Function<List<String>, CompletableFuture<Target.Outcome>> call) {
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
                return call.apply(texts);
            }

            @Override
            public void close() {
            }
        };
    }

    private static LoadRunner.Plan constantRate(int rate, Duration duration) {
        return new LoadRunner.Plan("rate=" + rate, 0, rate, false, 1, Duration.ZERO, duration);
    }

    @Test
    void callsAnsweredAfterTheWindowClosedStillCountWithTheirLatency() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        LoadRunner runner = new LoadRunner(target(1_500, calls), Corpus.builtIn().unique(),
                (p, e, r, q, f, w) -> { }, Duration.ofSeconds(5));

        // Ten calls planned inside a one-second window, each answered 1.5 s later: all after the window.
        PerfReport.RunResult r = runner.run(new LoadRunner.Plan("rate=10", 0, 10, false, 1, Duration.ZERO,
                Duration.ofSeconds(1)));

        assertThat(r.requests()).isEqualTo(10).isEqualTo(calls.get());
        assertThat(r.failures()).isZero();
        assertThat(r.latency().count()).isEqualTo(r.requests());
        assertThat(r.latency().p50()).isGreaterThanOrEqualTo(1_500);
        // Nothing was served inside the window: ten offered calls a second are not ten served.
        assertThat(r.requestsPerSecond()).isZero();
        assertThat(r.itemsPerSecond()).isZero();
    }

    @Test
    void callsNeverAnsweredAreTimeoutsInTheTailAtTheTimeTheyWaited() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        LoadRunner runner = new LoadRunner(target(-1, calls), Corpus.builtIn().unique(),
                (p, e, r, q, f, w) -> { }, Duration.ofMillis(200));

        PerfReport.RunResult r = runner.run(new LoadRunner.Plan("rate=10", 0, 10, false, 1, Duration.ZERO,
                Duration.ofSeconds(1)));

        assertThat(r.requests()).isEqualTo(10).isEqualTo(calls.get());
        assertThat(r.failures()).isEqualTo(r.requests());
        assertThat(r.failuresByKind()).containsOnlyKeys("timeout");
        // In the latency at the time they waited, at least the call timeout: left out, they made a stall invisible.
        assertThat(r.latency().count()).isEqualTo(10);
        assertThat(r.latencyTimeouts()).isEqualTo(10);
        assertThat(r.latency().p50()).isGreaterThanOrEqualTo(200);
        assertThat(PerfCommand.exitCode(new PerfReport(null, null, null, List.of(r), null, null), 100,
                new java.io.PrintWriter(new java.io.StringWriter()))).isEqualTo(1);
    }

    @Test
    void aStallLongerThanTheTimeoutShowsInTheTailWhileFastFailuresStayOut() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        // 20 calls: the first four stall until the target's own 300 ms timeout fails them (as the HTTP client's
        // idle timeout does), the next two are refused at once (an instant 503), the rest answered at once.
        Target target = fake(texts -> {
            int n = calls.incrementAndGet();
            CompletableFuture<Target.Outcome> answer = new CompletableFuture<>();
            if (n <= 4) {
                timer.schedule(() -> answer.complete(Target.Outcome.failed("timeout")), 300, TimeUnit.MILLISECONDS);
            } else if (n <= 6) {
                answer.complete(Target.Outcome.failed("http_503"));
            } else {
                answer.complete(Target.Outcome.ok(texts.size(), List.of()));
            }
            return answer;
        });
        LoadRunner runner = new LoadRunner(target, Corpus.builtIn().unique(), (p, e, r, q, f, w) -> { },
                Duration.ofSeconds(5));

        PerfReport.RunResult r = runner.run(constantRate(20, Duration.ofSeconds(1)));

        assertThat(r.requests()).isEqualTo(20);
        assertThat(r.failuresByKind()).containsOnly(Map.entry("timeout", 4L), Map.entry("http_503", 2L));
        // The timeouts are a fifth of the latency: the P99 is theirs (it read a few ms with them left out).
        assertThat(r.latency().count()).isEqualTo(18);
        assertThat(r.latencyTimeouts()).isEqualTo(4);
        assertThat(r.latency().p99()).isGreaterThanOrEqualTo(300);
        assertThat(r.latency().max()).isGreaterThanOrEqualTo(300);
        // Throughput is still what was served: the 14 successes.
        assertThat(r.items()).isEqualTo(14);
    }

    @Test
    void aLoadWithNoAnswerHasNoLatencyRatherThanZero() throws Exception {
        // Every call refused at once: there is no latency to report, and 0 ms would claim a very fast one.
        Target target = fake(texts -> CompletableFuture.completedFuture(Target.Outcome.failed("http_503")));
        LoadRunner runner = new LoadRunner(target, Corpus.builtIn().unique(), (p, e, r, q, f, w) -> { },
                Duration.ofSeconds(5));

        PerfReport.RunResult r = runner.run(constantRate(10, Duration.ofMillis(1_500)));

        assertThat(r.latency().count()).isZero();
        assertThat(r.latency().p50()).isNaN();
        assertThat(r.latency().p99()).isNaN();
        assertThat(r.server().queueMs().p50()).isNaN();
        assertThat(r.timeline()).isNotEmpty().allSatisfy(second -> {
            assertThat(second.p50()).isNaN();
            assertThat(second.p99()).isNaN();
            assertThat(second.requestsPerSecond()).isZero(); // a true zero: nothing served
        });
        String json = new PerfReport(null, null, null, List.of(r), null, null).toJson();
        assertThat(json).contains("\"p99\" : null").doesNotContain("\"p99\" : 0.0");
    }

    @Test
    void callsPlannedInsideTheWindowAreSentAndCountedWhenTheGeneratorFallsBehind() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        CountDownLatch windowClosed = new CountDownLatch(1);
        // The 8th of ten calls blocks the generator until the window has closed: the 9th and 10th, planned inside
        // it, go out late. Interrupting the generator at the end dropped them (coordinated omission at the tail).
        Target target = fake(texts -> {
            if (calls.incrementAndGet() == 8) {
                try {
                    windowClosed.await(30, TimeUnit.SECONDS); // bounded only so a broken run cannot hang the build
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return CompletableFuture.completedFuture(Target.Outcome.ok(texts.size(), List.of()));
        });
        LoadRunner runner = new LoadRunner(target, Corpus.builtIn().unique(), (plan, elapsed, rps, p99, f, warm) -> {
            if (!warm && elapsed >= plan.duration().toMillis() / 1000.0) {
                windowClosed.countDown();
            }
        }, Duration.ofSeconds(5));

        PerfReport.RunResult r = runner.run(constantRate(10, Duration.ofSeconds(1)));

        assertThat(calls.get()).isEqualTo(10);
        assertThat(r.requests()).isEqualTo(10); // rate × duration
        assertThat(r.failures()).isZero();
        assertThat(r.latency().count()).isEqualTo(10);
        // The 9th and 10th calls, planned at 0.8 s and 0.9 s, went out after the window closed (1 s): the send lag
        // says so, and the run is flagged as one whose generator fell behind its plan.
        assertThat(r.sendLag().lag().count()).isEqualTo(10);
        assertThat(r.sendLag().lag().max()).isGreaterThanOrEqualTo(100);
        assertThat(r.sendLag().plannedRate()).isEqualTo(10);
        assertThat(r.sendLag().behind()).isTrue();
    }

    @Test
    void failedCallsAreNotCountedAsServed() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        // Answers at once, every other call a failure (as an instant 503 would be).
        Target target = fake(texts -> CompletableFuture.completedFuture(calls.incrementAndGet() % 2 == 0
                ? Target.Outcome.failed("http_503") : Target.Outcome.ok(texts.size(), List.of())));
        LoadRunner runner = new LoadRunner(target, Corpus.builtIn().unique(), (p, e, rps, q, f, w) -> { },
                Duration.ofSeconds(5));

        PerfReport.RunResult r = runner.run(constantRate(10, Duration.ofSeconds(1)));

        assertThat(r.requests()).isEqualTo(10);
        assertThat(r.failuresByKind()).containsExactly(java.util.Map.entry("http_503", 5L));
        // At most the 5 successes a second (fewer if the VM stalls an answer past the window's end): counting
        // failures as served read 10.
        assertThat(r.requestsPerSecond()).isPositive().isLessThanOrEqualTo(5.0);
        assertThat(r.itemsPerSecond()).isEqualTo(r.requestsPerSecond());
    }

    @Test
    void aWindowOfPartSecondsLastsExactlyThatLong() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        LoadRunner runner = new LoadRunner(target(0, calls), Corpus.builtIn().unique(), (p, e, r, q, f, w) -> { },
                Duration.ofSeconds(5));

        PerfReport.RunResult r = runner.run(constantRate(10, Duration.ofMillis(1_500)));

        // The requested length, not the next whole second: throughput is divided by it.
        assertThat(r.durationSeconds()).isEqualTo(1.5);
        assertThat(r.requests()).isEqualTo(15);
        // The timeline ends at the window's end, not at the next whole second.
        assertThat(r.timeline()).extracting(PerfReport.Interval::second).last().isEqualTo(1.5);
        assertThat(r.timeline()).extracting(PerfReport.Interval::second).allMatch(second -> second <= 1.5);
    }

    @Test
    void aUserWhoseCallsCannotConnectPausesBeforeEachNextCall() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        // Nothing listens: every call fails at once, as a refused connection does.
        Target target = fake(texts -> {
            calls.incrementAndGet();
            return CompletableFuture.completedFuture(Target.Outcome.failed("connection_refused"));
        });
        LoadRunner runner = new LoadRunner(target, Corpus.builtIn().unique(), (p, e, r, q, f, w) -> { },
                Duration.ofSeconds(5));

        PerfReport.RunResult r = runner.run(new LoadRunner.Plan("users=2", 2, 0, false, 1, Duration.ZERO,
                Duration.ofSeconds(2)));

        // Pauses of 10 ms doubling to 1 s: about ten calls a user in two seconds. Retrying at once made tens of
        // thousands (13,504 in 3 s against a gateway that was down, a core busy throughout).
        assertThat(calls.get()).isBetween(2, 60);
        assertThat(r.failuresByKind()).containsOnlyKeys("connection_refused");
        assertThat(r.failures()).isEqualTo(r.requests());
        assertThat(r.sendLag()).isNull(); // closed loop: no plan to lag behind
    }
}
