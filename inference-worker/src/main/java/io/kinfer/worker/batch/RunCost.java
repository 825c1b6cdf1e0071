package io.kinfer.worker.batch;

/**
 * What one model call costs, learned from the batches this version ran: time ≈ fixed + perToken × rows × longest
 * row. Batching needs only the ratio, {@link #overheadTokens}: how many padded tokens one more call is worth,
 * which decides whether splitting a mixed-length batch into two calls is cheaper than padding it whole. Fitted by
 * exponentially weighted least squares, so it follows the machine's current speed and forgets an old outlier.
 * Not thread-safe: the {@link Batcher} calls it under its lock.
 */
final class RunCost {

    /** Weight kept per new batch: about the last 50 batches count. */
    private static final double DECAY = 0.98;
    /** Batches (in weight) before the fit is trusted. */
    private static final double MIN_WEIGHT = 16;
    /** Padded sizes must vary this much (coefficient of variation) to tell the fixed part from the per-token one. */
    private static final double MIN_SPREAD = 0.25;

    private double weight;
    private double sumX;
    private double sumY;
    private double sumXX;
    private double sumXY;

    /** One batch: its rows times its longest row, and how long its call took. */
    void record(long paddedTokens, long nanos) {
        weight = weight * DECAY + 1;
        sumX = sumX * DECAY + paddedTokens;
        sumY = sumY * DECAY + nanos;
        sumXX = sumXX * DECAY + (double) paddedTokens * paddedTokens;
        sumXY = sumXY * DECAY + (double) paddedTokens * nanos;
    }

    /**
     * The fixed cost of one model call in padded tokens, or a negative number while unknown: too few batches,
     * padded sizes too alike (or none, for tensor models) to separate the two parts, or a fit with no fixed cost
     * or no per-token cost, which would make any split look free or any padding look free.
     */
    double overheadTokens() {
        if (weight < MIN_WEIGHT) {
            return -1;
        }
        double meanX = sumX / weight;
        double meanY = sumY / weight;
        double varX = sumXX / weight - meanX * meanX;
        if (meanX <= 0 || varX < MIN_SPREAD * MIN_SPREAD * meanX * meanX) {
            return -1;
        }
        double perToken = (sumXY / weight - meanX * meanY) / varX;
        double fixed = meanY - perToken * meanX;
        return perToken > 0 && fixed > 0 ? fixed / perToken : -1;
    }
}
