package io.kinfer.config;

import java.time.Duration;
import java.util.Arrays;

/**
 * The upper bounds of every kinfer latency histogram (gateway, client, worker), fixed and the same everywhere so
 * that one dashboard query fits all of them. Micrometer's own percentile histogram puts 73 buckets between 1 ms and
 * 60 s; every route × method × status series of the gateway carried them all, and its scrape passed 270 KB after a
 * few dozen kinds of request. These 27 are dense where kinfer's latencies and targets lie (a lone call is a few
 * milliseconds, a busy one tens) and sparse beyond a second, where only timeouts land.
 */
public final class LatencyBuckets {

    private static final long[] MILLIS = {1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150, 250, 500,
            1_000, 2_500, 5_000, 10_000, 30_000, 60_000};

    private LatencyBuckets() {
    }

    /** Half a millisecond (a cache hit, a worker's queue when idle), then {@link #MILLIS}: 27 bounds. */
    public static Duration[] bounds() {
        Duration[] bounds = new Duration[MILLIS.length + 1];
        bounds[0] = Duration.ofNanos(500_000);
        for (int i = 0; i < MILLIS.length; i++) {
            bounds[i + 1] = Duration.ofMillis(MILLIS[i]);
        }
        return bounds;
    }

    /** The same bounds in milliseconds, for documentation and tests. */
    public static double[] boundsMillis() {
        return Arrays.stream(bounds()).mapToDouble(d -> d.toNanos() / 1e6).toArray();
    }
}
