package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

import io.kinfer.perf.PerfReport.CeilingResult;
import io.kinfer.perf.PerfReport.Environment;
import io.kinfer.perf.PerfReport.Interval;
import io.kinfer.perf.PerfReport.Latency;
import io.kinfer.perf.PerfReport.MethodShare;
import io.kinfer.perf.PerfReport.ProfileResult;
import io.kinfer.perf.PerfReport.RunResult;
import io.kinfer.perf.PerfReport.SendLag;
import io.kinfer.perf.PerfReport.ServerBreakdown;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HtmlReportTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Pattern DATA_BLOCK =
            Pattern.compile("<script type=\"application/json\" id=\"report-data\">(.*?)</script>", Pattern.DOTALL);

    @TempDir
    Path dir;

    @Test
    void inlinesEchartsSoThePageOpensOffline() throws IOException {
        String html = HtmlReport.render(fullReport("steady"));

        assertThat(html).contains("t.version=\"5.3.1\"").contains("echarts.init(");
        assertThat(html).doesNotContainPattern("<script[^>]+src=").doesNotContain("<link");
    }

    @Test
    void embedsTheReportAsJsonThatReadsBackUnchanged() throws IOException {
        PerfReport report = fullReport("steady");

        PerfReport embedded = PerfReport.mapper().readValue(dataBlock(HtmlReport.render(report)), PerfReport.class);

        assertThat(embedded).isEqualTo(report);
    }

    @Test
    void aScriptEndTagInARunNameCannotCloseTheDataBlock() throws IOException {
        String name = "</script><script>document.title='pwned'</script><!--";

        String html = HtmlReport.render(fullReport(name));

        assertThat(html).doesNotContain(name).doesNotContain("<!--");
        // Three script elements (ECharts, data, page), so three end tags: none came from the data.
        assertThat(Pattern.compile("</script", Pattern.CASE_INSENSITIVE).matcher(html).results().count())
                .isEqualTo(3);
        PerfReport embedded = PerfReport.mapper().readValue(dataBlock(html), PerfReport.class);
        assertThat(embedded.runs().get(0).name()).isEqualTo(name);
    }

    @Test
    void writeCreatesMissingDirectories() throws IOException {
        Path file = dir.resolve("reports/nested/perf.html");

        HtmlReport.write(fullReport("steady"), file);

        assertThat(Files.readString(file)).startsWith("<!DOCTYPE html>").endsWith("</html>\n");
    }

    @Test
    void chromiumDrawsEveryChartOfAFullReport() throws Exception {
        assumeTrue(Files.isExecutable(CHROMIUM), "no " + CHROMIUM);
        Path file = dir.resolve("report.html");
        HtmlReport.write(fullReport("</script><b>steady</b>"), file);

        String dom = chromium("--dump-dom", file.toUri().toString());

        assertThat(dom).contains("data-ready=\"true\"").contains("data-errors=\"0\"").contains("<canvas");
        // Three timelines, latency vs throughput, batch sizes and failures.
        assertThat(chartsRendered(dom)).isGreaterThanOrEqualTo(6);
        assertThat(dom).contains("Ceiling: the raw model in this process", "1-thread calls up to (tokens)",
                "By self time", "By total time", "io.kinfer.worker.Batcher.run");
        // The run name is shown as text, escaped by the DOM, not parsed as markup.
        assertThat(dom).contains("&lt;/script&gt;&lt;b&gt;steady&lt;/b&gt;").doesNotContain("<b>steady</b>");
    }

    @Test
    void chromiumDrawsASparseReportWithoutErrors() throws Exception {
        assumeTrue(Files.isExecutable(CHROMIUM), "no " + CHROMIUM);
        Path file = dir.resolve("sparse.html");
        var run = new RunResult("lone", "gateway", null, null, "closed", 1, 0, null, 1, 5, 0, 0, 0, null, 0, 0,
                null, 0, null, null, null, null, null);
        HtmlReport.write(new PerfReport(null, null, null, List.of(run), null, null), file);

        String dom = chromium("--dump-dom", file.toUri().toString());

        assertThat(dom).contains("data-ready=\"true\"").contains("data-errors=\"0\"").contains("lone");
        assertThat(chartsRendered(dom)).isZero();
    }

    @Test
    void screenshotOfAFullReportIsNotBlank() throws Exception {
        assumeTrue(Files.isExecutable(CHROMIUM), "no " + CHROMIUM);
        Path file = dir.resolve("report.html");
        Path png = dir.resolve("report.png");
        HtmlReport.write(fullReport("steady"), file);

        chromium("--screenshot=" + png, "--window-size=1280,2000", file.toUri().toString());

        // A page with one line of text compresses to about 12 KB at this size; charts take several times that.
        assertThat(png).exists();
        assertThat(Files.size(png)).isGreaterThan(40_000);
    }

    private static String dataBlock(String html) {
        Matcher matcher = DATA_BLOCK.matcher(html);
        assertThat(matcher.find()).as("the report-data block").isTrue();
        return matcher.group(1);
    }

    private static int chartsRendered(String dom) {
        Matcher matcher = Pattern.compile("data-charts-rendered=\"(\\d+)\"").matcher(dom);
        assertThat(matcher.find()).as("data-charts-rendered on <body>").isTrue();
        return Integer.parseInt(matcher.group(1));
    }

    /** Runs headless Chromium on its own profile and returns what it printed on stdout. */
    private String chromium(String... args) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory(dir, "chromium-profile");
        Path out = dir.resolve("chromium.out");
        Path err = dir.resolve("chromium.err");
        List<String> command = new ArrayList<>(List.of(CHROMIUM.toString(), "--headless", "--no-sandbox",
                "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
                "--virtual-time-budget=10000"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                .start();
        if (!process.waitFor(90, TimeUnit.SECONDS)) {
            // Renderer and GPU helpers are children of the browser process: stop them too.
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            fail("chromium did not finish in 90 s; stderr:%n%s", Files.readString(err));
        }
        assertThat(process.exitValue()).as("chromium's exit status; stderr:%n%s", Files.readString(err)).isZero();
        return Files.readString(out);
    }

    private static PerfReport fullReport(String firstRunName) {
        var env = new Environment("ci-host", 2, 1024, "17.0.15", "Linux 6.1 amd64", "kinfer perf --scenario all");
        var ceiling = new CeilingResult("sentiment", 2, 64, 1, 32, 410.5, latency(70, 90, 120), latency(4.1, 5, 9.5),
                "pad-aware", 256, 0.87);
        List<RunResult> runs = List.of(
                run(firstRunName, "closed", 1, 0, 1, 9.8, latency(6.2, 8, 12.5), Map.of(1, 590L), Map.of()),
                run("ten-users", "closed", 10, 0, 1, 48.0, latency(21, 35, 58), Map.of(1, 120L, 4, 400L, 8, 1200L),
                        Map.of("timeout", 3L, "http_429", 2L)),
                run("batch-25 @ 4/s", "open", 0, 4, 25, 4.0, latency(180, 240, 310), Map.of(16, 200L, 32, 2300L),
                        Map.of()));
        var profile = new ProfileResult("worker-1", "target/perf/worker-1.jfr", 5120,
                List.of(new MethodShare("ai.onnxruntime.OrtSession.run", 3900, 76.2),
                        new MethodShare("ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.batchEncode", 400, 7.8)),
                List.of(new MethodShare("io.kinfer.worker.Batcher.run", 4600, 89.8),
                        new MethodShare("ai.onnxruntime.OrtSession.run", 3900, 76.2)));
        return new PerfReport("kinfer perf", "2025-11-28T04:00:00Z", env, runs, ceiling, List.of(profile));
    }

    private static RunResult run(String name, String mode, int users, double rate, int batch, double rps,
                                 Latency latency, Map<Integer, Long> batchSizes, Map<String, Long> failuresByKind) {
        double seconds = 10;
        long requests = Math.round(rps * seconds);
        long failures = failuresByKind.values().stream().mapToLong(Long::longValue).sum();
        List<Interval> timeline = IntStream.range(0, (int) seconds)
                .mapToObj(s -> new Interval(s + 1, rps * (0.9 + 0.02 * s), latency.p50() * (1 + 0.05 * (s % 3)),
                        latency.p99() * (1 + 0.1 * (s % 4)), s == 5 ? failures : 0))
                .toList();
        var server = new ServerBreakdown(latency(1.2, 3, 6), latency(latency.p50() * 0.6, latency.p95() * 0.6,
                latency.p99() * 0.6), batchSizes, 7);
        double itemsPerSecond = rps * batch;
        return new RunResult(name, "gateway", batch == 1 ? "/predict" : "/predict_batch", "sentiment", mode, users,
                rate, rate > 0 ? "poisson" : null, batch, seconds, requests, (requests - failures) * batch, failures,
                failuresByKind, rps, itemsPerSecond, latency, failuresByKind.getOrDefault("timeout", 0L), server,
                timeline, itemsPerSecond / 410.5, Map.of("worker-1", 1.4, "broker", 0.3),
                mode.equals("open") ? new SendLag(latency(0.05, 0.2, 0.4), rate, rate * 0.99, false) : null);
    }

    private static Latency latency(double p50, double p95, double p99) {
        return new Latency(1000, p50 * 1.1, p50, (p50 + p95) / 2, p95, p99, p99 * 1.3, p99 * 1.6);
    }
}
