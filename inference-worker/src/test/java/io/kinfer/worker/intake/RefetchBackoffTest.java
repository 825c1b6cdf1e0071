package io.kinfer.worker.intake;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** The refetch pause on its own, with the test's clock: doubling, capping, starting over. */
class RefetchBackoffTest {

    private static final long START = 123_456_789L;

    @Test
    void theSameRecordFailingAgainDoublesThePauseFromOneSecondUpToThirty() {
        RefetchBackoff<Long> backoff = new RefetchBackoff<>(RefetchBackoff.MIN_PAUSE_MS);
        List<Long> pauses = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            pauses.add(backoff.failed(7L, START));
        }
        assertThat(pauses).containsExactly(1_000L, 2_000L, 4_000L, 8_000L, 16_000L, 30_000L, 30_000L, 30_000L);
        assertThat(backoff.key()).isEqualTo(7L);
        assertThat(backoff.failures()).isEqualTo(8);
    }

    @Test
    void withNoFirstPauseTheFirstRetryGoesAtOnceAndThePausesStartWithTheSecondFailure() {
        RefetchBackoff<String> backoff = new RefetchBackoff<>(0);
        assertThat(backoff.failed("a@3", START)).isZero();
        assertThat(backoff.waiting(START)).isFalse();
        assertThat(backoff.failed("a@3", START)).isEqualTo(1_000L);
        assertThat(backoff.failed("a@3", START)).isEqualTo(2_000L);
        assertThat(backoff.failures()).isEqualTo(3);
    }

    @Test
    void aPauseLastsFromTheFailureForItsLength() {
        RefetchBackoff<Long> backoff = new RefetchBackoff<>(RefetchBackoff.MIN_PAUSE_MS);
        backoff.failed(7L, START);
        long end = START + TimeUnit.MILLISECONDS.toNanos(1_000);
        assertThat(backoff.waiting(end - 1)).isTrue();
        assertThat(backoff.waiting(7L, end - 1)).isTrue();
        assertThat(backoff.waiting(8L, end - 1)).as("another record").isFalse();
        assertThat(backoff.waiting(end)).isFalse();
        assertThat(backoff.waiting(7L, end)).isFalse();
    }

    @Test
    void aPauseEndsAcrossTheWrapOfNanoTime() {
        RefetchBackoff<Long> backoff = new RefetchBackoff<>(RefetchBackoff.MIN_PAUSE_MS);
        long beforeWrap = Long.MAX_VALUE - TimeUnit.MILLISECONDS.toNanos(500);
        backoff.failed(7L, beforeWrap);
        assertThat(backoff.waiting(Long.MAX_VALUE)).isTrue();
        assertThat(backoff.waiting(beforeWrap + TimeUnit.MILLISECONDS.toNanos(1_000))).isFalse();
    }

    @Test
    void anotherRecordFailingStartsOver() {
        RefetchBackoff<Long> backoff = new RefetchBackoff<>(RefetchBackoff.MIN_PAUSE_MS);
        backoff.failed(7L, START);
        backoff.failed(7L, START);
        assertThat(backoff.failed(9L, START)).isEqualTo(1_000L);
        assertThat(backoff.key()).isEqualTo(9L);
        assertThat(backoff.failures()).isEqualTo(1);
        assertThat(backoff.failed(7L, START)).as("the first record again: a new run").isEqualTo(1_000L);
    }

    @Test
    void resetEndsThePauseAndStartsOver() {
        RefetchBackoff<Long> backoff = new RefetchBackoff<>(0);
        backoff.failed(7L, START);
        backoff.failed(7L, START);
        assertThat(backoff.waiting(START)).isTrue();

        backoff.reset();

        assertThat(backoff.waiting(START)).isFalse();
        assertThat(backoff.key()).isNull();
        assertThat(backoff.failures()).isZero();
        assertThat(backoff.failed(7L, START)).isZero();
    }

    @Test
    void aForgottenRecordStartsOverWhileThePauseUnderWayLasts() {
        RefetchBackoff<Long> backoff = new RefetchBackoff<>(0);
        backoff.failed(7L, START);
        backoff.failed(7L, START);

        backoff.forget();

        assertThat(backoff.key()).isNull();
        assertThat(backoff.failures()).isZero();
        assertThat(backoff.waiting(START)).isTrue();
        assertThat(backoff.failed(7L, START)).isZero();
        assertThat(backoff.waiting(START)).isFalse();
    }

    /** The reason a reply_failed dead letter gives: the record's own last known failure, never another record's. */
    @Test
    void keepsTheLastKnownFailureOfTheSameRecordOnly() {
        RefetchBackoff<Long> backoff = new RefetchBackoff<>(0);
        backoff.failed(7L, START, "first");
        backoff.failed(7L, START, null);
        assertThat(backoff.lastFailure()).as("a failure of unknown cause keeps the known one").isEqualTo("first");
        backoff.failed(7L, START, "second");
        assertThat(backoff.lastFailure()).isEqualTo("second");

        backoff.failed(8L, START, null);
        assertThat(backoff.lastFailure()).as("another record's").isNull();
        backoff.failed(8L, START, "its own");
        backoff.forget();
        assertThat(backoff.lastFailure()).isNull();
    }
}
