package io.kinfer.perf;

import java.io.PrintStream;

/**
 * Live progress on the terminal: a bar that redraws in place with the current throughput and P99 when the
 * output is a console, or, when it is a file or pipe, the warm-up's first line, then a line every five seconds of
 * the measured window and always its last line (from {@link #done()}), so that each load leaves at least its start
 * and its end in a log.
 */
final class Progress implements LoadRunner.Progress {

    private static final int WIDTH = 24;
    /** Seconds between lines when the output is not a console. */
    private static final double EVERY = 5;

    private final PrintStream out;
    private final boolean console;
    /** When the last line was printed, in seconds of its phase; negative: none printed in this phase yet. */
    private double lastPrinted = -EVERY;
    private boolean measuring;
    /** The latest line of the measured window, and whether it is printed; printed by done() if it is not. */
    private String lastLine;
    private boolean lastLinePrinted = true;

    Progress(PrintStream out) {
        this(out, System.console() != null);
    }

    Progress(PrintStream out, boolean console) {
        this.out = out;
        this.console = console;
    }

    @Override
    public void update(LoadRunner.Plan plan, double elapsed, double requestsPerSecond, double p99Ms, long failures,
                       boolean warmingUp) {
        if (!warmingUp && !measuring) {
            // The warm-up's clock is not the window's: a line printed 2 s into the warm-up must not hold back the
            // window's lines until its fifth second.
            measuring = true;
            lastPrinted = -EVERY;
        }
        double total = warmingUp ? plan.warmup().toMillis() / 1000.0 : plan.duration().toMillis() / 1000.0;
        int filled = (int) Math.min(WIDTH, Math.round(WIDTH * elapsed / Math.max(0.001, total)));
        String line = warmingUp
                ? String.format("%-12s warming up %4.0f/%.0f s", plan.name(), elapsed, total)
                : String.format("%-12s [%s%s] %4.0f/%.0f s %8.1f req/s  p99 %s ms  %d failures", plan.name(),
                        "=".repeat(filled), " ".repeat(WIDTH - filled), elapsed, total, requestsPerSecond,
                        // A second with no answer has no P99: not 0 ms.
                        Double.isFinite(p99Ms) ? String.format("%7.1f", p99Ms) : "      –", failures);
        if (console) {
            out.print("\r" + line + "   ");
            out.flush();
            return;
        }
        if (warmingUp ? lastPrinted < 0 : elapsed - lastPrinted >= EVERY) {
            out.println(line);
            lastPrinted = elapsed;
            lastLinePrinted = true;
        } else {
            lastLinePrinted = false;
        }
        if (!warmingUp) {
            lastLine = line;
        }
    }

    /** Ends a load's progress: a console's line is ended; elsewhere the window's last line is printed if it was not. */
    void done() {
        if (console) {
            out.println();
        } else if (lastLine != null && !lastLinePrinted) {
            out.println(lastLine);
        }
        lastPrinted = -EVERY;
        measuring = false;
        lastLine = null;
        lastLinePrinted = true;
    }

    /** A phase of a measurement with no live figures (the ceiling's warm-up, its passes), one line each. */
    void phase(String line) {
        out.println(line);
        out.flush();
    }
}
