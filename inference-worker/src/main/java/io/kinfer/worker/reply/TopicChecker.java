package io.kinfer.worker.reply;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

import com.github.benmanes.caffeine.cache.AsyncCache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Knows which reply topics exist and how many partitions they have, without ever blocking a caller. A producer
 * sending to a missing topic blocks for {@code max.block.ms} waiting for metadata (a minute by default), which
 * would stall every reply behind one bogus {@code kinfer-reply-topic}; checking first through the Admin client
 * turns that into a fast, answered failure. Kafka's internal topics ({@code __consumer_offsets}, any name starting
 * with {@code __}, or one the broker describes as internal) count as undeliverable: the broker refuses every
 * client write to them, and in a transaction such a refusal would abort the whole poll.
 *
 * <p>What is known is held in a bounded cache (reply-topic names come from request headers anyone can set):
 * existing topics for {@code existingTtl}, missing ones for {@code missingTtl}, a lookup Kafka did not answer not
 * at all; at most {@code maxTopics} entries, and one lookup under way per topic however many replies wait for it.
 */
public final class TopicChecker {

    /** Topics remembered at most, by default: far more reply topics than a cluster has, and a few MB at most. */
    public static final long DEFAULT_MAX_TOPICS = 10_000;
    /** How long an existing topic is remembered, by default (a deleted one is noticed sooner, when a send fails). */
    public static final Duration DEFAULT_EXISTING_TTL = Duration.ofMinutes(10);

    /**
     * A topic's partition count: 0 when it does not exist, -1 when Kafka could not say (a timeout, an outage);
     * {@code internal} for Kafka's own topics, which no client may write.
     */
    public record TopicState(int partitions, boolean internal) {
        public TopicState(int partitions) {
            this(partitions, false);
        }

        public boolean exists() {
            return partitions > 0 && !internal;
        }

        public boolean missing() {
            return partitions == 0 && !internal;
        }
    }

    /** Looks a topic up: completes with its state, or fails (unknown topic, timeout, ...). */
    @FunctionalInterface
    public interface Describer {
        CompletionStage<TopicState> describe(String topic);
    }

    private static final TopicState MISSING = new TopicState(0);
    private static final TopicState UNKNOWN = new TopicState(-1);
    /** A name Kafka reserves for itself: refused without a lookup. */
    private static final CompletableFuture<TopicState> RESERVED = CompletableFuture.completedFuture(new TopicState(0, true));

    private final Describer describer;
    private final LongSupplier clock;
    private final long missingTtlNanos;
    private final long existingTtlNanos;
    private final AsyncCache<String, Lookup> cache;

    /**
     * What a lookup found, when, and whether a {@link #recheck} asked for it (its rate limit).
     *
     * @param atEpochMs when the lookup was sent, by the wall clock, to compare with a request record's timestamp: a
     *                  topic made while it was under way may be missing from its answer
     */
    private record Lookup(TopicState state, long atNanos, long atEpochMs, boolean recheck,
                          CompletableFuture<TopicState> ready) {
        Lookup(TopicState state, long atNanos, long atEpochMs, boolean recheck) {
            // Made once per lookup, handed to every reply while the topic is known (ReplySender only composes on it).
            this(state, atNanos, atEpochMs, recheck, CompletableFuture.completedFuture(state));
        }

        /**
         * Whether this lookup says anything of a request written at {@code writtenEpochMs}: only if sent after it,
         * by a margin for the writer's clock running behind the worker's.
         */
        boolean after(long writtenEpochMs) {
            return atEpochMs - WRITTEN_MARGIN_MS >= writtenEpochMs;
        }
    }

    /** See {@link Lookup#after}. */
    static final long WRITTEN_MARGIN_MS = 2_000;
    /** At most one lookup of a missing topic per this long is asked for by requests newer than what is known. */
    static final Duration RELOOKUP_INTERVAL = Duration.ofSeconds(1);

