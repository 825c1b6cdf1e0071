package io.kinfer.worker.reply;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Knows which reply topics exist and how many partitions they have, without ever blocking a caller. A producer
 * sending to a missing topic blocks for {@code max.block.ms} waiting for metadata (a minute by default), which
 * would stall every reply behind one bogus {@code kinfer-reply-topic}; checking first through the Admin client
 * turns that into a fast, answered failure. Existing topics are remembered; missing ones for a short while.
 */
public final class TopicChecker {

    /** A topic's partition count, or 0 when it does not exist. */
    public record TopicState(int partitions) {
        public boolean exists() {
            return partitions > 0;
        }
    }

    /** Looks a topic up: completes with its partition count, or fails (unknown topic, timeout, ...). */
    @FunctionalInterface
    public interface Describer {
        CompletionStage<Integer> partitions(String topic);
    }

    private static final TopicState MISSING = new TopicState(0);

    private final Describer describer;
    private final LongSupplier clock;
    private final long missingTtlNanos;
    private final ConcurrentHashMap<String, Entry> cache = new ConcurrentHashMap<>();

    private record Entry(CompletableFuture<TopicState> state, long expiresNanos) {
    }

    public TopicChecker(Admin admin, Duration missingTtl) {
        this(topic -> admin.describeTopics(List.of(topic)).topicNameValues().get(topic).toCompletionStage()
                .thenApply(description -> description.partitions().size()), missingTtl, System::nanoTime);
    }

    public TopicChecker(Describer describer, Duration missingTtl, LongSupplier clock) {
        this.describer = describer;
        this.clock = clock;
        this.missingTtlNanos = missingTtl.toNanos();
    }

    /** Completes at once for a known topic; otherwise after one Admin round trip. Never fails: errors say missing. */
    public CompletionStage<TopicState> check(String topic) {
        long now = clock.getAsLong();
        Entry existing = cache.get(topic);
        if (valid(existing, now)) {
            return existing.state;
        }
        Entry mine = new Entry(new CompletableFuture<>(), Long.MAX_VALUE);
        Entry winner = cache.compute(topic, (name, current) -> valid(current, now) ? current : mine);
        if (winner == mine) {
            describe(topic, mine.state); // outside compute(): the Admin callback may run at once and update the map
        }
        return winner.state;
    }

    private static boolean valid(Entry entry, long now) {
        return entry != null && (entry.expiresNanos > now || !entry.state.isDone());
    }

    /** Forgets a topic, e.g. after a send to it failed because it was deleted. */
    public void forget(String topic) {
        cache.remove(topic);
    }

    private void describe(String topic, CompletableFuture<TopicState> result) {
        describer.partitions(topic).whenComplete((partitions, error) -> {
            if (error == null) {
                result.complete(new TopicState(partitions));
                return;
            }
            // Missing topics are remembered briefly; other errors (timeouts, authorization) not at all.
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            boolean missing = cause instanceof UnknownTopicOrPartitionException || cause instanceof InvalidTopicException;
            long expires = missing ? clock.getAsLong() + missingTtlNanos : clock.getAsLong();
            cache.computeIfPresent(topic, (name, entry) -> entry.state == result ? new Entry(result, expires) : entry);
            result.complete(MISSING);
        });
    }
}
