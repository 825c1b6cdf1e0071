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
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Knows which reply topics exist and how many partitions they have, without ever blocking a caller. A producer
 * sending to a missing topic blocks for {@code max.block.ms} waiting for metadata (a minute by default), which
 * would stall every reply behind one bogus {@code kinfer-reply-topic}; checking first through the Admin client
 * turns that into a fast, answered failure. Existing topics are remembered; missing ones for a short while.
 */
public final class TopicChecker {

    /** A topic's partition count; 0 when it does not exist, -1 when Kafka could not say (a timeout, an outage). */
    public record TopicState(int partitions) {
        public boolean exists() {
            return partitions > 0;
        }

        public boolean missing() {
            return partitions == 0;
        }
    }

    /** Looks a topic up: completes with its partition count, or fails (unknown topic, timeout, ...). */
    @FunctionalInterface
    public interface Describer {
        CompletionStage<Integer> partitions(String topic);
    }

    private static final TopicState MISSING = new TopicState(0);
    private static final TopicState UNKNOWN = new TopicState(-1);

    private final Describer describer;
    private final LongSupplier clock;
    private final long missingTtlNanos;
    private final ConcurrentHashMap<String, Entry> cache = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Long> lastRecheck = new ConcurrentHashMap<>();

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

    /** Completes at once for a known topic; otherwise after one Admin round trip. Never fails. */
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

    /**
     * Forgets what is known of a topic, e.g. after a send to it failed as if it had been deleted; a lookup already
     * under way stays, so many replies failing together share one.
     */
    public void forget(String topic) {
        cache.computeIfPresent(topic, (name, entry) -> entry.state.isDone() ? null : entry);
    }

    /**
     * Looks a known topic up again, as {@link #forget} then {@link #check}, but at most once per {@code interval}
     * per topic (within it, what is known): for a count that may have grown (partitions added), asked for by
     * records whose headers anyone may set.
     */
    public CompletionStage<TopicState> recheck(String topic, Duration interval) {
        long now = clock.getAsLong();
        Long last = lastRecheck.get(topic);
        if (last == null || now - last >= interval.toNanos()) {
            lastRecheck.put(topic, now);
            forget(topic);
        }
        return check(topic);
    }

    private void describe(String topic, CompletableFuture<TopicState> result) {
        describer.partitions(topic).whenComplete((partitions, error) -> {
            if (error == null) {
                result.complete(new TopicState(partitions));
                return;
            }
            // Missing topics are remembered briefly; other errors not at all. Kafka not answering in time says
            // nothing about the topic (unknown: the reply is retried, never dead-lettered for it); any other
            // refusal (authorization) counts as missing, so a reply nobody may write does not loop forever.
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            boolean missing = cause instanceof UnknownTopicOrPartitionException || cause instanceof InvalidTopicException;
            long expires = missing ? clock.getAsLong() + missingTtlNanos : clock.getAsLong();
            cache.computeIfPresent(topic, (name, entry) -> entry.state == result ? new Entry(result, expires) : entry);
            result.complete(missing || !(cause instanceof RetriableException) ? MISSING : UNKNOWN);
        });
    }
}