    public TopicChecker(Admin admin, Duration missingTtl) {
        this(topic -> admin.describeTopics(List.of(topic)).topicNameValues().get(topic).toCompletionStage()
                        .thenApply(description -> new TopicState(description.partitions().size(), description.isInternal())),
                missingTtl, DEFAULT_EXISTING_TTL, DEFAULT_MAX_TOPICS, System::nanoTime);
    }

    public TopicChecker(Describer describer, Duration missingTtl, LongSupplier clock) {
        this(describer, missingTtl, DEFAULT_EXISTING_TTL, DEFAULT_MAX_TOPICS, clock);
    }

    /** {@code clock}: nanoseconds, as {@link System#nanoTime}; it is also the cache's ticker. */
    public TopicChecker(Describer describer, Duration missingTtl, Duration existingTtl, long maxTopics,
                        LongSupplier clock) {
        this.describer = describer;
        this.clock = clock;
        this.missingTtlNanos = missingTtl.toNanos();
        this.existingTtlNanos = existingTtl.toNanos();
        this.cache = Caffeine.newBuilder()
                .ticker(clock::getAsLong)
                // Upkeep (expiry, eviction) on the calling thread: a few map operations, and no pool to wait on.
                .executor(Runnable::run)
                .maximumSize(maxTopics)
                .expireAfter(new Expiry<String, Lookup>() {
                    @Override
                    public long expireAfterCreate(String topic, Lookup lookup, long now) {
                        return ttlNanos(lookup.state());
                    }

                    @Override
                    public long expireAfterUpdate(String topic, Lookup lookup, long now, long remaining) {
                        return ttlNanos(lookup.state());
                    }

                    @Override
                    public long expireAfterRead(String topic, Lookup lookup, long now, long remaining) {
                        return remaining;
                    }
                })
                .buildAsync();
    }

    private long ttlNanos(TopicState state) {
        if (state.missing()) {
            return missingTtlNanos;
        }
        return state.exists() || state.internal() ? existingTtlNanos : 0; // unknown: not remembered at all
    }

    /** Completes at once for a known topic; otherwise after one Admin round trip. Never fails. */
    public CompletionStage<TopicState> check(String topic) {
        if (topic.startsWith("__")) {
            return RESERVED;
        }
        CompletableFuture<Lookup> known = cache.getIfPresent(topic);
        if (known != null && known.isDone()) {
            return known.join().ready(); // the usual case, once per reply: no lookup, no new future
        }
        return cache.get(topic, (name, executor) -> lookUp(name, false)).thenApply(Lookup::state);
    }

    /**
     * As {@link #check}, for the reply to a request written at {@code writtenEpochMs} (wall clock): a topic known
     * missing only from a lookup sent before that ({@link Lookup#after}) is looked up again, its answer then taken
     * as it is. A verdict older than a request says nothing about where its reply can go: the topic may have been
     * made since (a client restarted under its id). Such lookups are one per topic per {@link #RELOOKUP_INTERVAL}
     * at most, shared by all who ask (the name comes from headers anyone may set); a reply due sooner waits for it.
     * Only "missing" is looked up again: a topic known to exist stays known (a deletion shows when a send fails).
     */
    public CompletionStage<TopicState> checkSince(String topic, long writtenEpochMs) {
        return checkSince(topic, writtenEpochMs, System.currentTimeMillis());
    }

    /** A lookup sent after this reply asked ({@code askedEpochMs}) is as fresh as any: taken whatever it says. */
    private CompletionStage<TopicState> checkSince(String topic, long writtenEpochMs, long askedEpochMs) {
        CompletableFuture<Lookup> known = cache.getIfPresent(topic);
        if (known != null && known.isDone()) {
            Lookup lookup = known.join();
            // Sent in the very millisecond this reply asked, it may have been sent before: not fresh enough.
            if (lookup.state().missing() && !lookup.after(writtenEpochMs) && lookup.atEpochMs() <= askedEpochMs) {
                long waitNanos = RELOOKUP_INTERVAL.toNanos() - (clock.getAsLong() - lookup.atNanos());
                if (waitNanos > 0) {
                    return CompletableFuture.runAsync(() -> { },
                                    CompletableFuture.delayedExecutor(waitNanos, TimeUnit.NANOSECONDS))
                            .thenCompose(ignored -> checkSince(topic, writtenEpochMs, askedEpochMs));
                }
                cache.asMap().remove(topic, known);
            }
        }
        return check(topic);
    }

