package io.kinfer.worker.intake;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListSet;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * At-least-once bookkeeping for consumer-group mode: per partition, the offsets received but not yet answered.
 * The committable offset is the lowest unanswered one (or one past the highest seen), so an offset is committed
 * only when every record below it has its reply acknowledged, however the batches reorder them.
 * {@link #register} runs on the consumer thread; completions come from producer callbacks on other threads.
 */
public final class OffsetTracker {

    private final ConcurrentHashMap<TopicPartition, PartitionState> partitions = new ConcurrentHashMap<>();

    /** Records one received offset and returns the handle that completes it. */
    public RecordHandle register(TopicPartition partition, long offset) {
        PartitionState state = partitions.computeIfAbsent(partition, tp -> new PartitionState());
        state.pending.add(offset);
        state.nextOffset = Math.max(state.nextOffset, offset + 1);
        return new RecordHandle() {
            @Override
            public void answered() {
                state.pending.remove(offset);
            }

            @Override
            public void deadLettered() {
                state.pending.remove(offset);
            }

            @Override
            public void abandoned() {
                // Stays pending: nothing at or above it is committed, so it is delivered again.
                state.abandoned.add(offset);
            }

            @Override
            public void abandoned(String why) {
                if (why != null) {
                    state.why.put(offset, why); // before it shows as abandoned, so that whoever sees it finds why
                }
                abandoned();
            }
        };
    }

    /** Offsets that can be committed and have advanced since the last {@link #markCommitted}. */
    public Map<TopicPartition, OffsetAndMetadata> committable() {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        partitions.forEach((partition, state) -> {
            long offset = state.committable();
            if (offset > state.committed) {
                offsets.put(partition, new OffsetAndMetadata(offset));
            }
        });
        return offsets;
    }

    public Map<TopicPartition, OffsetAndMetadata> committable(Collection<TopicPartition> only) {
        Map<TopicPartition, OffsetAndMetadata> offsets = committable();
        offsets.keySet().retainAll(only);
        return offsets;
    }

    public void markCommitted(Map<TopicPartition, OffsetAndMetadata> offsets) {
        offsets.forEach((partition, offset) -> {
            PartitionState state = partitions.get(partition);
            if (state != null) {
                state.committed = Math.max(state.committed, offset.offset());
            }
        });
    }

    /** Records received and not yet answered, over all partitions or the given ones. */
    public int pending() {
        return partitions.values().stream().mapToInt(s -> s.pending.size()).sum();
    }

    public int pending(Collection<TopicPartition> only) {
        return only.stream().map(partitions::get).filter(s -> s != null).mapToInt(s -> s.pending.size()).sum();
    }

    /** Records still being worked on (pending and not abandoned) in the given partitions. */
    public int inFlight(Collection<TopicPartition> only) {
        return only.stream().map(partitions::get).filter(s -> s != null)
                .mapToInt(s -> s.pending.size() - s.abandoned.size()).sum();
    }

    /** Partitions holding records left for redelivery ({@link RecordHandle#abandoned}). */
    public Set<TopicPartition> withAbandoned() {
        Set<TopicPartition> found = Set.of(); // asked on every poll: nothing allocated when nothing is abandoned
        for (Map.Entry<TopicPartition, PartitionState> entry : partitions.entrySet()) {
            if (!entry.getValue().abandoned.isEmpty()) {
                if (found.isEmpty()) {
                    found = new HashSet<>();
                }
                found.add(entry.getKey());
            }
        }
        return found;
    }

    /** The lowest unanswered offset of a partition, or empty when every record it received is answered. */
    public OptionalLong lowestPending(TopicPartition partition) {
        PartitionState state = partitions.get(partition);
        if (state == null) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(state.pending.first());
        } catch (NoSuchElementException e) {
            return OptionalLong.empty();
        }
    }

    /** Why the record at {@code offset} was abandoned (a failed reply), if it was so and said why; else null. */
    public String whyAbandoned(TopicPartition partition, long offset) {
        PartitionState state = partitions.get(partition);
        return state == null ? null : state.why.get(offset);
    }

    /**
     * The offsets of a partition received and not yet answered, and one past the highest received: what a fetch
     * from the lowest of them must compute again (the others below that bound are answered already).
     */
    public Unanswered unanswered(TopicPartition partition) {
        PartitionState state = partitions.get(partition);
        return state == null ? new Unanswered(Set.of(), -1) : new Unanswered(Set.copyOf(state.pending), state.nextOffset);
    }

    /** Offsets not yet answered below {@code until} (exclusive). */
    public record Unanswered(Set<Long> offsets, long until) {
        /** Whether a record fetched again at this offset was answered already. */
        public boolean answered(long offset) {
            return offset < until && !offsets.contains(offset);
        }
    }

    /** Drops partitions this consumer no longer owns; late completions for them change nothing. */
    public void forget(Collection<TopicPartition> gone) {
        gone.forEach(partitions::remove);
    }

    private static final class PartitionState {
        final ConcurrentSkipListSet<Long> pending = new ConcurrentSkipListSet<>();
        final ConcurrentSkipListSet<Long> abandoned = new ConcurrentSkipListSet<>();
        /** Why, for those abandoned with a reason; dropped with the state when the partition is fetched again. */
        final ConcurrentHashMap<Long, String> why = new ConcurrentHashMap<>();
        volatile long nextOffset = -1;
        volatile long committed = -1;

        long committable() {
            // Another thread may empty pending at any moment; first() then throws.
            try {
                return pending.first();
            } catch (NoSuchElementException e) {
                return nextOffset;
            }
        }
    }
}
