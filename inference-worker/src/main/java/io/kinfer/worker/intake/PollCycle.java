package io.kinfer.worker.intake;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.kinfer.worker.ModelPipeline;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The records of one poll and how each ended, for intakes that settle a poll as a whole before the next one
 * (share groups acknowledge on the polling thread; transactions commit replies and offsets together).
 */
final class PollCycle {

    private static final Logger log = LoggerFactory.getLogger(PollCycle.class);

    enum Outcome { ANSWERED, DEAD_LETTERED, ABANDONED }

    private final List<ConsumerRecord<byte[], byte[]>> records;
    private final Outcome[] outcomes;
    /** Why each record abandoned with a reason was; guarded by {@code outcomes}. */
    private final String[] why;
    private final CountDownLatch done;
    /** Deliveries a record may have (share groups); {@code Integer.MAX_VALUE} where there is no limit. */
    private final int deliveryLimit;
    /** A transaction's poll: its outcomes count only once it commits. */
    private final boolean transactional;
    /** A transaction's counts of its records' outcomes, run by {@link #committed} (never, if it aborts). */
    private final Queue<Runnable> counts = new ConcurrentLinkedQueue<>(); // one add per reply: no copy on write

    /** A poll settled in one transaction (exactly-once mode). */
    PollCycle(List<ConsumerRecord<byte[], byte[]>> records) {
        this(records, Integer.MAX_VALUE, true);
    }

    /** A share group's poll, acknowledged record by record. */
    PollCycle(List<ConsumerRecord<byte[], byte[]>> records, int deliveryLimit) {
        this(records, deliveryLimit, false);
    }

    private PollCycle(List<ConsumerRecord<byte[], byte[]>> records, int deliveryLimit, boolean transactional) {
        this.records = records;
        this.deliveryLimit = deliveryLimit;
        this.transactional = transactional;
        this.outcomes = new Outcome[records.size()];
        this.why = new String[records.size()];
        this.done = new CountDownLatch(records.size());
    }

    /** One {@link ModelPipeline.Incoming} per record, each reporting back here exactly once. */
    List<ModelPipeline.Incoming> incoming() {
        List<ModelPipeline.Incoming> list = new ArrayList<>(records.size());
        for (int i = 0; i < records.size(); i++) {
            int index = i;
            boolean last = records.get(i).deliveryCount().map(count -> count >= deliveryLimit).orElse(false);
            list.add(new ModelPipeline.Incoming(records.get(i), new RecordHandle() {
                @Override
                public void answered() {
                    finish(index, Outcome.ANSWERED, null);
                }

                @Override
                public void deadLettered() {
                    finish(index, Outcome.DEAD_LETTERED, null);
                }

                @Override
                public void abandoned() {
                    finish(index, Outcome.ABANDONED, null);
                }

                @Override
                public void abandoned(String reason) {
                    finish(index, Outcome.ABANDONED, reason);
                }

                @Override
                public boolean lastDelivery() {
                    return last;
                }

                @Override
                public void whenFinal(Runnable count) {
                    if (transactional) {
                        counts.add(count);
                    } else {
                        count.run();
                    }
                }
            }));
        }
        return list;
    }

    private void finish(int index, Outcome outcome, String reason) {
        synchronized (outcomes) {
            if (outcomes[index] != null) {
                return;
            }
            outcomes[index] = outcome;
            why[index] = reason;
        }
        done.countDown();
    }

    /** The poll's transaction committed: its records' outcomes are final, and counted now. */
    void committed() {
        for (Runnable count = counts.poll(); count != null; count = counts.poll()) {
            try {
                count.run();
            } catch (RuntimeException e) {
                // A metric; the commit is in: the intake goes on (its suspects' cleanup included).
                log.error("counting a committed record's outcome failed", e);
            }
        }
    }

    /** Waits until every record finished or the timeout passed; returns whether all finished. */
    boolean await(long timeoutMs) throws InterruptedException {
        return done.await(timeoutMs, TimeUnit.MILLISECONDS);
    }

    int unfinished() {
        return (int) done.getCount();
    }

    int size() {
        return records.size();
    }

    ConsumerRecord<byte[], byte[]> record(int index) {
        return records.get(index);
    }

    /** How record {@code index} ended, or null while it is still being worked on. */
    Outcome outcome(int index) {
        synchronized (outcomes) {
            return outcomes[index];
        }
    }

    /** Why record {@code index} was abandoned, if it was and its handle was told; else null. */
    String whyAbandoned(int index) {
        synchronized (outcomes) {
            return why[index];
        }
    }

    boolean anyAbandoned() {
        synchronized (outcomes) {
            for (Outcome outcome : outcomes) {
                if (outcome == Outcome.ABANDONED) {
                    return true;
                }
            }
            return false;
        }
    }
}
