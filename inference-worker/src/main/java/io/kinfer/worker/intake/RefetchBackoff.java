package io.kinfer.worker.intake;

import java.util.concurrent.TimeUnit;

/**
 * How long to wait before a record whose reply failed is computed again, so that a reply that fails fast does not
 * recompute the same records in a tight loop: the pause doubles each time the same record fails again in a row, from
 * 1 s up to 30 s; a failure of another record starts over. The consumer-group intake keeps one per partition (keyed
 * by offset), the exactly-once intake one for the first record of its aborted transactions. Times are the caller's
 * {@link System#nanoTime()}, so that tests pass their own. Not thread-safe: its intake's thread only.
 *
 * @param <K> what identifies a record
 */
final class RefetchBackoff<K> {

    static final long MIN_PAUSE_MS = 1_000;
    static final long MAX_PAUSE_MS = 30_000;

    private final long firstPauseMs;
    /** The record that failed last; null: none, or forgotten. */
    private K key;
    private int failures;
    /** Why {@link #key} failed last, if the caller said; null otherwise. */
    private String lastFailure;
    private long pauseMs;
    private long untilNanos;

    /**
     * @param firstPauseMs the pause after a record's first failure: {@link #MIN_PAUSE_MS}, or 0 where its first retry
     *                     goes at once (the pauses then start at {@link #MIN_PAUSE_MS} with its second failure)
     */
    RefetchBackoff(long firstPauseMs) {
        this.firstPauseMs = firstPauseMs;
    }

    /** Counts a failure of {@code key} at {@code nowNanos}; returns the pause that starts then, in ms. */
    long failed(K key, long nowNanos) {
        return failed(key, nowNanos, null);
    }

    /** As {@link #failed(Object, long)}, with why it failed ({@code null}: not known, a reason before is kept). */
    long failed(K key, long nowNanos, String why) {
        if (key.equals(this.key)) {
            failures++;
            pauseMs = pauseMs == 0 ? MIN_PAUSE_MS : Math.min(pauseMs * 2, MAX_PAUSE_MS);
            lastFailure = why != null ? why : lastFailure;
        } else {
            this.key = key;
            failures = 1;
            pauseMs = firstPauseMs;
            lastFailure = why;
        }
        untilNanos = nowNanos + TimeUnit.MILLISECONDS.toNanos(pauseMs);
        return pauseMs;
    }

    /** Whether the pause that started with the last failure lasts at {@code nowNanos}. */
    boolean waiting(long nowNanos) {
        return pauseMs > 0 && nowNanos - untilNanos < 0;
    }

    /** Whether {@code key} is the record that failed last, and its pause lasts at {@code nowNanos}. */
    boolean waiting(K key, long nowNanos) {
        return key.equals(this.key) && waiting(nowNanos);
    }

    /** The record that failed last; null when there is none. */
    K key() {
        return key;
    }

    /** How many times in a row {@link #key()} failed; 0 when there is no such record. */
    int failures() {
        return key == null ? 0 : failures;
    }

    /** Why {@link #key()} failed last, as its caller said; null when not known or there is no such record. */
    String lastFailure() {
        return key == null ? null : lastFailure;
    }

    /** Forgets the record (its partition left): the next failure starts over; a pause under way lasts. */
    void forget() {
        key = null;
    }

    /** Starts over with no pause (the records were answered). */
    void reset() {
        key = null;
        pauseMs = 0;
    }
}
