package io.kinfer.perf;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** The final tables, in Markdown so they paste into docs/PERFORMANCE.md as they are. */
final class Tables {

    private Tables() {
    }

    static void print(PrintStream out, PerfReport report) {
        if (!report.runs().isEmpty()) {
            out.println();
            out.println("| load | target | users/rate | batch | req/s | texts/s | P50 ms | P95 ms | P99 ms | P99.9 ms "
                    + "| failures | vs ceiling |");
            out.println("|---|---|---|---|---|---|---|---|---|---|---|---|");
            for (PerfReport.RunResult r : report.runs()) {
                out.printf("| %s | %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %s |%n", r.name(),
                        r.target(), r.mode().equals("open") ? r.rate() + "/s" : r.users() + " users", r.batchSize(),
                        r.requestsPerSecond(), r.itemsPerSecond(), r.latency().p50(), r.latency().p95(),
                        r.latency().p99(), r.latency().p999(), failures(r),
                        r.ratioToCeiling() == null ? "" : String.format("%.0f %%", r.ratioToCeiling() * 100));
            }
            out.println();
            out.println("Server side (from reply timings): | load | queue P50 ms | queue P99 ms | inference P50 ms "
                    + "| mean batch | batch sizes |");
            out.println("|---|---|---|---|---|---|");
            for (PerfReport.RunResult r : report.runs()) {
                PerfReport.ServerBreakdown s = r.server();
                out.printf("| %s | %.1f | %.1f | %.1f | %.1f | %s |%n", r.name(), s.queueMs().p50(), s.queueMs().p99(),
                        s.inferenceMs().p50(), meanBatch(s.batchSizes()), histogram(s.batchSizes()));
            }
        }
        for (PerfReport.RunResult r : report.runs()) {
            if (r.cpuCores() != null && !r.cpuCores().isEmpty()) {
                out.printf("CPU during %s (cores): %s%n", r.name(), r.cpuCores().entrySet().stream()
                        .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", ")));
            }
        }
        PerfReport.CeilingResult c = report.ceiling();
        if (c != null) {
            out.println();
            out.printf("Ceiling (raw %s in-process, %s threads%s%s): %.1f texts/s at batch %d (batch P50 %.1f ms); "
                            + "batch-1 latency P50 %.2f ms, P99 %.2f ms%n", c.model(),
                    c.threads() == 0 ? "default" : Integer.toString(c.threads()),
                    c.instances() > 1 ? " x " + c.instances() + " instances" : "",
                    c.threads() > 1 && c.singleThreadMaxTokens() > 0
                            ? ", calls up to " + c.singleThreadMaxTokens() + " tokens on 1 thread" : "", c.itemsPerSecond(), c.batchSize(),
                    c.batchLatency().p50(), c.batch1Latency().p50(), c.batch1Latency().p99());
        }
        if (report.profiles() != null) {
            for (PerfReport.ProfileResult p : report.profiles()) {
                out.println();
                out.printf("Profile of %s: %d samples (%s)%n", p.process(), p.samples(), p.jfrFile());
                out.println("  by self time                                                   | by total time");
                for (int i = 0; i < Math.max(p.bySelfTime().size(), p.byTotalTime().size()); i++) {
                    out.printf("  %-56s %5s | %-56s %5s%n", name(p.bySelfTime(), i), percent(p.bySelfTime(), i),
                            name(p.byTotalTime(), i), percent(p.byTotalTime(), i));
                }
            }
        }
    }

    static void compare(PrintStream out, PerfReport before, PerfReport after) {
        out.println("| load | metric | before | after | after/before |");
        out.println("|---|---|---|---|---|");
        for (PerfReport.RunResult b : before.runs()) {
            PerfReport.RunResult a = after.runs().stream().filter(r -> r.name().equals(b.name())).findFirst()
                    .orElse(null);
            if (a == null) {
                continue;
            }
            row(out, b.name(), "req/s", b.requestsPerSecond(), a.requestsPerSecond());
            row(out, "", "texts/s", b.itemsPerSecond(), a.itemsPerSecond());
            row(out, "", "P50 ms", b.latency().p50(), a.latency().p50());
            row(out, "", "P95 ms", b.latency().p95(), a.latency().p95());
            row(out, "", "P99 ms", b.latency().p99(), a.latency().p99());
            row(out, "", "failures", b.failures(), a.failures());
        }
        if (before.ceiling() != null && after.ceiling() != null) {
            row(out, "ceiling", "texts/s", before.ceiling().itemsPerSecond(), after.ceiling().itemsPerSecond());
        }
    }

    private static void row(PrintStream out, String load, String metric, double before, double after) {
        out.printf("| %s | %s | %.1f | %.1f | %s |%n", load, metric, before, after,
                before == 0 ? (after == 0 ? "=" : "new") : String.format("%.2fx", after / before));
    }

    private static String failures(PerfReport.RunResult r) {
        if (r.failures() == 0) {
            return "0";
        }
        return r.failures() + " (" + r.failuresByKind().entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", ")) + ")";
    }

    /**
     * Texts per model call, as Triton counts it (inferences / executions). {@code sizes} counts replies by the size
     * of the batch they were in, so a batch of n shows n times: it holds count / n calls.
     */
    static double meanBatch(Map<Integer, Long> sizes) {
        long texts = 0;
        double calls = 0;
        for (Map.Entry<Integer, Long> e : sizes.entrySet()) {
            texts += e.getValue();
            calls += (double) e.getValue() / e.getKey();
        }
        return calls == 0 ? 0 : texts / calls;
    }

    private static String histogram(Map<Integer, Long> sizes) {
        return sizes.entrySet().stream().map(e -> e.getKey() + ":" + e.getValue()).collect(Collectors.joining(" "));
    }

    private static String name(List<PerfReport.MethodShare> list, int i) {
        if (i >= list.size()) {
            return "";
        }
        String m = list.get(i).method();
        return m.length() <= 56 ? m : "..." + m.substring(m.length() - 53);
    }

    private static String percent(List<PerfReport.MethodShare> list, int i) {
        return i >= list.size() ? "" : String.format("%.1f%%", list.get(i).percent());
    }
}
