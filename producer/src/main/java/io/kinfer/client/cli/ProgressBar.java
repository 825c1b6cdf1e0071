package io.kinfer.client.cli;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A progress bar redrawn in place on a console at most ten times a second, or a line every 10 % otherwise. With
 * no known total (input streamed from stdin) it shows the count and rate, and off a console a line every 1000.
 */
final class ProgressBar {

    private static final int WIDTH = 30;

    private final PrintStream out;
    private final long total;
    private final boolean enabled;
    private final boolean console = System.console() != null;
    private final long started = System.nanoTime();
    private final AtomicLong done = new AtomicLong();
    private volatile long lastDraw;
    private volatile long lastDecile = -1;

    ProgressBar(PrintStream out, long total, boolean enabled) {
        this.out = out;
        this.total = total;
        this.enabled = enabled;
    }

    void step() {
        long now = done.incrementAndGet();
        if (!enabled) {
            return;
        }
        if (console) {
            long t = System.nanoTime();
            if (t - lastDraw > 100_000_000L || now == total) {
                lastDraw = t;
                draw(now);
            }
        } else if (total < 0) {
            if (now % 1000 == 0) {
                out.println(line(now));
            }
        } else {
            long decile = total == 0 ? 10 : now * 10 / total;
            if (decile != lastDecile) {
                lastDecile = decile;
                out.println(line(now));
            }
        }
    }

    private synchronized void draw(long now) {
        out.print("\r" + line(now));
        out.flush();
    }

    private String line(long now) {
        double seconds = (System.nanoTime() - started) / 1e9;
        if (total < 0) {
            return String.format("%d %.0f/s", now, now / Math.max(seconds, 1e-9));
        }
        // A file that grew after it was counted can pass its total.
        int filled = total == 0 ? WIDTH : (int) Math.min(WIDTH, WIDTH * now / total);
        return String.format("[%s%s] %d/%d %.0f/s", "=".repeat(filled), " ".repeat(WIDTH - filled), now, total,
                now / Math.max(seconds, 1e-9));
    }

    void finish() {
        if (enabled && console) {
            out.println();
        }
    }
}