    /**
     * What is known of a topic now, without waiting, for a request written at {@code sinceEpochMs} (wall clock): from
     * a lookup sent after it ({@link Lookup#after}), or Kafka's own topic (which does not change); empty otherwise,
     * and a lookup is asked for when none is known. A verdict older than a request (its topic missing then, made
     * since: a client restarted under its id) says nothing about where that request's reply can go.
     */
    public Optional<TopicState> knownSince(String topic, long sinceEpochMs) {
        if (topic.startsWith("__")) {
            return Optional.of(RESERVED.join());
        }
        CompletableFuture<Lookup> known = cache.getIfPresent(topic);
        if (known == null) {
            check(topic);
            return Optional.empty();
        }
        if (!known.isDone()) {
            return Optional.empty();
        }
        Lookup lookup = known.join();
        return lookup.state().internal() || lookup.after(sinceEpochMs) ? Optional.of(lookup.state())
                : Optional.empty();
    }

    /**
     * Forgets what is known of a topic, e.g. after a send to it failed as if it had been deleted; a lookup already
     * under way stays, so many replies failing together share one.
     */
    public void forget(String topic) {
        cache.asMap().computeIfPresent(topic, (name, lookup) -> lookup.isDone() ? null : lookup);
    }

    /**
     * Looks a known topic up again, as {@link #forget} then {@link #check}, but at most once per {@code interval}
     * per topic (within it, what is known): for a count that may have grown (partitions added), asked for by
     * records whose headers anyone may set.
     */
    public CompletionStage<TopicState> recheck(String topic, Duration interval) {
        CompletableFuture<Lookup> known = cache.getIfPresent(topic);
        if (known != null && known.isDone() && !topic.startsWith("__")) {
            Lookup lookup = known.join();
            if (!lookup.recheck() || clock.getAsLong() - lookup.atNanos() >= interval.toNanos()) {
                cache.asMap().remove(topic, known);
                return cache.get(topic, (name, executor) -> lookUp(name, true)).thenApply(Lookup::state);
            }
        }
        return check(topic);
    }

    /** Topics remembered now (lookups under way included), after expired entries are dropped. For tests. */
    long size() {
        cache.synchronous().cleanUp();
        return cache.synchronous().estimatedSize();
    }

    private CompletableFuture<Lookup> lookUp(String topic, boolean recheck) {
        CompletableFuture<Lookup> result = new CompletableFuture<>();
        long sentEpochMs = System.currentTimeMillis();
        CompletionStage<TopicState> described;
        try {
            described = describer.describe(topic);
        } catch (RuntimeException e) {
            described = CompletableFuture.failedFuture(e);
        }
        described.whenComplete((state, error) -> {
            if (error == null) {
                result.complete(new Lookup(state, clock.getAsLong(), sentEpochMs, recheck));
                return;
            }
            // Missing topics are remembered briefly; other errors not at all. Kafka not answering in time says
            // nothing about the topic (unknown: the reply is retried, never dead-lettered for it); any other
            // refusal (authorization) counts as missing, so a reply nobody may write does not loop forever.
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            boolean missing = cause instanceof UnknownTopicOrPartitionException || cause instanceof InvalidTopicException
                    || !(cause instanceof RetriableException);
            result.complete(new Lookup(missing ? MISSING : UNKNOWN, clock.getAsLong(), sentEpochMs, recheck));
        });
        return result;
    }
}
