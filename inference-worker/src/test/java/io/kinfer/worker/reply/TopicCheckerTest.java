package io.kinfer.worker.reply;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Test;

/**
 * Reply-topic names come from request headers anyone can set: what the checker remembers of them is bounded and
 * expires, on a clock the test moves.
 */
class TopicCheckerTest {

    private final AtomicLong nanos = new AtomicLong();
    private final List<String> described = new CopyOnWriteArrayList<>();

    private TopicChecker checker(long maxTopics) {
        return new TopicChecker(topic -> {
            described.add(topic);
            return topic.startsWith("real")
                    ? CompletableFuture.completedFuture(new TopicChecker.TopicState(3))
                    : CompletableFuture.failedFuture(new UnknownTopicOrPartitionException(topic));
        }, Duration.ofSeconds(10), Duration.ofMinutes(10), maxTopics, nanos::get);
    }

    @Test
    void aMissingVerdictOlderThanARequestIsLookedUpAgainOnceForAllTheRepliesWaitingForIt() throws Exception {
        java.util.concurrent.atomic.AtomicInteger lookups = new java.util.concurrent.atomic.AtomicInteger();
        TopicChecker checker = new TopicChecker(topic -> {
            lookups.incrementAndGet();
            return CompletableFuture.failedFuture(new UnknownTopicOrPartitionException(topic));
        }, Duration.ofSeconds(10), System::nanoTime);
        checker.check("gone").toCompletableFuture().get();
        long writtenAfter = System.currentTimeMillis();

        // Twenty replies to requests written after the verdict: one more lookup, not twenty (nor one each second).
        List<CompletableFuture<TopicChecker.TopicState>> replies = new java.util.ArrayList<>();
        for (int i = 0; i < 20; i++) {
            replies.add(checker.checkSince("gone", writtenAfter).toCompletableFuture());
        }
        CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).get(30, java.util.concurrent.TimeUnit.SECONDS);

        assertThat(replies).allMatch(reply -> reply.join().missing());
        assertThat(lookups.get()).isEqualTo(2);
        // A request written long before the verdict is told at once, with no lookup, as at admission.
        assertThat(checker.checkSince("gone", writtenAfter - 60_000).toCompletableFuture().isDone()).isTrue();
        assertThat(checker.knownSince("gone", writtenAfter - 60_000)).hasValueSatisfying(state ->
                assertThat(state.missing()).isTrue());
        assertThat(checker.knownSince("gone", System.currentTimeMillis())).isEmpty();
        assertThat(lookups.get()).isEqualTo(2);
    }

    @Test
    void bogusTopicNamesAreForgottenOnceExpiredAndNeverHeldBeyondTheBound() {
        TopicChecker checker = checker(100);

        for (int i = 0; i < 1_000; i++) {
            assertThat(checker.check("bogus-" + i).toCompletableFuture().join().missing()).isTrue();
            nanos.addAndGet(Duration.ofMillis(1).toNanos());
        }
        assertThat(checker.size()).isLessThanOrEqualTo(100);

        nanos.addAndGet(Duration.ofSeconds(11).toNanos());
        checker.check("real.replies").toCompletableFuture().join();
        assertThat(checker.size()).as("only the topic looked up after the others expired").isEqualTo(1);
    }

    @Test
    void aMissingTopicIsLookedUpAgainAfterItsTtlAnExistingOneIsKept() {
        TopicChecker checker = checker(100);

        checker.check("late.replies").toCompletableFuture().join();
        checker.check("real.replies").toCompletableFuture().join();
        nanos.addAndGet(Duration.ofSeconds(5).toNanos());
        checker.check("late.replies").toCompletableFuture().join();
        assertThat(described).containsExactly("late.replies", "real.replies");

        nanos.addAndGet(Duration.ofSeconds(6).toNanos());
        checker.check("late.replies").toCompletableFuture().join();
        checker.check("real.replies").toCompletableFuture().join();
        assertThat(described).containsExactly("late.replies", "real.replies", "late.replies");

        nanos.addAndGet(Duration.ofMinutes(10).toNanos());
        checker.check("real.replies").toCompletableFuture().join();
        assertThat(described).containsExactly("late.replies", "real.replies", "late.replies", "real.replies");
    }

    @Test
    void manyRepliesWaitingForOneTopicShareOneLookup() {
        CompletableFuture<TopicChecker.TopicState> lookup = new CompletableFuture<>();
        TopicChecker checker = new TopicChecker(topic -> {
            described.add(topic);
            return lookup;
        }, Duration.ofSeconds(10), Duration.ofMinutes(10), 100, nanos::get);

        var first = checker.check("new.replies").toCompletableFuture();
        var second = checker.check("new.replies").toCompletableFuture();
        checker.forget("new.replies"); // a lookup under way stays
        var third = checker.check("new.replies").toCompletableFuture();
        lookup.complete(new TopicChecker.TopicState(2));

        assertThat(described).containsExactly("new.replies");
        assertThat(List.of(first.join(), second.join(), third.join())).allMatch(TopicChecker.TopicState::exists);
    }

    @Test
    void aTopicKafkaCouldNotLookUpIsNotRemembered() {
        TopicChecker checker = new TopicChecker(topic -> {
            described.add(topic);
            return CompletableFuture.failedFuture(new org.apache.kafka.common.errors.TimeoutException("no answer"));
        }, Duration.ofSeconds(10), Duration.ofMinutes(10), 100, nanos::get);

        TopicChecker.TopicState state = checker.check("slow.replies").toCompletableFuture().join();
        checker.check("slow.replies").toCompletableFuture().join();

        assertThat(state.exists() || state.missing()).isFalse();
        assertThat(described).hasSize(2);
    }

    @Test
    void aRecheckLooksUpAgainAtMostOncePerInterval() {
        TopicChecker checker = checker(100);
        checker.check("real.replies").toCompletableFuture().join();

        checker.recheck("real.replies", Duration.ofSeconds(5)).toCompletableFuture().join();
        checker.recheck("real.replies", Duration.ofSeconds(5)).toCompletableFuture().join();
        nanos.addAndGet(Duration.ofSeconds(5).toNanos());
        checker.recheck("real.replies", Duration.ofSeconds(5)).toCompletableFuture().join();
        checker.recheck("real.replies", Duration.ofSeconds(5)).toCompletableFuture().join();

        assertThat(described).containsExactly("real.replies", "real.replies", "real.replies");
    }
}
