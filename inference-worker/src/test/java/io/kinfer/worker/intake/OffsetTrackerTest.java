package io.kinfer.worker.intake;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class OffsetTrackerTest {

    private final TopicPartition p0 = new TopicPartition("t", 0);
    private final TopicPartition p1 = new TopicPartition("t", 1);

    @Test
    void commitsOnlyBelowTheLowestUnansweredOffsetWhateverTheOrderOfAnswers() {
        OffsetTracker tracker = new OffsetTracker();
        RecordHandle r10 = tracker.register(p0, 10);
        RecordHandle r11 = tracker.register(p0, 11);
        RecordHandle r12 = tracker.register(p0, 12);

        r12.answered();
        r11.answered();
        assertThat(tracker.committable()).containsExactly(Map.entry(p0, new OffsetAndMetadata(10)));

        r10.deadLettered();
        assertThat(tracker.committable()).containsExactly(Map.entry(p0, new OffsetAndMetadata(13)));
    }

    @Test
    void anAbandonedRecordHoldsBackItsPartitionOnly() {
        OffsetTracker tracker = new OffsetTracker();
        RecordHandle a = tracker.register(p0, 5);
        tracker.register(p0, 6).answered();
        tracker.register(p1, 0).answered();

        a.abandoned();

        assertThat(tracker.committable()).containsOnly(Map.entry(p0, new OffsetAndMetadata(5)),
                Map.entry(p1, new OffsetAndMetadata(1)));
        assertThat(tracker.inFlight(List.of(p0))).isZero();
        assertThat(tracker.pending(List.of(p0))).isEqualTo(1);
    }

    @Test
    void reportsOnlyOffsetsThatAdvancedSinceTheLastCommit() {
        OffsetTracker tracker = new OffsetTracker();
        tracker.register(p0, 0).answered();
        tracker.markCommitted(tracker.committable());

        assertThat(tracker.committable()).isEmpty();
        tracker.register(p0, 1).answered();
        assertThat(tracker.committable()).containsExactly(Map.entry(p0, new OffsetAndMetadata(2)));
    }

    @Test
    void forgottenPartitionsIgnoreLateCompletions() {
        OffsetTracker tracker = new OffsetTracker();
        RecordHandle late = tracker.register(p0, 3);
        tracker.forget(List.of(p0));

        late.answered();

        assertThat(tracker.committable()).isEmpty();
        assertThat(tracker.pending()).isZero();
    }
}
