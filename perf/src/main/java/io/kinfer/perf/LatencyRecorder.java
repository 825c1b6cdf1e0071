package io.kinfer.perf;

import java.util.concurrent.TimeUnit;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Latencies recorded from many threads into HdrHistogram (microsecond resolution, up to an hour), read as
 * one-second intervals for the timeline and accumulated for the totals.
 */
final class LatencyRecorder {

    private static final long MAX_MICROS = TimeUnit.HOURS.toMicros(1);

    private final Recorder recorder = new Recorder(MAX_MICROS, 3);
    private final Histogram total = new Histogram(MAX_MICROS, 3);
    private Histogram interval;

    void recordNanos(long nanos) {
        recorder.recordValue(Math.min(MAX_MICROS, Math.max(1, nanos / 1_000)));
    }

    void recordMillis(double millis) {
        recorder.recordValue(Math.min(MAX_MICROS, Math.max(1, Math.round(millis * 1_000))));
    }

    /** Takes what was recorded since the last call, adds it to the total and returns it. */
    synchronized Histogram interval() {
        interval = recorder.getIntervalHistogram(interval);
        total.add(interval);
        return interval.copy();
    }

    /** Forgets everything (after the warm-up). */
    synchronized void reset() {
        recorder.getIntervalHistogram();
        total.reset();
    }

    synchronized Histogram total() {
        interval();
        return total.copy();
    }

    /** The histogram's figures in milliseconds; with nothing recorded, {@link PerfReport.Latency#NO_DATA}, not 0 ms. */
    static PerfReport.Latency summary(Histogram histogram) {
        if (histogram.getTotalCount() == 0) {
            return PerfReport.Latency.NO_DATA;
        }
        return new PerfReport.Latency(histogram.getTotalCount(), ms(histogram.getMean()),
                ms(histogram.getValueAtPercentile(50)), ms(histogram.getValueAtPercentile(90)),
                ms(histogram.getValueAtPercentile(95)), ms(histogram.getValueAtPercentile(99)),
                ms(histogram.getValueAtPercentile(99.9)), ms(histogram.getMaxValue()));
    }

    /** A percentile of the histogram in milliseconds, NaN (no data) when it is empty. */
    static double percentileMs(Histogram histogram, double percentile) {
        return histogram.getTotalCount() == 0 ? Double.NaN : ms(histogram.getValueAtPercentile(percentile));
    }

    private static double ms(double micros) {
        return Math.round(micros) / 1_000.0;
    }
}
