package io.kinfer.worker.intake;

/**
 * How the pipeline tells the intake that a record is finished. Consumer-group mode turns these into committable
 * offsets, share-group mode into per-record acknowledgements. Called from any thread, exactly once per record.
 */
public interface RecordHandle {

    /** Its reply (result or error) is acknowledged by the broker: commit / ACCEPT. */
    void answered();

    /**
     * No reply was possible; its dead letter is acknowledged: commit / REJECT (ACCEPT where the share group has a
     * dead-letter topic, which would copy a rejected record a second time).
     */
    void deadLettered();

    /** Neither happened (a rebalance took its partition, or Kafka failed): do not commit / RELEASE for redelivery. */
    void abandoned();

    /**
     * As {@link #abandoned()}, because its reply failed so ({@code why}: the failure, as a log line names it). The
     * intake keeps the last such failure, so that a {@code reply_failed} dead letter says why its replies failed.
     */
    default void abandoned(String why) {
        abandoned();
    }

    /**
     * Whether this is the record's last allowed delivery (share groups: its delivery count reached the group's
     * {@code share.delivery.count.limit}). Abandoning it would let the broker archive it with no answer, so a
     * reply that fails is dead-lettered instead.
     */
    default boolean lastDelivery() {
        return false;
    }

    /**
     * Runs {@code count} (a metric of this record's outcome) once that outcome is final: at once, except in
     * exactly-once mode, where it runs when the poll's transaction commits, and never if it aborts (its replies are
     * then never visible, and the record is taken again and counted then). Call it before finishing the handle.
     */
    default void whenFinal(Runnable count) {
        count.run();
    }
}
