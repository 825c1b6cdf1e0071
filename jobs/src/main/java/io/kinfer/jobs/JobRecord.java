package io.kinfer.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A job's state in the {@code kinfer-jobs} store (its items' results are in their own store). {@code total} is -1
 * while only results have arrived and the job's metadata has not (they travel separately): such a placeholder
 * is completed when the metadata comes, and expires like any job if it never does.
 *
 * @param completedMs when the last item arrived; 0 while pending
 * @param callback    kept for a later version that calls it; never called now
 */
record JobRecord(String jobId, String model, String version, int total, int done, int failed, long createdMs,
                 long expiresMs, long completedMs, String callback) {

    static final int UNKNOWN_TOTAL = -1;

    static JobRecord of(JobSubmitted job) {
        return new JobRecord(job.jobId(), job.model(), job.version(), job.total(), 0, 0, job.createdMs(),
                job.expiresMs(), 0, job.callback());
    }

    /** Results without metadata yet; created and expiry from the id's time and this instance's retention. */
    static JobRecord placeholder(String jobId, long createdMs, long expiresMs) {
        return new JobRecord(jobId, "", null, UNKNOWN_TOTAL, 0, 0, createdMs, expiresMs, 0, null);
    }

    boolean known() {
        return total != UNKNOWN_TOTAL;
    }

    boolean complete() {
        return known() && done >= total;
    }

    JobRecord withCounts(int newDone, int newFailed) {
        return new JobRecord(jobId, model, version, total, newDone, newFailed, createdMs, expiresMs, completedMs,
                callback);
    }

    JobRecord completedAt(long nowMs) {
        return new JobRecord(jobId, model, version, total, done, failed, createdMs, expiresMs, nowMs, callback);
    }

    byte[] toJson() {
        return Json.write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("job_id", jobId);
            gen.writeStringField("model", model);
            Json.writeOptional(gen, "version", version);
            gen.writeNumberField("total", total);
            gen.writeNumberField("done", done);
            gen.writeNumberField("failed", failed);
            gen.writeNumberField("created_ms", createdMs);
            gen.writeNumberField("expires_ms", expiresMs);
            gen.writeNumberField("completed_ms", completedMs);
            Json.writeOptional(gen, "callback", callback);
            gen.writeEndObject();
        });
    }

    static JobRecord fromJson(byte[] value) {
        JsonNode node = Json.readObject(value);
        return new JobRecord(node.path("job_id").asText(), node.path("model").asText(""),
                Json.optionalText(node, "version"), node.path("total").asInt(UNKNOWN_TOTAL),
                node.path("done").asInt(), node.path("failed").asInt(), node.path("created_ms").asLong(),
                node.path("expires_ms").asLong(), node.path("completed_ms").asLong(),
                Json.optionalText(node, "callback"));
    }

    static Serde<JobRecord> serde() {
        Serializer<JobRecord> serializer = (topic, record) -> record == null ? null : record.toJson();
        Deserializer<JobRecord> deserializer = (topic, bytes) -> bytes == null ? null : fromJson(bytes);
        return Serdes.serdeFrom(serializer, deserializer);
    }
}
