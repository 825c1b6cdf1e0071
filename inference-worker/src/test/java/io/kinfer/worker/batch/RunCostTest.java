package io.kinfer.worker.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** The fitted call cost, fed batches whose time is an exact function of their padded size. */
class RunCostTest {

    /** A model call of 2 ms plus 40 µs per padded token: one call is worth 50 tokens. */
    private static long nanos(long paddedTokens) {
        return 2_000_000 + 40_000 * paddedTokens;
    }

    /** Padded sizes as varied as a mixed-length workload's. */
    private static final long[] SIZES = {8, 51, 120, 26, 300, 14, 640, 40};

    /** Records {@code batches} batches cycling through {@link #SIZES}, each {@code extraNanos} slower than nanos(). */
    private static void run(RunCost cost, int batches, long extraNanos) {
        for (int i = 0; i < batches; i++) {
            long size = SIZES[i % SIZES.length];
            cost.record(size, nanos(size) + extraNanos);
        }
    }

    @Test
    void learnsTheFixedCostOfACallInPaddedTokens() {
        RunCost cost = new RunCost();
        run(cost, 40, 0);

        assertThat(cost.overheadTokens()).isCloseTo(50, within(0.5));
    }

    @Test
    void unknownUntilEnoughBatchesRan() {
        RunCost cost = new RunCost();
        run(cost, 10, 0);

        assertThat(cost.overheadTokens()).isNegative();
    }

    @Test
    void unknownWhenEveryBatchHadTheSamePaddedSize() {
        RunCost cost = new RunCost();
        for (int i = 0; i < 40; i++) {
            cost.record(256, nanos(256) + (i % 2) * 100_000);
        }

        assertThat(cost.overheadTokens()).isNegative();
    }

    @Test
    void unknownForTensorModelsWhichHaveNoPadding() {
        RunCost cost = new RunCost();
        for (int i = 0; i < 40; i++) {
            cost.record(0, 1_000_000 + i * 10_000);
        }

        assertThat(cost.overheadTokens()).isNegative();
    }

    @Test
    void unknownWhenTheFitHasNoFixedCost() {
        RunCost cost = new RunCost();
        for (int i = 0; i < 40; i++) {
            long size = 10L + 20 * (i % 7);
            cost.record(size, 50_000 * size - 1_000_000); // a negative fixed part: splitting would look free
        }

        assertThat(cost.overheadTokens()).isNegative();
    }

    @Test
    void followsTheMachineWhenItsSpeedChanges() {
        RunCost cost = new RunCost();
        run(cost, 40, 0);
        // Now each call costs 8 ms more (say, another process took a core): one call is worth 250 tokens.
        run(cost, 400, 8_000_000);

        assertThat(cost.overheadTokens()).isCloseTo(250, within(1.0));
    }
}
