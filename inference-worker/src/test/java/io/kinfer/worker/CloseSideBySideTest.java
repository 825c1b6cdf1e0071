package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

class CloseSideBySideTest {

    @Test
    void everyCloseRunsAtOnceHoweverFewTheProcessors() {
        // Each close waits until all have started: on one at a time (or on a parallel stream's common pool, one
        // thread beside the caller on two cores) the fourth never starts while the others wait.
        CountDownLatch allStarted = new CountDownLatch(4);
        List<Boolean> sawAll = new CopyOnWriteArrayList<>();
        List<RuntimeException> errors = new CopyOnWriteArrayList<>();

        InferenceWorker.closeSideBySide(List.of(1, 2, 3, 4), "test-close", item -> {
            allStarted.countDown();
            try {
                sawAll.add(allStarted.await(30, TimeUnit.SECONDS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (item == 3) {
                throw new IllegalStateException("close of 3 failed");
            }
        }, errors);

        assertThat(sawAll).containsExactly(true, true, true, true);
        assertThat(errors).singleElement().satisfies(e -> assertThat(e).hasMessage("close of 3 failed"));
    }
}
