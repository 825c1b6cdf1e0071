package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** The generator's arithmetic on known inputs: percentiles, the corpus, the comparison table. */
class PerfArithmeticTest {

    @Test
    void percentilesComeFromTheRecordedValues() {
        LatencyRecorder recorder = new LatencyRecorder();
        for (int ms = 1; ms <= 100; ms++) {
            recorder.recordMillis(ms);
        }

        PerfReport.Latency latency = LatencyRecorder.summary(recorder.total());

        assertThat(latency.count()).isEqualTo(100);
        assertThat(latency.p50()).isCloseTo(50, within(0.1));
        assertThat(latency.p99()).isCloseTo(99, within(0.1));
        assertThat(latency.max()).isCloseTo(100, within(0.1));
        assertThat(latency.mean()).isCloseTo(50.5, within(0.1));
    }

    @Test
    void anOpenLoopIsBehindWhenItsCallsGoOutLaterThanThePlansGapBetweenThem() {
        // 60 calls/s: 16.7 ms apart. A lag P99 of 5 ms (what this 2-vCPU machine shows on every run) keeps each
        // call within its own spacing; at 300/s (3.3 ms apart) the same lag bunches calls the plan spaced out.
        assertThat(PerfReport.SendLag.lagLimitMs(60)).isCloseTo(16.67, within(0.01));
        assertThat(PerfReport.SendLag.lagLimitMs(300)).isCloseTo(3.33, within(0.01));
        assertThat(PerfReport.SendLag.lagLimitMs(5000)).isEqualTo(PerfReport.SendLag.BEHIND_LAG_MS); // the floor
        PerfReport.Latency fiveMs = new PerfReport.Latency(100, 2, 1, 3, 4, 5, 6, 7);
        assertThat(Tables.behind(new PerfReport.SendLag(fiveMs, 300, 300, true)))
                .contains("send lag P99 5.00 ms > 3.33 ms");
        assertThat(Tables.behind(new PerfReport.SendLag(fiveMs, 300, 200, true)))
                .contains("send lag P99").contains("less load than planned, 200.0 of 300.0 calls/s");
    }

    @Test
    void theMeanBatchIsTextsPerModelCall() {
        // One batch of 8 (eight replies say 8) and eight batches of 1: 16 texts in 9 calls.
        assertThat(Tables.meanBatch(java.util.Map.of(8, 8L, 1, 8L))).isCloseTo(16 / 9.0,
                org.assertj.core.api.Assertions.within(1e-9));
        assertThat(Tables.meanBatch(java.util.Map.of())).isNaN(); // no batch reported: no data, not 0
    }

    @Test
    void anEmptyHistogramIsNoDataNotZeroMilliseconds() throws Exception {
        PerfReport.Latency none = LatencyRecorder.summary(new LatencyRecorder().total());

        assertThat(none.count()).isZero();
        assertThat(List.of(none.mean(), none.p50(), none.p90(), none.p95(), none.p99(), none.p999(), none.max()))
                .allMatch(v -> Double.isNaN(v));
    }

    @Test
    void noDataIsNullInJsonReadsBackAsNoDataAndShowsAsADash(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        PerfReport.RunResult failed = new PerfReport.RunResult("ten-users", "http", "POST /predict", "sentiment",
                "closed", 4, 0, null, 1, 10, 40, 0, 40, Map.of("http_503", 40L), 0, 0, PerfReport.Latency.NO_DATA, 0,
                new PerfReport.ServerBreakdown(PerfReport.Latency.NO_DATA, PerfReport.Latency.NO_DATA, Map.of(), 0),
                List.of(new PerfReport.Interval(1, 0, Double.NaN, Double.NaN, 4)), null, null, null);
        PerfReport report = new PerfReport("kinfer perf", "2026-11-28T00:00:00Z", null, List.of(failed), null, null);

        String json = report.toJson();
        assertThat(json).contains("\"p50\" : null", "\"p99\" : null").doesNotContain("NaN");
        report.write(dir.resolve("r.json"));
        PerfReport read = PerfReport.read(dir.resolve("r.json"));
        assertThat(read).isEqualTo(report); // NaN equals NaN in a record
        assertThat(read.runs().get(0).latency().p50()).isNaN();

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Tables.print(new PrintStream(bytes, true, StandardCharsets.UTF_8), read);
        String table = bytes.toString(StandardCharsets.UTF_8);
        assertThat(table).contains("| ten-users | http | 4 users | 1 | 0.0 | 0.0 | – | – | – | – | 40 (http_503 40) |")
                .contains("| ten-users | – | – | – | – |  |");

        bytes.reset();
        Tables.compare(new PrintStream(bytes, true, StandardCharsets.UTF_8), report(100, 20), read);
        assertThat(bytes.toString(StandardCharsets.UTF_8)).contains("|  | P99 ms | 20.0 | – | – |");
    }

