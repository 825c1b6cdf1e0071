package io.kinfer.worker.intake;

/** Where a model's requests come from: a consumer group, a share group, or a transactional consumer group. */
public interface Intake extends AutoCloseable {

    Intake start();

    /** Whether it is receiving: partitions assigned (groups) or subscribed and polling (share groups). */
    boolean ready();

    /** Records behind the log end on what this intake reads, where Kafka reports it (consumer groups). */
    long lag();

    /** Records received and not yet finished. */
    int inFlight();

    /** Stops at once, finishing nothing and committing nothing more, as a crash would. For tests. */
    void crash();

    /** Stops receiving, finishes what it holds within the drain timeout, commits or acknowledges, closes. */
    @Override
    void close();
}
