package io.kinfer.perf;

import java.io.PrintStream;

/**
 * Live progress on the terminal: a bar that redraws in place with the current throughput and P99 when the
 * output is a console, or one line every five seconds when it is a file or pipe.
 */
final class Progress implements LoadRunner.Progress {

    private static final int WIDTH = 24;

    private final PrintStream out;
    private final boolean console;
    private double lastPrinted = -5;

    Progress(PrintStream out) {
        this.out = out;
        this.console = System.console() != null;
    }

    @Override
    public void update(LoadRunner.Plan plan, double elapsed, double requestsPerSecond, double p99Ms, long failures,
                       boolean warmingUp) {
        double total = warmingUp ? plan.warmup().toMillis() / 1000.0 : plan.duration().toMillis() / 1000.0;
        int filled = (int) Math.min(WIDTH, Math.round(WIDTH * elapsed / Math.max(0.001, total)));
        String line = warmingUp
                ? String.format("%-12s warming up %4.0f/%.0f s", plan.name(), elapsed, total)
                : String.format("%-12s [%s%s] %4.0f/%.0f s %8.1f req/s  p99 %7.1f ms  %d failures", plan.name(),
                        "=".repeat(filled), " ".repeat(WIDTH - filled), elapsed, total, requestsPerSecond, p99Ms,
                        failures);
        if (console) {
            out.print("\r" + line + "   ");
            out.flush();
        } else if (elapsed - lastPrinted >= 5 || warmingUp && lastPrinted < 0) {
            out.println(line);
            lastPrinted = elapsed;
        }
    }

    void done() {
        if (console) {
            out.println();
        }
        lastPrinted = -5;
    }
}
