package io.kinfer.jobs;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/** Reads one job from the stores (a local task's, or the test driver's) as the HTTP side shows it. */
final class JobViews {

    /** A job's record, and its results in input order once it is complete (empty while pending). */
    record JobView(JobRecord record, List<byte[]> results) {
    }

    private JobViews() {
    }

    /**
     * The job, or empty when the store does not have it. A job past its expiry that the punctuator has not
     * deleted yet is returned without results; the caller answers it as expired.
     */
    static Optional<JobView> read(ReadOnlyKeyValueStore<String, JobRecord> jobs,
                                  ReadOnlyKeyValueStore<String, byte[]> items, String jobId, long nowMs) {
        JobRecord record = jobs.get(jobId);
        if (record == null) {
            return Optional.empty();
        }
        if (!record.complete() || record.expiresMs() <= nowMs) {
            return Optional.of(new JobView(record, List.of()));
        }
        List<byte[]> results = new ArrayList<>(record.total());
        try (KeyValueIterator<String, byte[]> it = items.range(JobsTopology.itemsFrom(jobId),
                JobsTopology.itemsTo(jobId))) {
            while (it.hasNext()) {
                KeyValue<String, byte[]> item = it.next();
                results.add(item.value);
            }
        }
        return Optional.of(new JobView(record, results));
    }
}
