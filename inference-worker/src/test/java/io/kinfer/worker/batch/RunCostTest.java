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

    @Test
    void learnsTheFixedCostOfACallInPaddedTokens() {
        RunCost cost = new RunCost();
        long[] sizes = {8, 51, 120, 26, 300, 14, 640, 40};
        for (int i = 0; i < 40; i++) {
            cost.record(sizes[i % sizes.length], nanos(sizes[i % sizes.length]));
        }

        assertThat(cost.overheadTokens()).isCloseTo(50, within(0.5));
    }

    @Test
    void unknownUntilEnoughBatchesRan() {
        RunCost cost = new RunCost();
        for (int i = 0; i < 10; i++) {
            cost.record(10L + 30 * i, nanos(10L + 30 * i));
        }

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
        long[] sizes = {8, 51, 120, 26, 300, 14, 640, 40};
        for (int i = 0; i < 40; i++) {
            cost.record(sizes[i % sizes.length], nanos(sizes[i % sizes.length]));
        }
        // Now each call costs 8 ms more (say, another process took a core): one call is worth 250 tokens.
        for (int i = 0; i < 400; i++) {
            cost.record(sizes[i % sizes.length], nanos(sizes[i % sizes.length]) + 8_000_000);
        }

        assertThat(cost.overheadTokens()).isCloseTo(250, within(1.0));
    }
}