    @Test
    void theCorpusSpreadsLengthsAndCanDefeatTheCache() {
        Corpus repeated = Corpus.builtIn();
        Corpus unique = Corpus.builtIn().unique();
        int size = repeated.texts().size();

        assertThat(repeated.next(size)).containsExactlyElementsOf(repeated.texts());
        assertThat(repeated.next(1)).containsExactly(repeated.texts().get(0));
        List<String> a = unique.next(size + 1);
        assertThat(a.get(size)).startsWith(repeated.texts().get(0)).isNotEqualTo(a.get(0));
        assertThat(repeated.texts().stream().mapToInt(t -> t.split(" ").length).max().getAsInt()).isGreaterThan(30);
    }

    @Test
    void compareShowsAfterOverBefore() {
        PerfReport before = report(100, 20);
        PerfReport after = report(250, 10);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        Tables.compare(new PrintStream(bytes, true, StandardCharsets.UTF_8), before, after);

        String table = bytes.toString(StandardCharsets.UTF_8);
        assertThat(table).contains("| ten-users | req/s | 100.0 | 250.0 | 2.50x |")
                .contains("|  | P99 ms | 20.0 | 10.0 | 0.50x |");
    }

    @Test
    void compareNamesLoadsFoundInOnlyOneReportAndSaysWhenNothingWasCompared() {
        PerfReport before = report(100, 20);
        PerfReport renamed = new PerfReport(before.tool(), before.startedAt(), before.environment(),
                List.of(withName(before.runs().get(0), "single-user")), null, null);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        // Before, an empty table and exit status 0: two reports of different loads read as "no change".
        int compared = Tables.compare(new PrintStream(bytes, true, StandardCharsets.UTF_8), before, renamed);

        assertThat(compared).isZero();
        assertThat(bytes.toString(StandardCharsets.UTF_8)).contains("Only before (no load of the same name to "
                + "compare with): ten-users").contains("Only after (no load of the same name to compare with): "
                + "single-user");
        assertThat(Tables.compare(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), before,
                report(250, 10))).isEqualTo(1);
    }

    @Test
    void durationsAreShortFormsOrIso8601() {
        PerfCommand.DurationConverter converter = new PerfCommand.DurationConverter();

        assertThat(converter.convert("500ms")).isEqualTo(java.time.Duration.ofMillis(500));
        assertThat(converter.convert("1.5s")).isEqualTo(java.time.Duration.ofMillis(1500));
        assertThat(converter.convert("2m")).isEqualTo(java.time.Duration.ofMinutes(2));
        // PT2S ends in s: it was read as the number "pt2" and failed.
        assertThat(converter.convert("PT2S")).isEqualTo(java.time.Duration.ofSeconds(2));
        assertThat(converter.convert("PT1M30S")).isEqualTo(java.time.Duration.ofSeconds(90));
    }

    private static PerfReport.RunResult withName(PerfReport.RunResult r, String name) {
        return new PerfReport.RunResult(name, r.target(), r.endpoint(), r.model(), r.mode(), r.users(), r.rate(),
                r.arrivals(), r.batchSize(), r.durationSeconds(), r.requests(), r.items(), r.failures(),
                r.failuresByKind(), r.requestsPerSecond(), r.itemsPerSecond(), r.latency(), r.latencyTimeouts(),
                r.server(), r.timeline(), r.ratioToCeiling(), r.cpuCores(), r.sendLag());
    }

    @Test
    void reportsRoundTripThroughJson(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        PerfReport report = report(123, 45);
        report.write(dir.resolve("r.json"));

        assertThat(PerfReport.read(dir.resolve("r.json"))).isEqualTo(report);
    }

    static PerfReport report(double rps, double p99) {
        PerfReport.Latency latency = new PerfReport.Latency(1000, p99 / 2, p99 / 3, p99 / 2, p99 * 0.8, p99, p99 * 2,
                p99 * 3);
        PerfReport.RunResult run = new PerfReport.RunResult("ten-users", "http", "POST /predict", "sentiment",
                "closed", 10, 0, null, 1, 20, (long) (rps * 20), (long) (rps * 20), 0, Map.of(), rps, rps, latency, 0,
                new PerfReport.ServerBreakdown(latency, latency, Map.of(1, 10L, 4, 40L), 0),
                List.of(new PerfReport.Interval(1, rps, p99 / 3, p99, 0)), 0.5, Map.of("worker-1", 1.5), null);
        return new PerfReport("kinfer perf", "2026-11-28T00:00:00Z",
                new PerfReport.Environment("h", 2, 1024, "java", "linux", "kinfer perf"), List.of(run), null, null);
    }
}
