package io.kinfer.perf;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The final tables, in Markdown so they paste into docs/PERFORMANCE.md as they are. A figure with no data behind it
 * (NaN: the percentiles of a load that got no answer) shows as {@value #NO_DATA}, never as 0.
 */
final class Tables {

    static final String NO_DATA = "–";

    private Tables() {
    }

    /** One decimal, or {@value #NO_DATA} when there is no data. */
    static String f1(double value) {
        return Double.isFinite(value) ? String.format("%.1f", value) : NO_DATA;
    }

    static String f2(double value) {
        return Double.isFinite(value) ? String.format("%.2f", value) : NO_DATA;
    }

    static void print(PrintStream out, PerfReport report) {
        if (!report.runs().isEmpty()) {
            out.println();
            out.println("| load | target | users/rate | batch | req/s | texts/s | P50 ms | P95 ms | P99 ms | P99.9 ms "
                    + "| failures | vs ceiling |");
            out.println("|---|---|---|---|---|---|---|---|---|---|---|---|");
            for (PerfReport.RunResult r : report.runs()) {
                out.printf("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |%n", r.name(),
                        r.target(), r.mode().equals("open") ? r.rate() + "/s" : r.users() + " users", r.batchSize(),
                        f1(r.requestsPerSecond()), f1(r.itemsPerSecond()), f1(r.latency().p50()),
                        f1(r.latency().p95()), f1(r.latency().p99()), f1(r.latency().p999()), failures(r),
                        r.ratioToCeiling() == null ? "" : String.format("%.0f %%", r.ratioToCeiling() * 100));
            }
            String timedOut = report.runs().stream().filter(r -> r.latencyTimeouts() > 0)
                    .map(r -> r.name() + ": " + r.latencyTimeouts() + " timeouts").collect(Collectors.joining(", "));
            if (!timedOut.isEmpty()) {
                out.println();
                out.println("Latency includes the timed-out calls at their elapsed time (at least the call timeout), "
                        + "so a stall shows in the tail: " + timedOut + ". Other failures are counted only under "
                        + "failures.");
            }
            for (PerfReport.RunResult r : report.runs()) {
                PerfReport.SendLag lag = r.sendLag();
                if (lag != null) {
                    String behind = behind(lag);
                    out.printf("Open loop %s: sent %.1f calls/s of %.1f planned, send lag P99 %s ms%s%n", r.name(),
                            lag.achievedRate(), lag.plannedRate(), f2(lag.lag().p99()),
                            behind.isEmpty() ? "" : " (the generator fell behind its plan: " + behind + ")");
                }
            }
            out.println();
            out.println("Server side (from reply timings): | load | queue P50 ms | queue P99 ms | inference P50 ms "
                    + "| mean batch | batch sizes |");
            out.println("|---|---|---|---|---|---|");
            for (PerfReport.RunResult r : report.runs()) {
                PerfReport.ServerBreakdown s = r.server();
                out.printf("| %s | %s | %s | %s | %s | %s |%n", r.name(), f1(s.queueMs().p50()), f1(s.queueMs().p99()),
                        f1(s.inferenceMs().p50()), f1(meanBatch(s.batchSizes())), histogram(s.batchSizes()));
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
            // The line scripts parse: "...: N texts/s at batch B (batch P50 X ms); batch-1 latency P50 Y ms, ...".
            out.printf("Ceiling (raw %s in-process, %s threads%s%s, %s): %.1f texts/s at batch %d (batch P50 %s ms); "
                            + "batch-1 latency P50 %s ms, P99 %s ms%n", c.model(),
                    c.threads() == 0 ? "default" : Integer.toString(c.threads()),
                    c.instances() > 1 ? " x " + c.instances() + " instances" : "",
                    c.threads() > 1 && c.singleThreadMaxTokens() > 0
                            ? ", calls up to " + c.singleThreadMaxTokens() + " tokens on 1 thread" : "",
                    grouping(c), c.itemsPerSecond(), c.batchSize(), f1(c.batchLatency().p50()),
                    f2(c.batch1Latency().p50()), f2(c.batch1Latency().p99()));
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

    /** Why an open loop counts as behind its plan ({@link PerfReport.SendLag#behind()}); empty when it kept up. */
    static String behind(PerfReport.SendLag lag) {
        if (!lag.behind()) {
            return "";
        }
        double limit = PerfReport.SendLag.lagLimitMs(lag.plannedRate());
        String late = lag.lag().p99() > limit ? String.format("calls went out late, send lag P99 %s ms > %s ms (the "
                + "plan's mean gap between calls, at least %s ms)", f2(lag.lag().p99()), f2(limit),
                PerfReport.SendLag.BEHIND_LAG_MS) : "";
        String fewer = lag.achievedRate() < PerfReport.SendLag.BEHIND_RATE_SHARE * lag.plannedRate()
                ? String.format("it offered less load than planned, %.1f of %.1f calls/s", lag.achievedRate(),
                lag.plannedRate()) : "";
        return late.isEmpty() || fewer.isEmpty() ? late + fewer : late + "; " + fewer;
    }

    /** How the ceiling grouped its texts into batches, as the summary line says it. */
    static String grouping(PerfReport.CeilingResult c) {
        if (c.grouping() == null) {
            return "grouping not recorded (arrival order)";
        }
        String padding = Double.isFinite(c.paddingEfficiency())
                ? String.format(", %.0f %% of padded tokens real", c.paddingEfficiency() * 100) : "";
        return Ceiling.Grouping.PAD_AWARE.label().equals(c.grouping())
                ? "pad-aware grouping as the worker's batcher over a queue of " + c.queueSize() + padding
                : c.grouping() + " grouping" + padding;
    }

    /**
     * Prints the loads of the same name, and the ceilings, side by side; names the loads found in only one report.
     * Returns how many things (loads, the ceiling) were compared: 0 means the two reports had nothing in common.
     */
    static int compare(PrintStream out, PerfReport before, PerfReport after) {
        out.println("| load | metric | before | after | after/before |");
        out.println("|---|---|---|---|---|");
        int compared = 0;
        for (PerfReport.RunResult b : before.runs()) {
            PerfReport.RunResult a = after.runs().stream().filter(r -> r.name().equals(b.name())).findFirst()
                    .orElse(null);
            if (a == null) {
                continue;
            }
            compared++;
            row(out, b.name(), "req/s", b.requestsPerSecond(), a.requestsPerSecond());
            row(out, "", "texts/s", b.itemsPerSecond(), a.itemsPerSecond());
            row(out, "", "P50 ms", b.latency().p50(), a.latency().p50());
            row(out, "", "P95 ms", b.latency().p95(), a.latency().p95());
            row(out, "", "P99 ms", b.latency().p99(), a.latency().p99());
            row(out, "", "failures", b.failures(), a.failures());
        }
        if (before.ceiling() != null && after.ceiling() != null) {
            compared++;
            row(out, "ceiling", "texts/s", before.ceiling().itemsPerSecond(), after.ceiling().itemsPerSecond());
            if (!java.util.Objects.equals(before.ceiling().grouping(), after.ceiling().grouping())) {
                out.printf("The ceilings grouped their batches differently (%s before, %s after): their ratio "
                        + "measures the grouping too.%n", grouping(before.ceiling()), grouping(after.ceiling()));
            }
        }
        onlyIn(out, "before", before, after);
        onlyIn(out, "after", after, before);
        return compared;
    }

    private static void onlyIn(PrintStream out, String side, PerfReport report, PerfReport other) {
        List<String> alone = report.runs().stream().map(PerfReport.RunResult::name)
                .filter(name -> other.runs().stream().noneMatch(r -> r.name().equals(name))).toList();
        if (!alone.isEmpty()) {
            out.printf("Only %s (no load of the same name to compare with): %s%n", side, String.join(", ", alone));
        }
    }

    private static void row(PrintStream out, String load, String metric, double before, double after) {
        String ratio;
        if (!Double.isFinite(before) || !Double.isFinite(after)) {
            ratio = NO_DATA; // no data on one side: nothing to divide
        } else if (before == 0) {
            ratio = after == 0 ? "=" : "new";
        } else {
            ratio = String.format("%.2fx", after / before);
        }
        out.printf("| %s | %s | %s | %s | %s |%n", load, metric, f1(before), f1(after), ratio);
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
     * of the batch they were in, so a batch of n shows n times: it holds count / n calls. NaN (no data) with no
     * batch reported.
     */
    static double meanBatch(Map<Integer, Long> sizes) {
        long texts = 0;
        double calls = 0;
        for (Map.Entry<Integer, Long> e : sizes.entrySet()) {
            texts += e.getValue();
            calls += (double) e.getValue() / e.getKey();
        }
        return calls == 0 ? Double.NaN : texts / calls;
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
