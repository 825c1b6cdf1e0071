package io.kinfer.jobs;

/**
 * What the job-state processor consumes, keyed by job id: a job's metadata from {@code kinfer.jobs}, or one
 * item's reply from {@code kinfer.jobs.results}. Both travel through one repartition topic keyed by job id, so
 * everything about a job reaches the same task and the same store whatever the source topics' partition counts.
 */
sealed interface JobEvent permits JobSubmitted, JobEvent.ItemResult {

    /** Item {@code index}'s reply record value, as the worker wrote it. */
    record ItemResult(int index, byte[] reply) implements JobEvent {
    }
}
